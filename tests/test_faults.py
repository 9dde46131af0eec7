"""One case per fault class through the real entrypoint, as a user meets it: ``python -m idg.run`` in a
subprocess, from an empty working dir with an empty ``$HOME``.

Each must end with exit status 2 and one ``idg: error:`` paragraph on stderr naming the key or file, write
nothing outside the dirs the command names (the working dir and ``$HOME`` stay empty), and lose nothing a
finished run left in its run dir. Reproduced before the fixes (same commands):

- ``hydra.run.dir=<a file>``: exit 1, ``FileExistsError`` from Hydra's mkdir; ``hydra.run.dir=''``: exit 0
  with the run written into the working dir; a run dir on a read-only filesystem: exit 1.
- ``generate.cache_dir=<below a file>`` / on a read-only filesystem: exit 1 after the model loaded;
  ``generate.cache_dir=''``: exit 0 and the tiny model built in ``/models``.
- ``classes.fire.aspect_ratio=[0.5,nan]``: exit 2 but "cannot convert float NaN to integer" (no key).
- a classes.csv with ``inf``: exit 1 (OverflowError); not UTF-8: exit 1 (UnicodeDecodeError); fractions
  among pixel sizes: exit 0 with 1 px boxes; every class ``count=[0, 0]``: a set without objects, trained on.
- a second run on a run dir in use: exit 0 and every image listed twice (see test_locks.py).

The full disk is in test_disk.py, the damaged journal in test_journal.py, the launchers in test_launchers.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from conftest import REPO, TINY_GEN, tmpfs
from idg.core.lock import DirLock

CLASSES_HEADER = "prompt,min_appear,max_appear,aspect_ratio_min,aspect_ratio_max,width_min,width_max,height_min,height_max\n"


def entry(tmp_path: Path, args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    full_env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "", **env}
    return subprocess.run([sys.executable, "-m", "idg.run", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=600)


def snapshot(run_dir: Path) -> Dict[str, bytes]:
    """What a finished run left: every file but Hydra's own (.hydra/, run.log), which each start rewrites."""
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and not p.relative_to(run_dir).as_posix().startswith((".hydra/", "run.log"))}


def csv_dataset(tmp: Path, classes: bytes) -> List[str]:
    (tmp / "backgrounds.csv").write_text("prompt,num_imgs\na forest,2\n")
    (tmp / "classes.csv").write_bytes(classes)
    return ["dataset=from_csv", f"dataset.backgrounds_csv={tmp}/backgrounds.csv", f"dataset.classes_csv={tmp}/classes.csv"]


# Each case: (tmp dir, finished run dir to point at) -> (overrides, environment, what stderr must say).
Case = Callable[[Path, Path], Tuple[List[str], Dict[str, str], str]]


def run_dir_is_a_file(t, run):
    (t / "file").write_text("x")
    return [f"hydra.run.dir={t}/file"], {}, f"hydra.run.dir={t}/file is a file, not a directory"


def run_dir_below_a_file(t, run):
    (t / "file").write_text("x")
    return [f"hydra.run.dir={t}/file/run"], {}, f"hydra.run.dir={t}/file/run cannot be created: {t}/file is a file"


def run_dir_empty(t, run):
    return ["hydra.run.dir=''"], {}, "hydra.run.dir is empty"


def run_dir_read_only(t, run):
    return [f"hydra.run.dir={t}/ro/run"], {}, f"hydra.run.dir={t}/ro/run is not writable (it is on a read-only filesystem)"


def cache_dir_below_a_file(t, run):
    (t / "file").write_text("x")
    return [f"hydra.run.dir={run}", f"generate.cache_dir={t}/file/cache"], {}, \
        f"generate.cache_dir={t}/file/cache cannot be created: {t}/file is a file"


def cache_dir_read_only(t, run):
    return [f"hydra.run.dir={run}", f"generate.cache_dir={t}/ro/cache"], {}, \
        f"generate.cache_dir={t}/ro/cache is not writable (it is on a read-only filesystem)"


def cache_dir_empty(t, run):
    return [f"hydra.run.dir={run}", "generate.cache_dir=''"], {}, "generate.cache_dir is empty"


def ultralytics_dir_is_a_file(t, run):
    (t / "file").write_text("x")
    return [f"hydra.run.dir={run}", "stages=[generate,train,evaluate]", "real=fire8_mini"], {"YOLO_CONFIG_DIR": f"{t}/file"}, \
        f"$YOLO_CONFIG_DIR={t}/file is a file"


def wandb_dir_empty(t, run):
    return [f"hydra.run.dir={run}", "logger=wandb"], {"WANDB_DATA_DIR": ""}, "$WANDB_DATA_DIR is set but empty"


def run_dir_in_use(t, run):
    return [f"hydra.run.dir={run}"], {}, f"{run} is in use by pid {os.getpid()}"


def non_finite_override(t, run):
    return [f"hydra.run.dir={run}", "classes.fire.aspect_ratio=[0.5,nan]"], {}, \
        "classes.fire.aspect_ratio=[0.5, nan]: nan is not a finite number"


def csv_not_utf8(t, run):
    args = csv_dataset(t, (CLASSES_HEADER + "a f\xe9u,1,2,0.5,2,10,40,10,40\n").encode("latin-1"))
    return [f"hydra.run.dir={run}", *args], {}, f"dataset.classes_csv={t}/classes.csv, line 2: not UTF-8 text (byte 0xe9)"


def csv_non_finite(t, run):
    args = csv_dataset(t, (CLASSES_HEADER + "a fire,1,2,0.5,2,10,40,10,40\na smoke,1,inf,0.5,2,10,40,10,40\n").encode())
    return [f"hydra.run.dir={run}", *args], {}, f"dataset.classes_csv={t}/classes.csv, line 3: column max_appear='inf' is not a finite number"


def csv_mixed_units(t, run):
    args = csv_dataset(t, (CLASSES_HEADER + "a fire,1,2,0.5,2,0.1,0.3,0.1,0.3\na smoke,1,2,0.5,2,20,40,20,40\n").encode())
    return [f"hydra.run.dir={run}", *args], {}, f"dataset.classes_csv={t}/classes.csv, line 2: width_min=0.1 is a fraction of the image"


def no_objects_at_all(t, run):
    return [f"hydra.run.dir={run}", "stages=[generate,train,evaluate]", "real=fire8_mini", "classes.fire.count=[0,0]"], {}, \
        "every class has count=[0, 0] (classes.fire.count)"


CASES: Dict[str, Case] = {f.__name__: f for f in (
    run_dir_is_a_file, run_dir_below_a_file, run_dir_empty, run_dir_read_only, cache_dir_below_a_file,
    cache_dir_read_only, cache_dir_empty, ultralytics_dir_is_a_file, wandb_dir_empty, run_dir_in_use,
    non_finite_override, csv_not_utf8, csv_non_finite, csv_mixed_units, no_objects_at_all,
)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_fault_ends_in_one_paragraph_exit_2_and_loses_nothing(tmp_path, tiny_generation, name):
    run = tmp_path / "finished_run"
    shutil.copytree(tiny_generation, run)
    before = snapshot(run)
    args, env, needle = CASES[name](tmp_path, run)
    if "read_only" in name:
        mount = tmpfs(tmp_path / "ro", "1m", read_only=True)
    elif name == "run_dir_in_use":
        mount = DirLock(run)  # another run holds it (this test process)
    else:
        mount = None
    if mount is not None:
        mount.__enter__()
    try:
        res = entry(tmp_path, [*TINY_GEN, *args], env)
    finally:
        if mount is not None:
            mount.__exit__(None, None, None)
    stderr = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, stderr[-3000:])
    assert stderr.startswith("idg: error: ") and stderr.count("idg: error:") == 1, stderr[-3000:]
    assert "\n" not in stderr and "Traceback" not in stderr, stderr[-3000:]  # one paragraph, nothing else
    assert needle in stderr, stderr
    assert not list((tmp_path / "cwd").iterdir()), "wrote into the working dir"
    assert not list((tmp_path / "home").iterdir()), "wrote into $HOME"
    assert snapshot(run) == before, "a finished run's outputs changed"
    assert not (tmp_path / "file").is_dir()
