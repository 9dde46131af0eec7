"""Diffusers pipelines from a hub id or a local directory, with clear errors when they cannot be had.

Text-to-image comes from ``AutoPipelineForText2Image.from_pretrained``; inpainting reuses its modules through
``AutoPipelineForInpainting.from_pipe`` (no second copy in memory). ``model=tiny`` goes through exactly the
same path, from a directory that :mod:`idg.models.tiny` writes once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from idg.core.config import ModelConfig
from idg.core.errors import ModelLoadError
from idg.models.batch_invariant import make_batch_invariant
from idg.models.hub import hub_host, is_local_path, local_files_only, offline_requested

log = logging.getLogger(__name__)

ALTERNATIVES = (
    "pass model.pretrained=/path/to/a/local/diffusers/dir (a save_pretrained folder or a downloaded snapshot), "
    "or model=tiny for a small random model that runs offline"
)


def check_model_available(cfg: ModelConfig, offline: bool) -> None:
    """Fail fast, before any weights load, when the model cannot possibly be found.

    A local path must exist (unless ``build_tiny`` will create it); a hub id must be in the local HF cache
    when the run is offline.
    """
    pretrained = os.path.expanduser(cfg.pretrained)
    if is_local_path(cfg.pretrained):
        if cfg.build_tiny:
            return
        if not Path(pretrained).is_dir():
            raise ModelLoadError(f"model.pretrained={cfg.pretrained}: no such directory; {ALTERNATIVES}")
        if not (Path(pretrained) / "model_index.json").is_file():
            raise ModelLoadError(
                f"model.pretrained={cfg.pretrained}: not a diffusers pipeline (no model_index.json); {ALTERNATIVES}"
            )
        return
    if local_files_only(cfg.pretrained, cfg.local_files_only, offline):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(cfg.pretrained, "model_index.json", revision=cfg.revision)
        if not isinstance(cached, str):
            why = "this run is offline" if offline_requested(cfg.local_files_only, offline) else f"{hub_host()} cannot be reached"
            raise ModelLoadError(
                f"model.pretrained={cfg.pretrained} is not in the local Hugging Face cache and {why}; {ALTERNATIVES}"
            )


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


# ------------------------------------------------------------------------------------ pipelines


@dataclass
class PromptEmbeddings:
    prompt_embeds: "object"
    pooled_prompt_embeds: "object"
    negative_prompt_embeds: "object" = None
    negative_pooled_prompt_embeds: "object" = None


@dataclass
class Pipelines:
    """The loaded text-to-image and inpainting pipelines (sharing modules) and a prompt-embedding cache."""

    text2img: "object"
    inpaint: "object"
    device: str
    dtype: "object"
    identity: str
    batch_invariant: bool
    _embeddings: Dict[Tuple[str, str, bool], PromptEmbeddings] = field(default_factory=dict)

    def embed(self, prompt: str, negative_prompt: str, guidance: float) -> PromptEmbeddings:
        """Prompt embeddings, computed once per (prompt, negative prompt, CFG on/off) and reused.

        Each prompt is encoded on its own, so a batch's embeddings never depend on its other prompts.
        """
        import torch

        cfg_on = guidance > 1.0
        key = (prompt, negative_prompt if cfg_on else "", cfg_on)
        if key not in self._embeddings:
            with torch.inference_mode():
                pe, npe, pooled, npooled = self.text2img.encode_prompt(
                    prompt=prompt,
                    device=self.device,
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=cfg_on,
                    negative_prompt=negative_prompt if cfg_on else None,
                )
            self._embeddings[key] = PromptEmbeddings(pe, pooled, npe if cfg_on else None, npooled if cfg_on else None)
        return self._embeddings[key]

    def batch_embeddings(self, prompts: List[str], negative_prompt: str, guidance: float) -> Dict[str, object]:
        """Keyword arguments for a pipeline call over ``prompts``: stacked cached embeddings."""
        import torch

        embs = [self.embed(p, negative_prompt, guidance) for p in prompts]
        kwargs = {
            "prompt_embeds": torch.cat([e.prompt_embeds for e in embs]),
            "pooled_prompt_embeds": torch.cat([e.pooled_prompt_embeds for e in embs]),
        }
        if embs[0].negative_prompt_embeds is not None:
            kwargs["negative_prompt_embeds"] = torch.cat([e.negative_prompt_embeds for e in embs])
            kwargs["negative_pooled_prompt_embeds"] = torch.cat([e.negative_pooled_prompt_embeds for e in embs])
        return kwargs

    def generators(self, seeds: List[int]):
        """One torch Generator per item: each image's noise depends on its seed alone."""
        import torch

        # CPU generators give the same noise whatever the device (diffusers moves the latents).
        return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def model_identity(cfg: ModelConfig, dtype) -> str:
    """What a generated pixel depends on in the model: for cache keys and manifests."""
    target = os.path.expanduser(cfg.pretrained)
    if is_local_path(cfg.pretrained):
        target = str(Path(target).resolve())
    return f"{target}@{cfg.revision or 'main'}:{str(dtype).replace('torch.', '')}"


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


def load_pipelines(cfg: ModelConfig, *, offline: bool = False, batch_invariant: str = "auto", progress: bool = False) -> Pipelines:
    """Load the text-to-image pipeline and derive the inpainting one from it."""
    import torch
    from diffusers import AutoPipelineForInpainting, AutoPipelineForText2Image

    check_model_available(cfg, offline)
    pretrained = os.path.expanduser(cfg.pretrained)
    if cfg.build_tiny:
        from idg.models.tiny import ensure_tiny_sdxl

        ensure_tiny_sdxl(pretrained)
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    kwargs = {"torch_dtype": dtype, "revision": cfg.revision, "local_files_only": local_files_only(cfg.pretrained, cfg.local_files_only, offline)}
    if cfg.variant and dtype == torch.float16 and not is_local_path(cfg.pretrained):
        kwargs["variant"] = cfg.variant
    try:
        t2i = from_pretrained_safe(AutoPipelineForText2Image, pretrained, kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model.pretrained={cfg.pretrained} could not be loaded ({exc.__class__.__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); {ALTERNATIVES}") from exc
    if cfg.cpu_offload and device.startswith("cuda"):
        t2i.enable_model_cpu_offload()
    else:
        t2i.to(device)
    inpaint = AutoPipelineForInpainting.from_pipe(t2i)
    for pipe in (t2i, inpaint):
        pipe.set_progress_bar_config(disable=not progress, leave=False)
    invariant = batch_invariant == "true" or (batch_invariant == "auto" and not device.startswith("cuda"))
    if invariant:
        make_batch_invariant(*(m for m in (t2i.unet, t2i.vae, t2i.text_encoder, t2i.text_encoder_2) if m is not None))
    log.info("loaded %s (%s, %s) as %s + %s%s", cfg.pretrained, device, str(dtype).replace("torch.", ""),
             type(t2i).__name__, type(inpaint).__name__, ", batch-invariant" if invariant else "")
    return Pipelines(t2i, inpaint, device, dtype, model_identity(cfg, dtype), invariant)
