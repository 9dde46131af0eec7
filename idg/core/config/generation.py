"""Schemas of the generation engine: the ``sampler`` and ``inpaint`` groups and the ``generate`` and
``copy_paste`` nodes (the model nodes are in :mod:`idg.core.config.models`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from idg.core.config.fields import help_field
from idg.core.errors import ConfigError

GENERATORS = ("diffusion", "copy_paste", "autolabel")
# How a painted crop or a real object goes into its box (idg.generate.blend.paste): color_<mode> first moves
# the patch's colours to fit the surroundings, then pastes with <mode>.
BLEND_MODES = ("none", "feather", "gaussian", "poisson", "laplacian", "color_feather", "color_laplacian",
               "color_poisson")
SAMPLERS = ("random", "grid", "non_overlap", "real_prior")


@dataclass
class SamplerConfig:
    """The ``sampler`` group: where boxes go."""

    name: str = help_field("random | grid | non_overlap | real_prior (fitted to the real train subset's labels)", "random")
    jitter: float = help_field("grid: how far a box may move inside its cell, 0 (centred) .. 1 (anywhere in the cell)", 1.0)
    max_iou: float = help_field("non_overlap: largest IoU allowed between two boxes of an image", 0.0)
    min_gap: int = help_field("non_overlap: pixels kept free between boxes", 0)
    max_tries: int = help_field("non_overlap/random/real_prior: placement attempts per box before the image is declared full", 200)
    bandwidth: float = help_field("real_prior: jitter of a sampled box around the real one it is drawn from: sizes by a "
                             "log-normal factor of this sigma, centres by a normal of half of it (image fractions)", 0.1)
    avoid_overlap: bool = help_field("real_prior: keep sampled boxes apart by max_iou / min_gap (as non_overlap); "
                                "boxes never overlap the real objects of a real_train background", False)

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise ConfigError(f"sampler.name={self.name!r} must be one of {', '.join(SAMPLERS)}")
        if not 0.0 <= self.bandwidth <= 2.0:
            raise ConfigError(f"sampler.bandwidth={self.bandwidth} must be in [0, 2]")
        if not 0.0 <= self.jitter <= 1.0:
            raise ConfigError(f"sampler.jitter={self.jitter} must be in [0, 1]")
        if not 0.0 <= self.max_iou < 1.0:
            raise ConfigError(f"sampler.max_iou={self.max_iou} must be in [0, 1)")
        if self.min_gap < 0:
            raise ConfigError(f"sampler.min_gap={self.min_gap} must be >= 0")
        if self.max_tries < 1:
            raise ConfigError(f"sampler.max_tries={self.max_tries} must be >= 1")


@dataclass
class InpaintConfig:
    """The ``inpaint`` group: how each class prompt is painted into its box."""

    strength: float = help_field("denoising strength in (0, 1]; 1 ignores the background under the mask", 0.75)
    steps: Optional[int] = help_field("inference steps (diffusers runs int(steps * strength) of them); null: inpaint_model.steps", None)
    guidance: Optional[float] = help_field("guidance scale; null: inpaint_model.guidance", None)
    seed: Optional[int] = help_field("seed for the object draws; null uses generate.seed (so a sweep can vary objects alone)", None)
    mask: str = help_field("mask shape: rect | ellipse", "rect")
    feather: int = help_field("width in pixels of the soft edge where the inpainted crop fades into the image "
                         "(at most a quarter of the box's shorter side)", 8)
    blend: str = help_field("how the crop is pasted: none (hard) | feather | gaussian | poisson | laplacian | "
                       "color_feather | color_laplacian | color_poisson (colour transfer to the surroundings first)",
                       "color_laplacian")
    mode: str = help_field("crop: inpaint a context window at the model's native resolution; full: whole frame (the prototype)", "crop")
    context: float = help_field("crop mode: context window side = context x the box's longer side", 2.0)
    crop_size: Optional[int] = help_field("crop mode: side of the crop fed to the model; null uses model.native_resolution", None)
    prompt_template: str = help_field("how a class prompt becomes the inpainting prompt; {prompt} is replaced", "{prompt}")
    negative_prompt: Optional[str] = help_field("negative prompt for objects; null uses inpaint_model.negative_prompt", None)

    def __post_init__(self) -> None:
        if not 0.0 < self.strength <= 1.0:
            raise ConfigError(f"inpaint.strength={self.strength} must be in (0, 1]")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"inpaint.steps={self.steps} must be >= 1")
        if self.guidance is not None and self.guidance < 0:
            raise ConfigError(f"inpaint.guidance={self.guidance} must be >= 0")
        if self.mask not in ("rect", "ellipse"):
            raise ConfigError(f"inpaint.mask={self.mask!r} must be rect or ellipse")
        if self.feather < 0:
            raise ConfigError(f"inpaint.feather={self.feather} must be >= 0")
        if self.blend not in BLEND_MODES:
            raise ConfigError(f"inpaint.blend={self.blend!r} must be one of {', '.join(BLEND_MODES)}")
        if self.mode not in ("crop", "full"):
            raise ConfigError(f"inpaint.mode={self.mode!r} must be crop or full")
        if self.context < 1.0:
            raise ConfigError(f"inpaint.context={self.context} must be >= 1 (the window must contain the box)")
        if self.crop_size is not None and self.crop_size < 8:
            raise ConfigError(f"inpaint.crop_size={self.crop_size} must be >= 8")
        if "{prompt}" not in self.prompt_template:
            raise ConfigError(f"inpaint.prompt_template={self.prompt_template!r} must contain '{{prompt}}'")


@dataclass
class GenerateConfig:
    """The ``generate`` node: how much to generate, where, and how."""

    generator: str = help_field("diffusion: backgrounds + inpainted objects | copy_paste: backgrounds + real objects "
                           "cut from the real train subset | autolabel: whole images whose prompts name the objects, "
                           "boxed by the labeller (set by the generator group)", "diffusion")
    seed: int = help_field("run seed; every image and object seed derives from it", 0)
    num_images: Optional[int] = help_field("total images; null uses the sum of background num_images", None)
    resolution: int = help_field("image side in pixels; null-like default follows model.resolution", 768)
    batch_size: int = help_field("images per pipeline call (objects of a batch of images are inpainted together)", 4)
    val_fraction: float = help_field("share of synthetic images written to the val split", 0.1)
    image_format: str = help_field("png (lossless) | jpg", "png")
    cache_dir: str = help_field("background cache and built models, shared across runs", "${oc.env:IDG_CACHE_DIR,'~/.cache/idg'}")
    use_cache: bool = help_field("read/write the content-addressed background cache", True)
    batch_invariant: str = help_field("auto (on CPU) | true | false: run kernels per sample so batch size never changes output bits", "auto")
    progress: bool = help_field("progress bars (off when stdout is not a terminal)", True)
    pipeline_progress: bool = help_field("diffusers' own per-call step bars (pipe.set_progress_bar_config)", False)
    num_shards: int = help_field("split generation into this many disjoint, deterministic shards", 1)
    shard: int = help_field("which shard this job generates, 0 .. num_shards-1", 0)

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise ConfigError(f"generate.generator={self.generator!r} must be one of {', '.join(GENERATORS)}")
        if self.num_images is not None and self.num_images < 1:
            raise ConfigError(f"generate.num_images={self.num_images} must be >= 1")
        if self.resolution < 8:
            raise ConfigError(f"generate.resolution={self.resolution} must be >= 8")
        if self.batch_size < 1:
            raise ConfigError(f"generate.batch_size={self.batch_size} must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"generate.val_fraction={self.val_fraction} must be in [0, 1)")
        if self.image_format not in ("png", "jpg"):
            raise ConfigError(f"generate.image_format={self.image_format!r} must be png or jpg")
        if str(self.batch_invariant).lower() not in ("auto", "true", "false"):
            raise ConfigError(f"generate.batch_invariant={self.batch_invariant!r} must be auto, true or false")
        if not str(self.cache_dir).strip():
            raise ConfigError("generate.cache_dir is empty (or $IDG_CACHE_DIR is set but empty): give a directory for "
                              "the background cache and built models (default ~/.cache/idg)")
        if self.num_shards < 1 or not 0 <= self.shard < self.num_shards:
            raise ConfigError(
                f"generate.shard={self.shard} / generate.num_shards={self.num_shards}: need 0 <= shard < num_shards"
            )


@dataclass
class CopyPasteConfig:
    """The ``copy_paste`` node: how ``generator=copy_paste`` pastes real objects into the sampled boxes."""

    blend: str = help_field("how a real object is pasted: none (hard) | feather | gaussian | poisson | laplacian | "
                       "color_feather | color_laplacian | color_poisson (its source's light matched to the scene's)",
                       "laplacian")
    feather: int = help_field("soft edge in pixels inside the box (at most a quarter of the box's shorter side)", 8)
    candidates: int = help_field("random real objects of the class drawn per box; the one whose aspect ratio is "
                            "closest to the box's is pasted (1: uniform choice, any stretch)", 4)
    mask: str = help_field("which pixels of a real box are pasted: box (all of it, with the object's own "
                      "background) | grabcut (GrabCut seeded by the box) | contrast (colours standing out from "
                      "the ring around the box); a mask keeping < 15% of the box falls back to the box", "box")

    def __post_init__(self) -> None:
        if self.blend not in BLEND_MODES:
            raise ConfigError(f"copy_paste.blend={self.blend!r} must be one of {', '.join(BLEND_MODES)}")
        if self.feather < 0:
            raise ConfigError(f"copy_paste.feather={self.feather} must be >= 0")
        if self.candidates < 1:
            raise ConfigError(f"copy_paste.candidates={self.candidates} must be >= 1")
        if self.mask not in ("box", "grabcut", "contrast"):
            raise ConfigError(f"copy_paste.mask={self.mask!r} must be one of box, grabcut, contrast")
