"""Foreground masks for copy-paste with box-only labels (``copy_paste.mask``).

A real label is a box, and pasting the whole box also pastes the object's own background (the wall behind
the flames, the sky around the smoke). These estimate which pixels of a source box are the object, from the
source image alone:

- ``box``: the whole box (no estimate: what copy-paste did before);
- ``grabcut``: OpenCV's GrabCut seeded by the box (outside: background, inside: probably foreground),
  on a context crop around the box scaled to at most ``MAX_SIDE`` px;
- ``contrast``: pixels whose colour (CIE Lab) is far from the ring of pixels just outside the box, the cut
  between near and far chosen by Otsu's threshold on those distances, cleaned by an opening and a closing.

Because a real box is tight around its object, a mask that keeps less than ``MIN_FRACTION`` of the box
has missed the object: the whole box is used instead, and the object's record says so
(``mask_fallback``). Every pasted object records its mask's area fraction of the box (``mask_fraction``).
"""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

MASKS = ("box", "grabcut", "contrast")
MAX_SIDE = 160  # GrabCut runs on a crop of at most this side (its cost grows with the pixel count)
MIN_FRACTION = 0.15  # a mask keeping less of the box than this has lost the object: the box is used


def _context(image: np.ndarray, box: Tuple[int, int, int, int], margin: float) -> Tuple[np.ndarray, Tuple[int, int, int, int], Tuple[int, int]]:
    """The crop around ``box`` with ``margin`` x its size of context, and the box inside the crop."""
    height, width = image.shape[:2]
    x, y, w, h = box
    mx, my = max(2, int(round(w * margin))), max(2, int(round(h * margin)))
    x0, y0, x1, y1 = max(x - mx, 0), max(y - my, 0), min(x + w + mx, width), min(y + h + my, height)
    return image[y0:y1, x0:x1], (x - x0, y - y0, w, h), (x0, y0)


def grabcut_mask(image: np.ndarray, box: Tuple[int, int, int, int], iterations: int = 3) -> np.ndarray:
    """GrabCut foreground (uint8 0/1, box-sized)."""
    crop, (bx, by, w, h), _ = _context(image, box, 0.15)
    scale = min(1.0, MAX_SIDE / max(crop.shape[:2]))
    small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else crop
    sh, sw = small.shape[:2]
    rx, ry = int(np.floor(bx * scale)), int(np.floor(by * scale))
    rw, rh = max(2, min(int(np.ceil(w * scale)), sw - rx)), max(2, min(int(np.ceil(h * scale)), sh - ry))
    mask = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    mask[ry : ry + rh, rx : rx + rw] = cv2.GC_PR_FGD
    if rx == 0 and ry == 0 and rw >= sw and rh >= sh:  # the box is the whole crop: seed its border as background
        mask[[0, -1], :] = cv2.GC_PR_BGD
        mask[:, [0, -1]] = cv2.GC_PR_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(0)  # GrabCut's GMM initialisation uses OpenCV's RNG: fixed, so masks are reproducible
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # degenerate colour models (a flat crop): no estimate
        return np.ones((h, w), np.uint8)
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    fg = cv2.resize(fg, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST) if scale < 1 else fg
    return fg[by : by + h, bx : bx + w]


def contrast_mask(image: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
    """Pixels standing out from the colour of the ring just outside the box (uint8 0/1, box-sized)."""
    crop, (bx, by, w, h), _ = _context(image, box, 0.1)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    ring = np.ones(crop.shape[:2], bool)
    ring[by : by + h, bx : bx + w] = False
    if ring.sum() < 16:  # the box fills the image: its own 2-px border stands in for the background
        ring = np.zeros(crop.shape[:2], bool)
        ring[by : by + h, bx : bx + w] = True
        ring[by + 2 : by + h - 2, bx + 2 : bx + w - 2] = False
    mu = np.median(lab[ring], axis=0)
    dist = np.sqrt(((lab[by : by + h, bx : bx + w] - mu) ** 2).sum(-1))
    scaled = np.clip(dist * (255.0 / max(float(dist.max()), 1e-6)), 0, 255).astype(np.uint8)
    _, fg = cv2.threshold(scaled, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(1, min(w, h) // 20) * 2 + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)


def object_mask(image: np.ndarray, box: Tuple[int, int, int, int], mode: str) -> Tuple[np.ndarray, float, bool]:
    """(box-sized uint8 0/1 mask, its area fraction of the box, whether it fell back to the box)."""
    x, y, w, h = box
    if mode == "box":
        return np.ones((h, w), np.uint8), 1.0, False
    fg = grabcut_mask(image, box) if mode == "grabcut" else contrast_mask(image, box)
    fraction = float(fg.mean()) if fg.size else 0.0
    if fraction < MIN_FRACTION:
        return np.ones((h, w), np.uint8), fraction, True
    return fg, fraction, False
