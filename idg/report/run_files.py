"""The self-describing run dir: resolved config (``config.yaml``), run record (``run.json``: command,
versions, per-stage status and timing) and ``metrics.json``.

Everything W&B shows is also here, so runs can be compared with ``python -m idg.compare`` and no W&B.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict

import yaml

from idg.core.atomic import atomic_write_json, atomic_write_text
from idg.core.layout import RunLayout
from idg.core.secrets import redact, redact_text


def write_config(run_dir: Path, config: Dict[str, Any]) -> Path:
    return atomic_write_text(RunLayout(Path(run_dir)).config, yaml.safe_dump(redact(config), sort_keys=False))


VERSIONED = {"idg": "idg", "torch": "torch", "diffusers": "diffusers", "transformers": "transformers",
             "ultralytics": "ultralytics", "hydra": "hydra-core", "wandb": "wandb"}  # name in run.json -> distribution


def versions() -> Dict[str, str]:
    """Versions of Python and the libraries a study runs on, from the installed distributions' metadata.

    Read without importing them: importing Ultralytics writes its settings file before idg has pointed
    ``YOLO_CONFIG_DIR`` at its own cache (a generate-only run never does), and importing torch takes seconds."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name, dist in VERSIONED.items():
        try:
            out[name] = version(dist)
        except PackageNotFoundError:  # a missing optional package is just not listed
            continue
    return out


class RunManifest:
    """``run.json``: command, versions, and per-stage status and timing, rewritten after every change."""

    def __init__(self, run_dir: Path):
        self.path = RunLayout(Path(run_dir)).run_json
        previous = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.data = {
            "command": redact_text(" ".join(sys.argv)),
            "versions": versions(),
            "attempts": previous.get("attempts", 0) + 1,
            "stages": previous.get("stages", {}),
            "status": "running",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def stage(self, name: str, status: str, **info: Any) -> None:
        self.data["stages"][name] = {"status": status, **info}
        self.save()

    def finish(self, status: str) -> None:
        self.data["status"] = status
        self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.save()


def write_metrics(run_dir: Path, metrics: Dict[str, Any]) -> Path:
    """``metrics.json``: merged with what earlier attempts of this run wrote."""
    path = RunLayout(Path(run_dir)).metrics
    previous = json.loads(path.read_text()) if path.is_file() else {}
    return atomic_write_json(path, {**previous, **metrics})
