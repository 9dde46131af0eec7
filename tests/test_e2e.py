"""The whole study through the real entrypoint, as a user runs it (tiny model, offline)."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_idg

pytestmark = pytest.mark.slow


def test_every_manifest_line_is_a_typed_record(smoke_run):
    from idg.data.records import SCHEMA, ImageRecord

    lines = (smoke_run / "dataset" / "manifest.jsonl").read_text().splitlines()
    for line in lines:
        data = json.loads(line)
        assert data["schema"] == SCHEMA and ImageRecord.from_dict(data).to_dict() == data


def test_smoke_study_writes_a_self_describing_run_dir(smoke_run):
    from pycocotools.coco import COCO

    d = smoke_run
    for rel in ("dataset/data.yaml", "dataset/annotations.json", "dataset/manifest.jsonl", "metrics.json",
                "config.yaml", "run.json", "results.csv", "results.json", "results.png", "samples.png"):
        assert (d / rel).is_file(), rel
    coco = COCO(str(d / "dataset" / "annotations.json"))
    assert len(coco.getImgIds()) == 8
    assert len((d / "dataset" / "manifest.jsonl").read_text().splitlines()) == 8
    metrics = json.loads((d / "metrics.json").read_text())
    # one key scheme: each evaluation eval/<arm>/f<fraction>_s<seed>/<metric>, means eval/<arm>/f<fraction>/mean/<metric>
    for arm, frac in (("syn_only", "f0"), ("syn_then_real", "f1"), ("real_only", "f1")):
        for key in (f"eval/{arm}/{frac}/mean/map50", f"eval/{arm}/{frac}/mean/map50_95", f"eval/{arm}/{frac}_s0/map50",
                    f"eval/{arm}/{frac}_s0/map50_95", f"eval/{arm}/{frac}_s0/precision", f"eval/{arm}/{frac}_s0/recall",
                    f"eval/{arm}/{frac}_s0/ap50/fire", f"eval/{arm}/{frac}_s0/ap50_95/fire"):
            assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, key
    assert metrics["main_metric_of"] == "syn_then_real/f1"
    # per-class APs of every evaluation, also in results.csv and results.json
    with open(d / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"ap50/fire", "ap50_95/fire"} <= set(rows[0]) and all(r["ap50/fire"] != "" for r in rows)
    assert all("ap50_95/fire" in r for r in json.loads((d / "results.json").read_text())["rows"])
    assert metrics["generate/images"] == 8
    # quality: seams, label noise, rejects, artifacts and the seam-shortcut rate of the synthetic arms
    for term in ("edge", "halo"):  # both seam terms (the halo term against the image before the paste: >= 1)
        assert isinstance(metrics[f"quality/seam_{term}_mean"], float) and metrics[f"quality/seam_{term}_mean"] > 0
        assert isinstance(metrics[f"quality/seam_{term}_median"], float)
    assert metrics["quality/seam_halo_median"] >= 1.0
    assert 0.0 < metrics["quality/box_iou_mean"] <= 1.0
    assert 0.0 <= metrics["quality/reject_rate"] <= 1.0
    records = [json.loads(line) for line in (d / "dataset" / "manifest.jsonl").read_text().splitlines()]
    assert metrics["quality/objects_rejected"] == sum(len(r["rejected"]) for r in records)
    assert metrics["quality/objects_accepted"] == sum(len(r["objects"]) for r in records) == len(coco.getAnnIds())
    for obj in (o for r in records for o in r["objects"] + r["rejected"]):
        for key in ("requested_box", "box", "box_iou", "attempts", "changed_fraction", "seam_edge", "seam_halo",
                    "seam_halo_widths", "status"):
            assert key in obj, key
    for obj in (o for r in records for o in r["rejected"]):
        assert obj["reject_reason"] and (d / "dataset" / obj["crop"]).is_file()
    # the tiny model's noise backgrounds are not artifacts
    assert all(metrics[f"quality/artifact_{k}"] == 0 for k in ("black", "constant", "nan", "duplicate", "unresolved"))
    for arm in ("syn_only", "syn_then_real"):
        assert 0.0 <= metrics[f"quality/shortcut_rate/{arm}"] <= 1.0, arm
    assert "quality/shortcut_rate/real_only" not in metrics
    shortcut = json.loads((d / "shortcut" / "shortcut.json").read_text())
    assert shortcut["prompt"] == "" and len(shortcut["images"]) == 4
    for entry in shortcut["images"]:  # the null-prompt boxes' seams, measured as the training objects' are
        assert len(entry["seams"]) == len(entry["boxes"]) and all(s["attempts"] == 1 for s in entry["seams"])
    assert all((d / "shortcut" / e["image"]).is_file() for e in shortcut["images"])
    assert "shortcut" not in (d / "dataset" / "data.yaml").read_text()  # held out of training
    assert (d / "detect" / "syn_only" / "f0_s0" / "shortcut.json").is_file()
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == "complete"
    assert all(run["stages"][s]["status"] == "complete" for s in ("generate", "train", "evaluate"))
    # every detector run lives under the run dir, none in ./runs
    for arm in ("syn_only/f0_s0", "syn_then_real/f1_s0", "real_only/f1_s0"):
        assert (d / "detect" / arm / "weights" / "last.pt").is_file()
        assert (d / "detect" / arm / "eval_real" / "eval.json").is_file()


def test_smoke_study_logs_an_offline_wandb_run(smoke_run):
    runs = list((smoke_run / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = runs[0] / "files"
    assert list(runs[0].glob("run-*.wandb"))
    assert list((files / "media" / "metadata" / "boxes2D").rglob("*.boxes2D.json"))
    assert list((files / "media" / "images").rglob("*.png"))


def test_rerunning_a_finished_study_redoes_nothing(smoke_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir, symlinks=True)
    before = {p: p.stat().st_mtime_ns for p in (run_dir / "detect").rglob("last.pt")}
    res = run_idg(["experiment=smoke", f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "detect").rglob("last.pt")} == before
    assert json.loads((run_dir / "run.json").read_text())["attempts"] == 2


def test_ultralytics_cli_trains_on_the_export_unchanged(smoke_run, tmp_path):
    data = smoke_run / "dataset" / "data.yaml"
    yolo = Path(sys.executable).parent / "yolo"
    res = subprocess.run(
        [str(yolo), "train", f"data={data}", "model=yolov8n.yaml", "epochs=1", "imgsz=64", "batch=4", "workers=0",
         "plots=False", f"project={tmp_path}", "name=cli", "exist_ok=True", "device=cpu"],
        capture_output=True, text=True, timeout=600, env={**os.environ},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "cli" / "weights" / "last.pt").is_file()


def test_generate_only_stage_needs_no_real_data(tmp_path):
    res = run_idg(["experiment=smoke", "real=none", "stages=[generate]", "generate.num_images=2",
                   f"hydra.run.dir={tmp_path}/run"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "dataset" / "data.yaml").is_file()
    assert not (tmp_path / "run" / "detect").exists()
