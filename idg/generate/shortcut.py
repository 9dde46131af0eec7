"""The seam-shortcut set: held-out images whose boxes hold nothing but a seam.

Every synthetic object sits inside a pasted box, so a detector can learn "a box-shaped seam is an
object" instead of the object. To measure that, a held-out set of ``quality.shortcut_images`` images is
made exactly like the training data (the run's own background source and painter: same model, sampler,
crop, mask, blend and colour transfer; objects over ``quality.max_seam_edge|halo`` repainted as in training)
except that every box is inpainted with the **null prompt**: nothing should appear, only the seam. Each box's
two seam terms are recorded in ``shortcut.json``, to set beside the training objects'. It is written to
``<run dir>/shortcut/`` (images, YOLO labels of the boxes, ``shortcut.json``) and is never part of the
training export. After training, each synthetic-data arm is run on it (:mod:`idg.study.shortcut_rate`): a
high shortcut rate means the detector learned seams; compare it across ``inpaint.blend`` settings.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Dict, List, Optional

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
from idg.generate.judge import ObjectJudge
from idg.generate.parts import Key, ObjectPainter, PaintJob, schedule_rounds
from idg.generate.quality import clean_float
from idg.generate.plan import fingerprint
from idg.generate.sampling import class_ranges, sample_boxes

log = logging.getLogger(__name__)

NULL_PROMPT = ""


def shortcut_key(cfg: IdgConfig) -> str:
    """What the shortcut set depends on: the dataset's fingerprint and the number of images."""
    return content_hash(f"{fingerprint(cfg)}|{cfg.quality.shortcut_images}")


def generate_shortcut(cfg: IdgConfig, run_dir: str | Path, source: PromptBackgrounds, painter: ObjectPainter,
                      judge: Optional[ObjectJudge] = None) -> Optional[Path]:
    """Write the null-prompt set into ``<run_dir>/shortcut`` (skipped when done with the same key).

    ``source``, ``painter`` and ``judge`` are the generation's own parts (its pipelines are reused), so the
    seams are made exactly as in the training data; of the judge only the seam check applies (nothing is
    meant to appear, so the change check and the verifier would reject every box). Seeds live in their own
    ``shortcut-*`` namespaces, so no background or object repeats a training image's.
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
    judge = judge or ObjectJudge(cfg)
    seams: Dict[Key, dict] = {}
    # one step per background and per box; the bar opens after the first batch (the model may load in it)
    with LazyBar(n + sum(len(b) for b in boxes.values()), "shortcut set", unit="step", enabled=cfg.generate.progress) as bar:
        for start in range(0, n, bs):
            chunk = list(range(start, min(n, start + bs)))
            raw = source.text_to_image([prompts[k] for k in chunk], [derive_seed(seed, "shortcut-background", k) for k in chunk])
            images.update(zip(chunk, to_uint8(np.nan_to_num(raw, nan=0.0))))
            bar.update(len(chunk))
        for round_keys in schedule_rounds(boxes):
            for start in range(0, len(round_keys), bs):
                keys = round_keys[start : start + bs]
                seams.update(paint_null(images, boxes, keys, painter, judge, seed))
                bar.update(len(keys))
    entries = []
    for k in range(n):
        # A box whose seam stayed over the limit was undone, as a rejected training object is: not a box.
        kept = [j for j in range(len(boxes[k])) if seams[(k, j)]["status"] == "accepted"]
        objects = [{"class_id": boxes[k][j].cls, "box": boxes[k][j].as_list()} for j in kept]
        atomic_save_image(out / "images" / f"{k:06d}.png", Image.fromarray(images[k]), "png")
        atomic_write_text(out / "labels" / f"{k:06d}.txt", yolo_lines(objects, res, res))
        entries.append({"image": f"images/{k:06d}.png", "boxes": [o["box"] for o in objects],
                        "class_ids": [o["class_id"] for o in objects], "seams": [seams[(k, j)] for j in kept],
                        "rejected": [{"box": boxes[k][j].as_list(), **seams[(k, j)]}
                                     for j in range(len(boxes[k])) if j not in kept]})
    atomic_write_json(info, {"key": key, "prompt": NULL_PROMPT, "images": entries, "width": res, "height": res})
    log.info("shortcut set: %d null-prompt images with %d boxes in %s", n, sum(len(e["boxes"]) for e in entries), out,
             extra=FILE_ONLY)
    return out


def paint_null(images: Dict[int, np.ndarray], boxes: Dict[int, list], keys: List[Key], painter: ObjectPainter,
               judge: ObjectJudge, seed: int) -> Dict[Key, dict]:
    """Paint the null prompt into ``keys`` (one batch of a round), repainting an object whose seam fails
    the judge's seam limits with the next attempt's seed and undoing it after the last attempt, as the
    training objects are; returns each object's seam terms, attempts and status."""
    attempt = {k: 0 for k in keys}
    done: Dict[Key, dict] = {}
    pending = list(keys)
    while pending:
        before = {k[0]: images[k[0]].copy() for k in pending}
        jobs = [PaintJob(k, boxes[k[0]][k[1]], NULL_PROMPT,
                         derive_seed(seed, "shortcut-object", *k, *([attempt[k]] if attempt[k] else []))) for k in pending]
        painter.paint(images, jobs)
        retry = []
        for job in jobs:
            k = job.key
            seam, reason = judge.seam(before[k[0]], images[k[0]], job)
            if reason is not None:
                images[k[0]] = before[k[0]]
                if judge.retries_left(attempt[k]):
                    attempt[k] += 1
                    retry.append(k)
                    continue
            done[k] = {"seam_edge": clean_float(seam.edge), "seam_halo": clean_float(seam.halo),
                       "attempts": attempt[k] + 1, "status": "accepted" if reason is None else "rejected"}
        pending = retry
    return done
