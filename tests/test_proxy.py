"""The tiny SDXL (idg.models.tiny, v2), the width-k SDXL-Turbo proxy (benchmarks/proxy_sdxl.py) and its FLOP counts
(benchmarks/flops.py). Fast: the full-size model is only ever built on the meta device."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import flops  # noqa: E402
import proxy_sdxl  # noqa: E402

# ../shared/OFFLINE.md: full-size SDXL counted with FlopCounterMode on the meta device (GFLOP).
PUBLISHED_K1 = {"unet_step@512": 1589, "unet_step@768": 3641, "vae_decode@512": 2515, "vae_decode@768": 5754}


@pytest.fixture(scope="module")
def tiny_sdxl(tmp_path_factory):
    from idg.models.tiny import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl") / "tiny-sdxl-v2")


@pytest.fixture(scope="module")
def tiny_sdxl_pipes(tiny_sdxl):
    from diffusers import AutoPipelineForInpainting, AutoPipelineForText2Image

    t2i = AutoPipelineForText2Image.from_pretrained(str(tiny_sdxl))
    inpaint = AutoPipelineForInpainting.from_pipe(t2i)
    for p in (t2i, inpaint):
        p.set_progress_bar_config(disable=True)
    return t2i, inpaint


# ------------------------------------------------------------------------------------ tiny model (v2)


def test_tiny_saves_and_loads_with_sdxl_structure(tiny_sdxl, tiny_sdxl_pipes):
    from diffusers import StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from idg.models.tiny import TINY_NATIVE_RESOLUTION, TINY_VERSION, ensure_tiny_sdxl

    assert TINY_VERSION == "v2"
    assert (tiny_sdxl / "model_index.json").is_file()
    assert list(tiny_sdxl.rglob("*.safetensors")) and not list(tiny_sdxl.rglob("*.bin"))
    assert not [p for p in tiny_sdxl.parent.iterdir() if p.name.startswith(".")], "temp dir left behind"
    size = sum(f.stat().st_size for f in tiny_sdxl.rglob("*") if f.is_file())
    assert size < 10e6, size
    assert ensure_tiny_sdxl(tiny_sdxl) == tiny_sdxl  # complete: not rebuilt

    t2i, inpaint = tiny_sdxl_pipes
    assert isinstance(t2i, StableDiffusionXLPipeline) and isinstance(inpaint, StableDiffusionXLInpaintPipeline)
    assert inpaint.unet is t2i.unet  # from_pipe shares the modules
    vae, unet = t2i.vae.config, t2i.unet.config
    assert len(vae.block_out_channels) == 4 and t2i.vae_scale_factor == 8
    assert vae.force_upcast is False
    assert list(unet.down_block_types) == ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
    assert list(unet.up_block_types) == ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
    assert len(unet.block_out_channels) == 3
    depths = list(unet.transformer_layers_per_block)
    assert depths[1] <= depths[2], "attention deepens towards the coarsest level, as in SDXL"
    assert unet.addition_embed_type == "text_time"
    assert isinstance(t2i.text_encoder, CLIPTextModel)
    assert isinstance(t2i.text_encoder_2, CLIPTextModelWithProjection)
    te1, te2 = t2i.text_encoder.config, t2i.text_encoder_2.config
    assert unet.projection_class_embeddings_input_dim == 6 * unet.addition_time_embed_dim + te2.projection_dim
    assert unet.cross_attention_dim == te1.hidden_size + te2.hidden_size
    assert TINY_NATIVE_RESOLUTION == unet.sample_size * 8 == 128


@pytest.mark.parametrize("side", [64, 128])
def test_tiny_text_to_image(tiny_sdxl_pipes, side):
    import torch

    t2i, _ = tiny_sdxl_pipes
    with torch.inference_mode():
        out = t2i("a red fox", num_inference_steps=2, guidance_scale=0.0, height=side, width=side,
                  generator=torch.Generator().manual_seed(0), output_type="np").images
    assert out.shape == (1, side, side, 3) and np.isfinite(out).all()


def _counting(module, method: str, counts: dict, key: str):
    original = getattr(module, method)

    def wrapped(*args, **kwargs):
        counts[key] = counts.get(key, 0) + 1
        return original(*args, **kwargs)

    setattr(module, method, wrapped)
    return original


def test_tiny_inpaint_at_native_size_runs_the_recipe_flops_assume(tiny_sdxl_pipes):
    """4 steps x 0.75 = 3 UNet calls, 2 VAE encodes (image and masked image), 1 decode: as flops.recipe."""
    import torch
    from PIL import Image

    from idg.models.tiny import TINY_NATIVE_RESOLUTION as n

    _, inpaint = tiny_sdxl_pipes
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (n, n, 3), dtype=np.uint8))
    mask = Image.new("L", (n, n), 0)
    mask.paste(255, (n // 4, n // 4, 3 * n // 4, 3 * n // 4))
    counts: dict = {}
    saved = [(inpaint.unet, "forward", _counting(inpaint.unet, "forward", counts, "unet")),
             (inpaint.vae, "encode", _counting(inpaint.vae, "encode", counts, "encode")),
             (inpaint.vae, "decode", _counting(inpaint.vae, "decode", counts, "decode"))]
    try:
        with torch.inference_mode():
            out = inpaint("a red fox", image=image, mask_image=mask, strength=0.75, num_inference_steps=4,
                          guidance_scale=0.0, height=n, width=n, generator=torch.Generator().manual_seed(0),
                          output_type="np").images
    finally:
        for module, method, original in saved:
            setattr(module, method, original)
    assert out.shape == (1, n, n, 3) and np.isfinite(out).all()
    rows = {role: count for role, _, count in flops.recipe(crop=n)}
    assert counts == {"unet": rows["inpaint unet_step"], "encode": rows["inpaint vae_encode"],
                      "decode": rows["inpaint vae_decode"]} == {"unet": 3, "encode": 2, "decode": 1}


def test_pipeline_flops_are_the_sum_of_component_flops(tiny_sdxl_pipes):
    """A whole text-to-image call counted at once = text encoding + 2 UNet steps + 1 decode, counted apart;
    and CPU counts (real weights) equal meta-device counts."""
    import torch

    t2i, _ = tiny_sdxl_pipes
    with torch.inference_mode(), flops.flop_counter() as counter:
        t2i("a red fox", num_inference_steps=2, guidance_scale=0.0, height=128, width=128, output_type="np")
    cpu = flops.component_gflops(t2i, sides=(128,))
    meta = flops.component_gflops(flops.meta_copy(t2i), sides=(128,))
    assert cpu == pytest.approx(meta, rel=1e-9)
    expected = cpu["text_encode"] + 2 * cpu["unet_step@128"] + cpu["vae_decode@128"]
    assert counter.get_total_flops() / 1e9 == pytest.approx(expected, rel=1e-6)


def test_flop_counter_counts_the_cpu_fused_attention_plain_flopcountermode_misses():
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    q = torch.randn(1, 2, 64, 16)
    with FlopCounterMode(display=False) as plain:
        F.scaled_dot_product_attention(q, q, q)
    with flops.flop_counter() as ours:
        F.scaled_dot_product_attention(q, q, q)
    assert ours.get_total_flops() == 4 * 2 * 64 * 64 * 16  # QK^T and AV, 2 FLOPs per multiply-add
    # This is why CPU counts made without it (e.g. OFFLINE.md's k=4 figures) leave attention out.
    assert plain.get_total_flops() in (0, ours.get_total_flops())


# ------------------------------------------------------------------------------------ proxy


def test_proxy_configs_scale_widths_and_keep_depths():
    full, k4 = proxy_sdxl.proxy_configs(1), proxy_sdxl.proxy_configs(4)
    assert full == proxy_sdxl.published_configs()
    u = full["unet"]
    assert u["block_out_channels"] == [320, 640, 1280] and u["transformer_layers_per_block"] == [1, 2, 10]
    assert u["attention_head_dim"] == [5, 10, 20] and u["cross_attention_dim"] == 2048
    assert u["projection_class_embeddings_input_dim"] == 2816 and u["addition_time_embed_dim"] == 256
    assert u["down_block_types"][0] == "DownBlock2D" and u["use_linear_projection"] is True
    assert full["vae"]["block_out_channels"] == [128, 256, 512, 512] and full["vae"]["scaling_factor"] == 0.13025
    assert (full["text_encoder"]["hidden_size"], full["text_encoder"]["num_hidden_layers"]) == (768, 12)
    assert (full["text_encoder_2"]["hidden_size"], full["text_encoder_2"]["num_hidden_layers"],
            full["text_encoder_2"]["projection_dim"]) == (1280, 32, 1280)
    u4 = k4["unet"]
    assert u4["block_out_channels"] == [80, 160, 320] and u4["norm_num_groups"] == 8
    assert u4["transformer_layers_per_block"] == [1, 2, 10] and u4["layers_per_block"] == 2
    assert u4["cross_attention_dim"] == 512 and u4["projection_class_embeddings_input_dim"] == 704
    assert k4["vae"]["block_out_channels"] == [32, 64, 128, 128] and k4["vae"]["norm_num_groups"] == 8
    assert k4["text_encoder_2"]["num_hidden_layers"] == 32 and k4["text_encoder_2"]["hidden_size"] == 320
    for bad in (0, 3, 128, 2.0):
        with pytest.raises(ValueError):
            proxy_sdxl.proxy_configs(bad)


def test_proxy_k16_runs_a_unet_step_and_loads_through_from_pretrained(tmp_path):
    import torch
    from diffusers import AutoPipelineForText2Image, StableDiffusionXLPipeline

    pipe = proxy_sdxl.build_proxy_pipeline(16, save_to=tmp_path / "proxy-k16")
    assert isinstance(pipe, StableDiffusionXLPipeline) and pipe.vae_scale_factor == 8
    c = pipe.unet.config
    latents = torch.randn(1, 4, 128 // 8, 128 // 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = pipe.unet(latents, torch.tensor([999.0]), encoder_hidden_states=torch.randn(1, 77, c.cross_attention_dim),
                        added_cond_kwargs={"text_embeds": torch.randn(1, pipe.text_encoder_2.config.projection_dim),
                                           "time_ids": torch.tensor([[128.0, 128, 0, 0, 128, 128]])},
                        return_dict=False)[0]
    assert out.shape == latents.shape and torch.isfinite(out).all()
    loaded = AutoPipelineForText2Image.from_pretrained(str(tmp_path / "proxy-k16"))
    assert isinstance(loaded, StableDiffusionXLPipeline)
    assert list(loaded.unet.config.block_out_channels) == [20, 40, 80]
    assert list(loaded.vae.config.block_out_channels) == [8, 16, 32, 32]
    with pytest.raises(ValueError):
        proxy_sdxl.build_proxy_pipeline(16, meta=True, save_to=tmp_path / "nope")


def test_full_size_flops_on_meta_match_the_published_architecture_figures():
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    mods = proxy_sdxl.build_proxy_modules(1, meta=True)
    assert all(p.is_meta for name in proxy_sdxl.COMPONENTS for p in mods[name].parameters())
    g = flops.proxy_gflops(1)
    for op, published in PUBLISHED_K1.items():
        assert g[op] == pytest.approx(published, rel=0.05), op
    # 3.37 B float32 parameters would be 13.5 GB: nothing near that was allocated.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 2 * 2**20
    assert sum(p.numel() for name in proxy_sdxl.COMPONENTS for p in mods[name].parameters()) > 3.3e9


def test_flop_table_k4_shares_near_the_real_models():
    table = flops.flop_table(4)
    assert table["k"] == 4 and set(table["components"]) == {role for role, _, _ in flops.recipe()}
    assert sum(c["share"] for c in table["components"].values()) == pytest.approx(1.0)
    assert sum(c["reference_share"] for c in table["components"].values()) == pytest.approx(1.0)
    assert table["share_distance"] < 0.05
    assert all(0.85 < c["share_ratio"] < 1.15 for c in table["components"].values())
    assert table["reference_per_op_gflops"]["unet_step@512"] == pytest.approx(PUBLISHED_K1["unet_step@512"], rel=0.05)
    import json

    json.dumps(table)  # embeddable in a benchmark's JSON
