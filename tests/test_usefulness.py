"""End to end, as a user runs it: ``python -m idg.run experiment=usefulness_smoke`` writes the results and
resumes without retraining; the copy-paste generator runs the study with one set per (fraction, seed)."""

import csv
import json

import pytest
import yaml

from conftest import FIRE8_MINI, run_idg

ARMS = {"syn_only", "syn_then_real", "real_only", "mixed"}


def _trainings(run_dir):
    return {p.parent.relative_to(run_dir / "detect").as_posix(): p.stat().st_mtime_ns
            for p in (run_dir / "detect").glob("*/*/done.json")}


@pytest.mark.slow
def test_usefulness_smoke_writes_results_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    args = ["experiment=usefulness_smoke", f"real.data={FIRE8_MINI}", f"hydra.run.dir={run_dir}"]
    res = run_idg(args, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]

    with open(run_dir / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    # syn_only once per seed (one diffusion set for the study); the other arms per fraction and seed.
    assert len(rows) == 2 + 3 * 2 * 2
    assert {r["arm"] for r in rows} == ARMS
    assert {(r["fraction"], r["seed"]) for r in rows if r["arm"] == "real_only"} == {
        ("0.2", "0"), ("0.2", "1"), ("1.0", "0"), ("1.0", "1")}
    for r in rows:
        assert 0.0 <= float(r["map50_95"]) <= float(r["map50"]) <= 1.0

    summary = json.loads((run_dir / "results.json").read_text())["summary"]
    assert {(e["arm"], e["fraction"]) for e in summary} == {("syn_only", 0.0)} | {
        (a, f) for a in ARMS - {"syn_only"} for f in (0.2, 1.0)}
    for e in summary:
        for metric in ("map50", "map50_95"):
            stat = e[metric]
            assert stat["n"] == 2 and stat["ci_low"] <= stat["mean"] <= stat["ci_high"]
        if e["arm"] in ("syn_then_real", "mixed"):
            assert {"mean", "ci_low", "ci_high"} <= set(e["delta_map50"])
    assert (run_dir / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| real_only | 0.2 | 2 |" in (run_dir / "results.md").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["main_metric_name"] == "map50_95" and "eval/real_only/f1/mean/map50" in metrics
    # Every detector run lives under the study's run dir (none in ./runs).
    done = _trainings(run_dir)
    assert len(done) == 14 and all(json.loads((run_dir / "detect" / k / "done.json").read_text())["key"] for k in done)
    results = (run_dir / "results.csv").read_text()

    again = run_idg(args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _trainings(run_dir) == done  # no arm x fraction x seed was trained twice
    console = again.stdout + again.stderr
    assert console.count("trained earlier, kept") == 14 and " epoch 1/" not in console
    assert "training yolov8n.yaml" not in (run_dir / "run.log").read_text().split("check_inputs ...")[-1]
    assert (run_dir / "results.csv").read_text() == results


@pytest.mark.slow
def test_usefulness_smoke_with_the_copy_paste_generator(tmp_path):
    run_dir = tmp_path / "run"
    res = run_idg(["experiment=usefulness_smoke", "generator=copy_paste", "study.arms=[syn_only,mixed,real_only]",
                   "study.seeds=[0]", f"hydra.run.dir={run_dir}"], timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    for fraction in ("0.2", "1"):
        assert (run_dir / "copy_paste" / f"f{fraction}_s0" / "dataset" / "data.yaml").is_file()
        assert (run_dir / "detect" / "syn_only" / f"f{fraction}_s0" / "done.json").is_file()
    assert not (run_dir / "dataset").exists()
    summary = json.loads((run_dir / "results.json").read_text())["summary"]
    # The copy-paste syn_only saw the objects of its fraction's subset: reported there, compared there.
    syn = {e["fraction"]: e for e in summary if e["arm"] == "syn_only"}
    assert set(syn) == {0.2, 1.0} and "delta_map50" in syn[0.2]
    # mixed trains on the real subset plus the copy-paste set of the same (fraction, seed).
    mixed = yaml.safe_load((run_dir / "real" / "subsets" / "mixed_f0.2_s0.yaml").read_text())
    assert mixed["train"][1] == str(run_dir / "copy_paste" / "f0.2_s0" / "dataset" / "images" / "train")
