"""The seam-shortcut rate: does a detector trained on synthetic data fire on seams alone?

Each arm that saw synthetic data is run on the held-out null-prompt set (:mod:`idg.generate.shortcut`):
the **shortcut rate** is the share of its boxes that get a prediction with IoU >= 0.5 at confidence >=
``quality.shortcut_conf``. A high rate means the detector learned seams instead of objects.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from idg.core.atomic import atomic_write_json
from idg.core.box import box_iou
from idg.core.config import IdgConfig
from idg.core.keyed import reuse_or_refuse
from idg.core.layout import RunLayout

log = logging.getLogger(__name__)

SYNTHETIC_ARMS = ("syn_only", "syn_then_real", "mixed")


def fires(predictions: Sequence[Sequence[float]], boxes: Sequence[Sequence[float]], iou: float = 0.5) -> int:
    """How many of ``boxes`` have a prediction (``x, y, w, h``) with IoU >= ``iou``."""
    return sum(1 for b in boxes if any(box_iou(p, b) >= iou for p in predictions))


def shortcut_rate(weights: Path, out: Path, conf: float, imgsz: int, device: Optional[str] = None,
                  save_to: Optional[Path] = None) -> Dict[str, float]:
    """The share of null-prompt boxes on which ``weights`` predicts an object (IoU >= 0.5, conf >= ``conf``)."""
    from idg.models.detector import load_yolo, predict_xywh

    info = json.loads((out / "shortcut.json").read_text())
    key = f"{info['key']}|{Path(weights).stat().st_size}|{Path(weights).stat().st_mtime_ns}|{conf}|{imgsz}"
    if save_to is not None:
        previous = reuse_or_refuse(save_to, key, overwrite=True, differs="holds the rate of other weights", refuse=False)
        if previous is not None:
            return {k: v for k, v in previous.items() if k != "key"}
    model = load_yolo(str(weights))
    total = hits = 0
    for entry in info["images"]:
        preds = predict_xywh(model, str(out / entry["image"]), conf, imgsz, device)
        hits += fires(preds, entry["boxes"])
        total += len(entry["boxes"])
    result = {"shortcut_rate": round(hits / total, 4) if total else 0.0, "boxes": total, "fired": hits}
    if save_to is not None:
        atomic_write_json(save_to, {**result, "key": key})
    return result


def shortcut_metrics(cfg: IdgConfig, run_dir: Path, trained: Sequence) -> Dict[str, float]:
    """``quality/shortcut_rate/<arm>`` (mean over the arm's trainings) for the arms that saw synthetic data of a
    generator with a seam-shortcut set (diffusion); ``quality/<generator>/shortcut_rate/<arm>`` in a study
    comparing generators."""
    metrics: Dict[str, float] = {}
    for g in cfg.generators:
        run = RunLayout(Path(run_dir))
        out = (run.generator(g) if cfg.compares_generators else run).shortcut
        if not (out / "shortcut.json").is_file():
            continue
        rates: Dict[str, List[float]] = {}
        for t in trained:
            if t.arm not in SYNTHETIC_ARMS or t.generator != g:
                continue
            r = shortcut_rate(t.weights, out, cfg.quality.shortcut_conf, cfg.detector.imgsz, cfg.detector.device,
                              save_to=Path(t.save_dir) / "shortcut.json")
            rates.setdefault(t.arm, []).append(r["shortcut_rate"])
            log.info("%-14s f=%-5g s=%d  shortcut rate %.3f (%d of %d null-prompt boxes)", t.arm, t.fraction, t.seed,
                     r["shortcut_rate"], r["fired"], r["boxes"])
        prefix = f"quality/{g}/shortcut_rate" if cfg.compares_generators else "quality/shortcut_rate"
        metrics.update({f"{prefix}/{arm}": round(sum(v) / len(v), 4) for arm, v in rates.items()})
    return metrics
