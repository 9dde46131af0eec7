"""A tiny, randomly initialised SDXL pipeline for offline tests and CPU smoke runs.

It has SDXL's structure at a tiny width, so its costs are spread over its parts roughly as SDXL-Turbo's are
(``benchmarks/README.md`` tabulates the FLOP shares); only widths and transformer depths shrink:

* VAE: SDXL's 4 blocks (latent factor 8) with 2 resnets per block at 1/32 of SDXL's widths
  (128/256/512/512 -> 4/8/16/16) and 1 GroupNorm group (SDXL's 4 channels per group at the first level).
  It is narrower than the UNet's 1/20 because this UNet's transformers are shallow: at 1/16 width the VAE
  took 1.1-1.5x its share of an SDXL-Turbo image's FLOPs, at 1/32 0.7-1.0x.
* UNet: SDXL's three levels (``DownBlock2D``, ``CrossAttnDownBlock2D`` x 2 and the mirrored up blocks),
  ``layers_per_block=2``, widths 16/32/64 (SDXL's 320/640/1280 / 20), heads 1/2/4 (SDXL's 5/10/20 are in the
  same ratio: one head width per model, 16 here, 64 in SDXL), text-time conditioning.
* Transformer depths (1, 1, 2) for SDXL's (1, 2, 10), whose first entry is unused (the first level has no
  attention): deeper towards the coarsest level. SDXL's 2:10 scaled to 1:5 would put 30 transformer blocks
  at the coarsest level and the weights over 12 MB; (1, 1, 2) keeps "deeper where coarser" under 10 MB.
* Two CLIP text encoders (quick-GELU and GELU like CLIP ViT-L and OpenCLIP bigG; the second with a
  projection), hidden 32, 2 layers, and an offline byte-level tokenizer; cross-attention width 32 + 32 = 64;
  ``projection_class_embeddings_input_dim`` = 6 x 8 + 32 (the pooled width of encoder 2).
* An Euler scheduler with SDXL's betas and trailing timesteps.

The first version (v1) had a 2-block VAE (factor 2) and two UNet levels: at 256 px its UNet ran on
128x128 latents and attention was 71-77% of its time, a toy whose cost grew with the 4th power of the side.

Its native side is the UNet's sample size (16 latents) x 8 = 128 px. It is written once with
``save_pretrained`` (safetensors) and then loaded through the same ``from_pretrained`` path as a real
model. Its images are noise: it exercises the code and the cost structure, not the quality.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from idg.core.atomic import apply_umask

log = logging.getLogger(__name__)

# Bump when the architecture below changes (and the path in conf/model/tiny.yaml with it), so caches keyed
# on the model's path never mix images of two architectures.
TINY_VERSION = "v2"
_UNET_SAMPLE_SIZE = 16
_VAE_BLOCKS = 4
# Native side: the UNet's sample_size (16 latents) times the VAE factor 2 ** (4 - 1) = 8.
TINY_NATIVE_RESOLUTION = _UNET_SAMPLE_SIZE * 2 ** (_VAE_BLOCKS - 1)


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


def save_pretrained_atomically(pipe, path: str | os.PathLike) -> Path:
    """``pipe.save_pretrained(path)`` (safetensors) into a temp dir, then renamed: a complete model or none."""
    return save_dir_atomically(path, lambda tmp: pipe.save_pretrained(tmp, safe_serialization=True), "model_index.json")


def save_dir_atomically(path: str | os.PathLike, write: Callable[[Path], None], marker: str) -> Path:
    """``write(tmp)`` fills a temp dir beside ``path``, which is then renamed to ``path``: a reader never sees
    half a model. A rename that loses a race to another writer is fine when the winner's ``marker`` file is
    there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(tmp)
        apply_umask(tmp)  # mkdtemp's 0700 and safetensors' 0600 would lock colleagues out of a shared cache
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / marker).is_file():  # lost a race to another writer: theirs is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def tiny_sdxl_pipeline(seed: int = 0):
    """The tiny ``StableDiffusionXLPipeline`` in memory (random weights from ``seed``, float32, CPU)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

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
        sample_size=TINY_NATIVE_RESOLUTION,
        scaling_factor=0.13025,
        # float32 anyway; with true diffusers' inpaint pipeline warns on every call
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


def build_tiny_sdxl(path: str | os.PathLike, seed: int = 0) -> Path:
    """Build the tiny SDXL and ``save_pretrained`` it to ``path`` (atomically: a temp dir, then rename)."""
    path = save_pretrained_atomically(tiny_sdxl_pipeline(seed), path)
    log.info("built tiny random SDXL pipeline (%s) at %s", TINY_VERSION, path)
    return path


def ensure_tiny_sdxl(path: str | os.PathLike) -> Path:
    """Build the tiny SDXL at ``path`` unless a complete one is already there."""
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
