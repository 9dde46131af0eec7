"""Samplers: boxes inside the image, counts and sizes in range, overlap limits, impossible requests."""

import numpy as np
import pytest

from conftest import make_config
from idg.core.errors import ConfigError
from idg.core.box import Box
from idg.generate.sampling import check_feasible, class_ranges, iou, sample_boxes

GEN = ["stages=[generate]"]


def _sample(cfg, n=200):
    ranges = class_ranges(cfg)
    side = cfg.generate.resolution
    out = []
    for i in range(n):
        boxes, dropped = sample_boxes(cfg.sampler, ranges, side, side, np.random.default_rng(i))
        out.append((boxes, dropped))
    return ranges, side, out


@pytest.mark.parametrize("sampler", ["random", "grid", "non_overlap"])
@pytest.mark.parametrize("dataset", ["forest_fire", "safari", "fire_cctv"])
def test_boxes_are_integer_pixels_inside_the_image_and_in_range(sampler, dataset):
    cfg = make_config([f"dataset={dataset}", f"sampler={sampler}", "model.resolution=256", *GEN])
    ranges, side, out = _sample(cfg)
    for boxes, dropped in out:
        per_class = {r.index: 0 for r in ranges}
        for b in boxes:
            assert all(isinstance(v, int) for v in (b.x, b.y, b.w, b.h))
            assert 0 <= b.x and 0 <= b.y and b.x + b.w <= side and b.y + b.h <= side
            r = ranges[b.cls]
            assert r.w[0] <= b.w <= r.w[1] and r.h[0] <= b.h <= r.h[1]
            # aspect ratio within range up to rounding of the height to whole pixels
            assert r.ar[0] - 1.0 / b.h <= b.w / b.h <= r.ar[1] + b.w / b.h / b.h
            per_class[b.cls] += 1
        for r in ranges:
            assert per_class[r.index] <= r.count[1]
        assert sum(per_class.values()) + dropped >= sum(r.count[0] for r in ranges)


def test_random_sampler_reaches_the_whole_count_range():
    cfg = make_config(["dataset=safari", "model.resolution=256", *GEN])
    ranges, _, out = _sample(cfg, 300)
    zebras = {sum(b.cls == 0 for b in boxes) for boxes, _ in out}
    assert zebras == {0, 1, 2}


@pytest.mark.parametrize("sampler", ["grid", "non_overlap"])
def test_grid_and_non_overlap_boxes_do_not_overlap(sampler):
    cfg = make_config(["dataset=forest_fire", f"sampler={sampler}", "classes.forest_fire.count=[2,4]" if False else
                       "classes.fire.count=[2,4]", "model.resolution=256", *GEN])
    _, _, out = _sample(cfg)
    for boxes, _ in out:
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert iou(a, b) == 0.0


def test_non_overlap_respects_the_gap():
    cfg = make_config(["sampler=non_overlap", "sampler.min_gap=10", "classes.fire.count=[3,3]", "model.resolution=256", *GEN])
    _, _, out = _sample(cfg)
    for boxes, _ in out:
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                gap_x = max(b.x - (a.x + a.w), a.x - (b.x + b.w))
                gap_y = max(b.y - (a.y + a.h), a.y - (b.y + b.h))
                assert max(gap_x, gap_y) >= 10


def test_non_overlap_with_max_iou_allows_bounded_overlap():
    cfg = make_config(["sampler=non_overlap", "sampler.max_iou=0.2", "classes.fire.count=[4,4]",
                       "classes.fire.width=[0.3,0.4]", "model.resolution=256", *GEN])
    _, _, out = _sample(cfg, 100)
    for boxes, _ in out:
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert iou(a, b) <= 0.2 + 1e-9


def test_same_seed_same_boxes():
    cfg = make_config(["dataset=safari", "sampler=grid", *GEN])
    ranges = class_ranges(cfg)
    a = sample_boxes(cfg.sampler, ranges, 768, 768, np.random.default_rng(7))
    b = sample_boxes(cfg.sampler, ranges, 768, 768, np.random.default_rng(7))
    assert a == b


def test_iou():
    assert iou(Box(0, 0, 10, 10, 0), Box(0, 0, 10, 10, 0)) == 1.0
    assert iou(Box(0, 0, 10, 10, 0), Box(5, 0, 10, 10, 0)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 10, 10, 0), Box(10, 0, 10, 10, 0)) == 0.0


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["sampler=grid", "classes.fire.count=[30,30]", "classes.fire.width=[0.3,0.3]"], "classes.fire.count"),
        (["sampler=non_overlap", "classes.fire.count=[30,30]", "classes.fire.width=[0.3,0.3]"], "classes.fire.count"),
    ],
)
def test_more_objects_than_fit_is_a_startup_error(overrides, needle):
    cfg = make_config([*overrides, *GEN])
    with pytest.raises(ConfigError, match=needle):
        check_feasible(cfg)


def test_random_sampler_places_any_count():
    cfg = make_config(["classes.fire.count=[30,30]", "classes.fire.width=[0.3,0.3]", *GEN])
    check_feasible(cfg)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["classes.fire.width=[0.2,0.3]", "classes.fire.height=[0.9,1.0]", "classes.fire.aspect_ratio=[1.5,2.0]"], "widen"),
        (["classes.fire.count=[-1,2]"], "classes.fire.count"),
        (["classes.fire.width=[0,0.3]"], "classes.fire.width"),
        (["classes.fire.size_unit=inch"], "classes.fire.size_unit"),
        (["classes.fire.width=null"], "classes.fire"),
    ],
)
def test_impossible_class_ranges_name_the_class(overrides, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        make_config([*overrides, *GEN])
