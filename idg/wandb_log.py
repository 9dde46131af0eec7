"""Weights & Biases as a listener: stages emit metrics and files, this module turns them into W&B calls.

One study is one W&B run (``job_type=study``); a ``--multirun`` sweep puts its jobs in one group named
after the sweep. Per-epoch detector metrics arrive with a stage prefix (``syn_only/s0/...``) and each
prefix gets its own epoch axis. W&B never decides the fate of a study: any W&B failure is logged once and
the study continues (an online run that cannot reach the server falls back to offline).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from idg.config import LoggerConfig

log = logging.getLogger(__name__)


class WandbLogger:
    """Owns the study's W&B run. Every method is safe to call when W&B is disabled or has failed."""

    def __init__(self, cfg: LoggerConfig, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str] = None,
                 offline: bool = False):
        self.cfg = cfg
        self.run = None
        self._axes: set = set()
        self._failed = False
        mode = cfg.mode
        if mode == "disabled":
            return
        if offline and mode == "online":
            log.warning("offline=true: logging W&B offline (sync later with `wandb sync %s/wandb`)", run_dir)
            mode = "offline"
        self._init(mode, run_dir, config, name, group or cfg.group)

    def _init(self, mode: str, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str]) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        try:
            import wandb

            settings = wandb.Settings(init_timeout=30, console="off", silent=True) if mode == "online" else wandb.Settings(console="off", silent=True)
            self.run = wandb.init(
                project=self.cfg.project,
                entity=self.cfg.entity,
                group=group,
                tags=list(self.cfg.tags),
                job_type=self.cfg.job_type,
                name=self.cfg.run_name or name,
                dir=str(run_dir),
                config=config,
                mode=mode,
                reinit="finish_previous",
                settings=settings,
            )
        except Exception as exc:  # noqa: BLE001 - W&B must never stop a study
            if mode == "online":
                log.warning("W&B online init failed (%s); continuing offline: `wandb sync` the run later", exc)
                self._init("offline", run_dir, config, name, group)
            else:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if not self._failed:
            log.warning("W&B logging failed and is switched off for this run: %s", exc)
        self._failed = True
        self.run = None

    @property
    def active(self) -> bool:
        return self.run is not None

    def log(self, metrics: Dict[str, Any]) -> None:
        if not self.active:
            return
        try:
            self.run.log(metrics)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def log_epoch(self, tag: str, epoch: int, metrics: Dict[str, float]) -> None:
        """Per-epoch detector metrics under ``<tag>/``, plotted against ``<tag>/epoch``."""
        if not self.active:
            return
        try:
            if tag not in self._axes:
                self.run.define_metric(f"{tag}/epoch")
                self.run.define_metric(f"{tag}/*", step_metric=f"{tag}/epoch")
                self._axes.add(tag)
            self.run.log({f"{tag}/epoch": epoch, **{f"{tag}/{k}": v for k, v in metrics.items()}})
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def log_samples(self, root: Path, records: Sequence[dict], names: List[str], key: str = "samples/generated") -> None:
        """Generated images with their boxes as W&B box overlays (class labels as captions)."""
        if not self.active or not records:
            return
        try:
            import wandb
            from PIL import Image

            class_labels = {i: n for i, n in enumerate(names)}
            images = []
            for rec in records[: self.cfg.num_samples]:
                W, H = rec["width"], rec["height"]
                boxes = [
                    {
                        "position": {"minX": x / W, "maxX": (x + w) / W, "minY": y / H, "maxY": (y + h) / H},
                        "class_id": obj["class_id"],
                        "box_caption": obj["class"],
                    }
                    for obj in rec["objects"]
                    for x, y, w, h in [obj["box"]]
                ]
                with Image.open(root / rec["image"]) as im:
                    images.append(wandb.Image(im.convert("RGB"), caption=rec["image"],
                                              boxes={"ground_truth": {"box_data": boxes, "class_labels": class_labels}}))
            self.run.log({key: images})
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def log_table(self, key: str, rows: Sequence[dict]) -> None:
        if not self.active or not rows:
            return
        try:
            import wandb

            columns = list(rows[0].keys())
            self.run.log({key: wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows])})
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def summary(self, metrics: Dict[str, Any]) -> None:
        if not self.active:
            return
        try:
            self.run.summary.update(metrics)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        try:
            self.run.finish(exit_code=exit_code)
        except Exception as exc:  # noqa: BLE001
            log.warning("W&B finish failed: %s", exc)
        self.run = None
