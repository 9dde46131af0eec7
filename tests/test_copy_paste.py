"""The copy-paste baseline: objects land exactly in their label boxes, come only from the train subset of
the current fraction and seed, and the diffusion model is only needed for missing backgrounds."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, make_config
from fake_real import GREY, TRAIN_COLOURS, VAL_COLOUR, make_real
from idg.core.config import CopyPasteConfig, RealConfig
from idg.data.yolo import pixel_box
from idg.generate.copy_paste import CopyPastePainter, SourceObject, collect_sources, paste_margin, paste_object
from idg.generate.sets import generate_set
from idg.generate.parts import PaintJob
from idg.data.real import load_real
from idg.data.subsets import prepare_real
from idg.core.box import Box

BLUE = (0, 0, 200)
RED = (255, 0, 0)


def _source(tmp_path: Path, box=(10, 20, 30, 12), cls=0) -> SourceObject:
    """A grey 80x60 image with a red object exactly at ``box``."""
    img = np.full((60, 80, 3), GREY, np.uint8)
    x, y, w, h = box
    img[y : y + h, x : x + w] = RED
    path = tmp_path / "src.png"
    Image.fromarray(img).save(path)
    return SourceObject(path, cls, box)


def _blue(side=64):
    return np.full((side, side, 3), BLUE, np.uint8)


def test_hard_paste_fills_exactly_the_box(tmp_path):
    painter = CopyPastePainter([_source(tmp_path)], CopyPasteConfig(blend="none", feather=0))
    box = Box(5, 9, 40, 22, 0)
    images = {0: _blue()}
    windows = painter.paint(images, [PaintJob((0, 0), box, "fire", seed=1)])
    red = np.all(images[0] == RED, axis=-1)
    ys, xs = np.nonzero(red)
    assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (5, 9, 40, 22)
    assert red.sum() == 40 * 22  # the whole box, nothing else
    assert np.all(images[0][~red] == BLUE)
    w = windows[(0, 0)]
    assert w.window.xywh == (5, 9, 40, 22) and w.source["box"] == [10, 20, 30, 12]


def test_feathered_paste_stays_inside_the_box(tmp_path):
    painter = CopyPastePainter([_source(tmp_path)], CopyPasteConfig(blend="feather", feather=6))
    box = Box(12, 20, 36, 28, 0)
    images = {0: _blue()}
    painter.paint(images, [PaintJob((0, 0), box, "fire", seed=1)])
    out = images[0].astype(int)
    inside = np.zeros((64, 64), bool)
    inside[20:48, 12:48] = True
    assert np.all(out[~inside] == BLUE)  # not a pixel outside the box changes
    assert tuple(out[34, 30]) == RED  # the object's centre is the object
    assert out[20, 30, 0] < 60 and out[20, 30, 2] > 140  # its edge fades into the background
    reddish = (out[..., 0] > 128) & (out[..., 2] < 128)
    ys, xs = np.nonzero(reddish)
    assert xs.min() >= 12 and xs.max() < 48 and ys.min() >= 20 and ys.max() < 48


@pytest.mark.parametrize("blend", ["gaussian", "poisson"])
def test_other_blends_leave_the_outside_alone(tmp_path, blend):
    painter = CopyPastePainter([_source(tmp_path)], CopyPasteConfig(blend=blend, feather=4))
    images = {0: _blue()}
    painter.paint(images, [PaintJob((0, 0), Box(0, 30, 30, 34, 0), "fire", seed=2)])  # touches the image border
    outside = np.ones((64, 64), bool)
    outside[30:64, 0:30] = False
    assert np.all(images[0][outside] == BLUE)
    assert not np.all(images[0][~outside] == BLUE)


def _textured_source(tmp_path: Path, light: float) -> SourceObject:
    """A red-orange object with texture at (10, 20, 30, 12) in a textured blue scene, all lit by ``light``."""
    rng = np.random.default_rng(3)
    img = np.clip(np.array(BLUE, float) + rng.normal(0, 12, (60, 80, 3)), 0, 255)
    img[20:32, 10:40] = np.clip(np.array((230, 90, 30), float) + rng.normal(0, 12, (12, 30, 3)), 0, 255)
    path = tmp_path / f"lit{light}.png"
    Image.fromarray(np.clip(img * light, 0, 255).astype(np.uint8)).save(path)
    return SourceObject(path, 0, (10, 20, 30, 12))


@pytest.mark.parametrize("blend", ["color_feather", "color_laplacian"])
def test_color_blends_move_the_source_light_to_the_scene(tmp_path, blend):
    """The object's source photo is the scene lit at 60%: colour transfer, matched on the source's own
    surroundings, undoes most of the dimming (a dimming is not quite affine in Lab); on the object's inner
    ring alone (no context) it would recolour the object toward the blue scene instead. (color_poisson then
    solves the colours from the border, so the object turns blue whatever the transfer did.)"""
    bright, dim = _textured_source(tmp_path, 1.0), _textured_source(tmp_path, 0.6)
    scene = np.asarray(Image.open(bright.image))[:, 8:72][:60]  # the bright scene around the object
    scene = np.ascontiguousarray(np.pad(scene, ((0, 4), (0, 0), (0, 0)), mode="edge"))
    box = Box(2, 20, 60, 24, 0)  # the object at twice its size
    want = CopyPastePainter([bright], CopyPasteConfig(blend="none")).cut(bright, box.w, box.h)
    painter = CopyPastePainter([dim], CopyPasteConfig(blend=blend, feather=2))
    images = {0: scene.copy()}
    painter.paint(images, [PaintJob((0, 0), box, "fire", seed=1)])
    out = images[0]
    inside = np.zeros(out.shape[:2], bool)
    inside[box.y : box.y + box.h, box.x : box.x + box.w] = True
    assert np.array_equal(out[~inside], scene[~inside])
    core = (slice(box.y + 6, box.y + box.h - 6), slice(box.x + 15, box.x + box.w - 15))
    dimmed = painter.cut(dim, box.w, box.h)[6:-6, 15:-15].astype(float)
    err = lambda im: float(np.abs(im.astype(float) - want[6:-6, 15:-15]).mean())  # noqa: E731
    assert err(out[core]) < 0.5 * err(dimmed), (err(out[core]), err(dimmed))  # the light is (mostly) the scene's again
    inner = paste_object(scene, painter.cut(dim, box.w, box.h), box, blend, 2)  # no context: the inner ring
    assert np.array_equal(inner[~inside], scene[~inside])
    assert err(inner[core]) > 2 * err(out[core])


def test_non_color_blends_ignore_the_context(tmp_path):
    src = _textured_source(tmp_path, 0.6)
    painter = CopyPastePainter([src], CopyPasteConfig())
    scene = np.ascontiguousarray(np.full((64, 64, 3), BLUE, np.uint8))
    box = Box(2, 20, 60, 24, 0)
    patch = painter.cut(src, box.w, box.h)
    for blend in ("none", "feather", "gaussian", "poisson", "laplacian"):
        context = painter.context(src, box.w, box.h, paste_margin(blend, 8, box.w, box.h))
        assert np.array_equal(paste_object(scene, patch, box, blend, 8, context), paste_object(scene, patch, box, blend, 8))


def test_choice_is_seeded_and_prefers_the_box_aspect(tmp_path):
    wide = SourceObject(_source(tmp_path, (0, 0, 40, 10)).image, 0, (0, 0, 40, 10))
    tall = SourceObject(wide.image, 0, (0, 0, 10, 40))
    painter = CopyPastePainter([wide, tall], CopyPasteConfig(candidates=2))
    assert all(painter.choose(Box(0, 0, 30, 8, 0), s) == wide for s in range(10))
    assert all(painter.choose(Box(0, 0, 8, 30, 0), s) == tall for s in range(10))
    uniform = CopyPastePainter([wide, tall], CopyPasteConfig(candidates=1))
    picks = [uniform.choose(Box(0, 0, 30, 8, 0), s) for s in range(40)]
    assert picks == [uniform.choose(Box(0, 0, 30, 8, 0), s) for s in range(40)] and tall in picks and wide in picks


def test_pixel_box_covers_the_normalised_box():
    assert pixel_box(0.5, 0.5, 0.5, 0.25, 64, 64) == (16, 24, 32, 16)
    assert pixel_box(0.999, 0.001, 0.01, 0.01, 100, 100) == (99, 0, 1, 1)  # clipped, never empty


@pytest.fixture()
def real_run(tmp_path):
    """A prepared fake real set (solid-colour objects) inside a run dir."""
    data = make_real(tmp_path / "real_src", n_train=16, n_val=4)
    ds = load_real(RealConfig(data=str(data)), ["fire", "smoke"])
    return ds, prepare_real(ds, tmp_path / "run" / "real"), tmp_path / "run"


def test_sources_come_from_the_train_subset_only(real_run):
    ds, prepared, _ = real_run
    val = {i.image.resolve() for i in ds.splits["val"]}
    for fraction in (0.1, 0.5, 1.0):
        chosen = {p.resolve() for p in prepared.subset(fraction, 0)}
        sources = collect_sources(prepared, fraction, 0)
        assert {s.cls for s in sources} == {0, 1}
        assert {s.image.resolve() for s in sources} <= chosen and not {s.image.resolve() for s in sources} & val


@pytest.fixture(scope="module")
def tiny_pipes_64():
    """The tiny SDXL, built where model=tiny looks for it and loaded (generate-only config: no real data)."""
    import os

    from idg.models.diffusion import load_pipelines
    from idg.models.tiny import ensure_tiny_sdxl

    cfg = make_config(TINY + ["stages=[generate]"])
    ensure_tiny_sdxl(os.path.expanduser(cfg.model.pretrained))
    return load_pipelines(cfg.model, offline=True, batch_invariant="true")


@pytest.mark.slow
def test_generated_boxes_hold_exactly_the_pasted_objects(real_run, tiny_pipes_64):
    """Hard paste, non-overlapping boxes: every label box is filled with its class's colour, every pixel
    outside the boxes is the cached background, and no val pixel appears anywhere."""
    from idg.generate.cache import BackgroundCache

    ds, prepared, run_dir = real_run
    cfg = make_config(TINY + [
        "generator=copy_paste", "dataset=fire_cctv", "sampler=non_overlap", f"real.data={ds.yaml_path}",
        "model.resolution=64", "generate.num_images=8", "generate.batch_size=4", "copy_paste.blend=none",
        "study.fractions=[0.5]", "study.seeds=[0]", "stages=[generate]",
    ])
    result = generate_set(cfg, prepared, 0.5, 0, run_dir, pipes_factory=lambda: tiny_pipes_64)
    assert result.complete and sum(len(r["objects"]) for r in result.records) >= 4
    cache = BackgroundCache(cfg.generate.cache_dir)
    subset = {str(p.resolve()) for p in prepared.subset(0.5, 0)}
    root = result.layout.root
    for rec in result.records:
        image = np.asarray(Image.open(root / rec["image"]).convert("RGB"))
        outside = np.ones(image.shape[:2], bool)
        lines = (root / rec["label"]).read_text().splitlines()
        assert len(lines) == len(rec["objects"])
        for obj, line in zip(rec["objects"], lines):
            x, y, w, h = obj["box"]
            assert np.all(image[y : y + h, x : x + w] == TRAIN_COLOURS[obj["class_id"]])
            cls, cx, cy, bw, bh = line.split()
            assert int(cls) == obj["class_id"]
            assert abs(float(cx) * 64 - (x + w / 2)) < 1e-3 and abs(float(bw) * 64 - w) < 1e-3
            assert obj["source"]["image"] in subset and obj["generator"] == "copy_paste"
            outside[y : y + h, x : x + w] = False
        background = cache.get(rec["background"]["key"])
        assert np.array_equal(image[outside], background[outside])
        assert not np.any(np.all(image == VAL_COLOUR, axis=-1))
    sources = json.loads((run_dir / "copy_paste" / "f0.5_s0" / "sources.json").read_text())
    assert {s["image"] for s in sources["sources"]} <= subset

    # Another (fraction, seed): backgrounds come from the cache, so the diffusion model is never loaded.
    def no_model():
        raise AssertionError("the diffusion model was loaded although every background is cached")

    other = generate_set(cfg, prepared, 1.0, 0, run_dir, pipes_factory=no_model)
    assert other.complete and other.stats.backgrounds_from_cache == 8
