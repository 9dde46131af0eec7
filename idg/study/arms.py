"""The usefulness study: detector arms x real fractions x seeds, evaluated on the real val split.

Arms (each a separate Ultralytics training from ``detector.model``, same architecture and image size):

- ``syn_only``: ``detector.epochs`` on the synthetic set; zero-shot on real val
- ``syn_then_real``: ``syn_only``'s weights fine-tuned ``detector.finetune_epochs`` on the real subset
- ``real_only``: ``detector.finetune_epochs`` on the real subset alone (the baseline)
- ``mixed``: ``detector.finetune_epochs`` on synthetic + real subset together

The diffusion and autolabel generators make one synthetic set for the whole study, so ``syn_only`` is
trained once per seed and reported at real fraction 0 (it sees no real image). A set that takes anything
from the real subset of each (fraction, seed) (copy-paste objects, real backgrounds, a fitted box prior:
:mod:`idg.generate.sets`) is made, and its ``syn_only`` trained, per (fraction, seed), reported at that
fraction.

A study comparing generators (``study.generators``) trains the synthetic arms once per generator, each on
its own set(s) under ``generators/<generator>/`` (laid out like a single-generator run dir), and
``real_only`` once for all of them: every row carries its ``generator`` (None for ``real_only``, which uses
none).

Trainings live in ``<run dir>/detect/<arm>/f<fraction>_s<seed>/`` (a compared generator's synthetic arms in
``generators/<generator>/detect/...``) and are skipped when done with the same data and settings (a key in
``done.json``), so an interrupted study resumes at the next unfinished arm. Results: ``results.csv``,
``results.json`` (rows and per generator x arm x fraction x split summaries with 95% confidence intervals
and seed-paired differences vs ``real_only``), ``results.md`` and ``results.png``.
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
from idg.core.layout import RunLayout, tag
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
    generator: Optional[str] = None  # the generator of its synthetic data (None: real_only)


def per_fraction_synthetic(cfg: IdgConfig) -> bool:
    """Whether the synthetic set depends on the real subset (copy-paste objects, real backgrounds, a fitted
    box prior) rather than being one per study."""
    return subset_dependent(cfg)


def generator_run(cfg: IdgConfig, run_dir: Path, generator: str) -> RunLayout:
    """Where ``generator``'s sets and synthetic-arm trainings live: the run dir itself, or its
    ``generators/<generator>/`` in a study comparing generators."""
    run = RunLayout(Path(run_dir))
    return run.generator(generator) if cfg.compares_generators else run


def synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    """The synthetic data.yaml that the synthetic arms of ``(fraction, seed)`` train on (``run_dir``: the
    generator's own part of the run, see :func:`generator_run`)."""
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


@dataclass(frozen=True)
class Planned:
    """One training of the study's plan: an arm (of a generator; None for real_only) at a real fraction and
    seed, for ``epochs`` epochs."""

    arm: str
    fraction: float
    seed: int
    epochs: int
    generator: Optional[str] = None


def training_plan(cfg: IdgConfig) -> List[Planned]:
    """Every training of ``cfg.study``, in the order they run: per seed and fraction, for each generator
    ``syn_only`` (once per synthetic set, also when only ``syn_then_real`` needs it) and ``syn_then_real``,
    then ``real_only`` (one for every generator), then ``mixed`` per generator."""
    det, arms = cfg.detector, cfg.study.arms
    plan: List[Planned] = []
    for seed in cfg.study.seeds:
        synthetic: set = set()
        for fraction in cfg.study.fractions:
            for g in cfg.generators:
                sf = syn_only_fraction(cfg.for_generator(g), fraction)
                if ("syn_only" in arms or "syn_then_real" in arms) and (g, sf) not in synthetic:
                    synthetic.add((g, sf))
                    plan.append(Planned("syn_only", sf, seed, det.epochs, g))
                if "syn_then_real" in arms:
                    plan.append(Planned("syn_then_real", fraction, seed, det.finetune_epochs, g))
            if "real_only" in arms:
                plan.append(Planned("real_only", fraction, seed, det.finetune_epochs))
            if "mixed" in arms:
                plan += [Planned("mixed", fraction, seed, det.finetune_epochs, g) for g in cfg.generators]
    return plan


def training_tag(cfg: IdgConfig, p: Planned) -> str:
    """A training's name in logs and W&B: ``<arm>/f<fraction>_s<seed>``, with ``<generator>/`` in front for a
    synthetic arm of a study comparing generators."""
    name = f"{p.arm}/{tag(p.fraction, p.seed)}"
    return f"{p.generator}/{name}" if cfg.compares_generators and p.generator else name


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
    generator: Optional[str] = None  # of a synthetic arm in a study comparing generators
    tag: str = ""  # the training's name (:func:`training_tag`), as in its epoch events


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
        name = training_tag(cfg, p)
        step = TrainingStep(n, len(plan), p.arm, p.fraction, p.seed, p.epochs, sum(q.epochs for q in plan[n - 1:]),
                            "started", generator=p.generator if cfg.compares_generators else None, tag=name)
        where = run if p.generator is None else generator_run(cfg, run_dir, p.generator)
        save_dir = where.training(p.arm, p.fraction, p.seed)
        key = training_key(init_key, data, p.epochs, p.seed, det)
        t0 = time.perf_counter()
        r = detect.train(init, data, save_dir.parent, save_dir.name, p.epochs, det, p.seed, tag=name,
                         on_epoch=on_epoch, key=key, overwrite=cfg.overwrite, on_start=lambda: tell(step),
                         reuse=reuse_candidates(cfg, p.arm, p.fraction, p.seed, p.generator))
        tell(replace(step, status="skipped" if r.skipped else "done", seconds=time.perf_counter() - t0))
        return Trained(p.arm, p.fraction, p.seed, r.weights, r.save_dir, key, p.generator)

    def synthetic_set(p: Planned) -> Path:
        return existing_synthetic_yaml(cfg.for_generator(p.generator), generator_run(cfg, run_dir, p.generator).root,
                                       p.fraction, p.seed)

    out: List[Trained] = []
    synthetic: Dict[tuple, Trained] = {}  # (generator, fraction, seed) -> the syn_only training of that set
    for n, p in enumerate(plan, 1):
        if p.arm == "syn_only":
            t = synthetic[(p.generator, p.fraction, p.seed)] = fit(n, p, det.model, base_key, synthetic_set(p))
            if "syn_only" in study.arms:
                out.append(t)
        elif p.arm == "syn_then_real":
            s = synthetic[(p.generator, syn_only_fraction(cfg.for_generator(p.generator), p.fraction), p.seed)]
            out.append(fit(n, p, str(s.weights), s.key, real.data_yaml(p.fraction, p.seed)))
        elif p.arm == "real_only":
            out.append(fit(n, p, det.model, base_key, real.data_yaml(p.fraction, p.seed)))
        else:  # mixed
            syn_train = synthetic_set(p).parent / "images" / "train"
            data = real.data_yaml(p.fraction, p.seed, extra_train=[syn_train],
                                  tag=f"mixed_{p.generator}" if cfg.compares_generators else "mixed")
            out.append(fit(n, p, det.model, base_key, data))
    return out


def find_trained(cfg: IdgConfig, run_dir: Path) -> List[Trained]:
    """The trainings of ``cfg.study`` already on disk (for ``stages=[evaluate]``)."""
    found, missing, wanted = [], [], []
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
            rows.append({"arm": t.arm, "generator": t.generator, "fraction": t.fraction, "seed": t.seed, "split": split,
                         **per_class_columns(m), "weights": str(t.weights),
                         "image_stats": str(t.save_dir / eval_dir(split) / "image_stats.npz")})
            log.info("%-14s %-10s f=%-5g s=%d %-4s mAP50=%.4f  mAP50-95=%.4f", t.arm, t.generator or "-", t.fraction,
                     t.seed, split, m["map50"], m["map50_95"])
    return rows


def trained_as_dict(t: Trained) -> dict:
    d = asdict(t)
    d["weights"], d["save_dir"] = str(t.weights), str(t.save_dir)
    return d
