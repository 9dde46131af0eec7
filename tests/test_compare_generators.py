"""Generators compared in one study (``study.generators``): one synthetic set per generator under
``generators/<name>/``, synthetic arms trained per generator, one shared real_only baseline, one results table
with a generator column; and the smoke experiment end to end."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import make_config, run_idg
from idg.core.errors import ConfigError


def test_generators_are_checked_at_start_up():
    with pytest.raises(ConfigError, match="'gan' is not a generator"):
        make_config(["real=fire8_mini", "study.generators=[diffusion,gan]"])
    with pytest.raises(ConfigError, match="names a generator twice"):
        make_config(["real=fire8_mini", "study.generators=[diffusion,diffusion]"])
    with pytest.raises(ConfigError, match="real.data"):  # copy-paste among them needs real objects
        make_config(["stages=[generate]", "study.generators=[diffusion,copy_paste]"])
    with pytest.raises(ConfigError, match="shard one generator at a time"):
        make_config(["stages=[generate]", "study.generators=[diffusion,autolabel]", "generate.num_shards=2"])


def test_the_smoke_bundle_compares_all_three_generators():
    cfg = make_config(["experiment=compare_generators_smoke"])
    assert cfg.generators == ["diffusion", "copy_paste", "autolabel"] and cfg.compares_generators
    assert cfg.model.name == "tiny" and cfg.labeler.build_tiny and cfg.offline
    assert [cfg.for_generator(g).generate.generator for g in cfg.generators] == cfg.generators
    full = make_config(["experiment=compare_generators"])
    assert full.generators == cfg.generators and full.labeler.model == "google/owlv2-base-patch16-ensemble"
    single = make_config(["real=fire8_mini"])
    assert single.generators == ["diffusion"] and not single.compares_generators


def test_trainings_of_compared_generators_live_in_their_part_and_real_only_is_shared(tmp_path):
    from idg.study.arms import find_trained, generator_run, reuse_candidates, synthetic_yaml

    cfg = make_config(["experiment=compare_generators_smoke", "study.arms=[syn_only,real_only,mixed]"])
    run = tmp_path / "run"
    assert generator_run(cfg, run, "autolabel").root == run / "generators" / "autolabel"
    assert synthetic_yaml(cfg.for_generator("copy_paste"), generator_run(cfg, run, "copy_paste").root, 1.0, 0) == \
        run / "generators" / "copy_paste" / "copy_paste" / "f1_s0" / "dataset" / "data.yaml"
    with pytest.raises(Exception, match="training"):
        find_trained(cfg, run)
    expected = {("real_only", None): run / "detect" / "real_only" / "f1_s0"}
    for g in cfg.generators:
        f = 1 if g == "copy_paste" else 0
        expected[("syn_only", g)] = run / "generators" / g / "detect" / "syn_only" / f"f{f}_s0"
        expected[("mixed", g)] = run / "generators" / g / "detect" / "mixed" / "f1_s0"
    for save_dir in expected.values():
        save_dir.mkdir(parents=True)
        (save_dir / "done.json").write_text(json.dumps({"weights": str(save_dir / "last.pt"), "key": "k"}))
    found = {(t.arm, t.generator): t.save_dir for t in find_trained(cfg, run)}
    assert found == expected
    (tmp_path / "other" / "detect").mkdir(parents=True)
    other = make_config(["experiment=compare_generators_smoke", f"study.reuse=[{tmp_path / 'other'}]"])
    assert reuse_candidates(other, "syn_only", 0.0, 0, "autolabel") == [
        tmp_path / "other" / "detect" / "syn_only" / "f0_s0",
        tmp_path / "other" / "generators" / "autolabel" / "detect" / "syn_only" / "f0_s0"]
    assert reuse_candidates(other, "real_only", 1.0, 0, None) == [tmp_path / "other" / "detect" / "real_only" / "f1_s0"]


def test_autolabel_draws_from_prompts_and_sets_per_subset_follow_each_generator(tmp_path):
    from idg.core.stages import needs_real
    from idg.generate.sets import subset_dependent
    from idg.study.arms import generator_run, synthetic_yaml, training_plan

    with pytest.raises(ConfigError, match="generator=autolabel draws whole images from the background prompts"):
        make_config(["real=fire8_mini", "generator=autolabel", "labeler=tiny_owlv2", "background=real_empty"])
    with pytest.raises(ConfigError, match="leave autolabel out of study.generators"):
        make_config(["experiment=compare_generators_smoke", "background=real_empty"])
    # autolabel samples no boxes: a fitted layout neither makes its set per subset nor needs real data
    alone = make_config(["stages=[generate]", "generator=autolabel", "labeler=tiny_owlv2", "sampler=real_prior"])
    assert not subset_dependent(alone) and not needs_real(alone)
    cfg = make_config(["experiment=compare_generators_smoke", "sampler=real_prior", "study.fractions=[0.5,1.0]"])
    run = tmp_path / "run"
    assert subset_dependent(cfg.for_generator("diffusion")) and not subset_dependent(cfg.for_generator("autolabel"))
    assert synthetic_yaml(cfg.for_generator("diffusion"), generator_run(cfg, run, "diffusion").root, 0.5, 0) == \
        run / "generators" / "diffusion" / "sets" / "f0.5_s0" / "dataset" / "data.yaml"
    assert synthetic_yaml(cfg.for_generator("autolabel"), generator_run(cfg, run, "autolabel").root, 0.5, 0) == \
        run / "generators" / "autolabel" / "dataset" / "data.yaml"
    syn_only = [(p.generator, p.fraction) for p in training_plan(cfg) if p.arm == "syn_only"]
    assert syn_only == [("diffusion", 0.5), ("copy_paste", 0.5), ("autolabel", 0.0), ("diffusion", 1.0),
                        ("copy_paste", 1.0)]
    assert [p.generator for p in training_plan(cfg) if p.arm == "real_only"] == [None, None]


def rows():
    out = []
    for seed in (0, 1):
        out.append({"arm": "real_only", "generator": None, "fraction": 1.0, "seed": seed, "map50": 0.4, "map50_95": 0.2})
        for k, g in enumerate(("diffusion", "copy_paste", "autolabel")):
            out.append({"arm": "syn_then_real", "generator": g, "fraction": 1.0, "seed": seed, "map50": 0.5 + 0.1 * k,
                        "map50_95": 0.3})
    return out


def test_results_are_summarised_per_generator_against_the_shared_baseline(tmp_path):
    from idg.report.results import markdown_table, write_results
    from idg.study.stats import flat_metrics, main_metric

    full = [{**r, "split": "val", "precision": 0, "recall": 0, "weights": "w"} for r in rows()]
    full += [{**r, "split": "test", "map50": r["map50"] - 0.1} for r in full]
    summary = write_results(tmp_path, full, "map50")
    by = {(e["generator"], e["arm"]): e for e in summary if e["split"] == "val"}
    assert by[("autolabel", "syn_then_real")]["delta_map50"]["mean"] == pytest.approx(0.3)
    assert by[("copy_paste", "syn_then_real")]["delta_map50"]["mean"] == pytest.approx(0.2)
    assert by[(None, "real_only")]["map50"]["n"] == 2
    # The ux key scheme, with the generator in front of a compared generator's synthetic arm
    flat = flat_metrics(full, summary, by_generator=True)
    assert flat["eval/autolabel/syn_then_real/f1/mean/map50"] == pytest.approx(0.7)
    assert flat["eval/autolabel/syn_then_real/f1/mean/delta_map50"] == pytest.approx(0.3)
    assert flat["eval/test/autolabel/syn_then_real/f1/mean/map50"] == pytest.approx(0.6)
    assert flat["eval/copy_paste/syn_then_real/f1_s1/map50"] == pytest.approx(0.6)
    assert "eval/real_only/f1/mean/map50" in flat and "eval/test/real_only/f1_s0/map50" in flat
    assert not any(k.startswith("eval/syn_then_real/") for k in flat)
    assert main_metric(summary, "map50", "copy_paste") == pytest.approx(0.6)  # on val, not test
    assert "| autolabel | syn_then_real | 1 | 2 | 0.7000 [" in markdown_table(summary)
    with open(tmp_path / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {r["generator"] for r in table} == {"", "diffusion", "copy_paste", "autolabel"}
    assert {r["split"] for r in table} == {"val", "test"} and len(table) == 16


def test_results_of_an_earlier_version_without_a_generator_column_are_extended_not_refused(tmp_path):
    from idg.report.results import write_results

    old = [{k: v for k, v in r.items() if k != "generator"} for r in rows() if r["arm"] == "real_only"]
    (tmp_path / "results.json").write_text(json.dumps({"rows": old, "key": "an-old-key"}))
    write_results(tmp_path, rows(), "map50")  # the same trainings, now tagged: no RunDirError
    from idg.core.errors import RunDirError

    changed = [{**r, "map50": 0.9} for r in rows()]
    with pytest.raises(RunDirError):
        write_results(tmp_path, changed, "map50")


@pytest.mark.slow
def test_compare_generators_smoke_writes_one_results_table_with_all_three_generators(tmp_path):
    run = tmp_path / "run"
    res = run_idg(["experiment=compare_generators_smoke", "logger=none", f"hydra.run.dir={run}"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    with open(run / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {r["generator"] for r in table if r["arm"] != "real_only"} == {"diffusion", "copy_paste", "autolabel"}
    assert [r["generator"] for r in table if r["arm"] == "real_only"] == [""]  # one shared baseline
    assert {(r["generator"], r["arm"]) for r in table} >= {(g, a) for g in ("diffusion", "copy_paste", "autolabel")
                                                            for a in ("syn_only", "syn_then_real")}
    for g in ("diffusion", "autolabel"):
        assert (run / "generators" / g / "dataset" / "data.yaml").is_file() and (run / "generators" / g / "samples.png").is_file()
    assert (run / "generators" / "copy_paste" / "copy_paste" / "f1_s0" / "dataset" / "data.yaml").is_file()
    assert (run / "generators" / "diffusion" / "shortcut" / "shortcut.json").is_file()
    assert (run / "results.png").is_file() and "| autolabel |" in (run / "results.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert "quality/autolabel/labeler_score_mean" in metrics and "quality/diffusion/seam_edge_mean" in metrics
    assert "quality/diffusion/shortcut_rate/syn_only" in metrics and "eval/autolabel/syn_only/f0/mean/map50" in metrics
    assert metrics["main_metric_of"] == "diffusion/syn_then_real/f1"
    manifest = run / "generators" / "autolabel" / "dataset" / "manifest.jsonl"
    assert all("labeler_score" in o for line in manifest.read_text().splitlines() for o in json.loads(line)["objects"])
    # A rerun finds every set, training and evaluation done.
    again = run_idg(["experiment=compare_generators_smoke", "logger=none", f"hydra.run.dir={run}"])
    assert again.returncode == 0, again.stderr[-3000:]
    console = again.stdout + again.stderr
    assert console.count("trained earlier, kept") == 7 and "[1/7] diffusion syn_only f=0 s=0" in console
