"""Quality checks: tight boxes from what changed, failed objects, image artifacts, run-level KPIs.

Diffusion inpainting does not always draw what the box asks for: sometimes nothing, sometimes half an
object in a corner. The label is only honest if it describes the pixels, so every object's box is
re-estimated from the difference between the image before and after its paste, and an object whose
change is too small or too unlike the requested box is repainted with a new seed (the attempt index is
part of the seed), up to ``quality.max_attempts`` times. Backgrounds are checked the same way for
artifacts that poison training: black frames (e.g. a safety checker's output), near-constant images,
NaN output, and near-duplicates (a 64-bit DCT perceptual hash within a Hamming distance).

Everything here is a plain function of arrays and a :class:`~idg.core.config.QualityConfig`, so it is tested
on synthetic images with known content.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from idg.core.box import box_iou
from idg.core.config import QualityConfig
from idg.generate.parts import ObjectCheck

BoxT = Tuple[int, int, int, int]  # (x, y, w, h) in pixels


# ------------------------------------------------------------------------------------ boxes


def change_mask(before: np.ndarray, after: np.ndarray, region: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """Boolean mask of the pixels inside ``region`` that the paste really changed.

    A pixel changed when any channel moved by more than ``diff_threshold``; an opening of side
    ``morph_kernel`` removes isolated specks (noise, resampling ripples), and only connected components with
    at least ``component_fraction`` of the largest one's area are kept, so a stray blotch far from the
    object does not stretch its box.
    """
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    changed = ((diff > cfg.diff_threshold) & (region > 0)).astype(np.uint8)
    if cfg.morph_kernel > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (cfg.morph_kernel, cfg.morph_kernel))
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    if n <= 1:
        return np.zeros(changed.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= cfg.component_fraction * areas.max()) + 1
    return np.isin(labels, keep)


def mask_box(mask: np.ndarray) -> Optional[BoxT]:
    """The tight ``(x, y, w, h)`` box around a boolean mask, or None when it is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0


def check_object(before: np.ndarray, after: np.ndarray, requested: BoxT, region: np.ndarray, cfg: QualityConfig) -> ObjectCheck:
    """Re-estimate the box of an object pasted into ``region`` (a mask of the requested box) and judge it.

    Rejected when less than ``min_changed_fraction`` of the region changed (the model painted nothing, or
    only a speck), or when the re-estimated box overlaps the requested one with IoU below ``min_iou`` (a
    half-drawn object pushed into a corner).
    """
    changed = change_mask(before, after, region, cfg)
    area = max(int((region > 0).sum()), 1)
    fraction = float(changed.sum()) / area
    box = mask_box(changed)
    iou = box_iou(box, requested) if box is not None else 0.0
    reason = None
    if box is None or fraction < cfg.min_changed_fraction:
        reason = f"changed_fraction {fraction:.3f} < {cfg.min_changed_fraction:g}"
    elif iou < cfg.min_iou:
        reason = f"box_iou {iou:.3f} < {cfg.min_iou:g}"
    return ObjectCheck(box, fraction, iou, reason)


def crop_bounds(shape: Sequence[int], box: BoxT, pad: float = 0.25) -> BoxT:
    """``(x0, y0, x1, y1)`` of the box with ``pad`` x its size of context on each side, clipped to the image."""
    x, y, w, h = box
    H, W = shape[:2]
    px, py = int(round(w * pad)), int(round(h * pad))
    return max(0, x - px), max(0, y - py), min(W, x + w + px), min(H, y + h + py)


def crop_around(image: np.ndarray, box: BoxT, pad: float = 0.25) -> np.ndarray:
    """The box with ``pad`` x its size of context on each side (clipped to the image), for inspection."""
    x0, y0, x1, y1 = crop_bounds(image.shape, box, pad)
    return image[y0:y1, x0:x1].copy()


def clip_box(box: Sequence[float], inside: BoxT) -> Optional[BoxT]:
    """``box`` (``x, y, w, h``, floats allowed) rounded outwards and cut to ``inside``; None when they miss."""
    x0 = max(int(math.floor(box[0])), inside[0])
    y0 = max(int(math.floor(box[1])), inside[1])
    x1 = min(int(math.ceil(box[0] + box[2])), inside[0] + inside[2])
    y1 = min(int(math.ceil(box[1] + box[3])), inside[1] + inside[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


# ------------------------------------------------------------------------------------ backgrounds


def phash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash: grey 32x32, DCT, the 8x8 lowest frequencies against their median.

    Robust to small colour and noise changes, so near-identical images hash within a few bits."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].flatten()
    # The DC term is the mean brightness: left out of the median so it does not bias every bit.
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    return bin(int(a) ^ int(b)).count("1")


def artifact_reason(raw: Optional[np.ndarray], image: np.ndarray, cfg: QualityConfig) -> Optional[str]:
    """Why a background is unusable on its own, or None: ``nan`` (``raw`` float output has NaN/inf),
    ``black`` (mean below ``black_level``), ``constant`` (standard deviation below ``min_std``)."""
    if raw is not None and not np.all(np.isfinite(raw)):
        return "nan"
    if float(image.mean()) < cfg.black_level:
        return "black"
    if float(image.std()) < cfg.min_std:
        return "constant"
    return None


def duplicate_of(h: int, earlier: Dict[int, int], cfg: QualityConfig) -> Optional[int]:
    """The lowest index in ``earlier`` (index -> pHash) within ``phash_distance`` of ``h``, else None."""
    if cfg.phash_distance < 0:
        return None
    for index in sorted(earlier):
        if hamming(h, earlier[index]) <= cfg.phash_distance:
            return index
    return None


# ------------------------------------------------------------------------------------ run KPIs


def _finite(values: Iterable[Optional[float]]) -> List[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def clean_float(value: Optional[float], digits: int = 4) -> Optional[float]:
    """A JSON-safe rounded float: NaN and inf become None (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


ARTIFACT_REASONS = ("black", "constant", "nan", "duplicate")


def quality_metrics(records: Sequence[dict]) -> Dict[str, float]:
    """Run-level quality KPIs from manifest records (so they are right after a resume too).

    ``quality/seam_edge_mean|median`` and ``quality/seam_halo_mean|median`` (the two seam terms of
    :mod:`idg.generate.seams`) over accepted objects; the label-noise KPI
    ``quality/box_iou_mean`` (requested vs final box) and ``quality/reject_rate`` (rejected / all objects);
    ``quality/retry_rate`` (objects that needed more than one attempt); ``quality/artifact_<reason>``
    (rejected background attempts) and ``quality/artifact_unresolved`` (images kept with an artifact
    after the last attempt). Means over no object are left out.
    """
    accepted = [o for r in records for o in r.get("objects") or []]
    rejected = [o for r in records for o in r.get("rejected") or []]
    seams = {term: _finite(o.get(f"seam_{term}") for o in accepted) for term in ("edge", "halo")}
    ious = _finite(o.get("box_iou") for o in accepted)
    total = len(accepted) + len(rejected)
    out: Dict[str, float] = {
        "quality/objects_accepted": len(accepted),
        "quality/objects_rejected": len(rejected),
        "quality/reject_rate": round(len(rejected) / total, 4) if total else 0.0,
        "quality/retry_rate": round(sum(1 for o in accepted + rejected if (o.get("attempts") or 1) > 1) / total, 4) if total else 0.0,
        **{f"quality/seam_{term}_{stat}": clean_float(float(fn(values))) if values else None
           for term, values in seams.items() for stat, fn in (("mean", np.mean), ("median", np.median))},
        "quality/box_iou_mean": clean_float(float(np.mean(ious))) if ious else None,
    }
    for reason in ARTIFACT_REASONS:
        out[f"quality/artifact_{reason}"] = sum(
            1 for r in records for a in (r.get("background") or {}).get("rejected_attempts") or [] if a.get("reason") == reason
        )
    out["quality/artifact_unresolved"] = sum(1 for r in records if (r.get("background") or {}).get("artifact"))
    masked = [o["source"] for o in accepted if isinstance(o.get("source"), dict) and "mask_fraction" in o["source"]]
    if masked:  # copy_paste.mask: the share of each source box pasted, and how often the estimate failed
        out["quality/mask_fraction_mean"] = clean_float(float(np.mean([m["mask_fraction"] for m in masked])))
        out["quality/mask_fallback_rate"] = round(sum(bool(m.get("mask_fallback")) for m in masked) / len(masked), 4)
    photos = [r["background"] for r in records if (r.get("background") or {}).get("photo")]
    if photos:  # photo backgrounds: how many images sit on a photo that near-duplicates another of the pool
        out["quality/background_photo_duplicates"] = sum(1 for b in photos if b.get("duplicate_of_photo"))
    out.update(labeler_metrics(records))
    # A mean of nothing (no accepted object) is left out rather than written as null: loggers and sweepers
    # expect numbers.
    return {k: v for k, v in out.items() if v is not None}


def labeler_metrics(records: Sequence[dict]) -> Dict[str, float]:
    """Label-noise estimates of autolabel images (empty when there are none): a labeller's boxes are only as
    good as the labeller, and no ground truth exists, so these compare them with what the prompt asked for.

    ``quality/labeler_score_mean`` over boxes; ``quality/labeler_empty_rate``: images where no box survived
    (each named at least one object, so each is a miss); ``quality/labeler_named_recall``: share of (image,
    named class) pairs with a box of that class; ``quality/labeler_unnamed_rate``: share of boxes of a class
    the prompt did not name (likely false positives); ``quality/labeler_dropped``: images left out
    (``labeler.on_empty=drop``)."""
    labelled = [r for r in records if r.get("autolabel")]
    if not labelled:
        return {}
    boxes = [o for r in labelled for o in r.get("objects") or []]
    scores = _finite(o.get("labeler_score") for o in boxes)
    pairs = [(r, name) for r in labelled for name in r["autolabel"]["named"]]
    found = sum(1 for r, name in pairs if any(o["class"] == name for o in r.get("objects") or []))
    unnamed = sum(1 for r in labelled for o in r.get("objects") or [] if o["class"] not in r["autolabel"]["named"])
    out = {
        "quality/labeler_score_mean": clean_float(float(np.mean(scores))) if scores else None,
        "quality/labeler_empty_rate": round(sum(1 for r in labelled if r["autolabel"]["empty"]) / len(labelled), 4),
        "quality/labeler_named_recall": round(found / len(pairs), 4) if pairs else None,
        "quality/labeler_unnamed_rate": round(unnamed / len(boxes), 4) if boxes else None,
        "quality/labeler_dropped": sum(1 for r in labelled if r.get("split") == "dropped"),
    }
    return {k: v for k, v in out.items() if v is not None}
