"""The seam-shortcut set: held-out images whose boxes hold nothing but a seam.

Every synthetic object sits inside a pasted box, so a detector can learn "a box-shaped seam is an
object" instead of the object. To measure that, a held-out set of ``quality.shortcut_images`` images is
made exactly like the training data (same model, sampler, crop, mask and blend) except that every box is
inpainted with the **null prompt**: nothing should appear, only the seam. It is written to
``<run dir>/shortcut/`` (images, YOLO labels of the boxes, ``shortcut.json``) and is never part of the
training export. After training, each synthetic-data arm is run on it (:mod:`idg.study.shortcut_rate`): a
high shortcut rate means the detector learned seams; compare it across ``inpaint.blend`` settings.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Dict, Optional

import numpy as np
from PIL import Image

from idg.core.atomic import atomic_save_image, atomic_write_json, atomic_write_text
from idg.core.config import IdgConfig
from idg.core.hashing import content_hash
from idg.core.keyed import reuse_or_refuse
from idg.core.layout import RunLayout
from idg.core.progress import FILE_ONLY, LazyBar
from idg.core.seeds import derive_seed, rng_for
from idg.data.yolo import yolo_lines
from idg.generate.backgrounds import PromptBackgrounds
from idg.generate.blend import to_uint8
from idg.generate.parts import ObjectPainter, PaintJob, schedule_rounds
from idg.generate.plan import fingerprint
from idg.generate.sampling import class_ranges, sample_boxes

log = logging.getLogger(__name__)

NULL_PROMPT = ""


def shortcut_key(cfg: IdgConfig) -> str:
    """What the shortcut set depends on: the dataset's fingerprint and the number of images."""
    return content_hash(f"{fingerprint(cfg)}|{cfg.quality.shortcut_images}")


def generate_shortcut(cfg: IdgConfig, run_dir: str | Path, source: PromptBackgrounds, painter: ObjectPainter) -> Optional[Path]:
    """Write the null-prompt set into ``<run_dir>/shortcut`` (skipped when done with the same key).

    ``source`` and ``painter`` are the generation's own parts (its pipelines are reused), so the seams are
    made exactly as in the training data. Seeds live in their own ``shortcut-*`` namespaces, so no background
    or object repeats a training image's.
    """
    n = cfg.quality.shortcut_images
    if n <= 0:
        return None
    out = RunLayout(Path(run_dir)).shortcut
    info = out / "shortcut.json"
    key = shortcut_key(cfg)
    if reuse_or_refuse(info, key, overwrite=cfg.overwrite, differs="is a shortcut set of another generation",
                       refuse=False) is not None:
        return out
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir(parents=True)
    seed, res, bs = cfg.generate.seed, cfg.generate.resolution, cfg.generate.batch_size
    prompts = [cfg.background.prompts[k % len(cfg.background.prompts)].prompt for k in range(n)]
    images: Dict[int, np.ndarray] = {}
    boxes = {k: sample_boxes(cfg.sampler, class_ranges(cfg), res, res, rng_for(seed, "shortcut-boxes", k))[0] for k in range(n)}
    # one step per background and per box; the bar opens after the first batch (the model may load in it)
    with LazyBar(n + sum(len(b) for b in boxes.values()), "shortcut set", unit="step", enabled=cfg.generate.progress) as bar:
        for start in range(0, n, bs):
            chunk = list(range(start, min(n, start + bs)))
            raw = source.text_to_image([prompts[k] for k in chunk], [derive_seed(seed, "shortcut-background", k) for k in chunk])
            images.update(zip(chunk, to_uint8(np.nan_to_num(raw, nan=0.0))))
            bar.update(len(chunk))
        for round_keys in schedule_rounds(boxes):
            for start in range(0, len(round_keys), bs):
                jobs = [PaintJob((k, j), boxes[k][j], NULL_PROMPT, derive_seed(seed, "shortcut-object", k, j))
                        for k, j in round_keys[start : start + bs]]
                painter.paint(images, jobs)
                bar.update(len(jobs))
    entries = []
    for k in range(n):
        objects = [{"class_id": b.cls, "box": [b.x, b.y, b.w, b.h]} for b in boxes[k]]
        atomic_save_image(out / "images" / f"{k:06d}.png", Image.fromarray(images[k]), "png")
        atomic_write_text(out / "labels" / f"{k:06d}.txt", yolo_lines(objects, res, res))
        entries.append({"image": f"images/{k:06d}.png", "boxes": [o["box"] for o in objects],
                        "class_ids": [o["class_id"] for o in objects]})
    atomic_write_json(info, {"key": key, "prompt": NULL_PROMPT, "images": entries, "width": res, "height": res})
    log.info("shortcut set: %d null-prompt images with %d boxes in %s", n, sum(len(e["boxes"]) for e in entries), out,
             extra=FILE_ONLY)
    return out
