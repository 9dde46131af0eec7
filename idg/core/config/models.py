"""Schemas of the two diffusion model nodes: ``model`` (draws the backgrounds) and ``inpaint_model`` (paints
the objects), and how an ``inpaint_model`` left partly unset takes the background model's values.

``inpaint_model.pretrained=null`` (the ``same`` preset, the default) reuses the background model's modules
through ``AutoPipelineForInpainting.from_pipe``: no second copy in memory, so everything that is part of the
loaded modules (dtype, device, LoRAs, compilation) is the model's and may not be set on ``inpaint_model``.
Any ``pretrained`` loads a separate pipeline of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from idg.core.config.fields import help_field
from idg.core.errors import ConfigError

FAMILIES = ("sdxl", "sd", "flux")
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class LoraConfig:
    """One entry of ``model.loras``: a LoRA file and the weight it is applied with."""

    path: str = help_field("a LoRA .safetensors file, or a folder holding one (diffusers, peft or kohya keys)")
    scale: float = help_field("adapter weight (set_adapters)", 1.0)


def _check_common(node: str, cfg: Any) -> None:
    """Checks shared by both nodes; ``None`` means 'inherited' and is checked after inheritance."""
    if cfg.family is not None and cfg.family not in FAMILIES:
        raise ConfigError(f"{node}.family={cfg.family!r} must be one of {', '.join(FAMILIES)} (or null: read from the "
                          "checkpoint's model_index.json)")
    if cfg.dtype is not None and cfg.dtype not in DTYPES:
        raise ConfigError(f"{node}.dtype={cfg.dtype!r} must be auto, float32, float16 or bfloat16")
    if cfg.steps < 1:
        raise ConfigError(f"{node}.steps={cfg.steps} must be >= 1")
    if cfg.guidance < 0:
        raise ConfigError(f"{node}.guidance={cfg.guidance} must be >= 0")
    for key in ("native_resolution", "size_multiple", "max_sequence_length"):
        value = getattr(cfg, key)
        if value is not None and value < 1:
            raise ConfigError(f"{node}.{key}={value} must be >= 1")
    if cfg.scheduler is not None and not str(cfg.scheduler).strip():
        raise ConfigError(f"{node}.scheduler is empty: give a diffusers scheduler class name or null")
    if cfg.scheduler_args and cfg.scheduler is None:
        raise ConfigError(f"{node}.scheduler_args is set but {node}.scheduler is null: name the scheduler they are for "
                          f"(e.g. {node}.scheduler=EulerDiscreteScheduler)")
    for i, lora in enumerate(cfg.loras):
        if not str(lora.path).strip():
            raise ConfigError(f"{node}.loras[{i}].path is empty: give a LoRA .safetensors file")


@dataclass
class ModelConfig:
    """The ``model`` group: the diffusers pipeline that draws the backgrounds, by hub id or local directory."""

    name: str = help_field("preset name", "sdxl_turbo")
    pretrained: str = help_field("hub id (e.g. stabilityai/sdxl-turbo) or a local diffusers directory", "stabilityai/sdxl-turbo")
    revision: Optional[str] = help_field("hub revision", None)
    variant: Optional[str] = help_field("weights variant loaded when the dtype is float16 (e.g. fp16); null for none", "fp16")
    family: Optional[str] = help_field("sdxl | sd (1.x/2.x) | flux: how prompts are encoded and the pipeline is driven; "
                                       "null: read from the checkpoint's model_index.json", None)
    dtype: str = help_field("auto (fp16 on CUDA, fp32 on CPU) | float32 | float16 | bfloat16", "auto")
    device: str = help_field("auto | cpu | cuda | cuda:N", "auto")
    steps: int = help_field("background inference steps", 2)
    guidance: float = help_field("background guidance scale (0 for Turbo; FLUX: the distilled guidance, no CFG)", 0.0)
    resolution: int = help_field("default image side in pixels (generate.resolution)", 768)
    native_resolution: int = help_field("side the model was trained at; crops are inpainted at this size", 512)
    size_multiple: int = help_field("image sides must be a multiple of this (VAE factor x UNet downsampling; 16 for FLUX)", 8)
    negative_prompt: str = help_field("default negative prompt (FLUX has none: ignored)", "render, anime, cartoon, illustration, drawing")
    scheduler: Optional[str] = help_field("a diffusers scheduler class name (e.g. EulerAncestralDiscreteScheduler) made "
                                          "from the checkpoint's scheduler config; null: the checkpoint's own", None)
    scheduler_args: Dict[str, Any] = help_field("keyword arguments for the scheduler (e.g. {use_karras_sigmas: true})",
                                                default_factory=dict)
    loras: List[LoraConfig] = help_field("LoRAs applied to the model: [{path: file.safetensors, scale: 0.8}, ...]",
                                         default_factory=list)
    compile: bool = help_field("torch.compile the denoiser (UNet or transformer); the first call compiles", False)
    cpu_offload: bool = help_field("enable_model_cpu_offload() on CUDA to save GPU memory (no effect elsewhere: warned)", False)
    max_sequence_length: Optional[int] = help_field("FLUX: T5 prompt length in tokens (schnell: 256); null: the pipeline's default", None)
    build_tiny: bool = help_field("build the family's tiny random model at `pretrained` if it is missing (offline tests)", False)
    local_files_only: bool = help_field("never contact the hub (also set by offline=true or HF_HUB_OFFLINE=1)", False)

    @property
    def reuses_model(self) -> bool:
        return False

    @property
    def inpainting(self) -> bool:
        return False  # the background model draws from text: never a dedicated inpainting checkpoint

    def __post_init__(self) -> None:
        _check_common("model", self)
        for key in ("resolution",):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be >= 1")
        if not self.pretrained.strip():
            raise ConfigError("model.pretrained is empty: give a hub id or a local diffusers directory")


# Keys that belong to the loaded modules: an inpaint_model that reuses the model's modules has the model's.
_MODULE_KEYS = ("revision", "variant", "family", "dtype", "device", "compile", "cpu_offload", "max_sequence_length",
                "local_files_only")
# Keys a separate inpaint_model left null takes from the model (the rest are per checkpoint).
_INHERITED = ("dtype", "device", "compile", "cpu_offload", "local_files_only", "native_resolution", "size_multiple",
              "negative_prompt")


@dataclass
class InpaintModelConfig:
    """The ``inpaint_model`` group: the pipeline that paints the objects. ``pretrained=null`` reuses the
    background model's modules (``from_pipe``); anything else loads its own, e.g. a 9-channel inpainting UNet."""

    name: str = help_field("preset name", "same")
    pretrained: Optional[str] = help_field("null: reuse the background model's modules (no second copy); or a hub id / "
                                           "local diffusers directory of its own (e.g. an inpainting checkpoint)", None)
    revision: Optional[str] = help_field("hub revision (own pipeline only)", None)
    variant: Optional[str] = help_field("weights variant loaded when the dtype is float16 (own pipeline only)", None)
    family: Optional[str] = help_field("sdxl | sd | flux; null: the model's (reused) or read from the checkpoint", None)
    inpainting: Optional[bool] = help_field("a dedicated inpainting checkpoint (9-channel UNet, FLUX Fill); null: read "
                                            "from the checkpoint's configs", None)
    dtype: Optional[str] = help_field("null: model.dtype", None)
    device: Optional[str] = help_field("null: model.device", None)
    steps: int = help_field("object inference steps (diffusers runs int(steps x inpaint.strength)); inpaint.steps overrides", 4)
    guidance: float = help_field("object guidance scale; inpaint.guidance overrides", 0.0)
    native_resolution: Optional[int] = help_field("side crops are inpainted at (inpaint.crop_size overrides); null: model's", None)
    size_multiple: Optional[int] = help_field("crop sides must be a multiple of this; null: model's", None)
    negative_prompt: Optional[str] = help_field("negative prompt for objects (inpaint.negative_prompt overrides); null: model's", None)
    scheduler: Optional[str] = help_field("a diffusers scheduler class name; null: the model's (reused) or the checkpoint's own", None)
    scheduler_args: Dict[str, Any] = help_field("keyword arguments for the scheduler", default_factory=dict)
    loras: List[LoraConfig] = help_field("LoRAs of an own pipeline (a reused one has model.loras)", default_factory=list)
    compile: Optional[bool] = help_field("torch.compile the denoiser; null: model.compile", None)
    cpu_offload: Optional[bool] = help_field("enable_model_cpu_offload() on CUDA; null: model.cpu_offload", None)
    max_sequence_length: Optional[int] = help_field("FLUX: T5 prompt length; null: the pipeline's default", None)
    build_tiny: bool = help_field("build the family's tiny random inpainting model at `pretrained` if it is missing", False)
    local_files_only: Optional[bool] = help_field("never contact the hub; null: model.local_files_only", None)

    @property
    def reuses_model(self) -> bool:
        return self.pretrained is None

    def __post_init__(self) -> None:
        _check_common("inpaint_model", self)
        if self.pretrained is not None and not self.pretrained.strip():
            raise ConfigError("inpaint_model.pretrained is empty: give a hub id or a local diffusers directory, or null "
                              "to reuse the background model")


def resolve_inpaint_model(model: ModelConfig, im: InpaintModelConfig) -> None:
    """Fill the keys ``im`` leaves null from ``model``, in place; refuse keys a reused model cannot have."""
    if im.reuses_model:
        given = [k for k in _MODULE_KEYS if getattr(im, k) is not None]
        given += [k for k, v in (("loras", im.loras), ("build_tiny", im.build_tiny), ("inpainting", im.inpainting)) if v]
        if given:
            key = given[0]
            raise ConfigError(
                f"inpaint_model.{key}={getattr(im, key)!r}: inpaint_model reuses the background model's modules "
                f"(inpaint_model.pretrained=null), so it has the model's {key}; set model.{key} instead, or "
                "inpaint_model.pretrained=<hub id or dir> to load a separate inpainting model"
            )
        im.family, im.inpainting, im.max_sequence_length = model.family, False, model.max_sequence_length
        if im.scheduler is None:
            im.scheduler, im.scheduler_args = model.scheduler, dict(model.scheduler_args)
    for key in _INHERITED:
        if getattr(im, key) is None:
            setattr(im, key, getattr(model, key))
    if im.dtype not in DTYPES:
        raise ConfigError(f"inpaint_model.dtype={im.dtype!r} must be auto, float32, float16 or bfloat16")

