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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from idg.core.config import IdgConfig
from idg.core.errors import DataError
from idg.core.hashing import content_hash
from idg.core.layout import RunLayout
from idg.data.subsets import PreparedReal
from idg.generate.sets import set_layout, subset_dependent
from idg.study import detect
from idg.study.detect import EpochCallback
from idg.study.keys import data_key, model_key, training_key

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


def train_arms(
    cfg: IdgConfig,
    run_dir: Path,
    real: Optional[PreparedReal],
    on_epoch: Optional[EpochCallback] = None,
) -> List[Trained]:
    """Train every arm x fraction x seed of ``cfg.study`` that is not already done."""
    det, study = cfg.detector, cfg.study
    run = RunLayout(Path(run_dir))
    arms = list(study.arms)
    if any(a != "syn_only" for a in arms) and real is None:
        raise DataError("the study needs real data: pass real.data=<data.yaml>")
    base_key = model_key(det.model)

    def fit(arm: str, init: str, init_key: str, data: Path, fraction: float, seed: int, epochs: int) -> Trained:
        save_dir = run.training(arm, fraction, seed)
        key = training_key(init_key, data, epochs, seed, det)
        r = detect.train(init, data, save_dir.parent, save_dir.name, epochs, det, seed, tag=f"{arm}/{save_dir.name}",
                  on_epoch=on_epoch, key=key, overwrite=cfg.overwrite,
                  reuse=[RunLayout(Path(d).expanduser()).training(arm, fraction, seed) for d in study.reuse])
        return Trained(arm, fraction, seed, r.weights, r.save_dir, key)

    def synthetic(fraction: float, seed: int) -> Path:
        return existing_synthetic_yaml(cfg, run_dir, fraction, seed)

    check_synthetic_sets(cfg, run_dir)  # every synthetic set exists before the first training starts

    out: List[Trained] = []
    for seed in study.seeds:
        syn: Dict[float, Trained] = {}
        for fraction in study.fractions:
            sf = syn_only_fraction(cfg, fraction)
            if ("syn_only" in arms or "syn_then_real" in arms) and sf not in syn:
                syn[sf] = fit("syn_only", det.model, base_key, synthetic(fraction, seed), sf, seed, det.epochs)
                if "syn_only" in arms:
                    out.append(syn[sf])
            if "syn_then_real" in arms:
                s = syn[sf]
                out.append(fit("syn_then_real", str(s.weights), s.key, real.data_yaml(fraction, seed), fraction, seed,
                               det.finetune_epochs))
            if "real_only" in arms:
                out.append(fit("real_only", det.model, base_key, real.data_yaml(fraction, seed), fraction, seed,
                               det.finetune_epochs))
            if "mixed" in arms:
                syn_train = synthetic(fraction, seed).parent / "images" / "train"
                data = real.data_yaml(fraction, seed, extra_train=[syn_train], tag="mixed")
                out.append(fit("mixed", det.model, base_key, data, fraction, seed, det.finetune_epochs))
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
            rows.append({"arm": t.arm, "fraction": t.fraction, "seed": t.seed, "split": split, **m,
                         "weights": str(t.weights), "image_stats": str(t.save_dir / eval_dir(split) / "image_stats.npz")})
            log.info("%-14s f=%-5g s=%d %-4s mAP50=%.4f  mAP50-95=%.4f", t.arm, t.fraction, t.seed, split, m["map50"],
                     m["map50_95"])
    return rows


def trained_as_dict(t: Trained) -> dict:
    d = asdict(t)
    d["weights"], d["save_dir"] = str(t.weights), str(t.save_dir)
    return d
