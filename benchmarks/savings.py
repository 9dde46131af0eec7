"""What each candidate saving of the engine is worth on the proxy SDXL-Turbo, measured one by one.

    python benchmarks/savings.py --threads 1 --k 4 --repeats 3 --json benchmarks/results/savings.json
    python benchmarks/savings.py --threads 1 --k 4 --only compile      # torch.compile alone (slow to compile)

Each case times its variants interleaved (``--repeats`` rounds, medians) on the width-``k`` proxy's modules
(``benchmarks/proxy_sdxl.py``, random weights, float32 on the CPU) and says whether the output bits change:

* ``masked_image_encode``: the VAE encode of a 512 px crop that diffusers' inpaint pipeline spends on the
  masked image (a 4-channel UNet never reads it): what skipping it saves per object;
* ``image_write``: encoding a 768 px image as PNG (idg's fixed settings) and writing it atomically;
* ``frame_copies``: the two full-frame copies the engine makes per object (the undo copy and the paste);
* ``channels_last``: UNet step and VAE decode at 768 px in channels-last memory format vs contiguous;
* ``compile``: ``torch.compile`` of the UNet: first call (compilation) and later steps vs eager;
* ``batch_invariant``: a UNet step and a VAE decode at 512 px for a batch of 4, per sample
  (``idg.models.batch_invariant``, what makes output bits independent of the batch size) vs batched.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads_option, apply_threads, machine  # noqa: E402

CASES = ("masked_image_encode", "image_write", "frame_copies", "channels_last", "compile", "batch_invariant")


def timed(fns: Dict[str, Callable[[], object]], repeats: int) -> Dict[str, dict]:
    """Median seconds of each variant, variants interleaved; the last output of each is kept."""
    runs: Dict[str, List[float]] = {name: [] for name in fns}
    outputs = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            outputs[name] = fn()
            runs[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(r), "runs_s": r, "output": outputs[name]} for name, r in runs.items()}


def same_bits(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b)) if isinstance(a, torch.Tensor) else bool(np.array_equal(a, b))


def max_abs_diff(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


def unet_inputs(unet, side: int, batch: int = 1, seed: int = 0):
    import torch

    c = unet.config
    g = torch.Generator().manual_seed(seed)
    pooled = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim
    sample = torch.randn(batch, c.in_channels, side // 8, side // 8, generator=g)
    context = torch.randn(batch, 77, c.cross_attention_dim, generator=g)
    added = {"text_embeds": torch.randn(batch, pooled, generator=g),
             "time_ids": torch.tensor([[side, side, 0, 0, side, side]] * batch, dtype=torch.float32)}
    return sample, torch.full((batch,), 999.0), context, added


def unet_step(unet, inputs):
    import torch

    sample, t, context, added = inputs
    with torch.inference_mode():
        return unet(sample, t, encoder_hidden_states=context, added_cond_kwargs=added, return_dict=False)[0]


def vae_decode(vae, z):
    import torch

    with torch.inference_mode():
        return vae.decode(z, return_dict=False)[0]


def strip(res: Dict[str, dict]) -> Dict[str, dict]:
    return {k: {kk: vv for kk, vv in v.items() if kk != "output"} for k, v in res.items()}


def case_masked_image_encode(mods, repeats):
    import torch

    x = torch.rand(1, 3, 512, 512) * 2 - 1
    with torch.inference_mode():
        res = timed({"vae_encode@512": lambda: mods["vae"].encode(x).latent_dist.mean}, repeats)
    return {"variants": strip(res), "saved_s_per_object": res["vae_encode@512"]["median_s"],
            "output_identical": True, "note": "output bits checked in tests/test_interrupt.py (ancestral scheduler)"}


def case_image_write(mods, repeats):
    from PIL import Image

    from idg.core.atomic import atomic_save_image, encode_image

    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (768, 768, 3), dtype=np.uint8))
    with tempfile.TemporaryDirectory() as tmp:
        res = timed({"png_encode@768": lambda: encode_image(img, "png"),
                     "png_encode_and_atomic_write@768": lambda: atomic_save_image(Path(tmp) / "x.png", img, "png")},
                    repeats)
    return {"variants": strip(res), "output_identical": True}


def case_frame_copies(mods, repeats):
    frame = np.random.default_rng(0).integers(0, 256, (768, 768, 3), dtype=np.uint8)
    res = timed({"two_copies@768": lambda: (frame.copy(), frame.copy())}, max(repeats, 20))
    return {"variants": strip(res), "output_identical": True}


def case_channels_last(mods, repeats):
    import torch

    unet, vae = mods["unet"], mods["vae"]
    inputs = unet_inputs(unet, 768)
    z = torch.randn(1, 4, 96, 96, generator=torch.Generator().manual_seed(1))
    unet_cl, vae_cl = copy.deepcopy(unet).to(memory_format=torch.channels_last), copy.deepcopy(vae).to(
        memory_format=torch.channels_last)
    cl_inputs = (inputs[0].contiguous(memory_format=torch.channels_last), *inputs[1:])
    res = timed({"unet_step@768": lambda: unet_step(unet, inputs),
                 "unet_step@768 channels_last": lambda: unet_step(unet_cl, cl_inputs),
                 "vae_decode@768": lambda: vae_decode(vae, z),
                 "vae_decode@768 channels_last": lambda: vae_decode(vae_cl, z.contiguous(memory_format=torch.channels_last))},
                repeats)
    out = {"variants": strip(res)}
    for part in ("unet_step@768", "vae_decode@768"):
        a, b = res[part]["output"], res[f"{part} channels_last"]["output"]
        out[part] = {"speedup": res[part]["median_s"] / res[f"{part} channels_last"]["median_s"],
                     "output_identical": same_bits(a, b.contiguous()), "max_abs_diff": max_abs_diff(a, b)}
    return out


def case_compile(mods, repeats):
    import torch

    unet = mods["unet"]
    inputs = unet_inputs(unet, 512)
    compiled = torch.compile(copy.deepcopy(unet))
    start = time.perf_counter()
    first = unet_step(compiled, inputs)
    compile_s = time.perf_counter() - start
    res = timed({"unet_step@512 eager": lambda: unet_step(unet, inputs),
                 "unet_step@512 compiled": lambda: unet_step(compiled, inputs)}, repeats)
    a, b = res["unet_step@512 eager"]["output"], res["unet_step@512 compiled"]["output"]
    return {"variants": strip(res), "first_call_s": compile_s,
            "speedup": res["unet_step@512 eager"]["median_s"] / res["unet_step@512 compiled"]["median_s"],
            "output_identical": same_bits(a, b), "max_abs_diff": max_abs_diff(a, b),
            "first_equals_later": same_bits(first, b)}


def case_batch_invariant(mods, repeats):
    import torch

    from idg.models.batch_invariant import make_batch_invariant

    unet, vae = mods["unet"], mods["vae"]
    unet_pi, vae_pi = copy.deepcopy(unet), copy.deepcopy(vae)
    make_batch_invariant(unet_pi, vae_pi)
    inputs = unet_inputs(unet, 512, batch=4)
    z = torch.randn(4, 4, 64, 64, generator=torch.Generator().manual_seed(2))
    res = timed({"unet_step@512 x4 batched": lambda: unet_step(unet, inputs),
                 "unet_step@512 x4 per sample": lambda: unet_step(unet_pi, inputs),
                 "vae_decode@512 x4 batched": lambda: vae_decode(vae, z),
                 "vae_decode@512 x4 per sample": lambda: vae_decode(vae_pi, z)}, repeats)
    out = {"variants": strip(res)}
    for part in ("unet_step@512 x4", "vae_decode@512 x4"):
        b, p = res[f"{part} batched"], res[f"{part} per sample"]
        out[part] = {"cost": p["median_s"] / b["median_s"] - 1, "output_identical": same_bits(b["output"], p["output"])}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=CASES, default=[c for c in CASES if c != "compile"],
                    help="cases to run (default: all but compile, which takes minutes to compile on a CPU)")
    ap.add_argument("--json", default=None)
    add_threads_option(ap)
    args = ap.parse_args(argv)
    apply_threads(args.threads)

    import torch

    from proxy_sdxl import build_proxy_modules

    mods = build_proxy_modules(args.k, force_upcast=False)
    load_before = os.getloadavg()
    results = {}
    for case in args.only:
        results[case] = globals()[f"case_{case}"](mods, args.repeats)
        print(f"{case}: {json.dumps(results[case], default=float)}", flush=True)
    out = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + (argv if argv is not None else sys.argv[1:])),
           "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "torch_threads": torch.get_num_threads(),
           "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()], "k": args.k, "cases": results}
    if args.json:
        path = Path(args.json)
        merged = json.loads(path.read_text()) if path.is_file() else {}
        merged.setdefault("runs", []).append(out)  # one entry per run: --only runs add to the file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
