"""Real data as it comes: YOLO as Ultralytics reads it, COCO JSON, a test split, and what stays an error."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from coco_real import yolo_to_coco
from conftest import FIRE8_MINI
from fake_real import make_real
from idg.core.config import RealConfig
from idg.core.errors import DataError
from idg.data.real import load_real
from idg.data.subsets import prepare_real

NAMES = ["fire", "smoke"]


def test_yolo_read_as_ultralytics_reads_it(tmp_path, caplog):
    """A label-less image is a background, a polygon line its bounding box, a box past the edge is clipped;
    each kind is counted and reported once, in one log line."""
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    labels = tmp_path / "real" / "labels" / "train"
    (labels / "train_000.txt").unlink()
    (labels / "train_001.txt").unlink()
    (labels / "train_002.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n")  # a polygon
    (labels / "train_004.txt").write_text("0 0.9 0.5 0.4 0.2\n0 1.005 0.5 0.1 0.1\n")  # past the right edge
    with caplog.at_level(logging.WARNING, logger="idg.data.real"):
        ds = load_real(RealConfig(data=str(data)), NAMES)
    assert ds.notes.as_dict() == {"backgrounds": 2, "polygons": 1, "clipped": 2, "crowd": 0}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and sum("background images" in m for m in lines) == 1
    train = {i.image.name: i for i in ds.splits["train"]}
    assert train["train_000.png"].boxes == [] and train["train_000.png"].label is None
    assert train["train_002.png"].boxes == [[1.0, pytest.approx(0.3), pytest.approx(0.35), pytest.approx(0.4),
                                             pytest.approx(0.5)]]
    x0, x1 = [(b[1] - b[3] / 2, b[1] + b[3] / 2) for b in train["train_004.png"].boxes][0]
    assert x0 == pytest.approx(0.7) and x1 == pytest.approx(1.0)
    assert all(b[1] + b[3] / 2 <= 1 + 1e-9 for b in train["train_004.png"].boxes)
    prepared = prepare_real(ds, tmp_path / "prep")  # the prepared copy has label files for every image
    assert (prepared.root / "labels" / "train" / "train_000.txt").read_text() == ""


def test_test_split_from_the_data_yaml_or_real_test(tmp_path):
    data = make_real(tmp_path / "real", n_train=12, n_val=2)
    root = tmp_path / "real"
    (root / "test.txt").write_text("".join(f"images/train/train_{i:03d}.png\n" for i in (0, 1, 2)))
    doc = yaml.safe_load(data.read_text())
    doc["train"] = "train.txt"
    (root / "train.txt").write_text("".join(f"images/train/train_{i:03d}.png\n" for i in range(3, 12)))
    data.write_text(yaml.safe_dump(doc))
    ds = load_real(RealConfig(data=str(data), test="test.txt"), NAMES)
    assert [len(ds.splits[s]) for s in ("train", "val", "test")] == [9, 2, 3]
    prepared = prepare_real(ds, tmp_path / "prep")
    assert prepared.splits == ("val", "test")
    assert yaml.safe_load(prepared.val_yaml.read_text())["test"] == "images/test"
    doc["test"] = "images/train"  # overlapping train: an error naming both splits
    data.write_text(yaml.safe_dump(doc))
    with pytest.raises(DataError, match="in both train and test"):
        load_real(RealConfig(data=str(data)), NAMES)


def test_coco_reads_like_the_yolo_original(tmp_path):
    paths = yolo_to_coco(FIRE8_MINI, tmp_path / "coco", test_from_train=6, category_offset=5)
    cfg = RealConfig(format="coco", train_json=str(paths["train"]), val_json=str(paths["val"]),
                     test_json=str(paths["test"]), images=str(FIRE8_MINI.parent), check_images=False)
    coco = load_real(cfg, NAMES)
    yolo = load_real(RealConfig(data=str(FIRE8_MINI), check_images=False), NAMES)
    assert coco.names == ["fire", "smoke"] and [len(coco.splits[s]) for s in ("train", "val", "test")] == [24, 10, 6]
    by_name = {i.image.name: i.boxes for s in yolo.splits.values() for i in s}
    for item in coco.splits["train"] + coco.splits["test"]:
        assert len(item.boxes) == len(by_name[item.image.name])
        for a, b in zip(item.boxes, by_name[item.image.name]):
            assert a == pytest.approx(b, abs=2e-6)


COCO_DAMAGES = [
    ("missing_image", lambda d: d["images"][0].update(file_name="images/train/gone.jpg"), "not found under"),
    ("unknown_image_id", lambda d: d["annotations"][0].update(image_id=999), "names image_id 999"),
    ("unknown_category", lambda d: d["annotations"][0].update(category_id=42), "names category_id 42"),
    ("nan_box", lambda d: d["annotations"][0].update(bbox=[float("nan"), 0, 10, 10]), "four finite numbers"),
    ("no_categories", lambda d: d.update(categories=[]), "no categories"),
]


@pytest.mark.parametrize("damage, needle", [c[1:] for c in COCO_DAMAGES], ids=[c[0] for c in COCO_DAMAGES])
def test_bad_coco_names_the_file(tmp_path, damage, needle):
    paths = yolo_to_coco(FIRE8_MINI, tmp_path / "coco")
    doc = json.loads(paths["train"].read_text())
    damage(doc)
    paths["train"].write_text(json.dumps(doc))
    cfg = RealConfig(format="coco", train_json=str(paths["train"]), val_json=str(paths["val"]),
                     images=str(FIRE8_MINI.parent), check_images=False)
    with pytest.raises(DataError) as info:
        load_real(cfg, NAMES)
    assert needle in str(info.value) and ("train.json" in str(info.value) or "real.train_json" in str(info.value))


def test_coco_categories_that_match_no_class(tmp_path):
    paths = yolo_to_coco(FIRE8_MINI, tmp_path / "coco")
    for p in paths.values():
        doc = json.loads(p.read_text())
        doc["categories"] = [{"id": c["id"], "name": f"x{c['id']}"} for c in doc["categories"]]
        p.write_text(json.dumps(doc))
    cfg = RealConfig(format="coco", train_json=str(paths["train"]), val_json=str(paths["val"]),
                     images=str(FIRE8_MINI.parent), check_images=False)
    with pytest.raises(DataError, match=r"none of its classes \(x1, x2\) matches a synthetic class"):
        load_real(cfg, NAMES)
