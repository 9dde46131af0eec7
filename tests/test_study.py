"""The usefulness study's pieces: deterministic real subsets without val leakage, confidence intervals on
known numbers, result files, resume keys, and bad real data caught before any model loads."""

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from conftest import FIRE8_MINI, make_config, run_idg
from fake_real import damage, make_real
from idg.core.config import RealConfig
from idg.core.errors import DataError, RunDirError
from idg.data.real import load_real
from idg.data.subsets import prepare_real, subset_indices
from idg.report.results import markdown_table, write_results
from idg.study.keys import data_key
from idg.study.stats import mean_ci, summarize

NAMES = ["fire", "smoke"]
T_975_DF2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom
T_975_DF1 = 12.706204736174698


# ------------------------------------------------------------------------------------ subsets


def test_subset_is_deterministic_nested_and_covers_every_class():
    # 100 images; class 1 only in image 97, so a small subset must be grown to hold it.
    classes = [{0} if i != 97 else {1} for i in range(100)]
    a = subset_indices(classes, 0.05, seed=3)
    assert a == subset_indices(classes, 0.05, seed=3)
    assert len(a) in (5, 6) and 97 in a
    assert set(a) <= set(subset_indices(classes, 0.5, seed=3))  # a prefix of the same permutation
    assert subset_indices(classes, 0.05, seed=4) != a
    assert subset_indices(classes, 1.0, seed=3) == list(range(100))
    assert subset_indices(classes, 0.001, seed=0)  # at least one image
    small = subset_indices([{0}] * 100, 0.1, seed=1)
    assert set(small) <= set(subset_indices([{0}] * 100, 0.25, seed=1))


@pytest.fixture(scope="module")
def prepared_mini(tmp_path_factory):
    ds = load_real(RealConfig(name="fire8_mini", data=str(FIRE8_MINI), check_images=False), NAMES)
    return ds, prepare_real(ds, tmp_path_factory.mktemp("real"))


@pytest.mark.parametrize("fraction", [0.01, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_subsets_are_drawn_from_train_only(prepared_mini, fraction, seed):
    ds, prepared = prepared_mini
    val = {i.image.resolve() for i in ds.splits["val"]}
    train = {i.image.resolve() for i in ds.splits["train"]}
    for tag, extra in (("real", None), ("mixed", [prepared.root / "images" / "train"])):
        data = prepared.data_yaml(fraction, seed, extra_train=extra, tag=tag)
        doc = yaml.safe_load(data.read_text())
        listing = Path(doc["train"][0] if isinstance(doc["train"], list) else doc["train"])
        chosen = [Path(line) for line in listing.read_text().splitlines()]
        assert chosen and all(p.resolve() in train for p in chosen)
        assert not {p.resolve() for p in chosen} & val
        assert doc["val"] == "images/val"
        # Same (fraction, seed), same subset, whatever the tag.
        assert chosen == prepared.subset(fraction, seed)
    assert {p.resolve() for p in (prepared.root / "images" / "val").iterdir()} == val


def test_every_class_is_in_the_smallest_subset(prepared_mini):
    _, prepared = prepared_mini
    chosen = subset_indices(prepared.train_classes, 0.01, 0)
    assert set().union(*(prepared.train_classes[i] for i in chosen)) == {0, 1}


# ------------------------------------------------------------------------------------ statistics


def test_mean_ci_on_known_numbers():
    s = mean_ci([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    half = T_975_DF2 / math.sqrt(3)
    assert s["n"] == 3 and s["mean"] == pytest.approx(2.0)
    assert s["ci_low"] == pytest.approx(2.0 - half, abs=1e-9) and s["ci_high"] == pytest.approx(2.0 + half, abs=1e-9)
    s = mean_ci([0.1, 0.3])  # mean 0.2, sd sqrt(0.02), n 2: half = t * sd / sqrt(2) = t * 0.1
    assert s["ci_low"] == pytest.approx(0.2 - T_975_DF1 * 0.1) and s["ci_high"] == pytest.approx(0.2 + T_975_DF1 * 0.1)
    assert mean_ci([0.5]) == {"mean": 0.5, "ci_low": None, "ci_high": None, "n": 1}
    flat = mean_ci([0.25, 0.25, 0.25])
    assert flat["ci_low"] == pytest.approx(0.25) and flat["ci_high"] == pytest.approx(0.25)


def _rows():
    rows = []
    for seed, base in enumerate([0.30, 0.40, 0.50]):
        rows.append({"arm": "real_only", "fraction": 0.5, "seed": seed, "map50": base, "map50_95": base / 2})
        rows.append({"arm": "syn_then_real", "fraction": 0.5, "seed": seed, "map50": base + 0.1 * (seed + 1),
                     "map50_95": base / 2})
        rows.append({"arm": "syn_only", "fraction": 0.0, "seed": seed, "map50": 0.05, "map50_95": 0.01})
    return rows


def test_summary_differences_are_paired_by_seed():
    by = {(e["arm"], e["fraction"]): e for e in summarize(_rows())}
    d = by[("syn_then_real", 0.5)]["delta_map50"]  # differences 0.1, 0.2, 0.3
    assert d["mean"] == pytest.approx(0.2)
    assert d["ci_low"] == pytest.approx(0.2 - T_975_DF2 * 0.1 / math.sqrt(3))
    assert by[("syn_then_real", 0.5)]["delta_map50_95"]["mean"] == pytest.approx(0.0)
    assert by[("real_only", 0.5)]["map50"]["mean"] == pytest.approx(0.4)
    assert "delta_map50" not in by[("real_only", 0.5)]
    # An arm without real data is compared with each fraction's baseline.
    assert by[("syn_only", 0.0)]["delta_map50_vs_real_f0.5"]["mean"] == pytest.approx(0.05 - 0.4)


def test_result_files(tmp_path):
    rows = [{**r, "precision": 0.0, "recall": 0.0, "weights": "w.pt"} for r in _rows()]
    summary = write_results(tmp_path, rows, "map50")
    with open(tmp_path / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 9 and {r["arm"] for r in table} == {"real_only", "syn_then_real", "syn_only"}
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["summary"] == json.loads(json.dumps(summary))
    for entry in doc["summary"]:
        for metric in ("map50", "map50_95"):
            assert {"mean", "ci_low", "ci_high", "n"} <= set(entry[metric])
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| syn_then_real | 0.5 | 3 | 0.6000 [" in markdown_table(summary)


# ------------------------------------------------------------------------------------ resume keys


def test_data_key_follows_labels_and_images(tmp_path):
    data = make_real(tmp_path / "real")
    key = data_key(data)
    assert key == data_key(data)
    label = tmp_path / "real" / "labels" / "train" / "train_000.txt"
    label.write_text(label.read_text().replace("0 ", "1 ", 1))
    assert data_key(data) != key
    assert data_key(data, splits=("val",)) == data_key(data, splits=("val",))


def test_a_finished_training_with_other_inputs_is_not_reused(tmp_path):
    from idg.core.config import DetectorConfig
    from idg.study.detect import train

    save = tmp_path / "detect" / "real_only" / "f1_s0"
    save.mkdir(parents=True)
    (save / "done.json").write_text(json.dumps({"weights": str(save / "weights" / "last.pt"), "key": "old"}))
    det = DetectorConfig()
    again = train("yolov8n.yaml", tmp_path / "d.yaml", save.parent, "f1_s0", 1, det, 0, tag="t", key="old")
    assert again.skipped and again.weights == save / "weights" / "last.pt"
    with pytest.raises(RunDirError, match="f1_s0"):
        train("yolov8n.yaml", tmp_path / "d.yaml", save.parent, "f1_s0", 1, det, 0, tag="t", key="new")
    assert (save / "done.json").is_file()  # nothing deleted without overwrite=true


def test_a_training_of_another_study_with_the_same_key_is_copied(tmp_path):
    """study.reuse: a finished training elsewhere with the same key is copied (weights repointed), one with
    another key is not, and a dir that is not a study is a config error."""
    from idg.core.config import DetectorConfig
    from idg.study.detect import train
    from idg.core.errors import ConfigError

    other = tmp_path / "other" / "detect" / "real_only" / "f1_s0"
    (other / "weights").mkdir(parents=True)
    (other / "weights" / "last.pt").write_bytes(b"weights")
    (other / "done.json").write_text(json.dumps({"weights": str(other / "weights" / "last.pt"), "key": "k1"}))
    here = tmp_path / "here" / "detect" / "real_only"
    det = DetectorConfig()
    got = train("yolov8n.yaml", tmp_path / "d.yaml", here, "f1_s0", 1, det, 0, tag="t", key="k1", reuse=[other])
    assert got.skipped and got.weights == here / "f1_s0" / "weights" / "last.pt"
    assert got.weights.read_bytes() == b"weights"
    done = json.loads((here / "f1_s0" / "done.json").read_text())
    assert done["key"] == "k1" and done["reused_from"] == str(other)
    assert not list(here.glob("*.reuse-tmp"))

    from idg.study.detect import _reuse_training

    assert _reuse_training(tmp_path / "x" / "f1_s0", "k2", [other]) is None  # another key: trained, not copied
    assert make_config(["real=fire8_mini", "study.reuse=[" + str(tmp_path / "other") + "]"]).study.reuse == [str(tmp_path / "other")]
    with pytest.raises(ConfigError, match="study.reuse"):
        make_config(["real=fire8_mini", "study.reuse=[" + str(tmp_path) + "]"])


# ------------------------------------------------------------------------------------ bad real data


def test_class_map_maps_differently_named_classes(tmp_path):
    data = make_real(tmp_path / "real", names=("flame", "smoke"))
    ds = load_real(RealConfig(data=str(data), class_map={"flame": "fire"}), NAMES)
    assert ds.to_synthetic == {0: 0, 1: 1}


@pytest.mark.parametrize("generator", ["diffusion", "copy_paste"])
def test_bad_real_dataset_fails_before_any_model_loads(tmp_path, monkeypatch, generator):
    import idg.generate.sets
    import idg.study.detect
    import idg.generate.engine
    import idg.models.diffusion
    import idg.models.tiny
    import idg.models.tiny_zoo
    from idg.pipeline import run_study

    def forbidden(*args, **kwargs):
        raise AssertionError("a model or a training started before the real data was checked")

    for module, name in ((idg.models.diffusion, "load_pipelines"), (idg.models.tiny, "ensure_tiny_sdxl"), (idg.models.tiny_zoo, "ensure_tiny"),
                         (idg.generate.engine, "run_generation"),
                         (idg.study.detect, "train"), (idg.generate.sets, "generate_sets")):
        monkeypatch.setattr(module, name, forbidden)
    data = make_real(tmp_path / "real")
    damage(tmp_path / "real", "class_id_out_of_range")
    cfg = make_config(["experiment=usefulness_smoke", f"generator={generator}", f"real.data={data}", "logger=none"])
    with pytest.raises(DataError, match="train_001.txt"):
        run_study(cfg, {}, tmp_path / "run")
    assert not (tmp_path / "run" / "dataset").exists() and not (tmp_path / "run" / "detect").exists()


def test_copy_paste_needs_real_objects_of_every_class(tmp_path):
    from idg.generate.copy_paste import check_sources

    data = make_real(tmp_path / "real", n_train=12)
    for label in (tmp_path / "real" / "labels" / "train").glob("*.txt"):
        if label.read_text().startswith("1 "):
            label.write_text("")
    with pytest.raises(DataError, match="smoke"):
        check_sources(load_real(RealConfig(data=str(data)), NAMES))


@pytest.mark.slow
def test_entrypoint_bad_real_dataset_exits_2_naming_the_file(tmp_path):
    data = make_real(tmp_path / "real")
    needle = damage(tmp_path / "real", "nan_class_id")
    res = run_idg(["experiment=usefulness_smoke", f"real.data={data}", f"hydra.run.dir={tmp_path / 'run'}"], timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "run" / "dataset").exists() and not (tmp_path / "run" / "detect").exists()


# ------------------------------------------------------------------------------------ config


def test_usefulness_bundles():
    full = make_config(["experiment=usefulness"])
    assert full.study.fractions == [0.01, 0.05, 0.1, 0.25, 0.5, 1.0] and len(full.study.seeds) == 3
    assert set(full.study.arms) == {"syn_only", "syn_then_real", "real_only", "mixed"}
    assert full.dataset.name == "fire_cctv" and full.real.name == "fire8" and full.generate.generator == "diffusion"
    smoke = make_config(["experiment=usefulness_smoke"])
    assert smoke.model.name == "tiny" and smoke.offline and smoke.real.name == "fire8_mini"
    assert len(smoke.study.fractions) == 2 and len(smoke.study.seeds) == 2
    assert smoke.detector.epochs == smoke.detector.finetune_epochs == 1
    assert make_config(["experiment=usefulness_smoke", "generator=copy_paste"]).generate.generator == "copy_paste"


def test_copy_paste_without_real_data_is_a_config_error():
    from idg.core.errors import ConfigError

    with pytest.raises(ConfigError, match="real.data"):
        make_config(["generator=copy_paste", "stages=[generate]"])
