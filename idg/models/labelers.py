"""Open-vocabulary detectors ("labellers"): OWLv2 and Grounding DINO through ``transformers``' zero-shot object
detection (``AutoModelForZeroShotObjectDetection`` + ``AutoProcessor``), from a hub id or a local
``save_pretrained`` dir, run batched; and the selection of their boxes (threshold, size, NMS).

A labeller is asked about a fixed list of classes, each with one or more text queries. For every raw box it
returns a score per class (the best over that class's queries):

- OWLv2 scores every image patch against every query (sigmoid of its class logits); boxes are relative to
  the square the processor pads the image to.
- Grounding DINO reads one caption (``"fire. smoke."``) and scores each of its queries' tokens; a query's
  score is its best token's, so phrases map back to classes by their character spans.

:func:`check_labeler_model` runs with the start-up checks, so a missing dir, a dir that holds no detector,
or a hub id that is not cached offline fails before any weights load.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from idg.core.errors import ConfigError, ModelLoadError
from idg.models.hub import is_local_path, local_files_only, offline_requested

log = logging.getLogger(__name__)

# labeller name -> the config.json model_type(s) its checkpoints have
MODEL_TYPES = {"owlv2": ("owlv2",), "grounding_dino": ("grounding-dino",)}


def _model_type(config_json: Path) -> Optional[str]:
    try:
        return json.loads(config_json.read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def _check_type(kind: str, model: str, where: str, model_type: Optional[str]) -> None:
    if model_type in MODEL_TYPES[kind]:
        return
    for other, types in MODEL_TYPES.items():
        if model_type in types:
            raise ModelLoadError(f"{where}={model} is a {model_type} model but {where.split('.')[0]}.name={kind}; pass "
                                 f"{where.split('.')[0]}.name={other} or a {kind} model")
    raise ModelLoadError(f"{where}={model} is not an open-vocabulary detector (its config.json has model_type "
                         f"{model_type!r}, need {' or '.join(MODEL_TYPES[kind])}); pass a {kind} hub id or local dir")


def check_labeler_model(kind: str, model: str, where: str, offline: bool, build_tiny: bool = False,
                        revision: Optional[str] = None) -> None:
    """Fail fast when labeller ``kind``'s model cannot be had or is not a ``kind`` detector (``where`` names the
    config key in the message)."""
    path = Path(os.path.expanduser(model))
    if is_local_path(model):
        if build_tiny and not path.exists():
            return  # built at load time
        if not path.is_dir():
            raise ModelLoadError(f"{where}={model}: no such directory; pass a {kind} hub id or a local save_pretrained dir")
        if not (path / "config.json").is_file():
            what = "a diffusers pipeline" if (path / "model_index.json").is_file() else "no transformers model"
            raise ModelLoadError(f"{where}={model} is {what} (no config.json), not an open-vocabulary detector; pass a "
                                 f"{kind} hub id or a local save_pretrained dir")
        _check_type(kind, model, where, _model_type(path / "config.json"))
        if not any((path / f).is_file() for f in ("preprocessor_config.json", "processor_config.json")):
            raise ModelLoadError(f"{where}={model} has no processor (preprocessor_config.json or processor_config.json); "
                                 f"save the processor with the model (processor.save_pretrained)")
        return
    if local_files_only(model, False, offline):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json", revision=revision)
        if not isinstance(cached, str):
            why = "this run is offline" if offline_requested(False, offline) else "the Hugging Face Hub cannot be reached"
            raise ModelLoadError(f"{where}={model} is not in the local Hugging Face cache and {why}; pass a local "
                                 f"save_pretrained dir, or the tiny_{kind} preset for a random model that runs offline")
        _check_type(kind, model, where, _model_type(Path(cached)))


def labeler_identity(kind: str, model: str, revision: Optional[str], dtype: str) -> str:
    """What a labeller's boxes depend on, without loading it (cache keys, manifests)."""
    target = os.path.expanduser(model)
    if is_local_path(model):
        target = str(Path(target).resolve())
    return f"{kind}:{target}@{revision or 'main'}:{dtype}"


@dataclass
class Candidates:
    """A labeller's raw boxes of one image, before any selection."""

    boxes: np.ndarray  # (N, 4) float x, y, w, h in pixels of the image
    scores: np.ndarray  # (N, C) per class: the best score over its queries
    queries: np.ndarray  # (N, C) int: which of the class's queries gave that score


@dataclass(frozen=True)
class Detection:
    """A selected box: integer pixel ``(x, y, w, h)``, class id, score and the index of the query that matched."""

    box: Tuple[int, int, int, int]
    cls: int
    score: float
    query: int

    def as_dict(self) -> dict:
        return {"box": list(self.box), "cls": self.cls, "score": self.score, "query": self.query}

    @classmethod
    def from_dict(cls, d: dict) -> "Detection":
        return cls(tuple(int(v) for v in d["box"]), int(d["cls"]), float(d["score"]), int(d["query"]))


def pixel_box(box: Sequence[float], width: int, height: int) -> Optional[Tuple[int, int, int, int]]:
    """A float ``(x, y, w, h)`` rounded outwards to whole pixels and cut to the image; None when it misses."""
    x0, y0 = max(int(math.floor(box[0])), 0), max(int(math.floor(box[1])), 0)
    x1, y1 = min(int(math.ceil(box[0] + box[2])), width), min(int(math.ceil(box[1] + box[3])), height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _iou(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def select(c: Candidates, width: int, height: int, threshold: float, nms_iou: float, min_size: int,
           max_objects: int) -> List[Detection]:
    """The labels of one image: each raw box gets its best class; boxes scoring below ``threshold``, with a
    shorter side below ``min_size`` px, or overlapping a better box of their class with IoU above ``nms_iou``
    are dropped; at most ``max_objects`` remain. Ordered by score (ties: raw order), so deterministic."""
    if not len(c.boxes):
        return []
    rows = np.arange(len(c.boxes))
    cls = c.scores.argmax(axis=1)
    score = c.scores[rows, cls]
    query = c.queries[rows, cls]
    kept: List[Detection] = []
    for i in np.lexsort((rows, -score)):
        if score[i] < threshold:
            break  # sorted: every later box scores lower
        box = pixel_box(c.boxes[i], width, height)
        if box is None or min(box[2], box[3]) < min_size:
            continue
        if any(k.cls == cls[i] and _iou(k.box, box) > nms_iou for k in kept):
            continue
        kept.append(Detection(box, int(cls[i]), float(score[i]), int(query[i])))
        if len(kept) >= max_objects:
            break
    return kept


class ZeroShotDetector:
    """A loaded labeller: :meth:`candidates` gives the raw boxes of images for a list of classes' queries.

    ``batch_invariant`` (``auto``: on CPU) runs one image per forward pass, so an image's boxes never depend
    on which images shared its batch; otherwise images go ``batch_size`` at a time (on a GPU)."""

    def __init__(self, kind: str, model: str, *, revision: Optional[str] = None, device: str = "auto",
                 dtype: str = "float32", offline: bool = False, build_tiny: bool = False, batch_size: int = 8,
                 batch_invariant: str = "auto", where: str = "labeler.model"):
        import torch
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        check_labeler_model(kind, model, where, offline, build_tiny, revision)
        src = os.path.expanduser(model)
        if build_tiny and is_local_path(model):
            from idg.models.tiny_labelers import ensure_tiny_labeler

            ensure_tiny_labeler(kind, src)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.dtype = (torch.float16 if self.device.startswith("cuda") else torch.float32) if dtype == "auto" \
            else getattr(torch, dtype)
        kwargs = {"revision": revision, "local_files_only": local_files_only(model, False, offline)}
        try:
            self.processor = AutoProcessor.from_pretrained(src, **kwargs)
            self.model = self._load_weights(AutoModelForZeroShotObjectDetection, src, model, kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{where}={model} could not be loaded as a {kind} detector ({exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.model.to(self.device, self.dtype).eval()
        self.kind = kind
        self.where = where
        invariant = batch_invariant == "true" or (batch_invariant == "auto" and not self.device.startswith("cuda"))
        self.step = 1 if invariant else batch_size
        self._torch = torch
        log.info("loaded labeller %s (%s, %s, %s)", model, type(self.model).__name__, self.device,
                 str(self.dtype).replace("torch.", ""))

    @staticmethod
    def _load_weights(cls, src: str, model: str, kwargs: dict):
        """Safetensors weights (they cannot run code when loaded); pickled ``.bin`` ones only when the model
        has no others, with a warning."""
        try:
            return cls.from_pretrained(src, use_safetensors=True, **kwargs)
        except (OSError, ValueError) as exc:
            if "safetensors" not in str(exc).lower():
                raise
        log.warning("%s has no safetensors weights; loading its pickled .bin weights: load only models you trust", model)
        return cls.from_pretrained(src, use_safetensors=False, **kwargs)

    def candidates(self, images: Sequence[np.ndarray], queries: Sequence[Sequence[str]]) -> List[Candidates]:
        """Raw boxes of each uint8 RGB image for classes ``queries`` (per class, its text queries)."""
        forward = self._owlv2 if self.kind == "owlv2" else self._grounding_dino
        out: List[Candidates] = []
        for start in range(0, len(images), self.step):
            with self._torch.inference_mode():
                out.extend(forward(list(images[start : start + self.step]), queries))
        return out

    def _inputs(self, images: List[np.ndarray], text) -> dict:
        from PIL import Image

        extra = {"truncation": True} if self.kind == "owlv2" else {}
        inputs = self.processor(text=text, images=[Image.fromarray(im) for im in images], return_tensors="pt", **extra)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return inputs

    def _owlv2(self, images: List[np.ndarray], queries: Sequence[Sequence[str]]) -> List[Candidates]:
        torch = self._torch
        flat = [q for qs in queries for q in qs]
        out = self.model(**self._inputs(images, [flat] * len(images)))
        probs = torch.sigmoid(out.logits.float()).cpu().numpy()  # (B, patches, queries)
        boxes = out.pred_boxes.float().cpu().numpy()  # (B, patches, 4) cx, cy, w, h of the padded square
        result = []
        for image, p, b in zip(images, probs, boxes):
            side = max(image.shape[:2])  # the processor pads to a square at the bottom and right
            result.append(Candidates(_corner_boxes(b, side, side), *_per_class(p, [len(qs) for qs in queries])))
        return result

    def _grounding_dino(self, images: List[np.ndarray], queries: Sequence[Sequence[str]]) -> List[Candidates]:
        torch = self._torch
        caption, tokens = self._caption(queries)
        out = self.model(**self._inputs(images, [caption] * len(images)))
        probs = torch.sigmoid(out.logits.float()).cpu().numpy()  # (B, queries, max_text_len)
        boxes = out.pred_boxes.float().cpu().numpy()  # (B, queries, 4) cx, cy, w, h of the image
        result = []
        for image, p, b in zip(images, probs, boxes):
            per_query = np.stack([p[:, idx].max(axis=1) for idx in tokens], axis=1)  # (boxes, all queries)
            h, w = image.shape[:2]
            result.append(Candidates(_corner_boxes(b, w, h), *_per_class(per_query, [len(qs) for qs in queries])))
        return result

    def _caption(self, queries: Sequence[Sequence[str]]) -> Tuple[str, List[List[int]]]:
        """Grounding DINO's caption ``"q1. q2. q3."`` (lower case, as it was trained) and, per query, the
        indices of its tokens (by character offsets)."""
        texts = [q.strip().lower().replace(".", " ") for qs in queries for q in qs]
        caption, spans = "", []
        for t in texts:
            spans.append((len(caption), len(caption) + len(t)))
            caption += t + ". "
        caption = caption.strip()
        enc = self.processor.tokenizer(caption, return_offsets_mapping=True)
        max_len = getattr(self.model.config, "max_text_len", None)
        if max_len is not None and len(enc["input_ids"]) > max_len:
            raise ConfigError(f"classes.<name>.queries: the caption {caption!r} has {len(enc['input_ids'])} tokens, more "
                              f"than this model's max_text_len={max_len}; use fewer or shorter queries")
        tokens = []
        for (lo, hi), t in zip(spans, texts):
            idx = [k for k, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a >= lo and b <= hi]
            if not idx:
                raise ConfigError(f"classes.<name>.queries: the query {t!r} has no token in the labeller's vocabulary")
            tokens.append(idx)
        return caption, tokens


def _corner_boxes(cxcywh: np.ndarray, width: float, height: float) -> np.ndarray:
    """Normalised centre boxes -> pixel ``x, y, w, h``."""
    cx, cy, w, h = (cxcywh[:, k] for k in range(4))
    return np.stack([(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height], axis=1)


def _per_class(per_query: np.ndarray, counts: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """(boxes, all queries) scores -> per class the best over its queries, and which query that was."""
    scores, which, start = [], [], 0
    for n in counts:
        block = per_query[:, start : start + n]
        scores.append(block.max(axis=1))
        which.append(block.argmax(axis=1))
        start += n
    return np.stack(scores, axis=1), np.stack(which, axis=1)
