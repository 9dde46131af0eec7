"""Tiny random models of every family idg drives, built offline from configs (tests and CPU smoke runs).

Each is a real diffusers pipeline at a tiny width, with its family's component classes and layout, written
once with ``save_pretrained`` (safetensors) and loaded back through the same ``from_pretrained`` path as a
real checkpoint:

- ``sd15``: ``StableDiffusionPipeline`` (one CLIP text encoder, attention at every UNet level but the last);
- ``sd15_inpainting``: the same with a 9-channel UNet (latents + mask + masked-image latents), saved as
  ``StableDiffusionInpaintPipeline`` like ``stable-diffusion-2-inpainting``;
- ``sdxl_inpainting``: tiny SDXL (two CLIP encoders, text-time conditioning) with a 9-channel UNet, saved as
  ``StableDiffusionXLInpaintPipeline`` like ``stable-diffusion-xl-1.0-inpainting-0.1``;
- ``flux``: ``FluxPipeline`` (CLIP for the pooled embedding, T5 for the sequence, a flow-matching MMDiT,
  16-channel packed latents), no guidance embedding, like FLUX.1-schnell;
- ``flux_fill``: ``FluxFillPipeline``, whose transformer also takes the packed masked-image latents and mask
  (in_channels = 2 x packed latents + 4 x VAE factor^2), with a guidance embedding, like FLUX.1-Fill-dev.

All have a 4-block VAE (latent factor 8, as the real ones), a UNet/transformer sized for 64 px native crops,
and offline tokenizers: :func:`idg.models.tiny._tokenizer` for CLIP and a character-level Unigram T5
tokenizer built in memory. The tiny SDXL text-to-image model itself lives in :mod:`idg.models.tiny`. Their
images are noise: they exercise the code paths, not the quality.
"""

from __future__ import annotations

import logging
import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import Callable, Dict

from idg.core.atomic import apply_umask

log = logging.getLogger(__name__)

# Bump when an architecture below changes, so caches keyed on the path are not mixed up.
ZOO_VERSION = "v1"
_UNET_SAMPLE = 8
# Native side: the denoiser's sample size (8 latents) x the VAE factor 2 ** (4 - 1).
ZOO_NATIVE_RESOLUTION = _UNET_SAMPLE * 8
_HIDDEN = 32


def _clip_config(vocab: Dict[str, int], act: str = "quick_gelu"):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=_HIDDEN, intermediate_size=4 * _HIDDEN, num_attention_heads=4,
        num_hidden_layers=2, projection_dim=_HIDDEN, hidden_act=act, max_position_embeddings=77,
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"],
    )


def _vae(latent_channels: int, flux: bool = False):
    from diffusers import AutoencoderKL

    extra = {"use_quant_conv": False, "use_post_quant_conv": False, "shift_factor": 0.1159, "scaling_factor": 0.3611} \
        if flux else {"scaling_factor": 0.18215}
    return AutoencoderKL(
        block_out_channels=[4, 8, 16, 16], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, layers_per_block=1, latent_channels=latent_channels,
        norm_num_groups=1, sample_size=ZOO_NATIVE_RESOLUTION, force_upcast=False, **extra,
    )


def _sd_scheduler():
    from diffusers import PNDMScheduler

    # SD 1.5's own scheduler and betas (skip_prk_steps as in its scheduler_config.json).
    return PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                         set_alpha_to_one=False, steps_offset=1)


def sd15_pipeline(in_channels: int = 4, seed: int = 0):
    """Tiny SD 1.5 (``in_channels=9``: its inpainting variant) in memory."""
    import torch
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    from idg.models.tiny import _tokenizer

    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    unet = UNet2DConditionModel(
        sample_size=_UNET_SAMPLE, in_channels=in_channels, out_channels=4, block_out_channels=(16, 32, 32),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4,
        cross_attention_dim=_HIDDEN, norm_num_groups=8,
    )
    cls = StableDiffusionInpaintPipeline if in_channels == 9 else StableDiffusionPipeline
    return cls(vae=_vae(4), text_encoder=CLIPTextModel(_clip_config(vocab)), tokenizer=tokenizer, unet=unet,
               scheduler=_sd_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def sdxl_inpainting_pipeline(seed: int = 0):
    """Tiny SDXL with a 9-channel UNet, saved as SDXL-inpainting is (no aesthetic score)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from idg.models.tiny import _tokenizer

    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=_UNET_SAMPLE, in_channels=9, out_channels=4, block_out_channels=(16, 32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(1, 2, 4),
        transformer_layers_per_block=(1, 1, 2), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=time_dim, projection_class_embeddings_input_dim=6 * time_dim + _HIDDEN,
        cross_attention_dim=2 * _HIDDEN, norm_num_groups=8,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="leading", steps_offset=1)
    vae = _vae(4)
    vae.register_to_config(scaling_factor=0.13025)
    return StableDiffusionXLInpaintPipeline(
        vae=vae, text_encoder=CLIPTextModel(_clip_config(vocab)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(vocab, "gelu")), tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=scheduler, requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )


def t5_tokenizer():
    """A character-level Unigram T5 tokenizer, built in memory (no SentencePiece model, no Hub)."""
    from transformers import T5TokenizerFast

    chars = sorted(set(string.ascii_letters + string.digits + string.punctuation))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in chars] + [("▁" + c, -2.5) for c in chars]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=512)


def flux_pipeline(fill: bool = False, seed: int = 0):
    """Tiny FLUX.1 (``fill=True``: FLUX.1-Fill) in memory."""
    import torch
    from diffusers import FluxFillPipeline, FluxPipeline, FluxTransformer2DModel, FlowMatchEulerDiscreteScheduler
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    from idg.models.tiny import _tokenizer

    torch.manual_seed(seed)
    clip_tokenizer, vocab = _tokenizer()
    t5_tok = t5_tokenizer()
    t5 = T5EncoderModel(T5Config(vocab_size=len(t5_tok), d_model=_HIDDEN, d_kv=8, d_ff=2 * _HIDDEN, num_layers=2,
                                 num_heads=4, relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                                 decoder_start_token_id=0))
    latent_channels, vae_factor = 4, 8
    packed = 4 * latent_channels  # 2x2 patches of latents
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=2 * packed + 4 * vae_factor**2 if fill else packed, out_channels=packed,
        num_layers=1, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=_HIDDEN, pooled_projection_dim=_HIDDEN, guidance_embeds=fill, axes_dims_rope=(4, 6, 6),
    )
    # schnell: fixed shift 1; Fill-dev: resolution-dependent shift (their scheduler_config.json values).
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15) \
        if fill else FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    cls = FluxFillPipeline if fill else FluxPipeline
    return cls(scheduler=scheduler, vae=_vae(latent_channels, flux=True), text_encoder=CLIPTextModel(_clip_config(vocab)),
               tokenizer=clip_tokenizer, text_encoder_2=t5, tokenizer_2=t5_tok, transformer=transformer)


BUILDERS: Dict[str, Callable[[], object]] = {
    "sd15": lambda: sd15_pipeline(4),
    "sd15_inpainting": lambda: sd15_pipeline(9),
    "sdxl_inpainting": sdxl_inpainting_pipeline,
    "flux": lambda: flux_pipeline(False),
    "flux_fill": lambda: flux_pipeline(True),
}


def save_atomically(pipe, path: str | os.PathLike) -> Path:
    """``save_pretrained`` into a temp dir beside ``path``, then rename: a reader never sees half a model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        pipe.save_pretrained(tmp, safe_serialization=True)
        apply_umask(tmp)  # mkdtemp's 0700 and safetensors' 0600 would lock colleagues out of a shared cache
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / "model_index.json").is_file():  # lost a race to another writer: theirs is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def ensure_tiny(kind: str, path: str | os.PathLike) -> Path:
    """Build the tiny ``kind`` model at ``path`` unless a complete one is already there."""
    path = Path(path)
    if not (path / "model_index.json").is_file():
        save_atomically(BUILDERS[kind](), path)
        log.info("built tiny random %s pipeline at %s", kind, path)
    return path
