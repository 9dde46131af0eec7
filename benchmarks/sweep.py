"""An N-point inpainting sweep with the background cache vs without it, tiny model, one process.

    python benchmarks/sweep.py [--points 4] [--images 12] [--resolution 128]

Cache on: the first point generates the backgrounds, the others read them. Cache off: every point
generates its own. Also measures one background pass and one inpaint pass (warm cache) on their own, and
prints the target: cache-on total <= (1 background pass + N inpaint passes) x 1.2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads_option, apply_threads, compose_config, machine  # noqa: E402

STRENGTHS = [0.5, 0.6, 0.75, 0.9, 1.0, 0.4, 0.8, 0.7]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--resolution", type=int, default=128)
    add_threads_option(ap)
    args = ap.parse_args()
    apply_threads(args.threads)

    from idg.generate.engine import run_generation
    from idg.models.diffusion import load_pipelines
    from idg.models.tiny import build_tiny_sdxl

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_sdxl(tmp / "model")

        def cfg(point: int, cache: str, use_cache: bool = True):
            return compose_config([
                "model=tiny", f"model.pretrained={model}", "model.build_tiny=false", f"model.resolution={args.resolution}",
                f"generate.num_images={args.images}", f"generate.cache_dir={tmp}/{cache}", f"generate.use_cache={use_cache}",
                f"inpaint.strength={STRENGTHS[point % len(STRENGTHS)]}", "generate.progress=false", "stages=[generate]",
                "offline=true",
            ])

        pipes = load_pipelines(cfg(0, "c").model, offline=True)
        run = lambda c, d: run_generation(c, tmp / d, pipes_factory=lambda: pipes)  # noqa: E731
        run(cfg(0, "warm"), "warm")  # first calls pay one-off costs

        t = time.perf_counter()
        for p in range(args.points):
            run(cfg(p, "on"), f"on{p}")
        t_on = time.perf_counter() - t

        t = time.perf_counter()
        for p in range(args.points):
            run(cfg(p, "off", use_cache=False), f"off{p}")
        t_off = time.perf_counter() - t

        # one background pass alone, and one inpaint pass with every background cached
        from idg.generate.backgrounds import PromptBackgrounds
        from idg.generate.engine import GenerationStats, model_identity
        from idg.generate.parts import Lazy

        c = cfg(0, "solo")
        source = PromptBackgrounds(c, Lazy(lambda: pipes), GenerationStats(), model_identity(c))
        t = time.perf_counter()
        source.backgrounds(list(range(args.images)))
        t_bg = time.perf_counter() - t
        t = time.perf_counter()
        run(cfg(1, "solo"), "solo1")
        t_inpaint = time.perf_counter() - t

    target = (t_bg + args.points * t_inpaint) * 1.2
    print(f"machine: {machine()}")
    print(f"tiny model, {args.points} sweep points x {args.images} images at {args.resolution} px")
    print(f"cache off       : {t_off:7.1f} s")
    print(f"cache on        : {t_on:7.1f} s   ({t_off / t_on:.2f}x faster)")
    print(f"1 background pass {t_bg:.1f} s, 1 inpaint pass {t_inpaint:.1f} s -> target <= {target:.1f} s: "
          f"{'met' if t_on <= target else 'MISSED'} (cache on / target = {t_on / target:.2f})")


if __name__ == "__main__":
    main()
