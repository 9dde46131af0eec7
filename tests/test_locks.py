"""One writer per run dir, and a background cache shared by concurrent writers.

Reproduction (before the lock): two identical ``stages=[generate]`` runs started a second apart on one
``hydra.run.dir`` both exited 0 and ``manifest.jsonl`` listed every image twice (8 lines for 4 images).
Now the second is refused at start-up naming the first one's pid, and the first finishes as if alone.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, TINY_GEN, dataset_bytes, run_idg
from idg.core.errors import RunDirError
from idg.core.lock import LOCK_NAME, DirLock

HOLD = "import sys, time; from idg.core.lock import DirLock; l = DirLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)"


# ------------------------------------------------------------------------------------ the lock


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    with DirLock(tmp_path):
        with pytest.raises(RunDirError) as info:
            DirLock(tmp_path).acquire()
    assert f"{tmp_path} is in use by pid {os.getpid()}" in str(info.value)
    assert "choose another hydra.run.dir" in str(info.value)
    assert not (tmp_path / LOCK_NAME).exists()  # a clean release removes the lock file
    with DirLock(tmp_path):  # and the dir can be taken again
        pass


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    """SIGKILL leaves the lock file behind, but no lock on it: the next run takes it (a SLURM requeue)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"in use by pid {holder.pid}"):
            DirLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    assert (tmp_path / LOCK_NAME).exists()
    with DirLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_lock_released_while_another_waits_on_its_file_is_never_held_twice(tmp_path, monkeypatch):
    """A run opens the lock file just before its holder releases it (the holder unlinks it, then unlocks):
    locking that old file must not count as holding the dir; the run notices and takes the new file."""
    import idg.core.lock as lock

    first = DirLock(tmp_path).acquire()
    stale = os.open(tmp_path / LOCK_NAME, os.O_RDWR)  # opened while first still held it
    first.release()
    real_open, calls = os.open, []

    def open_the_stale_file_first(*args, **kwargs):
        calls.append(args[0])
        return stale if len(calls) == 1 else real_open(*args, **kwargs)

    monkeypatch.setattr(lock.os, "open", open_the_stale_file_first)
    second = DirLock(tmp_path).acquire()
    monkeypatch.undo()
    try:
        assert len(calls) == 2  # the stale file was locked, found unlinked, dropped; the new one taken
        with pytest.raises(OSError):
            os.fstat(stale)  # closed by acquire
        with pytest.raises(RunDirError, match=f"in use by pid {os.getpid()}"):
            DirLock(tmp_path).acquire()
    finally:
        second.release()


# ------------------------------------------------------------------------------------ two runs at once


@pytest.mark.slow
def test_two_runs_on_one_run_dir_the_second_is_refused_and_the_first_finishes_unharmed(tmp_path, tiny_generation):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "idg.run", *TINY_GEN, f"hydra.run.dir={run_dir}"]
    first = subprocess.Popen(args, cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and first.poll() is None:  # wait until the first run holds the dir
            try:
                if json.loads((run_dir / LOCK_NAME).read_text()).get("pid") == first.pid:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        assert first.poll() is None, "the first run ended before the second could start"
        second = run_idg([*TINY_GEN, f"hydra.run.dir={run_dir}"], env={"HYDRA_FULL_ERROR": ""})
        assert second.returncode == 2, second.stderr[-3000:]
        stderr = second.stderr.strip()
        assert stderr.startswith("idg: error: ") and "\n" not in stderr and "Traceback" not in stderr, stderr
        assert f"{run_dir} is in use by pid {first.pid}" in stderr
        _, err = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    assert dataset_bytes(run_dir / "dataset") == dataset_bytes(tiny_generation / "dataset")  # as if alone
    assert len((run_dir / "dataset" / "manifest.jsonl").read_text().splitlines()) == 4
    assert not (run_dir / LOCK_NAME).exists()


# ------------------------------------------------------------------------------------ the shared cache


def _cache_writer(args):
    """One job of a sweep writing the same keys as the others, each with its own pixels (as jobs on another
    device would): returns what it read back right after each of its writes."""
    cache_dir, writer, keys = args
    from idg.generate.cache import BackgroundCache

    cache = BackgroundCache(cache_dir)
    rng = np.random.default_rng(writer)
    images = {key: rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for key in keys}
    (Path(cache_dir) / f"ready-{writer}").touch()
    while not (Path(cache_dir) / "go").exists():  # all writers start together, so they race for each key
        time.sleep(0.001)
    seen = {}
    for key in keys:
        cache.put(key, images[key])
        seen[key] = cache.get(key).tobytes()
    return seen


def _cache_reader(args):
    """Reads every key over and over while the writers run: an entry is either absent or complete."""
    cache_dir, keys, seconds = args
    from idg.generate.cache import BackgroundCache

    cache = BackgroundCache(cache_dir)
    reads, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        for key in keys:
            img = cache.get(key)
            if img is not None:
                assert img.shape == (48, 48, 3)
                reads += 1
    return reads


def test_concurrent_writers_of_one_key_all_read_the_first_complete_entry(tmp_path):
    """Write-once: the first complete write of a key wins, later writers never replace it, so every job
    reads the same bytes for a key; readers take no lock and never see a partial file."""
    from idg.generate.cache import BackgroundCache

    keys = [f"{k:064x}" for k in range(12)]
    writers = 5
    ctx = mp.get_context("spawn")
    with ctx.Pool(writers + 1) as pool:
        reader = pool.apply_async(_cache_reader, [(str(tmp_path), keys, 5.0)])
        result = pool.map_async(_cache_writer, [(str(tmp_path), w, keys) for w in range(writers)])
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < writers and time.monotonic() < deadline:
            time.sleep(0.01)
        (tmp_path / "go").touch()
        seen = result.get(timeout=120)
        assert reader.get(timeout=120) > 0
    cache = BackgroundCache(tmp_path)
    for key in keys:
        final = cache.get(key).tobytes()
        assert all(s[key] == final for s in seen), f"{key}: a job read other bytes than the cache holds"
    assert not [p for p in (tmp_path / "backgrounds").rglob("*") if p.name.endswith(".tmp")]
