"""Verifiers: a second opinion on whether a painted object is what its label says.

The change-based check of :mod:`idg.generate.quality` knows *that* something was painted and where, not *what*. A
verifier scores each object's crop against its class:

- ``clip``: cosine similarity of CLIP's image embedding of the crop and text embedding of the class prompt
  (a hub id or a local ``save_pretrained`` dir with model, tokenizer and image processor);
- ``detector``: the best confidence a YOLO model (``.pt``, or ``.yaml`` for random-init tests) gives the
  class on the crop (any class when the model does not know the class name);
- ``owlv2`` / ``grounding_dino``: the best score an open-vocabulary detector (:mod:`idg.models.labelers`,
  the autolabel generator's labellers) gives any box of the crop for the class's queries
  (``classes.<name>.queries``), and that box.

``verify=none`` and ``verify=diff`` build no model. :func:`check_verifier` runs with the other start-up
checks, so a missing model path fails before any weights load.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from idg.core.config import LABELER_VERIFIERS, VerifyConfig
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
    elif cfg.name in LABELER_VERIFIERS:
        from idg.models.labelers import check_labeler_model

        check_labeler_model(cfg.name, cfg.model, "verify.model", offline, cfg.build_tiny)


class LabelerVerifier:
    """An open-vocabulary detector as a verifier: per crop, the best score of any of its boxes for the crop's
    class (the best over the class's queries), and that box in crop pixels."""

    def __init__(self, cfg: VerifyConfig, queries: Dict[str, List[str]], offline: bool, batch_invariant: str):
        from idg.models.labelers import ZeroShotDetector

        self.names = list(queries)
        self.queries = [queries[n] for n in self.names]
        self.detector = ZeroShotDetector(cfg.name, cfg.model, device=cfg.device, offline=offline, build_tiny=cfg.build_tiny,
                                         batch_invariant=batch_invariant, where="verify.model")

    def __call__(self, crops: Sequence[np.ndarray], classes: Sequence[str], prompts: Sequence[str]) -> List[float]:
        return [score for score, _ in self.locate(crops, classes)]

    def locate(self, crops: Sequence[np.ndarray], classes: Sequence[str]) -> List[Tuple[float, Optional[Tuple[float, ...]]]]:
        out = []
        for cand, cls in zip(self.detector.candidates(list(crops), self.queries), classes):
            column = cand.scores[:, self.names.index(cls)]
            if not len(column):
                out.append((0.0, None))
                continue
            best = int(column.argmax())
            out.append((float(column[best]), tuple(float(v) for v in cand.boxes[best])))
        return out


def build_verifier(cfg: VerifyConfig, offline: bool = False, queries: Optional[Dict[str, List[str]]] = None,
                   batch_invariant: str = "auto") -> Optional[Verifier]:
    """The verifier model of ``cfg``, or None for ``none`` and ``diff`` (no model). ``queries`` (class name ->
    text queries) is what the open-vocabulary verifiers look for."""
    if cfg.name == "clip":
        from idg.models.clip import ClipScorer

        return ClipScorer(cfg.model, cfg.device, offline)
    if cfg.name == "detector":
        from idg.models.detector import YoloLocator

        return YoloLocator(cfg.model, cfg.device)
    if cfg.name in LABELER_VERIFIERS:
        return LabelerVerifier(cfg, queries or {}, offline, batch_invariant)
    return None
