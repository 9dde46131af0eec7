"""Quality on images with known content: seam terms, box re-estimation, retries, artifacts, verifiers.

The engine tests run the real generation loop with a fake pipeline (textured backgrounds chosen by seed)
and a fake painter (paints a known square, or nothing), so every expected box and decision is known.
"""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import compose, make_config
from idg.generate.blend import paste, shape_mask
from idg.generate.seams import seam_edge
from idg.core.config import QualityConfig, VerifyConfig
from idg.core.errors import ConfigError, ModelLoadError
from idg.generate.quality import artifact_reason, check_object, duplicate_of, hamming, phash, quality_metrics
from idg.core.box import box_iou
from idg.core.seeds import derive_seed, rng_for

SIDE = 96
SQUARE = (255, 40, 200)  # a colour no textured background has


def texture(seed: int, side: int = SIDE) -> np.ndarray:
    """A natural-ish image: smoothed noise over a gradient (float in [0, 1])."""
    rng = rng_for(seed, "texture")
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (side, side, 3)).astype(np.float32), (0, 0), 2.0)
    ramp = np.linspace(0.3, 0.7, side, dtype=np.float32)[None, :, None]
    return np.clip(ramp + 0.12 * noise / noise.std(), 0.0, 1.0)


def u8(img: np.ndarray) -> np.ndarray:
    return (img * 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------ seams


def test_seam_edge_is_one_for_a_seamless_paste_and_high_for_a_hard_edge():
    box = (30, 28, 36, 40)
    mask = shape_mask(SIDE, SIDE, box, "rect")
    gradient = np.repeat(np.repeat(np.linspace(0, 255, SIDE, dtype=np.float32)[None, :, None], SIDE, 0), 3, 2).astype(np.uint8)
    assert seam_edge(paste(gradient, gradient, mask, "none", 0), mask) == pytest.approx(1.0, abs=0.02)
    bg = u8(texture(1))
    assert 0.85 < seam_edge(paste(bg, bg, mask, "none", 0), mask) < 1.15  # the image pasted into itself
    other = np.clip(bg.astype(int) + 70, 0, 255).astype(np.uint8)  # same texture, much brighter
    assert seam_edge(paste(bg, other, mask, "none", 0), mask) > 2.5


def test_feather_gaussian_and_poisson_lower_the_seam_edge():
    box = (24, 24, 48, 44)
    mask = shape_mask(SIDE, SIDE, box, "rect")
    bg, other = u8(texture(2)), np.clip(u8(texture(3)).astype(int) + 60, 0, 255).astype(np.uint8)
    scores = {blend: seam_edge(paste(bg, other, mask, blend, 8), mask) for blend in ("none", "feather", "gaussian", "poisson")}
    assert scores["none"] > 2.0
    for blend in ("feather", "gaussian", "poisson"):
        assert scores[blend] < 0.7 * scores["none"], scores
    assert scores["poisson"] < 1.5, scores


# ------------------------------------------------------------------------------------ boxes


def test_box_reestimation_recovers_a_known_object():
    cfg = QualityConfig()
    before = u8(texture(4))
    requested = (26, 21, 30, 22)
    after = before.copy()
    after[25:39, 30:52] = SQUARE  # the object: x=30, y=25, w=22, h=14, inside the requested box
    after[44, 50] = (0, 0, 0)  # a one-pixel speck inside the box: removed by the opening
    region = shape_mask(SIDE, SIDE, requested, "rect")
    check = check_object(before, after, requested, region, cfg)
    assert check.accepted
    x, y, w, h = check.box
    assert abs(x - 30) <= 2 and abs(y - 25) <= 2 and abs(w - 22) <= 2 and abs(h - 14) <= 2
    assert check.changed_fraction == pytest.approx(22 * 14 / (30 * 22), abs=0.03)
    assert check.box_iou == pytest.approx(box_iou(check.box, requested))


def test_unchanged_and_off_box_objects_are_rejected():
    cfg = QualityConfig(min_iou=0.5)
    before = u8(texture(5))
    requested = (10, 10, 60, 60)
    region = shape_mask(SIDE, SIDE, requested, "rect")
    nothing = check_object(before, before.copy(), requested, region, cfg)
    assert not nothing.accepted and nothing.box is None and nothing.changed_fraction == 0.0
    assert nothing.reject_reason.startswith("changed_fraction 0.000")
    corner = before.copy()
    corner[10:32, 10:32] = SQUARE  # a half-drawn object squeezed into a corner
    off = check_object(before, corner, requested, region, QualityConfig(min_iou=0.5, min_changed_fraction=0.05))
    assert not off.accepted and off.reject_reason.startswith("box_iou")


def test_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


# ------------------------------------------------------------------------------------ artifacts


def test_black_constant_and_nan_images_are_caught_and_noise_is_not():
    cfg = QualityConfig()
    black = np.zeros((SIDE, SIDE, 3), np.uint8)
    assert artifact_reason(None, black, cfg) == "black"
    assert artifact_reason(None, np.full((SIDE, SIDE, 3), 128, np.uint8), cfg) == "constant"
    raw = texture(6)
    raw[3, 4, 1] = np.nan
    assert artifact_reason(raw, u8(np.nan_to_num(raw)), cfg) == "nan"
    assert artifact_reason(texture(7), u8(texture(7)), cfg) is None
    # the tiny random model's output is noise: uniform noise must pass
    noise = rng_for(0, "noise").integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    assert artifact_reason(None, noise, cfg) is None


def test_phash_finds_near_duplicates_only():
    cfg = QualityConfig()
    a = u8(texture(8))
    jitter = rng_for(1, "jitter").integers(-6, 7, a.shape)
    near = np.clip(a.astype(int) + jitter + 5, 0, 255).astype(np.uint8)  # re-encoded, slightly brighter copy
    assert hamming(phash(a), phash(near)) <= cfg.phash_distance
    others = {i: phash(u8(texture(100 + i))) for i in range(10)}
    assert all(hamming(phash(a), h) > 12 for h in others.values())
    assert duplicate_of(phash(near), {**others, 42: phash(a)}, cfg) == 42
    assert duplicate_of(phash(a), others, cfg) is None
    assert duplicate_of(phash(near), {42: phash(a)}, QualityConfig(phash_distance=-1)) is None


# ------------------------------------------------------------------------------------ engine with fakes


class FakePipes:
    """Backgrounds by seed: textured unless ``special`` maps the seed to an image (black, NaN, a copy)."""

    def __init__(self, special=None):
        self.special = special or {}
        self.calls = []

    def text_to_image(self, prompts, seeds, *, height, width, **kwargs):
        self.calls.append(list(seeds))
        return np.stack([self.special.get(s, texture(s % 10_000, height)) for s in seeds])


def square_painter(cfg, blank_attempts=(0,)):
    """Paints a solid square in the middle 60% of each box, except on the attempts in ``blank_attempts``."""

    def factory(_pipes):
        def paint(images, jobs):
            for job in jobs:
                i, j = job.key
                base = cfg.inpaint.seed if cfg.inpaint.seed is not None else cfg.generate.seed
                attempt = next(a for a in range(10) if derive_seed(base, "object", i, j, a) == job.seed)
                if attempt in blank_attempts:
                    continue
                b = job.box
                x0, y0 = b.x + round(0.2 * b.w), b.y + round(0.2 * b.h)
                x1, y1 = b.x + round(0.8 * b.w), b.y + round(0.8 * b.h)
                img = images[i].copy()
                img[y0:y1, x0:x1] = SQUARE
                images[i] = img
            return {}

        return SimpleNamespace(paint=paint, needs_model=False)

    return factory


def fake_config(tmp_path, *extra):
    return make_config([
        "stages=[generate]", "model=tiny", "offline=true", f"model.resolution={SIDE}", "model.native_resolution=32",
        "generate.num_images=4", "generate.val_fraction=0", f"generate.cache_dir={tmp_path}/cache",
        "generate.use_cache=false", "classes.fire.count=[1,2]", "classes.fire.width=[0.25,0.4]",
        "classes.fire.aspect_ratio=[1,1]", "sampler=non_overlap", *extra,
    ])


def run_fake(cfg, run_dir, pipes=None, painter=None):
    from idg.generate.engine import export, run_generation

    pipes = pipes or FakePipes()
    result = run_generation(cfg, run_dir, pipes_factory=lambda: pipes, painter_factory=painter or square_painter(cfg))
    export(result, cfg.class_names)
    return result


def test_an_object_that_paints_nothing_is_retried_with_a_new_seed_and_labelled_where_it_appeared(tmp_path):
    cfg = fake_config(tmp_path)
    result = run_fake(cfg, tmp_path / "run")
    root = result.layout.root
    objects = [o for r in result.records for o in r["objects"]]
    assert objects and all(not r["rejected"] for r in result.records)
    for rec in result.records:
        for o in rec["objects"]:
            x, y, w, h = o["requested_box"]
            expected = [x + round(0.2 * w), y + round(0.2 * h), round(0.8 * w) - round(0.2 * w), round(0.8 * h) - round(0.2 * h)]
            assert o["attempts"] == 2 and o["retry_reasons"][0].startswith("changed_fraction 0.000")
            assert o["seed"] == derive_seed(cfg.generate.seed, "object", rec["index"], o["id"], 1)
            assert all(abs(a - b) <= 1 for a, b in zip(o["box"], expected)), (o["box"], expected)
            assert o["box_iou"] == pytest.approx(box_iou(o["box"], o["requested_box"]), abs=1e-3)
            assert o["seam_edge"] is not None and o["changed_fraction"] > 0.3
            # the square sits inside its box: no step across the border, so the halo term is ~1
            assert 1.0 <= o["seam_halo"] < 1.5 and set(o["seam_halo_widths"]) == {"4", "12", "32"}
        lines = (root / rec["label"]).read_text().splitlines()
        assert len(lines) == len(rec["objects"])
    assert result.stats.object_retries == len(objects)
    metrics = quality_metrics(result.records)
    assert metrics["quality/reject_rate"] == 0.0 and metrics["quality/retry_rate"] == 1.0
    assert 0.3 < metrics["quality/box_iou_mean"] < 0.45  # a 60% square: IoU 0.36 with its box


def test_objects_that_never_appear_are_rejected_listed_and_undone(tmp_path):
    cfg = fake_config(tmp_path, "quality.max_attempts=2")
    pipes = FakePipes()
    result = run_fake(cfg, tmp_path / "run", pipes, square_painter(cfg, blank_attempts=(0, 1)))
    root = result.layout.root
    for rec in result.records:
        assert rec["objects"] == [] and rec["rejected"]
        assert (root / rec["label"]).read_text() == ""
        seed = derive_seed(cfg.generate.seed, "background", rec["index"])
        assert np.array_equal(np.asarray(Image.open(root / rec["image"])), u8(texture(seed % 10_000, SIDE)))
        for o in rec["rejected"]:
            assert o["status"] == "rejected" and o["attempts"] == 2
            assert o["reject_reason"].startswith("changed_fraction") and o["box"] is None
            assert (root / o["crop"]).is_file()
    metrics = quality_metrics(result.records)
    assert metrics["quality/reject_rate"] == 1.0 and metrics["quality/objects_accepted"] == 0
    assert "quality/seam_edge_mean" not in metrics and "quality/box_iou_mean" not in metrics  # no null metrics
    assert "quality/seam_halo_median" not in metrics


def tint_painter(cfg, tinted_attempts=(0,)):
    """The square of :func:`square_painter`, and on ``tinted_attempts`` the whole box brightened by 60 too:
    a seam (an edge and a colour step at the border) that the change check and the verifier accept."""
    square = square_painter(cfg, blank_attempts=())(None)

    def factory(_pipes):
        def paint(images, jobs):
            square.paint(images, jobs)
            for job in jobs:
                base = cfg.inpaint.seed if cfg.inpaint.seed is not None else cfg.generate.seed
                attempt = next(a for a in range(10) if derive_seed(base, "object", *job.key, a) == job.seed)
                if attempt in tinted_attempts:
                    b, img = job.box, images[job.key[0]].copy()
                    img[b.y : b.y + b.h, b.x : b.x + b.w] = np.clip(img[b.y : b.y + b.h, b.x : b.x + b.w].astype(int) + 60, 0, 255)
                    images[job.key[0]] = img
            return {}

        return SimpleNamespace(paint=paint, needs_model=False)

    return factory


@pytest.mark.parametrize("limit", ["max_seam_edge=1.5", "max_seam_halo=2.0"])
def test_a_seam_over_the_limit_is_retried_and_the_seamless_attempt_kept(tmp_path, limit):
    cfg = fake_config(tmp_path, f"quality.{limit}")
    result = run_fake(cfg, tmp_path / "run", painter=tint_painter(cfg))
    objects = [o for r in result.records for o in r["objects"]]
    assert objects and all(not r["rejected"] for r in result.records)
    term = limit.split("=")[0][len("max_"):]
    for o in objects:
        assert o["attempts"] == 2 and o["retry_reasons"][0].startswith(f"{term} "), o["retry_reasons"]
        assert o["seam_edge"] < 1.2 and o["seam_halo"] == 1.0  # the square alone: no seam at all
    # Without the limit the tinted first attempt is kept, and its seam shows in both terms.
    off = fake_config(tmp_path / "off")
    kept = run_fake(off, tmp_path / "off" / "run", painter=tint_painter(off))
    for o in (o for r in kept.records for o in r["objects"]):
        assert o["attempts"] == 1 and o["seam_edge"] > 1.5 and o["seam_halo"] > 2.0, o


def test_a_seam_that_stays_over_the_limit_rejects_the_object(tmp_path):
    cfg = fake_config(tmp_path, "quality.max_seam_halo=2.0", "quality.max_attempts=2")
    result = run_fake(cfg, tmp_path / "run", painter=tint_painter(cfg, tinted_attempts=(0, 1)))
    rejected = [o for r in result.records for o in r["rejected"]]
    assert rejected and not any(r["objects"] for r in result.records)
    for o in rejected:
        assert o["reject_reason"].startswith("seam_halo ") and o["seam_halo"] > 2.0  # measured, so users see why


@pytest.mark.parametrize("limit,attempts", [(None, 3), (2.0, 3), (2.0, 1)])
def test_the_shortcut_set_is_painted_and_seam_checked_like_the_training_images(tmp_path, limit, attempts):
    """The null-prompt set goes through the run's own painter and, with a seam limit, is repainted where
    the first attempt left a halo, or left out after the last attempt, as a training object would be; each
    box's seam terms are recorded."""
    import json

    from idg.generate.shortcut import generate_shortcut

    cfg = fake_config(tmp_path, "quality.shortcut_images=3", f"quality.max_attempts={attempts}",
                      *([f"quality.max_seam_halo={limit}"] if limit else []))
    first = {derive_seed(cfg.generate.seed, "shortcut-object", k, j) for k in range(3) for j in range(4)}

    def paint(images, jobs):  # a box tinted on the first attempt of a null-prompt object, else nothing
        for job in jobs:
            if job.seed in first:
                b, img = job.box, images[job.key[0]].copy()
                img[b.y : b.y + b.h, b.x : b.x + b.w] = np.clip(img[b.y : b.y + b.h, b.x : b.x + b.w].astype(int) + 60, 0, 255)
                images[job.key[0]] = img
        return {}

    result = run_fake(cfg, tmp_path / "run", painter=lambda _pipes: SimpleNamespace(paint=paint, needs_model=False))
    engine = result.engine
    out = generate_shortcut(cfg, tmp_path / "run", engine.source, engine.painter, engine.judge)
    entries = json.loads((out / "shortcut.json").read_text())["images"]
    seams = [s for e in entries for s in e["seams"]]
    rejected = [r for e in entries for r in e["rejected"]]
    if limit and attempts == 1:  # no retry left: every box is undone and left out, as in training
        assert not seams and rejected and all(r["status"] == "rejected" and r["seam_halo"] > 2.0 for r in rejected)
        assert all((out / "labels" / f"{k:06d}.txt").read_text() == "" for k in range(3))
        return
    assert seams and not rejected
    for s in seams:
        if limit:  # repainted: the second attempt painted nothing, so nothing changed at all
            assert s["attempts"] == 2 and s["seam_halo"] == 1.0, s
        else:
            assert s["attempts"] == 1 and s["seam_halo"] > 2.0, s


def test_seam_limits_are_checked():
    with pytest.raises(ConfigError, match="max_seam_halo"):
        QualityConfig(max_seam_halo=0.9)
    with pytest.raises(ConfigError, match="max_seam_edge"):
        QualityConfig(max_seam_edge=0.0)
    QualityConfig(max_seam_edge=1.5, max_seam_halo=1.0)


def test_retries_do_not_depend_on_the_batch_size(tmp_path):
    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != "generation.json"}

    out = {}
    for bs in (1, 3, 4):
        cfg = fake_config(tmp_path, f"generate.batch_size={bs}", "generate.num_images=5")
        s = lambda i: derive_seed(cfg.generate.seed, "background", i)  # noqa: E731
        # image 1 black at first, image 3 a copy of image 2, image 4 a copy of image 1's retry
        special = {s(1): np.zeros((SIDE, SIDE, 3), np.float32), s(3): texture(s(2) % 10_000),
                   s(4): texture(derive_seed(cfg.generate.seed, "background", 1, 1) % 10_000)}
        result = run_fake(cfg, tmp_path / f"b{bs}" / "run", FakePipes(special))
        reasons = {r["index"]: [a["reason"] for a in r["background"]["rejected_attempts"]] for r in result.records}
        assert reasons == {0: [], 1: ["black"], 2: [], 3: ["duplicate"], 4: ["duplicate"]}
        out[bs] = files(result.layout.root)
    assert out[1] == out[3] == out[4]


def test_a_resumed_run_still_finds_duplicates_of_finished_images(tmp_path, monkeypatch):
    from idg.generate.engine import Engine

    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != "generation.json"}

    cfg = fake_config(tmp_path, "generate.batch_size=1", "generate.num_images=4")
    special = {derive_seed(cfg.generate.seed, "background", 3): texture(derive_seed(cfg.generate.seed, "background", 0) % 10_000)}
    expected = files(run_fake(cfg, tmp_path / "full", FakePipes(special)).layout.root)
    real_write = Engine.write

    def dying_write(self, index, image, rec):
        if index == 2:
            raise KeyboardInterrupt
        real_write(self, index, image, rec)

    monkeypatch.setattr(Engine, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_fake(cfg, tmp_path / "resumed", FakePipes(special))
    monkeypatch.setattr(Engine, "write", real_write)
    result = run_fake(cfg, tmp_path / "resumed", FakePipes(special))
    assert result.stats.images_skipped == 2
    assert result.records[3]["background"]["rejected_attempts"][0]["duplicate_of"] == 0
    assert files(result.layout.root) == expected


def test_black_nan_and_duplicate_backgrounds_are_regenerated_and_listed(tmp_path):
    cfg = fake_config(tmp_path, "generate.batch_size=4")
    s = lambda i, a=0: derive_seed(cfg.generate.seed, "background", i) if a == 0 else derive_seed(cfg.generate.seed, "background", i, a)  # noqa: E731
    nan = texture(9)
    nan[0, 0, 0] = np.nan
    special = {
        s(1): np.zeros((SIDE, SIDE, 3), np.float32),  # black (e.g. a safety checker)
        s(2): nan,
        s(2, 1): texture(s(0) % 10_000),  # the retry of 2 duplicates image 0
        s(3): np.full((SIDE, SIDE, 3), 0.5, np.float32),  # constant
    }
    result = run_fake(cfg, tmp_path / "run", FakePipes(special))
    bgs = {r["index"]: r["background"] for r in result.records}
    assert [a["reason"] for a in bgs[1]["rejected_attempts"]] == ["black"] and bgs[1]["attempts"] == 2
    assert [a["reason"] for a in bgs[2]["rejected_attempts"]] == ["nan", "duplicate"] and bgs[2]["attempts"] == 3
    assert bgs[2]["rejected_attempts"][1]["duplicate_of"] == 0
    assert [a["reason"] for a in bgs[3]["rejected_attempts"]] == ["constant"]
    assert bgs[0]["rejected_attempts"] == [] and all(b["artifact"] is None for b in bgs.values())
    assert bgs[1]["seed"] == s(1, 1)
    metrics = quality_metrics(result.records)
    assert (metrics["quality/artifact_black"], metrics["quality/artifact_nan"], metrics["quality/artifact_duplicate"],
            metrics["quality/artifact_constant"], metrics["quality/artifact_unresolved"]) == (1, 1, 1, 1, 0)
    assert result.stats.backgrounds_regenerated == 4
    stats = result.stats.as_dict()
    assert [stats[f"artifact_{k}"] for k in ("black", "constant", "nan", "duplicate")] == [1, 1, 1, 1]
    for rec in result.records:
        img = np.asarray(Image.open(result.layout.root / rec["image"]))
        assert img.mean() > 20 and img.std() > 5


def test_a_background_that_stays_black_is_kept_and_flagged(tmp_path):
    cfg = fake_config(tmp_path, "quality.max_attempts=2", "generate.num_images=2")
    s = lambda a: derive_seed(cfg.generate.seed, "background", 1) if a == 0 else derive_seed(cfg.generate.seed, "background", 1, a)  # noqa: E731
    black = np.zeros((SIDE, SIDE, 3), np.float32)
    result = run_fake(cfg, tmp_path / "run", FakePipes({s(0): black, s(1): black}))
    bg = result.records[1]["background"]
    assert bg["artifact"] == "black" and len(bg["rejected_attempts"]) == 1
    assert quality_metrics(result.records)["quality/artifact_unresolved"] == 1


# ------------------------------------------------------------------------------------ verifiers and config


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from idg.models.tiny import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def test_clip_verifier_loads_a_local_tiny_clip_offline_and_scores(tiny_clip):
    from idg.generate.verify import build_verifier, check_verifier

    cfg = VerifyConfig(name="clip", model=str(tiny_clip))
    check_verifier(cfg, offline=True)
    verifier = build_verifier(cfg, offline=True)
    crops = [u8(texture(10))[:40, :30], u8(texture(11))[:20, :50]]
    scores = verifier(crops, ["fire", "fire"], ["a forest fire", "smoke"])
    assert len(scores) == 2 and all(-1.0 <= s <= 1.0 for s in scores)
    assert scores == verifier(crops, ["fire", "fire"], ["a forest fire", "smoke"])  # deterministic
    assert scores[0] != verifier(crops[:1], ["fire"], ["smoke"])[0]  # the text matters


def test_clip_verifier_rejects_below_min_score_in_the_engine(tmp_path, tiny_clip):
    cfg = fake_config(tmp_path, "verify=clip", f"verify.model={tiny_clip}", "verify.min_score=1.0",
                      "quality.max_attempts=2", "generate.num_images=2")
    result = run_fake(cfg, tmp_path / "run", painter=square_painter(cfg, blank_attempts=()))
    rejected = [o for r in result.records for o in r["rejected"]]
    assert rejected and not any(r["objects"] for r in result.records)
    assert all(o["reject_reason"].startswith("verify_score") and -1 <= o["verify_score"] < 1 for o in rejected)


def test_detector_verifier_scores_crops_with_a_yolo_model():
    from idg.generate.verify import build_verifier

    verifier = build_verifier(VerifyConfig(name="detector", model="yolov8n.yaml"))
    scores = verifier([u8(texture(12)), u8(texture(13))[:50]], ["fire", "fire"], ["fire", "fire"])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)


def test_missing_verifier_models_fail_before_loading(tmp_path):
    from idg.generate.verify import check_verifier

    with pytest.raises(ModelLoadError, match="verify.model"):
        check_verifier(VerifyConfig(name="clip", model=str(tmp_path / "nope")), offline=True)
    with pytest.raises(ModelLoadError, match="verify.model"):
        check_verifier(VerifyConfig(name="clip", model="someone/missing-clip"), offline=True)
    with pytest.raises(ModelLoadError, match="verify.model"):
        check_verifier(VerifyConfig(name="detector", model=str(tmp_path / "missing.pt")), offline=True)


def test_verify_group_composes():
    for name in ("none", "diff"):
        assert make_config([f"verify={name}", "stages=[generate]"]).verify.name == name
    assert make_config(["stages=[generate]"]).verify.name == "diff"
    cfg = make_config(["verify=clip", "verify.model=/some/clip", "stages=[generate]"])
    assert (cfg.verify.name, cfg.verify.model, cfg.verify.min_score) == ("clip", "/some/clip", 0.2)
    assert make_config(["verify=detector", "verify.model=best.pt", "stages=[generate]"]).verify.model == "best.pt"
    with pytest.raises(ConfigError, match="verify.model"):
        make_config(["verify=detector", "stages=[generate]"])
    with pytest.raises(ConfigError, match="verify.model"):
        make_config(["verify=clip", "verify.model=null", "stages=[generate]"])
    with pytest.raises(Exception, match="verify"):
        compose(["verify=bogus"])


@pytest.mark.parametrize("override, message", [
    ("quality.min_iou=1.5", r"quality.min_iou must be in \[0, 1\]"),
    ("quality.min_changed_fraction=-0.1", r"quality.min_changed_fraction must be in \[0, 1\]"),
    ("quality.max_attempts=0", "quality.max_attempts must be >= 1"),
    ("quality.diff_threshold=300", r"quality.diff_threshold must be in \[0, 255\]"),
    ("quality.phash_distance=65", r"quality.phash_distance must be in \[-1, 64\]"),
    ("quality.shortcut_conf=2", r"quality.shortcut_conf must be in \[0, 1\]"),
    ("quality.shortcut_images=-1", "quality.shortcut_images must be >= 0"),
])
def test_quality_ranges_are_checked_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        make_config([override, "stages=[generate]"])


def test_quality_settings_change_the_dataset_fingerprint_but_shortcut_settings_do_not():
    from idg.generate.plan import fingerprint

    base = fingerprint(make_config(["stages=[generate]"]))
    assert fingerprint(make_config(["quality.min_iou=0.6", "stages=[generate]"])) != base
    assert fingerprint(make_config(["verify=none", "stages=[generate]"])) != base
    assert fingerprint(make_config(["quality.shortcut_images=9", "stages=[generate]"])) == base


def test_shortcut_fires_counts_boxes_hit_at_iou_half():
    from idg.study.shortcut_rate import fires

    boxes = [[10, 10, 20, 20], [50, 50, 10, 10]]
    assert fires([], boxes) == 0
    assert fires([[11, 11, 20, 20]], boxes) == 1
    assert fires([[11, 11, 20, 20], [50, 50, 10, 10]], boxes) == 2
    assert fires([[40, 40, 30, 30]], boxes) == 0  # IoU 100/900 with the second box


def test_blend_sweep_composes_over_all_blend_modes():
    from omegaconf import OmegaConf

    from conftest import CONF

    from idg.core.config import BLEND_MODES

    assert compose(["experiment=sweep_blend"]).inpaint.blend == "color_laplacian"  # composes; the sweep varies it
    params = OmegaConf.load(CONF / "experiment" / "sweep_blend.yaml").hydra.sweeper.params
    assert tuple(params["inpaint.blend"].split(",")) == BLEND_MODES


def test_study_start_up_checks_the_verifier_model_before_anything_loads(tmp_path):
    from idg.pipeline import check_inputs

    cfg = make_config(["experiment=smoke", "stages=[generate]", "real=none", "verify=clip",
                       f"verify.model={tmp_path}/no-clip"])
    with pytest.raises(ModelLoadError, match="verify.model"):
        check_inputs(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "dataset").exists()


def test_a_locating_verifier_can_give_the_label_box(tmp_path, monkeypatch):
    from idg.generate.judge import ObjectJudge
    from idg.generate.quality import clip_box, crop_bounds

    class Locator:
        """Finds the object in the middle 60% of each crop, with confidence 0.9."""

        def locate(self, crops, classes):
            return [(0.9, (0.2 * c.shape[1], 0.2 * c.shape[0], 0.6 * c.shape[1], 0.6 * c.shape[0])) for c in crops]

        def __call__(self, crops, classes, prompts):
            return [s for s, _ in self.locate(crops, classes)]

    monkeypatch.setattr(ObjectJudge, "verifier", property(lambda self: Locator()))
    cfg = fake_config(tmp_path, "verify=detector", "verify.model=yolov8n.yaml", "verify.use_box=true",
                      "verify.min_score=0.5", "generate.num_images=2")
    result = run_fake(cfg, tmp_path / "run", painter=square_painter(cfg, blank_attempts=()))
    objects = [o for r in result.records for o in r["objects"]]
    assert objects and not any(r["rejected"] for r in result.records)
    for o in objects:
        req = tuple(o["requested_box"])
        x0, y0, x1, y1 = crop_bounds((SIDE, SIDE), req)
        w, h = x1 - x0, y1 - y0
        assert o["box"] == list(clip_box((x0 + 0.2 * w, y0 + 0.2 * h, 0.6 * w, 0.6 * h), req))
        assert o["verify_score"] == 0.9 and o["box_iou"] == pytest.approx(box_iou(o["box"], req), abs=1e-3)
    with pytest.raises(ConfigError, match="verify.use_box"):
        make_config(["verify=diff", "verify.use_box=true", "stages=[generate]"])


def test_clip_scores_do_not_depend_on_the_batch(tiny_clip):
    from idg.generate.verify import build_verifier

    verifier = build_verifier(VerifyConfig(name="clip", model=str(tiny_clip)), offline=True)
    crops = [u8(texture(20 + k))[: 20 + 7 * k, : 30 + 5 * k] for k in range(4)]
    together = verifier(crops, ["fire"] * 4, ["a forest fire", "smoke", "fire", "a fire"])
    alone = [verifier([c], ["fire"], [p])[0] for c, p in zip(crops, ["a forest fire", "smoke", "fire", "a fire"])]
    assert together == alone
