"""Prototype loop vs idg's engine on an SDXL-Turbo-shaped model at SDXL-Turbo's sizes, side by side.

    python benchmarks/generation.py --threads 1 --k 8 --images 2 --repeats 2 \
        --json benchmarks/results/generation.json                            # the recorded run (CPU, 13 min)
    python benchmarks/generation.py --threads 1 --images 3 --repeats 2        # k=4 (about an hour here)
    python benchmarks/generation.py --k 16 --images 1 --repeats 1 --presets safari   # a quick look

The model is the width-``k`` proxy of SDXL-Turbo (``benchmarks/proxy_sdxl.py``: the published architecture,
every width divided by ``k``, random weights), saved with ``save_pretrained`` and loaded through idg's
``from_pretrained`` path like a user's model. Images are 768 px, objects are inpainted in 512 px crops,
``model.steps=2``, ``inpaint.steps=4`` x strength 0.75, for each preset in ``--presets``. Three arms, run
interleaved (their order rotates every repeat) so that load from other processes hits them alike:

* **prototype**: one text-to-image call per background with the prompt as text (encoded on every call), then
  one *full-frame* inpainting call per object at 768 px, the output becoming the next image, one PNG saved;
* **engine**: ``idg.generate.engine.run_generation`` (background cache off, no seam-shortcut set): batched
  backgrounds, prompts encoded once, crop-and-inpaint at 512 px batched across images, the masked-image
  encode its UNet ignores skipped, blending, quality checks, PNG, label and manifest per image;
* **bound**: the least work the engine's output needs: the same backgrounds and the same 512 px crop
  inpaints, one call each at batch size 1, and nothing else (no blending, checks or files). engine / bound
  is the engine's overhead.

Each arm's time is split into text encoding, UNet, VAE encode / decode, blending, quality checks, image
writing and the rest (wrappers around the modules and idg's functions: ``benchmarks/_timing.py``). The FLOP
shares of the same recipe, for the proxy and for the full-size model, come from ``benchmarks/flops.py``.
``--json`` writes everything (``benchmarks/results/generation.json`` is the recorded run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads_option, apply_threads, compose_config, machine  # noqa: E402
from _timing import CATEGORIES, Split  # noqa: E402

ARMS = ("prototype", "engine", "bound")


def config(args, model_dir: Path, preset: str, images: int, tmp: Path):
    return compose_config([
        f"dataset={preset}", "model=sdxl_turbo", f"model.pretrained={model_dir}", f"model.device={args.device}",
        f"model.dtype={args.dtype}", f"model.resolution={args.resolution}", f"model.native_resolution={args.native}",
        f"model.steps={args.steps}", f"inpaint.steps={args.inpaint_steps}", f"inpaint.strength={args.strength}",
        f"generate.num_images={images}", f"generate.batch_size={args.batch_size}", "generate.use_cache=false",
        f"generate.batch_invariant={args.batch_invariant}", f"generate.cache_dir={tmp}/cache", "generate.progress=false",
        "stages=[generate]", "offline=true",
        # no held-out seam-shortcut set: the prototype made none. The quality checks (box re-estimation,
        # retries of failed objects) stay on: they are part of what the engine delivers.
        "quality.shortcut_images=0",
    ])


def objects_of(cfg, n: int):
    from idg.generate.plan import plan_boxes

    return [plan_boxes(cfg, i)[0] for i in range(n)]


def fresh_prompts(pipes) -> None:
    """Forget cached prompt embeddings, so every engine run encodes its prompts once, as a new run does."""
    for model in (pipes.background, pipes.objects):
        model.encoder._cache.clear()


def prototype(cfg, pipes, n: int, split: Split, out: Path) -> None:
    """The prototype's loop."""
    import torch

    from idg.generate.plan import background_plan

    plan = background_plan(cfg.background.prompts, n)
    res, m, inp = cfg.generate.resolution, cfg.model, cfg.inpaint
    with torch.inference_mode():
        for i, boxes in enumerate(objects_of(cfg, n)):
            image = pipes.background.pipe(prompt=cfg.background.prompts[plan[i]].prompt, negative_prompt=m.negative_prompt,
                                          num_inference_steps=m.steps, guidance_scale=m.guidance, height=res, width=res,
                                          generator=torch.Generator("cpu").manual_seed(i)).images[0]
            for j, box in enumerate(boxes):
                mask = np.zeros((res, res), np.uint8)
                mask[box.y : box.y + box.h, box.x : box.x + box.w] = 255
                image = pipes.objects.pipe(prompt=cfg.classes[cfg.class_names[box.cls]].prompt,
                                           negative_prompt=m.negative_prompt, image=image, mask_image=Image.fromarray(mask),
                                           strength=inp.strength, num_inference_steps=inp.steps,
                                           guidance_scale=inp.guidance, height=res, width=res,
                                           generator=torch.Generator("cpu").manual_seed(1000 * i + j)).images[0]
            with split.timer("image_write"):
                image.save(out / f"prototype_{i}.png")


def engine(cfg, pipes, n: int, split: Split, out: Path) -> None:
    from idg.generate.engine import export, run_generation

    fresh_prompts(pipes)
    result = run_generation(cfg, out, pipes_factory=lambda: pipes)
    assert export(result, cfg.class_names) and result.stats.images == n


def bound(cfg, pipes, n: int, split: Split, out: Path) -> None:
    """The same backgrounds and 512 px crop inpaints at batch size 1, nothing else."""
    from idg.generate.backgrounds import PromptBackgrounds
    from idg.generate.blend import to_uint8
    from idg.generate.engine import GenerationStats, model_identity
    from idg.generate.inpaint import DiffusionPainter, prepare_crop
    from idg.generate.parts import Lazy

    fresh_prompts(pipes)
    lazy = Lazy(lambda: pipes)
    source = PromptBackgrounds(cfg, lazy, GenerationStats(), model_identity(cfg))
    painter = DiffusionPainter(cfg, lazy)
    inp = cfg.inpaint
    for i, boxes in enumerate(objects_of(cfg, n)):
        background = to_uint8(source.text_to_image([source.prompt(i)], [source.seed(i)]))[0]
        for j, box in enumerate(boxes):
            _, crop, mask = prepare_crop(background, box, inp, painter.crop_size)
            pipes.inpaint([cfg.classes[cfg.class_names[box.cls]].prompt], [1000 * i + j], images=[crop], masks=[mask],
                          negative_prompt=painter.negative_prompt, strength=inp.strength, steps=inp.steps,
                          guidance=inp.guidance, size=painter.crop_size)


RUNNERS = {"prototype": prototype, "engine": engine, "bound": bound}


def run_arm(arm: str, cfg, pipes, n: int, split: Split, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    split.reset()
    start = time.perf_counter()
    RUNNERS[arm](cfg, pipes, n, split, out)
    total = time.perf_counter() - start
    return {"seconds": total, "split_s": split.snapshot(total)}


def flop_shares(k: int, args, objects: float) -> dict:
    """FLOP tables of this recipe for the engine (512 px crops, one encode per object) and the prototype
    (768 px full frames, prompts encoded per call, two encodes per object), proxy vs k=1."""
    import flops

    common = dict(background=args.resolution, background_steps=args.steps, inpaint_steps=args.inpaint_steps,
                  strength=args.strength, objects=objects)
    return {"engine": flops.flop_table(k, crop=args.native, masked_image_encode=False, **common),
            "prototype": flops.flop_table(k, crop=args.resolution, masked_image_encode=True,
                                          text_encodes=1 + objects, **common)}


def summarise(runs: list, n: int) -> dict:
    secs = [r["seconds"] for r in runs]
    med = statistics.median(secs)
    split = {c: statistics.mean(r["split_s"][c] for r in runs) / n for c in CATEGORIES}
    return {"images_per_s": n / med, "median_s": med, "runs_s": secs, "split_s_per_image": split}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=4, help="proxy width divisor (1 = full-size SDXL-Turbo architecture)")
    ap.add_argument("--presets", nargs="+", default=["forest_fire", "safari"])
    ap.add_argument("--images", type=int, default=3, help="images per preset and arm")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds of every arm; medians reported")
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    ap.add_argument("--resolution", type=int, default=768)
    ap.add_argument("--native", type=int, default=512, help="crop side of the engine (model.native_resolution)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--inpaint-steps", type=int, default=4)
    ap.add_argument("--strength", type=float, default=0.75)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--batch-invariant", default="auto", choices=["auto", "true", "false"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--model-dir", default=None, help="reuse (or write once) the saved proxy here")
    ap.add_argument("--json", default=None, help="write the results here (e.g. benchmarks/results/generation.json)")
    add_threads_option(ap)
    args = ap.parse_args(argv)
    apply_threads(args.threads)

    import torch

    from idg.models.diffusion import load_pipelines
    from proxy_sdxl import build_proxy_pipeline, parameter_counts

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = Path(args.model_dir) if args.model_dir else tmp / f"proxy-k{args.k}"
        if not (model_dir / "model_index.json").is_file():
            # float32 on the CPU: the published force_upcast changes nothing there but a warning per inpaint call
            build_proxy_pipeline(args.k, save_to=model_dir, force_upcast=False if args.dtype == "float32" else None)
        cfgs = {p: config(args, model_dir, p, args.images, tmp) for p in args.presets}
        first = cfgs[args.presets[0]]
        pipes = load_pipelines(first.model, first.inpaint_model, offline=True,
                               batch_invariant=str(first.generate.batch_invariant).lower())
        split = Split(torch.cuda.synchronize if str(pipes.device).startswith("cuda") else None)
        split.wrap_pipelines(pipes.background.pipe, pipes.objects.pipe)
        split.wrap_idg()
        # warm-up: every arm once on one image (first calls pay one-off allocations)
        warm = config(args, model_dir, args.presets[0], 1, tmp)
        for arm in args.arms:
            run_arm(arm, warm, pipes, 1, split, tmp / f"warm-{arm}")
        runs = {p: {a: [] for a in args.arms} for p in args.presets}
        for r in range(args.repeats):
            order = args.arms[r % len(args.arms):] + args.arms[: r % len(args.arms)]
            for preset in args.presets:
                for arm in order:
                    runs[preset][arm].append(run_arm(arm, cfgs[preset], pipes, args.images, split,
                                                     tmp / f"{preset}-{arm}-{r}"))
                    print(f"round {r} {preset:<12} {arm:<9} {runs[preset][arm][-1]['seconds']:8.1f} s", flush=True)
        split.restore()
    load_after = os.getloadavg()

    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + (argv if argv is not None else sys.argv[1:])),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"description": machine(), "torch_threads": torch.get_num_threads(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in load_after]},
        "model": {"name": f"proxy SDXL-Turbo k={args.k}", "k": args.k, "parameters": sum(parameter_counts(args.k).values()),
                  "dtype": args.dtype, "device": str(pipes.device), "loaded_with": "from_pretrained (save_pretrained dir)"},
        "settings": {"resolution": args.resolution, "crop": args.native, "steps": args.steps,
                     "inpaint_steps": args.inpaint_steps, "strength": args.strength, "batch_size": args.batch_size,
                     "batch_invariant": pipes.batch_invariant, "images_per_preset": args.images, "repeats": args.repeats},
        "presets": {},
    }
    for preset in args.presets:
        objects = sum(len(b) for b in objects_of(cfgs[preset], args.images))
        arms = {a: summarise(runs[preset][a], args.images) for a in args.arms}
        entry = {"images": args.images, "objects": objects, "arms": arms}
        if {"prototype", "engine"} <= set(arms):
            entry["ratio_engine_over_prototype"] = arms["engine"]["images_per_s"] / arms["prototype"]["images_per_s"]
            entry["ratio_per_round"] = [p["seconds"] / e["seconds"] for p, e in
                                        zip(runs[preset]["prototype"], runs[preset]["engine"])]
        if {"bound", "engine"} <= set(arms):
            entry["engine_over_bound"] = arms["engine"]["images_per_s"] / arms["bound"]["images_per_s"]
        entry["flops"] = flop_shares(args.k, args, objects / args.images)
        for arm, table in (("engine", entry["flops"]["engine"]), ("prototype", entry["flops"]["prototype"])):
            if arm in arms:
                arms[arm]["achieved_gflop_per_s"] = table["total_gflops"] / (1 / arms[arm]["images_per_s"])
        if "bound" in arms:
            entry["bound_ratio_over_prototype"] = (arms["bound"]["images_per_s"] / arms["prototype"]["images_per_s"]
                                                   if "prototype" in arms else None)
        result["presets"][preset] = entry
    print(report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def report(result: dict) -> str:
    s = result["settings"]
    lines = [f"machine: {result['machine']['description']}; load average {result['machine']['load_average_before']} "
             f"-> {result['machine']['load_average_after']}",
             f"model: {result['model']['name']} ({result['model']['parameters']:,} parameters, {result['model']['dtype']}, "
             f"{result['model']['device']}); {s['resolution']} px images, {s['crop']} px crops, steps {s['steps']}, "
             f"inpaint {s['inpaint_steps']} x {s['strength']}, batch {s['batch_size']}, batch-invariant {s['batch_invariant']}, "
             f"{s['images_per_preset']} images x {s['repeats']} repeats"]
    for preset, e in result["presets"].items():
        lines.append(f"\n{preset}: {e['images']} images, {e['objects']} objects")
        for arm, a in e["arms"].items():
            rate = f"{a['images_per_s']:.4f} images/s (median {a['median_s']:.1f} s; runs " + \
                   ", ".join(f"{t:.1f}" for t in a["runs_s"]) + ")"
            gf = f", {a['achieved_gflop_per_s']:.0f} GFLOP/s" if "achieved_gflop_per_s" in a else ""
            lines.append(f"  {arm:<10}: {rate}{gf}")
            total = sum(a["split_s_per_image"].values())
            lines.append("              " + ", ".join(f"{c} {a['split_s_per_image'][c]:.2f} s ({a['split_s_per_image'][c] / total:.0%})"
                                                      for c in CATEGORIES if a["split_s_per_image"][c] > 0))
        if "ratio_engine_over_prototype" in e:
            lines.append(f"  engine / prototype: {e['ratio_engine_over_prototype']:.2f}x (per round "
                         + ", ".join(f"{x:.2f}" for x in e["ratio_per_round"]) + ")")
        if "engine_over_bound" in e:
            lines.append(f"  engine / bound: {e['engine_over_bound']:.2f} (bound / prototype "
                         f"{e['bound_ratio_over_prototype']:.2f}x: the most the engine could gain here)"
                         if e.get("bound_ratio_over_prototype") else f"  engine / bound: {e['engine_over_bound']:.2f}")
        fe, fp = e["flops"]["engine"], e["flops"]["prototype"]
        lines.append(f"  FLOPs per image: engine {fe['total_gflops']:,.0f} GFLOP vs prototype {fp['total_gflops']:,.0f} "
                     f"(ratio {fp['total_gflops'] / fe['total_gflops']:.2f}x); shares (proxy / k=1): "
                     + ", ".join(f"{role} {c['share']:.1%}/{c['reference_share']:.1%}" for role, c in fe["components"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
