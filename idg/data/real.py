"""Real data: read and validate a YOLO ``data.yaml`` (or COCO JSON, :mod:`idg.data.coco_import`) at
start-up and map its classes onto the synthetic ones.

Splits ``train`` and ``val`` are required, ``test`` is optional (the split nobody tunes on: the study
evaluates every arm on it too). Labels are read as Ultralytics reads them (:mod:`idg.data.labels`: label-less
images are backgrounds, polygons become boxes, boxes past the edge are clipped, each counted and reported
once); every genuine problem is a DataError naming the file (and line). The real set is never modified: see
:mod:`idg.data.subsets` for the prepared copy in the run dir and the subsets per (fraction, seed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from idg.core.config import RealConfig
from idg.core.errors import DataError
from idg.data.labels import LabelledImage, ReadNotes, check_image, read_label, read_text
from idg.data.yolo import IMG_SUFFIXES, label_path

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")  # test is optional


@dataclass
class RealDataset:
    """A validated real dataset: its splits and how its classes map onto the synthetic classes."""

    yaml_path: Path
    names: List[str]
    splits: Dict[str, List[LabelledImage]]
    to_synthetic: Dict[int, int]  # real class id -> synthetic class id
    synthetic_names: List[str] = field(default_factory=list)
    notes: ReadNotes = field(default_factory=ReadNotes)  # what was read the lenient way (Ultralytics' rules)

    @property
    def has_test(self) -> bool:
        return "test" in self.splits

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


def _split_paths(value, key: str, root: Path, path: Path) -> List[Path]:
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
        if p.is_file() and p.suffix.lower() in IMG_SUFFIXES:
            raise DataError(f"{path}: {key} split {item!r} is an image file; give a folder of images or a .txt "
                            f"file listing image paths (one per line)")
        out.append(p)
    return out


def _images(paths: List[Path], key: str, yaml_path: Path) -> List[Path]:
    images: List[Path] = []
    for p in paths:
        if p.is_dir():
            images += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMG_SUFFIXES and f.is_file())
            continue
        # a txt list of image paths, relative to the list's folder
        for n, line in enumerate(read_text(p, f"{key} split list").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            f = Path(line).expanduser()
            f = f if f.is_absolute() else (p.parent / f).resolve()
            if f.suffix.lower() not in IMG_SUFFIXES:
                raise DataError(f"{p}, line {n}: {line!r} is not an image file ({', '.join(sorted(IMG_SUFFIXES))})")
            if not f.is_file():
                raise DataError(f"{p}, line {n}: image {f} not found")
            images.append(f)
    if not images:
        raise DataError(f"{yaml_path}: the {key} split has no images ({', '.join(map(str, paths))})")
    return images


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


def read_yolo_splits(path: Path, data: dict, nc: int, check_images: bool, test: Optional[str],
                     notes: ReadNotes) -> Dict[str, List[LabelledImage]]:
    """The labelled images of each split of a YOLO data.yaml (``test`` optional; ``real.test`` adds or
    replaces it)."""
    root = Path(data["path"]).expanduser() if data.get("path") else path.parent
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    values = {key: data.get(key) for key in SPLITS}
    if test:
        values["test"] = test
    splits: Dict[str, List[LabelledImage]] = {}
    for key in SPLITS:
        if values[key] is None:
            if key == "test":
                continue
            raise DataError(f"{path}: no '{key}' split")
        items = []
        for image in _images(_split_paths(values[key], key, root, path), key, path):
            label = label_path(image)
            if check_images:
                check_image(image)
            if label.is_file():
                items.append(LabelledImage(image, label, read_label(label, nc, notes)))
            else:  # Ultralytics reads an image without a label file as a background image
                notes.note("backgrounds", str(image))
                items.append(LabelledImage(image, None, []))
        splits[key] = items
    return splits


def check_disjoint(splits: Dict[str, List[LabelledImage]], path: Path) -> None:
    seen = {k: {i.image.resolve() for i in v} for k, v in splits.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        if a in seen and b in seen:
            overlap = seen[a] & seen[b]
            if overlap:
                raise DataError(f"{path}: {len(overlap)} image(s) are in both {a} and {b}, e.g. {sorted(overlap)[0]}")


def load_real(cfg: RealConfig, synthetic_names: Sequence[str]) -> RealDataset:
    """Read and validate the real dataset of ``cfg`` (YOLO data.yaml or COCO JSON); every problem raises
    DataError naming the file (and line). What was read the lenient way is logged once."""
    notes = ReadNotes()
    if cfg.format == "coco":
        from idg.data.coco_import import read_coco

        path, names, splits = read_coco(cfg, notes)
    else:
        path, names, splits = _read_yolo(cfg, notes)
    check_disjoint(splits, path)
    for line in notes.lines():
        log.warning("real data (%s): %s", path, line)
    mapping = class_mapping(names, synthetic_names, cfg.class_map, path)
    return RealDataset(path, names, splits, mapping, list(synthetic_names), notes)


def read_real_quietly(cfg: RealConfig) -> tuple:
    """(class names, train split) of the real dataset, read without logging (``classes=from_real`` reads it
    before the start-up checks, which read and report it again)."""
    notes = ReadNotes()
    if cfg.format == "coco":
        from idg.data.coco_import import read_coco

        _, names, splits = read_coco(cfg, notes)
    else:
        _, names, splits = _read_yolo(cfg, notes)
    return names, splits["train"]


def _yaml(cfg: RealConfig) -> tuple:
    if not cfg.data:
        raise DataError("real.data is not set: pass real.data=<path/to/data.yaml> (YOLO layout), or real.format=coco "
                        "with real.train_json / real.val_json / real.images")
    path = Path(cfg.data).expanduser()
    if not path.is_file():
        raise DataError(f"real.data={cfg.data}: file not found")
    try:
        data = yaml.safe_load(read_text(path, "data.yaml"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping with train, val and names")
    return path, data


def _read_yolo(cfg: RealConfig, notes: ReadNotes) -> tuple:
    path, data = _yaml(cfg)
    names = _names(data, path)
    return path, names, read_yolo_splits(path, data, len(names), cfg.check_images, cfg.test, notes)
