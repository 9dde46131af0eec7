"""A tiny, randomly initialised SDXL pipeline for offline tests and CPU smoke runs.

It has the component classes SDXL-Turbo has (a text-time UNet2DConditionModel, two CLIP text encoders and
tokenizers, AutoencoderKL, an Euler scheduler) at a very small size. It is written once with
``save_pretrained`` and then loaded through the same ``from_pretrained`` path as a real model. Its images
are noise: it exercises the code, not the quality.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from idg.core.atomic import apply_umask

log = logging.getLogger(__name__)

# Bump when the architecture below changes, so caches keyed on the path are not mixed up.
TINY_VERSION = "v1"
# Native side of the tiny model: the UNet's sample_size (32 latents) times the VAE factor (2).
TINY_NATIVE_RESOLUTION = 64


def _tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    # A byte-level vocabulary without merges: every prompt tokenises, none needs the Hub.
    alphabet = sorted(ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab.update({ch + "</w>": len(alphabet) + i for i, ch in enumerate(alphabet)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77), vocab


def build_tiny_sdxl(path: str | os.PathLike, seed: int = 0) -> Path:
    """Build the tiny pipeline and ``save_pretrained`` it to ``path`` (atomically: a temp dir, then rename)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    path = Path(path)
    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    text_config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        projection_dim=32,
        max_position_embeddings=77,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        # 6 micro-conditioning ids x 8 + the 32-dim pooled output of text encoder 2
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        sample_size=TINY_NATIVE_RESOLUTION,
        force_upcast=False,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config),
        text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
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
    log.info("built tiny random SDXL pipeline at %s", path)
    return path


def ensure_tiny_sdxl(path: str | os.PathLike) -> Path:
    """Build the tiny pipeline at ``path`` unless a complete one is already there."""
    path = Path(path)
    if not (path / "model_index.json").is_file():
        build_tiny_sdxl(path)
    return path


def build_tiny_clip(path: str | os.PathLike, seed: int = 0, image_size: int = 32) -> Path:
    """A tiny random CLIPModel with its tokenizer and image processor, saved with ``save_pretrained`` to
    ``path``, so ``verify=clip`` can be tested offline through the same loading path as a real CLIP."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    path = Path(path)
    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
            "num_hidden_layers": 2, "max_position_embeddings": 77, "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"], "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
            "image_size": image_size, "patch_size": 8,
        },
        projection_dim=32,
    )
    model = CLIPModel(config)
    processor = CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    processor.save_pretrained(path)
    return path
