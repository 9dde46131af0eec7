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


BACKGROUND_SOURCES = ("prompts", "images", "real_empty", "real_train")
PHOTO_SOURCES = ("images", "real_empty", "real_train")
FIT_MODES = ("center_crop", "random_crop", "letterbox")


@dataclass
class BackgroundShare:
    """One source of a ``background.mix`` and its share of the images."""

    source: str = help_field("prompts | images | real_empty | real_train")
    share: float = help_field("share of the images drawn from this source (shares are normalised to sum to 1)", 1.0)


@dataclass
class BackgroundConfig:
    """The ``background`` group: which scenes the objects are painted into.

    ``prompts``: text-to-image from ``prompts``; ``images``: the user's own photos (``images``: a folder, a
    glob, or a text file of paths); ``real_empty``: the real train subset's images without an object of the
    selected classes; ``real_train``: the real train subset's images that hold objects (their labels are
    kept, new objects go beside them). Photos are resized and cropped to ``generate.resolution`` by ``fit``.
    ``mix`` draws each image from one of several sources by share."""

    name: str = help_field("preset name", "custom")
    source: str = help_field("prompts | images | real_empty | real_train (ignored when mix is set)", "prompts")
    prompts: List[BackgroundPrompt] = help_field("background prompts with image counts", default_factory=list)
    negative_prompt: Optional[str] = help_field("negative prompt; null uses model.negative_prompt", None)
    images: Optional[str] = help_field("source=images: a folder of photos, a glob (e.g. '/data/scenes/*.jpg') or a "
                                  "text file with one photo path per line", None)
    fit: str = help_field("how a photo becomes a square generate.resolution image: center_crop | random_crop "
                     "(seeded per image) | letterbox (whole photo, grey borders)", "center_crop")
    min_side: int = help_field("photos whose shorter side is below this many pixels are an error", 32)
    mix: List[BackgroundShare] = help_field("several sources by share, e.g. [{source: prompts, share: 0.5}, "
                                       "{source: real_empty, share: 0.5}]; empty: the single 'source'",
                                       default_factory=list)

    def __post_init__(self) -> None:
        for where, src in [("background.source", self.source)] + [
                (f"background.mix[{i}].source", m.source) for i, m in enumerate(self.mix)]:
            if src not in BACKGROUND_SOURCES:
                raise ConfigError(f"{where}={src!r} must be one of {', '.join(BACKGROUND_SOURCES)}")
        for i, m in enumerate(self.mix):
            if not m.share > 0:
                raise ConfigError(f"background.mix[{i}].share={m.share} must be > 0")
        if len({m.source for m in self.mix}) != len(self.mix):
            raise ConfigError("background.mix names a source twice; give each source once with its share")
        if self.fit not in FIT_MODES:
            raise ConfigError(f"background.fit={self.fit!r} must be one of {', '.join(FIT_MODES)}")
        if self.min_side < 1:
            raise ConfigError(f"background.min_side={self.min_side} must be >= 1")
        if "images" in self.sources and not (self.images and str(self.images).strip()):
            raise ConfigError("background.source=images needs background.images=<folder, glob or text file of photo paths>")

    @property
    def sources(self) -> List[str]:
        """The sources in use, in mix order."""
        return [m.source for m in self.mix] if self.mix else [self.source]

    @property
    def uses_photos(self) -> bool:
        return any(s in PHOTO_SOURCES for s in self.sources)

    @property
    def uses_real(self) -> bool:
        """Whether backgrounds come from the real train subset (so a set is made per fraction and seed)."""
        return any(s in ("real_empty", "real_train") for s in self.sources)


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
class RealClassesConfig:
    """The ``real_classes`` node: ``classes=from_real`` builds the class list from the real dataset's names."""

    enabled: bool = help_field("build ``classes`` from the real dataset's class names (set by classes=from_real)", False)
    prompt_template: str = help_field("each class's prompt; {name} is the real class name", "a photo of {name}")
    count: List[int] = help_field("objects of each class per image for samplers other than real_prior (which fits "
                             "the counts)", default_factory=lambda: [0, 1])


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
