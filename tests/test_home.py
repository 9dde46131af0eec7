"""Nothing is written outside the run dir and the caches the README names: a generate-only run and a smoke
study with ``HOME`` pointed at an empty dir, every library cache variable unset (as on a fresh machine)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

# what the test environment points into temp dirs; a user's shell has none of them
UNSET = ("YOLO_CONFIG_DIR", "MPLCONFIGDIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR",
         "HF_HOME", "TORCHINDUCTOR_CACHE_DIR", "IDG_CACHE_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")
ALLOWED = (".cache/idg/",)  # generate.cache_dir's default (README: backgrounds, built models, library settings)


def test_runs_write_only_into_the_run_dir_and_the_idg_cache(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))  # this checkout's idg, run from elsewhere
    runs = {"gen": ["experiment=smoke", "real=none", "stages=[generate]", "generate.num_images=2"],
            "study": ["experiment=smoke"]}
    for name, args in runs.items():
        res = subprocess.run([sys.executable, "-m", "idg.run", *args, f"hydra.run.dir={project / name}"], cwd=project,
                             env=env, capture_output=True, text=True, timeout=1200)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    written = sorted(p.relative_to(home).as_posix() + ("/" if p.is_dir() else "") for p in home.rglob("*"))
    outside = [p for p in written if not p.startswith(ALLOWED) and p.rstrip("/") + "/" not in (".cache/", ".cache/idg/")]
    assert not outside, outside
    assert any(p.startswith(".cache/idg/ultralytics/") for p in written)  # its settings file, not ~/.config
    assert sorted(p.name for p in project.iterdir()) == ["gen", "study"]  # no ./runs, ./wandb or ./outputs
