"""Model families: what differs between SDXL, SD 1.x/2.x and FLUX.1 when idg drives their pipelines.

A :class:`Family` says which diffusers pipeline classes belong to it (read from a checkpoint's
``model_index.json`` before any weights load), what its denoiser is called (``unet`` or ``transformer``),
which text encoders it has, whether it uses classifier-free guidance with a negative prompt, and how it
encodes a prompt:

- ``sdxl``: two CLIP encoders; per-token embeddings and the pooled embedding of the second, for the prompt
  and (CFG on) the negative prompt;
- ``sd``: one CLIP encoder; per-token embeddings for prompt and negative prompt;
- ``flux``: CLIP for the pooled embedding and T5 for the sequence; its guidance is distilled into the
  model (``guidance_scale`` is an input, not CFG), so there is no negative prompt.

:class:`PromptEncoder` caches each prompt's embeddings (one forward per distinct prompt and setting) and
stacks them into the keyword arguments of a pipeline call; each prompt is encoded on its own, so a batch's
embeddings never depend on its other prompts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

Embeddings = Dict[str, object]  # pipeline keyword -> tensor with a batch dimension of 1


def _encode_sdxl(pipe, device, prompt: str, negative: Optional[str], cfg_on: bool, _max_len) -> Embeddings:
    pe, npe, pooled, npooled = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=cfg_on, negative_prompt=negative)
    out = {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}
    if cfg_on:
        out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=npooled)
    return out


def _encode_sd(pipe, device, prompt: str, negative: Optional[str], cfg_on: bool, _max_len) -> Embeddings:
    pe, npe = pipe.encode_prompt(prompt, device, 1, cfg_on, negative_prompt=negative)
    return {"prompt_embeds": pe, **({"negative_prompt_embeds": npe} if cfg_on else {})}


def _encode_flux(pipe, device, prompt: str, _negative, _cfg_on, max_len: Optional[int]) -> Embeddings:
    kwargs = {"max_sequence_length": max_len} if max_len else {}
    pe, pooled, _text_ids = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=device, num_images_per_prompt=1, **kwargs)
    return {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    pipelines: Tuple[str, ...]  # model_index.json _class_name values of this family
    denoiser: str  # the pipeline attribute of the UNet or transformer
    text_encoders: Tuple[str, ...]
    classifier_free: bool  # CFG with a negative prompt when guidance > 1
    lora_target: str  # which denoiser a LoRA of this family adapts: unet | transformer
    encode: Callable[..., Embeddings]
    # The pipeline class of a dedicated inpainting checkpoint when AutoPipelineForInpainting has none for it.
    fill_pipeline: Optional[str] = None

    def modules(self, pipe) -> List[object]:
        """The pipeline's torch modules (denoiser, VAE, text encoders) that are present."""
        names = (self.denoiser, "vae", *self.text_encoders)
        return [m for m in (getattr(pipe, n, None) for n in names) if m is not None]


FAMILIES: Dict[str, Family] = {
    f.name: f
    for f in (
        Family("sdxl", "Stable Diffusion XL", ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
                                               "StableDiffusionXLInpaintPipeline"),
               "unet", ("text_encoder", "text_encoder_2"), True, "unet", _encode_sdxl),
        Family("sd", "Stable Diffusion 1.x/2.x", ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline",
                                                  "StableDiffusionInpaintPipeline"),
               "unet", ("text_encoder",), True, "unet", _encode_sd),
        Family("flux", "FLUX.1", ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline", "FluxFillPipeline"),
               "transformer", ("text_encoder", "text_encoder_2"), False, "transformer", _encode_flux,
               fill_pipeline="FluxFillPipeline"),
    )
}


def family_of_pipeline(class_name: str) -> Optional[Family]:
    return next((f for f in FAMILIES.values() if class_name in f.pipelines), None)


def families_text() -> str:
    """The supported families and their pipeline classes, for error messages."""
    return "; ".join(f"{f.name} ({f.title}: {', '.join(f.pipelines)})" for f in FAMILIES.values())


@dataclass
class PromptEncoder:
    """Prompt embeddings of one set of text encoders, computed once per (prompt, negative prompt, CFG on/off)."""

    family: Family
    pipe: object  # any pipeline holding the text encoders
    device: str
    max_sequence_length: Optional[int] = None
    _cache: Dict[Tuple[str, Optional[str], bool], Embeddings] = field(default_factory=dict)
    _warned_negative: bool = False

    def embed(self, prompt: str, negative_prompt: Optional[str], guidance: float) -> Embeddings:
        import torch

        cfg_on = self.family.classifier_free and guidance > 1.0
        if negative_prompt and not self.family.classifier_free and not self._warned_negative:
            log.warning("%s has no negative prompt (its guidance is distilled): %r is ignored", self.family.title,
                        negative_prompt)
            self._warned_negative = True
        key = (prompt, negative_prompt if cfg_on else "", cfg_on)
        if key not in self._cache:
            with torch.inference_mode():
                self._cache[key] = self.family.encode(self.pipe, self.device, prompt,
                                                      negative_prompt if cfg_on else None, cfg_on,
                                                      self.max_sequence_length)
        return self._cache[key]

    def batch(self, prompts: List[str], negative_prompt: Optional[str], guidance: float) -> Dict[str, object]:
        """Keyword arguments of a pipeline call over ``prompts``: the cached embeddings, stacked."""
        import torch

        embs = [self.embed(p, negative_prompt, guidance) for p in prompts]
        return {k: torch.cat([e[k] for e in embs]) for k in embs[0]}
