"""The usefulness study: detector arms x real fractions x seeds, evaluated on the real val split.

Arms (each a separate Ultralytics training from ``detector.model``, same architecture and image size):

- ``syn_only``: ``detector.epochs`` on the synthetic set; zero-shot on real val
- ``syn_then_real``: ``syn_only``'s weights fine-tuned ``detector.finetune_epochs`` on the real subset
- ``real_only``: ``detector.finetune_epochs`` on the real subset alone (the baseline)
- ``mixed``: ``detector.finetune_epochs`` on synthetic + real subset together

The diffusion and autolabel generators make one synthetic set for the whole study, so ``syn_only`` is
trained once per seed and reported at real fraction 0 (it sees no real image). The copy-paste generator
cuts its objects from the real subset of each (fraction, seed), so there is one synthetic set, and one
``syn_only``, per (fraction, seed), reported at that fraction.

A study comparing generators (``study.generators``) trains the synthetic arms once per generator, each on
its own set under ``generators/<generator>/`` (laid out like a single-generator run dir), and ``real_only``
once for all of them: every row carries its ``generator`` (None for ``real_only``, which uses none).

Trainings live in ``<run dir>/detect/<arm>/f<fraction>_s<seed>/`` (a compared generator's synthetic arms in
``generators/<generator>/detect/...``) and are skipped when done with the same data and settings (a key in
``done.json``), so an interrupted study resumes at the next unfinished arm. Results: ``results.csv``,
``results.json`` (rows and per generator x arm x fraction summaries with 95% confidence intervals and
seed-paired differences vs ``real_only``), ``results.md`` and ``results.png``.
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
from idg.study import detect
from idg.study.detect import EpochCallback
from idg.study.keys import data_key, model_key, training_key

log = logging.getLogger(__name__)


@dataclass
class Trained:
    arm: str
    fraction: float  # 0.0 when the training saw no real image (syn_only of a set made once per study)
    seed: int
    weights: Path
    save_dir: Path
    key: Optional[str] = None  # what the weights depend on (see training_key)
    generator: Optional[str] = None  # the generator of its synthetic data (None: real_only)


def per_fraction_synthetic(cfg: IdgConfig) -> bool:
    """Whether the synthetic set depends on the real subset (copy-paste) rather than being one per study."""
    return cfg.generate.generator == "copy_paste"


def generator_run(cfg: IdgConfig, run_dir: Path, generator: str) -> RunLayout:
    """Where ``generator``'s sets and synthetic-arm trainings live: the run dir itself, or its
    ``generators/<generator>/`` in a study comparing generators."""
    run = RunLayout(Path(run_dir))
    return run.generator(generator) if cfg.compares_generators else run


def synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    """The synthetic data.yaml that the synthetic arms of ``(fraction, seed)`` train on (``run_dir``: the
    generator's own part of the run, see :func:`generator_run`)."""
    run = RunLayout(Path(run_dir))
    if per_fraction_synthetic(cfg):
        return run.copy_paste_set(fraction, seed).dataset().data_yaml
    return run.dataset().data_yaml


def existing_synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    path = synthetic_yaml(cfg, run_dir, fraction, seed)
    if not path.is_file():
        raise DataError(f"{path}: no synthetic dataset; run the generate stage first (stages=[generate,...]) or "
                        f"point hydra.run.dir at the run that generated it")
    return path


def check_synthetic_sets(cfg: IdgConfig, run_dir: Path) -> None:
    """The synthetic sets the study's arms train on exist (a start-up check when generate is not a stage)."""
    if any(a != "real_only" for a in cfg.study.arms):
        for g in cfg.generators:
            root = generator_run(cfg, run_dir, g).root
            for seed in cfg.study.seeds:
                for fraction in cfg.study.fractions:
                    existing_synthetic_yaml(cfg.for_generator(g), root, fraction, seed)


def syn_only_fraction(cfg: IdgConfig, fraction: float) -> float:
    return fraction if per_fraction_synthetic(cfg) else 0.0


def reuse_candidates(cfg: IdgConfig, arm: str, fraction: float, seed: int, generator: Optional[str]) -> List[Path]:
    """Where a training of ``study.reuse``'s run dirs may be (its key decides whether it is the same one): the
    run dir's own ``detect/``, and for a synthetic arm also that generator's part of a comparing study."""
    out = []
    for d in cfg.study.reuse:
        run = RunLayout(Path(d).expanduser())
        out.append(run.training(arm, fraction, seed))
        if generator is not None:
            out.append(run.generator(generator).training(arm, fraction, seed))
    return out


# ------------------------------------------------------------------------------------ training


def train_arms(
    cfg: IdgConfig,
    run_dir: Path,
    real: Optional[PreparedReal],
    on_epoch: Optional[EpochCallback] = None,
) -> List[Trained]:
    """Train every arm x fraction x seed (x generator) of ``cfg.study`` that is not already done."""
    det, study = cfg.detector, cfg.study
    run = RunLayout(Path(run_dir))
    arms = list(study.arms)
    if any(a != "syn_only" for a in arms) and real is None:
        raise DataError("the study needs real data: pass real.data=<data.yaml>")
    base_key = model_key(det.model)

    def fit(arm: str, generator: Optional[str], init: str, init_key: str, data: Path, fraction: float, seed: int,
            epochs: int) -> Trained:
        where = generator_run(cfg, run_dir, generator) if generator is not None else run
        save_dir = where.training(arm, fraction, seed)
        key = training_key(init_key, data, epochs, seed, det)
        tag = f"{arm}/{save_dir.name}" if generator is None or not cfg.compares_generators else f"{generator}/{arm}/{save_dir.name}"
        r = detect.train(init, data, save_dir.parent, save_dir.name, epochs, det, seed, tag=tag, on_epoch=on_epoch,
                         key=key, overwrite=cfg.overwrite, reuse=reuse_candidates(cfg, arm, fraction, seed, generator))
        return Trained(arm, fraction, seed, r.weights, r.save_dir, key, generator)

    check_synthetic_sets(cfg, run_dir)  # every synthetic set exists before the first training starts

    out: List[Trained] = []
    for seed in study.seeds:
        syn: Dict[tuple, Trained] = {}
        for fraction in study.fractions:
            synthetic = {g: existing_synthetic_yaml(cfg.for_generator(g), generator_run(cfg, run_dir, g).root, fraction,
                                                    seed) for g in cfg.generators if set(arms) - {"real_only"}}
            for g in cfg.generators:  # per fraction: syn_only, syn_then_real, real_only, mixed
                sf = syn_only_fraction(cfg.for_generator(g), fraction)
                if ("syn_only" in arms or "syn_then_real" in arms) and (g, sf) not in syn:
                    syn[(g, sf)] = fit("syn_only", g, det.model, base_key, synthetic[g], sf, seed, det.epochs)
                    if "syn_only" in arms:
                        out.append(syn[(g, sf)])
                if "syn_then_real" in arms:
                    s = syn[(g, sf)]
                    out.append(fit("syn_then_real", g, str(s.weights), s.key, real.data_yaml(fraction, seed), fraction,
                                   seed, det.finetune_epochs))
            if "real_only" in arms:  # one baseline for every generator
                out.append(fit("real_only", None, det.model, base_key, real.data_yaml(fraction, seed), fraction, seed,
                               det.finetune_epochs))
            if "mixed" in arms:
                for g in cfg.generators:
                    syn_train = synthetic[g].parent / "images" / "train"
                    data = real.data_yaml(fraction, seed, extra_train=[syn_train],
                                          tag=f"mixed_{g}" if cfg.compares_generators else "mixed")
                    out.append(fit("mixed", g, det.model, base_key, data, fraction, seed, det.finetune_epochs))
    return out


def find_trained(cfg: IdgConfig, run_dir: Path) -> List[Trained]:
    """The trainings of ``cfg.study`` already on disk (for ``stages=[evaluate]``)."""
    found, missing = [], []
    wanted = []
    for seed in cfg.study.seeds:
        for arm in cfg.study.arms:
            for g in ([None] if arm == "real_only" else cfg.generators):
                fractions = cfg.study.fractions
                if arm == "syn_only":
                    fractions = sorted({syn_only_fraction(cfg.for_generator(g), f) for f in fractions})
                where = RunLayout(Path(run_dir)) if g is None else generator_run(cfg, run_dir, g)
                wanted += [(arm, f, seed, g, where.training(arm, f, seed)) for f in fractions]
    for arm, fraction, seed, g, save_dir in wanted:
        done = save_dir / "done.json"
        if done.is_file():
            info = json.loads(done.read_text())
            found.append(Trained(arm, fraction, seed, Path(info["weights"]), save_dir, info.get("key"), g))
        else:
            missing.append(str(save_dir))
    if missing:
        raise DataError(f"evaluate: {len(missing)} training(s) not found, e.g. {missing[0]}; run the train stage first")
    return found


def evaluate_arms(cfg: IdgConfig, trained: Sequence[Trained], real: PreparedReal) -> List[dict]:
    """One row per training: its mAPs on the real val split (Ultralytics' validator, ``last.pt``)."""
    val_key = data_key(real.val_yaml, splits=("val",))
    rows = []
    for t in trained:
        key = content_hash({"weights": t.key or str(t.weights), "val": val_key, "imgsz": cfg.detector.imgsz})
        m = detect.evaluate(t.weights, real.val_yaml, t.save_dir, "eval_real", cfg.detector, key=key, overwrite=cfg.overwrite,
                     reuse=cfg.resume)
        rows.append({"arm": t.arm, "generator": t.generator, "fraction": t.fraction, "seed": t.seed, **m,
                     "weights": str(t.weights)})
        log.info("%-14s %-10s f=%-5g s=%d  mAP50=%.4f  mAP50-95=%.4f", t.arm, t.generator or "-", t.fraction, t.seed,
                 m["map50"], m["map50_95"])
    return rows


def trained_as_dict(t: Trained) -> dict:
    d = asdict(t)
    d["weights"], d["save_dir"] = str(t.weights), str(t.save_dir)
    return d
