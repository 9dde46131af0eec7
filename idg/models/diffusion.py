"""Loading diffusers pipelines from a hub id or a local directory, with clear errors when they cannot be had.

The background model comes from ``AutoPipelineForText2Image.from_pretrained``. The object model either
reuses its modules through ``AutoPipelineForInpainting.from_pipe`` (no second copy in memory) or loads a
pipeline of its own: ``AutoPipelineForInpainting`` for SD/SDXL (a 9-channel inpainting UNet is driven with
its mask and masked-image latents by the same pipeline) and FLUX, ``FluxFillPipeline`` for FLUX Fill. Tiny
models (``build_tiny``) go through exactly the same path, from a directory built once. Before weights load,
:func:`idg.models.checkpoints.check_models` has checked everything that can be checked from configs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Optional

from idg.core.config import InpaintModelConfig, ModelConfig
from idg.core.errors import ModelLoadError
from idg.models.adapters import apply_scheduler, load_loras, lora_identity, make_scheduler
from idg.models.batch_invariant import make_batch_invariant
from idg.models.checkpoints import ALTERNATIVES, Checkpoint, NodeConfig, check_model_available, describe, node_name
from idg.models.families import PromptEncoder
from idg.models.hub import is_local_path, local_files_only
from idg.models.runner import DiffusionModel, Pipelines

log = logging.getLogger(__name__)

__all__ = ["ALTERNATIVES", "check_model_available", "from_pretrained_safe", "load_pipelines", "model_identity",
           "resolve_device", "resolve_dtype"]


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated, slowly."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        import torch

        return bool(getattr(torch.backends.mkldnn, "is_available", lambda: False)())
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def model_identity(cfg: NodeConfig, dtype) -> str:
    """What a generated pixel depends on in the model: for cache keys and manifests. Scheduler, LoRAs and the
    T5 prompt length are appended only when set, so keys of runs without them stay as they were."""
    target = os.path.expanduser(cfg.pretrained)
    if is_local_path(cfg.pretrained):
        target = str(Path(target).resolve())
    identity = f"{target}@{cfg.revision or 'main'}:{str(dtype).replace('torch.', '')}"
    if cfg.scheduler:
        args = ",".join(f"{k}={cfg.scheduler_args[k]!r}" for k in sorted(cfg.scheduler_args))
        identity += f"|scheduler={cfg.scheduler}({args})"
    if cfg.loras:
        identity += "|loras=" + ",".join(f"{lo['sha256']}*{lo['scale']:g}" for lo in lora_identity(node_name(cfg), cfg.loras))
    if cfg.max_sequence_length:
        identity += f"|max_sequence_length={cfg.max_sequence_length}"
    return identity


def from_pretrained_safe(cls, pretrained: str, kwargs: Dict[str, object]):
    """``cls.from_pretrained`` preferring safetensors weights, which cannot run code when loaded.

    Tries safetensors with ``kwargs["variant"]`` (if any), then safetensors without it; pickled ``.bin``
    weights (which can run code) only when the model has no safetensors at all, with a warning: load such
    models only from sources you trust. Other errors are raised at once, not retried."""
    variant = kwargs.get("variant")
    base = {k: v for k, v in kwargs.items() if k != "variant"}
    first: Optional[BaseException] = None
    for safe in (True, False):
        for v in ([variant, None] if variant else [None]):
            try:
                pipe = cls.from_pretrained(pretrained, use_safetensors=safe, **base, **({"variant": v} if v else {}))
            except (OSError, ValueError) as exc:
                if not any(word in str(exc).lower() for word in ("safetensors", "variant")):
                    raise
                first = first or exc
                continue
            if variant and not v:
                log.warning("variant %s of %s not available; loaded the default weights", variant, pretrained)
            if not safe:
                log.warning("%s has no safetensors weights; loaded its pickled .bin weights, which can run code: "
                            "load only models you trust", pretrained)
            return pipe
    raise first


def _dtype_keyword() -> str:
    """``dtype`` where diffusers has renamed ``torch_dtype`` (and warns about the old name), else ``torch_dtype``."""
    try:
        from diffusers.utils.deprecation_utils import _TORCH_DTYPE_DEPRECATION_MESSAGE  # noqa: F401
    except ImportError:
        return "torch_dtype"
    return "dtype"


def _build_tiny(ckpt: Checkpoint, path: str) -> None:
    if ckpt.tiny_kind == "sdxl":
        from idg.models.tiny import ensure_tiny_sdxl

        ensure_tiny_sdxl(path)
    else:
        from idg.models.tiny_zoo import ensure_tiny

        ensure_tiny(ckpt.tiny_kind, path)


def _pipeline_class(ckpt: Checkpoint, objects: bool):
    import diffusers

    if not objects:
        return diffusers.AutoPipelineForText2Image
    if ckpt.inpainting and ckpt.family.fill_pipeline:
        return getattr(diffusers, ckpt.family.fill_pipeline)
    return diffusers.AutoPipelineForInpainting


def _warn_settings(cfg: NodeConfig, device: str, dtype, warned: set) -> None:
    """Settings that cannot do what they ask on this device, warned once per run (``warned`` holds what was
    said: an inpaint_model inheriting the same setting is not warned again)."""
    import torch

    node = node_name(cfg)
    if cfg.cpu_offload and not device.startswith("cuda") and "cpu_offload" not in warned:
        warned.add("cpu_offload")
        log.warning("%s.cpu_offload=true has no effect on %s (it moves modules between a CUDA GPU and the CPU); "
                    "ignored", node, device)
    if dtype == torch.bfloat16 and device == "cpu" and "bf16" not in warned and not cpu_has_fast_bf16():
        warned.add("bf16")
        log.warning("%s.dtype=bfloat16 on a CPU without native bf16 (no AVX512-BF16/AMX): it is emulated and much "
                    "slower than float32; consider %s.dtype=float32", node, node)


def _prepare(pipe, cfg: NodeConfig, ckpt: Checkpoint, device: str, invariant: bool, progress: bool) -> None:
    """Scheduler, LoRAs, placement, batch invariance and compilation of a freshly loaded pipeline, in that
    order (LoRA layers must exist before modules are patched or compiled)."""
    node = node_name(cfg)
    apply_scheduler(pipe, cfg.scheduler, cfg.scheduler_args)
    try:
        load_loras(pipe, node, cfg.loras)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"{node}.loras could not be applied to {cfg.pretrained} ({exc.__class__.__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if cfg.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if invariant:
        make_batch_invariant(*ckpt.family.modules(pipe))
    if cfg.compile:
        getattr(pipe, ckpt.family.denoiser).compile()
    pipe.set_progress_bar_config(disable=not progress, leave=False)


def _load(cfg: NodeConfig, offline: bool, invariant: bool, progress: bool, objects: bool, warned: set):
    """Load one node's own pipeline; returns (pipe, checkpoint, device, dtype)."""
    import torch

    node = node_name(cfg)
    check_model_available(cfg, offline)
    pretrained = os.path.expanduser(cfg.pretrained)
    ckpt = describe(cfg, offline)
    if cfg.build_tiny:
        _build_tiny(ckpt, pretrained)
        ckpt = describe(cfg, offline)
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    _warn_settings(cfg, device, dtype, warned)
    kwargs = {_dtype_keyword(): dtype, "revision": cfg.revision,
              "local_files_only": local_files_only(cfg.pretrained, cfg.local_files_only, offline)}
    if cfg.variant and dtype == torch.float16 and not is_local_path(cfg.pretrained):
        kwargs["variant"] = cfg.variant
    try:
        pipe = from_pretrained_safe(_pipeline_class(ckpt, objects), pretrained, kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{node}.pretrained={cfg.pretrained} could not be loaded ({exc.__class__.__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); {ALTERNATIVES}") from exc
    _prepare(pipe, cfg, ckpt, device, invariant, progress)
    return pipe, ckpt, device, dtype


def load_pipelines(cfg: ModelConfig, inpaint_cfg: Optional[InpaintModelConfig] = None, *, offline: bool = False,
                   batch_invariant: str = "auto", progress: bool = False) -> Pipelines:
    """Load the background pipeline now and the object one on first use (``inpaint_cfg=None``: reuse the
    background model's modules with its scheduler)."""
    device = resolve_device(cfg.device)
    invariant = batch_invariant == "true" or (batch_invariant == "auto" and not device.startswith("cuda"))
    warned: set = set()
    t2i, ckpt, device, dtype = _load(cfg, offline, invariant, progress, objects=False, warned=warned)
    encoder = PromptEncoder(ckpt.family, t2i, device, cfg.max_sequence_length)
    background = DiffusionModel(t2i, ckpt.family, encoder, model_identity(cfg, dtype))
    log.info("loaded %s (%s, %s) as %s%s", cfg.pretrained, device, str(dtype).replace("torch.", ""),
             type(t2i).__name__, ", batch-invariant" if invariant else "")

    def objects() -> DiffusionModel:
        from diffusers import AutoPipelineForInpainting

        if inpaint_cfg is None or inpaint_cfg.reuses_model:
            extra = {}
            if inpaint_cfg is not None and (inpaint_cfg.scheduler, inpaint_cfg.scheduler_args) != (cfg.scheduler, cfg.scheduler_args):
                # The objects' own scheduler (inpaint_model.scheduler), made from the same config as the model's.
                extra["scheduler"] = make_scheduler(t2i.scheduler, inpaint_cfg.scheduler, inpaint_cfg.scheduler_args)
            pipe = AutoPipelineForInpainting.from_pipe(t2i, **extra)
            pipe.set_progress_bar_config(disable=not progress, leave=False)
            identity = background.identity if inpaint_cfg is None else model_identity(
                _with(cfg, inpaint_cfg), dtype)
            log.info("objects: %s sharing the background model's modules", type(pipe).__name__)
            return DiffusionModel(pipe, ckpt.family, encoder, identity)
        pipe, own, own_device, own_dtype = _load(inpaint_cfg, offline, invariant, progress, objects=True, warned=warned)
        log.info("objects: loaded %s (%s, %s) as %s", inpaint_cfg.pretrained, own_device,
                 str(own_dtype).replace("torch.", ""), type(pipe).__name__)
        return DiffusionModel(pipe, own.family, PromptEncoder(own.family, pipe, own_device, inpaint_cfg.max_sequence_length),
                              model_identity(inpaint_cfg, own_dtype))

    return Pipelines(background, device, dtype, invariant, objects)


def _with(model: ModelConfig, inpaint: InpaintModelConfig) -> ModelConfig:
    """The model node with the reused object model's scheduler: the identity of the pipeline that paints."""
    from dataclasses import replace

    return replace(model, scheduler=inpaint.scheduler, scheduler_args=dict(inpaint.scheduler_args))
