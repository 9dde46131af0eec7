"""Ultralytics YOLO as a model: the process environment it needs, offline-safe checks, loading, prediction.

Training and evaluation (``idg.study.detect``), the detector verifier (``idg.generate.verify``) and the
seam-shortcut rate (``idg.study.shortcut_rate``) all load their YOLO here. ``.pt`` checkpoints are
pickles: load only checkpoints you trust.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from idg.core.errors import ModelLoadError


def configure_ultralytics(config_dir: str | Path, offline: bool, verbose: bool = True) -> None:
    """Process environment for Ultralytics, set before it is first imported.

    Its settings live in idg's cache (unless the user set ``YOLO_CONFIG_DIR``), so a user's global settings
    (e.g. its W&B integration switched on) cannot change a study; ``offline`` skips its DNS probe; without
    ``verbose`` its info lines and bars are off (``YOLO_VERBOSE``, unless the user set it; warnings stay).
    """
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ.setdefault("YOLO_VERBOSE", str(bool(verbose)))
    Path(os.environ["YOLO_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)
    if offline:
        os.environ["YOLO_OFFLINE"] = "1"


def ensure_fonts() -> None:
    """Ultralytics downloads Arial for plots and dataset checks; offline, give it a local TTF instead."""
    from matplotlib import font_manager
    from ultralytics.utils import USER_CONFIG_DIR

    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = Path(USER_CONFIG_DIR) / name
        if not target.exists():
            source = font_manager.findfont("DejaVu Sans")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def check_detector_model(model: str, offline: bool) -> None:
    """Fail fast when the detector model cannot be had (before any training starts)."""
    if model.endswith(".pt"):
        if Path(model).expanduser().is_file():
            return
        from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

        if Path(model).name in GITHUB_ASSETS_NAMES and not offline:
            return  # Ultralytics downloads its own released weights
        hint = "pass a local .pt path, or a model .yaml (e.g. detector.model=yolov8n.yaml) to train from random init"
        if Path(model).name in GITHUB_ASSETS_NAMES:
            raise ModelLoadError(f"detector.model={model} is not on disk and this run is offline; {hint}")
        raise ModelLoadError(f"detector.model={model}: file not found; {hint}")
    if Path(model).expanduser().is_file():
        return
    from ultralytics.nn.tasks import yaml_model_load

    try:
        yaml_model_load(model)
    except (FileNotFoundError, OSError) as exc:
        raise ModelLoadError(
            f"detector.model={model}: no such model config ({exc.__class__.__name__}); use an Ultralytics name such "
            f"as yolov8n.yaml or yolo11n.yaml, or a path to your own .yaml"
        ) from None


def load_yolo(model: str):
    """A YOLO from a ``.pt`` checkpoint (``~`` expanded) or a model ``.yaml`` (random init)."""
    from ultralytics import YOLO
    from ultralytics.utils import LOGGER, VERBOSE

    if not VERBOSE:  # YOLO_VERBOSE=False raises its logger to ERROR; its warnings are worth seeing
        LOGGER.setLevel(logging.WARNING)
        for handler in LOGGER.handlers:
            handler.setLevel(logging.WARNING)
    ensure_fonts()
    return YOLO(os.path.expanduser(model) if str(model).endswith(".pt") else str(model))


def predict_xywh(model, source, conf: float, imgsz: int, device: Optional[str] = None) -> List[List[float]]:
    """Predicted boxes of one image (a path, or a BGR numpy array as Ultralytics reads numpy) as pixel
    ``[x, y, w, h]``."""
    res = model.predict(source, conf=conf, imgsz=imgsz, verbose=False, **({"device": device} if device is not None else {}))[0]
    return [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in res.boxes.xyxy.cpu().numpy().tolist()]


class YoloLocator:
    """The best confidence of a YOLO model for an object's class on its crop, and where it is."""

    def __init__(self, model: str, device: str = "cpu", imgsz: int = 320):
        self.model = load_yolo(model)
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
