"""Schemas of what a dataset looks like: the ``dataset``, ``background`` and ``classes`` groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from idg.core.config.fields import help_field
from idg.core.errors import ConfigError


@dataclass
class BackgroundPrompt:
    prompt: str = help_field("text-to-image prompt for the background")
    num_images: int = help_field("how many backgrounds of this prompt (a share of the total when generate.num_images is set)", 1)


@dataclass
class BackgroundConfig:
    """The ``background`` group: which scenes the objects are painted into."""

    name: str = help_field("preset name", "custom")
    prompts: List[BackgroundPrompt] = help_field("background prompts with image counts", default_factory=list)
    negative_prompt: Optional[str] = help_field("negative prompt; null uses model.negative_prompt", None)


@dataclass
class ClassConfig:
    """One object class of the ``classes`` group (a dict keyed by class name, which is the detector label)."""

    prompt: str = help_field("inpainting prompt, e.g. 'a zebra'")
    count: List[int] = help_field("objects of this class per image, [min, max]", default_factory=lambda: [1, 1])
    width: Optional[List[float]] = help_field("box width range [min, max]; pixels at dataset.ref_resolution or a fraction (size_unit)", None)
    height: Optional[List[float]] = help_field("box height range [min, max]; same unit as width", None)
    aspect_ratio: List[float] = help_field("box width / height range [min, max]", default_factory=lambda: [0.5, 2.0])
    size_unit: str = help_field("'px' (scaled from dataset.ref_resolution to the image size) or 'fraction' of the image side", "px")
    queries: Optional[List[str]] = help_field("text queries an open-vocabulary labeller looks for (generator=autolabel, "
                                              "verify=owlv2|grounding_dino); null: the class name", None)

    def labeler_queries(self, name: str) -> List[str]:
        """The queries of this class (named ``name``): its own, or its name with underscores as spaces."""
        return list(self.queries) if self.queries is not None else [str(name).replace("_", " ")]


@dataclass
class DatasetConfig:
    """The ``dataset`` group: a preset that picks a background and a class set (or reads the prototype's CSVs)."""

    name: str = help_field("dataset name, used in output paths and W&B", "custom")
    ref_resolution: int = help_field("resolution at which pixel sizes in classes are given; they scale to generate.resolution", 768)
    backgrounds_csv: Optional[str] = help_field("prototype backgrounds.csv (prompt,num_imgs); replaces the background group", None)
    classes_csv: Optional[str] = help_field("prototype classes.csv; replaces the classes group", None)

    def __post_init__(self) -> None:
        if self.ref_resolution < 1:
            raise ConfigError(f"dataset.ref_resolution={self.ref_resolution} must be >= 1")
