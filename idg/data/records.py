"""Typed records of what goes into ``manifest.jsonl``: one :class:`ImageRecord` line per image, holding its
:class:`BackgroundRecord` and an :class:`ObjectRecord` for every object (accepted ones under ``objects``,
rejected ones under ``rejected``).

Every line carries ``schema`` (:data:`SCHEMA`), so readers can tell versions apart. Boxes are pixel
``[x, y, w, h]`` with a top-left origin (see :mod:`idg.core.box`). ``to_dict`` gives the JSON object
(optional fields that are unset are left out); ``from_dict`` checks a parsed line field by field and raises
:class:`RecordError` naming the first bad field.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

SCHEMA = 2  # 2: seam_score became seam_edge, with seam_halo and seam_halo_widths beside it


class RecordError(ValueError):
    """A manifest line that is not a record of this schema (the message names the field)."""


@dataclass
class RejectedAttempt:
    """A background attempt that was regenerated: its seed and why (``black``, ``constant``, ``nan``,
    ``duplicate`` of image ``duplicate_of``)."""

    attempt: int
    seed: int
    reason: str
    duplicate_of: Optional[int] = None


@dataclass
class BackgroundRecord:
    """Where an image's background came from. Prompt backgrounds: ``key`` names the entry in the background
    cache (``<cache_dir>/backgrounds/<key[:2]>/<key>.png``, the attempt that was kept). Photo backgrounds
    (``source`` images, real_empty, real_train): ``key`` is the hash of the photo's content and fit, and the
    prompt fields are null."""

    key: str
    prompt: Optional[str]
    negative_prompt: Optional[str]
    seed: int  # prompts: the text-to-image seed; photos: the seed of the random crop
    steps: Optional[int]
    guidance: Optional[float]
    model: Optional[str]
    attempts: int
    phash: Optional[str]  # 64-bit perceptual hash, hex
    artifact: Optional[str]  # the artifact it still has after the last attempt (kept and flagged), else None
    rejected_attempts: List[RejectedAttempt] = field(default_factory=list)
    scheduler: Optional[str] = None  # model.scheduler when set (else the checkpoint's own)
    scheduler_args: Optional[Dict[str, Any]] = None
    loras: Optional[List[Dict[str, Any]]] = None  # model.loras when set: [{path, scale}]
    source: str = "prompts"  # prompts | images | real_empty | real_train
    duplicate_of: Optional[int] = None  # prompts, quality.duplicates=keep: the earlier image it near-duplicates
    photo: Optional[str] = None  # photo sources: absolute path of the photo
    photo_sha256: Optional[str] = None  # SHA-256 of the photo file's bytes
    photo_size: Optional[List[int]] = None  # [width, height] of the photo
    fit: Optional[str] = None  # center_crop | random_crop | letterbox
    crop: Optional[List[int]] = None  # the photo region used, [x, y, w, h] in photo pixels
    duplicate_of_photo: Optional[str] = None  # another photo of the pool this one near-duplicates (kept: flagged)
    real_objects_cut: Optional[int] = None  # real_train: labelled objects left out because the crop cut them


@dataclass
class ObjectRecord:
    """One painted (or pasted) object: what was asked, what was made, how it was judged. An autolabel object
    (drawn with its scene, boxed by the labeller) has no requested box and no painting settings, but a
    ``labeler_score``."""

    id: int  # the object's index in its image's sampled boxes (autolabel: among the labeller's boxes)
    class_name: str  # "class" in JSON
    class_id: int
    prompt: str
    requested_box: Optional[List[int]]  # the sampled box (None: autolabel, nothing was requested)
    box: Optional[List[int]]  # the label: the re-estimated box (None: a rejected object where nothing changed)
    seed: int  # of the attempt that was kept (or the last one)
    window: Optional[List[int]]  # the context window that was inpainted, or None
    status: str  # accepted | rejected
    attempts: int
    box_iou: Optional[float]  # requested vs final box
    changed_fraction: Optional[float]
    seam_edge: Optional[float]  # sharp-edge seam term (~1: none); None where not measured or measurable
    seam_halo: Optional[float]  # halo seam term against the image before the paste (1: unchanged)
    seam_halo_widths: Optional[Dict[str, Optional[float]]]  # the halo term per ring width (key: px at 768 px)
    verify_score: Optional[float]
    retry_reasons: List[str]
    generator: str
    # how it was painted (left out for autolabel objects, which are not painted)
    strength: Optional[float] = None
    steps: Optional[int] = None
    guidance: Optional[float] = None
    mask: Optional[str] = None
    feather: Optional[int] = None
    blend: Optional[str] = None
    mode: Optional[str] = None
    sampler: Optional[str] = None
    source: Optional[Dict[str, Any]] = None  # copy-paste: the real object it was cut from
    reject_reason: Optional[str] = None
    crop: Optional[str] = None  # rejected: its crop, relative to the export root
    labeler_score: Optional[float] = None  # autolabel: the labeller's score of the box for its class
    labeler_query: Optional[str] = None  # autolabel: the class query that gave it
    model: Optional[str] = None  # inpaint_model.pretrained when objects come from a pipeline of their own
    scheduler: Optional[str] = None  # the object model's scheduler when one is set

    def to_dict(self) -> Dict[str, Any]:
        out = _to_dict(self)
        out["class"] = out.pop("class_name")
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "object") -> "ObjectRecord":
        if isinstance(data, dict) and "class" in data:
            data = {**{k: v for k, v in data.items() if k != "class"}, "class_name": data["class"]}
        return _from_dict(cls, data, where)


@dataclass
class AutolabelRecord:
    """How an autolabel image was labelled: the classes its prompt named, the labeller, and whether it found
    nothing (an empty image: exported as background, or left out with split ``dropped``)."""

    named: List[str]  # class names the prompt named, in class order
    labeler: str  # the labeller's identity (kind:model@revision:dtype)
    empty: bool  # no box survived the labeller's selection


@dataclass
class RealObjectRecord:
    """``real_train``: a labelled object the real image already held (its label is kept beside the new ones)."""

    class_name: str  # "class" in JSON
    class_id: int
    box: List[int]  # pixel [x, y, w, h] in the generated image (after background.fit)
    origin: str = "real"

    def to_dict(self) -> Dict[str, Any]:
        out = _to_dict(self)
        out["class"] = out.pop("class_name")
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "real object") -> "RealObjectRecord":
        if isinstance(data, dict) and "class" in data:
            data = {**{k: v for k, v in data.items() if k != "class"}, "class_name": data["class"]}
        return _from_dict(cls, data, where)


@dataclass
class ImageRecord:
    """One manifest line: an image, its label file (both relative to the export root) and its objects."""

    index: int  # the global image index (file stem), deterministic in the config
    image: str
    label: str
    split: str  # train | val (| dropped: an autolabel image without a box, labeler.on_empty=drop)
    width: int
    height: int
    background: BackgroundRecord
    objects: List[ObjectRecord]
    rejected: List[ObjectRecord]
    objects_dropped: int  # sampled objects that did not fit (non_overlap / grid)
    schema: int = SCHEMA
    real_objects: Optional[List[RealObjectRecord]] = None  # real_train: the real image's own labelled objects
    autolabel: Optional[AutolabelRecord] = None  # generator=autolabel

    def to_dict(self) -> Dict[str, Any]:
        out = _to_dict(self)
        out["objects"] = [o.to_dict() for o in self.objects]
        out["rejected"] = [o.to_dict() for o in self.rejected]
        if self.real_objects is not None:
            out["real_objects"] = [o.to_dict() for o in self.real_objects]
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> "ImageRecord":
        return _from_dict(cls, data, where)


# Left out of the JSON when unset (so records read as before the photo sources, schedulers, LoRAs and the
# autolabel generator existed; an autolabel object has no painting settings).
OPTIONAL = {"source", "reject_reason", "crop", "duplicate_of", "scheduler", "scheduler_args", "loras", "model", "photo",
            "photo_sha256", "photo_size", "fit", "duplicate_of_photo", "real_objects_cut", "real_objects",
            "labeler_score", "labeler_query", "autolabel", "strength", "steps", "guidance", "mask", "feather", "blend",
            "mode", "sampler"}


def _to_dict(record: Any) -> Dict[str, Any]:
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is None and f.name in OPTIONAL:
            continue
        if dataclasses.is_dataclass(value):
            value = _to_dict(value)
        elif isinstance(value, list):
            value = [_to_dict(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[f.name] = value
    return out


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to ``hint`` (dataclasses recursively), or RecordError naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return hint.from_dict(value, where) if hasattr(hint, "from_dict") else _from_dict(hint, value, where)
    if origin in (list, List):
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return [_check(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {type(value).__name__}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecordError(f"{where}: expected a number, got {value!r}")
        return value
    if hint is Any:
        return value
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise RecordError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _from_dict(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where}: missing field {f.name!r}")
            continue
        values[f.name] = _check(data[f.name], hints[f.name], f"{where}.{f.name}")
    return cls(**values)
