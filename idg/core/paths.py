"""Every directory idg writes, checked at start-up: a bad path fails in the first second, naming its key.

A study writes into more places than its run dir: the background cache and built tiny models
(``generate.cache_dir``), Ultralytics' settings (``$YOLO_CONFIG_DIR``, else ``<cache_dir>/ultralytics``) and,
when set, W&B's own dirs (``$WANDB_CACHE_DIR``, ...). Each must be a directory (or creatable as one) that this
process can write. Without the check, a cache dir below a file or on a read-only filesystem failed with a
traceback after a minute of work, an empty cache dir built a model in ``/models``, and an empty run dir
wrote a run into the current directory (the source checkout, say).

:func:`check_paths` runs with the other start-up checks, before any model loads. Hydra creates the run dir
(and writes ``.hydra/``) before idg's code runs, so :class:`OutputDirCheck`, a Hydra callback registered in
``conf/config.yaml``, checks ``hydra.run.dir`` / ``hydra.sweep.dir`` first.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from idg.core.errors import ConfigError, IdgError, RunDirError, UserErrorEscape

if TYPE_CHECKING:
    from idg.core.config import IdgConfig

# Environment variables naming dirs that W&B writes (a set one must be usable; unset ones use W&B's defaults).
WANDB_DIR_VARS = ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR")


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of ``path`` (itself included) that exists."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def check_dir(path: Any, key: str, hint: str = "") -> Path:
    """``path`` (the value of ``key``) as a writable directory, created if missing; else one clear error.

    Refuses an empty path, an existing file, a path below a file, and a place this process cannot write
    (permissions, a read-only filesystem, a full disk), trying a real write rather than trusting ``access``
    (which says yes to root on a read-only NFS export)."""
    hint = f"; {hint}" if hint else ""
    if path is None or not str(path).strip():
        raise ConfigError(f"{key} is empty (an empty path means the current directory){hint or '; give a directory'}")
    given = str(path)
    p = Path(os.path.expanduser(given))
    if p.exists() and not p.is_dir():
        raise RunDirError(f"{key}={given} is a file, not a directory{hint}")
    ancestor = _existing_ancestor(p)
    if ancestor != p and not ancestor.is_dir():
        raise RunDirError(f"{key}={given} cannot be created: {ancestor} is a file, not a directory{hint}")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".idg-write-test.", suffix=".tmp", dir=p)  # swept if left
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        from idg.core.disk import DISK_FULL, disk_full_message

        if exc.errno in DISK_FULL:
            raise RunDirError(f"{key}={given}: {disk_full_message(exc, p)}") from None
        why = exc.strerror or str(exc)
        if exc.errno == errno.EROFS:
            why = "it is on a read-only filesystem"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            why = f"permission denied for user {_user()}"
        raise RunDirError(f"{key}={given} is not writable ({why}){hint}") from None
    return p


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def env_dir(var: str) -> Optional[str]:
    """The value of ``$var`` when it is set (an empty value is an error: libraries read it as the current
    directory)."""
    value = os.environ.get(var)
    if value is not None and not value.strip():
        raise ConfigError(f"${var} is set but empty; unset it or give it a directory path")
    return value


def ultralytics_dir(cfg: "IdgConfig") -> Tuple[str, Path]:
    """Where Ultralytics keeps its settings for this run, and the key that names it."""
    value = env_dir("YOLO_CONFIG_DIR")
    if value is not None:
        return "$YOLO_CONFIG_DIR", Path(os.path.expanduser(value))
    return "generate.cache_dir", Path(cfg.generate.cache_dir) / "ultralytics"


def needs_ultralytics(cfg: "IdgConfig") -> bool:
    """Whether any selected stage runs Ultralytics (training, evaluation, or the detector verifier)."""
    diffusion = "generate" in cfg.stages and "diffusion" in cfg.generators
    return "train" in cfg.stages or "evaluate" in cfg.stages or (diffusion and cfg.verify.name == "detector")


def run_dir_key(cfg: "IdgConfig") -> str:
    return "run_dir" if cfg.run_dir else "hydra.run.dir"


def dirs_to_write(cfg: "IdgConfig", run_dir: Path) -> List[Tuple[str, Path, str]]:
    """``(key, dir, hint)`` for every directory this run will write, given its stages and settings."""
    dirs = [(run_dir_key(cfg), Path(run_dir), "set hydra.run.dir to a writable directory")]
    cache_hint = "set generate.cache_dir to a writable directory (it holds the background cache and built models)"
    if "generate" in cfg.stages and cfg.generate.use_cache:
        dirs.append(("generate.cache_dir", Path(cfg.generate.cache_dir), cache_hint))
    inpaint_model = getattr(cfg, "inpaint_model", None)
    for key, node in (("model", cfg.model), ("inpaint_model", inpaint_model)):
        if "generate" not in cfg.stages or node is None or not node.build_tiny or not node.pretrained:
            continue
        pretrained = Path(os.path.expanduser(node.pretrained))
        if not (pretrained / "model_index.json").is_file():
            dirs.append((f"{key}.pretrained={node.pretrained}: its parent", pretrained.parent,
                         f"the tiny model is built there; set generate.cache_dir (or {key}.pretrained) to a writable place"))
    if needs_ultralytics(cfg):
        key, path = ultralytics_dir(cfg)
        dirs.append((key if key.startswith("$") else f"{key} (its ultralytics/ settings dir)", path,
                     "Ultralytics keeps its settings there; point $YOLO_CONFIG_DIR at a writable directory"))
    if cfg.logger.name != "none" and cfg.logger.mode != "disabled":
        for var in WANDB_DIR_VARS:
            value = env_dir(var)
            if value is not None:
                dirs.append((f"${var}", Path(os.path.expanduser(value)), f"W&B writes there; unset ${var} or fix it"))
    return dirs


def check_paths(cfg: "IdgConfig", run_dir: Path) -> None:
    """Every directory of :func:`dirs_to_write` exists (or is created) and is writable."""
    for key, path, hint in dirs_to_write(cfg, run_dir):
        check_dir(path, key, hint)


try:  # Hydra is a dependency; the callback base class lives in its public (experimental) API
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object


class OutputDirCheck(_HydraCallback):
    """Hydra callback: refuse an empty, file or unwritable ``hydra.run.dir`` / ``hydra.sweep.dir`` before
    Hydra creates it (its own ``mkdir`` would fail with a traceback, or an empty path would put the run into
    the current directory)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: Any, key: str) -> None:
        from omegaconf import OmegaConf

        try:
            check_dir(OmegaConf.select(config, key), key, f"set {key} to a writable directory")
        except IdgError as exc:
            raise UserErrorEscape(exc) from None
