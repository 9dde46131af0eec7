"""Scale: sharded generation via the joblib launcher merges into the unsharded result; cache concurrency;
sweep and launcher configs compose (submitit and Ray run for real in test_launchers.py)."""

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, compose, run_idg

GEN = ["experiment=smoke", "stages=[generate]", "real=none", "generate.num_images=10", "generate.batch_size=2",
       "model.resolution=64", "model.native_resolution=32"]


def export_files(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "generation.json"}


@pytest.mark.slow
def test_two_shards_on_joblib_merge_to_the_unsharded_bytes(tmp_path):
    single = run_idg([*GEN, f"hydra.run.dir={tmp_path}/single"])
    assert single.returncode == 0, single.stderr[-3000:]
    sweep = run_idg(["-m", *GEN, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "generate.num_shards=2",
                     "generate.shard=0,1", f"hydra.sweep.dir={tmp_path}/sweep"])
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    shard_sizes = [len((tmp_path / "sweep" / str(i) / "dataset" / "manifest.jsonl").read_text().splitlines()) for i in (0, 1)]
    assert sorted(shard_sizes) == [4, 6] and sum(shard_sizes) == 10  # whole batches of 2, dealt round-robin
    merged = subprocess.run([sys.executable, "-m", "idg.merge", str(tmp_path / "sweep"), str(tmp_path / "merged")],
                            capture_output=True, text=True, cwd=REPO)
    assert merged.returncode == 0, merged.stderr
    assert export_files(tmp_path / "merged" / "dataset") == export_files(tmp_path / "single" / "dataset")
    # merging the same shards again into the same place needs --overwrite
    again = subprocess.run([sys.executable, "-m", "idg.merge", str(tmp_path / "sweep"), str(tmp_path / "merged")],
                           capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 2 and "--overwrite" in again.stderr


def _fake_shard(root: Path, shard: int, num_shards: int, indices, fingerprint="abc", status="complete"):
    ds = root / "dataset"
    for i in indices:
        (ds / "images" / "train").mkdir(parents=True, exist_ok=True)
        (ds / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (ds / "images" / "train" / f"{i:06d}.png").write_bytes(b"png%d" % i)
        (ds / "labels" / "train" / f"{i:06d}.txt").write_text("")
    (ds / "manifest.jsonl").write_text("".join(json.dumps(
        {"index": i, "image": f"images/train/{i:06d}.png", "label": f"labels/train/{i:06d}.txt", "split": "train",
         "width": 8, "height": 8, "objects": []}) + "\n" for i in indices))
    (ds / "generation.json").write_text(json.dumps(
        {"fingerprint": fingerprint, "status": status, "shard": shard, "num_shards": num_shards, "total_images": 4,
         "config": {"image_format": "png", "classes": {"fire": {}}}}))
    return root


@pytest.mark.parametrize(
    "shards, needle",
    [
        ([(0, 2, [0, 1]), (1, 2, [2])], "lack 1 image"),
        ([(0, 2, [0, 1]), (0, 2, [2, 3])], "exactly once"),
        ([(0, 2, [0, 1]), (1, 2, [1, 2, 3])], "in both"),
        ([(0, 2, [0, 1]), (1, 3, [2, 3])], "num_shards"),
    ],
)
def test_merge_rejects_inconsistent_shards(tmp_path, shards, needle):
    from idg.core.errors import DataError
    from idg.generate.merge import merge

    dirs = [_fake_shard(tmp_path / f"s{n}", s, k, idx) for n, (s, k, idx) in enumerate(shards)]
    with pytest.raises(DataError, match=needle):
        merge(dirs, tmp_path / "out")


def test_merge_rejects_other_configs_and_unfinished_shards(tmp_path):
    from idg.core.errors import DataError
    from idg.generate.merge import merge

    a = _fake_shard(tmp_path / "a", 0, 2, [0, 1])
    with pytest.raises(DataError, match="different config"):
        merge([a, _fake_shard(tmp_path / "b", 1, 2, [2, 3], fingerprint="other")], tmp_path / "out")
    with pytest.raises(DataError, match="not complete"):
        merge([a, _fake_shard(tmp_path / "c", 1, 2, [2, 3], status="running")], tmp_path / "out")


def _writer(args):
    cache_dir, seed = args
    from idg.generate.cache import BackgroundCache

    cache = BackgroundCache(cache_dir)
    rng = np.random.default_rng(0)  # every writer writes the same content for the same key
    images = {f"{k:064x}": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for k in range(20)}
    for key, img in images.items():
        cache.put(key, img)
        got = cache.get(key)
        assert got is not None and np.array_equal(got, img)
    return True


def test_concurrent_writers_do_not_corrupt_the_cache(tmp_path):
    from idg.generate.cache import BackgroundCache

    with mp.get_context("spawn").Pool(4) as pool:
        assert all(pool.map(_writer, [(str(tmp_path), s) for s in range(8)]))
    cache = BackgroundCache(tmp_path)
    files = list((tmp_path / "backgrounds").rglob("*"))
    assert not [f for f in files if f.name.endswith(".tmp")]
    rng = np.random.default_rng(0)
    for k in range(20):
        assert np.array_equal(cache.get(f"{k:064x}"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))


@pytest.mark.parametrize("experiment", ["sweep_inpaint", "sweep_mask", "sweep_sampler", "sweep_num_images", "sweep_smoke"])
def test_sweep_experiments_compose(experiment):
    cfg = compose([f"experiment={experiment}"])
    assert cfg.inpaint.strength > 0


def test_launcher_configs_compose():
    for launcher, needle in (("joblib", "n_jobs"), ("slurm", "gpus_per_node: 1"), ("ray_gpu", "num_gpus: 1"),
                             ("slurm_local", "LocalLauncher"), ("ray_local", "num_gpus: 0")):
        res = run_idg([f"hydra/launcher={launcher}", "--cfg", "hydra"], timeout=120)
        if launcher != "joblib" and res.returncode != 0 and "Could not find 'hydra/launcher/" in res.stderr:
            pytest.fail(f"hydra/launcher={launcher}: its Hydra plugin is not installed ({res.stderr[-500:]})")
        assert res.returncode == 0, res.stderr[-2000:]
        assert needle in res.stdout


@pytest.mark.slow
def test_optuna_sweeper_optimises_the_study_metric(tmp_path):
    res = run_idg(["-m", "experiment=smoke", "hparams_search=optuna_inpaint", "hydra.sweeper.n_trials=2",
                   "study.arms=[syn_then_real]", f"hydra.sweep.dir={tmp_path}/opt"])
    assert res.returncode == 0, res.stderr[-3000:]
    import yaml

    result = yaml.safe_load((tmp_path / "opt" / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {"inpaint.strength", "inpaint.steps", "inpaint.feather", "inpaint.context"}
    values = [json.loads((tmp_path / "opt" / str(i) / "metrics.json").read_text())["main_metric"] for i in (0, 1)]
    assert result["best_value"] == max(values)
