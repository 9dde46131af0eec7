"""The scale-out paths run for real: generation shards through submitit (the SLURM launcher's machinery,
on this machine) and through a local Ray, each merged with ``idg.merge`` into the bytes of an unsharded
run; a job that starts twice (a SLURM requeue) meets the run-dir lock and resumes, never duplicates.

Before, both launchers were only composed (``--cfg hydra``). Reproduced then: a job refused with an
``idg: error:`` (its ``sys.exit(2)``) killed its Ray worker, which Ray retried three times and reported as
``WorkerCrashedError`` without the message; submitit reported it as an ``UncompletedJobError`` traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, TINY_GEN, dataset_bytes, run_idg
from idg.core.lock import DirLock

pytestmark = pytest.mark.slow

SHARDS = ["generate.num_shards=2", "generate.shard=0,1"]


def merge(sweep: Path, out: Path) -> Path:
    res = subprocess.run([sys.executable, "-m", "idg.merge", str(sweep), str(out)], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return out / "dataset"


def manifest_indices(run_dir: Path) -> list:
    return [json.loads(line)["index"] for line in (run_dir / "dataset" / "manifest.jsonl").read_text().splitlines()]


def test_shards_on_submitit_merge_to_the_unsharded_bytes_and_a_job_started_twice_resumes(tmp_path, tiny_generation):
    sweep = tmp_path / "sweep"
    command = ["-m", *TINY_GEN, "hydra/launcher=slurm_local", *SHARDS, f"hydra.sweep.dir={sweep}"]
    # 1. Shard 0's run dir is in use (a job of an earlier submission still running): that job is refused,
    #    shard 1 runs; the sweep reports the refused job as one idg: error and exit 2.
    (sweep / "0").mkdir(parents=True)
    with DirLock(sweep / "0"):
        first = run_idg(command, env={"HYDRA_FULL_ERROR": ""})
    assert first.returncode == 2, first.stderr[-3000:]
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("idg: error: ") and f"{sweep / '0'} is in use by pid {os.getpid()}" in last, first.stderr[-3000:]
    assert "Traceback" not in first.stderr and first.stderr.count("idg: error:") == 1
    assert sorted(manifest_indices(sweep / "1")) == [2, 3]
    # 2. Resubmitted (a requeue): shard 0 runs now, shard 1 starts a second time, finds its images and adds none.
    again = run_idg(command)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(manifest_indices(sweep / "1")) == [2, 3] and sorted(manifest_indices(sweep / "0")) == [0, 1]
    stats = json.loads((sweep / "1" / "dataset" / "generation.json").read_text())["stats"]
    assert (stats["images"], stats["images_skipped"]) == (0, 2)
    assert list((sweep / ".submitit").rglob("*_result.pkl"))  # the jobs really went through submitit
    merged = merge(sweep, tmp_path / "merged")
    assert dataset_bytes(merged) == dataset_bytes(tiny_generation / "dataset")


def test_shards_on_a_local_ray_merge_to_the_unsharded_bytes(tmp_path, tiny_generation):
    sweep = tmp_path / "sweep"
    ray_tmp = Path(tempfile.mkdtemp(prefix="idg-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    try:
        res = run_idg(["-m", *TINY_GEN, "hydra/launcher=ray_local", *SHARDS, f"hydra.sweep.dir={sweep}",
                       "+hydra.launcher.ray.init.num_cpus=2", f"+hydra.launcher.ray.init._temp_dir={ray_tmp}"],
                      env={"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        assert list(ray_tmp.glob("session_*"))  # the jobs really went through Ray
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert sorted(manifest_indices(sweep / "0")) == [0, 1] and sorted(manifest_indices(sweep / "1")) == [2, 3]
    merged = merge(sweep, tmp_path / "merged")
    assert dataset_bytes(merged) == dataset_bytes(tiny_generation / "dataset")
