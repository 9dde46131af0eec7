"""Tiny random SDXL, version 2: SDXL's structure at a tiny width, for offline tests and CPU smoke runs.

:mod:`idg.tiny` (v1) has a 2-block VAE (latent factor 2) and a 2-level UNet, so at 256 px its UNet runs on
128x128 latents and attention is most of its time: benchmarks on it describe an attention-bound toy, not
SDXL. v2 keeps SDXL's layout and only shrinks widths and transformer depths:

* VAE: SDXL's VAE at 1/32 width: its 4 blocks (factor 8) and 2 resnets per block, widths
  128/256/512/512 / 32 = 4/8/16/16 with 32/32 = 1 GroupNorm group (SDXL's channels per group). It is
  narrower than the UNet's 1/20 because this UNet's transformers are shallow: at 1/16 width (8/16/32/32,
  1 resnet per block) the VAE ops took 1.1-1.5x their share of an SDXL-Turbo image's FLOPs, at 1/32
  0.7-1.0x (background/crop sides 768/512 and 192/128; ``benchmarks/flops.py --tiny v2``, PROXY_NOTES.md).
* UNet: SDXL's three levels (``DownBlock2D``, ``CrossAttnDownBlock2D`` x 2 and mirrored up blocks),
  ``layers_per_block=2``, widths 16/32/64 (SDXL 320/640/1280 / 20), heads 1/2/4 (SDXL's 5/10/20 are in the
  same 1:2:4 ratio, so every level keeps one head width, 16 here, 64 in SDXL), text-time conditioning.
* Transformer depths (1, 1, 2). SDXL's are (1, 2, 10), its first entry unused (the first level has no
  attention; diffusers still wants a number there): the attention levels deepen towards the coarsest one,
  which also gives the mid block its depth. Scaling SDXL's 2:10 down to 1:5 would put 5 x 6 = 30
  transformer blocks at the coarsest level (down 2, mid 1, up 3 attentions) and about 13 MB of weights; 1:2
  keeps "deeper where coarser" with 12 blocks there and the whole pipeline under 10 MB.
* Two CLIP text encoders (quick-GELU and GELU like CLIP ViT-L and OpenCLIP bigG; the second with a
  projection), hidden 32, 2 layers, and :func:`idg.tiny._tokenizer`'s offline tokenizer; cross-attention
  width 32 + 32 = 64; ``projection_class_embeddings_input_dim`` = 6 x 8 + 32 (pooled width of encoder 2).
* The same Euler scheduler as v1 (SDXL betas, trailing timesteps).

Its native side is the UNet's sample size (16 latents) x 8 = 128 px. Saved with ``save_pretrained``
(safetensors) and loaded back through ``AutoPipelineForText2Image.from_pretrained`` like a real model.
Its images are noise: it exercises the code and the cost structure, not the quality.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# Bump when the architecture below changes, so caches keyed on the path are not mixed up.
TINY_V2_VERSION = "v2"
_UNET_SAMPLE_SIZE = 16
_VAE_BLOCKS = 4
# Native side: the UNet's sample_size (16 latents) times the VAE factor 2 ** (4 - 1) = 8.
TINY_V2_NATIVE_RESOLUTION = _UNET_SAMPLE_SIZE * 2 ** (_VAE_BLOCKS - 1)


def build_tiny_sdxl_v2_pipeline(seed: int = 0):
    """The tiny v2 ``StableDiffusionXLPipeline`` in memory (random weights from ``seed``, float32, CPU)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from idg.tiny import _tokenizer

    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    hidden = 32

    def text_config(act: str) -> "CLIPTextConfig":
        return CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=hidden,
            intermediate_size=4 * hidden,
            num_attention_heads=4,
            num_hidden_layers=2,
            projection_dim=hidden,
            hidden_act=act,
            max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )

    addition_time_embed_dim = 8
    unet = UNet2DConditionModel(
        sample_size=_UNET_SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        # read by diffusers as head counts (as SDXL's [5, 10, 20] are): head width 16 at every level
        attention_head_dim=(1, 2, 4),
        transformer_layers_per_block=(1, 1, 2),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=addition_time_embed_dim,
        # 6 micro-conditioning ids x 8 + the 32-wide pooled output of text encoder 2
        projection_class_embeddings_input_dim=6 * addition_time_embed_dim + hidden,
        cross_attention_dim=2 * hidden,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[4, 8, 16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * _VAE_BLOCKS,
        up_block_types=["UpDecoderBlock2D"] * _VAE_BLOCKS,
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=1,
        sample_size=TINY_V2_NATIVE_RESOLUTION,
        scaling_factor=0.13025,
        force_upcast=False,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config("quick_gelu")),
        text_encoder_2=CLIPTextModelWithProjection(text_config("gelu")),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )


def build_tiny_sdxl_v2(path: str | os.PathLike, seed: int = 0) -> Path:
    """Build the tiny v2 pipeline and ``save_pretrained`` it to ``path`` (atomically: a temp dir, then rename)."""
    path = Path(path)
    pipe = build_tiny_sdxl_v2_pipeline(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        pipe.save_pretrained(tmp, safe_serialization=True)
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / "model_index.json").is_file():  # lost a race to another writer: theirs is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built tiny random SDXL v2 pipeline at %s", path)
    return path


def ensure_tiny_sdxl_v2(path: str | os.PathLike) -> Path:
    """Build the tiny v2 pipeline at ``path`` unless a complete one is already there."""
    path = Path(path)
    if not (path / "model_index.json").is_file():
        build_tiny_sdxl_v2(path)
    return path
