"""Typed manifest records: what the engine writes parses back field by field; a line that is not a record is
named precisely; the shared helpers (reuse-or-refuse, content hash) behave as every keyed output expects."""

from __future__ import annotations

import json

import pytest

from idg.core.errors import RunDirError
from idg.core.hashing import content_hash
from idg.core.keyed import reuse_or_refuse
from idg.data.records import SCHEMA, BackgroundRecord, ImageRecord, ObjectRecord, RecordError, RejectedAttempt


def an_object(**extra) -> ObjectRecord:
    base = dict(id=0, class_name="fire", class_id=0, prompt="a fire", requested_box=[1, 2, 30, 40], box=[2, 3, 28, 37],
                seed=2**62, window=[0, 0, 64, 64], status="accepted", attempts=1, box_iou=0.9, changed_fraction=0.5,
                seam_edge=1.1, seam_halo=1.3, seam_halo_widths={"4": 1.3, "12": 1.1, "32": None},
                verify_score=None, retry_reasons=[], generator="diffusion", strength=0.75, steps=4,
                guidance=0.0, mask="rect", feather=8, blend="feather", mode="crop", sampler="random")
    return ObjectRecord(**{**base, **extra})


def an_image() -> ImageRecord:
    background = BackgroundRecord("k" * 64, "a forest", "cartoon", 7, 2, 0.0, "stabilityai/sdxl-turbo", 2, "00ff",
                                  None, [RejectedAttempt(0, 5, "duplicate", 3)])
    rejected = an_object(id=1, status="rejected", box=None, reject_reason="box_iou 0.1 < 0.3", crop="rejected/000004_1.png")
    return ImageRecord(4, "images/train/000004.png", "labels/train/000004.txt", "train", 64, 64, background,
                       [an_object()], [rejected], 0)


def test_a_record_is_json_with_a_schema_and_parses_back():
    rec = an_image()
    data = json.loads(json.dumps(rec.to_dict(), sort_keys=True))
    assert data["schema"] == SCHEMA and data["objects"][0]["class"] == "fire" and "class_name" not in data["objects"][0]
    assert "source" not in data["objects"][0] and "reject_reason" not in data["objects"][0]  # unset optional fields
    assert data["rejected"][0]["reject_reason"].startswith("box_iou")
    assert data["background"]["rejected_attempts"] == [{"attempt": 0, "seed": 5, "reason": "duplicate", "duplicate_of": 3}]
    back = ImageRecord.from_dict(data)
    assert back == rec and back.to_dict() == data


@pytest.mark.parametrize("damage, field", [
    (lambda d: d.pop("index"), "missing field 'index'"),
    (lambda d: d.update(width="64"), "record.width: expected int"),
    (lambda d: d["objects"][0].update(box=[1, 2, "3", 4]), r"record.objects\[0\].box\[2\]: expected int"),
    (lambda d: d["background"].update(seed=True), "record.background.seed: expected int"),
    (lambda d: d.update(objects={}), "record.objects: expected a list"),
])
def test_a_line_that_is_not_a_record_names_the_field(damage, field):
    data = an_image().to_dict()
    damage(data)
    with pytest.raises(RecordError, match=field):
        ImageRecord.from_dict(data)
    with pytest.raises(RecordError, match="expected an object"):
        ImageRecord.from_dict([1, 2])


def test_reuse_or_refuse(tmp_path):
    path = tmp_path / "done.json"
    assert reuse_or_refuse(path, "a", overwrite=False, differs="was made from other inputs") is None  # nothing yet
    path.write_text(json.dumps({"key": "a", "weights": "w.pt"}))
    assert reuse_or_refuse(path, "a", overwrite=False, differs="x")["weights"] == "w.pt"
    with pytest.raises(RunDirError, match="done.json was made from other inputs; pass overwrite=true to redo it"):
        reuse_or_refuse(path, "b", overwrite=False, differs="was made from other inputs")
    assert reuse_or_refuse(path, "b", overwrite=True, differs="x") is None  # redo it
    assert reuse_or_refuse(path, "b", overwrite=False, differs="x", refuse=False) is None  # a derived cache: remade
    assert reuse_or_refuse(path, "b", overwrite=False, differs="x", accept=lambda old: old["weights"] == "w.pt")
    path.write_text("{torn")
    with pytest.raises(RunDirError):  # a damaged record matches no key
        reuse_or_refuse(path, "a", overwrite=False, differs="x")


def test_content_hash_is_canonical():
    assert content_hash({"a": 1, "b": [2, 3]}) == content_hash({"b": [2, 3], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2}) and len(content_hash("x")) == 16
