"""The labellers as models: tiny random OWLv2 and Grounding DINO built offline load through
``AutoModelForZeroShotObjectDetection`` / ``AutoProcessor`` like the real ones; their raw boxes do not depend on
the batch; a model dir that is not a detector fails before anything loads; both serve as verifiers of painted
objects; and the autolabel smoke generation runs from the command line."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import make_config, run_idg
from idg.core.config import VerifyConfig
from idg.core.errors import IdgError, ModelLoadError

pytestmark = pytest.mark.slow

QUERIES = [["fire", "flames"], ["smoke"]]


@pytest.fixture(scope="module")
def tiny_dirs():
    """Both tiny labellers, built where the tiny_* presets look for them."""
    from idg.models.tiny_labelers import ensure_tiny_labeler

    out = {}
    for kind in ("owlv2", "grounding_dino"):
        cfg = make_config(["stages=[generate]", "model=tiny", "offline=true", f"labeler=tiny_{kind}"])
        out[kind] = ensure_tiny_labeler(kind, os.path.expanduser(cfg.labeler.model))
    return out


def images(n=3, side=96):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("kind, model_class, model_type", [
    ("owlv2", "Owlv2ForObjectDetection", "owlv2"),
    ("grounding_dino", "GroundingDinoForObjectDetection", "grounding-dino"),
])
def test_tiny_labellers_are_the_real_classes_loaded_from_pretrained(tiny_dirs, kind, model_class, model_type):
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    path = tiny_dirs[kind]
    assert json.loads((path / "config.json").read_text())["model_type"] == model_type
    assert type(AutoModelForZeroShotObjectDetection.from_pretrained(path)).__name__ == model_class
    assert type(AutoProcessor.from_pretrained(path)).__name__ == model_class.replace("ForObjectDetection", "Processor")


@pytest.mark.parametrize("kind", ["owlv2", "grounding_dino"])
def test_raw_boxes_are_per_class_scores_and_do_not_depend_on_the_batch(tiny_dirs, kind):
    from idg.models.labelers import ZeroShotDetector

    det = ZeroShotDetector(kind, str(tiny_dirs[kind]), offline=True, batch_invariant="true", batch_size=8)
    ims = images()
    together = det.candidates(ims, QUERIES)
    alone = [det.candidates([im], QUERIES)[0] for im in ims]
    for a, b in zip(together, alone):
        assert np.array_equal(a.scores, b.scores) and np.array_equal(a.boxes, b.boxes)
        assert a.scores.shape[1] == 2 and a.queries.shape == a.scores.shape and len(a.boxes) > 4
        assert np.all((a.scores >= 0) & (a.scores <= 1)) and np.all(np.isfinite(a.boxes))
        assert set(np.unique(a.queries[:, 0])) <= {0, 1} and set(np.unique(a.queries[:, 1])) == {0}
    assert not np.array_equal(together[0].scores, together[1].scores)  # the pixels matter
    other = det.candidates(ims[:1], [["smoke"], ["fire", "flames"]])[0]
    # A class's score comes from its own queries (Grounding DINO reads them in one caption: equal to rounding).
    assert np.allclose(other.scores[:, 0], alone[0].scores[:, 1], atol=1e-5)


def test_grounding_dino_maps_each_query_to_its_own_tokens(tiny_dirs):
    from idg.models.labelers import ZeroShotDetector

    det = ZeroShotDetector("grounding_dino", str(tiny_dirs["grounding_dino"]), offline=True)
    caption, tokens = det._caption([["Fire", "hot flames"], ["smoke."]])
    assert caption == "fire. hot flames. smoke ."
    ids = det.processor.tokenizer(caption)["input_ids"]
    decoded = [det.processor.tokenizer.decode([ids[k] for k in idx]).replace(" ", "").replace("##", "") for idx in tokens]
    assert decoded == ["fire", "hotflames", "smoke"]


def test_a_dir_that_is_not_a_detector_fails_before_loading(tmp_path, tiny_dirs, tiny_model):
    from idg.models.labelers import check_labeler_model
    from idg.models.tiny import build_tiny_clip

    clip = build_tiny_clip(tmp_path / "clip")
    cases = [
        (str(tmp_path / "missing"), "owlv2", "no such directory"),
        (str(tiny_model), "owlv2", "is a diffusers pipeline"),
        (str(clip), "owlv2", "is not an open-vocabulary detector"),
        (str(tiny_dirs["grounding_dino"]), "owlv2", "is a grounding-dino model but labeler.name=owlv2"),
        (str(tiny_dirs["owlv2"]), "grounding_dino", "is a owlv2 model but labeler.name=grounding_dino"),
        ("google/owlv2-not-cached", "owlv2", "not in the local Hugging Face cache"),
    ]
    for model, kind, message in cases:
        with pytest.raises(ModelLoadError, match=message):
            check_labeler_model(kind, model, "labeler.model", offline=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no transformers model"):
        check_labeler_model("owlv2", str(empty), "labeler.model", offline=True)
    check_labeler_model("owlv2", str(tmp_path / "to-build"), "labeler.model", offline=True, build_tiny=True)


def test_the_study_refuses_a_labeller_that_is_not_a_detector_before_any_model_loads(tmp_path, monkeypatch, tiny_model):
    import idg.generate.labeling
    import idg.models.diffusion
    from idg.pipeline import run_study

    def forbidden(*a, **k):
        raise AssertionError("a model loaded before the bad labeller was caught")

    monkeypatch.setattr(idg.models.diffusion, "load_pipelines", forbidden)
    monkeypatch.setattr(idg.generate.labeling, "ZeroShotDetector", forbidden)
    for overrides, key in (([f"labeler.model={tiny_model}", "labeler.build_tiny=false"], "labeler.model"),
                           (["verify=owlv2", f"verify.model={tmp_path}/nope"], "verify.model")):
        generator = ["generator=autolabel"] if key == "labeler.model" else []
        cfg = make_config(["experiment=smoke", "stages=[generate]", "logger=none", *generator, *overrides])
        with pytest.raises(IdgError, match=key):
            run_study(cfg, {}, tmp_path / "run")
        assert not (tmp_path / "run" / "dataset").exists()


@pytest.mark.parametrize("kind", ["owlv2", "grounding_dino"])
def test_labellers_score_and_locate_crops_as_verifiers(tiny_dirs, kind):
    from idg.generate.verify import build_verifier, check_verifier

    cfg = VerifyConfig(name=kind, model=str(tiny_dirs[kind]))
    check_verifier(cfg, offline=True)
    verifier = build_verifier(cfg, offline=True, queries={"fire": ["fire"], "smoke": ["smoke"]}, batch_invariant="true")
    crops = [im[:60, :40] for im in images(2)]
    located = verifier.locate(crops, ["fire", "smoke"])
    assert [s for s, _ in located] == verifier(crops, ["fire", "smoke"], ["", ""])
    for (score, box), crop in zip(located, crops):
        assert 0.0 <= score <= 1.0 and len(box) == 4
    alone = verifier.locate(crops[1:], ["smoke"])
    assert alone == located[1:]  # a crop's score does not depend on the others


def test_verify_tiny_owlv2_scores_every_painted_object_in_a_smoke_generation(tmp_path, tiny_model, tiny_pipes):
    from idg.generate.engine import export, run_generation

    base = ["experiment=smoke", "stages=[generate]", "generate.num_images=4", f"generate.cache_dir={tmp_path}/cache",
            "verify=tiny_owlv2", "quality.min_changed_fraction=0", "quality.min_iou=0"]
    cfg = make_config(base)
    result = run_generation(cfg, tmp_path / "run", pipes_factory=lambda: tiny_pipes)
    assert export(result, cfg.class_names)
    objects = [o for r in result.records for o in r["objects"]]
    assert objects and all(isinstance(o["verify_score"], float) and 0 <= o["verify_score"] <= 1 for o in objects)
    strict = make_config(base + ["verify.min_score=1.0", "quality.max_attempts=2", "generate.num_images=2"])
    rejected = [o for r in run_generation(strict, tmp_path / "strict", pipes_factory=lambda: tiny_pipes).records
                for o in r["rejected"]]
    assert rejected and all(o["reject_reason"].startswith("verify_score") and o["verify_score"] < 1 for o in rejected)


def test_autolabel_smoke_generation_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    res = run_idg(["experiment=smoke", "generator=autolabel", "labeler=tiny_owlv2", "stages=[generate]", "logger=none",
                   f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr[-3000:]
    root = run_dir / "dataset"
    records = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 8 and sum(len(r["objects"]) for r in records) > 0
    for rec in records:
        lines = (root / rec["label"]).read_text().splitlines()
        assert len(lines) == len(rec["objects"])
        for line, obj in zip(lines, rec["objects"]):
            assert isinstance(obj["labeler_score"], float) and obj["labeler_score"] >= 0.75
            assert int(line.split()[0]) == obj["class_id"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"quality/labeler_score_mean", "quality/labeler_empty_rate", "generate/labels_computed"} <= set(metrics)
