"""The study, stage by stage: check inputs -> generate -> export -> shortcut set -> train -> evaluate -> report.

:func:`run_study` is the whole study in one page: each stage is a function below, called by name, over a
typed config and the run dir's :class:`~idg.core.layout.RunLayout`. What each stage needs and writes is the
stage table (:mod:`idg.core.stages`). Every input check (config ranges, sampler feasibility, real dataset,
model paths, run dir) runs in :func:`check_inputs` before any model loads, so a typo costs a second, not a
GPU hour. Stages emit events (:mod:`idg.core.events`); W&B listens (:mod:`idg.report.wandb_log`).

A study comparing generators (``study.generators``) runs each generation stage once per generator into
``generators/<name>/`` and trains and evaluates them together, with one real_only baseline.

Heavy modules (torch, diffusers, Ultralytics) are imported inside the stages, after the checks.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig

from idg.core.atomic import remove_temp_files
from idg.core.config import IdgConfig, to_config
from idg.core.events import Events
from idg.core.layout import RunLayout
from idg.core.rundir import check_previous_run, check_run_dir, clear_previous_outputs
from idg.core.stages import needs_real
from idg.data.real import RealDataset, load_real
from idg.data.subsets import PreparedReal, prepare_real
from idg.generate.sampling import check_feasible
from idg.report.run_files import RunManifest, write_config, write_metrics
from idg.report.wandb_log import WandbLogger
from idg.report.wandb_media import run_name, wandb_config

log = logging.getLogger(__name__)


def load_config(cfg: DictConfig) -> IdgConfig:
    """A composed config, validated into the typed schema (the prototype's CSVs read in, when named)."""
    from idg.data.csv_import import apply_csv_dataset

    return to_config(cfg, preprocess=[apply_csv_dataset])


def run_study(cfg: IdgConfig, config: Dict[str, Any], run_dir: str | Path, group: Optional[str] = None,
              sweep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Run the stages of ``cfg.stages`` into ``run_dir``; returns the metrics also written to metrics.json.

    ``config`` is the resolved config as written to config.yaml; ``sweep`` (a ``--multirun`` job:
    :func:`idg.core.overrides.sweep_info`) goes into the W&B config only."""
    run = RunLayout(Path(run_dir).resolve())
    if cfg.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    real = check_inputs(cfg, run.root)
    clear_previous_outputs(cfg, run.root)
    swept = remove_temp_files(run.root)  # of writes a kill interrupted (results, metrics, weights records)
    if swept:
        log.info("removed %d temp file(s) of interrupted writes in %s", swept, run.root)
    write_config(run.root, config)
    record = RunManifest(run.root)
    events = Events([WandbLogger(cfg.logger, run.root, wandb_config(config, sweep),
                                 name=run_name(cfg.dataset.name, run.root, sweep), group=group, offline=cfg.offline)])
    metrics: Dict[str, Any] = {}
    try:
        # The real set first: the copy-paste generator cuts its objects from its train subsets.
        prepared = prepare_real(real, run.real) if real is not None else None
        if "generate" in cfg.stages:
            record.stage("generate", "running")
            sets = generate(cfg, run, prepared)
            exported = export(cfg, sets)
            shortcut_set(cfg, run, sets)
            metrics.update(report_generation(cfg, run, sets, exported, record, events))
        if "train" in cfg.stages:
            train(cfg, run, prepared, record, events)
        if "evaluate" in cfg.stages:
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


# ------------------------------------------------------------------------------------ start-up checks


def check_inputs(cfg: IdgConfig, run_dir: Path) -> Optional[RealDataset]:
    """All start-up checks; returns the validated real dataset when the study needs one."""
    from idg.models.detector import check_detector_model, configure_ultralytics
    from idg.models.checkpoints import check_models

    check_feasible(cfg)
    real = load_real(cfg.real, cfg.class_names) if needs_real(cfg) else None
    if "generate" in cfg.stages and "copy_paste" in cfg.generators:
        from idg.generate.copy_paste import check_sources

        check_sources(real)
    diffusion_generate = "generate" in cfg.stages and "diffusion" in cfg.generators
    if "generate" in cfg.stages:
        check_models(cfg.model, cfg.inpaint_model if diffusion_generate else None, cfg.offline, cfg.inpaint.steps)
    if "train" in cfg.stages or "evaluate" in cfg.stages or (diffusion_generate and cfg.verify.name == "detector"):
        configure_ultralytics(Path(cfg.generate.cache_dir) / "ultralytics", cfg.offline)
    if "train" in cfg.stages:
        check_detector_model(cfg.detector.model, cfg.offline)
    if diffusion_generate:
        from idg.generate.verify import check_verifier

        check_verifier(cfg.verify, cfg.offline)
    if "generate" in cfg.stages and "autolabel" in cfg.generators:
        from idg.models.labelers import check_labeler_model

        lab = cfg.labeler
        check_labeler_model(lab.name, lab.model, "labeler.model", cfg.offline, lab.build_tiny, lab.revision)
    check_run_dir(run_dir)
    check_previous_run(cfg, run_dir)
    # Stages that continue an earlier run need its outputs: a wrong hydra.run.dir fails here, not after setup.
    if "train" in cfg.stages and "generate" not in cfg.stages:
        from idg.study.arms import check_synthetic_sets

        check_synthetic_sets(cfg, run_dir)
    if "evaluate" in cfg.stages and "train" not in cfg.stages:
        from idg.study.arms import find_trained

        find_trained(cfg, run_dir)
    return real


# ------------------------------------------------------------------------------------ the stages


def generate(cfg: IdgConfig, run: RunLayout, prepared: Optional[PreparedReal]) -> Dict[str, list]:
    """Each generator's synthetic set(s); returns their GenerationResults by generator.

    One generator writes into the run dir (``dataset/``; copy-paste: one set per (fraction, seed) under
    ``copy_paste/``); a study comparing generators writes each into ``generators/<generator>/`` the same way,
    loading the diffusion model at most once for all of them."""
    from idg.generate.engine import shared_pipelines

    if not cfg.compares_generators:
        return {cfg.generate.generator: generate_sets(cfg, run, prepared)}
    pipes = shared_pipelines(cfg)
    return {g: generate_sets(cfg.for_generator(g), run.generator(g), prepared, pipes) for g in cfg.generators}


def generate_sets(cfg: IdgConfig, run: RunLayout, prepared: Optional[PreparedReal], pipes=None) -> list:
    """The set(s) of ``cfg.generate.generator`` into ``run``."""
    from idg.generate.engine import run_generation

    if cfg.generate.generator == "copy_paste":
        from idg.generate.copy_paste import generate_copy_paste_sets

        return generate_copy_paste_sets(cfg, prepared, run.root, pipes)
    if cfg.generate.generator == "autolabel":
        from idg.generate.autolabel import autolabel_engine

        return [run_generation(cfg, run.root, pipes_factory=pipes, engine_factory=autolabel_engine)]
    return [run_generation(cfg, run.root, pipes_factory=pipes)]


def export(cfg: IdgConfig, sets: Dict[str, list]) -> bool:
    """The index files of each complete set: YOLO data.yaml, COCO annotations.json, sorted manifest,
    generation.json. Returns whether every set is complete."""
    from idg.generate.engine import export as export_set

    return all([export_set(result, cfg.class_names) for results in sets.values() for result in results])


def shortcut_set(cfg: IdgConfig, run: RunLayout, sets: Dict[str, list]) -> List[Path]:
    """The held-out null-prompt images of the seam-shortcut rate (diffusion, unsharded, complete runs), made
    with the generation's own background source and painter."""
    if "diffusion" not in sets or cfg.generate.num_shards != 1 or not sets["diffusion"][0].complete:
        return []
    from idg.generate.shortcut import generate_shortcut

    result = sets["diffusion"][0]
    where = run.generator("diffusion") if cfg.compares_generators else run
    made = generate_shortcut(cfg.for_generator("diffusion"), where.root, result.engine.source, result.engine.painter)
    return [made] if made is not None else []


def generation_metrics(results: list, prefix: str = "") -> Dict[str, Any]:
    """Generation stats (summed over the sets) and quality KPIs of one generator's sets, keys
    ``generate/<prefix>...`` and ``quality/<prefix>...``."""
    from idg.generate.quality import quality_metrics

    stats: Dict[str, Any] = {}
    for r in results:
        for k, v in r.stats.as_dict().items():
            stats[k] = stats.get(k, 0) + v
    stats["images_per_second"] = round(stats["images"] / stats["seconds"], 4) if stats["seconds"] > 0 else 0.0
    records = [rec for r in results for rec in r.records]
    metrics = {f"generate/{prefix}{k}": v for k, v in stats.items()}
    metrics[f"generate/{prefix}total_images"] = len(records)
    metrics[f"generate/{prefix}total_objects"] = sum(len(rec["objects"]) for rec in records)
    metrics.update({k.replace("quality/", f"quality/{prefix}", 1): v for k, v in quality_metrics(records).items()})
    return metrics


def report_generation(cfg: IdgConfig, run: RunLayout, sets: Dict[str, list], complete: bool, record: RunManifest,
                      events: Events) -> Dict[str, Any]:
    """Generation stats and quality KPIs (metrics.json; a study comparing generators prefixes each
    generator's with its name), the sample grid(s), and the generation events (of the first generator)."""
    from idg.report.samples import write_sample_grid

    metrics: Dict[str, Any] = {}
    for g, results in sets.items():
        prefix = f"{g}/" if cfg.compares_generators else ""
        metrics.update(generation_metrics(results, prefix))
        first = results[0]
        if first.records:
            where = run.generator(g) if cfg.compares_generators else run
            write_sample_grid(where.samples, first.layout.root, first.records, cfg.logger.num_samples or 16)
    stage = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("generate/")}
    record.stage("generate", "complete" if complete else "partial", sets=sum(len(r) for r in sets.values()), **stage)
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
    trained = train_arms(cfg, run.root, prepared, on_epoch=events.epoch)
    record.stage("train", "complete", seconds=round(time.perf_counter() - t0, 1), trainings=len(trained))
    if "evaluate" not in cfg.stages:  # else the models are logged with their real-val metrics
        events.emit("models", [trained_as_dict(t) for t in trained], cfg.dataset.name, run.dataset_dir)
    return trained


def evaluate(cfg: IdgConfig, run: RunLayout, prepared: PreparedReal, record: RunManifest,
             events: Events) -> Dict[str, Any]:
    """Every training on the real val split, the results files, and the seam-shortcut rates."""
    from idg.report.results import write_results
    from idg.study.arms import evaluate_arms, find_trained
    from idg.study.shortcut_rate import shortcut_metrics
    from idg.study.stats import flat_metrics, main_metric

    record.stage("evaluate", "running")
    trained = find_trained(cfg, run.root)
    rows = evaluate_arms(cfg, trained, prepared)
    summary = write_results(run.root, rows, cfg.study.metric, overwrite=cfg.overwrite)
    metrics = flat_metrics(summary, by_generator=cfg.compares_generators)
    metrics["main_metric"] = main_metric(summary, cfg.study.metric, cfg.generators[0] if cfg.compares_generators else None)
    metrics.update(shortcut_metrics(cfg, run.root, trained))
    metrics["main_metric_name"] = cfg.study.metric
    record.stage("evaluate", "complete", rows=len(rows))
    events.emit("table", "eval/results", [{k: v for k, v in r.items() if k != "weights"} for r in rows])
    events.emit("models", rows, cfg.dataset.name, run.dataset_dir)
    events.metrics(metrics)
    return metrics
