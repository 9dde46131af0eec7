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
