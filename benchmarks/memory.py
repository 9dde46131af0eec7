"""Peak memory of generation as the dataset grows: 10, 100 and 1,000 images (tiny model, 64 px).

    python benchmarks/memory.py [--sizes 10 100 1000]

Each size runs `python -m idg.run stages=[generate]` in its own process and reads that process's peak
RSS; the engine streams images to disk, so the peak should stay flat (target: within +-10%).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            # a fresh process per size, so each peak is that size's own
            code = (
                "import resource, subprocess, sys; "
                f"subprocess.run({[sys.executable, '-m', 'idg.run']!r} + sys.argv[1:], check=True, capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            )
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code, "experiment=smoke", "real=none", "stages=[generate]", "logger=none",
                 f"generate.num_images={n}", "model.resolution=64", "model.native_resolution=32", "generate.batch_size=8",
                 f"generate.cache_dir={tmp}/cache{n}", f"hydra.run.dir={tmp}/run{n}", "generate.progress=false"],
                cwd=REPO, check=True, capture_output=True, text=True,
            )
            results.append((n, int(out.stdout.strip().splitlines()[-1]) / 1024.0, time.perf_counter() - t))
    base = results[0][1]
    print(f"machine: {machine()}")
    for n, mb, secs in results:
        print(f"{n:6d} images: peak RSS {mb:8.1f} MB  ({(mb / base - 1) * 100:+5.1f}% vs {results[0][0]})  {secs:6.1f} s")


if __name__ == "__main__":
    main()
