"""Blend modes on a tiny-model run: the judge's two seam terms, reject/retry rates and time per object.

    python benchmarks/blend_tiny.py                                  # writes results/blend_tiny.json
    python benchmarks/blend_tiny.py --images 4 --modes feather color_laplacian --no-write

Each blend mode runs the real generation engine (``stages=[generate]``, dataset ``fire_cctv``, sampler
``non_overlap``, the tiny random SDXL built from its config) into its own run dir, once with
``generator=diffusion`` (``inpaint.blend``) and once with ``generator=copy_paste`` (``copy_paste.blend``,
real fire/smoke objects cut from the bundled ``data/fire8_mini`` train split). Backgrounds come from one
shared cache, so every mode paints the same scenes and boxes, and the object seeds are the same too.
Reported per mode, from the manifest: medians of ``seam_edge`` and ``seam_halo`` (the judge's terms, the
halo against the image before the paste), the reject and retry rates of ``verify=diff``; and timed inside
the run: one ``paste`` call and one ``measure_seam`` call per object, next to one tiny-model inpaint per
object (inpaint calls on the same inputs are made once and reused across modes: see ``ReusedInpaints``).

**What this run can show and what it cannot.** The tiny model is random: its backgrounds and its
inpainted objects are noise. So the run shows that every mode works through the real painters (crops at
the model's native size resized back, the colour transfer matched on the pipeline's own output around the
box, copy-paste with the source photo's context), what each costs per object next to an inpaint call, and
that the seam terms reach the manifest and metrics. Its seam numbers say how each mode pastes noise into
noise: not which mode looks right on real images. That is ``blend_seams.py``'s job, on real photos.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from _common import REPO, add_threads_option, apply_threads, compose_config, machine  # noqa: E402

from idg.core.config import BLEND_MODES  # noqa: E402


class Timer:
    """Wraps a module-level function, keeping the wall time of each call."""

    def __init__(self, module, name: str):
        self.module, self.name, self.times = module, name, []
        self.inner: Callable = getattr(module, name)

    def __enter__(self) -> "Timer":
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return self.inner(*a, **k)
            finally:
                self.times.append(time.perf_counter() - t)

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc) -> None:
        setattr(self.module, self.name, self.inner)


class ReusedInpaints:
    """The run's pipelines, with an inpaint call on inputs seen before (same crops, masks, prompts and
    seeds) answered from memory: the pipelines are deterministic, so the answer is the same bytes, and the
    modes' runs share most of their calls (the first object of every image sees the same crop whatever the
    blend). Only the time of the calls really made is kept, per object."""

    def __init__(self, pipes):
        self._pipes, self._memo = pipes, {}
        self.seconds, self.objects, self.reused = 0.0, 0, 0

    def __getattr__(self, name):
        return getattr(self._pipes, name)

    def inpaint(self, prompts, seeds, *, images, masks, **kw):
        import hashlib

        import numpy as np

        h = hashlib.blake2b(repr((list(prompts), list(seeds), sorted(kw.items()))).encode())
        for im in list(images) + list(masks):
            h.update(np.asarray(im).tobytes())
        key = h.hexdigest()
        if key in self._memo:
            self.reused += len(images)
            return self._memo[key].copy()
        t = time.perf_counter()
        out = self._pipes.inpaint(prompts, seeds, images=images, masks=masks, **kw)
        self.seconds += time.perf_counter() - t
        self.objects += len(images)
        self._memo[key] = out.copy()
        return out


def real_sources():
    """Every labelled object of data/fire8_mini's train split, as copy-paste sources (classes 0 fire, 1 smoke,
    which are fire_cctv's)."""
    from PIL import Image

    from idg.data.yolo import pixel_box
    from idg.generate.copy_paste import SourceObject

    root = REPO / "data" / "fire8_mini"
    out = []
    for image in sorted((root / "images" / "train").glob("*.jpg")):
        with Image.open(image) as im:
            width, height = im.size
        for line in (root / "labels" / "train" / f"{image.stem}.txt").read_text().splitlines():
            if line.strip():
                cls, cx, cy, w, h = line.split()
                out.append(SourceObject(image, int(cls), pixel_box(float(cx), float(cy), float(w), float(h), width, height)))
    return out


def med(values: List[float]):
    vals = [v for v in values if v is not None]
    return round(float(statistics.median(vals)), 4) if vals else None


def run_mode(generator: str, blend: str, args, tmp: Path, model: Path, pipes, sources, name: str = "") -> Dict[str, object]:
    import idg.generate.copy_paste as copy_paste
    import idg.generate.inpaint as inpaint
    import idg.generate.judge as judge
    from idg.generate.engine import run_generation
    from idg.generate.quality import quality_metrics

    key = "inpaint.blend" if generator == "diffusion" else "copy_paste.blend"
    cfg = compose_config([
        "dataset=fire_cctv", "model=tiny", f"model.pretrained={model}", "model.build_tiny=false",
        f"model.resolution={args.resolution}", "sampler=non_overlap", f"generate.num_images={args.images}",
        "generate.val_fraction=0", f"generate.cache_dir={tmp}/cache", "generate.progress=false", "stages=[generate]",
        "offline=true", "real=fire8_mini", f"generator={generator}", f"{key}={blend}",
    ])
    painter = copy_paste.copy_paste_painter(cfg, sources) if generator == "copy_paste" else None
    module = inpaint if generator == "diffusion" else copy_paste
    with Timer(module, "paste") as pastes, Timer(judge, "measure_seam") as seams:
        t = time.perf_counter()
        result = run_generation(cfg, tmp / (name or f"{generator}-{blend}"), pipes_factory=lambda: pipes, painter_factory=painter)
        seconds = time.perf_counter() - t
    records = result.records
    objects = [o for r in records for o in r["objects"]]
    rejected = [o for r in records for o in r["rejected"]]
    attempts = sum(o["attempts"] for o in objects + rejected)
    q = quality_metrics(records)
    return {
        "objects": len(objects), "rejected": len(rejected), "paint_attempts": attempts,
        "seam_edge_median": med([o["seam_edge"] for o in objects]),
        "seam_halo_median": med([o["seam_halo"] for o in objects]),
        "seam_halo_w32_median": med([(o["seam_halo_widths"] or {}).get("32") for o in objects]),
        "reject_rate": q["quality/reject_rate"], "retry_rate": q["quality/retry_rate"],
        "paste_ms": round(1000 * statistics.median(pastes.times), 3) if pastes.times else None,
        "measure_seam_ms": round(1000 * statistics.median(seams.times), 3) if seams.times else None,
        "backgrounds_generated": result.stats.backgrounds_generated,
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--modes", nargs="+", default=list(BLEND_MODES))
    ap.add_argument("--generators", nargs="+", default=["diffusion", "copy_paste"])
    ap.add_argument("--no-write", action="store_true", help="print only; do not write results/blend_tiny.json")
    add_threads_option(ap)
    args = ap.parse_args()
    apply_threads(args.threads)

    import cv2

    from idg.models.diffusion import load_pipelines
    from idg.models.tiny import build_tiny_sdxl

    cv2.setNumThreads(1)
    sources = real_sources()
    table: Dict[str, Dict[str, dict]] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_sdxl(tmp / "model")
        pipes = ReusedInpaints(load_pipelines(compose_config([
            "model=tiny", f"model.pretrained={model}", "model.build_tiny=false", "offline=true", "stages=[generate]",
        ]).model, offline=True))
        # Warm-up: fills the shared background cache and pays the first calls' one-off costs.
        run_mode("diffusion", "feather", args, tmp, model, pipes, sources, name="warm-up")
        for generator in args.generators:
            for blend in args.modes:
                table.setdefault(generator, {})[blend] = run_mode(generator, blend, args, tmp, model, pipes, sources)
    elapsed = time.perf_counter() - t0

    inpaint_s = pipes.seconds / pipes.objects if pipes.objects else None
    cols = ("objects", "seam_edge_median", "seam_halo_median", "seam_halo_w32_median", "reject_rate", "retry_rate",
            "paste_ms", "measure_seam_ms")
    short = ("objs", "edge", "halo", "halo32", "reject", "retry", "paste ms", "seam ms")
    print(f"tiny model, {args.images} images at {args.resolution} px (fire_cctv, non_overlap); medians over objects")
    for generator, rows in table.items():
        print(f"\n{generator}")
        print(f"{'mode':16s}" + "".join(f"|{s:>10s}" for s in short))
        for blend, row in rows.items():
            print(f"{blend:16s}" + "".join(f"|{'-' if row[c] is None else row[c]:>10}" for c in cols))
    if inpaint_s is not None:
        print(f"one tiny-model inpaint: {inpaint_s:.2f} s per object ({pipes.objects} objects painted, "
              f"{pipes.reused} answered from memory)")
    print(f"total {elapsed:.1f} s")
    if not args.no_write:
        import os

        out = HERE / "results" / "blend_tiny.json"
        out.write_text(json.dumps({
            "command": "python benchmarks/blend_tiny.py " + " ".join(sys.argv[1:]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": f"{machine()}, load average {os.getloadavg()[0]:.1f}",
            "images": args.images, "resolution": args.resolution, "seconds": round(elapsed, 1),
            "inpaint_seconds_per_object": round(inpaint_s, 3) if inpaint_s is not None else None,
            "table": table,
        }, indent=1) + "\n")
        print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
