"""Real data: read and validate a YOLO ``data.yaml`` at start-up and map its classes onto the synthetic ones.

Every problem is a DataError naming the file (and line). The real set is never modified: see
:mod:`idg.data.subsets` for the prepared copy in the run dir and the subsets per (fraction, seed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import yaml
from PIL import Image, UnidentifiedImageError

from idg.core.config import RealConfig
from idg.core.errors import DataError
from idg.data.yolo import IMG_SUFFIXES, label_path

log = logging.getLogger(__name__)

@dataclass
class LabelledImage:
    image: Path
    label: Path
    boxes: List[List[float]]  # [class_id (real), cx, cy, w, h]


@dataclass
class RealDataset:
    """A validated real dataset: its splits and how its classes map onto the synthetic classes."""

    yaml_path: Path
    names: List[str]
    splits: Dict[str, List[LabelledImage]]
    to_synthetic: Dict[int, int]  # real class id -> synthetic class id
    synthetic_names: List[str] = field(default_factory=list)

    def classes_in(self, item: LabelledImage) -> set:
        return {self.to_synthetic[int(b[0])] for b in item.boxes if int(b[0]) in self.to_synthetic}


def _names(data: dict, path: Path) -> List[str]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DataError(f"{path}: 'names' keys must be class ids (0, 1, ...)") from None
        if ids != list(range(len(ids))):
            raise DataError(f"{path}: 'names' ids must be 0..{len(ids) - 1}, got {ids}")
        return [str(names[k] if k in names else names[str(k)]) for k in ids]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise DataError(f"{path}: no 'names' (class names) list or mapping")


def _split_paths(data: dict, key: str, root: Path, path: Path) -> List[Path]:
    value = data.get(key)
    if value is None:
        raise DataError(f"{path}: no '{key}' split")
    out = []
    for item in value if isinstance(value, list) else [value]:
        p = Path(str(item)).expanduser()
        if not p.is_absolute():
            q = (root / p).resolve()
            # Roboflow exports write '../train/images'; Ultralytics retries without the '../'.
            if not q.exists() and str(item).startswith("../"):
                q = (root / str(item)[3:]).resolve()
            p = q
        if not p.exists():
            raise DataError(f"{path}: {key} split {item!r} not found (looked for {p})")
        out.append(p)
    return out


def _images(paths: List[Path], key: str, yaml_path: Path) -> List[Path]:
    images: List[Path] = []
    for p in paths:
        if p.is_dir():
            images += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMG_SUFFIXES and f.is_file())
        else:  # a txt list of image paths, relative to the list's folder
            for line in p.read_text().splitlines():
                line = line.strip()
                if line:
                    f = Path(line)
                    images.append(f if f.is_absolute() else (p.parent / f).resolve())
    if not images:
        raise DataError(f"{yaml_path}: the {key} split has no images ({', '.join(map(str, paths))})")
    return images


def _read_label(label: Path, nc: int) -> List[List[float]]:
    boxes = []
    for n, line in enumerate(label.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DataError(f"{label}, line {n}: expected 'class cx cy w h', got {line.strip()!r}")
        try:
            values = [float(v) for v in parts]
        except ValueError:
            raise DataError(f"{label}, line {n}: not numbers: {line.strip()!r}") from None
        cls = values[0]
        if cls != int(cls) or not 0 <= cls < nc:
            raise DataError(f"{label}, line {n}: class id {parts[0]} is out of range 0..{nc - 1}")
        cx, cy, w, h = values[1:]
        eps = 1e-6
        if not (0 - eps <= cx <= 1 + eps and 0 - eps <= cy <= 1 + eps and 0 < w <= 1 + eps and 0 < h <= 1 + eps):
            raise DataError(f"{label}, line {n}: box {parts[1:]} is outside [0, 1] (labels must be normalised)")
        if cx - w / 2 < -1e-3 or cx + w / 2 > 1 + 1e-3 or cy - h / 2 < -1e-3 or cy + h / 2 > 1 + 1e-3:
            raise DataError(f"{label}, line {n}: box {parts[1:]} extends outside the image")
        boxes.append(values)
    return boxes


def _check_image(image: Path) -> None:
    try:
        with Image.open(image) as im:
            im.verify()
        with Image.open(image) as im:  # verify() does not decode; a truncated file fails on load
            im.load()
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise DataError(f"{image}: corrupt or unreadable image ({exc})") from None


def class_mapping(real_names: Sequence[str], synthetic: Sequence[str], overrides: Dict[str, str], yaml_path: Path) -> Dict[int, int]:
    """Real class id -> synthetic class id: same name (case-insensitive), or as ``real.class_map`` says."""
    syn_index = {n.lower(): i for i, n in enumerate(synthetic)}
    real_lower = [n.lower() for n in real_names]
    for real, syn in overrides.items():
        if real.lower() not in real_lower:
            raise DataError(f"real.class_map names real class {real!r}, which {yaml_path} does not have ({', '.join(real_names)})")
        if syn.lower() not in syn_index:
            raise DataError(f"real.class_map maps {real!r} to {syn!r}, which is not a synthetic class ({', '.join(synthetic)})")
    lowered = {k.lower(): v.lower() for k, v in overrides.items()}
    mapping = {}
    for rid, name in enumerate(real_lower):
        target = lowered.get(name, name)
        if target in syn_index:
            mapping[rid] = syn_index[target]
    if not mapping:
        raise DataError(
            f"{yaml_path}: none of its classes ({', '.join(real_names)}) matches a synthetic class "
            f"({', '.join(synthetic)}); rename them or pass real.class_map='{{real_name: synthetic_name}}'"
        )
    unmapped = [real_names[i] for i in range(len(real_names)) if i not in mapping]
    if unmapped:
        log.warning("real classes without a synthetic counterpart are ignored: %s", ", ".join(unmapped))
    return mapping


def load_real(cfg: RealConfig, synthetic_names: Sequence[str]) -> RealDataset:
    """Read and validate ``cfg.data``; every problem raises DataError naming the file."""
    if not cfg.data:
        raise DataError("real.data is not set: pass real.data=<path/to/data.yaml> (YOLO layout)")
    path = Path(cfg.data).expanduser()
    if not path.is_file():
        raise DataError(f"real.data={cfg.data}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping with train, val and names")
    names = _names(data, path)
    root = Path(data["path"]).expanduser() if data.get("path") else path.parent
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    splits: Dict[str, List[LabelledImage]] = {}
    for key in ("train", "val"):
        items = []
        for image in _images(_split_paths(data, key, root, path), key, path):
            label = label_path(image)
            if not label.is_file():
                raise DataError(
                    f"{image}: no label file (expected {label}); write an empty .txt for an image without objects"
                )
            if cfg.check_images:
                _check_image(image)
            items.append(LabelledImage(image, label, _read_label(label, len(names))))
        splits[key] = items
    overlap = {i.image.resolve() for i in splits["train"]} & {i.image.resolve() for i in splits["val"]}
    if overlap:
        raise DataError(f"{path}: {len(overlap)} image(s) are in both train and val, e.g. {sorted(overlap)[0]}")
    mapping = class_mapping(names, synthetic_names, cfg.class_map, path)
    return RealDataset(path, names, splits, mapping, list(synthetic_names))
