"""``sampler=real_prior``: box layouts fitted to the real train subset's labels (never val or test).

Fitted per class from the labelled images of the subset:

- the *counts*: how many objects of each class an image holds, drawn jointly (the count vector of a random
  labelled real image), so classes that appear together in real frames appear together here;
- the *size*: the joint (width, height) as fractions of the image, and the *centre* (cx, cy), drawn together
  from a random real box of the class (so the size-position correlation of the real frames survives) and
  jittered: sizes by a log-normal factor of ``sampler.bandwidth``, centres by a normal of
  ``sampler.bandwidth / 2`` of the image side (an empirical kernel density estimate);
- boxes are kept inside the image; with ``sampler.avoid_overlap`` they also keep ``sampler.max_iou`` /
  ``sampler.min_gap`` to each other (and always to the real objects a ``real_train`` background holds),
  re-drawing the position up to ``sampler.max_tries`` times before the object is dropped (counted).

``prior.json`` holds the fit (every real box and count vector) and a summary per class, which is also
logged as one line per class.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from idg.core.atomic import atomic_write_text
from idg.core.box import Box
from idg.core.errors import DataError
from idg.core.hashing import content_hash
from idg.generate.sampling import _gap_ok, iou

RealBox = Tuple[int, float, float, float, float]  # class id, cx, cy, w, h (fractions of the image)


@dataclass(frozen=True)
class Prior:
    """The fitted layout model: real boxes by class and the count vectors of the labelled images."""

    names: Tuple[str, ...]
    boxes: Tuple[RealBox, ...]
    counts: Tuple[Tuple[int, ...], ...]  # per labelled image: objects of each class
    images: int  # images the fit saw (labelled and empty)

    def by_class(self, cls: int) -> List[RealBox]:
        return [b for b in self.boxes if b[0] == cls]

    @property
    def key(self) -> str:
        return content_hash({"names": list(self.names), "boxes": [list(b) for b in self.boxes],
                             "counts": [list(c) for c in self.counts]})


def fit_prior(labels: Sequence[Sequence[RealBox]], names: Sequence[str], where: str) -> Prior:
    """The prior of ``labels`` (one list of boxes per real image, empty images included)."""
    labelled = [list(b) for b in labels if b]
    if not labelled:
        raise DataError(f"sampler=real_prior: {where} holds no labelled object to fit box layouts to")
    missing = [n for c, n in enumerate(names) if not any(b[0] == c for img in labelled for b in img)]
    if missing:
        raise DataError(f"sampler=real_prior: {where} has no object of class(es) {', '.join(missing)} to fit their "
                        f"boxes to")
    counts = tuple(tuple(sum(1 for b in img if b[0] == c) for c in range(len(names))) for img in labelled)
    boxes = tuple((int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4])) for img in labelled for b in img)
    return Prior(tuple(names), boxes, counts, len(labels))


def _place(rng: np.random.Generator, real: RealBox, width: int, height: int, bandwidth: float) -> Box:
    cls, cx, cy, w, h = real
    bw = w * math.exp(rng.normal(0.0, bandwidth)) if bandwidth > 0 else w
    bh = h * math.exp(rng.normal(0.0, bandwidth)) if bandwidth > 0 else h
    pw = int(min(max(round(bw * width), 2), width))
    ph = int(min(max(round(bh * height), 2), height))
    jx, jy = (rng.normal(0.0, bandwidth / 2), rng.normal(0.0, bandwidth / 2)) if bandwidth > 0 else (0.0, 0.0)
    x = int(round((cx + jx) * width - pw / 2))
    y = int(round((cy + jy) * height - ph / 2))
    return Box(min(max(x, 0), width - pw), min(max(y, 0), height - ph), pw, ph, cls)


def sample_prior(prior: Prior, rng: np.random.Generator, width: int, height: int, sampler,
                 avoid: Sequence[Box] = ()) -> Tuple[List[Box], int]:
    """Boxes for one image and how many could not be placed apart from the others (``avoid`` holds boxes
    already in the image: they are never overlapped)."""
    counts = prior.counts[int(rng.integers(len(prior.counts)))]
    pools = {c: prior.by_class(c) for c in range(len(prior.names))}
    boxes: List[Box] = []
    dropped = 0
    for cls, n in enumerate(counts):
        for _ in range(n):
            real = pools[cls][int(rng.integers(len(pools[cls])))]
            for _try in range(sampler.max_tries):
                cand = _place(rng, real, width, height, sampler.bandwidth)
                apart = all(iou(cand, b) <= sampler.max_iou and (sampler.max_iou > 0 or _gap_ok(cand, b, sampler.min_gap))
                            for b in boxes) if sampler.avoid_overlap else True
                if apart and all(iou(cand, b) == 0 for b in avoid):
                    boxes.append(cand)
                    break
            else:
                dropped += 1
    return boxes, dropped


def _quantiles(values: Sequence[float]) -> Dict[str, float]:
    q = np.quantile(np.asarray(values, float), [0.05, 0.25, 0.5, 0.75, 0.95])
    return {k: round(float(v), 4) for k, v in zip(("p5", "p25", "median", "p75", "p95"), q)}


def summary(prior: Prior) -> Dict[str, dict]:
    """Per class: boxes, images holding it, the count histogram and size / centre quantiles."""
    out = {}
    for c, name in enumerate(prior.names):
        boxes = prior.by_class(c)
        hist: Dict[str, int] = {}
        for vec in prior.counts:
            hist[str(vec[c])] = hist.get(str(vec[c]), 0) + 1
        out[name] = {
            "boxes": len(boxes),
            "images_with_class": sum(1 for vec in prior.counts if vec[c]),
            "count_per_labelled_image": dict(sorted(hist.items(), key=lambda kv: int(kv[0]))),
            "width": _quantiles([b[3] for b in boxes]),
            "height": _quantiles([b[4] for b in boxes]),
            "centre_x": _quantiles([b[1] for b in boxes]),
            "centre_y": _quantiles([b[2] for b in boxes]),
        }
    return out


def summary_lines(prior: Prior) -> List[str]:
    lines = []
    for name, s in summary(prior).items():
        hist = ", ".join(f"{k}: {v}" for k, v in s["count_per_labelled_image"].items())
        lines.append(f"{name}: {s['boxes']} boxes in {s['images_with_class']} of {len(prior.counts)} labelled images "
                     f"(count per image {hist}); width median {s['width']['median']:.2f} [p5 {s['width']['p5']:.2f}, "
                     f"p95 {s['width']['p95']:.2f}], height median {s['height']['median']:.2f} "
                     f"[p5 {s['height']['p5']:.2f}, p95 {s['height']['p95']:.2f}] of the image; centre "
                     f"({s['centre_x']['median']:.2f}, {s['centre_y']['median']:.2f})")
    return lines


def write_prior(prior: Prior, path: Path, fitted_on: dict, sampler) -> Path:
    doc = {
        "key": prior.key,
        "fitted_on": fitted_on,
        "images": prior.images,
        "labelled_images": len(prior.counts),
        "sampler": {"bandwidth": sampler.bandwidth, "avoid_overlap": sampler.avoid_overlap,
                    "max_iou": sampler.max_iou, "min_gap": sampler.min_gap},
        "classes": summary(prior),
        "boxes": [list(b) for b in prior.boxes],
        "counts": [list(c) for c in prior.counts],
    }
    return atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
