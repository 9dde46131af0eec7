"""An image-level bootstrap of mAP50, paired across trainings evaluated on the same images.

The seed t-interval (:mod:`idg.study.stats`) measures how much an arm's mAP moves from one training seed to
the next; it says nothing about how much it would move on another draw of evaluation images, which with
a few dozen real images is often the larger effect. Here every training's evaluation keeps its per-image
matches (``image_stats.npz``, written by :class:`idg.study.detect.ImageStats`), and mAP50 is recomputed on
``n`` resamples of the evaluation images, drawn with replacement. A resample is one vector of image weights
(how often each image was drawn), shared by every training of the split, so an arm and ``real_only`` are
always compared on the *same* images: the interval of their difference is paired.

mAP50 follows Ultralytics' ``ap_per_class``: per class with targets, predictions sorted by confidence,
cumulative true / false positives (here weighted by image), COCO's 101-point interpolated AP, averaged over
the classes with targets (a class with targets but no prediction scores 0). With every weight 1 it equals
the validator's mAP50 (a test checks this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from idg.core.seeds import rng_for

_AP_X = np.linspace(0, 1, 101)


@dataclass
class ImageStats:
    """One evaluation's per-image matches, with images in a fixed order (sorted by name)."""

    names: List[str]
    pred_img: np.ndarray  # image index of each prediction
    conf: np.ndarray
    pred_cls: np.ndarray
    tp50: np.ndarray  # true positive at IoU 0.5
    target_img: np.ndarray
    target_cls: np.ndarray


def load_image_stats(path: Path) -> ImageStats:
    with np.load(path) as z:
        names = [str(n) for n in z["names"]]
        n_pred, n_target = z["n_pred"], z["n_target"]
        order = sorted(range(len(names)), key=lambda k: names[k])
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        return ImageStats(sorted(names), rank[np.repeat(np.arange(len(names)), n_pred)], z["conf"].astype(float),
                          z["pred_cls"].astype(int), z["tp"][:, 0].astype(float),
                          rank[np.repeat(np.arange(len(names)), n_target)], z["target_cls"].astype(int))


def _ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Ultralytics' ``compute_ap``: COCO 101-point interpolation of the precision envelope."""
    mrec = np.concatenate(([0.0], recall, [recall[-1] if len(recall) else 1.0], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    y = np.interp(_AP_X, mrec, mpre)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(_AP_X)))


class MapComputer:
    """mAP50 of one evaluation under image weights, with the per-class sorting done once."""

    def __init__(self, stats: ImageStats):
        self.n_images = len(stats.names)
        self.classes = []
        order = np.argsort(-stats.conf, kind="stable")
        for c in np.unique(stats.target_cls):
            sel = order[stats.pred_cls[order] == c]
            self.classes.append((stats.target_img[stats.target_cls == c], stats.pred_img[sel], stats.tp50[sel]))

    def map50(self, weights: np.ndarray) -> float:
        aps = []
        for t_img, p_img, tp in self.classes:
            n_gt = weights[t_img].sum()
            if n_gt <= 0:
                continue  # the class is absent from this resample
            if len(p_img) == 0:
                aps.append(0.0)
                continue
            w = weights[p_img]
            tpc, fpc = np.cumsum(w * tp), np.cumsum(w * (1 - tp))
            aps.append(_ap(tpc / (n_gt + 1e-16), tpc / np.maximum(tpc + fpc, 1e-16)))
        return float(np.mean(aps)) if aps else 0.0


def resample_weights(n_images: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``n_boot`` x ``n_images`` draw counts: one bootstrap resample of the images per row."""
    rng = rng_for(seed, "image-bootstrap", n_images)
    return np.stack([np.bincount(rng.integers(0, n_images, n_images), minlength=n_images) for _ in range(n_boot)]).astype(float)


def _interval(values: np.ndarray, confidence: float) -> Tuple[float, float]:
    lo, hi = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def bootstrap_map50(arm: Sequence[ImageStats], base: Optional[Sequence[ImageStats]] = None, n_boot: int = 1000,
                    confidence: float = 0.95, seed: int = 0) -> Dict[str, float]:
    """Percentile interval of the seed-mean mAP50 of ``arm`` (one ImageStats per seed), or, with ``base``
    (the same seeds' baseline trainings), of the seed-mean paired difference ``arm - base``."""
    names = arm[0].names
    for s in list(arm) + list(base or []):
        if s.names != names:
            raise ValueError("bootstrap: the evaluations are not on the same images")
    weights = resample_weights(len(names), n_boot, seed)
    a = [MapComputer(s) for s in arm]
    b = [MapComputer(s) for s in base] if base is not None else None
    ones = np.ones(len(names))
    if b is None:
        point = float(np.mean([m.map50(ones) for m in a]))
        values = np.array([np.mean([m.map50(w) for m in a]) for w in weights])
    else:
        point = float(np.mean([x.map50(ones) - y.map50(ones) for x, y in zip(a, b)]))
        values = np.array([np.mean([x.map50(w) - y.map50(w) for x, y in zip(a, b)]) for w in weights])
    lo, hi = _interval(values, confidence)
    return {"mean": point, "ci_low": lo, "ci_high": hi, "n_boot": n_boot, "images": len(names)}
