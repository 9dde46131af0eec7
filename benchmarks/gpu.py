"""The prepared GPU run: full-size random SDXL-Turbo in fp16, prototype loop vs engine at batch sizes 1-16.

    bash benchmarks/gpu.sh --json "$OUT/gpu.json"                     # on a GPU machine (no network)
    bash benchmarks/gpu.sh --device cpu --k 16 --images 1              # the CPU dry run (tested in CI)

The model is ``benchmarks/proxy_sdxl.py``'s SDXL-Turbo architecture at width ``1/k`` (``k=1``: full size,
3.5 B parameters) with random weights, initialised on the device, saved with ``save_pretrained`` in
``--dtype`` and loaded back through idg's ``from_pretrained`` path. The recipe is ``generation.py``'s: one
preset (default ``forest_fire``), 768 px images, 512 px crops, ``model.steps=2``, ``inpaint.steps=4`` x 0.75.
Cases, in this order, each skipped (and recorded as skipped) once ``--budget-s`` seconds have passed:

1. **prototype**: ``generation.py``'s prototype loop (batch size 1 by construction), ``--images`` images;
2. **engine** at each of ``--batch-sizes`` (``generate.batch_size``; batch-invariant kernels off, as
   ``auto`` gives on a GPU), eager;
3. **engine, torch.compile** (``model.compile=true``) at each batch size: the first batch (compilation) is
   timed apart as ``first_batch_s``.

Each engine case first runs one untimed batch at its batch size (cuDNN and allocator warm-up; on a CPU
only with ``--warmup on``), then ``--images`` images timed. Per case: images/s, peak GPU memory
(``torch.cuda.max_memory_allocated``), the time split (``_timing.py``) and, against the **FLOPs bound**
(the recipe's model FLOPs per image from ``flops.py``, divided by the device's dense fp16 tensor-core
peak from :data:`PEAK_FP16_TFLOPS`), the achieved fraction. Prints a table, ``--json`` writes it all.

Imports stay within idg's generation layer (no study, report, Ultralytics or W&B), so the GPU image needs
only diffusers, hydra-core, omegaconf and antlr4-python3-runtime as wheels (``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compose_config, machine  # noqa: E402
from _timing import Split  # noqa: E402

# Dense (no sparsity) fp16/bf16 tensor-core peaks with fp32 accumulation, TFLOP/s, from NVIDIA's data
# sheets; matched against torch.cuda.get_device_name() in this order (first substring that matches).
PEAK_FP16_TFLOPS = (
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM
    ("GH200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("RTX 4090", 165.2),
    ("V100", 125.0),
    ("T4", 65.0),
)


def peak_tflops(device_name: str, override: Optional[float] = None) -> Optional[float]:
    if override:
        return override
    return next((tf for key, tf in PEAK_FP16_TFLOPS if key in device_name), None)


def config(args, model_dir: Path, images: int, batch_size: int, compiled: bool, tmp: Path):
    return compose_config([
        f"dataset={args.preset}", "model=sdxl_turbo", f"model.pretrained={model_dir}", f"model.device={args.device}",
        f"model.dtype={args.dtype}", f"model.resolution={args.resolution}", f"model.native_resolution={args.native}",
        f"model.steps={args.steps}", f"inpaint.steps={args.inpaint_steps}", f"inpaint.strength={args.strength}",
        f"model.compile={str(compiled).lower()}", f"generate.num_images={images}", f"generate.batch_size={batch_size}",
        "generate.use_cache=false", "generate.batch_invariant=auto", f"generate.cache_dir={tmp}/cache",
        "generate.progress=false", "stages=[generate]", "offline=true", "quality.shortcut_images=0",
    ])


def build_model(args, path: Path) -> Path:
    """The proxy, initialised on the device (float32), saved in ``--dtype`` for idg to load."""
    import torch
    from diffusers import StableDiffusionXLPipeline

    from proxy_sdxl import build_proxy_modules, save_atomically

    if (path / "model_index.json").is_file():
        return path
    # float32 on a CPU: force_upcast would change nothing there but log a warning per call
    upcast = False if args.dtype == "float32" else None
    pipe = StableDiffusionXLPipeline(**build_proxy_modules(args.k, device=args.device, force_upcast=upcast))
    pipe.to(dtype=getattr(torch, args.dtype))
    save_atomically(pipe, path)
    del pipe
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return path


def load(cfg):
    from idg.models.diffusion import load_pipelines

    return load_pipelines(cfg.model, cfg.inpaint_model, offline=True, batch_invariant=str(cfg.generate.batch_invariant).lower())


def release(pipes) -> None:
    import torch

    del pipes
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def timed_case(name: str, fn, images: int, split: Split, cuda: bool, flops_per_image: float,
               peak: Optional[float]) -> dict:
    import torch

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    split.reset()
    start = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rate = images / seconds
    out = {"case": name, "images": images, "seconds": seconds, "images_per_s": rate,
           "split_s_per_image": {c: v / images for c, v in split.snapshot(seconds).items()},
           "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
           "achieved_tflop_per_s": flops_per_image * rate / 1e3}
    out["fraction_of_flops_bound"] = out["achieved_tflop_per_s"] / peak if peak else None
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--k", type=int, default=1, help="proxy width divisor (1 = full-size SDXL-Turbo)")
    ap.add_argument("--dtype", default=None, help="default float16 on a GPU, float32 on a CPU")
    ap.add_argument("--images", type=int, default=16, help="timed images per case")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16],
                    help="engine batch sizes (those above --images are dropped)")
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                    help="also run the torch.compile cases (auto: on a GPU only)")
    ap.add_argument("--warmup", default="auto", choices=["auto", "on", "off"],
                    help="one untimed batch before each engine case (auto: on a GPU only)")
    ap.add_argument("--preset", default="forest_fire")
    ap.add_argument("--resolution", type=int, default=768)
    ap.add_argument("--native", type=int, default=512)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--inpaint-steps", type=int, default=4)
    ap.add_argument("--strength", type=float, default=0.75)
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's fp16 peak, if not in the table")
    ap.add_argument("--budget-s", type=float, default=420.0, help="start no case after this many seconds")
    ap.add_argument("--model-dir", default=None, help="reuse (or write once) the saved model here")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    cuda = args.device.startswith("cuda")
    args.dtype = args.dtype or ("float16" if cuda else "float32")
    on_gpu = {"auto": cuda, "on": True, "off": False}
    compile_cases, warmup = on_gpu[args.compile], on_gpu[args.warmup]
    batch_sizes = sorted({b for b in args.batch_sizes if b <= args.images}) or [args.images]

    import torch

    import flops
    import generation

    t0 = time.perf_counter()
    device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
    peak = peak_tflops(device_name, args.peak_tflops) if cuda or args.peak_tflops else None
    result: Dict[str, object] = {
        "command": "bash benchmarks/gpu.sh " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "device": device_name,
        "peak_fp16_tflops": peak, "k": args.k, "dtype": args.dtype, "preset": args.preset,
        "settings": {"resolution": args.resolution, "crop": args.native, "steps": args.steps,
                     "inpaint_steps": args.inpaint_steps, "strength": args.strength, "images": args.images,
                     "batch_sizes": batch_sizes, "warmup": warmup, "budget_s": args.budget_s},
        "cases": [], "skipped": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(args, Path(args.model_dir) if args.model_dir else tmp / f"proxy-k{args.k}")
        result["build_s"] = time.perf_counter() - t0
        cfg1 = config(args, model_dir, args.images, 1, False, tmp)
        objects = sum(len(b) for b in generation.objects_of(cfg1, args.images)) / args.images
        common = dict(background=args.resolution, background_steps=args.steps, inpaint_steps=args.inpaint_steps,
                      strength=args.strength, objects=objects)
        engine_flops = flops.flop_table(args.k, crop=args.native, masked_image_encode=False, **common)
        proto_flops = flops.flop_table(args.k, crop=args.resolution, masked_image_encode=True, text_encodes=1 + objects,
                                       **common)
        result["objects_per_image"] = objects
        result["gflop_per_image"] = {"engine": engine_flops["total_gflops"], "prototype": proto_flops["total_gflops"],
                                     "k1_engine": engine_flops["reference_total_gflops"]}
        if peak:
            result["flops_bound_images_per_s"] = {arm: peak * 1e3 / g for arm, g in result["gflop_per_image"].items()
                                                  if arm != "k1_engine"}
        sync = torch.cuda.synchronize if cuda else None

        def over_budget(name: str) -> bool:
            if time.perf_counter() - t0 > args.budget_s:
                result["skipped"].append(name)
                print(f"{name}: skipped (past --budget-s {args.budget_s:.0f} s)", flush=True)
                return True
            return False

        for compiled in ([False, True] if compile_cases else [False]):
            tag = "compiled" if compiled else "eager"
            pipes = load(config(args, model_dir, args.images, 1, compiled, tmp))
            split = Split(sync)
            split.wrap_pipelines(pipes.background.pipe, pipes.objects.pipe)
            split.wrap_idg()
            try:
                if not compiled and not over_budget("prototype"):
                    case = timed_case("prototype", lambda: generation.prototype(cfg1, pipes, args.images, split,
                                                                                  _fresh(tmp, "proto")),
                                      args.images, split, cuda, proto_flops["total_gflops"], peak)
                    result["cases"].append(case)
                    _print(case)
                for b in batch_sizes:
                    name = f"engine {tag} batch {b}"
                    if over_budget(name):
                        continue
                    first = None
                    if warmup or compiled:
                        warm = config(args, model_dir, b, b, compiled, tmp)
                        start = time.perf_counter()
                        generation.engine(warm, pipes, b, split, _fresh(tmp, f"warm-{tag}-{b}"))
                        first = time.perf_counter() - start
                    cfg = config(args, model_dir, args.images, b, compiled, tmp)
                    case = timed_case(name, lambda: generation.engine(cfg, pipes, args.images, split,
                                                                      _fresh(tmp, f"{tag}-{b}")),
                                      args.images, split, cuda, engine_flops["total_gflops"], peak)
                    case.update(batch_size=b, compiled=compiled, first_batch_s=first)
                    result["cases"].append(case)
                    _print(case)
            finally:
                split.restore()
                release(pipes)
    result["total_s"] = time.perf_counter() - t0
    print(f"model build {result['build_s']:.0f} s, total {result['total_s']:.0f} s; "
          f"{result['gflop_per_image']['engine']:,.0f} GFLOP per engine image (k=1: "
          f"{result['gflop_per_image']['k1_engine']:,.0f}), peak {peak or 'unknown'} TFLOP/s ({device_name})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _fresh(tmp: Path, name: str) -> Path:
    out = tmp / "runs" / name
    n = 0
    while out.exists():
        n += 1
        out = tmp / "runs" / f"{name}-{n}"
    out.mkdir(parents=True)
    return out


def _print(case: dict) -> None:
    mem = f", peak {case['peak_gpu_memory_gib']:.1f} GiB" if case["peak_gpu_memory_gib"] is not None else ""
    frac = f", {case['fraction_of_flops_bound']:.1%} of the FLOPs bound" if case["fraction_of_flops_bound"] else ""
    first = f", first batch {case['first_batch_s']:.1f} s" if case.get("first_batch_s") else ""
    print(f"{case['case']:<26} {case['images_per_s']:8.3f} images/s ({case['seconds']:.1f} s){mem}{frac}{first}",
          flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
