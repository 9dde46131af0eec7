"""Schemas of the autolabel generator: the ``labeler`` group (the open-vocabulary detector that boxes the
objects of a whole generated image) and the ``autolabel`` node (how a prompt names its objects)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import List

from idg.core.config.fields import check_range, help_field
from idg.core.errors import ConfigError

LABELERS = ("owlv2", "grounding_dino")
ON_EMPTY = ("keep_as_background", "drop", "retry")
DTYPES = ("auto", "float32", "float16", "bfloat16")


def check_unit(where: str, value: float) -> None:
    """A score or IoU threshold: a number in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{where}={value} must be in [0, 1]")


@dataclass
class LabelerConfig:
    """The ``labeler`` group: an open-vocabulary detector (``transformers``' zero-shot object detection) that
    finds each class's text queries (``classes.<name>.queries``, default: the class name) in an image.

    Its raw boxes are filtered in this order: class score below ``threshold``, shorter side below
    ``min_size``, per-class non-maximum suppression at ``nms_iou``, then the ``max_objects`` best."""

    name: str = help_field("owlv2 | grounding_dino", "owlv2")
    model: str = help_field("hub id (google/owlv2-base-patch16-ensemble, IDEA-Research/grounding-dino-tiny) or a local "
                            "save_pretrained dir with model and processor", "google/owlv2-base-patch16-ensemble")
    revision: str = help_field("hub revision", "main")
    threshold: float = help_field("keep boxes whose class score (sigmoid, best over the class's queries) is at least "
                                  "this, in [0, 1]", 0.2)
    nms_iou: float = help_field("per-class non-maximum suppression: a box overlapping a better one of its class with IoU "
                                "above this is dropped, in [0, 1] (1: off)", 0.5)
    min_size: int = help_field("drop boxes whose shorter side is below this many pixels", 4)
    max_objects: int = help_field("keep at most this many boxes per image (the highest scores)", 20)
    on_empty: str = help_field("an image where no box is left: keep_as_background (exported with an empty label) | drop "
                               "(left out of the export, kept in images/dropped/) | retry (redrawn with the next "
                               "attempt's seed, up to quality.max_attempts, then kept as background)", "keep_as_background")
    batch_size: int = help_field("images per labeller forward pass (on CPU each image runs alone when "
                                 "generate.batch_invariant is on, so boxes never depend on the batch)", 8)
    device: str = help_field("auto (CUDA when there is one) | cpu | cuda | cuda:N", "auto")
    dtype: str = help_field("auto (fp16 on CUDA, fp32 on CPU) | float32 | float16 | bfloat16", "float32")
    build_tiny: bool = help_field("build a tiny random labeller at `model` if it is missing (offline tests)", False)

    def __post_init__(self) -> None:
        if self.name not in LABELERS:
            raise ConfigError(f"labeler.name={self.name!r} is not a known labeller; choose one of {', '.join(LABELERS)} "
                              f"(labeler=owlv2, labeler=grounding_dino, or their tiny_ variants)")
        if not str(self.model).strip():
            raise ConfigError("labeler.model is empty: give a hub id or a local save_pretrained dir")
        check_unit("labeler.threshold", self.threshold)
        check_unit("labeler.nms_iou", self.nms_iou)
        if self.min_size < 1:
            raise ConfigError(f"labeler.min_size={self.min_size} must be >= 1 (pixels)")
        if self.max_objects < 1:
            raise ConfigError(f"labeler.max_objects={self.max_objects} must be >= 1")
        if self.on_empty not in ON_EMPTY:
            raise ConfigError(f"labeler.on_empty={self.on_empty!r} must be one of {', '.join(ON_EMPTY)}")
        if self.batch_size < 1:
            raise ConfigError(f"labeler.batch_size={self.batch_size} must be >= 1")
        if self.dtype not in DTYPES:
            raise ConfigError(f"labeler.dtype={self.dtype!r} must be one of {', '.join(DTYPES)}")


def placeholders(template: str) -> List[str]:
    """The ``{names}`` of a format string (ConfigError when it does not parse)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"{template!r} is not a valid template ({exc})") from None


@dataclass
class AutolabelConfig:
    """The ``autolabel`` node: how ``generator=autolabel`` turns a background prompt (the scene) and the classes
    into a prompt whose image holds the objects, which the labeller then boxes.

    Per image, ``objects`` gives how many distinct classes the prompt names (drawn from the image's seed,
    capped at the number of classes); each named class becomes ``object_template`` and the list joins as
    "a, b and c" into ``template``."""

    template: str = help_field("the image prompt; {scene}: the background prompt, {objects}: the named objects",
                               "{scene}, with {objects}")
    object_template: str = help_field("one named object; {prompt}: the class prompt, {name}: the class name", "{prompt}")
    objects: List[int] = help_field("distinct classes named per prompt, [min, max] (capped at the number of classes)",
                                    default_factory=lambda: [1, 2])

    def __post_init__(self) -> None:
        used = placeholders(self.template)
        if "objects" not in used:
            raise ConfigError(f"autolabel.template={self.template!r} must contain '{{objects}}' (the named objects)")
        unknown = sorted(set(used) - {"scene", "objects"})
        if unknown:
            raise ConfigError(f"autolabel.template={self.template!r}: unknown placeholder(s) {unknown}; use {{scene}} "
                              f"and {{objects}}")
        unknown = sorted(set(placeholders(self.object_template)) - {"prompt", "name"})
        if unknown:
            raise ConfigError(f"autolabel.object_template={self.object_template!r}: unknown placeholder(s) {unknown}; "
                              f"use {{prompt}} and {{name}}")
        check_range("autolabel.objects", self.objects, low=1, allow_equal_low=True)
