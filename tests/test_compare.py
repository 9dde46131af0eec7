"""``python -m idg.compare`` on hand-made run dirs (fast; the end-to-end sweep is in test_wandb_e2e.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from idg.report.compare import main


def make_run(path: Path, config: dict, overrides: list, metrics: dict, status: str = "complete") -> Path:
    (path / ".hydra").mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))  # Hydra's copy: not a run
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics:
        (path / "metrics.json").write_text(json.dumps(metrics))
    (path / "run.json").write_text(json.dumps({"status": status}))
    return path


def config(strength: float, dataset: str = "forest_fire") -> dict:
    return {"dataset": {"name": dataset}, "inpaint": {"strength": strength, "steps": 4}, "run_dir": None}


def metrics(value: float) -> dict:
    return {"main_metric": value, "main_metric_name": "map50_95", "eval/syn_only/f0/mean/map50": value + 0.1,
            "eval/syn_only/f0/mean/map50_95": value, "eval/syn_only/f0/mean/delta_map50_vs_real_f1": -0.2,
            "eval/syn_only/f0_s0/map50": value + 0.1, "generate/images": 8}


def make_sweep(root: Path) -> Path:
    (root / "multirun.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"overrides": {"task": ["experiment=smoke", "inpaint.strength=0.5,0.9"]}}}))
    make_run(root / "0", config(0.5), ["experiment=smoke", "inpaint.strength=0.5"], metrics(0.25))
    make_run(root / "1", config(0.9), ["experiment=smoke", "inpaint.strength=0.9"], metrics(0.125))
    return root


def csv_rows(text: str) -> list:
    return list(csv.DictReader(io.StringIO(text)))


def test_sweep_dir_as_csv_with_plot(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "sweep")
    assert main([str(sweep), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    rows = csv_rows(out)
    assert [(r["run"], r["inpaint.strength"], r["main_metric (map50_95)"], r["status"]) for r in rows] == [
        ("0", "0.5", "0.25", "complete"), ("1", "0.9", "0.125", "complete")]
    # default metric patterns: the main metric and the per-arm mean mAPs, not per seed, deltas or generation stats
    assert list(rows[0]) == ["run", "inpaint.strength", "status", "main_metric (map50_95)",
                             "eval/syn_only/f0/mean/map50", "eval/syn_only/f0/mean/map50_95"]
    plot = sweep / "compare.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(plot) in err


def test_markdown_run_dirs_without_overrides_diff_the_configs(tmp_path, capsys):
    a = make_run(tmp_path / "a", config(0.5), [], metrics(0.3))
    b = make_run(tmp_path / "b", config(0.5, dataset="safari"), [], {}, status="failed")
    assert main([str(a), str(b), "--no-plot", "--metrics", "main_metric"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| run | dataset.name | status | main_metric (map50_95) |"
    assert out[2] == "| a | forest_fire | complete | 0.3000 |"
    assert out[3] == "| b | safari | failed |  |"


def test_group_choice_is_shown_by_its_override(tmp_path, capsys):
    make_run(tmp_path / "s" / "0", config(0.5), ["dataset=forest_fire"], metrics(0.1))
    make_run(tmp_path / "s" / "1", config(0.5, "safari"), ["dataset=safari"], metrics(0.2))
    assert main([str(tmp_path / "s"), "--format", "csv", "--no-plot"]) == 0
    assert [r["dataset"] for r in csv_rows(capsys.readouterr().out)] == ["forest_fire", "safari"]


def test_bad_paths_fail_with_the_path_named(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert f"{tmp_path / 'missing'}: no such directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no idg run dirs" in capsys.readouterr().err
    bad = make_run(tmp_path / "bad", config(0.5), [], {})
    (bad / "metrics.json").write_text("{not json")
    assert main([str(bad)]) == 2
    assert "metrics.json: not valid JSON" in capsys.readouterr().err
    assert main([]) == 2


def test_wandb_source_offline_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert main(["--wandb", "team/idg", "--group", "multirun/x"]) == 2
    err = capsys.readouterr().err
    assert "WANDB_MODE=offline" in err and "python -m idg.compare <multirun dir" in err
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    assert main(["--wandb", "team/idg", "--group", "g"]) == 2
    assert "cannot reach the W&B server http://127.0.0.1:9" in capsys.readouterr().err
    assert main(["--wandb", "team/idg"]) == 2  # no --group
