"""Masks and blending: how an inpainted crop goes back into the image without a visible seam.

All alphas here are zero outside the object's box, so a paste never changes a pixel outside the box; the
blend mode decides how the inside fades into the surrounding background:

- ``none``: hard paste of the whole mask (the prototype; leaves a visible border)
- ``feather``: alpha rises smoothly from 0 at the mask edge to 1 at ``feather`` pixels inside
- ``gaussian``: the mask, eroded by ``feather`` pixels, blurred with sigma ``feather / 2``
- ``poisson``: OpenCV ``seamlessClone`` (gradient-domain), so the colours at the border match the background
"""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pipeline float output in [0, 1] -> uint8, rounding as diffusers' ``numpy_to_pil`` does."""
    return (np.clip(images, 0.0, 1.0) * 255).round().astype(np.uint8)


def shape_mask(height: int, width: int, box: Tuple[int, int, int, int], shape: str) -> np.ndarray:
    """A ``uint8`` mask (255 inside) of ``box = (x, y, w, h)`` as a rectangle or its inscribed ellipse."""
    x, y, w, h = box
    mask = np.zeros((height, width), np.uint8)
    if shape == "rect":
        mask[max(y, 0) : y + h, max(x, 0) : x + w] = 255
    else:
        # Sub-pixel centre and axes so the ellipse touches all four sides of the box.
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        cx, cy = x + w / 2.0 - 0.5, y + h / 2.0 - 0.5
        inside = ((xx - cx) / (w / 2.0)) ** 2 + ((yy - cy) / (h / 2.0)) ** 2 <= 1.0
        mask[inside] = 255
    return mask


def capped_feather(feather: int, w: int, h: int) -> int:
    """The feather width used for a ``w`` x ``h`` object: at most a quarter of its shorter side, so a small
    object is not faded out of its own box (which would make its label wrong)."""
    return min(feather, min(w, h) // 4)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def alpha_mask(mask: np.ndarray, blend: str, feather: int) -> np.ndarray:
    """A float32 alpha in [0, 1] from a binary mask, zero wherever ``mask`` is zero."""
    hard = (mask > 0).astype(np.float32)
    if blend in ("none", "poisson") or feather <= 0:
        return hard
    if blend == "feather":
        # Distance (in px) from each inside pixel to the nearest outside pixel; pad so the image border
        # counts as outside only where the mask really ends there.
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        dist = cv2.distanceTransform((padded > 0).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
        return _smoothstep(dist / float(feather)) * hard
    if blend == "gaussian":
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * feather + 1, 2 * feather + 1))
        core = cv2.erode(hard, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        sigma = max(feather / 2.0, 0.5)
        soft = cv2.GaussianBlur(core, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)
        return np.clip(soft / max(soft.max(), 1e-6), 0.0, 1.0) * hard
    raise ValueError(f"unknown blend mode {blend!r}")


def composite(background: np.ndarray, patch: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * patch + (1 - alpha) * background`` in uint8; exact background where alpha is 0."""
    a = alpha[..., None]
    out = np.rint(a * patch.astype(np.float32) + (1.0 - a) * background.astype(np.float32))
    out = np.clip(out, 0, 255).astype(np.uint8)
    out[alpha <= 0] = background[alpha <= 0]
    return out


def poisson_paste(background: np.ndarray, patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Gradient-domain paste of ``patch`` into ``background`` inside ``mask`` (all the same size)."""
    if not mask.any():
        return background.copy()
    # seamlessClone needs the mask away from the border: pad everything by a reflected margin.
    pad = 2
    bg = cv2.copyMakeBorder(background, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    src = cv2.copyMakeBorder(patch, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    m = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    ys, xs = np.nonzero(m)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    center = ((x0 + x1) // 2, (y0 + y1) // 2)
    # seamlessClone centres the mask's bounding box on `center`; cut the source to that box so it lines up.
    src_roi = np.zeros_like(bg)
    src_roi[y0:y1, x0:x1] = src[y0:y1, x0:x1]
    out = cv2.seamlessClone(src_roi, bg, m, center, cv2.NORMAL_CLONE)[pad:-pad, pad:-pad]
    result = background.copy()
    inside = mask > 0
    result[inside] = out[inside]
    return result


def paste(background: np.ndarray, patch: np.ndarray, mask: np.ndarray, blend: str, feather: int) -> np.ndarray:
    """Blend ``patch`` into ``background`` inside ``mask`` with the chosen mode; pixels outside are untouched."""
    if blend == "poisson":
        return poisson_paste(background, patch, mask)
    return composite(background, patch, alpha_mask(mask, blend, feather))


def seam_score(image: np.ndarray, mask: np.ndarray, band: int = 2) -> float:
    """How much stronger the image gradient is along the mask border than just inside and outside it.

    Ratio of the mean gradient magnitude on the border band to the mean on two rings, one inside and one
    outside (each ``band`` px wide, ``band`` px away). About 1 means the border is invisible; a hard-edged
    paste scores clearly higher. NaN when the mask has no border with room for both rings.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) if image.ndim == 3 else image.astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    m = (mask > 0).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * band + 1, 2 * band + 1))
    # Border band: pixels within `band` of the edge on either side (interior of the image only).
    border = cv2.dilate(m, k) - cv2.erode(m, k)
    inner = cv2.erode(m, k) - cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_RECT, (6 * band + 1, 6 * band + 1)))
    outer = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_RECT, (6 * band + 1, 6 * band + 1))) - cv2.dilate(m, k)
    edge = np.zeros_like(m)
    edge[1:-1, 1:-1] = 1  # Sobel at the frame edge is meaningless
    border, inner, outer = border * edge, inner * edge, outer * edge
    if border.sum() == 0 or inner.sum() == 0 or outer.sum() == 0:
        return float("nan")
    ref = 0.5 * (mag[inner > 0].mean() + mag[outer > 0].mean())
    return float(mag[border > 0].mean() / max(ref, 1e-3))
