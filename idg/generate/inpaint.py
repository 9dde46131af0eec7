"""Crop-and-inpaint: paint a class prompt into a box at the model's native resolution.

For each object a square context window around its box is cut from the image, resized to the inpainting
model's native resolution (so small boxes get the model's full resolution), inpainted there with a mask of the box,
resized back and pasted into the image inside the box only (see :mod:`idg.generate.blend`). Objects of many images
go through one pipeline call per batch: all crops have the same size.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import numpy as np
from PIL import Image

from idg.core.box import Box
from idg.core.config import IdgConfig, InpaintConfig
from idg.generate.blend import capped_feather, paste, shape_mask, to_uint8
from idg.generate.parts import Key, Lazy, PaintJob, Painted


def context_window(box: Box, width: int, height: int, context: float, mode: str) -> Box:
    """The square window (side ``context`` x the box's longer side) centred on the box, moved inside the image.

    ``mode="full"`` uses the whole frame, as the prototype did.
    """
    if mode == "full":
        return Box(0, 0, width, height)
    side = max(box.w, box.h, int(math.ceil(max(box.w, box.h) * context)))
    side_w, side_h = min(side, width), min(side, height)
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x = int(round(cx - side_w / 2.0))
    y = int(round(cy - side_h / 2.0))
    x = min(max(x, 0), width - side_w)
    y = min(max(y, 0), height - side_h)
    # The window always contains the box: side >= box side and the shift keeps the box inside.
    x = min(x, box.x)
    y = min(y, box.y)
    x = max(x, box.x + box.w - side_w)
    y = max(y, box.y + box.h - side_h)
    return Box(x, y, side_w, side_h)


def _box_in_window(box: Box, win: Box) -> Tuple[int, int, int, int]:
    return box.x - win.x, box.y - win.y, box.w, box.h


def _scaled_box(box: Tuple[int, int, int, int], sx: float, sy: float) -> Tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = int(math.floor(x * sx)), int(math.floor(y * sy))
    x1, y1 = int(math.ceil((x + w) * sx)), int(math.ceil((y + h) * sy))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def prepare_crop(image: np.ndarray, box: Box, cfg: InpaintConfig, crop_size: int) -> Tuple[Box, Image.Image, Image.Image]:
    """The window, the window resized to ``crop_size`` and the box mask at that size, for one object."""
    height, width = image.shape[:2]
    win = context_window(box, width, height, cfg.context, cfg.mode)
    crop = Image.fromarray(image[win.y : win.y + win.h, win.x : win.x + win.w])
    if (win.w, win.h) != (crop_size, crop_size):
        crop = crop.resize((crop_size, crop_size), Image.LANCZOS)
    local = _scaled_box(_box_in_window(box, win), crop_size / win.w, crop_size / win.h)
    mask = Image.fromarray(shape_mask(crop_size, crop_size, local, cfg.mask))
    return win, crop, mask


def put_back(image: np.ndarray, result: np.ndarray, win: Box, box: Box, cfg: InpaintConfig) -> np.ndarray:
    """Resize the inpainted crop to its window and blend it in inside the box; returns a new image."""
    patch = Image.fromarray(result)
    if patch.size != (win.w, win.h):
        patch = patch.resize((win.w, win.h), Image.LANCZOS)
    region = image[win.y : win.y + win.h, win.x : win.x + win.w]
    mask = shape_mask(win.h, win.w, _box_in_window(box, win), cfg.mask)
    out = image.copy()
    # The whole window is the model's own rendering, so colour transfer (color_*) compares it with the image
    # on the same ring outside the box: what the pipeline changed there (VAE round trip, tone drift) is
    # what it changed inside too. Were the window pasted back unchanged outside the box, the map would be
    # the identity rather than a recolouring of the object ("auto" would switch to the inner ring).
    out[win.y : win.y + win.h, win.x : win.x + win.w] = paste(region, np.asarray(patch), mask, cfg.blend,
                                                                 capped_feather(cfg.feather, box.w, box.h),
                                                                 color_source="outside")
    return out


class DiffusionPainter:
    """The diffusion painter: one inpainting call per round of jobs, each object with its own seed."""

    needs_model = True

    def __init__(self, cfg: IdgConfig, pipes: Lazy):
        self.cfg = cfg.inpaint
        self.pipes = pipes
        self.crop_size = cfg.generate.resolution if cfg.inpaint.mode == "full" else (
            cfg.inpaint.crop_size or cfg.inpaint_model.native_resolution)
        self.negative_prompt = cfg.inpaint.negative_prompt or cfg.inpaint_model.negative_prompt

    def paint(self, images: Dict[int, np.ndarray], jobs: Sequence[PaintJob]) -> Dict[Key, Painted]:
        """Inpaint ``jobs`` (at most one per image) in one pipeline call and paste each into ``images`` in
        place; each job's window is recorded."""
        if not jobs:
            return {}
        assert len({j.key[0] for j in jobs}) == len(jobs), "one object per image per call"
        cfg, crop_size = self.cfg, self.crop_size
        prepared = [prepare_crop(images[j.key[0]], j.box, cfg, crop_size) for j in jobs]
        out = self.pipes.get().inpaint(
            [j.prompt for j in jobs], [j.seed for j in jobs], images=[p[1] for p in prepared],
            masks=[p[2] for p in prepared], negative_prompt=self.negative_prompt, strength=cfg.strength,
            steps=cfg.steps, guidance=cfg.guidance, size=crop_size,
        )
        painted = {}
        for job, (win, _, _), result in zip(jobs, prepared, to_uint8(out)):
            images[job.key[0]] = put_back(images[job.key[0]], result, win, job.box, cfg)
            painted[job.key] = Painted(win)
        return painted
