"""Schemas of the study: the ``detector``, ``real`` and ``logger`` groups and the ``study`` node."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from idg.core.config.fields import help_field
from idg.core.config.generation import GENERATORS
from idg.core.errors import ConfigError
from idg.core.layout import RunLayout

ARMS = ("syn_only", "syn_then_real", "real_only", "mixed")


@dataclass
class DetectorConfig:
    """The ``detector`` group: an Ultralytics YOLO model and its training arguments (Ultralytics' own names)."""

    model: str = help_field("model .yaml (random init, e.g. yolov8n.yaml) or a trusted .pt checkpoint", "yolov8n.yaml")
    imgsz: int = help_field("train/val image size", 640)
    epochs: int = help_field("epochs on the synthetic set (syn_only, and the first half of syn_then_real)", 30)
    finetune_epochs: int = help_field("epochs on real data (real_only, syn_then_real fine-tune, mixed)", 30)
    batch: int = help_field("batch size", 16)
    device: Optional[str] = help_field("Ultralytics device string; null picks CUDA if present", None)
    workers: int = help_field("dataloader workers", 4)
    patience: int = help_field("early-stopping patience in epochs", 100)
    args: Dict[str, Any] = help_field("any further YOLO.train() arguments, passed through unchanged", default_factory=dict)
    verbose: bool = help_field("Ultralytics' own console output (layer tables, argument dumps, its bars); off: one idg "
                               "line per epoch (-v turns it on too)", False)

    def __post_init__(self) -> None:
        if not (self.model.endswith(".yaml") or self.model.endswith(".yml") or self.model.endswith(".pt")):
            raise ConfigError(f"detector.model={self.model!r} must be a model .yaml or a .pt checkpoint")
        for key in ("imgsz", "batch"):
            if getattr(self, key) < 1:
                raise ConfigError(f"detector.{key}={getattr(self, key)} must be >= 1")
        for key in ("epochs", "finetune_epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"detector.{key}={getattr(self, key)} must be >= 1")
        if self.workers < 0:
            raise ConfigError(f"detector.workers={self.workers} must be >= 0")
        reserved = {"data", "epochs", "project", "name", "exist_ok", "model"} & set(self.args)
        if reserved:
            raise ConfigError(f"detector.args sets {sorted(reserved)}, which idg controls; use detector.* instead")


@dataclass
class RealConfig:
    """The ``real`` group: a real dataset (Ultralytics YOLO layout or COCO JSON), used to fine-tune and to
    evaluate (on val, and on test when there is one)."""

    name: str = help_field("preset name", "none")
    format: str = help_field("yolo (real.data: a data.yaml) | coco (real.train_json, real.val_json, real.test_json, real.images)", "yolo")
    data: Optional[str] = help_field("path to a YOLO data.yaml with train and val splits (and optionally test)", None)
    test: Optional[str] = help_field("yolo: a test split (folder or .txt list, relative to the data.yaml's path) that "
                                "adds to or replaces the data.yaml's own 'test'", None)
    train_json: Optional[str] = help_field("coco: the train split's COCO detection JSON", None)
    val_json: Optional[str] = help_field("coco: the val split's COCO detection JSON", None)
    test_json: Optional[str] = help_field("coco: the test split's COCO detection JSON (optional)", None)
    images: Optional[str] = help_field("coco: the folder images[].file_name are relative to (default: each JSON's folder)", None)
    class_map: Dict[str, str] = help_field("real class name -> synthetic class name, for names that differ", default_factory=dict)
    check_images: bool = help_field("open every real image at start-up to catch corrupt files", True)

    def __post_init__(self) -> None:
        if self.format not in ("yolo", "coco"):
            raise ConfigError(f"real.format={self.format!r} must be yolo or coco")
        for key in ("data", "test", "train_json", "val_json", "test_json", "images"):
            value = getattr(self, key)
            if value is not None and not str(value).strip():
                raise ConfigError(f"real.{key} is empty: give a path or null")
        if self.format == "coco" and self.train_json is not None and self.val_json is None:
            raise ConfigError("real.format=coco: real.val_json is not set (train and val JSON are both required)")

    @property
    def given(self) -> bool:
        """Whether a real dataset is named at all (a data.yaml, or a COCO train JSON)."""
        return bool(self.train_json) if self.format == "coco" else bool(self.data)


@dataclass
class StudyConfig:
    """The ``study`` node: which detector trainings (arms) to compare, at which real fractions and seeds."""

    arms: List[str] = help_field("syn_only | syn_then_real | real_only | mixed", default_factory=lambda: ["syn_only", "syn_then_real", "real_only"])
    fractions: List[float] = help_field("shares of the real train split to use (deterministic subsets)", default_factory=lambda: [1.0])
    seeds: List[int] = help_field("training seeds (and subset seeds); >= 2 gives confidence intervals", default_factory=lambda: [0])
    metric: str = help_field("main metric returned to sweepers: map50 | map50_95", "map50_95")
    reuse: List[str] = help_field("run dirs of other studies: a training there with the same key (same init, data and "
                             "settings, e.g. a shared real_only baseline) is copied instead of retrained",
                             default_factory=list)
    generators: List[str] = help_field("compare generators in one study: one synthetic set per generator (diffusion, "
                                       "copy_paste, autolabel) under generators/<name>/, shared real_only baselines, "
                                       "results rows tagged by generator; empty: generate.generator alone",
                                       default_factory=list)

    real_negatives: Optional[bool] = help_field("add the photos of background=images to every real training as "
                                           "label-free images, so a gain of the synthetic arms comes from the "
                                           "objects, not from extra real scenes; null: on when background=images "
                                           "(real_empty / real_train photos are in the real subset already)", None)

    def __post_init__(self) -> None:
        unknown = [g for g in self.generators if g not in GENERATORS]
        if unknown:
            raise ConfigError(f"study.generators={list(self.generators)}: {unknown[0]!r} is not a generator; choose from "
                              f"{', '.join(GENERATORS)}")
        if len(set(self.generators)) != len(self.generators):
            raise ConfigError(f"study.generators={list(self.generators)} names a generator twice")
        for d in self.reuse:
            if not RunLayout(Path(os.path.expanduser(d))).detect.is_dir():
                raise ConfigError(f"study.reuse: {d} is not a study run dir (it has no detect/ folder)")
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise ConfigError(f"study.arms={list(self.arms)}: choose from {', '.join(ARMS)}")
        for f in self.fractions:
            if not 0.0 < f <= 1.0:
                raise ConfigError(f"study.fractions contains {f}; each must be in (0, 1]")
        if not self.fractions:
            raise ConfigError("study.fractions is empty")
        if not self.seeds:
            raise ConfigError("study.seeds is empty")
        if self.metric not in ("map50", "map50_95"):
            raise ConfigError(f"study.metric={self.metric!r} must be map50 or map50_95")


# --------------------------------------------------------------------------------------------- logging


@dataclass
class LoggerConfig:
    """The ``logger`` group: Weights & Biases. The run dir holds everything W&B shows, so W&B is optional."""

    name: str = help_field("preset name", "wandb")
    mode: str = help_field("online | offline | disabled", "offline")
    project: str = help_field("W&B project", "idg")
    entity: Optional[str] = help_field("W&B entity (team or user)", None)
    group: Optional[str] = help_field("W&B group; null: the sweep name in --multirun, else none", None)
    tags: List[str] = help_field("W&B tags", default_factory=list)
    job_type: str = help_field("W&B job type", "study")
    run_name: Optional[str] = help_field("W&B run name; null: dataset name + run dir name", None)
    num_samples: int = help_field("generated images shown in the sample grid", 16)
    num_pairs: int = help_field("before/after pairs (cached background | inpainted image) shown", 4)
    table_rows: int = help_field("rows of the per-object table (rejected objects first when cut); 0: no table", 1000)
    artifacts: bool = help_field("log the dataset and the detector weights as W&B artifacts (referenced, not copied)", True)
    online_timeout: float = help_field("mode=online: seconds to wait for the W&B server before logging offline", 5.0)

    def __post_init__(self) -> None:
        if self.mode not in ("online", "offline", "disabled"):
            raise ConfigError(f"logger.mode={self.mode!r} must be online, offline or disabled")
        for key in ("num_samples", "num_pairs", "table_rows"):
            if getattr(self, key) < 0:
                raise ConfigError(f"logger.{key}={getattr(self, key)} must be >= 0")
        if self.online_timeout <= 0:
            raise ConfigError(f"logger.online_timeout={self.online_timeout} must be > 0")
