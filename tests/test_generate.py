"""The generation engine on the tiny model: exports, determinism, batch invariance, resume, cache."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_config
from idg.core.errors import RunDirError
from idg.generate.engine import export, run_generation
from idg.generate.plan import shard_indices, val_indices

pytestmark = pytest.mark.slow


def gen_config(tmp_path, tiny_model, *extra):
    return make_config([
        "experiment=smoke", "stages=[generate]", "generate.num_images=6", "model.resolution=64",
        "model.native_resolution=32", f"model.pretrained={tiny_model}", f"generate.cache_dir={tmp_path}/cache",
        "classes.fire.count=[1,3]", "classes.fire.width=[0.15,0.4]", "generate.val_fraction=0.34", *extra,
    ])


def generate(cfg, run_dir, pipes):
    result = run_generation(cfg, run_dir, pipes_factory=lambda: pipes)
    export(result, cfg.class_names)
    return result


def export_files(root: Path):
    """Every exported file's bytes, except generation.json (it holds timings)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "generation.json"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, tiny_pipes):
    tmp = tmp_path_factory.mktemp("reference")
    cfg = gen_config(tmp, tiny_model, "generate.batch_size=4")
    result = generate(cfg, tmp / "run", tiny_pipes)
    return cfg, result, export_files(result.layout.root)


def test_export_layout_labels_and_coco(reference):
    from pycocotools.coco import COCO

    cfg, result, files = reference
    root = result.layout.root
    assert result.complete and result.stats.images == 6
    records = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(6))
    # default artifact thresholds do not reject the tiny model's noise backgrounds
    assert all(r["background"]["rejected_attempts"] == [] and r["background"]["artifact"] is None for r in records)
    assert {r["split"] for r in records} == {"train", "val"}
    coco = COCO(str(root / "annotations.json"))
    assert len(coco.getImgIds()) == 6
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["fire"]
    assert len(coco.getAnnIds()) == sum(len(r["objects"]) for r in records) == result.stats.objects
    for rec in records:
        image = Image.open(root / rec["image"])
        assert image.size == (64, 64)
        lines = (root / rec["label"]).read_text().splitlines()
        assert len(lines) == len(rec["objects"])
        for line, obj in zip(lines, rec["objects"]):
            cls, cx, cy, w, h = line.split()
            x, y, bw, bh = obj["box"]
            assert int(cls) == obj["class_id"] == 0
            assert float(cx) == pytest.approx((x + bw / 2) / 64, abs=1e-6)
            assert float(w) == pytest.approx(bw / 64, abs=1e-6)
            assert 0 <= x and x + bw <= 64 and 0 <= y and y + bh <= 64
            for key in ("prompt", "seed", "strength", "steps", "mask", "feather", "sampler", "requested_box"):
                assert key in obj
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[rec["index"] + 1]))
        assert [a["bbox"] for a in anns] == [o["box"] for o in rec["objects"]]
    data = (root / "data.yaml").read_text()
    assert "names:\n  0: fire" in data and "train: images/train" in data


def test_pixels_outside_the_boxes_keep_the_background(reference):
    cfg, result, _ = reference
    root = result.layout.root
    for rec in json.loads("[" + ",".join((root / "manifest.jsonl").read_text().splitlines()) + "]"):
        key = rec["background"]["key"]
        bg = np.asarray(Image.open(Path(cfg.generate.cache_dir) / "backgrounds" / key[:2] / f"{key}.png"))
        img = np.asarray(Image.open(root / rec["image"]))
        outside = np.ones(img.shape[:2], bool)
        for obj in rec["objects"]:
            x, y, w, h = obj["requested_box"]  # a paste changes pixels inside its requested box only
            outside[y : y + h, x : x + w] = False
            fx, fy, fw, fh = obj["box"]  # the label, re-estimated from what changed, lies inside it
            assert x <= fx and y <= fy and fx + fw <= x + w and fy + fh <= y + h
        assert np.array_equal(img[outside], bg[outside])  # rejected objects were undone
        if rec["objects"]:
            assert not np.array_equal(img[~outside], bg[~outside])


def test_same_config_same_bytes_whatever_the_batch_size(reference, tmp_path, tiny_model, tiny_pipes):
    _, _, expected = reference
    for batch_size in (1, 3):
        cfg = gen_config(tmp_path / f"b{batch_size}", tiny_model, f"generate.batch_size={batch_size}", "generate.use_cache=false")
        result = generate(cfg, tmp_path / f"b{batch_size}" / "run", tiny_pipes)
        assert export_files(result.layout.root) == expected


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_to_identical_bytes(reference, tmp_path, tiny_model, tiny_pipes, monkeypatch):
    from idg.generate.engine import Engine

    _, _, expected = reference
    cfg = gen_config(tmp_path, tiny_model, "generate.batch_size=4")
    real_write = Engine.write
    calls = {"n": 0}

    def flaky_write(self, index, image, rec):
        if calls["n"] == 3:  # die after the image file but before its manifest line
            from idg.core.atomic import atomic_save_image

            atomic_save_image(self.layout.root / rec["image"], Image.fromarray(image), "png")
            raise Interrupted
        calls["n"] += 1
        real_write(self, index, image, rec)

    monkeypatch.setattr(Engine, "write", flaky_write)
    with pytest.raises(Interrupted):
        generate(cfg, tmp_path / "run", tiny_pipes)
    monkeypatch.setattr(Engine, "write", real_write)
    root = tmp_path / "run" / "dataset"
    with open(root / "manifest.jsonl", "a") as fh:
        fh.write('{"index": 5, "torn')  # a kill in the middle of a manifest line
    result = generate(cfg, tmp_path / "run", tiny_pipes)
    assert result.stats.images_skipped == 3 and result.stats.images == 3
    assert export_files(root) == expected


def test_finished_run_resumes_without_loading_a_model(reference, tmp_path):
    cfg, result, expected = reference

    def no_model():
        raise AssertionError("a finished run must not load the model")

    again = run_generation(cfg, result.layout.root.parent, pipes_factory=no_model)
    assert export(again, cfg.class_names)
    assert again.stats.images == 0 and export_files(again.layout.root) == expected


def test_different_config_in_the_same_dir_needs_overwrite(reference, tmp_path, tiny_model, tiny_pipes):
    cfg, result, _ = reference
    other = gen_config(Path(cfg.generate.cache_dir).parent, tiny_model, "inpaint.strength=0.9")
    with pytest.raises(RunDirError, match="overwrite=true"):
        generate(other, result.layout.root.parent, tiny_pipes)
    # the refused run changed nothing
    assert json.loads((result.layout.root / "generation.json").read_text())["status"] == "complete"


def test_background_cache_is_shared_across_inpaint_settings(tmp_path, tiny_model, tiny_pipes):
    first = generate(gen_config(tmp_path, tiny_model), tmp_path / "a", tiny_pipes)
    assert first.stats.backgrounds_generated == 6 and first.stats.backgrounds_from_cache == 0
    second = generate(gen_config(tmp_path, tiny_model, "inpaint.strength=0.5", "inpaint.mask=ellipse"), tmp_path / "b", tiny_pipes)
    assert second.stats.backgrounds_generated == 0 and second.stats.backgrounds_from_cache == 6
    # the objects differ, the backgrounds came from the cache (an image whose objects were all rejected
    # is its background in both runs, so compare the whole set)
    assert any(not np.array_equal(np.asarray(Image.open(first.layout.root / ra["image"])),
                                  np.asarray(Image.open(second.layout.root / rb["image"])))
               for ra, rb in zip(first.records, second.records))


def test_full_frame_mode_runs(tmp_path, tiny_model, tiny_pipes):
    cfg = gen_config(tmp_path, tiny_model, "inpaint=prototype", "generate.num_images=2")
    result = generate(cfg, tmp_path / "run", tiny_pipes)
    assert result.complete and all(o["window"] == [0, 0, 64, 64] for r in result.records for o in r["objects"])


def test_shards_partition_whole_batches():
    n, bs = 23, 4
    shards = [shard_indices(n, bs, 3, s) for s in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(n))
    batches = [{i // bs for i in s} for s in shards]
    for a in range(3):
        for b in range(a + 1, 3):
            assert batches[a].isdisjoint(batches[b])


def test_val_split_is_deterministic_and_non_empty():
    assert val_indices(10, 0.2, 0) == val_indices(10, 0.2, 0)
    assert len(val_indices(10, 0.2, 0)) == 2
    assert len(val_indices(3, 0.01, 0)) == 1
    assert val_indices(5, 0.0, 0) == set()
