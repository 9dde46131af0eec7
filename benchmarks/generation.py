"""Prototype loop vs idg's engine, side by side in one process, same model, resolution and objects.

    python benchmarks/generation.py                       # tiny model on CPU (the recorded figures)
    python benchmarks/generation.py --images 16 --resolution 512 --native 512 --model sdxl --device cuda

(a) the prototype: one text-to-image call per background, then one *full-frame* inpainting call per object,
    sequentially, the pipeline's output becoming the next image; prompts re-encoded on every call.
(b) idg's engine (`idg.generate.engine.run_generation`): backgrounds batched, objects cropped to a context window
    and inpainted at the model's native resolution, batched across images, prompt embeddings reused,
    pasted back inside the box, each object checked (and repainted if it failed) by the default quality
    checks. The background cache is disabled so both do the same work from scratch; the held-out
    seam-shortcut set is off (the prototype had none).

Both paint exactly the same boxes (idg's sampler with the same seeds). Prints images/s and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads_option, apply_threads, compose_config, machine  # noqa: E402


def build_model(kind: str, path: Path, device: str) -> str:
    """Path of a local pipeline: the tiny one, or a random-init full-size SDXL architecture."""
    from idg.models.tiny import build_tiny_sdxl

    if kind == "tiny":
        return str(build_tiny_sdxl(path))
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from idg.models.tiny import _tokenizer

    # SDXL's published architecture, random weights: measures speed, not quality (no Hub access here).
    tok, vocab = _tokenizer()
    te1 = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                       num_attention_heads=12, projection_dim=768, hidden_act="quick_gelu"))
    te2 = CLIPTextModelWithProjection(CLIPTextConfig(vocab_size=len(vocab), hidden_size=1280, intermediate_size=5120,
                                                     num_hidden_layers=32, num_attention_heads=20, projection_dim=1280,
                                                     hidden_act="gelu"))
    unet = UNet2DConditionModel(
        sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )
    vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2, sample_size=1024)
    sch = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok,
                                     unet=unet, scheduler=sch)
    pipe.to(torch.float16).save_pretrained(path)
    return str(path)


def prototype(cfg, pipes, n: int) -> float:
    """The prototype's loop; returns seconds."""
    import torch

    from idg.generate.plan import background_plan
    from idg.generate.plan import plan_boxes

    plan = background_plan(cfg.background.prompts, n)
    res, m, inp = cfg.generate.resolution, cfg.model, cfg.inpaint
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(n):
            image = pipes.background.pipe(prompt=cfg.background.prompts[plan[i]].prompt, negative_prompt=m.negative_prompt,
                                   num_inference_steps=m.steps, guidance_scale=m.guidance, height=res, width=res,
                                   generator=torch.Generator("cpu").manual_seed(i)).images[0]
            for j, box in enumerate(plan_boxes(cfg, i)[0]):
                mask = np.zeros((res, res), np.uint8)
                mask[box.y : box.y + box.h, box.x : box.x + box.w] = 255
                name = cfg.class_names[box.cls]
                image = pipes.objects.pipe(prompt=cfg.classes[name].prompt, negative_prompt=m.negative_prompt, image=image,
                                      mask_image=Image.fromarray(mask), strength=inp.strength,
                                      num_inference_steps=inp.steps, guidance_scale=inp.guidance, height=res, width=res,
                                      generator=torch.Generator("cpu").manual_seed(1000 * i + j)).images[0]
            image.save(Path(tempfile.gettempdir()) / "idg_bench_prototype.png")
    return time.perf_counter() - t0


def engine(cfg, pipes, run_dir: Path) -> float:
    from idg.generate.engine import export, run_generation

    t0 = time.perf_counter()
    result = run_generation(cfg, run_dir, pipes_factory=lambda: pipes)
    assert export(result, cfg.class_names)
    return time.perf_counter() - t0


def backgrounds_only(cfg, pipes, n: int) -> float:
    """Seconds for the engine's background pass alone (the cache is off in ``cfg``)."""
    from idg.generate.backgrounds import PromptBackgrounds
    from idg.generate.engine import GenerationStats, model_identity
    from idg.generate.parts import Lazy

    t0 = time.perf_counter()
    PromptBackgrounds(cfg, Lazy(lambda: pipes), GenerationStats(), model_identity(cfg)).backgrounds(list(range(n)))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--resolution", type=int, default=256, help="image side (both arms)")
    ap.add_argument("--native", type=int, default=64, help="model native resolution: idg's crop size")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3, help="alternating prototype/engine rounds; medians reported")
    ap.add_argument("--dataset", default="forest_fire")
    ap.add_argument("--model", choices=["tiny", "sdxl"], default="tiny")
    ap.add_argument("--device", default="auto")
    add_threads_option(ap)
    args = ap.parse_args()
    apply_threads(args.threads)

    from idg.generate.plan import plan_boxes
    from idg.models.diffusion import load_pipelines

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(args.model, tmp / "model", args.device)

        def config(images: int, cache: str):
            return compose_config([
                f"dataset={args.dataset}", "model=tiny", f"model.pretrained={model_dir}", "model.build_tiny=false",
                f"model.resolution={args.resolution}", f"model.native_resolution={args.native}",
                f"model.device={args.device}", f"model.dtype={'float16' if args.model == 'sdxl' else 'float32'}",
                f"generate.num_images={images}", f"generate.batch_size={args.batch_size}", "generate.use_cache=false",
                f"generate.cache_dir={tmp}/{cache}", "generate.progress=false", "stages=[generate]", "offline=true",
                # no held-out seam-shortcut set: the prototype made none. The quality checks (box
                # re-estimation, retries of failed objects) stay on: they are part of what the engine delivers.
                "quality.shortcut_images=0",
            ])

        cfg = config(args.images, "cache")
        pipes = load_pipelines(cfg.model, offline=True, batch_invariant=str(cfg.generate.batch_invariant).lower())
        objects = sum(len(plan_boxes(cfg, i)[0]) for i in range(args.images))
        # warm-up both paths once (first calls pay one-off allocation costs)
        engine(config(1, "cache-warm"), pipes, tmp / "warm")
        prototype(cfg, pipes, 1)
        # Alternate the two so that load from other processes on a shared machine hits both alike.
        t_proto, t_engine, t_bg = [], [], []
        for r in range(args.repeats):
            t_proto.append(prototype(cfg, pipes, args.images))
            t_engine.append(engine(cfg, pipes, tmp / f"run{r}"))
            t_bg.append(backgrounds_only(cfg, pipes, args.images))
    tp, te, tb = statistics.median(t_proto), statistics.median(t_engine), statistics.median(t_bg)
    print(f"machine: {machine()}")
    print(f"model={args.model} dataset={args.dataset} images={args.images} objects={objects} resolution={args.resolution} "
          f"native={args.native} batch_size={args.batch_size} inpaint steps={cfg.inpaint.steps} strength={cfg.inpaint.strength} "
          f"batch_invariant={cfg.generate.batch_invariant} repeats={args.repeats}")
    print(f"prototype loop : {args.images / tp:8.3f} images/s  (median {tp:.1f} s; runs {', '.join(f'{t:.1f}' for t in t_proto)})")
    print(f"idg engine     : {args.images / te:8.3f} images/s  (median {te:.1f} s; runs {', '.join(f'{t:.1f}' for t in t_engine)})")
    print(f"speed-up       : {tp / te:8.2f}x  (per round: {', '.join(f'{a / b:.2f}' for a, b in zip(t_proto, t_engine))})")
    # Both arms make the same backgrounds (one text-to-image pass per image); what differs is the objects.
    print(f"backgrounds    : {tb:.1f} s of either arm (median; {tb / te:.0%} of the engine's time)")
    print(f"objects only   : {(tp - tb) / max(te - tb, 1e-9):8.2f}x  (prototype {tp - tb:.1f} s vs engine {te - tb:.1f} s "
          f"for {objects} objects)")


if __name__ == "__main__":
    main()
