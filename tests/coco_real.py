"""A COCO conversion of a YOLO dataset, written on the fly (for ``real.format=coco`` tests).

Each split becomes ``<out>/<split>.json`` with ``file_name`` relative to the YOLO dataset's root, so
``real.images=<yolo root>`` finds the images. ``test_from_train`` moves the first n train images into a test
split. Boxes go over exactly: COCO ``[x, y, w, h]`` pixels = YOLO ``cx cy w h`` times the image size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import yaml
from PIL import Image


def yolo_to_coco(data_yaml: Path, out: Path, test_from_train: int = 0, category_offset: int = 1) -> Dict[str, Path]:
    data_yaml = Path(data_yaml)
    root = data_yaml.parent
    doc = yaml.safe_load(data_yaml.read_text())
    names = doc["names"] if isinstance(doc["names"], list) else [doc["names"][k] for k in sorted(doc["names"])]
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": sorted((root / doc["train"]).iterdir()), "val": sorted((root / doc["val"]).iterdir())}
    if test_from_train:
        splits["test"], splits["train"] = splits["train"][:test_from_train], splits["train"][test_from_train:]
    paths = {}
    for split, images in splits.items():
        coco = {"images": [], "annotations": [],
                "categories": [{"id": i + category_offset, "name": n} for i, n in enumerate(names)]}
        for k, image in enumerate(images):
            with Image.open(image) as im:
                width, height = im.size
            coco["images"].append({"id": k + 1, "file_name": str(image.relative_to(root)), "width": width, "height": height})
            label = Path(str(image).replace("/images/", "/labels/")).with_suffix(".txt")
            for line in label.read_text().splitlines() if label.is_file() else []:
                c, cx, cy, w, h = (float(v) for v in line.split())
                coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": k + 1,
                                            "category_id": int(c) + category_offset, "iscrowd": 0, "area": w * h * width * height,
                                            "bbox": [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]})
        paths[split] = out / f"{split}.json"
        paths[split].write_text(json.dumps(coco))
    return paths
