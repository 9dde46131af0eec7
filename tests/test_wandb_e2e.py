"""End to end on the tiny model: what a smoke study leaves in its offline W&B run, a 2-job sweep grouped in
W&B and compared by ``python -m idg.compare``, and ``logger.mode=online`` without a W&B server."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from conftest import REPO, run_idg
from idg.core.atomic import read_jsonl
from wandb_records import offline_runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_wandb(smoke_run):
    (run,) = offline_runs(smoke_run)
    return smoke_run, run


def test_smoke_run_config_and_per_stage_metrics(smoke_wandb):
    run_dir, run = smoke_wandb
    assert run.job_type == "study" and run.group == ""
    assert run.config["dataset"]["name"] == "forest_fire" and run.config["study"]["arms"] == [
        "syn_only", "syn_then_real", "real_only"]
    assert "sweep" not in run.config
    for key in ("generate/images", "syn_only/f0_s0/epoch", "syn_only/f0_s0/metrics/mAP50-95(B)", "syn_only/f0_s0/train/box_loss",
                "syn_then_real/f1_s0/metrics/mAP50(B)", "real_only/f1_s0/val/box_loss", "eval/syn_then_real/f1_s0/map50_95",
                "eval/syn_then_real/f1/mean/map50_95", "eval/syn_only/f0_s0/ap50/fire", "eval/real_only/f1_s0/ap50_95/fire",
                "main_metric"):
        assert key in run.history_keys, key
    # smoke trains 1 epoch per arm: one point each (Ultralytics' re-validation of best.pt is not forwarded)
    for tag in ("syn_only/f0_s0", "syn_then_real/f1_s0", "real_only/f1_s0"):
        assert [row[f"{tag}/epoch"] for row in run.history if f"{tag}/epoch" in row] == [1]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run.summary["main_metric"] == metrics["main_metric"]


def test_smoke_run_media_table_and_artifacts(smoke_wandb):
    run_dir, run = smoke_wandb
    manifest = read_jsonl(run_dir / "dataset" / "manifest.jsonl")
    n_objects = sum(len(r["objects"]) for r in manifest)
    # sample images with W&B box overlays, class labels included
    boxes = [json.loads(p.read_text()) for p in run.media("generated_*.boxes2D.json")]
    assert len(boxes) == len(manifest) and sum(len(b["box_data"]) for b in boxes) == n_objects
    assert all(b["class_id"] == 0 and b["box_caption"] == "fire" for f in boxes for b in f["box_data"])
    assert run.media("before_after_*.png")  # the backgrounds are in the tiny run's cache
    # the objects table: one row per object
    (table,) = [json.loads(p.read_text()) for p in run.media("objects_*.table.json")]
    assert len(table["data"]) == n_objects
    assert {"crop", "class", "prompt", "status", "x", "y", "w", "h", "verify_score", "seam_edge", "seam_halo"} <= set(table["columns"])
    # the dataset artifact (export + manifest) and one model artifact per training, naming that dataset
    (dataset,) = run.artifacts_of("dataset")
    files = {c.path for c in dataset.manifest.contents}
    assert {"manifest.jsonl", "data.yaml", "annotations.json", "generation.json"} <= files
    assert {r["image"] for r in manifest} <= files and not any(f.endswith(".cache") for f in files)
    fingerprint = json.loads((run_dir / "dataset" / "generation.json").read_text())["fingerprint"]
    assert f"fp-{fingerprint}" in dataset.aliases
    models = {a.name: json.loads(a.metadata) for a in run.artifacts_of("model")}
    assert set(models) == {"forest_fire-syn_only-f0-s0", "forest_fire-syn_then_real-f1-s0", "forest_fire-real_only-f1-s0"}
    assert models["forest_fire-syn_then_real-f1-s0"]["synthetic_dataset"] == f"forest_fire-synthetic:fp-{fingerprint}"
    assert models["forest_fire-real_only-f1-s0"]["synthetic_dataset"] is None
    assert "map50_95" in models["forest_fire-syn_only-f0-s0"]


def test_smoke_run_results_chart_per_class_aps_and_eval_figures(smoke_wandb):
    run_dir, run = smoke_wandb
    # the results chart: the plot as an image and a native line chart over a table (one line per arm)
    assert run.history[[i for i, h in enumerate(run.history) if "charts/results/_type" in h][0]][
        "charts/results/_type"] == "image-file"
    assert "_wandb/visualize/charts/results_by_fraction" in run.config
    (chart,) = [json.loads(p.read_text()) for p in run.media("results_by_fraction_table_*.table.json")]
    assert {row[chart["columns"].index("lineKey")] for row in chart["data"]} == {"syn_only", "syn_then_real", "real_only"}
    # per-class APs of every evaluation, in the one key scheme; each evaluation's PR curve and confusion matrix
    for tag in ("syn_only/f0_s0", "syn_then_real/f1_s0", "real_only/f1_s0"):
        for metric in ("ap50/fire", "ap50_95/fire", "map50", "precision"):
            assert f"eval/{tag}/{metric}" in run.summary, (tag, metric)
        assert f"eval/{tag}/pr_curve/_type" in run.history_keys and f"eval/{tag}/confusion_matrix/_type" in run.history_keys
    assert len(run.media("pr_curve_*.png")) == len(run.media("confusion_matrix_*.png")) == 3
    # the console is captured, and W&B staged nothing outside the run dir
    assert "[3/3] real_only f=1 s=0" in (run.dir / "files" / "output.log").read_text()
    assert {"staging", "cache"} <= {p.name for p in (run_dir / "wandb").iterdir()}


def test_two_job_sweep_is_one_wandb_group_and_compares(tmp_path, tiny_model):
    sweep = tmp_path / "sweep"
    proc = run_idg(["--multirun", "experiment=smoke", "hydra/launcher=basic", f"hydra.sweep.dir={sweep}",
                    "study.arms=[syn_only]", "generate.num_images=4", "logger.num_pairs=0", "logger.table_rows=0",
                    f"generate.cache_dir={tmp_path}/cache", "inpaint.strength=0.5,1.0"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the backgrounds are generated once, by the first job, and read from the cache by the second
    jobs = [json.loads((sweep / str(job) / "metrics.json").read_text()) for job in (0, 1)]
    assert (jobs[0]["generate/backgrounds_generated"], jobs[0]["generate/backgrounds_from_cache"]) == (4, 0)
    assert (jobs[1]["generate/backgrounds_generated"], jobs[1]["generate/backgrounds_from_cache"]) == (0, 4)
    runs = [offline_runs(sweep / str(job))[0] for job in (0, 1)]
    (group,) = {r.group for r in runs}
    assert group.startswith("sweep@")  # the dir's name and the time the sweep started
    assert [r.config["sweep"]["values"] for r in runs] == [{"inpaint.strength": 0.5}, {"inpaint.strength": 1.0}]
    assert all(r.config["sweep"]["keys"] == ["inpaint.strength"] for r in runs)
    assert [r.config["inpaint"]["strength"] for r in runs] == [0.5, 1.0]

    out = subprocess.run([sys.executable, "-m", "idg.compare", str(sweep), "--format", "csv"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    metrics = [json.loads((sweep / str(job) / "metrics.json").read_text())["main_metric"] for job in (0, 1)]
    assert [(r["run"], r["inpaint.strength"]) for r in rows] == [("0", "0.5"), ("1", "1.0")]
    assert [float(r["main_metric (map50_95)"]) for r in rows] == metrics
    assert "eval/syn_only/f0/mean/map50" in rows[0]
    assert (sweep / "compare.png").stat().st_size > 0


def test_online_without_a_server_still_succeeds_and_keeps_the_data_offline(tmp_path, tiny_model):
    run_dir = tmp_path / "run"
    proc = run_idg(["experiment=smoke", "offline=false", "logger.mode=online", "stages=[generate]",
                    f"hydra.run.dir={run_dir}"], env={"WANDB_BASE_URL": "http://127.0.0.1:9"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run_dir / "run.log").read_text() if (run_dir / "run.log").is_file() else proc.stderr
    assert log.count("not reachable") == 1
    (run,) = offline_runs(run_dir)
    assert "generate/images" in run.history_keys and run.artifacts_of("dataset")
