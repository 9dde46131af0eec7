"""Seam measures: a sharp-edge term and a low-frequency (halo) term, for every pasted object.

The prototype's visible borders were not sharp edges: its mask was a rectangle blurred with a Gaussian
(sigma 25 px at 768 px), so the painted rectangle came out brighter, hazier or colour-shifted over tens of
pixels around its edge. A gradient measure on a thin border band sees sharp edges only; a smooth step of
the same size has almost no gradient anywhere. So the seam has two terms:

- :func:`seam_edge`: the sharp edge, gradient on a 2 px border band over the gradient on rings beside it
  (idg's original ``seam_score``);
- :func:`seam_halo`: the colour step across the mask border (mean Lab colour of a ring inside the border
  minus a ring outside it) at several ring widths, divided by the step the same ring geometry measures on
  unpainted parts of the image, or, given ``reference`` (the image before the paste, which the judge has),
  the step of the *change* only: exactly 1 when the paste changed nothing.

:func:`measure_seam` gives both as a :class:`Seam` (what the judge records per object); :func:`seam_scores`
gives them with their parts as a flat dict (what the benchmark prints). The blend modes that remove halos
are in :mod:`idg.generate.blend`. Everything is a pure function of numpy arrays (uint8 RGB, or grey), tested
on real photos with known, synthetic defects (``tests/test_seams.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

# Ring widths of the halo term, in px at a 768 px frame (scaled with the frame's longer side): 4 px sees a
# step just at the border, 32 px a step spread as wide as the prototype's sigma-25 mask.
HALO_WIDTHS_768: Tuple[int, ...] = (4, 12, 32)
REFERENCE_SIDE = 768
SECTORS = 8  # border sectors (by angle around the box centre); opposite sectors are used in pairs


# ------------------------------------------------------------------------------------ edge term


def seam_edge(image: np.ndarray, mask: np.ndarray, band: int = 2) -> float:
    """Sharp-edge seam: mean gradient magnitude on the mask's border band over the mean on rings beside it.

    The band is ``band`` px either side of the border; the
    rings are ``band`` px wide, one inside and one outside, ``band`` px away from it. About 1 means the
    border has no more gradient than its surroundings; a hard paste of foreign content scores well above.
    A smooth step (a halo) has almost no gradient and reads about 1 here: that is :func:`seam_halo`'s job.
    NaN when the mask has no border with room for both rings (empty, tiny, or filling the frame).
    """
    if image.shape[0] < 3 or image.shape[1] < 3:
        return float("nan")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) if image.ndim == 3 else image.astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    m = (mask > 0).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * band + 1, 2 * band + 1))
    wide = cv2.getStructuringElement(cv2.MORPH_RECT, (6 * band + 1, 6 * band + 1))
    border = cv2.dilate(m, k) - cv2.erode(m, k)
    inner = cv2.erode(m, k) - cv2.erode(m, wide)
    outer = cv2.dilate(m, wide) - cv2.dilate(m, k)
    edge = np.zeros_like(m)
    edge[1:-1, 1:-1] = 1  # Sobel at the frame edge is meaningless
    border, inner, outer = border * edge, inner * edge, outer * edge
    if border.sum() == 0 or inner.sum() == 0 or outer.sum() == 0:
        return float("nan")
    ref = 0.5 * (mag[inner > 0].mean() + mag[outer > 0].mean())
    return float(mag[border > 0].mean() / max(ref, 1e-3))


# ------------------------------------------------------------------------------------ halo term


def to_lab(image: np.ndarray) -> np.ndarray:
    """Float32 CIE Lab (L in 0..100) of a uint8 RGB image, or L alone (``H x W x 1``) of a grey one.

    Lab so that one unit of step means about the same visible difference in dark and bright regions and
    for brightness and colour alike (1 unit is near the just-noticeable difference)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return (image.reshape(image.shape[0], image.shape[1], 1).astype(np.float32) * (100.0 / 255.0))
    return cv2.cvtColor(image[..., :3].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def halo_widths(shape: Sequence[int], widths_768: Sequence[int] = HALO_WIDTHS_768) -> List[int]:
    """Ring widths in px for an image of ``shape``: ``widths_768`` scaled by the longer side / 768, >= 1."""
    scale = max(shape[0], shape[1]) / float(REFERENCE_SIDE)
    return [max(1, int(round(w * scale))) for w in widths_768]


@dataclass
class _Rings:
    """Ring pixels of one mask shape, relative to the mask's bounding box, for several widths."""

    box: Tuple[int, int, int, int]  # x0, y0, x1, y1 of the mask in the image (exclusive ends)
    inner: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # (dy, dx, sector)
    outer: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    inner_counts: List[np.ndarray] = field(default_factory=list)  # nominal pixels per sector
    outer_counts: List[np.ndarray] = field(default_factory=list)


def _rings(mask: np.ndarray, widths: Sequence[int], sectors: int) -> Optional[_Rings]:
    """The inner and outer rings of ``mask`` (as if it lay far from the frame) split into angular sectors.

    The inner ring is capped at a quarter of the box's shorter side (the same cap as
    :func:`idg.generate.blend.capped_feather`), so it stays a border zone and does not take in the object at the
    box's centre; the outer ring has the full width."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    bw, bh = x1 - x0, y1 - y0
    pad = max(widths) + 2
    local = np.zeros((bh + 2 * pad, bw + 2 * pad), np.uint8)
    local[pad:-pad, pad:-pad] = (mask[y0:y1, x0:x1] > 0).astype(np.uint8)
    dist_in = cv2.distanceTransform(local, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist_out = cv2.distanceTransform(1 - local, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    yy, xx = np.mgrid[0 : local.shape[0], 0 : local.shape[1]].astype(np.float32)
    # Angle around the box centre with the box squashed to a square, so each side gets its share of sectors.
    cy, cx = pad + bh / 2.0 - 0.5, pad + bw / 2.0 - 0.5
    theta = np.arctan2((yy - cy) / max(bh, 1), (xx - cx) / max(bw, 1))
    sector = (np.floor((theta + np.pi) / (2 * np.pi) * sectors).astype(np.int64)) % sectors
    cap = max(1, min(bw, bh) // 4)
    out = _Rings((x0, y0, x1, y1))
    for w in widths:
        for dist, width, rings, counts in ((dist_in, min(w, cap), out.inner, out.inner_counts),
                                           (dist_out, w, out.outer, out.outer_counts)):
            sel = (dist > 0) & (dist <= width + 1e-3)
            ry, rx = np.nonzero(sel)
            sec = sector[ry, rx]
            rings.append((ry - pad, rx - pad, sec))
            counts.append(np.bincount(sec, minlength=sectors).astype(np.float64))
    return out


def _sector_means(lab: np.ndarray, dy: np.ndarray, dx: np.ndarray, sec: np.ndarray, oy: int, ox: int,
                  sectors: int, usable: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-sector mean Lab colour and usable pixel count of a ring placed with its box corner at (ox, oy).

    Pixels off the frame, or where ``usable`` is False, are left out."""
    H, W, C = lab.shape
    y, x = dy + oy, dx + ox
    ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
    y, x, s = y[ok], x[ok], sec[ok]
    if usable is not None:
        keep = usable[y, x]
        y, x, s = y[keep], x[keep], s[keep]
    counts = np.bincount(s, minlength=sectors).astype(np.float64)
    px = lab[y, x]
    sums = np.stack([np.bincount(s, weights=px[:, c], minlength=sectors) for c in range(C)], axis=1)
    return sums / np.maximum(counts, 1.0)[:, None], counts


Pairing = Tuple[np.ndarray, int]  # (first sectors of the pairs, offset of their partners)


def _step_vector(lab: np.ndarray, rings: _Rings, i: int, oy: int, ox: int, sectors: int,
                 usable: Optional[np.ndarray] = None, min_coverage: float = 0.75,
                 pairing: Optional[Pairing] = None) -> Optional[Tuple[np.ndarray, Pairing]]:
    """The colour step across the border that *both sides* of the box share (a Lab vector) for width index
    ``i`` of the rings placed at (ox, oy); also the sector pairs it used.

    Per sector, ``d = mean(inner ring) - mean(outer ring)``. Opposite sectors form a pair ``(a, b)``; per
    channel the pair contributes ``median(a, b, 0)``: the smaller of the two when they agree in sign, 0 when
    they do not. A halo brightens, hazes or tints the whole box, so every sector moves alike and the pair
    keeps it in full; a linear gradient across the image (sky above, floor below) moves opposite sectors in
    opposite directions and cancels; a real edge along one side only (a box next to a letterbox bar or a
    lamp) moves one sector of the pair and is mostly ignored. The step is the mean over usable pairs.

    A sector is usable when at least ``min_coverage`` of both its rings lie on usable pixels (in the frame
    and ``usable``), and a pair when both its sectors are. A box in a corner of the frame has no usable
    opposite pair; it falls back to pairs on perpendicular sides (a quarter turn apart), which still cancel
    horizontal, vertical and one diagonal gradient. ``pairing`` forces the pairs (the same ones on an image
    and on its reference, or at the shifted boxes); None when they (or any pair) are not usable.
    """
    mi, ci = _sector_means(lab, *rings.inner[i], oy, ox, sectors, usable)
    mo, co = _sector_means(lab, *rings.outer[i], oy, ox, sectors, usable)
    ni, no = rings.inner_counts[i], rings.outer_counts[i]
    good = (ni >= 1) & (no >= 1) & (ci >= min_coverage * ni) & (co >= min_coverage * no)
    if pairing is not None:
        first, offset = pairing
        if len(first) == 0 or not (good[first] & good[(first + offset) % sectors]).all():
            return None
    else:
        half = sectors // 2
        first, offset = np.flatnonzero(good[:half] & good[half:]), half
        if len(first) == 0:
            offset = sectors // 4
            first = np.flatnonzero(good & np.roll(good, -offset))
        if len(first) == 0:
            return None
    diff = mi - mo
    a, b = diff[first], diff[(first + offset) % sectors]
    common = np.median(np.stack([a, b, np.zeros_like(a)]), axis=0)
    return common.mean(axis=0), (first, offset)


def _placements(shape: Sequence[int], box: Tuple[int, int, int, int], stride: int) -> List[Tuple[int, int]]:
    """Box corners (ox, oy), on a grid of ``stride`` px, where a same-shaped box fits inside the frame,
    nearest to the real box first; the real box's own place is left out."""
    H, W = shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    # The grid goes through the real box's corner, so the nearest places are whole strides away from it.
    oxs = np.concatenate([np.arange(x0, -1, -stride)[::-1], np.arange(x0 + stride, W - bw + 1, stride)])
    oys = np.concatenate([np.arange(y0, -1, -stride)[::-1], np.arange(y0 + stride, H - bh + 1, stride)])
    oxs, oys = oxs[(oxs >= 0) & (oxs <= W - bw)], oys[(oys >= 0) & (oys <= H - bh)]
    if len(oxs) == 0 or len(oys) == 0:
        return []
    gx, gy = np.meshgrid(oxs, oys)
    gx, gy = gx.ravel(), gy.ravel()
    d2 = (gx - x0).astype(np.float64) ** 2 + (gy - y0).astype(np.float64) ** 2
    order = [k for k in np.argsort(d2, kind="stable") if d2[k] > 0]
    return [(int(gx[k]), int(gy[k])) for k in order]


@dataclass
class Halo:
    """The halo term of one object: per ring width and one summary number (NaN where not measurable)."""

    score: float  # summary: the largest per-width score
    widths_px: List[int]  # ring widths used, px in this image
    widths_768: List[int]  # the same widths named at a 768 px frame
    scores: List[float]  # per width: step / natural step (see seam_halo)
    steps: List[float]  # per width: |colour step| across the border, Lab units (with reference: |step of the change|)
    scales: List[float]  # per width: the natural step of this image at this box shape, Lab units
    n_shifts: List[int]  # per width: how many shifted boxes the natural step came from

    def by_width(self) -> Dict[int, float]:
        return dict(zip(self.widths_768, self.scores))


def seam_halo(
    image: np.ndarray,
    mask: np.ndarray,
    widths: Optional[Sequence[int]] = None,
    reference: Optional[np.ndarray] = None,
    n_shifts: int = 12,
    min_shifts: int = 3,
    floor: float = 1.0,
    sectors: int = SECTORS,
) -> Halo:
    """Low-frequency seam: the colour step across the mask border, relative to this image's natural steps.

    **Step.** For each ring width ``w`` (default :data:`HALO_WIDTHS_768` scaled to the image), the border is
    split into ``sectors`` angular sectors; in each, the mean Lab colour of the ring ``w`` px inside the
    border minus the mean of the ring ``w`` px outside (the inner ring is capped at a quarter of the box's
    shorter side). Opposite sectors are combined so that only a step both sides of the box share counts
    (see :func:`_step_vector`): a halo that brightens, hazes or tints the whole box shifts every sector the
    same way and counts in full, while a gradient across the image cancels and a real edge along one side
    is mostly ignored. The step is the length of the resulting Lab vector (Lab units, ~1 = one
    just-noticeable difference).

    **Natural scale.** Real photos have steps everywhere (a box over a lamp, a window, a wall's edge), so
    an absolute threshold cannot work. The scale ``S_w`` is the median step of the same mask shape
    shifted to up to ``n_shifts`` nearby places (on a grid of half the box's side, nearest first) — on
    ``reference`` (the image before the paste) where given, else on ``image`` itself at places whose rings
    stay clear of the painted box by the widest ring (beyond which the prototype's halo had faded), using
    the same sector pairs as at the box itself. ``S_w`` is floored at ``floor`` Lab units (about one
    just-noticeable difference), so a flat wall does not turn an invisible step into a large score.

    **Score per width.** Without ``reference``: ``step / S_w``: an untouched box is one draw from the same
    distribution as the shifted ones, so untouched boxes score about 1 or less (less where the image is
    flatter than the floor; the median over the tests' photos is 0.4-1.2). With ``reference``,
    the step that was already at this very place is known, and only what the paste added counts:
    ``sqrt(S_w**2 + |v_image - v_reference|**2) / S_w`` where ``v`` are the step vectors — exactly 1 when
    the paste changed nothing, and the expected value of the no-reference score had the natural step here
    been typical. It measures the step of the *change*, whatever its direction, so a halo cannot hide by
    happening to oppose a natural step at that border; the price is that a paste which evens out a natural
    step (colour transfer does, a little) also scores slightly above 1. Either way, a score of k means a
    step about k times this image's typical one.

    **Summary** (``Halo.score``): the largest per-width score, since a halo is visible at whichever scale
    it has. NaN (never an exception) for an empty or tiny mask, a box that fills the frame, or, without a
    reference, fewer than ``min_shifts`` usable shifted boxes; per-width NaNs are skipped by the summary.
    With a reference, a box too large for ``min_shifts`` shifted copies (a third of the frame or more,
    common for smoke and fire in CCTV scenes) takes ``floor`` as its scale, which is what most boxes get
    anyway: the score is then the step of the change in just-noticeable differences.
    """
    widths_768 = list(widths) if widths is not None else list(HALO_WIDTHS_768)
    widths_px = halo_widths(image.shape, widths_768)
    nan = float("nan")
    empty = Halo(nan, widths_px, widths_768, [nan] * len(widths_px), [nan] * len(widths_px),
                 [nan] * len(widths_px), [0] * len(widths_px))
    if reference is not None and reference.shape != image.shape:
        raise ValueError(f"reference shape {reference.shape} != image shape {image.shape}")
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} != image shape {image.shape[:2]}")
    rings = _rings(mask, widths_px, sectors)
    if rings is None:
        return empty
    lab = to_lab(image)
    lab_ref = to_lab(reference) if reference is not None else None
    x0, y0, x1, y1 = rings.box
    natural = lab_ref if lab_ref is not None else lab
    usable = None
    if lab_ref is None:
        # Shifted boxes measure the image's own natural steps, so their rings must not see the painted box
        # or a halo leaking out of it: pixels within `guard` px of the box (the widest ring; the
        # prototype's halo had faded to ~10% there) are left out of their sectors.
        guard = max(widths_px)
        usable = np.ones(image.shape[:2], bool)
        usable[max(0, y0 - guard) : y1 + guard, max(0, x0 - guard) : x1 + guard] = False
    places = _placements(image.shape, rings.box, max(2, max(x1 - x0, y1 - y0) // 2))[: 8 * n_shifts]
    scores, steps, scales, counts = [], [], [], []
    for i, w in enumerate(widths_px):
        here = _step_vector(lab, rings, i, y0, x0, sectors)
        shifted: List[float] = []
        if here is not None:
            # The same sector pairs as at the box itself, so both measure the same statistic.
            for ox, oy in places:
                v = _step_vector(natural, rings, i, oy, ox, sectors, usable, pairing=here[1])
                if v is not None:
                    shifted.append(float(np.linalg.norm(v[0])))
                    if len(shifted) >= n_shifts:
                        break
        counts.append(len(shifted))
        if here is None or (len(shifted) < min_shifts and lab_ref is None):
            scores.append(nan), steps.append(nan), scales.append(nan)
            continue
        scale = max(float(np.median(shifted)), floor) if len(shifted) >= min_shifts else floor
        if lab_ref is None:
            step = float(np.linalg.norm(here[0]))
            score = step / scale
        else:
            before = _step_vector(lab_ref, rings, i, y0, x0, sectors, pairing=here[1])  # same frame: usable
            step = float(np.linalg.norm(here[0] - before[0]))
            score = math.sqrt(scale * scale + step * step) / scale
        scores.append(score), steps.append(step), scales.append(scale)
    finite = [s for s in scores if math.isfinite(s)]
    return Halo(max(finite) if finite else nan, widths_px, widths_768, scores, steps, scales, counts)


def seam_scores(image: np.ndarray, mask: np.ndarray, reference: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Both seam terms of one pasted object as a flat dict of floats (NaN where not measurable).

    ``edge`` (:func:`seam_edge`), ``halo`` (:func:`seam_halo`'s summary) and per ring width ``w`` (named at
    768 px): ``halo_w{w}`` (score), ``halo_step_w{w}`` (the step, Lab units) and ``halo_scale_w{w}`` (the
    image's natural step). About 1 everywhere means no visible seam."""
    halo = seam_halo(image, mask, reference=reference)
    out: Dict[str, float] = {"edge": seam_edge(image, mask), "halo": halo.score}
    for w, s, st, sc in zip(halo.widths_768, halo.scores, halo.steps, halo.scales):
        out[f"halo_w{w}"] = s
        out[f"halo_step_w{w}"] = st
        out[f"halo_scale_w{w}"] = sc
    return out


@dataclass(frozen=True)
class Seam:
    """Both seam terms of one pasted object (NaN where not measurable): what the judge records."""

    edge: float  # seam_edge: ~1 no sharp edge; a hard paste scores well above
    halo: float  # seam_halo's summary (the largest per-width score); with a reference, exactly 1 = unchanged
    halo_widths: Dict[int, float]  # per ring width, named at a 768 px frame (4, 12, 32)


def measure_seam(image: np.ndarray, mask: np.ndarray, reference: Optional[np.ndarray] = None) -> Seam:
    """:func:`seam_edge` and :func:`seam_halo` of the object pasted into ``mask`` (``reference``: the image
    before the paste, for the reference-based halo term)."""
    halo = seam_halo(image, mask, reference=reference)
    return Seam(seam_edge(image, mask), halo.score, halo.by_width())
