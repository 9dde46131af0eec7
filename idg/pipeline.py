"""The whole study as plain functions: check inputs -> generate -> train arms -> evaluate -> report.

Every input check (config ranges, sampler feasibility, real dataset, model paths, run dir) runs in
:func:`check_inputs` before any model loads, so a typo costs a second, not a GPU hour.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from idg.atomic import remove_temp_files
from idg.config import IdgConfig
from idg.errors import RunDirError
from idg.real import RealDataset, load_real, prepare_real
from idg.report import RunManifest, write_config, write_metrics, write_sample_grid
from idg.sampling import check_feasible
from idg.wandb_log import WandbLogger, run_name, wandb_config

log = logging.getLogger(__name__)


def needs_real(cfg: IdgConfig) -> bool:
    return (
        "evaluate" in cfg.stages
        or ("train" in cfg.stages and any(a != "syn_only" for a in cfg.study.arms))
        or ("generate" in cfg.stages and cfg.generate.generator == "copy_paste")
    )


def check_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".idg_write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(f"run dir {run_dir} is not writable ({exc.strerror or exc}); set hydra.run.dir to a writable path") from None


# What each stage writes into the run dir (resume=false refuses to touch them without overwrite=true).
STAGE_OUTPUTS = {
    "generate": ("dataset", "copy_paste", "samples.png"),
    "train": ("detect",),
    "evaluate": ("results.csv", "results.json", "results.md", "results.png"),
}


def previous_outputs(cfg: IdgConfig, run_dir: Path) -> List[Path]:
    """Outputs of this run's stages that an earlier run left in ``run_dir``."""
    return [run_dir / name for stage in cfg.stages for name in STAGE_OUTPUTS[stage] if (run_dir / name).exists()]


def check_previous_run(cfg: IdgConfig, run_dir: Path) -> None:
    """``resume=false`` promises a fresh start: earlier outputs of the selected stages are an error unless
    ``overwrite=true`` (then :func:`clear_previous_outputs` deletes them once every check has passed). With
    ``resume=true`` each output is reused only when it was made from the same inputs (generation fingerprint,
    training and evaluation keys); one made from other inputs is an error unless ``overwrite=true``."""
    if cfg.resume or cfg.overwrite:
        return
    found = previous_outputs(cfg, run_dir)
    if found:
        raise RunDirError(
            f"{run_dir} already holds outputs of stages={list(cfg.stages)} ({', '.join(p.name for p in found)}) and "
            f"resume=false; pass overwrite=true to delete and redo them, resume=true to continue that run, or choose "
            f"another hydra.run.dir"
        )


def clear_previous_outputs(cfg: IdgConfig, run_dir: Path) -> None:
    """``resume=false overwrite=true``: delete the selected stages' earlier outputs."""
    if cfg.resume or not cfg.overwrite:
        return
    for path in previous_outputs(cfg, run_dir):
        log.warning("resume=false overwrite=true: deleting %s", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def check_inputs(cfg: IdgConfig, run_dir: Path) -> Optional[RealDataset]:
    """All start-up checks; returns the validated real dataset when the study needs one."""
    from idg.detect import check_detector_model, configure_ultralytics
    from idg.models import check_model_available

    check_feasible(cfg)
    real = load_real(cfg.real, cfg.class_names) if needs_real(cfg) else None
    if "generate" in cfg.stages and cfg.generate.generator == "copy_paste":
        from idg.copy_paste import check_sources

        check_sources(real)
    if "generate" in cfg.stages:
        check_model_available(cfg.model, cfg.offline)
    diffusion_generate = "generate" in cfg.stages and cfg.generate.generator == "diffusion"
    if "train" in cfg.stages or "evaluate" in cfg.stages or (diffusion_generate and cfg.verify.name == "detector"):
        configure_ultralytics(Path(cfg.generate.cache_dir) / "ultralytics", cfg.offline)
    if "train" in cfg.stages:
        check_detector_model(cfg.detector.model, cfg.offline)
    if diffusion_generate:
        from idg.verify import check_verifier

        check_verifier(cfg.verify, cfg.offline)
    check_run_dir(run_dir)
    check_previous_run(cfg, run_dir)
    # Stages that continue an earlier run need its outputs: a wrong hydra.run.dir fails here, not after setup.
    if "train" in cfg.stages and "generate" not in cfg.stages:
        from idg.study import check_synthetic_sets

        check_synthetic_sets(cfg, run_dir)
    if "evaluate" in cfg.stages and "train" not in cfg.stages:
        from idg.study import find_trained

        find_trained(cfg, run_dir)
    return real


def run_study(cfg: IdgConfig, config: Dict[str, Any], run_dir: str | Path, group: Optional[str] = None,
              sweep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Run the stages of ``cfg.stages`` into ``run_dir``; returns the metrics also written to metrics.json.

    ``sweep`` (a ``--multirun`` job: :func:`idg.overrides.sweep_info`) goes into the W&B config only."""
    run_dir = Path(run_dir).resolve()
    if cfg.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    real = check_inputs(cfg, run_dir)
    clear_previous_outputs(cfg, run_dir)
    swept = remove_temp_files(run_dir)  # of writes a kill interrupted (results, metrics, weights records)
    if swept:
        log.info("removed %d temp file(s) of interrupted writes in %s", swept, run_dir)
    write_config(run_dir, config)
    manifest = RunManifest(run_dir)
    logger = WandbLogger(cfg.logger, run_dir, wandb_config(config, sweep), name=run_name(cfg.dataset.name, run_dir, sweep),
                         group=group, offline=cfg.offline)
    metrics: Dict[str, Any] = {}
    try:
        # The real set first: the copy-paste generator cuts its objects from its train subsets.
        prepared = prepare_real(real, run_dir / "real") if real is not None else None
        if "generate" in cfg.stages:
            metrics.update(_generate(cfg, run_dir, manifest, logger, prepared))
        if "train" in cfg.stages:
            from idg.study import train_arms

            t0 = time.perf_counter()
            manifest.stage("train", "running")
            trained = train_arms(cfg, run_dir, prepared, on_epoch=logger.log_epoch)
            manifest.stage("train", "complete", seconds=round(time.perf_counter() - t0, 1), trainings=len(trained))
            if "evaluate" not in cfg.stages:  # else the models are logged with their real-val metrics
                from idg.study import trained_as_dict

                logger.log_models([trained_as_dict(t) for t in trained], cfg.dataset.name, run_dir / "dataset")
        if "evaluate" in cfg.stages:
            metrics.update(_evaluate(cfg, run_dir, prepared, manifest, logger))
        write_metrics(run_dir, metrics)
        logger.summary(metrics)
        manifest.finish("complete")
        logger.finish(0)
        return metrics
    except BaseException as exc:
        manifest.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        logger.finish(1)
        raise


def _generate(cfg: IdgConfig, run_dir: Path, manifest: RunManifest, logger: WandbLogger, prepared) -> Dict[str, Any]:
    from idg.generate import run_generation

    manifest.stage("generate", "running")
    if cfg.generate.generator == "copy_paste":
        from idg.copy_paste import generate_copy_paste_sets

        results = generate_copy_paste_sets(cfg, prepared, run_dir)  # one set per (fraction, seed)
    else:
        results = [run_generation(cfg, run_dir)]
    stats: Dict[str, Any] = {}
    for r in results:  # summed over the sets
        for k, v in r.stats.as_dict().items():
            stats[k] = stats.get(k, 0) + v
    stats["images_per_second"] = round(stats["images"] / stats["seconds"], 4) if stats["seconds"] > 0 else 0.0
    result = results[0]
    complete = all(r.complete for r in results)
    manifest.stage("generate", "complete" if complete else "partial", sets=len(results), **stats)
    metrics = {f"generate/{k}": v for k, v in stats.items()}
    metrics["generate/total_images"] = sum(len(r.records) for r in results)
    metrics["generate/total_objects"] = sum(len(rec["objects"]) for r in results for rec in r.records)
    from idg.quality import quality_metrics

    metrics.update(quality_metrics([rec for r in results for rec in r.records]))
    write_metrics(run_dir, metrics)
    if result.records:
        write_sample_grid(run_dir, result.layout.root, result.records, cfg.class_names, cfg.logger.num_samples or 16)
        logger.log_generation(result.layout.root, result.records, cfg.class_names,
                              cfg.generate.cache_dir if cfg.generate.use_cache else None, cfg.dataset.name, result.complete)
    logger.log(metrics)
    return metrics


def _evaluate(cfg: IdgConfig, run_dir: Path, prepared, manifest: RunManifest, logger: WandbLogger) -> Dict[str, Any]:
    from idg.study import evaluate_arms, find_trained, flat_metrics, main_metric, write_results

    manifest.stage("evaluate", "running")
    trained = find_trained(cfg, run_dir)
    rows = evaluate_arms(cfg, trained, prepared)
    summary = write_results(run_dir, rows, cfg.study.metric, overwrite=cfg.overwrite)
    metrics = flat_metrics(summary)
    metrics["main_metric"] = main_metric(summary, cfg.study.metric)
    from idg.shortcut import shortcut_metrics

    metrics.update(shortcut_metrics(cfg, run_dir, trained))
    metrics["main_metric_name"] = cfg.study.metric
    manifest.stage("evaluate", "complete", rows=len(rows))
    logger.log_table("eval/results", [{k: v for k, v in r.items() if k != "weights"} for r in rows])
    logger.log_models(rows, cfg.dataset.name, run_dir / "dataset")
    logger.log(metrics)
    return metrics
