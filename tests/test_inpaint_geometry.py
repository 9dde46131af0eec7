"""Crop-and-inpaint geometry and blending: windows contain their box, nothing outside a box changes."""

import numpy as np
import pytest

from idg.generate.blend import alpha_mask, composite, paste, shape_mask
from idg.core.config import BLEND_MODES, InpaintConfig
from idg.generate.inpaint import context_window, prepare_crop, put_back
from idg.generate.parts import schedule_rounds
from idg.core.box import Box


@pytest.mark.parametrize("box", [Box(0, 0, 10, 10, 0), Box(50, 60, 14, 40, 0), Box(110, 100, 18, 28, 0), Box(0, 0, 128, 128, 0)])
@pytest.mark.parametrize("context", [1.0, 1.5, 3.0])
def test_context_window_contains_box_and_stays_inside(box, context):
    win = context_window(box, 128, 128, context, "crop")
    assert win.w == win.h  # square, so resizing to the model's square input keeps the aspect
    assert 0 <= win.x and 0 <= win.y and win.x + win.w <= 128 and win.y + win.h <= 128
    assert win.x <= box.x and win.y <= box.y and box.x + box.w <= win.x + win.w and box.y + box.h <= win.y + win.h
    assert win.w == min(128, max(box.w, box.h, int(np.ceil(max(box.w, box.h) * context))))


def test_full_mode_window_is_the_frame():
    win = context_window(Box(5, 5, 10, 10, 0), 128, 96, 2.0, "full")
    assert (win.x, win.y, win.w, win.h) == (0, 0, 128, 96)


def test_prepare_crop_upsamples_small_boxes_to_the_crop_size():
    image = np.zeros((128, 128, 3), np.uint8)
    cfg = InpaintConfig(context=2.0)
    win, crop, mask = prepare_crop(image, Box(60, 60, 8, 8, 0), cfg, 64)
    assert (win.w, win.h) == (16, 16) and crop.size == (64, 64) and mask.size == (64, 64)
    m = np.asarray(mask) > 0
    ys, xs = np.nonzero(m)
    # the 8 px box sits in the middle of a 16 px window: 32 px of the 64 px crop
    assert xs.min() == 16 and xs.max() == 47 and ys.min() == 16 and ys.max() == 47


@pytest.mark.parametrize("blend", BLEND_MODES)
@pytest.mark.parametrize("mask_shape", ["rect", "ellipse"])
def test_put_back_changes_nothing_outside_the_box(blend, mask_shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    box = Box(30, 20, 25, 33, 0)
    cfg = InpaintConfig(blend=blend, mask=mask_shape, feather=6, context=2.0)
    win = context_window(box, 96, 96, cfg.context, cfg.mode)
    result = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = put_back(image, result, win, box, cfg)
    outside = np.ones((96, 96), bool)
    outside[box.y : box.y + box.h, box.x : box.x + box.w] = False
    assert np.array_equal(out[outside], image[outside])
    assert not np.array_equal(out[~outside], image[~outside])


def test_alpha_is_zero_outside_and_one_deep_inside():
    mask = shape_mask(64, 64, (10, 10, 40, 40), "rect")
    for blend in ("feather", "gaussian"):
        a = alpha_mask(mask, blend, 8)
        assert a[mask == 0].max() == 0.0
        assert a[30, 30] == pytest.approx(1.0)
        assert 0.0 < a[10, 30] < 0.5  # soft at the edge
    assert alpha_mask(mask, "none", 8)[10, 30] == 1.0


def test_feathered_alpha_touching_the_frame_edge_stays_opaque_there():
    mask = shape_mask(64, 64, (0, 0, 20, 64), "rect")
    a = alpha_mask(mask, "feather", 8)
    assert a[32, 0] > 0  # soft only toward the background it blends into
    assert a[32, 19] < a[32, 10]


def test_composite_is_exact_where_alpha_is_zero():
    bg = np.full((8, 8, 3), 100, np.uint8)
    patch = np.full((8, 8, 3), 200, np.uint8)
    alpha = np.zeros((8, 8), np.float32)
    alpha[2:6, 2:6] = 0.5
    out = composite(bg, patch, alpha)
    assert (out[0, 0] == 100).all() and (out[3, 3] == 150).all()


def test_paste_poisson_matches_colours_at_the_border():
    bg = np.full((64, 64, 3), 80, np.uint8)
    patch = np.full((64, 64, 3), 200, np.uint8)
    patch[28:36, 28:36] = 240  # an object in the middle of a bright patch
    mask = shape_mask(64, 64, (16, 16, 32, 32), "rect")
    hard = paste(bg, patch, mask, "none", 0)
    seamless = paste(bg, patch, mask, "poisson", 0)
    edge = (slice(16, 48), 16)
    assert abs(int(hard[edge].mean()) - 80) > 100
    assert abs(float(seamless[edge].mean()) - 80) < abs(float(hard[edge].mean()) - 80)
    assert (seamless[mask == 0] == 80).all()


def test_rounds_paint_each_image_objects_in_order_and_batch_across_images():
    boxes = {0: [Box(0, 0, 1, 1, 0)] * 2, 1: [], 2: [Box(0, 0, 1, 1, 0)] * 3}
    assert schedule_rounds(boxes) == [[(0, 0), (2, 0)], [(0, 1), (2, 1)], [(2, 2)]]
