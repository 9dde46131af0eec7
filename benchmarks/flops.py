"""FLOPs per SDXL component and their shares of one image's cost: a width-``k`` proxy vs the real model.

    python benchmarks/flops.py --k 4            # k=4 proxy vs full-size SDXL-Turbo architecture (k=1)
    python benchmarks/flops.py --k 4 16 --json  # several k; --json prints flop_table(k) dicts
    python benchmarks/flops.py --tiny v2        # idg's tiny v2 model vs k=1, same recipe

Counted with ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs; only matmuls,
convolutions and attention are counted: norms, activations and element-wise ops are not). The full-size
model (and any ``k``) is counted on the ``meta`` device: modules built under ``torch.device("meta")``, so
no weight is allocated and nothing is computed, only shapes propagate. On the CPU, PyTorch's fused
attention (``_scaled_dot_product_flash_attention_for_cpu``) has no FLOP formula, so a CPU count would
leave attention out; :func:`flop_counter` adds the standard attention formula for it, so CPU and meta
counts agree (``tests/test_proxy.py`` checks this).

The recipe is SDXL-Turbo's in idg (``conf/model/sdxl_turbo.yaml``, ``conf/inpaint/default.yaml``),
CFG off (guidance 0, batch 1):

* background: text encoding (both encoders, 77 tokens) + 2 UNet steps at 768^2 + 1 VAE decode at 768^2;
* per object: inpaint of a 512^2 crop, 4 steps x strength 0.75 = 3 UNet steps, 2 VAE encodes (diffusers'
  SDXL inpaint pipeline encodes the image *and* the masked image even for a 4-channel UNet, which ignores
  the latter) and 1 VAE decode. Object prompts are encoded once and cached (``Pipelines.embed``), so their
  text encoding is not charged per image.

The share of a component is its count x FLOPs over the whole image's FLOPs (background + ``objects``
inpaints, 1 by default); the ratio of a proxy's share to the real model's share says how far a
benchmark's cost split on the proxy is from SDXL-Turbo's.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_sdxl import build_proxy_modules  # noqa: E402

TOKENS = 77


# ------------------------------------------------------------------------------------ counting


def _sdpa_cpu_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def flop_counter():
    """A ``FlopCounterMode`` that also counts the CPU fused attention kernel (absent from PyTorch's table)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = _sdpa_cpu_flop
    return FlopCounterMode(display=False, custom_mapping=mapping)


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` under :func:`flop_counter` (no grad)."""
    import torch

    with torch.no_grad(), flop_counter() as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops()


def _where(module) -> Tuple[object, object]:
    p = next(module.parameters())
    return p.device, p.dtype


def vae_scale_factor(vae) -> int:
    """diffusers' factor: 2 ** (VAE blocks - 1)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def unet_step_flops(unet, side: int, factor: int = 8, batch: int = 1, tokens: int = TOKENS) -> int:
    """One UNet forward at ``side`` px (latents ``side/factor``), batch 1 = CFG off, as SDXL-Turbo runs."""
    import torch

    device, dtype = _where(unet)
    c = unet.config
    pooled = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim
    latent = side // factor
    sample = torch.zeros(batch, c.in_channels, latent, latent, device=device, dtype=dtype)
    context = torch.zeros(batch, tokens, c.cross_attention_dim, device=device, dtype=dtype)
    added = {"text_embeds": torch.zeros(batch, pooled, device=device, dtype=dtype),
             "time_ids": torch.zeros(batch, 6, device=device, dtype=dtype)}
    t = torch.full((batch,), 999.0, device=device, dtype=dtype)
    return count_flops(unet, sample, t, encoder_hidden_states=context, added_cond_kwargs=added, return_dict=False)


def vae_decode_flops(vae, side: int) -> int:
    import torch

    device, dtype = _where(vae)
    latent = side // vae_scale_factor(vae)
    z = torch.zeros(1, vae.config.latent_channels, latent, latent, device=device, dtype=dtype)
    return count_flops(vae.decode, z, return_dict=False)


def vae_encode_flops(vae, side: int) -> int:
    import torch

    device, dtype = _where(vae)
    x = torch.zeros(1, vae.config.in_channels, side, side, device=device, dtype=dtype)
    return count_flops(lambda: vae.encode(x).latent_dist.mean)


def text_encode_flops(text_encoder, text_encoder_2, tokens: int = TOKENS) -> int:
    """Both CLIP encoders on one ``tokens``-long prompt, called as the SDXL pipeline calls them."""
    import torch

    total = 0
    for te in (text_encoder, text_encoder_2):
        device, _ = _where(te)
        ids = torch.full((1, tokens), int(te.config.eos_token_id), dtype=torch.long, device=device)
        total += count_flops(te, ids, output_hidden_states=True)
    return total


def component_gflops(modules: Dict[str, object], sides=(512, 768)) -> Dict[str, float]:
    """GFLOPs of each component op at each side: ``text_encode``, ``unet_step@S``, ``vae_decode@S``,
    ``vae_encode@S``. ``modules`` holds ``unet``, ``vae``, ``text_encoder``, ``text_encoder_2`` (a dict or
    anything with those attributes, such as a pipeline)."""
    get = (lambda n: modules[n]) if isinstance(modules, dict) else (lambda n: getattr(modules, n))
    unet, vae = get("unet"), get("vae")
    factor = vae_scale_factor(vae)
    out = {"text_encode": text_encode_flops(get("text_encoder"), get("text_encoder_2")) / 1e9}
    for s in sides:
        out[f"unet_step@{s}"] = unet_step_flops(unet, s, factor) / 1e9
        out[f"vae_decode@{s}"] = vae_decode_flops(vae, s) / 1e9
        out[f"vae_encode@{s}"] = vae_encode_flops(vae, s) / 1e9
    return out


@functools.lru_cache(maxsize=None)
def _proxy_gflops(k: int, sides: Tuple[int, ...]) -> Dict[str, float]:
    return component_gflops(build_proxy_modules(k, meta=True), sides)


def proxy_gflops(k: int, sides=(512, 768)) -> Dict[str, float]:
    """:func:`component_gflops` of the width-``k`` proxy, counted on the meta device (cached per k)."""
    return dict(_proxy_gflops(int(k), tuple(sides)))


# ------------------------------------------------------------------------------------ recipe and table


def inpaint_unet_steps(steps: int, strength: float) -> int:
    """UNet calls of an SDXL inpaint of ``steps`` x ``strength`` (diffusers' ``get_timesteps``)."""
    return min(int(steps * strength), steps)


def recipe(background: int = 768, background_steps: int = 2, crop: int = 512, inpaint_steps: int = 4,
           strength: float = 0.75, objects: int = 1) -> List[Tuple[str, str, int]]:
    """``(stage, component op, count)`` rows of one image: a background and ``objects`` inpaints."""
    n = inpaint_unet_steps(inpaint_steps, strength)
    return [
        ("background", "text_encode", 1),
        ("background", f"unet_step@{background}", background_steps),
        ("background", f"vae_decode@{background}", 1),
        ("inpaint", f"unet_step@{crop}", n * objects),
        ("inpaint", f"vae_encode@{crop}", 2 * objects),
        ("inpaint", f"vae_decode@{crop}", objects),
    ]


def _shares(gflops: Dict[str, float], rows) -> Tuple[Dict[str, float], float]:
    cost = {op: gflops[op] * count for _, op, count in rows}
    total = sum(cost.values())
    return {op: c / total for op, c in cost.items()}, total


def share_table(gflops: Dict[str, float], reference: Dict[str, float], rows, label: str, reference_label: str = "k=1"):
    """The comparison dict for any model's component GFLOPs against a reference's, over ``rows``."""
    share, total = _shares(gflops, rows)
    ref_share, ref_total = _shares(reference, rows)
    stage_total = lambda g, stage: sum(g[op] * c for s, op, c in rows if s == stage)  # noqa: E731
    return {
        "model": label,
        "reference": reference_label,
        "recipe": [{"stage": s, "op": op, "count": c} for s, op, c in rows],
        "components": {
            op: {"count": c, "gflops": gflops[op], "share": share[op], "reference_gflops": reference[op],
                 "reference_share": ref_share[op], "share_ratio": share[op] / ref_share[op]}
            for s, op, c in rows
        },
        "stages": {
            stage: {"gflops": stage_total(gflops, stage), "share": stage_total(gflops, stage) / total,
                    "reference_gflops": stage_total(reference, stage),
                    "reference_share": stage_total(reference, stage) / ref_total}
            for stage in ("background", "inpaint")
        },
        "total_gflops": total,
        "reference_total_gflops": ref_total,
        "reference_over_model": ref_total / total,
        "per_op_gflops": dict(gflops),
        "reference_per_op_gflops": dict(reference),
    }


def flop_table(k: int, *, background: int = 768, background_steps: int = 2, crop: int = 512, inpaint_steps: int = 4,
               strength: float = 0.75, objects: int = 1) -> Dict[str, object]:
    """Per-component GFLOPs and shares of one image for the width-``k`` proxy and for k=1 (both counted on
    the meta device), with the ratio of shares (proxy / real): a JSON-ready dict for benchmark outputs."""
    rows = recipe(background, background_steps, crop, inpaint_steps, strength, objects)
    sides = tuple(sorted({background, crop}))
    table = share_table(proxy_gflops(k, sides), proxy_gflops(1, sides), rows, f"proxy k={k}")
    table["k"] = k
    table["counted_on"] = "meta"
    return table


def format_table(table: Dict[str, object]) -> str:
    name, ref = table["model"], table["reference"]
    lines = [f"{'component':<18}{'count':>6}{name + ' GFLOP':>18}{'share':>8}{ref + ' GFLOP':>14}{'share':>8}"
             f"{'share ratio':>13}"]
    for op, row in table["components"].items():
        lines.append(f"{op:<18}{row['count']:>6}{row['gflops']:>18,.2f}{row['share']:>8.1%}"
                     f"{row['reference_gflops']:>14,.1f}{row['reference_share']:>8.1%}{row['share_ratio']:>12.3f}x")
    for stage, row in table["stages"].items():
        lines.append(f"{stage + ' (stage)':<24}{row['gflops']:>18,.2f}{row['share']:>8.1%}"
                     f"{row['reference_gflops']:>14,.1f}{row['reference_share']:>8.1%}"
                     f"{row['share'] / row['reference_share']:>12.3f}x")
    lines.append(f"{'image total':<24}{table['total_gflops']:>18,.2f}{'':>8}{table['reference_total_gflops']:>14,.1f}"
                 f"   ({ref} / {name} = {table['reference_over_model']:.1f}x)")
    g, r = table["per_op_gflops"], table["reference_per_op_gflops"]
    ratios = [f"{op}: {g[op]:,.2f} vs {r[op]:,.1f}" for op in g]
    lines.append("per op (GFLOP, model vs reference): " + "; ".join(ratios))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="FLOPs per SDXL component: width-k proxy vs k=1 (meta device)")
    ap.add_argument("--k", type=int, nargs="*", default=[4], help="width divisors to compare with k=1")
    ap.add_argument("--tiny", choices=["v1", "v2"], nargs="*", default=[],
                    help="also compare idg's tiny model(s) (built in memory, counted on the CPU) with k=1")
    ap.add_argument("--objects", type=int, default=1, help="inpainted objects per image in the recipe")
    ap.add_argument("--json", action="store_true", help="print the tables as JSON instead")
    args = ap.parse_args(argv)
    tables = [flop_table(k, objects=args.objects) for k in args.k]
    rows = recipe(objects=args.objects)
    for version in args.tiny:
        mods = _tiny_modules(version)
        tables.append(share_table(component_gflops(mods), proxy_gflops(1), rows, f"tiny {version}"))
    if args.json:
        print(json.dumps(tables, indent=2))
        return 0
    for t in tables:
        print(f"\n== {t['model']} vs {t['reference']} (SDXL-Turbo recipe, objects={args.objects}) ==")
        print(format_table(t))
    return 0


def _tiny_modules(version: str):
    """idg's tiny v1 / v2 modules, built into a temp dir and loaded back (random weights, CPU)."""
    import tempfile

    from diffusers import AutoPipelineForText2Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if version == "v1":
        from idg.tiny import build_tiny_sdxl as build
    else:
        from idg.tiny_v2 import build_tiny_sdxl_v2 as build
    with tempfile.TemporaryDirectory() as tmp:
        pipe = AutoPipelineForText2Image.from_pretrained(str(build(Path(tmp) / version)))
    return pipe


if __name__ == "__main__":
    raise SystemExit(main())
