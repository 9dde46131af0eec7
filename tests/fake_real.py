"""A small real dataset written on the fly: solid-colour objects at exact pixel boxes, in YOLO layout.

Every object of class ``c`` in the train split is a solid ``TRAIN_COLOURS[c]`` rectangle whose label is
exactly its box; val objects use ``VAL_COLOUR``, a colour that appears nowhere in train, so a val pixel in
a generated image is proof of leakage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import yaml
from PIL import Image

SIDE = 64
GREY = (128, 128, 128)
TRAIN_COLOURS = {0: (255, 0, 0), 1: (255, 255, 255)}  # fire: red, smoke: white
VAL_COLOUR = (0, 255, 0)

# Boxes at multiples of 1/64, so the six-decimal labels are exact: (x, y, w, h) in pixels of a 64 px image.
BOXES = [(8, 8, 16, 32), (32, 16, 24, 16), (4, 36, 40, 24), (40, 40, 16, 20)]


def _write(root: Path, split: str, stem: str, objects: Sequence[Tuple[int, Tuple[int, int, int, int]]],
           colour_of) -> Path:
    img = np.full((SIDE, SIDE, 3), GREY, np.uint8)
    lines = []
    for cls, (x, y, w, h) in objects:
        img[y : y + h, x : x + w] = colour_of(cls)
        lines.append(f"{cls} {(x + w / 2) / SIDE:.6f} {(y + h / 2) / SIDE:.6f} {w / SIDE:.6f} {h / SIDE:.6f}\n")
    image = root / "images" / split / f"{stem}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(image)
    label = root / "labels" / split / f"{stem}.txt"
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("".join(lines))
    return image


def make_real(root: Path, n_train: int = 12, n_val: int = 4, names: Sequence[str] = ("fire", "smoke")) -> Path:
    """Write the dataset under ``root``; returns its data.yaml. Image ``i`` of train holds one object of
    class ``i % 2`` in box ``BOXES[i % 4]`` (every fourth image holds none, as real sets have negatives)."""
    root = Path(root)
    for i in range(n_train):
        objects = [] if i % 4 == 3 else [(i % 2, BOXES[i % 4])]
        _write(root, "train", f"train_{i:03d}", objects, lambda c: TRAIN_COLOURS[c])
    for i in range(n_val):
        _write(root, "val", f"val_{i:03d}", [(i % 2, BOXES[i % 4])], lambda c: VAL_COLOUR)
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "nc": len(names),
                                    "names": {i: n for i, n in enumerate(names)}}, sort_keys=False))
    return data


def image_files(root: Path, split: str) -> List[Path]:
    return sorted((Path(root) / "images" / split).glob("*.png"))


def labels_of(path: Path) -> Dict[str, str]:
    return {p.name: p.read_text() for p in sorted(Path(path).glob("*.txt"))}


DAMAGES = ["missing_data_yaml", "missing_val_dir", "class_id_out_of_range", "label_outside_unit_square",
           "corrupt_image", "names_map_to_nothing", "nan_class_id", "inf_coordinate", "label_not_utf8",
           "data_yaml_not_utf8", "train_is_an_image", "list_names_a_missing_image", "zero_size_box"]


def damage(root: Path, how: str) -> str:
    """Damage the fake real dataset at ``root`` in one of the ``DAMAGES`` ways; returns what the error
    message must say (it names the file, and the line where there is one)."""
    if how == "missing_data_yaml":
        (root / "data.yaml").unlink()
        return "data.yaml: file not found"
    if how == "missing_val_dir":
        import shutil

        shutil.rmtree(root / "images" / "val")
        return "data.yaml"
    if how == "class_id_out_of_range":
        (root / "labels" / "train" / "train_001.txt").write_text("2 0.5 0.5 0.2 0.2\n")
        return "train_001.txt, line 1: class id 2 is out of range 0..1"
    if how == "label_outside_unit_square":
        (root / "labels" / "val" / "val_000.txt").write_text("0 1.5 0.5 0.2 0.2\n")
        return "val_000.txt, line 1"
    if how == "nan_class_id":
        (root / "labels" / "train" / "train_001.txt").write_text("0 0.5 0.5 0.2 0.2\nnan 0.5 0.5 0.2 0.2\n")
        return "train_001.txt, line 2: 'nan' is not a finite number"
    if how == "inf_coordinate":
        (root / "labels" / "val" / "val_001.txt").write_text("1 0.5 inf 0.2 0.2\n")
        return "val_001.txt, line 1: 'inf' is not a finite number"
    if how == "label_not_utf8":
        (root / "labels" / "train" / "train_000.txt").write_bytes("0 0.5 0.5 0.2 0.2 # flamme\xe9\n".encode("latin-1"))
        return "train_000.txt: this label file is not UTF-8 text"
    if how == "data_yaml_not_utf8":
        (root / "data.yaml").write_bytes((root / "data.yaml").read_bytes() + "# caf\xe9\n".encode("latin-1"))
        return "data.yaml: this data.yaml is not UTF-8 text"
    if how == "train_is_an_image":
        doc = yaml.safe_load((root / "data.yaml").read_text())
        doc["train"] = "images/train/train_000.png"
        (root / "data.yaml").write_text(yaml.safe_dump(doc))
        return "train split 'images/train/train_000.png' is an image file"
    if how == "list_names_a_missing_image":
        (root / "val.txt").write_text("images/val/val_000.png\nimages/val/gone.png\n")
        doc = yaml.safe_load((root / "data.yaml").read_text())
        doc["val"] = "val.txt"
        (root / "data.yaml").write_text(yaml.safe_dump(doc))
        return "val.txt, line 2: image"
    if how == "zero_size_box":
        (root / "labels" / "train" / "train_005.txt").write_text("1 0.5 0.5 0 0.2\n")
        return "train_005.txt, line 1: box"
    if how == "corrupt_image":
        (root / "images" / "train" / "train_004.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
        return "train_004.png: corrupt or unreadable image"
    if how == "names_map_to_nothing":
        doc = yaml.safe_load((root / "data.yaml").read_text())
        doc["names"] = {0: "flame", 1: "vapour"}
        (root / "data.yaml").write_text(yaml.safe_dump(doc))
        return "none of its classes (flame, vapour) matches a synthetic class"
    raise ValueError(how)
