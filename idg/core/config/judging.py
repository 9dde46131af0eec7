"""Schemas of the judges: when a painted object or a background counts as failed (``quality``), and what
scores an object (``verify``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from idg.core.config.fields import help_field
from idg.core.errors import ConfigError

VERIFIERS = ("none", "diff", "clip", "detector", "owlv2", "grounding_dino")
LABELER_VERIFIERS = ("owlv2", "grounding_dino")  # open-vocabulary detectors (idg.models.labelers)
LOCATING = ("detector",) + LABELER_VERIFIERS  # verifiers that give a box (verify.use_box)


@dataclass
class QualityConfig:
    """The ``quality`` group: when an object or a background counts as failed, and how often to retry.

    Objects: the box is re-estimated from what the paste changed (pixels whose colour moved by more than
    ``diff_threshold``, cleaned by a morphological opening, largest connected components kept); an object
    with too little change or a re-estimated box too unlike the requested one is repainted with a new seed.
    Seams (off by default): an object whose paste leaves a sharp edge (``seam_edge``) or a halo
    (``seam_halo``, against the image before the paste: exactly 1 when nothing changed) above the limit is
    repainted too. Backgrounds: black, near-constant, NaN or near-duplicate images are regenerated with a
    new seed.
    """

    max_attempts: int = help_field("tries per object and per background (first try included) before giving up", 3)
    min_changed_fraction: float = help_field("reject an object when less than this share of its box changed", 0.1)
    min_iou: float = help_field("reject an object when its re-estimated box has a lower IoU with the requested box", 0.3)
    diff_threshold: int = help_field("a pixel changed when a channel moved by more than this (0..255)", 24)
    morph_kernel: int = help_field("side of the square opening that removes specks from the change mask (1: none)", 3)
    component_fraction: float = help_field("keep change components with at least this share of the largest one's area", 0.2)
    black_level: float = help_field("a background whose mean pixel value is below this is 'black' (0..255)", 4.0)
    min_std: float = help_field("a background whose pixel standard deviation is below this is 'constant' (0..255)", 2.0)
    max_seam_edge: Optional[float] = help_field("retry/reject an object whose seam_edge (border gradient / gradient "
                                                "beside it, ~1: no edge) is above this; null: off", None)
    max_seam_halo: Optional[float] = help_field("retry/reject an object whose seam_halo (colour step across its border "
                                                "vs the image before, 1: unchanged) is above this; null: off", None)
    phash_distance: int = help_field("a background within this Hamming distance (64-bit pHash) of an earlier one is a "
                                "near-duplicate; -1 switches the check off", 4)
    duplicates: str = help_field("near-duplicate backgrounds: keep (used, flagged and counted) | drop | regenerate "
                            "(both keep them out: a generated background is drawn again with a new seed, a photo "
                            "source leaves near-duplicate photos out of its pool) | auto: regenerate for prompt "
                            "backgrounds, keep for photos (real video frames are often near-duplicates)", "auto")
    shortcut_images: int = help_field("held-out images with null-prompt inpaints, to test detectors for seam shortcuts; 0: off", 4)
    shortcut_conf: float = help_field("confidence at which a detection on a null-prompt box counts as a (false) fire", 0.25)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"quality.max_attempts must be >= 1 (got {self.max_attempts})")
        for key in ("min_changed_fraction", "min_iou", "component_fraction", "shortcut_conf"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"quality.{key} must be in [0, 1] (got {getattr(self, key)})")
        if not 0 <= self.diff_threshold <= 255:
            raise ConfigError(f"quality.diff_threshold must be in [0, 255] (got {self.diff_threshold})")
        if self.morph_kernel < 1:
            raise ConfigError(f"quality.morph_kernel must be >= 1 (got {self.morph_kernel})")
        for key in ("black_level", "min_std"):
            if not 0.0 <= getattr(self, key) <= 255.0:
                raise ConfigError(f"quality.{key} must be in [0, 255] (got {getattr(self, key)})")
        if self.max_seam_edge is not None and not self.max_seam_edge > 0:
            raise ConfigError(f"quality.max_seam_edge must be > 0 or null (got {self.max_seam_edge})")
        if self.max_seam_halo is not None and not self.max_seam_halo >= 1.0:
            raise ConfigError(f"quality.max_seam_halo must be >= 1 or null (got {self.max_seam_halo}): the halo term "
                              f"is 1 for a paste that changed nothing, so a lower limit rejects every object")
        if not -1 <= self.phash_distance <= 64:
            raise ConfigError(f"quality.phash_distance must be in [-1, 64] (got {self.phash_distance})")
        if self.duplicates not in ("auto", "keep", "drop", "regenerate"):
            raise ConfigError(f"quality.duplicates={self.duplicates!r} must be auto, keep, drop or regenerate")
        if self.shortcut_images < 0:
            raise ConfigError(f"quality.shortcut_images must be >= 0 (got {self.shortcut_images})")


    def duplicate_policy(self, photo: bool) -> str:
        """keep | drop | regenerate for a photo source (``photo``) or prompt backgrounds."""
        if self.duplicates == "auto":
            return "keep" if photo else "regenerate"
        return self.duplicates


@dataclass
class VerifyConfig:
    """The ``verify`` group: what decides that a painted object is really there.

    ``none`` keeps every object with its requested box (the prototype); ``diff`` re-estimates the box from
    the changed pixels and rejects objects by ``quality.*``; ``clip``, ``detector``, ``owlv2`` and
    ``grounding_dino`` add a score of the object's crop (CLIP image-text similarity with the class prompt, the
    best confidence of a YOLO model for the class, or an open-vocabulary detector's best score for the class's
    queries ``classes.<name>.queries``) that must reach ``min_score``.
    """

    name: str = help_field("none | diff | clip | detector | owlv2 | grounding_dino", "diff")
    model: Optional[str] = help_field("clip: CLIP hub id or local dir; detector: YOLO .pt or .yaml; owlv2 / "
                                      "grounding_dino: hub id or local save_pretrained dir", None)
    min_score: float = help_field("reject an object whose verifier score is below this (clip: cosine similarity in "
                             "[-1, 1]; detector, owlv2, grounding_dino: confidence in [0, 1])", 0.0)
    device: str = help_field("cpu | cuda | cuda:N for the verifier model", "cpu")
    use_box: bool = help_field("detector, owlv2, grounding_dino: label the verifier's best box for the class (inside "
                               "the requested box) instead of the box of the changed pixels", False)
    build_tiny: bool = help_field("owlv2 / grounding_dino: build a tiny random model at `model` if it is missing "
                                  "(offline tests)", False)

    def __post_init__(self) -> None:
        if self.name not in VERIFIERS:
            raise ConfigError(f"verify.name={self.name!r} must be one of {', '.join(VERIFIERS)}")
        if self.name not in ("none", "diff") and not (self.model and str(self.model).strip()):
            raise ConfigError(f"verify.model is not set but verify={self.name} needs a model: pass verify.model=<path or hub id>")
        if self.name == "detector" and not str(self.model).endswith((".pt", ".yaml", ".yml")):
            raise ConfigError(f"verify.model={self.model!r} must be a YOLO .pt checkpoint or model .yaml for verify=detector")
        if not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"verify.min_score must be in [-1, 1] (got {self.min_score})")
        if self.name in LOCATING and not 0.0 <= self.min_score <= 1.0:
            raise ConfigError(f"verify.min_score={self.min_score} must be in [0, 1] for verify={self.name} (a confidence)")
        if self.use_box and self.name not in LOCATING:
            raise ConfigError(f"verify.use_box=true needs a verifier that locates objects ({', '.join(LOCATING)}), "
                              f"not {self.name}")
        if self.build_tiny and self.name not in LABELER_VERIFIERS:
            raise ConfigError(f"verify.build_tiny=true builds a tiny {' or '.join(LABELER_VERIFIERS)} model, not {self.name}")
