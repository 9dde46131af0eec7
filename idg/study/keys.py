"""What a training or an evaluation depends on: keys that make reruns skip finished work and refuse stale
weights (see :mod:`idg.core.keyed`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import yaml

from idg.core.config import DetectorConfig
from idg.core.hashing import content_hash
from idg.data.yolo import IMG_SUFFIXES, label_path


def data_key(yaml_path: Path, splits: Sequence[str] = ("train", "val")) -> str:
    """What a detector sees through a data.yaml: class names and, per split, each image (name and size)
    with its label text. Cheap (labels are small) and independent of where the run dir lives."""
    doc = yaml.safe_load(Path(yaml_path).read_text())
    root = Path(doc["path"]) if doc.get("path") else Path(yaml_path).parent
    h = hashlib.sha256(json.dumps(doc.get("names"), sort_keys=True, default=str).encode())
    for split in splits:
        entries = doc.get(split) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            path = Path(entry) if Path(entry).is_absolute() else root / entry
            if path.is_dir():
                images = sorted(f for f in path.iterdir() if f.suffix.lower() in IMG_SUFFIXES)
            else:
                images = [Path(line.strip()) for line in path.read_text().splitlines() if line.strip()]
            for image in images:
                label = label_path(image)
                h.update(f"{split}|{image.name}|{image.stat().st_size}|".encode())
                h.update(label.read_bytes() if label.is_file() else b"-")
    return h.hexdigest()[:16]


def model_key(model: str) -> str:
    """A detector init: an architecture name, or a checkpoint file (name and size)."""
    path = Path(model).expanduser()
    return f"{path.name}:{path.stat().st_size}" if model.endswith(".pt") and path.is_file() else model


def training_key(init_key: str, data: Path, epochs: int, seed: int, det: DetectorConfig) -> str:
    settings = {k: v for k, v in asdict(det).items() if k not in ("workers", "epochs", "finetune_epochs", "model", "verbose")}
    return content_hash({"init": init_key, "data": data_key(data), "epochs": epochs, "seed": seed, "detector": settings})
