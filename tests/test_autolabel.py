"""The autolabel generator's plumbing: prompts that name the objects, the labeller's selection (threshold, size,
NMS, at most n), empty images (keep, drop, retry), manifest fields and labels, the label cache, resume and
batch-size independence.

The engine runs with a fake text-to-image (textured images by seed) and a fake open-vocabulary detector whose
raw boxes are a pure function of the image's pixels, so every expected decision is known; the tiny random
labellers (tests/test_labelers.py) go through the same path end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_config
from idg.core.box import box_iou
from idg.core.config import LabelerConfig
from idg.core.errors import ConfigError
from idg.core.seeds import rng_for
from idg.data.records import ImageRecord
from idg.generate.autolabel import image_prompt, join_phrases, named_classes
from idg.models.labelers import Candidates, Detection, pixel_box, select
from test_quality import FakePipes

SIDE = 96


class FakeDetector:
    """Raw boxes as a pure function of the image: 12 boxes (some overlapping pairs, some tiny) with scores
    per class drawn from the pixels' hash."""

    loads = 0

    def __init__(self, *args, **kwargs):
        FakeDetector.loads += 1
        self.calls = []

    def candidates(self, images, queries):
        self.calls.append(len(images))
        out = []
        for image in images:
            rng = rng_for(int(image.astype(np.int64).sum()), "fake-detector")
            boxes = []
            for _ in range(4):
                x, y = rng.uniform(0, SIDE - 30, 2)
                w, h = rng.uniform(12, 30, 2)
                boxes += [(x, y, w, h), (x + 1.5, y + 1.0, w, h)]  # a near-duplicate of each box
            boxes += [tuple(rng.uniform(0, SIDE - 4, 2)) + (2.0, 2.0) for _ in range(4)]  # too small
            scores = rng.uniform(0, 1, (len(boxes), len(queries))) ** 6  # mostly low: some images find nothing
            which = rng.integers(0, [len(q) for q in queries], (len(boxes), len(queries)))
            out.append(Candidates(np.array(boxes, float), scores, which))
        return out


@pytest.fixture()
def fake_detector(monkeypatch):
    import idg.generate.labeling

    FakeDetector.loads = 0
    monkeypatch.setattr(idg.generate.labeling, "ZeroShotDetector", FakeDetector)
    return FakeDetector


def al_config(tmp_path, *extra):
    return make_config([
        "stages=[generate]", "model=tiny", "offline=true", "generator=autolabel", "labeler=tiny_owlv2",
        "dataset=fire_cctv", f"model.resolution={SIDE}", "model.native_resolution=32", "generate.num_images=8",
        "generate.batch_size=4", "generate.val_fraction=0.25", f"generate.cache_dir={tmp_path}/cache",
        "labeler.threshold=0.6", "labeler.nms_iou=0.3", "labeler.min_size=4", "labeler.max_objects=3", *extra,
    ])


def run_autolabel(cfg, run_dir, pipes=None):
    from idg.generate.autolabel import autolabel_engine
    from idg.generate.engine import export, run_generation

    pipes = pipes or FakePipes()
    result = run_generation(cfg, run_dir, pipes_factory=lambda: pipes, engine_factory=autolabel_engine)
    export(result, cfg.class_names)
    return result


def export_files(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "generation.json"}


# ------------------------------------------------------------------------------------ selection


def cands(boxes, scores, queries=None):
    scores = np.array(scores, float)
    return Candidates(np.array(boxes, float), scores, np.zeros(scores.shape, int) if queries is None else np.array(queries))


def test_selection_applies_threshold_size_nms_and_a_cap_in_score_order():
    c = cands([(10, 10, 20, 20), (11, 11, 20, 20), (60, 60, 20, 20), (40, 40, 2, 30), (0, 0, 30, 30), (70, 5, 10, 10)],
              [[0.9, 0.1], [0.8, 0.2], [0.1, 0.7], [0.95, 0.0], [0.3, 0.2], [0.2, 0.6]])
    got = select(c, 96, 96, threshold=0.5, nms_iou=0.5, min_size=4, max_objects=10)
    # box 1 overlaps box 0 (same class) -> suppressed; box 3 is 2 px wide; box 4 scores 0.3
    assert [(d.box, d.cls, round(d.score, 2)) for d in got] == [
        ((10, 10, 20, 20), 0, 0.9), ((60, 60, 20, 20), 1, 0.7), ((70, 5, 10, 10), 1, 0.6)]
    assert [d.box for d in select(c, 96, 96, 0.5, 1.0, 4, 10)][:2] == [(10, 10, 20, 20), (11, 11, 20, 20)]  # NMS off
    assert len(select(c, 96, 96, 0.5, 0.5, 4, 1)) == 1
    assert select(c, 96, 96, 0.99, 0.5, 4, 10) == []
    assert select(cands(np.zeros((0, 4)), np.zeros((0, 2))), 96, 96, 0.0, 0.5, 1, 10) == []


def test_nms_is_per_class():
    c = cands([(10, 10, 20, 20), (11, 11, 20, 20)], [[0.9, 0.0], [0.0, 0.8]])
    assert [d.cls for d in select(c, 96, 96, 0.5, 0.3, 1, 10)] == [0, 1]


def test_threshold_is_inclusive_and_ties_keep_raw_order():
    c = cands([(0, 0, 10, 10), (50, 50, 10, 10)], [[0.5], [0.5]], queries=[[0], [0]])
    assert [d.box for d in select(c, 96, 96, 0.5, 0.5, 1, 10)] == [(0, 0, 10, 10), (50, 50, 10, 10)]


def test_pixel_boxes_round_outwards_and_stay_inside_the_image():
    assert pixel_box((10.2, 5.7, 9.6, 4.1), 96, 96) == (10, 5, 10, 5)
    assert pixel_box((-5, 90, 20, 20), 96, 96) == (0, 90, 15, 6)
    assert pixel_box((100, 100, 5, 5), 96, 96) is None


def test_detections_round_trip_through_json():
    d = Detection((1, 2, 3, 4), 1, 0.123456789, 2)
    assert Detection.from_dict(json.loads(json.dumps(d.as_dict()))) == d


# ------------------------------------------------------------------------------------ prompts


def test_prompts_name_one_to_n_distinct_classes_from_the_scene_and_class_presets(tmp_path):
    cfg = al_config(tmp_path, "autolabel.objects=[1,2]")
    seen = set()
    for i in range(40):
        named = named_classes(cfg, i)
        assert named == named_classes(cfg, i) and 1 <= len(named) <= 2 and named == sorted(set(named))
        seen.add(tuple(named))
    assert seen == {(0,), (1,), (0, 1)}
    prompt = image_prompt(cfg, "a shop", [0, 1])
    assert prompt == f"a shop, with {cfg.classes['fire'].prompt} and {cfg.classes['smoke'].prompt}"
    assert join_phrases(["a", "b", "c"]) == "a, b and c" and join_phrases(["a"]) == "a"
    capped = al_config(tmp_path, "autolabel.objects=[5,5]", "autolabel.object_template='a {name}'")
    assert named_classes(capped, 3) == [0, 1] and image_prompt(capped, "x", [1]) == "x, with a smoke"


@pytest.mark.parametrize("override, message", [
    ("labeler.threshold=1.2", "labeler.threshold=1.2 must be in [0, 1]"),
    ("labeler.threshold=-0.1", "labeler.threshold"),
    ("labeler.nms_iou=2", "labeler.nms_iou"),
    ("labeler.name=yolo_world", "labeler.name='yolo_world' is not a known labeller"),
    ("labeler.on_empty=skip", "labeler.on_empty"),
    ("labeler.min_size=0", "labeler.min_size"),
    ("labeler.max_objects=0", "labeler.max_objects"),
    ("classes.fire.queries=[]", "classes.fire.queries is empty"),
    ("classes.fire.queries=['fire','  ']", "classes.fire.queries[1]"),
    ("autolabel.template='{scene} only'", "must contain '{objects}'"),
    ("autolabel.template='{scene}, {objects}, {mood}'", "unknown placeholder"),
    ("autolabel.objects=[0,2]", "autolabel.objects"),
])
def test_bad_labeller_settings_fail_at_start_up_naming_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        al_config(tmp_path, override)


def test_queries_are_only_checked_where_a_labeller_reads_them(tmp_path):
    make_config(["stages=[generate]", "model=tiny", "offline=true", "classes.fire.queries=[]"])  # diffusion: unused
    with pytest.raises(ConfigError, match="classes.fire.queries"):
        make_config(["stages=[generate]", "model=tiny", "offline=true", "classes.fire.queries=[]", "verify=tiny_owlv2"])
    with pytest.raises(ConfigError, match="verify.min_score"):
        make_config(["stages=[generate]", "model=tiny", "offline=true", "verify=tiny_owlv2", "verify.min_score=-0.5"])
    assert LabelerConfig().model == "google/owlv2-base-patch16-ensemble"


def test_labeller_settings_are_in_the_fingerprint_but_runtime_ones_are_not(tmp_path):
    from idg.generate.plan import fingerprint

    base = fingerprint(al_config(tmp_path))
    assert fingerprint(al_config(tmp_path, "labeler.threshold=0.7")) != base
    assert fingerprint(al_config(tmp_path, "classes.fire.queries=[flames]")) != base
    assert fingerprint(al_config(tmp_path, "autolabel.objects=[2,2]")) != base
    assert fingerprint(al_config(tmp_path, "labeler.batch_size=2", "labeler.device=cpu")) == base
    assert fingerprint(al_config(tmp_path, "inpaint.strength=0.5", "sampler=grid")) == base  # nothing is painted
    diffusion = ["stages=[generate]", "model=tiny", "offline=true"]
    assert fingerprint(make_config(diffusion + ["classes.fire.queries=[flames]"])) == fingerprint(make_config(diffusion))


# ------------------------------------------------------------------------------------ the generator


def records_of(result):
    return [json.loads(line) for line in (result.layout.root / "manifest.jsonl").read_text().splitlines()]


def test_every_box_is_a_selected_labeller_box_with_its_score_and_the_labels_match(tmp_path, fake_detector):
    from pycocotools.coco import COCO

    cfg = al_config(tmp_path)
    result = run_autolabel(cfg, tmp_path / "run")
    root = result.layout.root
    records = records_of(result)
    assert result.complete and [r["index"] for r in records] == list(range(8))
    objects = [o for r in records for o in r["objects"]]
    assert objects and any(not r["objects"] for r in records)  # some images are empty at this threshold
    for rec in records:
        assert rec["autolabel"]["named"] and set(rec["autolabel"]["named"]) <= {"fire", "smoke"}
        assert rec["autolabel"]["empty"] == (not rec["objects"]) and rec["rejected"] == []
        for name in rec["autolabel"]["named"]:
            assert cfg.classes[name].prompt in rec["background"]["prompt"]  # the prompt names its objects
        assert len(rec["objects"]) <= 3
        lines = (root / rec["label"]).read_text().splitlines()
        assert len(lines) == len(rec["objects"])
        for line, obj in zip(lines, rec["objects"]):
            assert obj["generator"] == "autolabel" and obj["requested_box"] is None and "strength" not in obj
            assert obj["labeler_score"] >= 0.6 and obj["labeler_query"] in ("fire", "smoke")
            assert obj["labeler_query"] == obj["class"]  # default queries: the class name
            x, y, w, h = obj["box"]
            assert min(w, h) >= 4 and x >= 0 and y >= 0 and x + w <= SIDE and y + h <= SIDE
            cls, cx, cy, bw, bh = line.split()
            assert int(cls) == obj["class_id"] and float(cx) == pytest.approx((x + w / 2) / SIDE, abs=1e-6)
        scores = [o["labeler_score"] for o in rec["objects"]]
        assert scores == sorted(scores, reverse=True) and [o["id"] for o in rec["objects"]] == list(range(len(scores)))
        for a in rec["objects"]:
            for b in rec["objects"]:
                if a is not b and a["class"] == b["class"]:
                    assert box_iou(a["box"], b["box"]) <= 0.3
        assert ImageRecord.from_dict(rec).to_dict() == rec  # a typed record of the manifest schema
    coco = COCO(str(root / "annotations.json"))
    assert len(coco.getAnnIds()) == len(objects) and len(coco.getImgIds()) == 8
    assert result.stats.labels_computed == 8 and result.stats.images_empty == sum(not r["objects"] for r in records)


def test_labels_are_cached_and_a_cached_run_loads_no_labeller(tmp_path, fake_detector):
    cfg = al_config(tmp_path)
    first = run_autolabel(cfg, tmp_path / "a")
    assert fake_detector.loads == 1
    second = run_autolabel(cfg, tmp_path / "b")
    assert fake_detector.loads == 1 and second.stats.labels_from_cache == 8 and second.stats.labels_computed == 0
    assert export_files(first.layout.root) == export_files(second.layout.root)
    # Other thresholds are another cache entry.
    third = run_autolabel(al_config(tmp_path, "labeler.threshold=0.9"), tmp_path / "c")
    assert third.stats.labels_computed == 8 and fake_detector.loads == 2


def test_outputs_do_not_depend_on_the_batch_size_and_a_resume_is_byte_identical(tmp_path, fake_detector):
    ref = run_autolabel(al_config(tmp_path, "generate.use_cache=false"), tmp_path / "ref")
    expected = export_files(ref.layout.root)
    one = run_autolabel(al_config(tmp_path, "generate.use_cache=false", "generate.batch_size=1", "labeler.batch_size=1"),
                        tmp_path / "one")
    assert export_files(one.layout.root) == expected
    # An interrupted run: three images finished, a fourth image written but not yet in the manifest.
    run = tmp_path / "resumed"
    run_autolabel(al_config(tmp_path, "generate.use_cache=false"), run)
    manifest = run / "dataset" / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[:3]))
    for name in ("annotations.json", "data.yaml"):
        (run / "dataset" / name).unlink()
    for rec in map(json.loads, lines[4:]):
        (run / "dataset" / rec["image"]).unlink()
        (run / "dataset" / rec["label"]).unlink()
    resumed = run_autolabel(al_config(tmp_path, "generate.use_cache=false"), run)
    assert resumed.stats.images_skipped == 3 and resumed.stats.images == 5
    assert export_files(resumed.layout.root) == expected


def test_empty_images_are_dropped_from_the_export_but_kept_for_inspection(tmp_path, fake_detector):
    result = run_autolabel(al_config(tmp_path, "labeler.on_empty=drop", "labeler.threshold=0.85"), tmp_path / "run")
    root = result.layout.root
    records = records_of(result)
    dropped = [r for r in records if r["split"] == "dropped"]
    assert dropped and all(not r["objects"] and r["autolabel"]["empty"] for r in dropped)
    assert all(r["objects"] for r in records if r["split"] != "dropped")
    for rec in dropped:
        assert rec["image"].startswith("images/dropped/") and (root / rec["image"]).is_file()
    coco = json.loads((root / "annotations.json").read_text())
    assert {im["id"] - 1 for im in coco["images"]} == {r["index"] for r in records if r["split"] != "dropped"}
    assert result.stats.images_dropped == len(dropped)
    from idg.generate.quality import quality_metrics

    metrics = quality_metrics(records)
    assert metrics["quality/labeler_dropped"] == len(dropped)
    assert metrics["quality/labeler_empty_rate"] == round(len(dropped) / 8, 4)


def test_retry_redraws_empty_images_with_new_seeds_then_keeps_them(tmp_path, fake_detector):
    cfg = al_config(tmp_path, "labeler.on_empty=retry", "labeler.threshold=0.9", "quality.max_attempts=3")
    pipes = FakePipes()
    result = run_autolabel(cfg, tmp_path / "run", pipes)
    records = records_of(result)
    retried = [r for r in records if r["background"]["rejected_attempts"]]
    assert retried
    for rec in retried:
        attempts = rec["background"]["rejected_attempts"]
        assert all(a["reason"] == "empty" for a in attempts) and len({a["seed"] for a in attempts}) == len(attempts)
        assert rec["background"]["seed"] not in {a["seed"] for a in attempts}
        assert rec["background"]["artifact"] is None  # an empty image is not an artifact
        assert rec["objects"] or rec["background"]["attempts"] == 3  # found something, or out of attempts
    assert result.stats.empty_retries == sum(len(r["background"]["rejected_attempts"]) for r in records)
    assert sum(len(c) for c in pipes.calls) == 8 + result.stats.empty_retries


def test_label_noise_metrics_compare_boxes_with_the_named_objects():
    from idg.generate.quality import labeler_metrics

    def rec(named, classes, split="train"):
        return {"split": split, "autolabel": {"named": named, "empty": not classes},
                "objects": [{"class": c, "labeler_score": 0.5} for c in classes]}

    m = labeler_metrics([rec(["fire"], ["fire", "smoke"]), rec(["fire", "smoke"], ["smoke"]), rec(["smoke"], [], "dropped")])
    assert m["quality/labeler_named_recall"] == round(2 / 4, 4)  # fire in 1, smoke in 2; fire in 2, smoke in 3 missed
    assert m["quality/labeler_unnamed_rate"] == round(1 / 3, 4)
    assert m["quality/labeler_empty_rate"] == round(1 / 3, 4) and m["quality/labeler_dropped"] == 1
    assert m["quality/labeler_score_mean"] == 0.5
    assert labeler_metrics([{"objects": []}]) == {}


def test_the_labeller_sees_whole_batches(tmp_path, monkeypatch):
    """On a GPU (no batch invariance) the labeller takes labeler.batch_size images per call."""
    import idg.generate.labeling

    seen = []

    class Recording(FakeDetector):
        def candidates(self, images, queries):
            seen.append(len(images))
            return super().candidates(images, queries)

    monkeypatch.setattr(idg.generate.labeling, "ZeroShotDetector", Recording)
    run_autolabel(al_config(tmp_path, "labeler.batch_size=3", "generate.use_cache=false"), tmp_path / "run")
    assert seen == [3, 1, 3, 1]  # two batches of 4 images, labelled 3 + 1 each
