"""Real scenes and fitted layouts: photo background sources, mixtures, duplicates, real_prior, from_real,
real_train augmentation, per-split COCO, and the image-level bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import FIRE8_MINI, make_config, run_idg
from fake_real import make_real
from idg.core.atomic import read_jsonl
from idg.generate.photos import fit_photo


def make_photos(folder: Path, n: int = 3, size=(200, 150)) -> Path:
    """Structured photos (gradients with a few rectangles), distinct from each other."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    for i in range(n):
        rng = np.random.default_rng(100 + i)
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * (i + 1) * 3) % 256, (yy * 2 + 40 * i) % 256, (xx + yy + 70 * i) % 256], -1).astype(np.uint8)
        for _ in range(4):
            x, y = int(rng.integers(0, w - 30)), int(rng.integers(0, h - 30))
            img[y : y + 25, x : x + 25] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(folder / f"scene_{i}.png")
    return folder


def run_generate(overrides, run_dir: Path):
    from idg.pipeline import run_study

    cfg = make_config(["model=tiny", "offline=true", "stages=[generate]", "logger=none", "generate.progress=false",
                       *overrides])
    run_study(cfg, {}, run_dir)
    return cfg


def records_of(dataset: Path):
    return sorted(read_jsonl(dataset / "manifest.jsonl"), key=lambda r: r["index"])


# ------------------------------------------------------------------------------------ must show


@pytest.mark.slow
def test_background_images_keep_the_photo_away_from_the_boxes(tmp_path, tiny_model):
    """``experiment=smoke stages=[generate] background=images``: every image names its photo (and its hash),
    and every pixel outside the repainted windows is the fitted photo's."""
    photos = make_photos(tmp_path / "photos")
    run = tmp_path / "run"
    res = run_idg(["experiment=smoke", "stages=[generate]", "background=images", f"background.images={photos}",
                   f"hydra.run.dir={run}"])
    assert res.returncode == 0, res.stderr[-3000:]
    recs = records_of(run / "dataset")
    assert len(recs) == 8
    used = set()
    for rec in recs:
        bg = rec["background"]
        assert bg["source"] == "images" and Path(bg["photo"]).parent == photos.resolve() and bg["prompt"] is None
        used.add(bg["photo"])
        with Image.open(bg["photo"]) as im:
            fitted = fit_photo(im, rec["width"], "center_crop").image
        out = np.asarray(Image.open(run / "dataset" / rec["image"]).convert("RGB"))
        away = np.ones(out.shape[:2], bool)
        for obj in rec["objects"] + rec["rejected"]:
            x, y, w, h = obj["window"]
            away[y : y + h, x : x + w] = False
        assert away.sum() > 0.2 * away.size
        assert np.array_equal(out[away], fitted[away])
    assert len(used) == 3  # photos are dealt in rounds: 8 images use all three


@pytest.mark.slow
def test_real_prior_writes_prior_json_and_matches_real_widths(tmp_path, tiny_model):
    from idg.generate.prior import Prior, sample_prior

    run = tmp_path / "run"
    res = run_idg(["experiment=smoke", "real=fire8_mini", "sampler=real_prior", "classes=from_real", "stages=[generate]",
                   f"hydra.run.dir={run}"])
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((run / "sets" / "f1_s0" / "prior.json").read_text())
    assert set(doc["classes"]) == {"fire", "smoke"} and doc["fitted_on"]["split"] == "train"
    log = res.stdout + res.stderr
    assert "real_prior f=1 s=0 fire:" in log and "width median" in log
    prior = Prior(("fire", "smoke"), tuple(tuple(b) for b in doc["boxes"]), tuple(tuple(c) for c in doc["counts"]),
                  doc["images"])
    from idg.core.config import SamplerConfig

    rng = np.random.default_rng(0)
    sampled = {0: [], 1: []}
    for _ in range(400):
        for b in sample_prior(prior, rng, 128, 128, SamplerConfig(name="real_prior"))[0]:
            sampled[b.cls].append(b.w / 128)
    for cls, name in enumerate(("fire", "smoke")):
        real = doc["classes"][name]["width"]["median"]
        assert abs(np.median(sampled[cls]) - real) <= 0.25 * real, (name, np.median(sampled[cls]), real)
    requested = [o["requested_box"] for r in records_of(run / "sets" / "f1_s0" / "dataset") for o in r["objects"] + r["rejected"]]
    assert requested  # the set's boxes came from the prior


@pytest.mark.slow
def test_smoke_study_on_coco_reports_test_rows(tmp_path, tiny_model):
    from coco_real import yolo_to_coco

    paths = yolo_to_coco(FIRE8_MINI, tmp_path / "coco", test_from_train=6)
    run = tmp_path / "run"
    res = run_idg(["experiment=smoke", "real.format=coco", f"real.train_json={paths['train']}",
                   f"real.val_json={paths['val']}", f"real.test_json={paths['test']}", f"real.images={FIRE8_MINI.parent}",
                   "logger=none", f"hydra.run.dir={run}"])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = list(csvrows(run / "results.csv"))
    assert {r["split"] for r in rows} == {"val", "test"}
    assert len([r for r in rows if r["split"] == "test"]) == 3  # syn_only, syn_then_real, real_only
    md = (run / "results.md").read_text()
    assert md.index("### Test split") < md.index("### Val split")
    assert (run / "real" / "labels" / "test").is_dir() and len(list((run / "real" / "images" / "test").iterdir())) == 6
    summary = json.loads((run / "results.json").read_text())["summary"]
    assert {e["split"] for e in summary} == {"val", "test"} and all("boot_map50" in e for e in summary)
    assert (run / "detect" / "real_only" / "f1_s0" / "eval_test" / "image_stats.npz").is_file()


def csvrows(path: Path):
    import csv

    with open(path) as f:
        yield from csv.DictReader(f)


# ------------------------------------------------------------------------------------ sources


@pytest.mark.parametrize("source", ["images", "real_empty", "real_train"])
def test_copy_paste_on_every_photo_source(tmp_path, source):
    data = make_real(tmp_path / "real", n_train=12, n_val=2)
    extra = [f"background.images={make_photos(tmp_path / 'photos')}"] if source == "images" else []
    run_generate(["experiment=usefulness_smoke", f"real.data={data}", "generator=copy_paste", f"background={source}",
                  "generate.num_images=6", "study.fractions=[1.0]", "study.seeds=[0]", *extra], tmp_path / "run")
    set_dir = tmp_path / "run" / "copy_paste" / "f1_s0"
    recs = records_of(set_dir / "dataset")
    assert len(recs) == 6 and all(r["background"]["source"] == source for r in recs)
    sources = json.loads((set_dir / "sources.json").read_text())
    pool = {p["photo"] for p in sources["backgrounds"][source]}
    assert {r["background"]["photo"] for r in recs} <= pool
    real_images = {str(p.resolve()) for p in (tmp_path / "real" / "images" / "train").iterdir()}
    if source == "real_empty":  # only the subset's empty frames (every fourth fake image is empty)
        assert all(Image.open(p).getcolors() == [(64 * 64, (128, 128, 128))] for p in pool)
        assert pool <= real_images
    if source == "real_train":
        for r in recs:
            real = r["real_objects"]
            assert real and all(o["origin"] == "real" for o in real)
            label = (set_dir / "dataset" / r["label"]).read_text().splitlines()
            assert len(label) == len(real) + len(r["objects"])
            for o in r["objects"]:  # new boxes never overlap the real ones
                x, y, w, h = o["requested_box"]
                for q in real:
                    qx, qy, qw, qh = q["box"]
                    assert x + w <= qx or qx + qw <= x or y + h <= qy or qy + qh <= y


def test_diffusion_on_real_empty_backgrounds(tmp_path, tiny_model):
    data = make_real(tmp_path / "real", n_train=12, n_val=2)
    run_generate(["experiment=usefulness_smoke", f"real.data={data}", "background=real_empty", "generate.num_images=4",
                  "study.fractions=[1.0]", "study.seeds=[0]", "model.resolution=64", "inpaint.crop_size=64"], tmp_path / "run")
    recs = records_of(tmp_path / "run" / "sets" / "f1_s0" / "dataset")
    assert len(recs) == 4 and all(r["background"]["source"] == "real_empty" for r in recs)


def test_mix_deals_images_by_share(tmp_path, tiny_model):
    data = make_real(tmp_path / "real", n_train=12, n_val=2)
    run_generate(["experiment=usefulness_smoke", f"real.data={data}", "generator=copy_paste", "generate.num_images=7",
                  "study.fractions=[1.0]", "study.seeds=[0]", "model.resolution=64",
                  "background.mix=[{source: prompts, share: 0.5}, {source: real_empty, share: 0.5}]"], tmp_path / "run")
    recs = records_of(tmp_path / "run" / "copy_paste" / "f1_s0" / "dataset")
    kinds = [r["background"]["source"] for r in recs]
    assert sorted(kinds) == ["prompts"] * 4 + ["real_empty"] * 3
    assert all((r["background"]["prompt"] is None) == (r["background"]["source"] != "prompts") for r in recs)


def test_photo_duplicates_are_kept_by_default_and_can_be_dropped(tmp_path):
    photos = make_photos(tmp_path / "photos", n=3)
    Image.open(photos / "scene_0.png").save(photos / "scene_0_copy.png")  # a near-duplicate of scene_0
    base = ["background=images", f"background.images={photos}", "generator=copy_paste", "generate.num_images=8",
            "experiment=usefulness_smoke", "study.fractions=[1.0]", "study.seeds=[0]", "real=fire8_mini"]
    run_generate(base, tmp_path / "keep")
    recs = records_of(tmp_path / "keep" / "copy_paste" / "f1_s0" / "dataset")
    flagged = [r for r in recs if r["background"].get("duplicate_of_photo")]
    assert flagged and all(r["background"]["photo"].endswith("scene_0_copy.png") for r in flagged)
    assert {Path(r["background"]["photo"]).name for r in recs} == {"scene_0.png", "scene_0_copy.png", "scene_1.png",
                                                                   "scene_2.png"}
    metrics = json.loads((tmp_path / "keep" / "metrics.json").read_text())
    assert metrics["generate/photo_duplicates"] == 1
    run_generate(base + ["quality.duplicates=drop"], tmp_path / "drop")
    recs = records_of(tmp_path / "drop" / "copy_paste" / "f1_s0" / "dataset")
    assert "scene_0_copy.png" not in {Path(r["background"]["photo"]).name for r in recs}
    assert all(r["background"]["source"] == "images" for r in recs)  # never another source


def test_fit_modes():
    img = Image.fromarray(np.arange(200 * 100 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8))
    centre = fit_photo(img, 50, "center_crop")
    assert centre.image.shape == (50, 50, 3) and centre.crop == [50, 0, 100, 100]
    letter = fit_photo(img, 50, "letterbox")
    assert letter.crop == [0, 0, 200, 100] and letter.pad == (0, 12)
    assert (letter.image[:12] == 114).all() and (letter.image[-13:] == 114).all()
    a = fit_photo(img, 50, "random_crop", np.random.default_rng(1))
    b = fit_photo(img, 50, "random_crop", np.random.default_rng(1))
    assert a.crop == b.crop and np.array_equal(a.image, b.image)


# ------------------------------------------------------------------------------------ classes, negatives, export


def test_classes_from_real_names_and_prompts(tmp_path):
    data = make_real(tmp_path / "real", names=("flame", "vapour"))
    cfg = make_config(["classes=from_real", f"real.data={data}", "real_classes.prompt_template='a cctv photo of {name}'"])
    assert list(cfg.classes) == ["flame", "vapour"]
    assert cfg.classes["flame"].prompt == "a cctv photo of flame" and cfg.classes["flame"].size_unit == "fraction"


def test_real_negatives_join_every_real_training(tmp_path):
    from idg.data.real import load_real
    from idg.data.subsets import add_negatives, prepare_real
    from idg.core.config import RealConfig

    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    photos = sorted(make_photos(tmp_path / "photos").iterdir())
    prepared = add_negatives(prepare_real(load_real(RealConfig(data=str(data)), ["fire", "smoke"]), tmp_path / "prep"),
                             photos)
    doc = yaml.safe_load(prepared.data_yaml(0.5, 0).read_text())
    negatives = Path(doc["train"][-1]).read_text().split()
    assert len(negatives) == 3 and all(Path(p).is_symlink() for p in negatives)
    assert all((tmp_path / "prep" / "negatives" / "labels" / (Path(p).stem + ".txt")).read_text() == ""
               for p in negatives)


def test_coco_export_per_split(tmp_path):
    data = make_real(tmp_path / "real", n_train=12, n_val=2)
    run_generate(["experiment=usefulness_smoke", f"real.data={data}", "generator=copy_paste", "background=real_train",
                  "generate.num_images=8", "generate.val_fraction=0.25", "study.fractions=[1.0]", "study.seeds=[0]"],
                 tmp_path / "run")
    ds = tmp_path / "run" / "copy_paste" / "f1_s0" / "dataset"
    whole = json.loads((ds / "annotations.json").read_text())
    parts = {s: json.loads((ds / f"annotations_{s}.json").read_text()) for s in ("train", "val")}
    assert sorted(i["id"] for p in parts.values() for i in p["images"]) == sorted(i["id"] for i in whole["images"])
    assert len(parts["val"]["images"]) == 2
    recs = records_of(ds)
    assert len(whole["annotations"]) == sum(len(r["objects"]) + len(r["real_objects"]) for r in recs)


# ------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_map50_equals_ultralytics(tmp_path):
    """With every image once, the bootstrap's mAP50 is Ultralytics' ap_per_class mAP50."""
    from ultralytics.utils.metrics import ap_per_class

    from idg.study.bootstrap import ImageStats, MapComputer, bootstrap_map50

    rng = np.random.default_rng(0)
    n_img, n_pred = 40, 300
    pred_img = rng.integers(0, n_img, n_pred)
    conf = rng.random(n_pred)
    pred_cls = rng.integers(0, 3, n_pred)
    tp = (rng.random(n_pred) < conf).astype(float)  # confident predictions are more often right
    target_img = rng.integers(0, n_img, 90)
    target_cls = rng.integers(0, 2, 90)  # class 2 has predictions but no targets: ignored, as Ultralytics does
    stats = ImageStats([f"{i:03d}" for i in range(n_img)], pred_img, conf, pred_cls, tp, target_img, target_cls)
    tp10 = np.repeat(tp[:, None], 10, 1).astype(bool)
    ours = MapComputer(stats).map50(np.ones(n_img))
    theirs = ap_per_class(tp10, conf, pred_cls, target_cls)[5][:, 0].mean()
    assert ours == pytest.approx(theirs, abs=1e-9)
    same = bootstrap_map50([stats], [stats], n_boot=50)
    assert same["mean"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0  # paired: identical arms differ by 0
    boot = bootstrap_map50([stats], n_boot=200)
    assert boot["ci_low"] < ours < boot["ci_high"]


# ------------------------------------------------------------------------------------ copy-paste masks


@pytest.mark.parametrize("mode", ["grabcut", "contrast"])
def test_foreground_mask_finds_the_object_in_its_box(mode):
    """A red disk filling its labelled box on a grey, noisy wall: the mask keeps about the disk (pi/4 of the
    box), and pasting with it leaves the target's pixels in the box corners."""
    from idg.core.box import Box
    from idg.generate.copy_paste import paste_object
    from idg.generate.masks import object_mask

    rng = np.random.default_rng(0)
    src = np.clip(rng.normal(120, 8, (120, 120, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:120, 0:120]
    disk = (xx - 60) ** 2 + (yy - 60) ** 2 <= 30 ** 2
    src[disk] = (220, 30, 20)
    fg, fraction, fallback = object_mask(src, (30, 30, 61, 61), mode)
    assert not fallback and abs(fraction - np.pi / 4) < 0.1, fraction
    target = np.zeros((100, 100, 3), np.uint8)
    target[:] = (0, 0, 255)
    out = paste_object(target, src[30:91, 30:91], Box(20, 20, 61, 61), "none", 0, mask=fg)
    assert (out[21, 21] == (0, 0, 255)).all() and (out[50, 50] == (220, 30, 20)).all()


def test_mask_falls_back_to_the_box_and_says_so():
    from idg.generate.masks import object_mask

    flat = np.full((64, 64, 3), 90, np.uint8)  # nothing stands out: no estimate
    fg, fraction, fallback = object_mask(flat, (8, 8, 40, 40), "contrast")
    assert fallback and fg.all()
