"""Box samplers: where each object of an image goes.

A sampler turns per-class ranges (count, width, height, aspect ratio) into integer pixel boxes that lie
inside the image. ``random`` is the prototype's behaviour (boxes may overlap), ``grid`` puts one object per
jittered cell, ``non_overlap`` rejects placements above an IoU / below a gap. Requests that can never be
met are rejected by :func:`check_feasible` at start-up, naming the class and field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from idg.core.box import Box, box_iou
from idg.core.config import IdgConfig, SamplerConfig
from idg.core.errors import ConfigError


@dataclass(frozen=True)
class ClassRanges:
    index: int
    name: str
    count: Tuple[int, int]
    w: Tuple[int, int]
    h: Tuple[int, int]
    ar: Tuple[float, float]


def class_ranges(cfg: IdgConfig) -> List[ClassRanges]:
    out = []
    for i, name in enumerate(cfg.class_names):
        r = cfg.box_size_range(name)
        spec = cfg.classes[name]
        out.append(ClassRanges(i, name, (spec.count[0], spec.count[1]), tuple(r["w"]), tuple(r["h"]), tuple(r["ar"])))
    return out


def sample_size(rng: np.random.Generator, r: ClassRanges) -> Tuple[int, int]:
    """A (w, h) inside the class's width, height and aspect-ratio ranges (aspect ratio log-uniform)."""
    ar = math.exp(rng.uniform(math.log(r.ar[0]), math.log(r.ar[1]))) if r.ar[1] > r.ar[0] else r.ar[0]
    w_lo = max(r.w[0], math.ceil(r.h[0] * ar))
    w_hi = min(r.w[1], math.floor(r.h[1] * ar))
    w = int(rng.integers(w_lo, w_hi + 1)) if w_lo <= w_hi else int(np.clip(round(r.h[0] * ar), r.w[0], r.w[1]))
    h = int(np.clip(round(w / ar), r.h[0], r.h[1]))
    return w, h


def iou(a: Box, b: Box) -> float:
    return box_iou(a, b)


def _gap_ok(a: Box, b: Box, gap: int) -> bool:
    """True when the boxes are at least ``gap`` pixels apart (they may touch when gap is 0)."""
    ax0, ay0, ax1, ay1 = a.xyxy
    bx0, by0, bx1, by1 = b.xyxy
    return ax1 + gap <= bx0 or bx1 + gap <= ax0 or ay1 + gap <= by0 or by1 + gap <= ay0


def _counts(rng: np.random.Generator, ranges: Sequence[ClassRanges]) -> List[int]:
    return [int(rng.integers(r.count[0], r.count[1] + 1)) for r in ranges]


def _place_random(rng: np.random.Generator, r: ClassRanges, width: int, height: int) -> Box:
    w, h = sample_size(rng, r)
    return Box(int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h, r.index)


def sample_boxes(
    cfg: SamplerConfig, ranges: Sequence[ClassRanges], width: int, height: int, rng: np.random.Generator
) -> Tuple[List[Box], int]:
    """Boxes for one image and how many requested objects could not be placed (``non_overlap``/``grid`` only)."""
    counts = _counts(rng, ranges)
    todo = [r for r, n in zip(ranges, counts) for _ in range(n)]
    if cfg.name == "random":
        return [_place_random(rng, r, width, height) for r in todo], 0
    if cfg.name == "grid":
        return _grid(cfg, todo, width, height, rng)
    return _non_overlap(cfg, todo, width, height, rng)


def _grid(cfg: SamplerConfig, todo: List[ClassRanges], width: int, height: int, rng: np.random.Generator) -> Tuple[List[Box], int]:
    """One object per cell; the cell is as large as the image's largest box, so no two boxes overlap."""
    if not todo:
        return [], 0
    for _ in range(cfg.max_tries):
        sizes = [sample_size(rng, r) for r in todo]
        cw, ch = max(s[0] for s in sizes), max(s[1] for s in sizes)
        cols, rows = width // cw, height // ch
        if cols * rows >= len(todo):
            break
    else:  # the sampled sizes never fitted: keep as many objects as there are cells
        cols, rows = width // cw, height // ch
    cells = rng.permutation(cols * rows)[: len(todo)]
    # Spread the grid over the whole image: leftover pixels are shared between cells.
    pitch_x, pitch_y = width / cols, height / rows
    boxes = []
    for r, (w, h), cell in zip(todo, sizes, cells):
        cx, cy = int(cell % cols), int(cell // cols)
        x0, y0 = int(round(cx * pitch_x)), int(round(cy * pitch_y))
        x1, y1 = int(round((cx + 1) * pitch_x)), int(round((cy + 1) * pitch_y))
        slack_x, slack_y = (x1 - x0) - w, (y1 - y0) - h
        jx = slack_x / 2 + cfg.jitter * rng.uniform(-0.5, 0.5) * slack_x
        jy = slack_y / 2 + cfg.jitter * rng.uniform(-0.5, 0.5) * slack_y
        boxes.append(Box(x0 + int(round(jx)), y0 + int(round(jy)), w, h, r.index))
    return boxes, len(todo) - len(boxes)


def _non_overlap(cfg: SamplerConfig, todo: List[ClassRanges], width: int, height: int, rng: np.random.Generator) -> Tuple[List[Box], int]:
    """Rejection sampling: a box is kept when its IoU with every kept box is <= max_iou and gaps hold."""
    boxes: List[Box] = []
    dropped = 0
    for r in todo:
        for _ in range(cfg.max_tries):
            cand = _place_random(rng, r, width, height)
            if all(iou(cand, b) <= cfg.max_iou and (cfg.max_iou > 0 or _gap_ok(cand, b, cfg.min_gap)) for b in boxes):
                boxes.append(cand)
                break
        else:
            dropped += 1
    return boxes, dropped


def check_feasible(cfg: IdgConfig) -> None:
    """Start-up check that the sampler can place the minimum number of objects of every class.

    Raises ConfigError naming the class (and field) when even the smallest boxes at the minimum counts
    cannot fit, so an impossible request fails before any model loads.
    """
    ranges = class_ranges(cfg)
    side = cfg.generate.resolution
    sampler = cfg.sampler
    if sampler.name in ("random", "real_prior"):  # real_prior: fitted to real boxes, which fit their images
        return
    need = [(r, r.count[0]) for r in ranges if r.count[0] > 0]
    if not need:
        return
    if sampler.name == "grid":
        cw = max(r.w[0] for r, _ in need)
        ch = max(r.h[0] for r, _ in need)
        cells = (side // cw) * (side // ch)
        total = sum(n for _, n in need)
        if total > cells:
            names = ", ".join(f"classes.{r.name}.count min {n}" for r, n in need)
            raise ConfigError(
                f"sampler=grid: {total} objects per image ({names}) need {total} cells, but boxes of at least "
                f"{cw}x{ch} px leave only {cells} cells in a {side}x{side} image; lower the counts or sizes"
            )
        return
    gap = sampler.min_gap
    area = sum(n * (r.w[0] + gap) * (r.h[0] + gap) for r, n in need)
    if area > (side + gap) ** 2:
        names = ", ".join(f"classes.{r.name}.count min {n}" for r, n in need)
        raise ConfigError(
            f"sampler=non_overlap: the minimum objects per image ({names}) cover {area} px^2 with their gaps, "
            f"more than the {side}x{side} image; lower the counts, sizes or sampler.min_gap"
        )
