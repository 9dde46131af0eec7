"""The seam-shortcut check: does a detector trained on synthetic data fire on seams alone?

Every synthetic object sits inside a pasted box, so a detector can learn "a box-shaped seam is an
object" instead of the object. To measure that, a held-out set of ``quality.shortcut_images`` images is
made exactly like the training data (same model, sampler, crop, mask and blend) except that every box is
inpainted with the **null prompt**: nothing should appear, only the seam. It is written to
``<run dir>/shortcut/`` (images, YOLO labels of the boxes, ``shortcut.json``) and is never part of the
training export. After training, each synthetic-data arm is run on it: the **shortcut rate** is the share
of boxes that get a prediction with IoU >= 0.5 at confidence >= ``quality.shortcut_conf``. A high rate
means the detector learned seams; compare it across ``inpaint.blend`` settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from idg.atomic import atomic_save_image, atomic_write_json, atomic_write_text
from idg.config import IdgConfig
from idg.export import yolo_lines
from idg.inpaint import InpaintJob, schedule_rounds, to_uint8
from idg.sampling import box_iou, class_ranges, sample_boxes
from idg.seeds import derive_seed, rng_for

log = logging.getLogger(__name__)

SYNTHETIC_ARMS = ("syn_only", "syn_then_real", "mixed")
NULL_PROMPT = ""


def shortcut_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "shortcut"


def shortcut_key(cfg: IdgConfig) -> str:
    """What the shortcut set depends on: the dataset's fingerprint and the number of images."""
    from idg.generate import fingerprint

    return hashlib.sha256(f"{fingerprint(cfg)}|{cfg.quality.shortcut_images}".encode()).hexdigest()[:16]


def generate_shortcut(cfg: IdgConfig, run_dir: str | Path, engine) -> Optional[Path]:
    """Write the null-prompt set into ``<run_dir>/shortcut`` (skipped when done with the same key).

    ``engine`` is the generation :class:`~idg.generate.Engine`: its pipelines and painter are reused, so the
    seams are made exactly as in the training data. Seeds live in their own ``shortcut-*`` namespaces, so
    no background or object repeats a training image's.
    """
    n = cfg.quality.shortcut_images
    if n <= 0:
        return None
    out = shortcut_dir(run_dir)
    info = out / "shortcut.json"
    key = shortcut_key(cfg)
    if info.is_file() and json.loads(info.read_text()).get("key") == key:
        return out
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir(parents=True)
    seed, res, bs = cfg.generate.seed, cfg.generate.resolution, cfg.generate.batch_size
    prompts = [cfg.background.prompts[k % len(cfg.background.prompts)].prompt for k in range(n)]
    images: Dict[int, np.ndarray] = {}
    for start in range(0, n, bs):
        chunk = list(range(start, min(n, start + bs)))
        raw = engine.text_to_image([prompts[k] for k in chunk], [derive_seed(seed, "shortcut-background", k) for k in chunk])
        images.update(zip(chunk, to_uint8(np.nan_to_num(raw, nan=0.0))))
    boxes = {k: sample_boxes(cfg.sampler, class_ranges(cfg), res, res, rng_for(seed, "shortcut-boxes", k))[0] for k in range(n)}
    for round_keys in schedule_rounds(boxes):
        for start in range(0, len(round_keys), bs):
            jobs = [InpaintJob((k, j), boxes[k][j], NULL_PROMPT, derive_seed(seed, "shortcut-object", k, j))
                    for k, j in round_keys[start : start + bs]]
            engine.painter(images, jobs)
    entries = []
    for k in range(n):
        objects = [{"class_id": b.cls, "box": [b.x, b.y, b.w, b.h]} for b in boxes[k]]
        atomic_save_image(out / "images" / f"{k:06d}.png", Image.fromarray(images[k]), "png")
        atomic_write_text(out / "labels" / f"{k:06d}.txt", yolo_lines(objects, res, res))
        entries.append({"image": f"images/{k:06d}.png", "boxes": [o["box"] for o in objects],
                        "class_ids": [o["class_id"] for o in objects]})
    atomic_write_json(info, {"key": key, "prompt": NULL_PROMPT, "images": entries, "width": res, "height": res})
    log.info("shortcut set: %d null-prompt images with %d boxes in %s", n, sum(len(e["boxes"]) for e in entries), out)
    return out


def fires(predictions: Sequence[Sequence[float]], boxes: Sequence[Sequence[float]], iou: float = 0.5) -> int:
    """How many of ``boxes`` have a prediction (``x, y, w, h``) with IoU >= ``iou``."""
    return sum(1 for b in boxes if any(box_iou(p, b) >= iou for p in predictions))


def shortcut_rate(weights: Path, out: Path, conf: float, imgsz: int, device: Optional[str] = None,
                  save_to: Optional[Path] = None) -> Dict[str, float]:
    """The share of null-prompt boxes on which ``weights`` predicts an object (IoU >= 0.5, conf >= ``conf``)."""
    from ultralytics import YOLO

    from idg.detect import ensure_fonts

    info = json.loads((out / "shortcut.json").read_text())
    key = f"{info['key']}|{Path(weights).stat().st_size}|{Path(weights).stat().st_mtime_ns}|{conf}|{imgsz}"
    if save_to is not None and save_to.is_file():
        previous = json.loads(save_to.read_text())
        if previous.get("key") == key:
            return {k: v for k, v in previous.items() if k != "key"}
    ensure_fonts()
    model = YOLO(str(weights))
    total = hits = 0
    for entry in info["images"]:
        res = model.predict(str(out / entry["image"]), conf=conf, imgsz=imgsz, verbose=False,
                            **({"device": device} if device is not None else {}))[0]
        preds = [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in res.boxes.xyxy.cpu().numpy().tolist()]
        hits += fires(preds, entry["boxes"])
        total += len(entry["boxes"])
    result = {"shortcut_rate": round(hits / total, 4) if total else 0.0, "boxes": total, "fired": hits}
    if save_to is not None:
        atomic_write_json(save_to, {**result, "key": key})
    return result


def shortcut_metrics(cfg: IdgConfig, run_dir: Path, trained: Sequence) -> Dict[str, float]:
    """``quality/shortcut_rate/<arm>`` (mean over the arm's trainings) for the arms that saw synthetic data."""
    out = shortcut_dir(run_dir)
    if not (out / "shortcut.json").is_file():
        return {}
    rates: Dict[str, List[float]] = {}
    for t in trained:
        if t.arm not in SYNTHETIC_ARMS:
            continue
        r = shortcut_rate(t.weights, out, cfg.quality.shortcut_conf, cfg.detector.imgsz, cfg.detector.device,
                          save_to=Path(t.save_dir) / "shortcut.json")
        rates.setdefault(t.arm, []).append(r["shortcut_rate"])
        log.info("%-14s f=%-5g s=%d  shortcut rate %.3f (%d of %d null-prompt boxes)", t.arm, t.fraction, t.seed,
                 r["shortcut_rate"], r["fired"], r["boxes"])
    return {f"quality/shortcut_rate/{arm}": round(sum(v) / len(v), 4) for arm, v in rates.items()}
