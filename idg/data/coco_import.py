"""Real data in COCO detection JSON (``real.format=coco``): one JSON file per split and an image root.

``real.train_json``, ``real.val_json`` (and optionally ``real.test_json``) are COCO files whose
``images[].file_name`` are relative to ``real.images`` (or to the JSON file's own folder, as Roboflow
exports lay them out). Categories become class names ordered by category id, so they map onto the
synthetic classes by name exactly like a YOLO ``names`` list; the prepared copy in the run dir
(:func:`idg.data.subsets.prepare_real`) is the conversion: links to the images and YOLO label files, written
once per run. Images without annotations are background images; ``iscrowd`` regions are left out (COCO's
evaluation ignores them too) and counted; a box reaching past the image edge is clipped and counted.
Everything else wrong (a missing image, an annotation of an unknown image or category, a non-finite or
empty box) is a DataError naming the file and the annotation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from idg.core.config import RealConfig
from idg.core.errors import DataError
from idg.data.labels import LabelledImage, ReadNotes, check_image, read_text

SPLIT_KEYS = {"train": "train_json", "val": "val_json", "test": "test_json"}


def _load(path_value: Optional[str], key: str) -> Tuple[Path, dict]:
    if not path_value:
        raise DataError(f"real.format=coco needs real.{key}=<COCO json> (real.train_json and real.val_json are required)")
    path = Path(path_value).expanduser()
    if not path.is_file():
        raise DataError(f"real.{key}={path_value}: file not found")
    try:
        doc = json.loads(read_text(path, "COCO file"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(doc.get("categories"), list):
        raise DataError(f"{path}: not a COCO detection file (needs 'images' and 'categories' lists)")
    return path, doc


def _categories(doc: dict, path: Path) -> List[Tuple[int, str]]:
    cats = []
    for k, c in enumerate(doc["categories"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not str(c.get("name", "")).strip():
            raise DataError(f"{path}: categories[{k}] needs an integer 'id' and a 'name', got {c!r}")
        cats.append((c["id"], str(c["name"])))
    cats.sort()
    names = [n for _, n in cats]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"{path}: category name(s) {', '.join(dup)} appear more than once")
    if not cats:
        raise DataError(f"{path}: no categories")
    return cats


def coco_names(cfg: RealConfig) -> List[str]:
    """Class names of the train JSON, ordered by category id."""
    path, doc = _load(cfg.train_json, "train_json")
    return [n for _, n in _categories(doc, path)]


def _image_path(file_name: str, roots: List[Path]) -> Optional[Path]:
    for root in roots:
        p = (root / file_name).expanduser()
        if p.is_file():
            return p.resolve()
    return None


def _split(path: Path, doc: dict, names: List[str], images_root: Optional[Path], check_images: bool,
           notes: ReadNotes) -> list:
    index = {n: i for i, n in enumerate(names)}
    cat_class: Dict[int, int] = {}
    for cid, name in _categories(doc, path):
        if name not in index:
            raise DataError(f"{path}: category {name!r} is not a category of real.train_json ({', '.join(names)})")
        cat_class[cid] = index[name]
    roots = [r for r in (images_root, path.parent) if r is not None]
    images: Dict[int, dict] = {}
    order: List[int] = []
    for k, im in enumerate(doc["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not im.get("file_name"):
            raise DataError(f"{path}: images[{k}] needs an integer 'id' and a 'file_name'")
        file = _image_path(str(im["file_name"]), roots)
        if file is None:
            raise DataError(f"{path}: image {im['file_name']!r} (id {im['id']}) not found under "
                            f"{' or '.join(map(str, roots))}; set real.images=<folder the file names are relative to>")
        if im["id"] in images:
            raise DataError(f"{path}: image id {im['id']} appears twice")
        size = (im.get("width"), im.get("height"))
        if not all(isinstance(v, (int, float)) and v > 0 for v in size):
            from PIL import Image

            with Image.open(file) as opened:
                size = opened.size
        images[im["id"]] = {"file": file, "size": size, "boxes": []}
        order.append(im["id"])
    for k, a in enumerate(doc.get("annotations") or []):
        where = f"{path}: annotations[{k}]"
        if not isinstance(a, dict):
            raise DataError(f"{where} is not an object")
        if a.get("image_id") not in images:
            raise DataError(f"{where} (id {a.get('id')}) names image_id {a.get('image_id')!r}, which is not in 'images'")
        if a.get("category_id") not in cat_class:
            raise DataError(f"{where} (id {a.get('id')}) names category_id {a.get('category_id')!r}, which is not in "
                            f"'categories'")
        if a.get("iscrowd"):
            notes.note("crowd", where)
            continue
        bbox = a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)
                and all(math.isfinite(v) for v in bbox)):
            raise DataError(f"{where} (id {a.get('id')}): bbox must be four finite numbers [x, y, w, h], got {bbox!r}")
        im = images[a["image_id"]]
        width, height = im["size"]
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            raise DataError(f"{where} (id {a.get('id')}): bbox {bbox} has zero or negative size")
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            raise DataError(f"{where} (id {a.get('id')}): bbox {bbox} lies outside its {width}x{height} image")
        if (x0, y0, x1, y1) != (x, y, x + w, y + h) and (x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1):
            notes.note("clipped", where)
        im["boxes"].append([float(cat_class[a["category_id"]]), (x0 + x1) / 2 / width, (y0 + y1) / 2 / height,
                            (x1 - x0) / width, (y1 - y0) / height])
    out = []
    for image_id in order:
        im = images[image_id]
        if check_images:
            check_image(im["file"])
        out.append(LabelledImage(im["file"], None, im["boxes"]))
    if not out:
        raise DataError(f"{path}: no images")
    return out


def read_coco(cfg: RealConfig, notes: ReadNotes) -> Tuple[Path, List[str], dict]:
    """(train JSON path, class names, splits) of a COCO dataset; every problem a DataError naming the file."""
    images_root = Path(cfg.images).expanduser() if cfg.images else None
    if images_root is not None and not images_root.is_dir():
        raise DataError(f"real.images={cfg.images}: no such folder")
    train_path, train_doc = _load(cfg.train_json, "train_json")
    names = [n for _, n in _categories(train_doc, train_path)]
    splits = {"train": _split(train_path, train_doc, names, images_root, cfg.check_images, notes)}
    for split in ("val", "test"):
        key = SPLIT_KEYS[split]
        value = getattr(cfg, key)
        if value is None and split == "test":
            continue
        path, doc = _load(value, key)
        splits[split] = _split(path, doc, names, images_root, cfg.check_images, notes)
    return train_path, names, splits
