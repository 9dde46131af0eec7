"""Typed configuration: one dataclass per config group, registered with Hydra's ConfigStore.

Every YAML under ``conf/<group>/`` inherits its ``base_<group>`` schema through its defaults list, so a
misspelt key or a wrong type fails when Hydra composes the config, naming the key. Range and cross-field
checks (``min <= max``, a box that fits the image) live in ``__post_init__`` and run when
:func:`to_config` turns the composed ``DictConfig`` into these dataclasses, before any model is loaded.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from idg.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("generate", "train", "evaluate")
ARMS = ("syn_only", "syn_then_real", "real_only", "mixed")
GENERATORS = ("diffusion", "copy_paste")


def _help(text: str, default: Any = MISSING, default_factory: Any = None) -> Any:
    """A dataclass field with fairseq-style ``metadata={"help": ...}`` (shown by ``idg.config.describe``)."""
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


def _check_range(where: str, values: List[float], *, low: float = 0.0, allow_equal_low: bool = False) -> None:
    """A ``[min, max]`` pair: two numbers, ``min <= max``, both above ``low``."""
    if len(values) != 2:
        raise ConfigError(f"{where}={list(values)} must be a [min, max] pair")
    lo, hi = values
    bad_low = lo < low if allow_equal_low else lo <= low
    if bad_low:
        sign = ">=" if allow_equal_low else ">"
        raise ConfigError(f"{where}={list(values)}: min must be {sign} {low:g}")
    if lo > hi:
        raise ConfigError(f"{where}={list(values)}: min {lo:g} is greater than max {hi:g}")


def _whole_pixels(rng: List[float]) -> List[int]:
    """The whole-pixel sizes inside ``[lo, hi]``; a range narrower than a pixel rounds to its middle."""
    lo, hi = max(1, math.ceil(rng[0] - 1e-9)), max(1, math.floor(rng[1] + 1e-9))
    if lo > hi and rng[1] >= rng[0]:
        lo = hi = max(1, int(round((rng[0] + rng[1]) / 2)))
    return [lo, hi]


def _check_prompt(where: str, prompt: Any) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where}={prompt!r} must be a non-empty string")


# --------------------------------------------------------------------------------------------- dataset


@dataclass
class BackgroundPrompt:
    prompt: str = _help("text-to-image prompt for the background")
    num_images: int = _help("how many backgrounds of this prompt (a share of the total when generate.num_images is set)", 1)


@dataclass
class BackgroundConfig:
    """The ``background`` group: which scenes the objects are painted into."""

    name: str = _help("preset name", "custom")
    prompts: List[BackgroundPrompt] = _help("background prompts with image counts", default_factory=list)
    negative_prompt: Optional[str] = _help("negative prompt; null uses model.negative_prompt", None)


@dataclass
class ClassConfig:
    """One object class of the ``classes`` group (a dict keyed by class name, which is the detector label)."""

    prompt: str = _help("inpainting prompt, e.g. 'a zebra'")
    count: List[int] = _help("objects of this class per image, [min, max]", default_factory=lambda: [1, 1])
    width: Optional[List[float]] = _help("box width range [min, max]; pixels at dataset.ref_resolution or a fraction (size_unit)", None)
    height: Optional[List[float]] = _help("box height range [min, max]; same unit as width", None)
    aspect_ratio: List[float] = _help("box width / height range [min, max]", default_factory=lambda: [0.5, 2.0])
    size_unit: str = _help("'px' (scaled from dataset.ref_resolution to the image size) or 'fraction' of the image side", "px")


@dataclass
class DatasetConfig:
    """The ``dataset`` group: a preset that picks a background and a class set (or reads the prototype's CSVs)."""

    name: str = _help("dataset name, used in output paths and W&B", "custom")
    ref_resolution: int = _help("resolution at which pixel sizes in classes are given; they scale to generate.resolution", 768)
    backgrounds_csv: Optional[str] = _help("prototype backgrounds.csv (prompt,num_imgs); replaces the background group", None)
    classes_csv: Optional[str] = _help("prototype classes.csv; replaces the classes group", None)

    def __post_init__(self) -> None:
        if self.ref_resolution < 1:
            raise ConfigError(f"dataset.ref_resolution={self.ref_resolution} must be >= 1")


# --------------------------------------------------------------------------------------------- generation


@dataclass
class SamplerConfig:
    """The ``sampler`` group: where boxes go."""

    name: str = _help("random | grid | non_overlap", "random")
    jitter: float = _help("grid: how far a box may move inside its cell, 0 (centred) .. 1 (anywhere in the cell)", 1.0)
    max_iou: float = _help("non_overlap: largest IoU allowed between two boxes of an image", 0.0)
    min_gap: int = _help("non_overlap: pixels kept free between boxes", 0)
    max_tries: int = _help("non_overlap/random: placement attempts per box before the image is declared full", 200)

    def __post_init__(self) -> None:
        if self.name not in ("random", "grid", "non_overlap"):
            raise ConfigError(f"sampler.name={self.name!r} must be one of random, grid, non_overlap")
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

    strength: float = _help("denoising strength in (0, 1]; 1 ignores the background under the mask", 0.75)
    steps: int = _help("inference steps (diffusers runs int(steps * strength) of them)", 4)
    guidance: float = _help("classifier-free guidance scale; 0 for SDXL-Turbo", 0.0)
    seed: Optional[int] = _help("seed for the object draws; null uses generate.seed (so a sweep can vary objects alone)", None)
    mask: str = _help("mask shape: rect | ellipse", "rect")
    feather: int = _help("width in pixels of the soft edge where the inpainted crop fades into the image "
                         "(at most a quarter of the box's shorter side)", 8)
    blend: str = _help("how the crop is pasted: none (hard) | feather | gaussian | poisson", "feather")
    mode: str = _help("crop: inpaint a context window at the model's native resolution; full: whole frame (the prototype)", "crop")
    context: float = _help("crop mode: context window side = context x the box's longer side", 2.0)
    crop_size: Optional[int] = _help("crop mode: side of the crop fed to the model; null uses model.native_resolution", None)
    prompt_template: str = _help("how a class prompt becomes the inpainting prompt; {prompt} is replaced", "{prompt}")
    negative_prompt: Optional[str] = _help("negative prompt for objects; null uses model.negative_prompt", None)

    def __post_init__(self) -> None:
        if not 0.0 < self.strength <= 1.0:
            raise ConfigError(f"inpaint.strength={self.strength} must be in (0, 1]")
        if self.steps < 1:
            raise ConfigError(f"inpaint.steps={self.steps} must be >= 1")
        if int(self.steps * self.strength) < 1:
            raise ConfigError(
                f"inpaint.steps={self.steps} x inpaint.strength={self.strength} runs no denoising step; raise either"
            )
        if self.guidance < 0:
            raise ConfigError(f"inpaint.guidance={self.guidance} must be >= 0")
        if self.mask not in ("rect", "ellipse"):
            raise ConfigError(f"inpaint.mask={self.mask!r} must be rect or ellipse")
        if self.feather < 0:
            raise ConfigError(f"inpaint.feather={self.feather} must be >= 0")
        if self.blend not in ("none", "feather", "gaussian", "poisson"):
            raise ConfigError(f"inpaint.blend={self.blend!r} must be one of none, feather, gaussian, poisson")
        if self.mode not in ("crop", "full"):
            raise ConfigError(f"inpaint.mode={self.mode!r} must be crop or full")
        if self.context < 1.0:
            raise ConfigError(f"inpaint.context={self.context} must be >= 1 (the window must contain the box)")
        if self.crop_size is not None and self.crop_size < 8:
            raise ConfigError(f"inpaint.crop_size={self.crop_size} must be >= 8")
        if "{prompt}" not in self.prompt_template:
            raise ConfigError(f"inpaint.prompt_template={self.prompt_template!r} must contain '{{prompt}}'")


@dataclass
class ModelConfig:
    """The ``model`` group: a diffusers SDXL-family pipeline by hub id or local directory."""

    name: str = _help("preset name", "sdxl_turbo")
    pretrained: str = _help("hub id (e.g. stabilityai/sdxl-turbo) or a local diffusers directory", "stabilityai/sdxl-turbo")
    revision: Optional[str] = _help("hub revision", None)
    variant: Optional[str] = _help("weights variant loaded when the dtype is float16 (e.g. fp16); null for none", "fp16")
    dtype: str = _help("auto (fp16 on CUDA, fp32 on CPU) | float32 | float16 | bfloat16", "auto")
    device: str = _help("auto | cpu | cuda | cuda:N", "auto")
    steps: int = _help("background inference steps", 2)
    guidance: float = _help("background guidance scale (0 for Turbo)", 0.0)
    resolution: int = _help("default image side in pixels (generate.resolution)", 768)
    native_resolution: int = _help("side the model was trained at; crops are inpainted at this size", 512)
    size_multiple: int = _help("image sides must be a multiple of this (VAE factor x UNet downsampling)", 8)
    negative_prompt: str = _help("default negative prompt", "render, anime, cartoon, illustration, drawing")
    cpu_offload: bool = _help("enable_model_cpu_offload() on CUDA to save GPU memory", False)
    build_tiny: bool = _help("build a tiny random SDXL at `pretrained` if it is missing (offline tests)", False)
    local_files_only: bool = _help("never contact the hub (also set by offline=true or HF_HUB_OFFLINE=1)", False)

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise ConfigError(f"model.dtype={self.dtype!r} must be auto, float32, float16 or bfloat16")
        if self.steps < 1:
            raise ConfigError(f"model.steps={self.steps} must be >= 1")
        if self.guidance < 0:
            raise ConfigError(f"model.guidance={self.guidance} must be >= 0")
        for key in ("resolution", "native_resolution", "size_multiple"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be >= 1")
        if not self.pretrained.strip():
            raise ConfigError("model.pretrained is empty: give a hub id or a local diffusers directory")


@dataclass
class GenerateConfig:
    """The ``generate`` node: how much to generate, where, and how."""

    generator: str = _help("diffusion: backgrounds + inpainted objects | copy_paste: backgrounds + real objects "
                           "cut from the real train subset (set by the generator group)", "diffusion")
    seed: int = _help("run seed; every image and object seed derives from it", 0)
    num_images: Optional[int] = _help("total images; null uses the sum of background num_images", None)
    resolution: int = _help("image side in pixels; null-like default follows model.resolution", 768)
    batch_size: int = _help("images per pipeline call (objects of a batch of images are inpainted together)", 4)
    val_fraction: float = _help("share of synthetic images written to the val split", 0.1)
    image_format: str = _help("png (lossless) | jpg", "png")
    cache_dir: str = _help("background cache and built models, shared across runs", "${oc.env:IDG_CACHE_DIR,'~/.cache/idg'}")
    use_cache: bool = _help("read/write the content-addressed background cache", True)
    batch_invariant: str = _help("auto (on CPU) | true | false: run kernels per sample so batch size never changes output bits", "auto")
    progress: bool = _help("progress bars (off when stdout is not a terminal)", True)
    pipeline_progress: bool = _help("diffusers' own per-call step bars (pipe.set_progress_bar_config)", False)
    num_shards: int = _help("split generation into this many disjoint, deterministic shards", 1)
    shard: int = _help("which shard this job generates, 0 .. num_shards-1", 0)

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
        if self.num_shards < 1 or not 0 <= self.shard < self.num_shards:
            raise ConfigError(
                f"generate.shard={self.shard} / generate.num_shards={self.num_shards}: need 0 <= shard < num_shards"
            )


@dataclass
class CopyPasteConfig:
    """The ``copy_paste`` node: how ``generator=copy_paste`` pastes real objects into the sampled boxes."""

    blend: str = _help("how a real object is pasted: none (hard) | feather | gaussian | poisson", "feather")
    feather: int = _help("soft edge in pixels inside the box (at most a quarter of the box's shorter side)", 8)
    candidates: int = _help("random real objects of the class drawn per box; the one whose aspect ratio is "
                            "closest to the box's is pasted (1: uniform choice, any stretch)", 4)

    def __post_init__(self) -> None:
        if self.blend not in ("none", "feather", "gaussian", "poisson"):
            raise ConfigError(f"copy_paste.blend={self.blend!r} must be one of none, feather, gaussian, poisson")
        if self.feather < 0:
            raise ConfigError(f"copy_paste.feather={self.feather} must be >= 0")
        if self.candidates < 1:
            raise ConfigError(f"copy_paste.candidates={self.candidates} must be >= 1")


# --------------------------------------------------------------------------------------------- quality

VERIFIERS = ("none", "diff", "clip", "detector")


@dataclass
class QualityConfig:
    """The ``quality`` group: when an object or a background counts as failed, and how often to retry.

    Objects: the box is re-estimated from what the paste changed (pixels whose colour moved by more than
    ``diff_threshold``, cleaned by a morphological opening, largest connected components kept); an object
    with too little change or a re-estimated box too unlike the requested one is repainted with a new seed.
    Backgrounds: black, near-constant, NaN or near-duplicate images are regenerated with a new seed.
    """

    max_attempts: int = _help("tries per object and per background (first try included) before giving up", 3)
    min_changed_fraction: float = _help("reject an object when less than this share of its box changed", 0.1)
    min_iou: float = _help("reject an object when its re-estimated box has a lower IoU with the requested box", 0.3)
    diff_threshold: int = _help("a pixel changed when a channel moved by more than this (0..255)", 24)
    morph_kernel: int = _help("side of the square opening that removes specks from the change mask (1: none)", 3)
    component_fraction: float = _help("keep change components with at least this share of the largest one's area", 0.2)
    black_level: float = _help("a background whose mean pixel value is below this is 'black' (0..255)", 4.0)
    min_std: float = _help("a background whose pixel standard deviation is below this is 'constant' (0..255)", 2.0)
    phash_distance: int = _help("a background within this Hamming distance (64-bit pHash) of an earlier one is a "
                                "near-duplicate; -1 switches the check off", 4)
    shortcut_images: int = _help("held-out images with null-prompt inpaints, to test detectors for seam shortcuts; 0: off", 4)
    shortcut_conf: float = _help("confidence at which a detection on a null-prompt box counts as a (false) fire", 0.25)

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
        if not -1 <= self.phash_distance <= 64:
            raise ConfigError(f"quality.phash_distance must be in [-1, 64] (got {self.phash_distance})")
        if self.shortcut_images < 0:
            raise ConfigError(f"quality.shortcut_images must be >= 0 (got {self.shortcut_images})")


@dataclass
class VerifyConfig:
    """The ``verify`` group: what decides that a painted object is really there.

    ``none`` keeps every object with its requested box (the prototype); ``diff`` re-estimates the box from
    the changed pixels and rejects objects by ``quality.*``; ``clip`` and ``detector`` add a score of the
    object's crop (CLIP image-text similarity with the class prompt, or the best confidence of a YOLO model
    for the class) that must reach ``min_score``.
    """

    name: str = _help("none | diff | clip | detector", "diff")
    model: Optional[str] = _help("clip: CLIP hub id or local dir; detector: YOLO .pt or .yaml", None)
    min_score: float = _help("reject an object whose verifier score is below this (clip: cosine similarity in "
                             "[-1, 1]; detector: confidence in [0, 1])", 0.0)
    device: str = _help("cpu | cuda | cuda:N for the verifier model", "cpu")
    use_box: bool = _help("detector: label the detector's best box for the class (inside the requested box) "
                          "instead of the box of the changed pixels", False)

    def __post_init__(self) -> None:
        if self.name not in VERIFIERS:
            raise ConfigError(f"verify.name={self.name!r} must be one of {', '.join(VERIFIERS)}")
        if self.name in ("clip", "detector") and not (self.model and str(self.model).strip()):
            raise ConfigError(f"verify.model is not set but verify={self.name} needs a model: pass verify.model=<path or hub id>")
        if self.name == "detector" and not str(self.model).endswith((".pt", ".yaml", ".yml")):
            raise ConfigError(f"verify.model={self.model!r} must be a YOLO .pt checkpoint or model .yaml for verify=detector")
        if not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"verify.min_score must be in [-1, 1] (got {self.min_score})")
        if self.use_box and self.name != "detector":
            raise ConfigError(f"verify.use_box=true needs verify=detector (a verifier that locates objects), not {self.name}")


# --------------------------------------------------------------------------------------------- detection


@dataclass
class DetectorConfig:
    """The ``detector`` group: an Ultralytics YOLO model and its training arguments (Ultralytics' own names)."""

    model: str = _help("model .yaml (random init, e.g. yolov8n.yaml) or a trusted .pt checkpoint", "yolov8n.yaml")
    imgsz: int = _help("train/val image size", 640)
    epochs: int = _help("epochs on the synthetic set (syn_only, and the first half of syn_then_real)", 30)
    finetune_epochs: int = _help("epochs on real data (real_only, syn_then_real fine-tune, mixed)", 30)
    batch: int = _help("batch size", 16)
    device: Optional[str] = _help("Ultralytics device string; null picks CUDA if present", None)
    workers: int = _help("dataloader workers", 4)
    patience: int = _help("early-stopping patience in epochs", 100)
    args: Dict[str, Any] = _help("any further YOLO.train() arguments, passed through unchanged", default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.model.endswith(".yaml") or self.model.endswith(".yml") or self.model.endswith(".pt")):
            raise ConfigError(f"detector.model={self.model!r} must be a model .yaml or a .pt checkpoint")
        for key in ("imgsz", "batch"):
            if getattr(self, key) < 1:
                raise ConfigError(f"detector.{key}={getattr(self, key)} must be >= 1")
        for key in ("epochs", "finetune_epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"detector.{key}={getattr(self, key)} must be >= 1")
        if self.workers < 0:
            raise ConfigError(f"detector.workers={self.workers} must be >= 0")
        reserved = {"data", "epochs", "project", "name", "exist_ok", "model"} & set(self.args)
        if reserved:
            raise ConfigError(f"detector.args sets {sorted(reserved)}, which idg controls; use detector.* instead")


@dataclass
class RealConfig:
    """The ``real`` group: a real dataset in Ultralytics YOLO layout, used to fine-tune and to evaluate."""

    name: str = _help("preset name", "none")
    data: Optional[str] = _help("path to a YOLO data.yaml with train and val splits", None)
    class_map: Dict[str, str] = _help("real class name -> synthetic class name, for names that differ", default_factory=dict)
    check_images: bool = _help("open every real image at start-up to catch corrupt files", True)

    def __post_init__(self) -> None:
        if self.data is not None and not str(self.data).strip():
            raise ConfigError("real.data is empty: give the path of a YOLO data.yaml or null")


@dataclass
class StudyConfig:
    """The ``study`` node: which detector trainings (arms) to compare, at which real fractions and seeds."""

    arms: List[str] = _help("syn_only | syn_then_real | real_only | mixed", default_factory=lambda: ["syn_only", "syn_then_real", "real_only"])
    fractions: List[float] = _help("shares of the real train split to use (deterministic subsets)", default_factory=lambda: [1.0])
    seeds: List[int] = _help("training seeds (and subset seeds); >= 2 gives confidence intervals", default_factory=lambda: [0])
    metric: str = _help("main metric returned to sweepers: map50 | map50_95", "map50_95")
    reuse: List[str] = _help("run dirs of other studies: a training there with the same key (same init, data and "
                             "settings, e.g. a shared real_only baseline) is copied instead of retrained",
                             default_factory=list)

    def __post_init__(self) -> None:
        for d in self.reuse:
            if not os.path.isdir(os.path.join(os.path.expanduser(d), "detect")):
                raise ConfigError(f"study.reuse: {d} is not a study run dir (it has no detect/ folder)")
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise ConfigError(f"study.arms={list(self.arms)}: choose from {', '.join(ARMS)}")
        for f in self.fractions:
            if not 0.0 < f <= 1.0:
                raise ConfigError(f"study.fractions contains {f}; each must be in (0, 1]")
        if not self.fractions:
            raise ConfigError("study.fractions is empty")
        if not self.seeds:
            raise ConfigError("study.seeds is empty")
        if self.metric not in ("map50", "map50_95"):
            raise ConfigError(f"study.metric={self.metric!r} must be map50 or map50_95")


# --------------------------------------------------------------------------------------------- logging


@dataclass
class LoggerConfig:
    """The ``logger`` group: Weights & Biases. The run dir holds everything W&B shows, so W&B is optional."""

    name: str = _help("preset name", "wandb")
    mode: str = _help("online | offline | disabled", "offline")
    project: str = _help("W&B project", "idg")
    entity: Optional[str] = _help("W&B entity (team or user)", None)
    group: Optional[str] = _help("W&B group; null: the sweep name in --multirun, else none", None)
    tags: List[str] = _help("W&B tags", default_factory=list)
    job_type: str = _help("W&B job type", "study")
    run_name: Optional[str] = _help("W&B run name; null: dataset name + run dir name", None)
    num_samples: int = _help("generated images shown in the sample grid", 16)
    num_pairs: int = _help("before/after pairs (cached background | inpainted image) shown", 4)
    table_rows: int = _help("rows of the per-object table (rejected objects first when cut); 0: no table", 1000)
    artifacts: bool = _help("log the dataset and the detector weights as W&B artifacts (referenced, not copied)", True)
    online_timeout: float = _help("mode=online: seconds to wait for the W&B server before logging offline", 5.0)

    def __post_init__(self) -> None:
        if self.mode not in ("online", "offline", "disabled"):
            raise ConfigError(f"logger.mode={self.mode!r} must be online, offline or disabled")
        for key in ("num_samples", "num_pairs", "table_rows"):
            if getattr(self, key) < 0:
                raise ConfigError(f"logger.{key}={getattr(self, key)} must be >= 0")
        if self.online_timeout <= 0:
            raise ConfigError(f"logger.online_timeout={self.online_timeout} must be > 0")


# --------------------------------------------------------------------------------------------- root


@dataclass
class IdgConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    classes: Dict[str, ClassConfig] = field(default_factory=dict)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    inpaint: InpaintConfig = field(default_factory=InpaintConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    copy_paste: CopyPasteConfig = field(default_factory=CopyPasteConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    real: RealConfig = field(default_factory=RealConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    stages: List[str] = _help("what runs: generate (+export), train (detector arms), evaluate (on real val)", default_factory=lambda: list(STAGES))
    run_dir: Optional[str] = _help("output dir; null: Hydra's run dir", None)
    resume: bool = _help("skip work already finished in run_dir (same config)", True)
    overwrite: bool = _help("delete run_dir's outputs first when they came from a different config", False)
    offline: bool = _help("never touch the network (HF hub, Ultralytics assets, W&B online)", False)

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ConfigError(f"stages={list(self.stages)}: choose from {', '.join(STAGES)}")
        if self.generate.num_shards > 1 and any(s != "generate" for s in self.stages):
            raise ConfigError(
                f"generate.num_shards={self.generate.num_shards}: a shard is part of a dataset, so run it with "
                "stages=[generate] and combine the shards with `python -m idg.merge`"
            )
        if self.generate.resolution % self.model.size_multiple:
            raise ConfigError(
                f"generate.resolution={self.generate.resolution} is not a multiple of model.size_multiple="
                f"{self.model.size_multiple} ({self.model.name})"
            )
        crop = self.inpaint.crop_size or self.model.native_resolution
        if crop % self.model.size_multiple:
            raise ConfigError(
                f"inpaint crop size {crop} (inpaint.crop_size or model.native_resolution) is not a multiple of "
                f"model.size_multiple={self.model.size_multiple}"
            )
        self.validate_classes()
        self.validate_backgrounds()
        if self.generate.generator == "copy_paste" and "generate" in self.stages and self.real.data is None:
            raise ConfigError(
                "generator=copy_paste cuts its objects from the real train split, but real.data is not set: pass "
                "real.data=<path/to/data.yaml> (or real=fire8_mini)"
            )
        if ("train" in self.stages or "evaluate" in self.stages) and self.real.data is None:
            needs_real = [a for a in self.study.arms if a != "syn_only"] or "evaluate" in self.stages
            if needs_real:
                raise ConfigError(
                    "real.data is not set but the study trains or evaluates on real images: pass "
                    "real.data=<path/to/data.yaml> (or real=fire8_mini), or stages=[generate]"
                )

    def validate_backgrounds(self) -> None:
        if not self.background.prompts:
            raise ConfigError("background.prompts is empty: give at least one background prompt")
        for i, bg in enumerate(self.background.prompts):
            _check_prompt(f"background.prompts[{i}].prompt", bg.prompt)
            if bg.num_images < 1:
                raise ConfigError(f"background.prompts[{i}].num_images={bg.num_images} must be >= 1")

    def validate_classes(self) -> None:
        """Each class's ranges, and that its boxes can exist in an image of ``generate.resolution``."""
        if not self.classes:
            raise ConfigError("classes is empty: define at least one object class (e.g. classes=fire)")
        side = self.generate.resolution
        for name, spec in self.classes.items():
            where = f"classes.{name}"
            if not str(name).strip():
                raise ConfigError("classes has an empty class name")
            _check_prompt(f"{where}.prompt", spec.prompt)
            _check_range(f"{where}.count", spec.count, low=0, allow_equal_low=True)
            _check_range(f"{where}.aspect_ratio", spec.aspect_ratio)
            if spec.size_unit not in ("px", "fraction"):
                raise ConfigError(f"{where}.size_unit={spec.size_unit!r} must be px or fraction")
            if spec.width is None and spec.height is None:
                raise ConfigError(f"{where}: give width or height (or both) as a [min, max] range")
            for key in ("width", "height"):
                rng = getattr(spec, key)
                if rng is None:
                    continue
                _check_range(f"{where}.{key}", rng)
                if spec.size_unit == "fraction" and rng[1] > 1.0:
                    raise ConfigError(f"{where}.{key}={list(rng)} is a fraction of the image, so max must be <= 1")
            sizes = self.box_size_range(name)
            if sizes["w"][0] > side or sizes["h"][0] > side:
                raise ConfigError(
                    f"{where}: the smallest box ({sizes['w'][0]}x{sizes['h'][0]} px) is larger than the "
                    f"{side}x{side} image (generate.resolution)"
                )
            if sizes["w"][1] > side or sizes["h"][1] > side:
                raise ConfigError(
                    f"{where}: boxes up to {sizes['w'][1]}x{sizes['h'][1]} px do not fit the {side}x{side} image "
                    f"(generate.resolution); lower {where}.width/height"
                )

    def box_size_range(self, name: str) -> Dict[str, List[int]]:
        """Feasible integer pixel ranges of box width ``w``, height ``h`` and aspect ``ar`` for class ``name``.

        Pixel sizes scale by ``generate.resolution / dataset.ref_resolution``; a missing width or height range
        follows from the other and the aspect ratio. Raises ConfigError when no box satisfies all three ranges.
        """
        spec = self.classes[name]
        where = f"classes.{name}"
        side = self.generate.resolution
        scale = side if spec.size_unit == "fraction" else side / self.dataset.ref_resolution
        ar_lo, ar_hi = spec.aspect_ratio
        w = [v * scale for v in spec.width] if spec.width is not None else None
        h = [v * scale for v in spec.height] if spec.height is not None else None
        # A range that follows from the other one and the aspect ratio is cut to the image; only ranges the
        # user gave can be too large (an error below).
        if w is None:
            w = [h[0] * ar_lo, min(h[1] * ar_hi, side)]
        if h is None:
            h = [w[0] / ar_hi, min(w[1] / ar_lo, side)]
        w_px, h_px = _whole_pixels(w), _whole_pixels(h)
        for key, rng in (("width", w_px), ("height", h_px)):
            if rng[0] > rng[1]:
                raise ConfigError(f"{where}.{key}: no whole-pixel size in range at {side} px (got {rng})")
        # A box exists when some aspect ratio in range joins a feasible width and height.
        ar_min = max(ar_lo, w_px[0] / h_px[1])
        ar_max = min(ar_hi, w_px[1] / h_px[0])
        if ar_min > ar_max + 1e-9:
            raise ConfigError(
                f"{where}: no box has width in {w_px} px, height in {h_px} px and aspect_ratio in "
                f"{list(spec.aspect_ratio)}; widen one of the three ranges"
            )
        return {"w": w_px, "h": h_px, "ar": [ar_min, ar_max]}

    @property
    def class_names(self) -> List[str]:
        return list(self.classes)


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("idg.root"):
        # Paths inside this checkout (the bundled real-data subset), independent of the working directory.
        OmegaConf.register_new_resolver("idg.root", lambda sub="": str(REPO_ROOT / sub) if sub else str(REPO_ROOT))


def register_configs() -> None:
    """Register each group's schema as ``base_<group>`` and the root schema as ``base_config``."""
    _register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=IdgConfig)
    for group, node in (
        ("dataset", DatasetConfig),
        ("background", BackgroundConfig),
        ("sampler", SamplerConfig),
        ("inpaint", InpaintConfig),
        ("quality", QualityConfig),
        ("verify", VerifyConfig),
        ("model", ModelConfig),
        ("detector", DetectorConfig),
        ("real", RealConfig),
        ("logger", LoggerConfig),
    ):
        cs.store(group=group, name=f"base_{group}", node=node)


def to_config(cfg: DictConfig) -> IdgConfig:
    """Resolve and validate a composed config into typed dataclasses (runs every ``__post_init__`` check).

    The CSV dataset form is read here too, so its errors also come before any model loads.
    """
    from idg.dataset import apply_csv_dataset  # local: dataset imports this module

    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    container.pop("hydra", None)
    container.pop("experiment", None)
    container.pop("hparams_search", None)
    apply_csv_dataset(container)
    schema = OmegaConf.structured(IdgConfig)
    try:
        typed = OmegaConf.merge(schema, container)
        obj = OmegaConf.to_object(typed)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf validation errors name the key; keep only that line
        raise ConfigError(str(exc).splitlines()[0] + _full_key_suffix(exc)) from exc
    obj.generate.cache_dir = os.path.expanduser(obj.generate.cache_dir)
    return obj


def _full_key_suffix(exc: Exception) -> str:
    key = getattr(exc, "full_key", None)
    return f" (key: {key})" if key else ""


def describe(node: type) -> str:
    """Field, type, default and help of a schema dataclass, for docs and ``--help``-like listings."""
    from dataclasses import MISSING as DC_MISSING, fields

    lines = []
    for f in fields(node):
        default = f.default if f.default is not DC_MISSING else (f.default_factory() if f.default_factory is not DC_MISSING else "???")
        lines.append(f"{f.name} = {default!r}  # {f.metadata.get('help', '')}")
    return "\n".join(lines)
