"""Verifiers: a second opinion on whether a painted object is what its label says.

The change-based check of :mod:`idg.quality` knows *that* something was painted and where, not *what*. A
verifier scores each object's crop against its class:

- ``clip``: cosine similarity of CLIP's image embedding of the crop and text embedding of the class prompt
  (a hub id or a local ``save_pretrained`` dir with model, tokenizer and image processor);
- ``detector``: the best confidence a YOLO model (``.pt``, or ``.yaml`` for random-init tests) gives the
  class on the crop (any class when the model does not know the class name).

``verify=none`` and ``verify=diff`` build no model. :func:`check_verifier` runs with the other start-up
checks, so a missing model path fails before any weights load.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Optional, Protocol, Sequence, Tuple

import numpy as np

from idg.config import VerifyConfig
from idg.errors import ModelLoadError

log = logging.getLogger(__name__)


class Verifier(Protocol):
    def __call__(self, crops: Sequence[np.ndarray], classes: Sequence[str], prompts: Sequence[str]) -> List[float]:
        """One score per crop (higher: more like its class)."""


def check_verifier(cfg: VerifyConfig, offline: bool) -> None:
    """Fail fast when the verifier's model cannot be had (a missing local path, or a hub id not cached offline)."""
    if cfg.name == "clip":
        from idg.models import is_local_path

        path = Path(os.path.expanduser(cfg.model))
        if is_local_path(cfg.model):
            if not (path / "config.json").is_file():
                raise ModelLoadError(
                    f"verify.model={cfg.model}: no CLIP model there (no config.json); pass a CLIP hub id or a local "
                    f"save_pretrained dir, or verify=diff"
                )
            return
        if offline or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            from huggingface_hub import try_to_load_from_cache

            if not isinstance(try_to_load_from_cache(cfg.model, "config.json"), str):
                raise ModelLoadError(
                    f"verify.model={cfg.model} is not in the local Hugging Face cache and this run is offline; pass a "
                    f"local CLIP dir, or verify=diff"
                )
    elif cfg.name == "detector":
        from idg.detect import check_detector_model

        try:
            check_detector_model(cfg.model, offline)
        except ModelLoadError as exc:
            raise ModelLoadError(str(exc).replace("detector.model", "verify.model")) from None


class ClipVerifier:
    """CLIP image-text cosine similarity in [-1, 1]."""

    def __init__(self, model: str, device: str = "cpu", offline: bool = False):
        import torch
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        local = os.path.expanduser(model)
        src = local if Path(local).is_dir() else model
        kwargs = {"local_files_only": True} if offline else {}
        try:
            self.model = CLIPModel.from_pretrained(src, **kwargs).to(device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(src, **kwargs)
            self.processor = AutoImageProcessor.from_pretrained(src, **kwargs)
        except OSError as exc:
            raise ModelLoadError(f"verify.model={model}: cannot load a CLIP model ({str(exc).splitlines()[0]})") from None
        self.device = device
        self._torch = torch

    def __call__(self, crops: Sequence[np.ndarray], classes: Sequence[str], prompts: Sequence[str]) -> List[float]:
        if not crops:
            return []
        torch = self._torch
        from PIL import Image

        scores = []
        # One crop per forward pass: a score must not depend on which other objects shared its batch (CPU
        # kernels round differently with the batch size), or a threshold decision could change with it.
        for crop, prompt in zip(crops, prompts):
            pixels = self.processor(images=[Image.fromarray(crop)], return_tensors="pt")["pixel_values"]
            text = self.tokenizer([prompt], padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                out = self.model(input_ids=text["input_ids"].to(self.device),
                                 attention_mask=text["attention_mask"].to(self.device), pixel_values=pixels.to(self.device))
                img = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
                txt = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)
                scores.append(float((img * txt).sum()))
        return scores


class DetectorVerifier:
    """The best confidence of a YOLO model for the object's class on its crop."""

    def __init__(self, model: str, device: str = "cpu", imgsz: int = 320):
        from ultralytics import YOLO

        self.model = YOLO(os.path.expanduser(model) if model.endswith(".pt") else model)
        self.device = device
        self.imgsz = imgsz

    def __call__(self, crops: Sequence[np.ndarray], classes: Sequence[str], prompts: Sequence[str]) -> List[float]:
        return [score for score, _ in self.locate(crops, classes)]

    def locate(self, crops: Sequence[np.ndarray], classes: Sequence[str]) -> List[Tuple[float, Optional[Tuple[float, float, float, float]]]]:
        """Per crop: the best confidence for its class and that detection's ``(x, y, w, h)`` in crop pixels."""
        if not crops:
            return []
        names = {str(v).lower(): int(k) for k, v in (self.model.names or {}).items()}
        out = []
        for crop, cls in zip(crops, classes):
            # One crop per call (a result must not depend on its batch); Ultralytics reads numpy images as BGR.
            res = self.model.predict(np.ascontiguousarray(crop[..., ::-1]), conf=0.001, imgsz=self.imgsz,
                                     device=self.device, verbose=False)[0]
            if res.boxes is None or len(res.boxes) == 0:
                out.append((0.0, None))
                continue
            conf = res.boxes.conf.cpu().numpy()
            xyxy = res.boxes.xyxy.cpu().numpy()
            if cls.lower() in names:
                keep = res.boxes.cls.cpu().numpy().astype(int) == names[cls.lower()]
                conf, xyxy = conf[keep], xyxy[keep]
            if not len(conf):
                out.append((0.0, None))
                continue
            best = int(conf.argmax())
            x0, y0, x1, y1 = (float(v) for v in xyxy[best])
            out.append((float(conf[best]), (x0, y0, x1 - x0, y1 - y0)))
        return out


def build_verifier(cfg: VerifyConfig, offline: bool = False) -> Optional[Verifier]:
    """The verifier model of ``cfg``, or None for ``none`` and ``diff`` (no model)."""
    if cfg.name == "clip":
        return ClipVerifier(cfg.model, cfg.device, offline)
    if cfg.name == "detector":
        return DetectorVerifier(cfg.model, cfg.device)
    return None
