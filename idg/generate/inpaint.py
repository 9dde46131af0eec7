"""Crop-and-inpaint: paint a class prompt into a box at the model's native resolution.

For each object a square context window around its box is cut from the image, resized to the model's
native resolution (so small boxes get the model's full resolution), inpainted there with a mask of the box,
resized back and pasted into the image inside the box only (see :mod:`idg.blend`). Objects of many images
go through one pipeline call per batch: all crops have the same size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from idg.blend import capped_feather, paste, shape_mask
from idg.config import InpaintConfig
from idg.models import Pipelines
from idg.sampling import Box


@dataclass(frozen=True)
class Window:
    """A region ``(x, y, w, h)`` of the image that is cut out, inpainted and put back."""

    x: int
    y: int
    w: int
    h: int


@dataclass
class InpaintJob:
    """One object to paint: which image, which box, with which prompt and seed."""

    key: Tuple[int, int]  # (image index, object index)
    box: Box
    prompt: str
    seed: int


def context_window(box: Box, width: int, height: int, context: float, mode: str) -> Window:
    """The square window (side ``context`` x the box's longer side) centred on the box, moved inside the image.

    ``mode="full"`` uses the whole frame, as the prototype did.
    """
    if mode == "full":
        return Window(0, 0, width, height)
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
    return Window(x, y, side_w, side_h)


def _box_in_window(box: Box, win: Window) -> Tuple[int, int, int, int]:
    return box.x - win.x, box.y - win.y, box.w, box.h


def _scaled_box(box: Tuple[int, int, int, int], sx: float, sy: float) -> Tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = int(math.floor(x * sx)), int(math.floor(y * sy))
    x1, y1 = int(math.ceil((x + w) * sx)), int(math.ceil((y + h) * sy))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def prepare_crop(image: np.ndarray, box: Box, cfg: InpaintConfig, crop_size: int) -> Tuple[Window, Image.Image, Image.Image]:
    """Window, the window resized to ``crop_size`` and the box mask at that size, for one object."""
    height, width = image.shape[:2]
    win = context_window(box, width, height, cfg.context, cfg.mode)
    crop = Image.fromarray(image[win.y : win.y + win.h, win.x : win.x + win.w])
    if (win.w, win.h) != (crop_size, crop_size):
        crop = crop.resize((crop_size, crop_size), Image.LANCZOS)
    local = _scaled_box(_box_in_window(box, win), crop_size / win.w, crop_size / win.h)
    mask = Image.fromarray(shape_mask(crop_size, crop_size, local, cfg.mask))
    return win, crop, mask


def put_back(image: np.ndarray, result: np.ndarray, win: Window, box: Box, cfg: InpaintConfig) -> np.ndarray:
    """Resize the inpainted crop to its window and blend it in inside the box; returns a new image."""
    patch = Image.fromarray(result)
    if patch.size != (win.w, win.h):
        patch = patch.resize((win.w, win.h), Image.LANCZOS)
    region = image[win.y : win.y + win.h, win.x : win.x + win.w]
    mask = shape_mask(win.h, win.w, _box_in_window(box, win), cfg.mask)
    out = image.copy()
    out[win.y : win.y + win.h, win.x : win.x + win.w] = paste(region, np.asarray(patch), mask, cfg.blend,
                                                                 capped_feather(cfg.feather, box.w, box.h))
    return out


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pipeline float output in [0, 1] -> uint8, rounding as diffusers' ``numpy_to_pil`` does."""
    return (np.clip(images, 0.0, 1.0) * 255).round().astype(np.uint8)


def inpaint_batch(
    pipes: Pipelines,
    images: Dict[int, np.ndarray],
    jobs: Sequence[InpaintJob],
    cfg: InpaintConfig,
    crop_size: int,
    negative_prompt: str,
) -> Dict[Tuple[int, int], Window]:
    """Inpaint ``jobs`` (at most one per image) in one pipeline call and paste each into ``images`` in place."""
    import torch

    if not jobs:
        return {}
    assert len({j.key[0] for j in jobs}) == len(jobs), "one object per image per call"
    prepared = [prepare_crop(images[j.key[0]], j.box, cfg, crop_size) for j in jobs]
    with torch.inference_mode():
        out = pipes.inpaint(
            **pipes.batch_embeddings([j.prompt for j in jobs], negative_prompt, cfg.guidance),
            image=[p[1] for p in prepared],
            mask_image=[p[2] for p in prepared],
            strength=cfg.strength,
            num_inference_steps=cfg.steps,
            guidance_scale=cfg.guidance,
            height=crop_size,
            width=crop_size,
            generator=pipes.generators([j.seed for j in jobs]),
            output_type="np",
        ).images
    results = to_uint8(out)
    windows = {}
    for job, (win, _, _), result in zip(jobs, prepared, results):
        images[job.key[0]] = put_back(images[job.key[0]], result, win, job.box, cfg)
        windows[job.key] = win
    return windows


def schedule_rounds(boxes: Dict[int, List[Box]]) -> List[List[Tuple[int, int]]]:
    """Round ``r`` holds object ``r`` of every image that has one: objects of one image are painted one
    after another (each sees the ones before), objects of different images are batched together."""
    rounds: List[List[Tuple[int, int]]] = []
    depth = max((len(b) for b in boxes.values()), default=0)
    for r in range(depth):
        rounds.append([(i, r) for i in sorted(boxes) if len(boxes[i]) > r])
    return rounds
