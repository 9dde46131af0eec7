"""A proxy SDXL(-Turbo): the published architecture, every width divided by ``k``, random weights, built offline.

    python benchmarks/proxy_sdxl.py --k 4                       # parameter counts, full size vs 1/4 width
    python benchmarks/proxy_sdxl.py --k 4 --save /tmp/proxy-k4  # save_pretrained, loads like a real model

The architecture comes from ``benchmarks/configs/sdxl_turbo_{unet,vae,text_encoder,text_encoder_2}.json``
(written from SDXL-Turbo's published configs; see the ``_comment`` in each and PROXY_NOTES.md).
:func:`proxy_configs` divides every width by ``k`` and keeps every depth (UNet levels, resnets and
transformer layers per level, VAE blocks, CLIP layers), so a proxy has the real model's structure, latent
sizes and therefore nearly its cost shares, at about ``1/k**2`` of its FLOPs (``benchmarks/flops.py``
measures how near). ``k=1`` is the full-size model; build it with ``meta=True`` to count its FLOPs without
allocating 3.5 B parameters.

Scaling rules (each checked, a ``k`` that breaks one raises ``ValueError``):

* UNet and VAE channels, ``cross_attention_dim``, ``addition_time_embed_dim`` and
  ``projection_class_embeddings_input_dim`` (= 6 x addition_time_embed_dim + text encoder 2's projection
  dim, which stays true) are divided by ``k``.
* Attention head *counts* are kept (SDXL's 5/10/20 in the UNet, 12 and 20 in the text encoders), so the
  head dim shrinks from 64 to ``64/k``. An attention's FLOPs are ``4 N^2 C`` whatever the split of ``C``
  into heads, so this choice does not move a FLOP count.
* GroupNorm groups are divided by ``k`` too (32 -> 32/k), keeping SDXL's channels per group (10 at the
  UNet's first level); where ``k`` does not divide 32 the groups fall back to a common divisor.
* CLIP hidden, intermediate and projection sizes are divided by ``k``.

The tokenizers are :func:`idg.models.tiny._tokenizer`'s offline byte-level vocabulary (514 entries instead of
CLIP's 49,408): an embedding lookup is not a FLOP, so only the parameter count (and file size) differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
# Keys of the CLIP config files that are file metadata, not CLIPTextConfig arguments.
_CLIP_META = ("architectures", "model_type")

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, Path(__file__).resolve().parent):  # run as a script: `idg` and `tiny_v1` importable
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def published_configs() -> Dict[str, dict]:
    """SDXL-Turbo's four model configs as kept in ``benchmarks/configs`` (note keys ``_*`` dropped)."""
    out = {}
    for name in COMPONENTS:
        raw = json.loads((CONFIG_DIR / f"sdxl_turbo_{name}.json").read_text())
        out[name] = {key: value for key, value in raw.items() if not key.startswith("_") and key not in _CLIP_META}
    return out


def _div(value: int, k: int, what: str) -> int:
    if value % k:
        raise ValueError(f"proxy k={k}: {what}={value} is not divisible by {k}")
    return value // k


def _groups(groups: int, k: int, widths) -> int:
    """GroupNorm groups at width/k: groups/k when k divides them (same channels per group as the real
    model), else the largest common divisor of the groups and every width."""
    if groups % k == 0:
        return groups // k
    return math.gcd(groups, *widths)


def proxy_configs(k: int) -> Dict[str, dict]:
    """The four configs (``unet``, ``vae``, ``text_encoder``, ``text_encoder_2``) at 1/``k`` width.

    Plain dicts: UNet/VAE ones are ``from_config`` dicts for diffusers, the text ones ``CLIPTextConfig``
    keyword arguments (vocabulary and token ids still the published ones; :func:`build_proxy_pipeline`
    swaps in the offline tokenizer's). ``k=1`` returns the published configs unchanged.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"proxy k must be a positive integer, got {k!r}")
    cfg = published_configs()
    unet, vae, te1, te2 = (dict(cfg[n]) for n in COMPONENTS)

    # Text encoders first: the UNet's cross-attention and pooled-embedding widths follow from them.
    for te, name in ((te1, "text_encoder"), (te2, "text_encoder_2")):
        for key in ("hidden_size", "intermediate_size", "projection_dim"):
            te[key] = _div(te[key], k, f"{name}.{key}")
        if te["hidden_size"] % te["num_attention_heads"]:
            raise ValueError(f"proxy k={k}: {name}.hidden_size={te['hidden_size']} is not divisible by its "
                             f"{te['num_attention_heads']} heads")

    unet["block_out_channels"] = [_div(c, k, "unet.block_out_channels") for c in unet["block_out_channels"]]
    unet["cross_attention_dim"] = _div(unet["cross_attention_dim"], k, "unet.cross_attention_dim")
    unet["addition_time_embed_dim"] = _div(unet["addition_time_embed_dim"], k, "unet.addition_time_embed_dim")
    unet["projection_class_embeddings_input_dim"] = _div(
        unet["projection_class_embeddings_input_dim"], k, "unet.projection_class_embeddings_input_dim")
    unet["norm_num_groups"] = _groups(unet["norm_num_groups"], k, unet["block_out_channels"])
    vae["block_out_channels"] = [_div(c, k, "vae.block_out_channels") for c in vae["block_out_channels"]]
    vae["norm_num_groups"] = _groups(vae["norm_num_groups"], k, vae["block_out_channels"])

    # Consistency of the scaled architecture (true at k=1 for SDXL; checked so no k slips through).
    if unet["cross_attention_dim"] != te1["hidden_size"] + te2["hidden_size"]:
        raise ValueError(f"proxy k={k}: cross_attention_dim {unet['cross_attention_dim']} != "
                         f"{te1['hidden_size']} + {te2['hidden_size']} (the two text encoders' hidden sizes)")
    if unet["projection_class_embeddings_input_dim"] != 6 * unet["addition_time_embed_dim"] + te2["projection_dim"]:
        raise ValueError(f"proxy k={k}: projection_class_embeddings_input_dim is not 6 x addition_time_embed_dim "
                         f"+ text_encoder_2.projection_dim")
    if unet["addition_time_embed_dim"] % 2:
        raise ValueError(f"proxy k={k}: addition_time_embed_dim={unet['addition_time_embed_dim']} must be even")
    heads = unet["attention_head_dim"]  # diffusers reads SDXL's attention_head_dim as head counts
    heads = heads if isinstance(heads, list) else [heads] * len(unet["block_out_channels"])
    for c, h in zip(unet["block_out_channels"], heads):
        if c % h:
            raise ValueError(f"proxy k={k}: UNet width {c} is not divisible by its {h} attention heads")
    for part in ("unet", "vae"):
        conf = unet if part == "unet" else vae
        for c in conf["block_out_channels"]:
            if c % conf["norm_num_groups"]:
                raise ValueError(f"proxy k={k}: {part} width {c} is not divisible by {conf['norm_num_groups']} groups")
    return {"unet": unet, "vae": vae, "text_encoder": te1, "text_encoder_2": te2}


def build_proxy_modules(k: int, meta: bool = False, seed: int = 0,
                        force_upcast: Optional[bool] = None, device: str = "cpu") -> Dict[str, object]:
    """The proxy's UNet, VAE, text encoders, tokenizers and scheduler, float32 on ``device`` (random init
    from ``seed``; a GPU initialises the full-size model in seconds where a CPU takes minutes) or, with
    ``meta=True``, on the ``meta`` device: shapes only, no weight memory.

    ``force_upcast`` overrides the VAE's published ``true`` (diffusers then runs the VAE in float32 under
    a float16 pipeline, as it does for SDXL-Turbo; in float32 it changes nothing but diffusers' inpaint
    pipeline logs a warning per call)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from idg.models.tiny import _tokenizer

    cfg = proxy_configs(k)
    tokenizer, vocab = _tokenizer()
    ids = {"vocab_size": len(vocab), "bos_token_id": vocab["<|startoftext|>"],
           "eos_token_id": vocab["<|endoftext|>"], "pad_token_id": vocab["<|endoftext|>"]}
    torch.manual_seed(seed)
    with torch.device("meta") if meta else torch.device(device):
        unet = UNet2DConditionModel.from_config(cfg["unet"])
        vae = AutoencoderKL.from_config(
            cfg["vae"] if force_upcast is None else {**cfg["vae"], "force_upcast": bool(force_upcast)})
        te1 = CLIPTextModel(CLIPTextConfig(**{**cfg["text_encoder"], **ids}))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**{**cfg["text_encoder_2"], **ids}))
    # The Euler scheduler idg's tiny models use (trailing spacing, SDXL's betas). SDXL-Turbo publishes an
    # Euler(-ancestral) scheduler with the same spacing: same UNet calls per step, so same FLOPs.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    for m in (unet, vae, te1, te2):
        m.eval()
    return {"unet": unet, "vae": vae, "text_encoder": te1, "text_encoder_2": te2,
            "tokenizer": tokenizer, "tokenizer_2": tokenizer, "scheduler": scheduler}


def save_atomically(pipe, path: str | os.PathLike) -> Path:
    """``pipe.save_pretrained(path)`` (safetensors) via a temp dir and a rename, like ``idg.models.tiny``."""
    path = Path(path)
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
    return path


def build_proxy_pipeline(k: int, device: str = "cpu", dtype=None, meta: bool = False, *, seed: int = 0,
                         save_to: Optional[str | os.PathLike] = None, force_upcast: Optional[bool] = None):
    """A ``StableDiffusionXLPipeline`` with the proxy's random modules at 1/``k`` width.

    ``meta=True`` builds it on the ``meta`` device (for FLOP counting; ``device``/``dtype`` are then
    ignored and it cannot be saved). ``save_to`` writes it with ``save_pretrained`` (atomically) so that
    ``AutoPipelineForText2Image.from_pretrained(save_to)`` loads it like a real model; the returned
    pipeline is the in-memory one, moved to ``device``/``dtype`` (default float32). ``force_upcast``: see
    :func:`build_proxy_modules`.
    """
    import torch
    from diffusers import StableDiffusionXLPipeline

    if meta and save_to is not None:
        raise ValueError("a meta-device proxy has no weights to save; build it with meta=False to save it")
    pipe = StableDiffusionXLPipeline(**build_proxy_modules(k, meta=meta, seed=seed, force_upcast=force_upcast))
    if save_to is not None:
        save_atomically(pipe, save_to)
    if not meta and (str(device) != "cpu" or (dtype or torch.float32) != torch.float32):  # built as cpu float32
        pipe.to(device, dtype or torch.float32)
    return pipe


def parameter_counts(k: int) -> Dict[str, int]:
    """Parameters per component at 1/``k`` width, counted on the meta device (nothing allocated)."""
    mods = build_proxy_modules(k, meta=True)
    return {name: sum(p.numel() for p in mods[name].parameters()) for name in COMPONENTS}


def _timed(fn, repeats: int):
    import time

    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return runs


def tiny_times(models=("v1", "v2"), proxy_ks=(), repeats: int = 5, rounds: int = 3, sides=(128, 256)) -> Dict[str, dict]:
    """Seconds per image, side by side in one process, for idg's tiny v1/v2 (and optional width-k proxies):
    text-to-image 2 steps at each of ``sides``, and inpainting 4 steps x 0.75 at the model's native side
    and at 128 px. Each round runs every case of every model ``repeats`` times after one warm-up call,
    models interleaved; returns the median over all runs (and all runs) per model and case."""
    import statistics

    import numpy as np
    import torch
    from diffusers import AutoPipelineForInpainting, AutoPipelineForText2Image
    from PIL import Image

    from tiny_v1 import TINY_V1_NATIVE_RESOLUTION, build_tiny_v1

    from idg.models.tiny import TINY_NATIVE_RESOLUTION, build_tiny_sdxl

    tmp = Path(tempfile.mkdtemp(prefix="idg-proxy-times-"))
    try:
        pipes = {}
        for name in models:
            if name == "v1":
                path, native = build_tiny_v1(tmp / name), TINY_V1_NATIVE_RESOLUTION
            elif name == "v2":
                path, native = build_tiny_sdxl(tmp / name), TINY_NATIVE_RESOLUTION
            else:
                raise ValueError(f"unknown tiny model {name!r}")
            pipes[name] = (path, native)
        for k in proxy_ks:
            # float32 on CPU: force_upcast would change nothing but print a warning per inpaint call
            build_proxy_pipeline(k, save_to=tmp / f"proxy-k{k}", force_upcast=False)
            pipes[f"proxy k={k}"] = (tmp / f"proxy-k{k}", 512)
        loaded = {}
        for name, (path, native) in pipes.items():
            t2i = AutoPipelineForText2Image.from_pretrained(str(path))
            inp = AutoPipelineForInpainting.from_pipe(t2i)
            for p in (t2i, inp):
                p.set_progress_bar_config(disable=True)
            loaded[name] = (t2i, inp, native)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def cases(t2i, inp, native):
        def text(side):
            return lambda: t2i("a red fox in a forest", num_inference_steps=2, guidance_scale=0.0, height=side,
                               width=side, generator=torch.Generator().manual_seed(0), output_type="np")

        def paint(side):
            rng = np.random.default_rng(0)
            image = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
            mask = Image.new("L", (side, side), 0)
            mask.paste(255, (side // 4, side // 4, 3 * side // 4, 3 * side // 4))
            return lambda: inp("a red fox", image=image, mask_image=mask, strength=0.75, num_inference_steps=4,
                               guidance_scale=0.0, height=side, width=side,
                               generator=torch.Generator().manual_seed(0), output_type="np")

        out = {f"text-to-image 2 steps {s}px": text(s) for s in sides}
        out["inpaint 4x0.75 native"] = paint(native)
        out["inpaint 4x0.75 128px"] = paint(128)
        return out

    all_cases = {name: cases(*v) for name, v in loaded.items()}
    runs = {name: {case: [] for case in c} for name, c in all_cases.items()}
    with torch.inference_mode():
        for name, c in all_cases.items():  # warm-up
            for fn in c.values():
                fn()
        for _ in range(rounds):
            for name, c in all_cases.items():
                for case, fn in c.items():
                    runs[name][case] += _timed(fn, repeats)
    return {name: {"native": loaded[name][2],
                   "cases": {case: {"median_s": statistics.median(r), "runs_s": r} for case, r in rc.items()}}
            for name, rc in runs.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=4, help="width divisor (1 = full-size SDXL-Turbo architecture)")
    ap.add_argument("--save", default=None, help="save_pretrained the random proxy to this directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--times", action="store_true",
                    help="instead: seconds per image of idg's tiny v1 vs v2 (side by side, interleaved)")
    ap.add_argument("--times-proxy-k", type=int, nargs="*", default=[],
                    help="with --times: also time these width-k proxies (inpaint native = 512 px)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads for --times")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.times:
        import torch

        torch.set_num_threads(args.threads)
        res = tiny_times(proxy_ks=args.times_proxy_k, repeats=args.repeats, rounds=args.rounds)
        names = list(res)
        case_names = list(res[names[0]]["cases"])
        print(f"torch threads={torch.get_num_threads()}, {args.rounds} rounds x {args.repeats} runs per case, "
              f"median s/image; native: " + ", ".join(f"{n} {res[n]['native']}px" for n in names))
        print(f"{'case':<28}" + "".join(f"{n + ' median (min)':>24}" for n in names)
              + ("   v1 / v2" if {"v1", "v2"} <= set(names) else ""))
        for case in case_names:
            line = f"{case:<28}" + "".join(
                f"{res[n]['cases'][case]['median_s']:>15.4f} ({min(res[n]['cases'][case]['runs_s']):.4f})" for n in names)
            if {"v1", "v2"} <= set(names):
                line += f"   {res['v1']['cases'][case]['median_s'] / res['v2']['cases'][case]['median_s']:>7.2f}x"
            print(line)
        return 0
    full, proxy = parameter_counts(1), parameter_counts(args.k)
    print(f"{'component':<16}{'k=1 params':>16}{f'k={args.k} params':>16}{'ratio':>9}")
    for name in COMPONENTS:
        print(f"{name:<16}{full[name]:>16,}{proxy[name]:>16,}{full[name] / proxy[name]:>8.1f}x")
    tf, tp = sum(full.values()), sum(proxy.values())
    print(f"{'total':<16}{tf:>16,}{tp:>16,}{tf / tp:>8.1f}x   (fp32 k={args.k}: {tp * 4 / 2**20:,.0f} MiB)")
    if args.save:
        build_proxy_pipeline(args.k, seed=args.seed, save_to=args.save)
        print(f"saved the k={args.k} proxy to {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
