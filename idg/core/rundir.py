"""Guards of the run dir: it must be writable, and earlier outputs are never silently replaced.

``resume=true`` (the default) continues a run: each output is reused only when it was made from the same
inputs (see :mod:`idg.core.keyed`). ``resume=false`` promises a fresh start: earlier outputs of the selected
stages (the stage table's ``writes``) are an error unless ``overwrite=true``, which deletes them once every
start-up check has passed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, List

from idg.core.errors import RunDirError
from idg.core.layout import RunLayout
from idg.core.stages import stage_outputs

if TYPE_CHECKING:
    from idg.core.config import IdgConfig

log = logging.getLogger(__name__)


def check_run_dir(run_dir: Path, key: str = "hydra.run.dir") -> None:
    """The run dir is a directory this process can write (created if missing)."""
    from idg.core.paths import check_dir

    check_dir(run_dir, key, f"set {key} to a writable directory")


def previous_outputs(cfg: "IdgConfig", run_dir: Path) -> List[Path]:
    """Outputs of this run's stages that an earlier run left in ``run_dir``."""
    run = RunLayout(Path(run_dir))
    return [p for stage in cfg.stages for p in run.entries(stage_outputs(stage)) if p.exists()]


def check_previous_run(cfg: "IdgConfig", run_dir: Path) -> None:
    """``resume=false`` without ``overwrite=true``: earlier outputs of the selected stages are an error."""
    if cfg.resume or cfg.overwrite:
        return
    found = previous_outputs(cfg, run_dir)
    if found:
        raise RunDirError(
            f"{run_dir} already holds outputs of stages={list(cfg.stages)} ({', '.join(p.name for p in found)}) and "
            f"resume=false; pass overwrite=true to delete and redo them, resume=true to continue that run, or choose "
            f"another hydra.run.dir"
        )


def clear_previous_outputs(cfg: "IdgConfig", run_dir: Path) -> None:
    """``resume=false overwrite=true``: delete the selected stages' earlier outputs."""
    if cfg.resume or not cfg.overwrite:
        return
    for path in previous_outputs(cfg, run_dir):
        log.warning("resume=false overwrite=true: deleting %s", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
