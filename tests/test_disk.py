"""A full disk, free space at start-up, and the modes of written files.

Reproductions before the fixes: a run dir on a 64 KB tmpfs ended in an ``OSError: [Errno 28] No space left
on device`` traceback (exit 1; nothing was lost and the resume was identical, which must stay so); every
file idg wrote was mode 0600 (``mkstemp``'s mode survived the rename) and the tiny model's dir 0700, so a
dataset on a shared filesystem was unreadable to colleagues.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import time

import pytest

from conftest import REPO, TINY_GEN, dataset_bytes, make_config, run_idg, tmpfs
from idg.core.atomic import atomic_write_bytes, atomic_write_text
from idg.core.disk import disk_full_message, space_warnings


# ------------------------------------------------------------------------------------ the message


def test_a_full_disk_names_the_device_and_the_file_that_failed(tmp_path):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")  # write() names no file...
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(tmp_path / "a.png")) from exc  # ...idg.core.atomic does
    except OSError as first:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run.json"))  # recording the failure
        except OSError as later:
            later.__context__ = first
            message = disk_full_message(later)
    assert message.startswith("no space left on ") and f"while writing {tmp_path / 'a.png'}; " in message
    assert "free space and rerun the same command to resume" in message
    assert disk_full_message(OSError(errno.EDQUOT, "Disk quota exceeded", "x")).startswith("disk quota exceeded on ")
    assert disk_full_message(OSError(errno.EACCES, "Permission denied", "x")) is None
    assert disk_full_message(ValueError("no")) is None


def test_start_up_warns_when_the_images_will_not_fit(tmp_path, monkeypatch):
    import idg.core.disk as disk

    cfg = make_config([*TINY_GEN, "generate.num_images=1000"])
    assert space_warnings(cfg, tmp_path) == []  # plenty here
    monkeypatch.setattr(disk, "free_bytes", lambda path: 10_000_000)  # 10 MB free; 1000 x 64 x 64 x 3 = 12 MB
    warnings = space_warnings(cfg, tmp_path)
    assert warnings and "10.0 MB free, but 1000 images at 64 px and their cached backgrounds need about" in warnings[0]
    assert "rerunning the same command after freeing space resumes it" in warnings[0]


# ------------------------------------------------------------------------------------ a full disk for real


@pytest.mark.slow
def test_a_full_disk_stops_with_one_error_and_the_rerun_resumes_identically(tmp_path, tiny_generation):
    """A tmpfs that fills up while the run writes its images: exit 2 with the message, every finished image
    kept, and once space is freed the same command finishes a set identical to an uninterrupted run."""
    with tmpfs(tmp_path / "disk", "8m") as disk:
        run_dir = disk / "run"
        args = [sys.executable, "-m", "idg.run", *TINY_GEN, f"hydra.run.dir={run_dir}"]
        proc = subprocess.Popen(args, cwd=REPO, env={**os.environ, "HYDRA_FULL_ERROR": ""}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        manifest = run_dir / "dataset" / "manifest.jsonl"
        filler = disk / "filler"
        try:
            deadline = time.monotonic() + 600
            while proc.poll() is None and time.monotonic() < deadline:  # fill the disk once an image is done
                if manifest.is_file() and manifest.read_bytes().count(b"\n") >= 1:
                    break
                time.sleep(0.05)
            with open(filler, "wb", buffering=0) as fh:  # unbuffered: nothing left to flush at close
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
            _, stderr = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        last = stderr.strip().splitlines()[-1]  # (the model loaded, so library warnings may come before it)
        assert proc.returncode == 2, stderr[-3000:]
        assert last.startswith("idg: error: no space left on ") and stderr.count("idg: error:") == 1, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
        assert f"{disk} (tmpfs) while writing {run_dir}/" in last and "rerun the same command to resume" in last
        done = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert done and all((run_dir / "dataset" / r["image"]).is_file() for r in done)  # nothing finished lost
        kept = {r["image"]: (run_dir / "dataset" / r["image"]).read_bytes() for r in done}

        filler.unlink()  # space freed: the same command again
        res = run_idg([*TINY_GEN, f"hydra.run.dir={run_dir}"])
        assert res.returncode == 0, res.stderr[-3000:]
        assert dataset_bytes(run_dir / "dataset") == dataset_bytes(tiny_generation / "dataset")
        assert all((run_dir / "dataset" / k).read_bytes() == v for k, v in kept.items())


# ------------------------------------------------------------------------------------ file modes


def test_written_files_get_the_mode_of_a_plain_open_under_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with open(tmp_path / "b.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o640
    atomic_write_bytes(tmp_path / "a.txt", b"y")  # replacing keeps the process's umask, not the old file's mode
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~old


@pytest.mark.slow
def test_a_run_under_umask_022_writes_files_colleagues_can_read(tmp_path):
    """Everything a generation writes (run dir, background cache, the tiny model it builds) is 0644 / 0755
    under umask 022, as files made with open() and mkdir() would be."""
    cache = tmp_path / "cache"
    res = subprocess.run([sys.executable, "-m", "idg.run", *TINY_GEN, "generate.num_images=2",
                          f"hydra.run.dir={tmp_path}/run", f"generate.cache_dir={cache}"],
                         cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=900,
                         preexec_fn=lambda: os.umask(0o022))
    assert res.returncode == 0, res.stderr[-3000:]
    files = [p for root in (tmp_path / "run", cache) for p in root.rglob("*")]
    assert any(p.suffix == ".png" and "backgrounds" in p.parts for p in files)  # the cache was written
    assert any(p.name == "model_index.json" for p in files)  # and the tiny model built there
    wrong = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) != (0o755 if p.is_dir() else 0o644)}
    assert not wrong, wrong


@pytest.mark.slow
def test_a_whole_study_writes_every_file_with_the_umask_mode(smoke_run):
    """The smoke study (generation, Ultralytics trainings, W&B offline run) under this process's umask: no
    file or dir keeps a temp file's 0600 / 0700. W&B's artifact staging copies (``wandb/staging/``, in the run
    dir since W&B's staging was moved there) are W&B's own, made read-only (0400) on purpose so nothing changes
    them before upload; they are copies of files checked here."""
    mask = os.umask(0)
    os.umask(mask)
    staging = smoke_run / "wandb" / "staging"
    wrong = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in smoke_run.rglob("*") if not p.is_symlink()
             and staging not in p.parents and stat.S_IMODE(p.stat().st_mode) != (0o777 if p.is_dir() else 0o666) & ~mask}
    assert not wrong, wrong
