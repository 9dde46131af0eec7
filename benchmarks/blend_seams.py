"""Blend modes side by side on real photos: both seam terms (idg.generate.seams) and the time per object.

    python benchmarks/blend_seams.py                      # the recorded figures (writes results/blend_seams.json)
    python benchmarks/blend_seams.py --sizes 512 --cases 4 --no-write
    python benchmarks/blend_seams.py --calibrate ../shared/data/fire8/images/train   # seam terms only, printed

The images and boxes are the ones of ``tests/test_seams.py`` (fire8_mini photos, CC BY 4.0, resized to
256, 512 and 768 px, a box of 18-32% of the side each). Every blend mode pastes these patches, each the way
its painter calls :func:`idg.generate.blend.paste`:

inpainting (``idg.generate.inpaint.put_back``: the object's context window, 2x the box's longer side,
colour transfer matched on the window's own outer ring, ``color_source="outside"``):

- ``painted``: the region with a prototype-style tone drift (brighter, hazier or warm-tinted, one per object
  in turn) over the whole context window, like an inpaint whose whole output drifted in tone;
- ``inpainted``: another photo's pixels in the box *and* that drift over the whole window;
- ``inpainted_box``: another photo's pixels in the box with the drift *inside the box only*, the outside of
  the window left exactly as it was (what a pipeline that restores the unmasked latents at every step
  gives, with a perfect VAE): the outer ring then shows no drift, so colour transfer can do nothing;

copy-paste (``idg.generate.copy_paste.paste_object``: the box plus its paste margin):

- ``foreign``: another photo's pixels in the box of a copy of the background, with nothing of the source
  photo around it (``color_*`` then matches the object's inner border ring to the scene's outer ring);
- ``foreign_ctx``: the same object with its source photo's surroundings as the colour reference (what
  ``CopyPastePainter`` passes for ``color_*``): its source light is moved to the scene's;
- ``identity``: the region itself (nothing to hide: every mode should score ~1; a sanity row).

Feather 8 px, capped at a quarter of the box's shorter side, as idg does. Scores are medians over objects:
``edge`` (gradient on the border band / rings beside it), ``halo`` (colour step across the border / the
image's natural step, no reference) and ``h_ref`` (the judge's halo term: given the image before the paste,
exactly 1 when nothing changed). About 1 means no seam. ``coreΔE`` is how far the object ends up from how it
should look (the patch without its tone drift; for copy-paste, the object as it was in its source photo),
as the mean Lab distance deeper inside the box than a quarter of its shorter side: keeping the drift costs
there, and so does hiding a seam by recolouring the object. ``ms`` is the median time of one paste (best of
``--repeats``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from idg.core.box import Box  # noqa: E402
from idg.core.config import BLEND_MODES  # noqa: E402
from idg.generate.blend import capped_feather, paste, shape_mask  # noqa: E402
from idg.generate.copy_paste import paste_margin  # noqa: E402
from idg.generate.inpaint import context_window  # noqa: E402
from idg.generate.seams import seam_scores, to_lab  # noqa: E402
from test_seams import KINDS, SIZES, cases, load, prototype_halo, tone_shift  # noqa: E402  (the tests' images)

INPAINT = ("painted", "inpainted", "inpainted_box")
COPY_PASTE = ("foreign", "foreign_ctx")
SCENARIOS = INPAINT + COPY_PASTE + ("identity",)
METRICS = ("edge", "halo", "halo_ref", "core_dE")
SHOWN = ("edge", "halo_ref", "core_dE")  # columns of the printed tables (halo without reference: in the JSON)


def drifted(image: np.ndarray, kind: str) -> np.ndarray:
    return np.clip(np.rint(tone_shift(image, kind)), 0, 255).astype(np.uint8)


def patch_for(c: dict, scenario: str):
    """The patch to paste, the object as it should look, and what colour transfer matches against."""
    canvas = c["hard"]  # the background with another photo's pixels in the box
    if scenario == "painted":
        return drifted(c["clean"], c["kind"]), c["clean"], "outside"
    if scenario == "inpainted":
        return drifted(canvas, c["kind"]), canvas, "outside"
    if scenario == "inpainted_box":
        inside = c["mask"] > 0
        patch = canvas.copy()
        patch[inside] = drifted(canvas, c["kind"])[inside]
        return patch, canvas, "outside"
    if scenario == "foreign":
        return canvas, canvas, "inside"
    if scenario == "foreign_ctx":
        return c["other"], canvas, "outside"  # the object (other photo's box) and its source surroundings
    return c["clean"], c["clean"], "outside"


def run_one(c: dict, scenario: str, blend: str, repeats: int) -> Dict[str, float]:
    bg = c["clean"]
    side = bg.shape[0]
    x, y, w, h = c["box"]
    if scenario in COPY_PASTE:
        m = paste_margin(blend, 8, w, h)
        win = Box(max(x - m, 0), max(y - m, 0), 0, 0)
        win = Box(win.x, win.y, min(x + w + m, side) - win.x, min(y + h + m, side) - win.y)
    else:
        win = context_window(Box(x, y, w, h), side, side, 2.0, "crop")  # inpaint.context's default
    region = (slice(win.y, win.y + win.h), slice(win.x, win.x + win.w))
    patch, truth, source = patch_for(c, scenario)
    feather = capped_feather(8, w, h)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        pasted = paste(bg[region], patch[region], c["mask"][region], blend, feather, color_source=source)
        best = min(best, time.perf_counter() - t)
    out = bg.copy()
    out[region] = pasted
    assert np.array_equal(out[c["mask"] == 0], bg[c["mask"] == 0]), (blend, "changed a pixel outside the box")
    plain = seam_scores(out, c["mask"])
    ref = seam_scores(out, c["mask"], reference=bg)
    # How far the object ends up from how it should look: mean Lab distance deeper inside the box than a
    # quarter of its shorter side (where feather, gaussian and laplacian leave the patch as it is).
    q = min(w, h) // 4
    core = (slice(y + q, y + h - q), slice(x + q, x + w - q))
    core_de = float(np.linalg.norm(to_lab(out[core]) - to_lab(truth[core]), axis=2).mean())
    return {"edge": plain["edge"], "halo": plain["halo"], "halo_ref": ref["halo"], "core_dE": core_de,
            "ms": best * 1000.0}


def med(values: List[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(statistics.median(finite)) if finite else float("nan")


def clean(value: float):
    """JSON has no NaN: a median over no finite value is written as null."""
    return round(value, 3) if np.isfinite(value) else None


def calibrate(folder: Path, n: int, seed: int = 0) -> dict:
    """The seam terms on ``n`` random photos of ``folder`` (one random box each, at 256, 512 or 768 px):
    untouched, with the prototype's halo, and with another photo hard-pasted; how often each term ranks a
    defect above an untouched box (AUC), to check the terms beyond the tests' 40 photos."""
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(photos) < 2:
        raise SystemExit(f"--calibrate: no photos in {folder}")
    rng = np.random.default_rng(seed)
    vals: Dict[str, Dict[str, List[float]]] = {}
    for k in range(n):
        side = int(rng.choice(SIZES))
        i, j = rng.choice(len(photos), size=2, replace=False)
        bg, other = load(photos[i], side), load(photos[j], side)
        bw, bh = (int(side * rng.uniform(0.1, 0.35)) for _ in range(2))
        box = (int(rng.integers(0, side - bw)), int(rng.integers(0, side - bh)), bw, bh)
        mask = shape_mask(side, side, box, "rect")
        versions = {"clean": bg, "halo": prototype_halo(bg, box, KINDS[k % len(KINDS)]),
                    "hard": paste(bg, other, mask, "none", 0)}
        for name, image in versions.items():
            plain, ref = seam_scores(image, mask), seam_scores(image, mask, reference=bg)
            for metric, v in (("edge", plain["edge"]), ("halo", plain["halo"]), ("halo_ref", ref["halo"])):
                vals.setdefault(name, {}).setdefault(metric, []).append(v)

    def auc(defect: List[float], clean: List[float]) -> float:
        d, c = np.array(defect), np.array(clean)
        d, c = d[np.isfinite(d)], c[np.isfinite(c)]
        return float(np.mean(d[:, None] > c[None, :]) + 0.5 * np.mean(d[:, None] == c[None, :]))

    out = {"photos": len(photos), "objects": n, "box": "10-35% of the side", "median": {}, "p90_clean": {}, "p10": {},
           "auc_halo_vs_clean": {}, "auc_hard_vs_clean": {}, "nan_fraction_clean": {}}
    for metric in METRICS[:3]:
        c = vals["clean"][metric]
        out["median"][metric] = {v: clean(med(vals[v][metric])) for v in vals}
        out["p90_clean"][metric] = clean(float(np.nanpercentile(c, 90)))
        out["p10"][metric] = {v: clean(float(np.nanpercentile(vals[v][metric], 10))) for v in ("halo", "hard")}
        out["auc_halo_vs_clean"][metric] = round(auc(vals["halo"][metric], c), 3)
        out["auc_hard_vs_clean"][metric] = round(auc(vals["hard"][metric], c), 3)
        out["nan_fraction_clean"][metric] = round(float(np.mean(~np.isfinite(c))), 3)
    print(f"calibration on {n} random boxes of {len(photos)} photos in {folder}:")
    print(f"{'term':9s}| {'clean med':>9s} {'p90':>6s} | {'halo med':>8s} {'p10':>6s} | {'hard med':>8s} {'p10':>6s} | "
          f"{'AUC halo':>8s} {'AUC hard':>8s} | {'NaN':>5s}")
    for metric in METRICS[:3]:
        m, p10 = out["median"][metric], out["p10"][metric]
        print(f"{metric:9s}| {m['clean']:9.2f} {out['p90_clean'][metric]:6.2f} | {m['halo']:8.2f} {p10['halo']:6.2f} | "
              f"{m['hard']:8.2f} {p10['hard']:6.2f} | {out['auc_halo_vs_clean'][metric]:8.3f} "
              f"{out['auc_hard_vs_clean'][metric]:8.3f} | {out['nan_fraction_clean'][metric]:5.3f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="image sides (the tests' sizes)")
    ap.add_argument("--cases", type=int, default=None, help="objects per size (default: all the tests' cases)")
    ap.add_argument("--modes", nargs="+", default=list(BLEND_MODES), help="blend modes to compare")
    ap.add_argument("--repeats", type=int, default=3, help="time each paste this many times, keep the best")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 keeps timings steady on a shared box)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write results/blend_seams.json")
    ap.add_argument("--calibrate", type=Path, default=None,
                    help="instead: the seam terms alone on random boxes of the photos in this folder "
                         "(read only; prints, writes nothing)")
    ap.add_argument("--calibrate-n", type=int, default=300, help="objects for --calibrate")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    if args.calibrate is not None:
        t0 = time.perf_counter()
        calibrate(args.calibrate, args.calibrate_n)  # printed only (results/ holds blend_seams.json alone)
        print(f"total {time.perf_counter() - t0:.1f} s")
        return

    rows: Dict[str, Dict[str, Dict[str, List[float]]]] = {}  # scenario -> mode -> metric -> values
    per_size: Dict[str, Dict[str, Dict[str, Dict[str, float]]]] = {}
    t0 = time.perf_counter()
    for side in args.sizes:
        objs = cases(side)[: args.cases] if args.cases else cases(side)
        for scenario in SCENARIOS:
            for blend in args.modes:
                got = [run_one(c, scenario, blend, args.repeats) for c in objs]
                for metric in METRICS + ("ms",):
                    vals = [g[metric] for g in got]
                    rows.setdefault(scenario, {}).setdefault(blend, {}).setdefault(metric, []).extend(vals)
                    cell = per_size.setdefault(str(side), {}).setdefault(scenario, {}).setdefault(blend, {})
                    cell[metric] = clean(med(vals))
    elapsed = time.perf_counter() - t0

    n_objects = len(next(iter(next(iter(rows.values())).values()))["edge"])
    summary = {sc: {b: {m: med(v) for m, v in metrics.items()} for b, metrics in modes.items()}
               for sc, modes in rows.items()}
    print(f"{n_objects} objects per cell (sizes {args.sizes}); medians; ~1 = no seam; "
          "ms = one paste on the context window")
    short = {"edge": "edge", "halo": "halo", "halo_ref": "h_ref", "core_dE": "coreΔE"}
    for title, group in (("inpainting", INPAINT), ("copy-paste", COPY_PASTE)):
        print(f"\n{title}")
        print(f"{'':16s}" + "".join(f"|{sc:^23s}" for sc in group) + f"| identity | {'ms':>6s}")
        header = f"{'mode':16s}" + "".join(f"|{short[m]:>7s}" for _ in group for m in SHOWN) + f"| {'h_ref':>8s} |"
        print(header)
        print("-" * (len(header) + 7))
        for blend in args.modes:
            cells = "".join(f"|{summary[sc][blend][m]:7.2f}" for sc in group for m in SHOWN)
            ms = med([t for sc in group for t in rows[sc][blend]["ms"]])
            print(f"{blend:16s}{cells}| {summary['identity'][blend]['halo_ref']:8.2f} | {ms:6.2f}")
    print(f"total {elapsed:.1f} s")

    if not args.no_write:
        result = {
            "command": "python benchmarks/blend_seams.py " + " ".join(sys.argv[1:]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, OpenCV threads "
                       f"{cv2.getNumThreads()}, opencv {cv2.__version__}, numpy {np.__version__}, python "
                       f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
            "objects_per_cell": n_objects,
            "sizes": args.sizes,
            "feather": "8 px, capped at a quarter of the box's shorter side (idg.generate.blend.capped_feather)",
            "metrics": {"edge": "idg.generate.seams.seam_edge (the manifest's seam_edge)",
                        "halo": "idg.generate.seams.seam_halo summary, no reference",
                        "halo_ref": "idg.generate.seams.seam_halo summary, reference = the image before the paste "
                                    "(the manifest's seam_halo)",
                        "core_dE": "mean Lab distance of the result to the drift-free object in the box's core "
                                   "(deeper than a quarter of its shorter side): 0 = the object as it should look",
                        "ms": "one idg.generate.blend.paste call on the painter's region, best of repeats, median "
                              "over objects"},
            "median": {sc: {b: {m: clean(v) for m, v in ms.items()} for b, ms in modes.items()}
                       for sc, modes in summary.items()},
            "nan_counts": {sc: {b: {m: int(sum(not np.isfinite(v) for v in vals)) for m, vals in ms.items()}
                                for b, ms in modes.items()} for sc, modes in rows.items()},
            "median_per_size": per_size,
            "seconds": round(elapsed, 1),
        }
        out = HERE / "results" / "blend_seams.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
        print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
