"""idg's first tiny model (v1, replaced by :mod:`idg.models.tiny` v2), kept only so the v1-vs-v2 figures in
``benchmarks/README.md`` can be reproduced (``flops.py --tiny v1``, ``proxy_sdxl.py --times``).

v1 had a 2-block VAE (latent factor 2) and two UNet levels: at 256 px its UNet ran on 128x128 latents and
attention took 71-77% of its time, so benchmarks on it described an attention-bound toy, not SDXL.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `idg` importable from the checkout
    sys.path.insert(0, str(REPO))

# Native side of v1: the UNet's sample_size (32 latents) times the VAE factor (2).
TINY_V1_NATIVE_RESOLUTION = 64


def tiny_v1_pipeline(seed: int = 0):
    """The v1 ``StableDiffusionXLPipeline`` in memory (random weights from ``seed``)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from idg.models.tiny import _tokenizer

    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    text_config = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        projection_dim=32, max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"],
    )
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, sample_size=TINY_V1_NATIVE_RESOLUTION,
        force_upcast=False,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    return StableDiffusionXLPipeline(vae=vae, text_encoder=CLIPTextModel(text_config),
                                     text_encoder_2=CLIPTextModelWithProjection(text_config), tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)


def build_tiny_v1(path, seed: int = 0) -> Path:
    """Build v1 and ``save_pretrained`` it to ``path`` (atomically)."""
    from idg.models.tiny import save_pretrained_atomically

    return save_pretrained_atomically(tiny_v1_pipeline(seed), path)
