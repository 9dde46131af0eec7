"""FLOPs per SDXL component and their shares of one image's cost: a width-``k`` proxy vs the real model.

    python benchmarks/flops.py --k 4            # k=4 proxy vs full-size SDXL-Turbo architecture (k=1)
    python benchmarks/flops.py --k 4 16 --json  # several k; --json prints flop_table(k) dicts
    python benchmarks/flops.py --k --tiny v1 v2 # idg's tiny models vs k=1, same recipe
    python benchmarks/flops.py --k 4 --cpu-check  # CPU counts with real weights, with/without fused attention

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


# Set by cpu_check() only, to show what a plain FlopCounterMode reports on the CPU.
_PLAIN = False


def flop_counter():
    """A ``FlopCounterMode`` that also counts the CPU fused attention kernel (absent from PyTorch's table)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None and not _PLAIN:
        mapping[op] = _sdpa_cpu_flop
    return FlopCounterMode(display=False, custom_mapping=mapping)


def cpu_check(k: int, sides=(512, 768)) -> Dict[str, Dict[str, float]]:
    """UNet step and VAE decode GFLOPs of the width-``k`` proxy with real (random) weights on the CPU,
    counted by a plain ``FlopCounterMode`` (``plain``: misses the fused CPU attention) and by
    :func:`flop_counter` (``counted``), next to the meta-device count (``meta``)."""
    global _PLAIN

    mods = build_proxy_modules(k)
    out = {"meta": {op: g for op, g in proxy_gflops(k, sides).items() if op.startswith(("unet_step", "vae_decode"))}}
    for label, plain in (("plain", True), ("counted", False)):
        _PLAIN = plain
        try:
            out[label] = {}
            for side in sides:
                out[label][f"unet_step@{side}"] = unet_step_flops(mods["unet"], side) / 1e9
                out[label][f"vae_decode@{side}"] = vae_decode_flops(mods["vae"], side) / 1e9
        finally:
            _PLAIN = False
    return out


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
           strength: float = 0.75, objects: float = 1, masked_image_encode: bool = True,
           text_encodes: float = 1) -> List[Tuple[str, str, float]]:
    """``(role, component op, count)`` rows of one image: a background and ``objects`` inpaints (a mean may
    be fractional). The role names the row whatever its side (so a background and a crop of the same side
    stay apart). ``masked_image_encode``: diffusers' own inpaint path, which VAE-encodes the masked image as
    well as the image (idg's engine skips the first for a 4-channel UNet, which never reads it);
    ``text_encodes``: prompt encodings per image (1: object prompts cached, as idg does)."""
    n = inpaint_unet_steps(inpaint_steps, strength)
    return [
        ("text_encode", "text_encode", text_encodes),
        ("background unet_step", f"unet_step@{background}", background_steps),
        ("background vae_decode", f"vae_decode@{background}", 1),
        ("inpaint unet_step", f"unet_step@{crop}", n * objects),
        ("inpaint vae_encode", f"vae_encode@{crop}", (2 if masked_image_encode else 1) * objects),
        ("inpaint vae_decode", f"vae_decode@{crop}", objects),
    ]


def _costs(gflops: Dict[str, float], rows) -> Dict[str, float]:
    return {role: gflops[op] * count for role, op, count in rows}


def _stage(role: str) -> str:
    return "inpaint" if role.startswith("inpaint") else "background"


def _ratio(share: float, reference_share: float) -> float:
    """share / reference share; 1 where both are 0 (a row with count 0 on both sides, e.g. no objects)."""
    return 1.0 if share == reference_share == 0 else share / reference_share


def share_table(gflops: Dict[str, float], reference: Dict[str, float], rows, label: str, reference_label: str = "k=1",
                reference_rows=None) -> Dict[str, object]:
    """The comparison dict of a model's component GFLOPs against a reference's: each row's GFLOPs, count,
    share of the image and the ratio of shares (model / reference). ``reference_rows`` (same roles, e.g.
    SDXL-Turbo's sides while ``rows`` has a tiny model's own sides) defaults to ``rows``."""
    reference_rows = reference_rows or rows
    if [r[0] for r in rows] != [r[0] for r in reference_rows]:
        raise ValueError("rows and reference_rows must have the same roles in the same order")
    cost, ref_cost = _costs(gflops, rows), _costs(reference, reference_rows)
    total, ref_total = sum(cost.values()), sum(ref_cost.values())
    components = {}
    for (role, op, count), (_, ref_op, ref_count) in zip(rows, reference_rows):
        share, ref_share = cost[role] / total, ref_cost[role] / ref_total
        components[role] = {"op": op, "count": count, "gflops": gflops[op], "share": share,
                            "reference_op": ref_op, "reference_count": ref_count, "reference_gflops": reference[ref_op],
                            "reference_share": ref_share, "share_ratio": _ratio(share, ref_share)}
    stages = {}
    for stage in ("background", "inpaint"):
        g = sum(c for role, c in cost.items() if _stage(role) == stage)
        r = sum(c for role, c in ref_cost.items() if _stage(role) == stage)
        stages[stage] = {"gflops": g, "share": g / total, "reference_gflops": r, "reference_share": r / ref_total,
                         "share_ratio": _ratio(g / total, r / ref_total)}
    return {
        "model": label,
        "reference": reference_label,
        "recipe": [{"role": role, "op": op, "count": c} for role, op, c in rows],
        "reference_recipe": [{"role": role, "op": op, "count": c} for role, op, c in reference_rows],
        "components": components,
        "stages": stages,
        "total_gflops": total,
        "reference_total_gflops": ref_total,
        "reference_over_model": ref_total / total,
        "max_share_ratio_deviation": max(abs(c["share_ratio"] - 1) for c in components.values()),
        # total variation distance between the two cost splits: the fraction of an image's cost that the
        # model puts in other components than the reference does (0 = same split, 1 = disjoint)
        "share_distance": 0.5 * sum(abs(c["share"] - c["reference_share"]) for c in components.values()),
        "per_op_gflops": dict(gflops),
        "reference_per_op_gflops": dict(reference),
    }


def flop_table(k: int, *, background: int = 768, background_steps: int = 2, crop: int = 512, inpaint_steps: int = 4,
               strength: float = 0.75, objects: float = 1, masked_image_encode: bool = True,
               text_encodes: float = 1) -> Dict[str, object]:
    """Per-component GFLOPs and shares of one image for the width-``k`` proxy and for k=1 (both counted on
    the meta device), with the ratio of shares (proxy / real): a JSON-ready dict for benchmark outputs.

    Keys: ``components`` (per role: ``op``, ``count``, ``gflops``, ``share``, ``reference_*``,
    ``share_ratio``), ``stages`` (background / inpaint), ``total_gflops``, ``reference_total_gflops``,
    ``max_share_ratio_deviation``, ``per_op_gflops`` and ``reference_per_op_gflops`` (every op counted,
    e.g. ``unet_step@512``), ``recipe``, ``k``, ``counted_on``."""
    rows = recipe(background, background_steps, crop, inpaint_steps, strength, objects, masked_image_encode,
                  text_encodes)
    sides = tuple(sorted({background, crop}))
    table = share_table(proxy_gflops(k, sides), proxy_gflops(1, sides), rows, f"proxy k={k}")
    table["k"] = k
    table["counted_on"] = "meta"
    return table


def format_table(table: Dict[str, object]) -> str:
    ref = table["reference"]
    lines = [f"{'component':<22}{'op':>15}{'n':>5}{'GFLOP':>16}{'share':>7}{'op':>15}{'GFLOP':>11}"
             f"{'share':>7}{'share ratio':>12}"]
    for role, row in table["components"].items():
        lines.append(f"{role:<22}{row['op']:>15}{row['count']:>5g}{row['gflops']:>16,.2f}{row['share']:>7.1%}"
                     f"{row['reference_op']:>15}{row['reference_gflops']:>11,.1f}{row['reference_share']:>7.1%}"
                     f"{row['share_ratio']:>11.3f}x")
    for stage, row in table["stages"].items():
        lines.append(f"{stage + ' (stage)':<42}{row['gflops']:>16,.2f}{row['share']:>7.1%}{'':>15}"
                     f"{row['reference_gflops']:>11,.1f}{row['reference_share']:>7.1%}{row['share_ratio']:>11.3f}x")
    lines.append(f"{'image total':<42}{table['total_gflops']:>16,.2f}{'':>22}{table['reference_total_gflops']:>11,.1f}"
                 f"   ({ref} / model = {table['reference_over_model']:.1f}x)")
    lines.append(f"share distance (half the sum of |share - {ref} share|): {table['share_distance']:.1%}; "
                 f"largest |share ratio - 1|: {table['max_share_ratio_deviation']:.2f}")
    g, r = table["per_op_gflops"], table["reference_per_op_gflops"]
    lines.append("every op, GFLOP (model vs reference): "
                 + "; ".join(f"{op} {g[op]:,.2f} vs {r[op]:,.1f}" if op in r else f"{op} {g[op]:,.2f}" for op in g))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="FLOPs per SDXL component: width-k proxy vs k=1 (meta device)")
    ap.add_argument("--k", type=int, nargs="*", default=[4], help="width divisors to compare with k=1")
    ap.add_argument("--tiny", choices=["v1", "v2"], nargs="*", default=[],
                    help="also compare idg's tiny model(s) (their architecture, counted on the meta device) with k=1")
    ap.add_argument("--tiny-sides", type=int, nargs=2, metavar=("BACKGROUND", "CROP"), default=None,
                    help="run the tiny models' recipe at these sides (default: SDXL-Turbo's 768 and 512); "
                         "k=1 keeps SDXL-Turbo's")
    ap.add_argument("--objects", type=int, default=1, help="inpainted objects per image in the recipe")
    ap.add_argument("--json", action="store_true", help="print the tables as JSON instead")
    ap.add_argument("--cpu-check", action="store_true",
                    help="instead: count each --k proxy on the CPU with real weights, with and without the fused "
                         "CPU attention formula, next to its meta count (UNet step, VAE decode)")
    args = ap.parse_args(argv)
    if args.cpu_check:
        for k in args.k:
            res = cpu_check(k)
            print(f"k={k} GFLOP: " + "; ".join(
                f"{op} plain CPU {res['plain'][op]:,.1f} / counted CPU {res['counted'][op]:,.1f} / meta {res['meta'][op]:,.1f}"
                for op in res["meta"]))
        return 0
    tables = [flop_table(k, objects=args.objects) for k in args.k]
    rows = recipe(objects=args.objects)
    tiny_rows = recipe(*args.tiny_sides[:1], crop=args.tiny_sides[1], objects=args.objects) if args.tiny_sides else rows
    for version in args.tiny:
        sides = sorted(set(args.tiny_sides or (512, 768)))
        label = f"tiny {version}" + (f" @{args.tiny_sides[0]}/{args.tiny_sides[1]}" if args.tiny_sides else "")
        tables.append(share_table(component_gflops(_tiny_modules(version), sides), proxy_gflops(1), tiny_rows, label,
                                  reference_rows=rows))
    if args.json:
        print(json.dumps(tables, indent=2))
        return 0
    for t in tables:
        sides = lambda rec: "/".join(r["op"].split("@")[1] for r in rec[1:4:2])  # noqa: E731
        print(f"\n== {t['model']} (left, background/crop {sides(t['recipe'])}) vs {t['reference']} (right, "
              f"{sides(t['reference_recipe'])}), SDXL-Turbo recipe, objects={args.objects} ==")
        print(format_table(t))
    return 0


def meta_copy(modules) -> Dict[str, object]:
    """Shape-only copies of a pipeline's ``unet``, ``vae``, ``text_encoder``, ``text_encoder_2``, rebuilt from
    their configs on the meta device (so a large side costs no compute or memory to count)."""
    import torch

    get = (lambda n: modules[n]) if isinstance(modules, dict) else (lambda n: getattr(modules, n))
    out = {}
    with torch.device("meta"):
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            m = get(name)
            out[name] = type(m).from_config(m.config) if hasattr(m, "from_config") else type(m)(m.config)
    return out


def _tiny_modules(version: str) -> Dict[str, object]:
    """idg's tiny model (v2) or its predecessor (v1, ``benchmarks/tiny_v1.py``) (built, saved to a temp dir, loaded back) as meta-device copies."""
    import tempfile

    from diffusers import AutoPipelineForText2Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if version == "v1":
        from tiny_v1 import build_tiny_v1 as build
    else:
        from idg.models.tiny import build_tiny_sdxl as build
    with tempfile.TemporaryDirectory() as tmp:
        pipe = AutoPipelineForText2Image.from_pretrained(str(build(Path(tmp) / version)))
    return meta_copy(pipe)


if __name__ == "__main__":
    raise SystemExit(main())
