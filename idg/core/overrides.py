"""Hydra command-line overrides: which config keys a ``--multirun`` sweep varies, and each job's values.

A sweep's original overrides (``inpaint.strength=0.5,0.9``) are in ``<sweep dir>/multirun.yaml``; each job's
concrete ones (``inpaint.strength=0.5``) in ``<job dir>/.hydra/overrides.yaml``. Both the W&B logger (the
swept keys go into every run's config) and ``python -m idg.compare`` read them through this module.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from idg.core.errors import DataError


def _parse(overrides: Sequence[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as exc:  # noqa: BLE001 - Hydra's grammar errors: name the overrides in ours
        raise DataError(f"cannot parse Hydra overrides {list(overrides)}: {str(exc).splitlines()[0]}") from None


def _is_hydra(key: str) -> bool:
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def swept_keys(overrides: Sequence[str]) -> List[str]:
    """Keys given sweep syntax (``a=1,2``, ``range(...)``, ``choice(...)``), in command-line order."""
    return [o.key_or_group for o in _parse(overrides) if o.is_sweep_override() and not _is_hydra(o.key_or_group)]


def assignments(overrides: Sequence[str]) -> Dict[str, Any]:
    """``key -> value`` of one job's overrides (Hydra's own ``hydra.*`` keys and deletions left out)."""
    out: Dict[str, Any] = {}
    for o in _parse(overrides):
        if _is_hydra(o.key_or_group) or o.is_delete() or o.is_sweep_override():
            continue
        out[o.key_or_group] = o.value()
    return out


def read_overrides(path: Path) -> List[str]:
    """A Hydra ``overrides.yaml`` (a YAML list of strings); empty when the file is absent."""
    import yaml

    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or []
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of Hydra overrides, got {type(data).__name__}")
    return [str(x) for x in data]


def multirun_swept_keys(sweep_dir: Path) -> List[str]:
    """The keys a sweep varies, from ``<sweep_dir>/multirun.yaml`` (empty when the file is absent, e.g.
    for sweepers that take their search space from the config instead of the command line)."""
    from omegaconf import OmegaConf

    path = Path(sweep_dir) / "multirun.yaml"
    if not path.is_file():
        return []
    task = OmegaConf.select(OmegaConf.load(path), "hydra.overrides.task", default=None) or []
    return swept_keys([str(x) for x in task])


STAMPED = re.compile(r"\d{4}-\d{2}-\d{2}\D+\d{2}[-:]\d{2}[-:]\d{2}")  # a date and a time, as Hydra's ${now:...} dirs


def sweep_stamp(sweep_dir: str | os.PathLike) -> Optional[str]:
    """When the sweep started: the time Hydra wrote its ``multirun.yaml`` (rewritten by every sweep into the
    dir, so two sweeps into one dir differ); None without that file."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not path.is_file():
        return None
    return time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(path.stat().st_mtime))


def group_name(sweep_dir: str | os.PathLike, cwd: Optional[Path] = None) -> str:
    """W&B group of a sweep: its dir relative to the working dir (the dir's own name when it lies elsewhere)
    plus, unless the dir is already named by date and time (``multirun/forest_fire/2026-11-25_10-00-00``,
    the default), ``@<time the sweep started>`` (:func:`sweep_stamp`), so two sweeps into dirs of one name
    are two groups. At most 128 characters, W&B's limit (the start is cut)."""
    path = Path(sweep_dir).resolve()
    try:
        name = path.relative_to((cwd or Path.cwd()).resolve()).as_posix()
    except ValueError:
        name = path.name
    name = name or path.name
    stamp = None if STAMPED.search(name) else sweep_stamp(path)
    return (f"{name}@{stamp}" if stamp else name)[-128:]


def sweep_info(sweep_dir: str | os.PathLike, job_num: int, job_overrides: Sequence[str]) -> Dict[str, Any]:
    """What a sweep job adds to its W&B config: the group name, the swept keys and this job's values.

    Keys declared with sweep syntax in multirun.yaml are the swept ones; without that file every override
    of the job counts (sweepers that read their search space from the config)."""
    job = assignments(job_overrides)
    keys = multirun_swept_keys(Path(sweep_dir)) or list(job)
    return {
        "name": group_name(sweep_dir),
        "dir": str(Path(sweep_dir).resolve()),
        "job": int(job_num),
        "keys": keys,
        "values": {k: job.get(k) for k in keys},
    }


def label(values: Dict[str, Any], limit: int = 80) -> str:
    """``k=v,k2=v2`` for run names (cut at ``limit`` characters)."""
    text = ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items())
    return text[:limit]
