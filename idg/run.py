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


def _hydra_context() -> tuple[str, Optional[str], Optional[dict]]:
    """This job's output dir and, when it is part of a --multirun, the sweep's W&B group and what the job
    sweeps (keys and values, for the W&B config)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from idg.overrides import sweep_info

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return hc.runtime.output_dir, None, None
    try:
        sweep = sweep_info(hc.sweep.dir, hc.job.num, list(hc.overrides.task))
    except Exception as exc:  # noqa: BLE001 - W&B bookkeeping must never stop a sweep job
        log.warning("could not read the sweep's overrides (%s); W&B config gets no sweep keys", exc)
        return hc.runtime.output_dir, os.path.basename(os.path.normpath(hc.sweep.dir)), None
    return hc.runtime.output_dir, sweep["name"], sweep


def run_app(cfg: DictConfig, run_dir: Optional[str] = None, group: Optional[str] = None,
            sweep: Optional[dict] = None) -> Optional[float]:
    """Validate ``cfg`` and run the study; user errors exit 2 with one clear line (traceback with
    HYDRA_FULL_ERROR=1)."""
    from idg.config import to_config
    from idg.errors import IdgError
    from idg.pipeline import run_study

    try:
        conf = to_config(cfg)
        run_dir = conf.run_dir or run_dir
        container = OmegaConf.to_container(cfg, resolve=True)
        metrics = run_study(conf, container, run_dir, group=group, sweep=sweep)
    except IdgError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.error("%s", exc)
        print(f"idg: error: {exc}", file=sys.stderr)
        sys.exit(2)
    return metrics.get("main_metric")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> Optional[float]:
    run_dir, group, sweep = _hydra_context()
    return run_app(cfg, run_dir=run_dir, group=group, sweep=sweep)


if __name__ == "__main__":
    main()
