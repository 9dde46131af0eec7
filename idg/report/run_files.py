"""The self-describing run dir: resolved config, run manifest, metrics and a sample grid.

Everything W&B shows is also here, so runs can be compared with ``python -m idg.compare`` and no W&B.
"""

from __future__ import annotations

import io
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, Sequence

import yaml
from PIL import Image, ImageDraw

from idg.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from idg.secrets import redact, redact_text

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def write_config(run_dir: Path, config: Dict[str, Any]) -> Path:
    return atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(redact(config), sort_keys=False))


def versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("idg", "torch", "diffusers", "transformers", "ultralytics", "hydra", "wandb"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional package is just not listed
            continue
    return out


class RunManifest:
    """``run.json``: command, versions, and per-stage status and timing, rewritten after every change."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "run.json"
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


def sample_grid(root: Path, records: Sequence[dict], names: Sequence[str], limit: int = 16, cell: int = 256) -> Image.Image:
    """A grid of generated images with their boxes and class names drawn on."""
    records = list(records)[:limit]
    cols = max(1, math.ceil(math.sqrt(len(records))))
    rows = max(1, math.ceil(len(records) / cols))
    grid = Image.new("RGB", (cols * cell, rows * cell), (32, 32, 32))
    for n, rec in enumerate(records):
        with Image.open(root / rec["image"]) as im:
            tile = im.convert("RGB").resize((cell, cell), Image.BILINEAR)
        s = cell / rec["width"]
        draw = ImageDraw.Draw(tile)
        for obj in rec["objects"]:
            x, y, w, h = obj["box"]
            color = PALETTE[obj["class_id"] % len(PALETTE)]
            draw.rectangle([x * s, y * s, (x + w) * s - 1, (y + h) * s - 1], outline=color, width=2)
            draw.text((x * s + 3, y * s + 2), obj["class"], fill=color)
        grid.paste(tile, ((n % cols) * cell, (n // cols) * cell))
    return grid


def write_sample_grid(run_dir: Path, root: Path, records: Sequence[dict], names: Sequence[str], limit: int = 16) -> Path:
    buf = io.BytesIO()
    sample_grid(root, records, names, limit).save(buf, format="PNG")
    return atomic_write_bytes(run_dir / "samples.png", buf.getvalue())


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed; safe in workers and CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Render ``fig`` to PNG and write it atomically to ``path``; closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_metrics(run_dir: Path, metrics: Dict[str, Any]) -> Path:
    """``metrics.json``: merged with what earlier attempts of this run wrote."""
    path = run_dir / "metrics.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    return atomic_write_json(path, {**previous, **metrics})
