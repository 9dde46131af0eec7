"""The study, stage by stage: check inputs -> generate -> export -> shortcut set -> train -> evaluate -> report.

:func:`run_study` is the whole study in one page: each stage is a function below, called by name, over a
typed config and the run dir's :class:`~idg.core.layout.RunLayout`. What each stage needs and writes is the
stage table (:mod:`idg.core.stages`). Every input check (config ranges, sampler feasibility, real dataset,
model paths, run dir) runs in :func:`check_inputs` before any model loads, so a typo costs a second, not a
GPU hour. Stages emit events (:mod:`idg.core.events`); the console (:mod:`idg.report.console`: one line per
stage start and end, the training counter, the closing block) and W&B (:mod:`idg.report.wandb_log`) listen.

A study comparing generators (``study.generators``) runs each generation stage once per generator into
``generators/<name>/`` and trains and evaluates them together, with one real_only baseline.

Heavy modules (torch, diffusers, Ultralytics) are imported inside the stages, after the checks.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from omegaconf import DictConfig

from idg.core.atomic import remove_temp_files
from idg.core.config import IdgConfig, to_config
from idg.core.disk import disk_full_is_a_user_error, space_warnings
from idg.core.errors import DataError
from idg.core.events import Events
from idg.core.layout import RunLayout, tag
from idg.core.lock import DirLock
from idg.core.paths import check_paths, needs_ultralytics, run_dir_key
from idg.core.rundir import check_previous_run, check_run_dir, clear_previous_outputs
from idg.core.stages import needs_real
from idg.data.photos import PhotoFile
from idg.data.real import RealDataset, load_real
from idg.data.subsets import PreparedReal, prepare_real
from idg.generate.sampling import check_feasible
from idg.report.console import Console
from idg.report.figures import configure_matplotlib
from idg.report.generation import generation_metrics, generation_summary
from idg.report.run_files import RunManifest, write_config, write_metrics
from idg.report.wandb_log import WandbLogger
from idg.report.wandb_media import run_name, wandb_config

log = logging.getLogger(__name__)


def load_config(cfg: DictConfig) -> IdgConfig:
    """A composed config, validated into the typed schema (the prototype's CSVs read in, when named)."""
    from idg.data.csv_import import apply_csv_dataset
    from idg.data.real_classes import apply_real_classes

    return to_config(cfg, preprocess=[apply_csv_dataset, apply_real_classes])


def run_study(cfg: IdgConfig, config: Dict[str, Any], run_dir: str | Path, group: Optional[str] = None,
              sweep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Run the stages of ``cfg.stages`` into ``run_dir``; returns the metrics also written to metrics.json.

    ``config`` is the resolved config as written to config.yaml; ``sweep`` (a ``--multirun`` job:
    :func:`idg.core.overrides.sweep_info`) goes into the W&B config only.

    One run writes a run dir at a time: a second one started on the same dir is refused (RunDirError naming
    the holder's pid) until the first ends. A full disk ends the study with a DiskFullError."""
    run = RunLayout(Path(run_dir).resolve())
    check_run_dir(run.root, run_dir_key(cfg))  # before the lock file goes in
    with disk_full_is_a_user_error(run.root), DirLock(run.root):
        return _run_stages(cfg, config, run, group, sweep)


def _run_stages(cfg: IdgConfig, config: Dict[str, Any], run: RunLayout, group: Optional[str],
                sweep: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if cfg.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    configure_matplotlib(Path(cfg.generate.cache_dir) / "matplotlib")  # not ~/.config, ~/.cache/matplotlib
    console = Console(run.root)
    events = Events([console])
    with stage(events, "check_inputs"):
        inputs = check_inputs(cfg, run.root)
    real = inputs.real
    clear_previous_outputs(cfg, run.root)
    swept = remove_temp_files(run.root)  # of writes a kill interrupted (results, metrics, weights records)
    if swept:
        log.info("removed %d temp file(s) of interrupted writes in %s", swept, run.root)
    write_config(run.root, config)
    record = RunManifest(run.root)
    console.wandb = WandbLogger(cfg.logger, run.root, wandb_config(config, sweep),
                                name=run_name(cfg.dataset.name, run.root, sweep), group=group, offline=cfg.offline)
    events.listeners.insert(0, console.wandb)  # W&B finishes before the console's closing block
    metrics: Dict[str, Any] = {}
    try:
        # The real set first: the copy-paste generator cuts its objects from its train subsets.
        prepared = prepare_real(real, run.real) if real is not None else None
        if prepared is not None and real_negatives(cfg):
            from idg.data.subsets import add_negatives

            add_negatives(prepared, [p.path for p in inputs.photos or []])
            log.info("study.real_negatives: %d background photos join every real training as label-free images",
                     len(prepared.negatives))
        if "generate" in cfg.stages:
            record.stage("generate", "running")
            with stage(events, "generate") as detail:
                sets = generate(cfg, run, prepared, inputs.photos)
                detail.append(generation_summary(sets))
            with stage(events, "export") as detail:
                exported = export(cfg, sets)
                detail.append("written" if exported else "not written: the set is incomplete (a shard, or interrupted)")
            with stage(events, "shortcut_set") as detail:
                detail.append(shortcut_summary(cfg, shortcut_set(cfg, run, sets)))
            with stage(events, "report_generation"):
                metrics.update(report_generation(cfg, run, sets, exported, record, events))
        if "train" in cfg.stages:
            with stage(events, "train") as detail:
                trained = train(cfg, run, prepared, record, events)
                detail.append(f"{len(trained)} training{'s' if len(trained) != 1 else ''}")
        if "evaluate" in cfg.stages:
            with stage(events, "evaluate"):
                metrics.update(evaluate(cfg, run, prepared, record, events))
        write_metrics(run.root, metrics)
        events.emit("summary", metrics)
        record.finish("complete")
        events.emit("finish", 0)
        return metrics
    except BaseException as exc:
        record.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        events.emit("finish", 1)
        raise


@contextmanager
def stage(events: Events, name: str) -> Iterator[List[str]]:
    """A stage's ``started`` and ``done`` events, with its elapsed time and the one-line summary the block
    appends to the list it gets (no ``done`` when the stage raises)."""
    detail: List[str] = []
    t0 = time.perf_counter()
    events.emit("stage", name, "started")
    yield detail
    events.emit("stage", name, "done", time.perf_counter() - t0, "; ".join(d for d in detail if d))


def shortcut_summary(cfg: IdgConfig, path: Optional[Path]) -> str:
    if path is None:
        return "not made (copy-paste generator, a shard, an incomplete set, or quality.shortcut_images=0)"
    return f"{cfg.quality.shortcut_images} null-prompt images in {path}"


# ------------------------------------------------------------------------------------ start-up checks


@dataclass
class Inputs:
    """What the start-up checks read and validated: the real dataset and the user's background photos."""

    real: Optional[RealDataset]
    photos: Optional[List[PhotoFile]] = None


def real_negatives(cfg: IdgConfig) -> bool:
    """``study.real_negatives``: on by default when the backgrounds include the user's own photos."""
    on = cfg.study.real_negatives
    return ("images" in cfg.background.sources) if on is None else bool(on) and "images" in cfg.background.sources


def check_inputs(cfg: IdgConfig, run_dir: Path) -> Inputs:
    """All start-up checks; returns the validated real dataset (when the study needs one) and photos."""
    from idg.models.detector import check_detector_model, configure_ultralytics
    from idg.models.checkpoints import check_models

    check_paths(cfg, run_dir)
    for warning in space_warnings(cfg, run_dir):
        log.warning("%s", warning)
    check_feasible(cfg)
    real = load_real(cfg.real, cfg.class_names) if needs_real(cfg) else None
    photos = None
    if "generate" in cfg.stages or real_negatives(cfg):
        photos = check_backgrounds(cfg, real)
    if "generate" in cfg.stages and "copy_paste" in cfg.generators:
        from idg.generate.copy_paste import check_sources

        check_sources(real)
    diffusion_generate = "generate" in cfg.stages and "diffusion" in cfg.generators
    if "generate" in cfg.stages and needs_diffusion(cfg):  # copy-paste onto photos loads no diffusion model
        check_models(cfg.model, cfg.inpaint_model if diffusion_generate else None, cfg.offline, cfg.inpaint.steps)
    if needs_ultralytics(cfg):
        configure_ultralytics(Path(cfg.generate.cache_dir) / "ultralytics", cfg.offline, cfg.detector.verbose)
    if "train" in cfg.stages:
        check_detector_model(cfg.detector.model, cfg.offline)
    if diffusion_generate:
        from idg.generate.verify import check_verifier

        check_verifier(cfg.verify, cfg.offline)
    if "generate" in cfg.stages and "autolabel" in cfg.generators:
        from idg.models.labelers import check_labeler_model

        lab = cfg.labeler
        check_labeler_model(lab.name, lab.model, "labeler.model", cfg.offline, lab.build_tiny, lab.revision)
    check_previous_run(cfg, run_dir)
    # Stages that continue an earlier run need its outputs: a wrong hydra.run.dir fails here, not after setup.
    if "train" in cfg.stages and "generate" not in cfg.stages:
        from idg.study.arms import check_synthetic_sets

        check_synthetic_sets(cfg, run_dir)
    if "evaluate" in cfg.stages and "train" not in cfg.stages:
        from idg.study.arms import find_trained

        find_trained(cfg, run_dir)
    return Inputs(real, photos)


def needs_diffusion(cfg: IdgConfig) -> bool:
    """Whether generating loads the diffusion model: it paints objects, or draws prompt backgrounds (or autolabel's
    whole images)."""
    return bool({"diffusion", "autolabel"} & set(cfg.generators)) or "prompts" in cfg.background.sources


def check_backgrounds(cfg: IdgConfig, real: Optional[RealDataset]) -> Optional[List[PhotoFile]]:
    """The photo sources' start-up checks: the user's photos listed, opened and fingerprinted; a real
    subset with no empty (real_empty) or labelled (real_train) image for some fraction and seed."""
    from idg.data.photos import check_photos, list_photos
    from idg.data.subsets import subset_indices

    bg = cfg.background
    photos = check_photos(list_photos(bg.images), bg.min_side) if "images" in bg.sources else None
    if real is not None and bg.uses_real:
        classes = [real.classes_in(item) for item in real.splits["train"]]
        for seed in cfg.study.seeds:
            for fraction in cfg.study.fractions:
                chosen = subset_indices(classes, fraction, seed)
                if "real_empty" in bg.sources and all(classes[i] for i in chosen):
                    raise DataError(f"background=real_empty: the real train subset at fraction {fraction:g}, seed "
                                    f"{seed} ({len(chosen)} images of {real.yaml_path}) has no image without an object "
                                    f"of the selected classes ({', '.join(real.synthetic_names)}); use a larger "
                                    f"study.fractions, background=images or background=prompts")
                if "real_train" in bg.sources and not any(classes[i] for i in chosen):
                    raise DataError(f"background=real_train: the real train subset at fraction {fraction:g}, seed "
                                    f"{seed} has no labelled image")
    return photos


# ------------------------------------------------------------------------------------ the stages


def generate(cfg: IdgConfig, run: RunLayout, prepared: Optional[PreparedReal],
             photos: Optional[List[PhotoFile]] = None) -> Dict[str, list]:
    """Each generator's GenerationResults: images and labels into ``dataset/`` (one set for the study), or one
    set per real subset (fraction, seed) under ``copy_paste/`` or ``sets/`` when the set takes objects,
    backgrounds or box layouts from the subset (:mod:`idg.generate.sets`). A study comparing generators
    writes each generator's sets the same way into ``generators/<generator>/``, loading the diffusion model
    at most once for all of them."""
    from idg.generate.engine import shared_pipelines
    from idg.generate.sets import generate_sets

    if not cfg.compares_generators:
        return {cfg.generate.generator: generate_sets(cfg, prepared, run.root, photos)}
    pipes = shared_pipelines(cfg)
    return {g: generate_sets(cfg.for_generator(g), prepared, run.generator(g).root, photos, pipes)
            for g in cfg.generators}


def export(cfg: IdgConfig, sets: Dict[str, list]) -> bool:
    """The index files of each complete set: YOLO data.yaml, COCO annotations.json, sorted manifest,
    generation.json. Returns whether every set is complete."""
    from idg.generate.engine import export as export_set

    return all([export_set(result, cfg.class_names) for results in sets.values() for result in results])


def shortcut_set(cfg: IdgConfig, run: RunLayout, sets: Dict[str, list]) -> Optional[Path]:
    """The held-out null-prompt images of the seam-shortcut rate (diffusion, unsharded, complete runs; in a
    study comparing generators, the diffusion generator's, under ``generators/diffusion/``), made with the
    generation's own background source, painter and seam limits."""
    from idg.generate.sets import subset_dependent
    from idg.generate.sources import prompt_source

    if "diffusion" not in sets or cfg.generate.num_shards != 1 or not sets["diffusion"][0].complete:
        return None
    result, diffusion = sets["diffusion"][0], cfg.for_generator("diffusion")
    source = prompt_source(result.engine.source)
    if source is None or subset_dependent(diffusion):
        log.info("seam-shortcut set skipped: it draws prompt backgrounds for one study-wide set")
        return None
    from idg.generate.shortcut import generate_shortcut

    where = run.generator("diffusion") if cfg.compares_generators else run
    return generate_shortcut(diffusion, where.root, source, result.engine.painter, result.engine.judge)


def report_generation(cfg: IdgConfig, run: RunLayout, sets: Dict[str, list], complete: bool, record: RunManifest,
                      events: Events) -> Dict[str, Any]:
    """Generation stats and quality KPIs (metrics.json; a study comparing generators prefixes each
    generator's with its name: ``generate/<generator>/...``, ``quality/<generator>/...``), the sample grid(s),
    and the generation events (of the first generator)."""
    from idg.report.samples import write_sample_grid

    metrics: Dict[str, Any] = {}
    for g, results in sets.items():
        metrics.update(generation_metrics(results, f"{g}/" if cfg.compares_generators else ""))
        first = results[0]
        if first.records:
            where = run.generator(g) if cfg.compares_generators else run
            write_sample_grid(where.samples, first.layout.root, first.records, cfg.logger.num_samples or 16)
    stats = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("generate/")}
    record.stage("generate", "complete" if complete else "partial", sets=sum(len(r) for r in sets.values()), **stats)
    write_metrics(run.root, metrics)
    first = next(iter(sets.values()))[0]
    if first.records:
        events.emit("generation", first.layout.root, first.records, cfg.class_names,
                    cfg.generate.cache_dir if cfg.generate.use_cache else None, cfg.dataset.name, first.complete)
    events.metrics(metrics)
    return metrics


def train(cfg: IdgConfig, run: RunLayout, prepared: Optional[PreparedReal], record: RunManifest,
          events: Events) -> List[Any]:
    """Every detector training of the study (arms x real fractions x seeds): synthetic only, synthetic then
    fine-tuned on real, real only, mixed; finished ones are skipped."""
    from idg.study.arms import train_arms, trained_as_dict

    t0 = time.perf_counter()
    record.stage("train", "running")
    trained = train_arms(cfg, run.root, prepared, on_epoch=events.epoch,
                         on_training=lambda step: events.emit("training", step))
    record.stage("train", "complete", seconds=round(time.perf_counter() - t0, 1), trainings=len(trained))
    if "evaluate" not in cfg.stages:  # else the models are logged with their real-val metrics
        events.emit("models", [trained_as_dict(t) for t in trained], cfg.dataset.name, run.dataset_dir)
    return trained


def evaluate(cfg: IdgConfig, run: RunLayout, prepared: PreparedReal, record: RunManifest,
             events: Events) -> Dict[str, Any]:
    """Every training on the real val split, the results files, and the seam-shortcut rates."""
    from idg.report.results import PATHS, report_split, results_series, write_results
    from idg.study.arms import eval_dir, evaluate_arms, find_trained
    from idg.study.detect import eval_plots
    from idg.study.shortcut_rate import shortcut_metrics
    from idg.study.stats import flat_metrics, main_entry, main_entry_name, main_metric

    record.stage("evaluate", "running")
    trained = find_trained(cfg, run.root)
    rows = evaluate_arms(cfg, trained, prepared)
    summary = write_results(run.root, rows, cfg.study.metric, overwrite=cfg.overwrite)
    by_generator = cfg.compares_generators
    main_generator = cfg.generators[0] if by_generator else None  # comparing: the first generator's arm
    metrics = flat_metrics(rows, summary, by_generator=by_generator)
    metrics["main_metric"] = main_metric(summary, cfg.study.metric, main_generator)
    metrics.update(shortcut_metrics(cfg, run.root, trained))
    metrics["main_metric_name"] = cfg.study.metric
    entry = main_entry(summary, main_generator)
    if entry is not None:
        metrics["main_metric_of"] = main_entry_name(entry, by_generator)
    record.stage("evaluate", "complete", rows=len(rows))
    events.emit("table", "tables/results", [{k: v for k, v in r.items() if k not in PATHS} for r in rows])
    figures = {"charts/results": run.results("png")}
    for t in trained:  # Ultralytics' PR curve and confusion matrix of each evaluation
        for split in prepared.splits:
            prefix = "eval" if split == "val" else f"eval/{split}"
            who = f"{t.generator}/{t.arm}" if by_generator and t.generator else t.arm
            figures.update({f"{prefix}/{who}/{tag(t.fraction, t.seed)}/{k}": p
                            for k, p in eval_plots(t.save_dir, eval_dir(split)).items()})
    events.emit("images", figures)
    split = report_split(summary)
    events.emit("chart", "charts/results_by_fraction", f"{cfg.study.metric} on real {split} vs real fraction",
                "real fraction", results_series(summary, cfg.study.metric))
    events.emit("models", [r for r in rows if r.get("split", "val") == "val"], cfg.dataset.name, run.dataset_dir)
    events.metrics(metrics)
    return metrics
