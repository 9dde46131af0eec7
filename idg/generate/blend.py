"""Masks and blending: how an inpainted crop (or a real object) goes back into the image without a seam.

No mode ever changes a pixel outside the mask, so the box stays an honest label; the blend mode decides
how the inside fades into the surrounding background (:data:`idg.core.config.BLEND_MODES`):

- ``none``: hard paste of the whole mask (the prototype; leaves a visible border)
- ``feather``: alpha rises smoothly from 0 at the mask edge to 1 at ``feather`` pixels inside
- ``gaussian``: the mask, eroded by ``feather`` pixels, blurred with sigma ``feather / 2``
- ``poisson``: OpenCV ``seamlessClone`` (gradient-domain), so the colours at the border match the background
- ``laplacian``: multi-band: fine detail switches over ``feather`` px, colour and brightness (what a halo is
  made of) over up to a quarter of the box
- ``color_<mode>``: :func:`color_transfer` of the patch to its surroundings (one affine Lab map, so a tone
  drift of the whole patch goes and the object's own contrast stays), then ``<mode>``

How each does on both seam terms (:mod:`idg.generate.seams`) is in the README's Quality section.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import cv2
import numpy as np

from idg.core.config import BLEND_MODES
from idg.generate.seams import to_lab

COLOR_SOURCES = ("auto", "inside", "outside")


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


def _inside_distance(mask: np.ndarray) -> np.ndarray:
    """Distance (px) of each inside pixel to the nearest outside one; the frame counts as outside only where
    the mask really ends there."""
    padded = cv2.copyMakeBorder((mask > 0).astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]


def _mask_box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def alpha_mask(mask: np.ndarray, blend: str, feather: int) -> np.ndarray:
    """A float32 alpha in [0, 1] from a binary mask, zero wherever ``mask`` is zero."""
    hard = (mask > 0).astype(np.float32)
    if blend in ("none", "poisson") or feather <= 0:
        return hard
    if blend == "feather":
        return _smoothstep(_inside_distance(mask) / float(feather)) * hard
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
    """Gradient-domain paste of ``patch`` into ``background`` inside ``mask`` (all the same size).

    A mask under 3 px wide or high is pasted hard: OpenCV's seamlessClone raises on it, and a sliver that
    thin has no interior to solve for."""
    box = _mask_box(mask)
    if box is None:
        return background.copy()
    if min(box[2] - box[0], box[3] - box[1]) < 3:
        return composite(background, patch, (mask > 0).astype(np.float32))
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


def laplacian_paste(background: np.ndarray, patch: np.ndarray, mask: np.ndarray, feather: int,
                    levels: Optional[int] = None) -> np.ndarray:
    """Multi-band (Laplacian-pyramid) paste of ``patch`` into ``background`` inside ``mask``.

    The difference ``patch - background`` inside the box is split into band-pass layers (a Laplacian
    pyramid, each layer expanded back to full resolution). Band ``l`` fades in from the mask border over
    ``feather * 2**l`` px, at most a quarter of the box's shorter side (the label-honesty cap of
    :func:`capped_feather`); the coarsest (low-pass) layer always uses that cap. So fine detail
    stays crisp up to ``feather`` px from the border, while brightness and colour — what a halo is made of
    — change over the widest ramp the box allows instead of a ``feather``-wide step. Every layer's weight is
    0 on and outside the border, so no pixel outside the mask changes.
    """
    if background.shape != patch.shape or mask.shape != background.shape[:2]:
        raise ValueError("background, patch and mask must have the same size")
    box = _mask_box(mask)
    if box is None:
        return background.copy()
    x0, y0, x1, y1 = box
    bg = background[y0:y1, x0:x1].astype(np.float32)
    diff = patch[y0:y1, x0:x1].astype(np.float32) - bg
    m = mask[y0:y1, x0:x1] > 0
    dist = _inside_distance(mask)[y0:y1, x0:x1]
    cap = max(1, min(x1 - x0, y1 - y0) // 4)
    base = max(1, min(int(feather), cap))
    if levels is None:
        levels = 1 + max(0, int(math.ceil(math.log2(cap / base)))) if cap > base else 1
    levels = max(1, min(int(levels), int(math.log2(max(min(x1 - x0, y1 - y0), 2)))))
    if diff.ndim == 2:
        diff = diff[..., None]
    size = (diff.shape[1], diff.shape[0])
    # Gaussian pyramid of the difference, each level expanded back to full size.
    gauss = [diff]
    for _ in range(levels):
        gauss.append(_pyr_down(gauss[-1]))
    full = [diff] + [_expand_to(g, size) for g in gauss[1:]]
    out = np.zeros_like(diff)
    for lvl in range(levels + 1):
        layer = full[lvl] - full[lvl + 1] if lvl < levels else full[lvl]  # band-pass, then the low-pass rest
        width = cap if lvl == levels else min(cap, base * (2 ** lvl))
        weight = _smoothstep(dist / float(width)) * m
        out += weight[..., None] * layer
    blended = np.clip(np.rint(bg.reshape(out.shape) + out), 0, 255).astype(background.dtype).reshape(bg.shape)
    result = background.copy()
    region = result[y0:y1, x0:x1]  # a view: writes go into result
    region[m] = blended[m]
    return result


def _pyr_down(img: np.ndarray) -> np.ndarray:
    out = cv2.pyrDown(img, borderType=cv2.BORDER_REFLECT101)
    return out.reshape(out.shape[0], out.shape[1], -1)


def _expand_to(img: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``img`` brought back to ``size`` (w, h) by repeated pyrUp, the last step resized to fit exactly."""
    cur = img
    while cur.shape[1] * 2 <= size[0] and cur.shape[0] * 2 <= size[1]:
        cur = cv2.pyrUp(cur, borderType=cv2.BORDER_REFLECT101)
        cur = cur.reshape(cur.shape[0], cur.shape[1], -1)
    if (cur.shape[1], cur.shape[0]) != size:
        cur = cv2.resize(cur, size, interpolation=cv2.INTER_LINEAR)
        cur = cur.reshape(size[1], size[0], -1)
    return cur


def ring_stats(lab: np.ndarray, sel: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``lab`` over the boolean selection ``sel``."""
    px = lab[sel].reshape(-1, lab.shape[2])
    return px.mean(axis=0), px.std(axis=0)


def color_transfer(background: np.ndarray, patch: np.ndarray, mask: np.ndarray, ring: int,
                   source: str = "auto", match_std: bool = True, max_gain: float = 2.0) -> np.ndarray:
    """``patch`` with its colours moved to fit the background around ``mask`` (Reinhard-style: per Lab
    channel ``(p - mean_src) * gain + mean_bg`` with ``gain = (std_bg + 1) / (std_src + 1)`` clipped to
    ``[1/max_gain, max_gain]``, or 1 without ``match_std``), one affine map for the whole patch.

    Why: a painted crop whose tone drifted (brighter, hazier, tinted: the diffusion model's or the other
    photo's light) keeps that drift right up to the border, where any alpha blend turns it into a halo.
    Correcting the whole patch with one affine map per channel removes the drift but keeps the object's
    own contrast and detail.

    ``mean_bg, std_bg`` are the background's on the ring ``ring`` px wide just outside the mask. What they
    are matched against (``source``):

    - ``"outside"``: the patch's own pixels on that same ring. An inpainted crop (idg pastes the whole
      context window) has its own rendering of the surroundings there, so this compares identical content
      and measures the drift itself, whatever object was painted inside.
    - ``"inside"``: the patch's ring just inside the mask, the only choice when the patch has nothing of
      its own outside the mask (a copy-paste canvas). It also pulls the box's real difference from its
      surroundings toward zero, so a pasted object is recoloured toward its new background.
    - ``"auto"``: ``outside`` where the patch differs from the background on the outer ring (mean absolute
      difference over 0.5), else ``inside``.

    Pixels outside ``mask`` are returned as in ``patch`` (they are never pasted). The patch is returned
    unchanged when a ring is too small to measure (fewer than 4 pixels)."""
    if source not in ("auto", "inside", "outside"):
        raise ValueError(f"source={source!r} must be auto, inside or outside")
    box = _mask_box(mask)
    if box is None:
        return patch.copy()
    # Everything happens on the box grown by the ring (the rest of the window is never read or written).
    H, W = mask.shape[:2]
    x0, y0 = max(box[0] - ring - 1, 0), max(box[1] - ring - 1, 0)
    x1, y1 = min(box[2] + ring + 1, W), min(box[3] + ring + 1, H)
    m = mask[y0:y1, x0:x1] > 0
    bg, pt = background[y0:y1, x0:x1], patch[y0:y1, x0:x1]
    outside = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
    ring_out = (~m) & (outside <= ring)
    if source == "auto":
        own = ring_out.any() and np.abs(pt[ring_out].astype(np.float32) - bg[ring_out]).mean() > 0.5
        source = "outside" if own else "inside"
    if source == "outside":
        ring_src = ring_out
    else:
        ring_src = m & (_inside_distance(mask)[y0:y1, x0:x1] <= ring)
    if ring_src.sum() < 4 or ring_out.sum() < 4:
        return patch.copy()
    lab_p = to_lab(pt)
    mu_o, sd_o = ring_stats(to_lab(bg), ring_out)
    mu_i, sd_i = ring_stats(lab_p, ring_src)
    # One Lab unit added to both spreads: a flat ring (sky, a wall, a studio backdrop) says nothing about
    # contrast, so it must not halve or double the object's.
    gain = np.clip((sd_o + 1.0) / (sd_i + 1.0), 1.0 / max_gain, max_gain) if match_std else np.ones_like(mu_o)
    moved = (lab_p - mu_i) * gain.astype(np.float32) + mu_o.astype(np.float32)
    moved[..., 0] = np.clip(moved[..., 0], 0.0, 100.0)
    if moved.shape[2] == 1:  # grey: L alone
        rgb = (moved[..., 0] / 100.0).reshape(pt.shape)
    else:
        rgb = cv2.cvtColor(moved.astype(np.float32), cv2.COLOR_Lab2RGB)
    out = patch.copy()
    region = out[y0:y1, x0:x1]  # a view: writes go into out
    region[m] = np.clip(np.rint(rgb[m] * 255.0), 0, 255).astype(patch.dtype)
    return out


def color_ring(feather: int, w: int, h: int) -> int:
    """Width (px) of the rings :func:`color_transfer` matches for a ``w`` x ``h`` box: ``max(4, 2 *
    feather)``, at most a quarter of the box's shorter side; wide enough to average texture, narrow enough
    to sample the border zone rather than the object at the box's centre."""
    return max(1, min(max(4, 2 * int(feather)), min(w, h) // 4))


def paste(background: np.ndarray, patch: np.ndarray, mask: np.ndarray, blend: str, feather: int,
          color_source: str = "auto") -> np.ndarray:
    """Blend ``patch`` into ``background`` inside ``mask`` with the chosen mode; pixels outside are untouched.

    ``color_source`` is what ``color_<mode>`` matches the background's outer ring against (see
    :func:`color_transfer`): the painters pass ``outside`` when the patch carries its own rendering of the
    surroundings (an inpainted window; a real object cut with its source's context)."""
    if blend not in BLEND_MODES:
        raise ValueError(f"unknown blend mode {blend!r}; one of {', '.join(BLEND_MODES)}")
    if blend.startswith("color_"):
        box = _mask_box(mask)
        if box is None:
            return background.copy()
        ring = color_ring(feather, box[2] - box[0], box[3] - box[1])
        patch = color_transfer(background, patch, mask, ring, color_source)
        blend = blend[len("color_"):]
    if blend == "poisson":
        return poisson_paste(background, patch, mask)
    if blend == "laplacian":
        return laplacian_paste(background, patch, mask, feather)
    return composite(background, patch, alpha_mask(mask, blend, feather))
