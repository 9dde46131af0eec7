"""COCO detection JSON of an export: image id = index + 1, category id = class id + 1, ``bbox`` the pixel
``[x, y, w, h]`` of the manifest (COCO's own convention, so boxes go over unchanged). Annotation ids count
within each file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from idg.core.atomic import atomic_write_text
from idg.core.layout import DatasetLayout


def coco_dict(records: Sequence[dict], names: Sequence[str]) -> dict:
    """COCO detection dict for manifest ``records``: annotation ids in image order."""
    images, annotations = [], []
    for rec in records:
        image_id = rec["index"] + 1
        images.append({"id": image_id, "file_name": rec["image"], "width": rec["width"], "height": rec["height"]})
        for obj in (rec.get("real_objects") or []) + rec["objects"]:  # real_train: its real labels, then the new
            x, y, w, h = obj["box"]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": obj["class_id"] + 1,
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )
    categories = [{"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(names)]
    return {"info": {"description": "idg synthetic detection set"}, "images": images,
            "annotations": annotations, "categories": categories}


def write_coco(layout: DatasetLayout, records: Sequence[dict], names: Sequence[str]) -> Path:
    """``annotations.json`` (every image) and one file per split, ``annotations_<split>.json`` (what
    Detectron2 and MMDetection users register as their train and val sets); ids agree across the files."""
    for split in ("train", "val"):
        part = [r for r in records if r["split"] == split]
        atomic_write_text(layout.coco_split(split), json.dumps(coco_dict(part, names), separators=(",", ":")) + "\n")
    return atomic_write_text(layout.coco, json.dumps(coco_dict(records, names), separators=(",", ":")) + "\n")
