"""Helpers shared by the benchmark scripts (not a test module)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[1]
# The checkout's own idg, whatever the venv has installed (a script's sys.path starts at benchmarks/).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def compose_config(overrides: List[str]):
    """The validated IdgConfig for ``overrides``, composed from conf/ like ``python -m idg.run`` does."""
    from hydra import compose, initialize_config_dir

    from idg.core.config import register_configs, to_config
    from idg.data.csv_import import apply_csv_dataset

    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        # idg.pipeline.load_config's steps, without importing the study and report layers (W&B): the GPU
        # benchmark runs where only the generation layer's packages are installed
        return to_config(compose(config_name="config", overrides=overrides), preprocess=[apply_csv_dataset])


def add_threads_option(ap) -> None:
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (1 makes a side-by-side ratio steadier on a shared machine)")


def apply_threads(n) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def machine() -> str:
    import os
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores ({torch.get_num_threads()} torch "
            f"threads), {gpu}, torch {torch.__version__}")
