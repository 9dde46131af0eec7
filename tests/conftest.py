"""Shared fixtures: an isolated, offline environment, composed configs, and one tiny model per session."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
FIRE8_MINI = REPO / "data" / "fire8_mini" / "data.yaml"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("idg")


@pytest.fixture(scope="session", autouse=True)
def offline_env(session_tmp: Path):
    """No test touches the network or writes into $HOME: every library's cache points into a temp dir (W&B's
    staging and artifact cache are idg's job: it puts them into each run dir)."""
    env = {
        "IDG_CACHE_DIR": str(session_tmp / "cache"),
        "HF_HOME": str(session_tmp / "hf"),
        "HF_HUB_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(session_tmp / "ultralytics"),
        "MPLCONFIGDIR": str(session_tmp / "mpl"),
        "WANDB_MODE": "offline",
        "WANDB_CONFIG_DIR": str(session_tmp / "wandb-config"),
        "WANDB_SILENT": "true",
        "TORCHINDUCTOR_CACHE_DIR": str(session_tmp / "inductor"),
        "TQDM_DISABLE": "1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def compose(overrides: Optional[List[str]] = None):
    """The composed DictConfig for ``overrides`` (Hydra's compose API over conf/)."""
    from hydra import compose as hydra_compose, initialize_config_dir

    from idg.core.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides or []))


def make_config(overrides: Optional[List[str]] = None):
    """The validated IdgConfig for ``overrides``."""
    from idg.pipeline import load_config

    return load_config(compose(overrides))


TINY = ["model=tiny", "offline=true", "stages=[generate]"]


@pytest.fixture(scope="session")
def tiny_model(session_tmp: Path) -> Path:
    """The tiny SDXL, built once per session where model=tiny looks for it."""
    from idg.models.tiny import ensure_tiny_sdxl

    cfg = make_config(TINY)
    return ensure_tiny_sdxl(os.path.expanduser(cfg.model.pretrained))


@pytest.fixture(scope="session")
def tiny_pipes(tiny_model):
    """Loaded tiny pipelines, shared by the tests that generate (loading costs ~0.5 s)."""
    from idg.models.diffusion import load_pipelines

    cfg = make_config(TINY)
    return load_pipelines(cfg.model, offline=True, batch_invariant="true")


def run_idg(args: List[str], cwd: Path = REPO, timeout: int = 900, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """``python -m idg.run <args>`` as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "idg.run", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, tiny_model) -> Path:
    """One ``experiment=smoke`` study through the entrypoint, shared read-only by the end-to-end tests
    (a test that changes it works on a copy)."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    res = run_idg(["experiment=smoke", f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # what the user saw, beside the run dir (tests/test_console.py reads it)
    (run_dir.parent / "stdout.txt").write_text(res.stdout)
    (run_dir.parent / "stderr.txt").write_text(res.stderr)
    return run_dir


# The cheapest generation that still has two batches (two shards): 4 images at 64 px, 2 per batch.
TINY_GEN = ["experiment=smoke", "stages=[generate]", "logger=none", "real=none", "generate.num_images=4",
            "generate.batch_size=2", "model.resolution=64", "model.native_resolution=32", "quality.shortcut_images=0"]


def dataset_bytes(root: Path) -> dict:
    """Every file of an export but generation.json (it holds timings) and its lock: what must be identical."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("generation.json", ".idg.lock")}


@pytest.fixture(scope="session")
def tiny_generation(tmp_path_factory, tiny_model) -> Path:
    """One uninterrupted, unsharded ``TINY_GEN`` run through the entrypoint: the reference the fault tests
    (concurrent runs, a full disk, a damaged journal, shards) must reproduce byte for byte. Read-only."""
    run_dir = tmp_path_factory.mktemp("tiny_generation") / "run"
    res = run_idg([*TINY_GEN, f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return run_dir


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False):
    """A small tmpfs mounted at ``path`` for the block (a full or read-only filesystem for real); skips the
    test unless it runs as root and may mount."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
