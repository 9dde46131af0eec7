"""The usefulness study: detector arms x real fractions x seeds, evaluated on the real val split.

Arms (each a separate Ultralytics training from ``detector.model``, same architecture and image size):

- ``syn_only``: ``detector.epochs`` on the synthetic set; zero-shot on real val
- ``syn_then_real``: ``syn_only``'s weights fine-tuned ``detector.finetune_epochs`` on the real subset
- ``real_only``: ``detector.finetune_epochs`` on the real subset alone (the baseline)
- ``mixed``: ``detector.finetune_epochs`` on synthetic + real subset together

The diffusion generator makes one synthetic set for the whole study, so ``syn_only`` is trained once per
seed and reported at real fraction 0 (it sees no real image). The copy-paste generator cuts its objects
from the real subset of each (fraction, seed), so there is one synthetic set, and one ``syn_only``, per
(fraction, seed), reported at that fraction.

Trainings live in ``<run dir>/detect/<arm>/f<fraction>_s<seed>/`` and are skipped when done with the same
data and settings (a key in ``done.json``), so an interrupted study resumes at the next unfinished arm.
Results: ``results.csv``, ``results.json`` (rows and per arm x fraction summaries with 95% confidence
intervals and seed-paired differences vs ``real_only``), ``results.md`` and ``results.png``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from idg.core.config import IdgConfig
from idg.core.errors import DataError
from idg.core.hashing import content_hash
from idg.core.layout import RunLayout
from idg.data.subsets import PreparedReal
from idg.generate.sets import set_layout, subset_dependent
from idg.study import detect
from idg.study.detect import EpochCallback
from idg.study.keys import data_key, model_key, training_key
from idg.study.stats import per_class_columns

log = logging.getLogger(__name__)


@dataclass
class Trained:
    arm: str
    fraction: float  # 0.0 when the training saw no real image (syn_only of the diffusion generator)
    seed: int
    weights: Path
    save_dir: Path
    key: Optional[str] = None  # what the weights depend on (see training_key)


def per_fraction_synthetic(cfg: IdgConfig) -> bool:
    """Whether the synthetic set depends on the real subset (copy-paste objects, real backgrounds, a fitted
    box prior) rather than being one per study."""
    return subset_dependent(cfg)


def synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    """The synthetic data.yaml that the synthetic arms of ``(fraction, seed)`` train on."""
    return set_layout(cfg, Path(run_dir), fraction, seed).dataset().data_yaml


def existing_synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    path = synthetic_yaml(cfg, run_dir, fraction, seed)
    if not path.is_file():
        raise DataError(f"{path}: no synthetic dataset; run the generate stage first (stages=[generate,...]) or "
                        f"point hydra.run.dir at the run that generated it")
    return path


def check_synthetic_sets(cfg: IdgConfig, run_dir: Path) -> None:
    """The synthetic sets the study's arms train on exist (a start-up check when generate is not a stage)."""
    if any(a != "real_only" for a in cfg.study.arms):
        for seed in cfg.study.seeds:
            for fraction in cfg.study.fractions:
                existing_synthetic_yaml(cfg, run_dir, fraction, seed)


def syn_only_fraction(cfg: IdgConfig, fraction: float) -> float:
    return fraction if per_fraction_synthetic(cfg) else 0.0


# ------------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class Planned:
    """One training of the study's plan: an arm at a real fraction and seed, for ``epochs`` epochs."""

    arm: str
    fraction: float
    seed: int
    epochs: int


def training_plan(cfg: IdgConfig) -> List[Planned]:
    """Every training of ``cfg.study``, in the order they run: per seed and fraction, ``syn_only`` (once per
    synthetic set, also when only ``syn_then_real`` needs it), ``syn_then_real``, ``real_only``, ``mixed``."""
    det, arms = cfg.detector, cfg.study.arms
    plan: List[Planned] = []
    for seed in cfg.study.seeds:
        synthetic: set = set()
        for fraction in cfg.study.fractions:
            sf = syn_only_fraction(cfg, fraction)
            if ("syn_only" in arms or "syn_then_real" in arms) and sf not in synthetic:
                synthetic.add(sf)
                plan.append(Planned("syn_only", sf, seed, det.epochs))
            for arm in ("syn_then_real", "real_only", "mixed"):
                if arm in arms:
                    plan.append(Planned(arm, fraction, seed, det.finetune_epochs))
    return plan


@dataclass(frozen=True)
class TrainingStep:
    """The ``training`` event: training ``index`` (1-based) of ``total`` started, finished or was skipped
    (done earlier, or copied from ``study.reuse``); ``seconds`` it took (0 until it ends); ``epochs_left``:
    its epochs and those of the trainings after it (what an ETA needs)."""

    index: int
    total: int
    arm: str
    fraction: float
    seed: int
    epochs: int
    epochs_left: int
    status: str  # started | done | skipped
    seconds: float = 0.0


TrainingCallback = Callable[[TrainingStep], None]


def train_arms(
    cfg: IdgConfig,
    run_dir: Path,
    real: Optional[PreparedReal],
    on_epoch: Optional[EpochCallback] = None,
    on_training: Optional[TrainingCallback] = None,
) -> List[Trained]:
    """Train every arm x fraction x seed of ``cfg.study`` that is not already done (:func:`training_plan`);
    ``on_training`` hears each one start and end."""
    det, study = cfg.detector, cfg.study
    run = RunLayout(Path(run_dir))
    if any(a != "syn_only" for a in study.arms) and real is None:
        raise DataError("the study needs real data: pass real.data=<data.yaml>")
    base_key = model_key(det.model)
    check_synthetic_sets(cfg, run_dir)  # every synthetic set exists before the first training starts
    plan = training_plan(cfg)
    tell = on_training or (lambda step: None)

    def fit(n: int, p: Planned, init: str, init_key: str, data: Path) -> Trained:
        step = TrainingStep(n, len(plan), p.arm, p.fraction, p.seed, p.epochs, sum(q.epochs for q in plan[n - 1:]), "started")
        save_dir = run.training(p.arm, p.fraction, p.seed)
        key = training_key(init_key, data, p.epochs, p.seed, det)
        t0 = time.perf_counter()
        r = detect.train(init, data, save_dir.parent, save_dir.name, p.epochs, det, p.seed, tag=f"{p.arm}/{save_dir.name}",
                         on_epoch=on_epoch, key=key, overwrite=cfg.overwrite, on_start=lambda: tell(step),
                         reuse=[RunLayout(Path(d).expanduser()).training(p.arm, p.fraction, p.seed) for d in study.reuse])
        tell(replace(step, status="skipped" if r.skipped else "done", seconds=time.perf_counter() - t0))
        return Trained(p.arm, p.fraction, p.seed, r.weights, r.save_dir, key)

    out: List[Trained] = []
    synthetic: Dict[tuple, Trained] = {}  # (fraction, seed) -> the syn_only training of that synthetic set
    for n, p in enumerate(plan, 1):
        if p.arm == "syn_only":
            t = synthetic[(p.fraction, p.seed)] = fit(n, p, det.model, base_key,
                                                      existing_synthetic_yaml(cfg, run_dir, p.fraction, p.seed))
            if "syn_only" in study.arms:
                out.append(t)
        elif p.arm == "syn_then_real":
            s = synthetic[(syn_only_fraction(cfg, p.fraction), p.seed)]
            out.append(fit(n, p, str(s.weights), s.key, real.data_yaml(p.fraction, p.seed)))
        elif p.arm == "real_only":
            out.append(fit(n, p, det.model, base_key, real.data_yaml(p.fraction, p.seed)))
        else:  # mixed
            syn_train = existing_synthetic_yaml(cfg, run_dir, p.fraction, p.seed).parent / "images" / "train"
            data = real.data_yaml(p.fraction, p.seed, extra_train=[syn_train], tag="mixed")
            out.append(fit(n, p, det.model, base_key, data))
    return out


def find_trained(cfg: IdgConfig, run_dir: Path) -> List[Trained]:
    """The trainings of ``cfg.study`` already on disk (for ``stages=[evaluate]``)."""
    found, missing = [], []
    for seed in cfg.study.seeds:
        for arm in cfg.study.arms:
            fractions = cfg.study.fractions
            if arm == "syn_only":
                fractions = sorted({syn_only_fraction(cfg, f) for f in fractions})
            for fraction in fractions:
                save_dir = RunLayout(Path(run_dir)).training(arm, fraction, seed)
                done = save_dir / "done.json"
                if done.is_file():
                    info = json.loads(done.read_text())
                    found.append(Trained(arm, fraction, seed, Path(info["weights"]), save_dir, info.get("key")))
                else:
                    missing.append(str(save_dir))
    if missing:
        raise DataError(f"evaluate: {len(missing)} training(s) not found, e.g. {missing[0]}; run the train stage first")
    return found


def eval_dir(split: str) -> str:
    """A training's evaluation folder for ``split`` (``eval_real`` for val, as before the test split existed)."""
    return "eval_real" if split == "val" else f"eval_{split}"


def evaluate_arms(cfg: IdgConfig, trained: Sequence[Trained], real: PreparedReal) -> List[dict]:
    """One row per training and evaluation split (val, and test when the real data has one): its mAPs by
    Ultralytics' validator on ``last.pt``, with the per-image matches kept for the bootstrap."""
    rows = []
    for split in real.splits:
        split_key = data_key(real.val_yaml, splits=(split,))
        for t in trained:
            what = {"weights": t.key or str(t.weights), "val": split_key, "imgsz": cfg.detector.imgsz}
            key = content_hash(what if split == "val" else {**what, "split": split})
            m = detect.evaluate(t.weights, real.val_yaml, t.save_dir, eval_dir(split), cfg.detector, key=key,
                                overwrite=cfg.overwrite, reuse=cfg.resume, split=split)
            rows.append({"arm": t.arm, "fraction": t.fraction, "seed": t.seed, "split": split, **per_class_columns(m),
                         "weights": str(t.weights), "image_stats": str(t.save_dir / eval_dir(split) / "image_stats.npz")})
            log.info("%-14s f=%-5g s=%d %-4s mAP50=%.4f  mAP50-95=%.4f", t.arm, t.fraction, t.seed, split, m["map50"],
                     m["map50_95"])
    return rows


def trained_as_dict(t: Trained) -> dict:
    d = asdict(t)
    d["weights"], d["save_dir"] = str(t.weights), str(t.save_dir)
    return d
