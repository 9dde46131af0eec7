"""Entry point: ``python -m idg.run [overrides]`` runs the study that the composed config describes.

Thin on purpose: compose (Hydra) -> validate (typed config, before any model loads) -> run the selected
stages (:func:`idg.pipeline.run_study`) -> return the main metric, so Hydra sweepers can optimise it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

import hydra
from omegaconf import DictConfig, OmegaConf

from idg.config import register_configs

register_configs()
log = logging.getLogger("idg")


def _hydra_context() -> tuple[str, Optional[str]]:
    """This job's output dir, and the sweep name to group runs by when it is part of a --multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    group = None
    if hc.mode == RunMode.MULTIRUN:
        group = os.path.basename(os.path.normpath(hc.sweep.dir))
    return hc.runtime.output_dir, group


def run_app(cfg: DictConfig, run_dir: Optional[str] = None, group: Optional[str] = None) -> Optional[float]:
    """Validate ``cfg`` and run the study; user errors exit 2 with one clear line (traceback with
    HYDRA_FULL_ERROR=1)."""
    from idg.config import to_config
    from idg.errors import IdgError
    from idg.pipeline import run_study

    try:
        conf = to_config(cfg)
        run_dir = conf.run_dir or run_dir
        container = OmegaConf.to_container(cfg, resolve=True)
        metrics = run_study(conf, container, run_dir, group=group)
    except IdgError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.error("%s", exc)
        print(f"idg: error: {exc}", file=sys.stderr)
        sys.exit(2)
    return metrics.get("main_metric")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> Optional[float]:
    run_dir, group = _hydra_context()
    return run_app(cfg, run_dir=run_dir, group=group)


if __name__ == "__main__":
    main()
