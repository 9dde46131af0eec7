"""What a checkpoint is, read from its small JSON configs before any weights load, and every check that can
fail before loading: the model exists, its family is one idg drives, a dedicated inpainting checkpoint is not
asked to draw backgrounds, the scheduler fits, each LoRA is for this family.

Configs come from a local directory, the local Hugging Face cache, or (online) a download of just those JSON
files. A tiny model that is not built yet is described by its preset (``family``, ``inpainting``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from idg.core.config import InpaintModelConfig, ModelConfig
from idg.core.errors import ConfigError, ModelLoadError
from idg.models.adapters import check_lora, check_scheduler
from idg.models.families import FAMILIES, Family, families_text, family_of_pipeline
from idg.models.hub import hub_host, is_local_path, local_files_only, offline_requested

log = logging.getLogger(__name__)

NodeConfig = Union[ModelConfig, InpaintModelConfig]

ALTERNATIVES = (
    "pass model.pretrained=/path/to/a/local/diffusers/dir (a save_pretrained folder or a downloaded snapshot), "
    "or model=tiny for a small random model that runs offline"
)

# What an unbuilt tiny model of each (family, dedicated inpainting) will be, and its scheduler.
TINY_KINDS = {("sdxl", False): "sdxl", ("sd", False): "sd15", ("sd", True): "sd15_inpainting",
              ("sdxl", True): "sdxl_inpainting", ("flux", False): "flux", ("flux", True): "flux_fill"}
TINY_SCHEDULERS = {"sdxl": "EulerDiscreteScheduler", "sd15": "PNDMScheduler", "sd15_inpainting": "PNDMScheduler",
                   "sdxl_inpainting": "EulerDiscreteScheduler", "flux": "FlowMatchEulerDiscreteScheduler",
                   "flux_fill": "FlowMatchEulerDiscreteScheduler"}


def node_name(cfg: NodeConfig) -> str:
    return "inpaint_model" if isinstance(cfg, InpaintModelConfig) else "model"


def check_model_available(cfg: NodeConfig, offline: bool) -> None:
    """Fail fast, before any weights load, when the model cannot possibly be found.

    A local path must exist (unless ``build_tiny`` will create it); a hub id must be in the local HF cache
    when the run is offline.
    """
    node = node_name(cfg)
    if cfg.pretrained is None:
        return
    pretrained = os.path.expanduser(cfg.pretrained)
    if is_local_path(cfg.pretrained):
        if cfg.build_tiny:
            return
        if not Path(pretrained).is_dir():
            raise ModelLoadError(f"{node}.pretrained={cfg.pretrained}: no such directory; {ALTERNATIVES}")
        if not (Path(pretrained) / "model_index.json").is_file():
            raise ModelLoadError(
                f"{node}.pretrained={cfg.pretrained}: not a diffusers pipeline (no model_index.json); {ALTERNATIVES}"
            )
        return
    if local_files_only(cfg.pretrained, cfg.local_files_only, offline):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(cfg.pretrained, "model_index.json", revision=cfg.revision)
        if not isinstance(cached, str):
            why = "this run is offline" if offline_requested(cfg.local_files_only, offline) else f"{hub_host()} cannot be reached"
            raise ModelLoadError(
                f"{node}.pretrained={cfg.pretrained} is not in the local Hugging Face cache and {why}; {ALTERNATIVES}"
            )


def read_config(cfg: NodeConfig, filename: str, local_only: bool) -> Optional[dict]:
    """One JSON file of the checkpoint (``model_index.json``, ``unet/config.json``...), or None if it has none
    or it cannot be had without loading weights. ``local_only``: from a local dir or the HF cache only."""
    pretrained = os.path.expanduser(cfg.pretrained)
    try:
        if is_local_path(cfg.pretrained):
            path = Path(pretrained) / filename
        elif local_only:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(cfg.pretrained, filename, revision=cfg.revision)
            path = Path(found) if isinstance(found, str) else None
        else:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(cfg.pretrained, filename, revision=cfg.revision))
        if path is None or not path.is_file():
            return None
        return json.loads(path.read_text())
    except Exception as exc:  # noqa: BLE001 - a config we cannot read leaves the preset's declaration to decide
        log.debug("cannot read %s of %s: %s", filename, cfg.pretrained, exc)
        return None


@dataclass
class Checkpoint:
    """A checkpoint as far as its configs tell, checked against what its node declares."""

    node: str
    family: Family
    inpainting: bool  # a dedicated inpainting checkpoint (mask + masked image go into the denoiser)
    pipeline_class: Optional[str]  # model_index.json _class_name (None: tiny, not built yet)
    scheduler_class: Optional[str]
    denoiser_config: Optional[dict]
    tiny_kind: Optional[str] = None  # which tiny model build_tiny builds


def _declared(cfg: NodeConfig) -> tuple:
    """(family, inpainting) as the node declares them; the background model declares no inpainting (it must
    not be an inpainting checkpoint, which :func:`check_node` says in its own words)."""
    return cfg.family, (cfg.inpainting if isinstance(cfg, InpaintModelConfig) else None)


def describe(cfg: NodeConfig, offline: bool) -> Checkpoint:
    """Family, inpainting and scheduler of ``cfg``'s checkpoint, from its configs (or, for a tiny model not
    built yet, its preset); raises ConfigError where they contradict the node's declaration."""
    node = node_name(cfg)
    declared_family, declared_inpainting = _declared(cfg)
    # One decision (and at most one Hub probe) for all the configs read below.
    local_only = local_files_only(cfg.pretrained, cfg.local_files_only, offline)
    index = read_config(cfg, "model_index.json", local_only)
    if index is None:
        if cfg.build_tiny:
            if declared_family is None:
                raise ConfigError(f"{node}.build_tiny=true needs {node}.family ({', '.join(FAMILIES)}): which tiny model to build")
            kind = TINY_KINDS[(declared_family, bool(declared_inpainting))]
            return Checkpoint(node, FAMILIES[declared_family], bool(declared_inpainting), None, TINY_SCHEDULERS[kind],
                              None, kind)
        if declared_family is None:
            raise ModelLoadError(f"{node}.pretrained={cfg.pretrained}: cannot read its model_index.json to tell its family; "
                                 f"set {node}.family to one of {', '.join(FAMILIES)}")
        return Checkpoint(node, FAMILIES[declared_family], bool(declared_inpainting), None, None, None)
    class_name = index.get("_class_name", "")
    family = family_of_pipeline(class_name)
    if family is None:
        what = "has no inpainting pipeline idg can drive" if node == "inpaint_model" else "is not a family idg drives"
        raise ConfigError(f"{node}.pretrained={cfg.pretrained} is a {class_name or 'pipeline without _class_name'} "
                          f"checkpoint, which {what}; supported: {families_text()}")
    if declared_family is not None and declared_family != family.name:
        raise ConfigError(f"{node}.family={declared_family} but {node}.pretrained={cfg.pretrained} holds a {class_name} "
                          f"({family.name}); set {node}.family={family.name} or null")
    denoiser = read_config(cfg, f"{family.denoiser}/config.json", local_only)
    inpainting = class_name == family.fill_pipeline or _takes_mask(denoiser)
    if declared_inpainting is not None and bool(declared_inpainting) != inpainting:
        channels = (denoiser or {}).get("in_channels")
        raise ConfigError(f"{node}.inpainting={declared_inpainting} but {cfg.pretrained} is "
                          f"{'a dedicated inpainting' if inpainting else 'a text-to-image'} checkpoint ({class_name}, "
                          f"{family.denoiser} in_channels={channels}); set {node}.inpainting={str(inpainting).lower()} or null")
    scheduler = (index.get("scheduler") or [None, None])[1] \
        or (read_config(cfg, "scheduler/scheduler_config.json", local_only) or {}).get("_class_name")
    kind = TINY_KINDS.get((family.name, inpainting)) if cfg.build_tiny else None
    return Checkpoint(node, family, inpainting, class_name, scheduler, denoiser, kind)


def _takes_mask(denoiser: Optional[dict]) -> bool:
    """A denoiser with more input than output channels also takes the mask and masked-image latents (SD's 9
    channels = 4 latents + 1 mask + 4 masked image; FLUX Fill's 384 = 64 + 64 + 256)."""
    if not denoiser or "in_channels" not in denoiser:
        return False
    out = denoiser.get("out_channels") or denoiser["in_channels"]
    return denoiser["in_channels"] > out


def check_node(cfg: NodeConfig, offline: bool) -> Checkpoint:
    """Every check of one node that needs no weights: availability, family, scheduler, LoRAs."""
    node = node_name(cfg)
    check_model_available(cfg, offline)
    ckpt = describe(cfg, offline)
    if node == "model" and ckpt.inpainting:
        raise ConfigError(
            f"model.pretrained={cfg.pretrained} is a dedicated inpainting checkpoint ({ckpt.pipeline_class}: its "
            f"{ckpt.family.denoiser} also takes the mask and masked image), so it cannot draw backgrounds from text; "
            f"use it as inpaint_model.pretrained={cfg.pretrained} and pick a text-to-image model (e.g. model=sdxl_base)"
        )
    check_scheduler(node, cfg.scheduler, dict(cfg.scheduler_args), ckpt.scheduler_class)
    for i, lora in enumerate(cfg.loras):
        check_lora(node, i, lora, ckpt.family, ckpt.denoiser_config)
    return ckpt


def check_models(model: ModelConfig, inpaint_model: Optional[InpaintModelConfig], offline: bool,
                 object_steps: Optional[int] = None) -> None:
    """Check the background model and (when objects are painted by diffusion) the inpainting model, before
    any weights load. ``inpaint_model=None``: no objects are painted by a model (copy-paste);
    ``object_steps``: the steps objects get (``inpaint.steps``), to warn when a reused model gets far fewer."""
    ckpt = check_node(model, offline)
    if inpaint_model is None:
        return
    if inpaint_model.reuses_model:
        if inpaint_model.scheduler != model.scheduler or inpaint_model.scheduler_args != model.scheduler_args:
            check_scheduler("inpaint_model", inpaint_model.scheduler, dict(inpaint_model.scheduler_args),
                            ckpt.scheduler_class)
        if object_steps is not None and object_steps < model.steps:
            log.warning(
                "objects are inpainted with %d steps (inpaint_model=%s, inpaint.steps) while backgrounds get %d "
                "(model.steps=%s): set inpaint_model.steps and inpaint_model.guidance for this model, or pick a "
                "dedicated inpaint_model", object_steps, inpaint_model.name, model.steps, model.name)
        return
    check_node(inpaint_model, offline)

