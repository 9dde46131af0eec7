"""Verifiers: a second opinion on whether a painted object is what its label says.

The change-based check of :mod:`idg.generate.quality` knows *that* something was painted and where, not *what*. A
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
from typing import List, Optional, Protocol, Sequence

import numpy as np

from idg.core.config import VerifyConfig
from idg.core.errors import ModelLoadError

log = logging.getLogger(__name__)


class Verifier(Protocol):
    def __call__(self, crops: Sequence[np.ndarray], classes: Sequence[str], prompts: Sequence[str]) -> List[float]:
        """One score per crop (higher: more like its class)."""


def check_verifier(cfg: VerifyConfig, offline: bool) -> None:
    """Fail fast when the verifier's model cannot be had (a missing local path, or a hub id not cached offline)."""
    if cfg.name == "clip":
        from idg.models.hub import is_local_path

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
        from idg.models.detector import check_detector_model

        try:
            check_detector_model(cfg.model, offline)
        except ModelLoadError as exc:
            raise ModelLoadError(str(exc).replace("detector.model", "verify.model")) from None


def build_verifier(cfg: VerifyConfig, offline: bool = False) -> Optional[Verifier]:
    """The verifier model of ``cfg``, or None for ``none`` and ``diff`` (no model)."""
    if cfg.name == "clip":
        from idg.models.clip import ClipScorer

        return ClipScorer(cfg.model, cfg.device, offline)
    if cfg.name == "detector":
        from idg.models.detector import YoloLocator

        return YoloLocator(cfg.model, cfg.device)
    return None
