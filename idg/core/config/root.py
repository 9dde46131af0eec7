"""The root schema (:class:`IdgConfig`), its cross-field checks, and how a composed config becomes it.

Every YAML under ``conf/<group>/`` inherits its ``base_<group>`` schema through its defaults list, so a
misspelt key or a wrong type fails when Hydra composes the config, naming the key. Range and cross-field
checks (``min <= max``, a box that fits the image) live in ``__post_init__`` and run when
:func:`to_config` turns the composed ``DictConfig`` into these dataclasses, before any model is loaded.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from idg.core.config.fields import check_prompt, check_range, help_field, whole_pixels
from idg.core.config.generation import CopyPasteConfig, GenerateConfig, InpaintConfig, SamplerConfig
from idg.core.config.models import InpaintModelConfig, ModelConfig, resolve_inpaint_model
from idg.core.config.judging import LABELER_VERIFIERS, QualityConfig, VerifyConfig
from idg.core.config.labeling import AutolabelConfig, LabelerConfig
from idg.core.config.scene import BackgroundConfig, ClassConfig, DatasetConfig, RealClassesConfig
from idg.core.config.study import DetectorConfig, LoggerConfig, RealConfig, StudyConfig
from idg.core.errors import ConfigError
from idg.core.stages import STAGES, stages_needing_real

REPO_ROOT = Path(__file__).resolve().parents[3]
log = logging.getLogger("idg.config")


@dataclass
class IdgConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    classes: Dict[str, ClassConfig] = field(default_factory=dict)
    real_classes: RealClassesConfig = field(default_factory=RealClassesConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    inpaint: InpaintConfig = field(default_factory=InpaintConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    inpaint_model: InpaintModelConfig = field(default_factory=InpaintModelConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    copy_paste: CopyPasteConfig = field(default_factory=CopyPasteConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    labeler: LabelerConfig = field(default_factory=LabelerConfig)
    autolabel: AutolabelConfig = field(default_factory=AutolabelConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    real: RealConfig = field(default_factory=RealConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    stages: List[str] = help_field("what runs: generate (+export), train (detector arms), evaluate (on real val)", default_factory=lambda: list(STAGES))
    run_dir: Optional[str] = help_field("output dir; null: Hydra's run dir", None)
    resume: bool = help_field("skip work already finished in run_dir (same config)", True)
    overwrite: bool = help_field("delete run_dir's outputs first when they came from a different config", False)
    offline: bool = help_field("never touch the network (HF hub, Ultralytics assets, W&B online)", False)

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ConfigError(f"stages={list(self.stages)}: choose from {', '.join(STAGES)}")
        if self.run_dir is not None and not str(self.run_dir).strip():
            raise ConfigError("run_dir is empty: give a directory, or leave it null to use hydra.run.dir")
        if self.generate.num_shards > 1 and self.compares_generators:
            raise ConfigError(
                f"generate.num_shards={self.generate.num_shards} with study.generators={list(self.study.generators)}: "
                "shard one generator at a time (generator=<name>, stages=[generate]), or drop study.generators"
            )
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
        self.resolve_inpainting()
        self.validate_classes()
        self.validate_backgrounds()
        if self.uses_labeler:
            self.validate_queries()
        if "autolabel" in self.generators and self.background.uses_photos:
            raise ConfigError(
                f"generator=autolabel draws whole images from the background prompts, but background="
                f"{'+'.join(self.background.sources)} takes photos: use a prompts background for autolabel, or leave "
                f"autolabel out of study.generators"
            )
        needing = stages_needing_real(self) if not self.real.given else ()
        if "generate" in needing:
            why = ("generator=copy_paste cuts its objects from the real train split" if "copy_paste" in self.generators
                   else "sampler=real_prior fits box layouts to the real train split" if self.sampler.name == "real_prior"
                   else f"background={'+'.join(self.background.sources)} takes its backgrounds from the real train split")
            raise ConfigError(f"{why}, but real.data is not set: pass real.data=<path/to/data.yaml> (or real=fire8_mini)")
        if needing:
            raise ConfigError(
                "real.data is not set but the study trains or evaluates on real images: pass "
                "real.data=<path/to/data.yaml> (or real=fire8_mini), or stages=[generate]"
            )

    def resolve_inpainting(self) -> None:
        """``inpaint_model`` keys left null take the model's; ``inpaint.steps``/``guidance`` left null take
        ``inpaint_model``'s (so a sweep over ``inpaint.steps`` still works, and the manifest records the values used)."""
        im, inp = self.inpaint_model, self.inpaint
        resolve_inpaint_model(self.model, im)
        if inp.steps is None:
            inp.steps = im.steps
        if inp.guidance is None:
            inp.guidance = im.guidance
        if int(inp.steps * inp.strength) < 1:
            raise ConfigError(
                f"inpaint.steps={inp.steps} (or inpaint_model.steps) x inpaint.strength={inp.strength} runs no "
                "denoising step; raise either"
            )
        crop = inp.crop_size or im.native_resolution
        if inp.mode == "crop" and crop % im.size_multiple:
            raise ConfigError(
                f"inpaint crop size {crop} (inpaint.crop_size or inpaint_model.native_resolution) is not a multiple of "
                f"inpaint_model.size_multiple={im.size_multiple} ({im.name})"
            )
        if inp.mode == "full" and self.generate.resolution % im.size_multiple:
            raise ConfigError(
                f"inpaint.mode=full inpaints the whole {self.generate.resolution} px frame, which is not a multiple "
                f"of inpaint_model.size_multiple={im.size_multiple} ({im.name})"
            )

    def validate_backgrounds(self) -> None:
        if "prompts" not in self.background.sources:
            return
        if not self.background.prompts:
            raise ConfigError("background.prompts is empty: give at least one background prompt (or a photo source: "
                              "background=images|real_empty|real_train)")
        for i, bg in enumerate(self.background.prompts):
            check_prompt(f"background.prompts[{i}].prompt", bg.prompt)
            if bg.num_images < 1:
                raise ConfigError(f"background.prompts[{i}].num_images={bg.num_images} must be >= 1")

    @property
    def generators(self) -> List[str]:
        """The generators of this study: ``study.generators``, or ``generate.generator`` alone."""
        return list(self.study.generators) or [self.generate.generator]

    def for_generator(self, name: str) -> "IdgConfig":
        """This config with ``generate.generator=name`` (one generator's part of a study comparing them). A
        shallow copy: the whole config was validated for every generator of ``study.generators`` already."""
        out = copy.copy(self)
        out.generate = dataclasses.replace(self.generate, generator=name)
        return out

    @property
    def compares_generators(self) -> bool:
        """Whether the study makes one synthetic set per generator (``study.generators``) under ``generators/``."""
        return bool(self.study.generators)

    @property
    def uses_labeler(self) -> bool:
        """Whether an open-vocabulary labeller reads the class queries (autolabel, or a labeller verifier)."""
        return "autolabel" in self.generators or self.verify.name in LABELER_VERIFIERS

    def queries(self) -> List[List[str]]:
        """Each class's labeller queries, in class-id order."""
        return [spec.labeler_queries(name) for name, spec in self.classes.items()]

    def validate_queries(self) -> None:
        for name, spec in self.classes.items():
            queries = spec.labeler_queries(name)
            if not queries:
                raise ConfigError(f"classes.{name}.queries is empty: give the labeller at least one text query, or null "
                                  f"for the class name")
            for k, q in enumerate(queries):
                check_prompt(f"classes.{name}.queries[{k}]", q)

    def validate_classes(self) -> None:
        """Each class's ranges, and that its boxes can exist in an image of ``generate.resolution``."""
        if not self.classes:
            raise ConfigError("classes is empty: define at least one object class (e.g. classes=fire)")
        side = self.generate.resolution
        for name, spec in self.classes.items():
            where = f"classes.{name}"
            if not str(name).strip():
                raise ConfigError("classes has an empty class name")
            check_prompt(f"{where}.prompt", spec.prompt)
            check_range(f"{where}.count", spec.count, low=0, allow_equal_low=True)
            check_range(f"{where}.aspect_ratio", spec.aspect_ratio)
            if spec.size_unit not in ("px", "fraction"):
                raise ConfigError(f"{where}.size_unit={spec.size_unit!r} must be px or fraction")
            if spec.width is None and spec.height is None:
                raise ConfigError(f"{where}: give width or height (or both) as a [min, max] range")
            for key in ("width", "height"):
                rng = getattr(spec, key)
                if rng is None:
                    continue
                check_range(f"{where}.{key}", rng)
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
        self.check_some_objects()

    def check_some_objects(self) -> None:
        """Every class at ``count=[0, 0]`` makes a detection set without a single object: refused when the
        study trains on it, a warning when only generating (background-only images may be meant)."""
        if any(spec.count[1] > 0 for spec in self.classes.values()):
            return
        keys = ", ".join(f"classes.{name}.count" for name in self.classes)
        message = f"every class has count=[0, 0] ({keys}), so the images would hold no objects"
        if "train" in self.stages and any(arm != "real_only" for arm in self.study.arms):
            raise ConfigError(f"{message} and the synthetic arms nothing to learn; raise a class's count, e.g. "
                              f"classes.{next(iter(self.classes))}.count=[1,3]")
        log.warning("%s: generating background-only images", message)

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
        w_px, h_px = whole_pixels(w), whole_pixels(h)
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
        ("labeler", LabelerConfig),
        ("model", ModelConfig),
        ("inpaint_model", InpaintModelConfig),
        ("detector", DetectorConfig),
        ("real", RealConfig),
        ("logger", LoggerConfig),
    ):
        cs.store(group=group, name=f"base_{group}", node=node)


def to_config(cfg: DictConfig, preprocess: Sequence[Callable[[Dict[str, Any]], None]] = ()) -> IdgConfig:
    """Resolve and validate a composed config into typed dataclasses (runs every ``__post_init__`` check).

    ``preprocess`` functions edit the plain resolved dict first (``idg.pipeline.load_config`` passes the
    prototype-CSV import, so its file errors also come before any model loads).
    """
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    container.pop("hydra", None)
    container.pop("experiment", None)
    container.pop("hparams_search", None)
    for step in preprocess:
        step(container)
    check_finite(container)
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


def _non_finite(node: Any, key: str):
    """``(key, value, bad number)`` of the first NaN or infinity in a plain config tree, else None."""
    if isinstance(node, float) and not math.isfinite(node):
        return key, node, node
    if isinstance(node, dict):
        for k, v in node.items():
            found = _non_finite(v, f"{key}.{k}" if key else str(k))
            if found:
                return found
    if isinstance(node, (list, tuple)):
        for v in node:
            if isinstance(v, float) and not math.isfinite(v):
                return key, list(node), v  # name the list's key and show the whole value, as it was typed
            found = _non_finite(v, key) if isinstance(v, (dict, list, tuple)) else None
            if found:
                return found
    return None


def check_finite(container: Dict[str, Any]) -> None:
    """No NaN or infinity anywhere in the config (an override ``inpaint.strength=nan`` or ``.inf`` in YAML):
    range checks cannot catch them (every comparison with NaN is false), so they would reach the samplers
    and the detector. Raises ConfigError naming the key."""
    found = _non_finite(container, "")
    if found:
        key, value, bad = found
        raise ConfigError(f"{key}={value}: {bad} is not a finite number; give a finite value")


def _full_key_suffix(exc: Exception) -> str:
    key = getattr(exc, "full_key", None)
    return f" (key: {key})" if key else ""
