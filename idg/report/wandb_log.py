"""Weights & Biases as a listener: stages emit events (:mod:`idg.core.events`), this module turns them into
W&B calls (its ``on_<event>`` methods).

**One study is one W&B run** (``job_type=study``), so a run's config, metrics, media, tables and
artifacts describe one complete experiment and sweeps compare like with like; a ``--multirun`` sweep
puts its jobs in one group named after the sweep, with the swept keys and values under ``sweep`` in the
config. Inside the run every stage has its own key prefix: ``generate/``, ``samples/``, ``tables/``,
per-epoch detector metrics under the training's tag (``syn_only/f0_s0/``, ``syn_then_real/f1_s0/``,
``real_only/f1_s0/``, ``mixed/f1_s0/``), each tag plotted against its own ``<tag>/epoch`` axis, ``eval/``
in one scheme (``eval/<arm>/f<fraction>_s<seed>/<metric>`` per evaluation, with its PR curve and confusion
matrix; ``eval/<arm>/f<fraction>/mean/<metric>`` over seeds; :func:`idg.study.stats.flat_metrics`) and
``charts/`` (the results plot, and the same as a native line chart). The console is captured
(``output.log``); W&B's staging, cache and artifact dirs are inside the run dir (:data:`STAGING`).

W&B never decides the fate of a study: every call is guarded, a failure is logged once and switches
logging off. ``mode=online`` first probes the server with a short time-box; when it is unreachable (or
``wandb.init`` fails, e.g. a bad API key) the run is logged offline instead (``wandb sync`` it later).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from idg.core.config import LoggerConfig
from idg.report.wandb_media import (THUMBNAIL, artifact_name, background_path, box_sets, crop_thumbnail, object_rows,
                                    read_generation, OBJECT_COLUMNS)
from idg.report.wandb_server import base_url, server_reachable

log = logging.getLogger(__name__)

INIT_TIMEOUT = 30.0  # seconds wandb.init may take once the server answered the probe
# Where W&B stages and caches files (default under ~/.local/share and ~/.cache): inside the run's wandb/ dir,
# unless the user chose a dir. Set while the run is open, restored when it ends (one process may run a sweep).
STAGING = {"WANDB_DATA_DIR": "staging", "WANDB_CACHE_DIR": "cache", "WANDB_ARTIFACT_DIR": "artifacts"}


def guarded(method):
    """The "is W&B on" guard, written once: a no-op while no run is active, and a W&B error switches
    logging off with one warning instead of reaching the study."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if not self.active:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - W&B must never stop a study
            self._fail(exc)
            return None

    return call


# ------------------------------------------------------------------------------------ the logger


class WandbLogger:
    """Owns the study's W&B run; a listener of the study's events. Every method is safe to call when W&B is
    disabled or has failed (:func:`guarded`)."""

    def __init__(self, cfg: LoggerConfig, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str] = None,
                 offline: bool = False):
        self.cfg = cfg
        self.run = None
        self._url: Optional[str] = None
        self._axes: set = set()
        self._failed = False
        self._env: Dict[str, Optional[str]] = {}  # environment variables set for the run, and their old values
        self._dataset_ref: Optional[str] = None
        self.location: Dict[str, Optional[str]] = {}  # the run's local dir and, online, its URL (the closing block)
        mode = cfg.mode
        if mode == "disabled":
            return
        if offline and mode == "online":
            log.warning("offline=true: logging W&B offline (sync later with `wandb sync %s/wandb/offline-run-*`)", run_dir)
            mode = "offline"
        self._url = base_url() if mode == "online" else None
        if mode == "online" and not server_reachable(self._url, cfg.online_timeout):
            log.warning("W&B server %s not reachable within %gs: logging offline instead (sync later with "
                        "`wandb sync %s/wandb/offline-run-*`)", self._url, cfg.online_timeout, run_dir)
            mode = "offline"
        self._init(mode, run_dir, config, name, cfg.group or group)

    def _init(self, mode: str, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str]) -> None:
        try:
            self.run = self._wandb_init(mode, run_dir, config, name, group)
            if self.run is not None and mode != "disabled":
                self.location = {"mode": mode, "dir": str(Path(self.run.dir).parent),
                                 "url": None if mode == "offline" else getattr(self.run, "url", None)}
        except Exception as exc:  # noqa: BLE001 - W&B must never stop a study
            if mode == "online":
                log.warning("W&B online init failed (%s); logging offline instead (sync later with "
                            "`wandb sync %s/wandb/offline-run-*`)", str(exc).splitlines()[0] if str(exc) else exc, run_dir)
                self._init("offline", run_dir, config, name, group)
            else:
                self._fail(exc)

    def _stage_in(self, run_dir: Path) -> None:
        """W&B's staging, cache and artifact dirs into ``<run_dir>/wandb/`` (see :data:`STAGING`)."""
        for var, sub in STAGING.items():
            if var not in os.environ and var not in self._env:
                self._env[var] = None
                os.environ[var] = str(Path(run_dir) / "wandb" / sub)

    def _restore_env(self) -> None:
        for var, old in self._env.items():
            if old is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = old
        self._env = {}

    def _wandb_init(self, mode: str, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str]):
        os.environ.setdefault("WANDB_SILENT", "true")
        self._stage_in(run_dir)
        import wandb

        extra = {"init_timeout": INIT_TIMEOUT, "base_url": self._url} if mode == "online" else {}
        return wandb.init(
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
            # console capture: the run's output.log holds the console lines of the study
            settings=wandb.Settings(console="wrap", silent=True, **extra),
        )

    def _fail(self, exc: Exception) -> None:
        if not self._failed:
            log.warning("W&B logging failed and is switched off for this run: %s", exc)
        self._failed = True
        self.run = None

    @property
    def active(self) -> bool:
        return self.run is not None

    @property
    def offline(self) -> bool:
        return bool(self.active and getattr(self.run, "offline", False))

    @guarded
    def on_metrics(self, metrics: Dict[str, Any]) -> None:
        self.run.log(metrics)

    @guarded
    def on_epoch(self, tag: str, epoch: int, metrics: Dict[str, float]) -> None:
        """Per-epoch detector metrics under ``<tag>/``, plotted against ``<tag>/epoch``."""
        if tag not in self._axes:
            self.run.define_metric(f"{tag}/epoch")
            self.run.define_metric(f"{tag}/*", step_metric=f"{tag}/epoch")
            self._axes.add(tag)
        self.run.log({f"{tag}/epoch": epoch, **{f"{tag}/{k}": v for k, v in metrics.items()}})

    # -- generation

    def on_generation(self, root: Path, records: Sequence[dict], names: List[str], cache_dir: Optional[str],
                       dataset_name: str, complete: bool) -> None:
        """Everything W&B shows about a generated set: samples with box overlays, before/after pairs, the
        objects table and, once the export is ``complete``, the dataset artifact."""
        self.log_samples(root, records, names)
        if not any(rec.get("autolabel") for rec in records):  # autolabel images have no separate background
            self.log_before_after(root, records, names, cache_dir)
        self.log_objects(root, records)
        if complete:
            self.log_dataset(root, dataset_name)

    @guarded
    def log_samples(self, root: Path, records: Sequence[dict], names: List[str], key: str = "samples/generated") -> None:
        """Generated images with their boxes as W&B box overlays (rejected objects as a second set)."""
        if not records or self.cfg.num_samples == 0:
            return
        import wandb
        from PIL import Image

        images = []
        for rec in records[: self.cfg.num_samples]:
            with Image.open(root / rec["image"]) as im:
                images.append(wandb.Image(im.convert("RGB"), caption=rec["image"], boxes=box_sets(rec, names)))
        self.run.log({key: images})

    @guarded
    def log_before_after(self, root: Path, records: Sequence[dict], names: List[str], cache_dir: Optional[str],
                         key: str = "samples/before_after") -> None:
        """Background | inpainted side by side, boxes on the right half; images whose background is not in
        the cache (cache off, or cleaned) are skipped."""
        if not records or self.cfg.num_pairs == 0:
            return
        import wandb
        from PIL import Image

        pairs, missing = [], 0
        for rec in records:
            if len(pairs) >= self.cfg.num_pairs:
                break
            bg_path = background_path(cache_dir, rec)
            if bg_path is None or not bg_path.is_file():
                missing += 1
                continue
            with Image.open(root / rec["image"]) as im, Image.open(bg_path) as bg:
                after = im.convert("RGB")
                before = bg.convert("RGB").resize(after.size)
            W = after.width
            pair = Image.new("RGB", (2 * W, after.height))
            pair.paste(before, (0, 0))
            pair.paste(after, (W, 0))
            pairs.append(wandb.Image(pair, caption=f"{rec['image']}: background | inpainted",
                                     boxes=box_sets(rec, names, x_offset=W, total_width=2 * W)))
        if missing:
            log.info("before/after pairs: %d image(s) skipped, their background is not in the cache (%s)",
                     missing, cache_dir)
        if pairs:
            self.run.log({key: pairs})

    @guarded
    def log_objects(self, root: Path, records: Sequence[dict], key: str = "tables/objects") -> None:
        """The objects table: one row per generated object with its crop, settings and quality scores."""
        if not records or self.cfg.table_rows == 0:
            return
        import wandb
        from PIL import Image

        rows = object_rows(records, self.cfg.table_rows)
        if not rows:
            return
        opened: Dict[str, Any] = {}
        data = []
        for row in rows:
            kind, path, box = row["crop"]
            thumb = None
            if kind == "image" and box[0] is not None:
                if path not in opened:
                    opened.clear()  # rows come in image order: keep one image open at a time
                    with Image.open(root / path) as im:
                        opened[path] = im.convert("RGB")
                thumb = wandb.Image(crop_thumbnail(opened[path], box))
            elif kind == "file" and path and (root / path).is_file():
                with Image.open(root / path) as im:
                    crop = im.convert("RGB")
                    crop.thumbnail((THUMBNAIL, THUMBNAIL))
                    thumb = wandb.Image(crop)
            data.append([thumb if c == "crop" else row[c] for c in OBJECT_COLUMNS])
        self.run.log({key: wandb.Table(columns=OBJECT_COLUMNS, data=data)})

    # -- artifacts

    @guarded
    def log_dataset(self, root: Path, name: str) -> None:
        """A complete export (images, labels, data.yaml, COCO, manifest) as a ``dataset`` artifact, aliased
        ``fp-<fingerprint>`` and described by its generation.json; files are referenced in place
        (``immutable``), not copied."""
        if not self.cfg.artifacts:
            return
        import wandb

        generation = read_generation(root)
        fingerprint = generation.get("fingerprint")
        if generation.get("status") != "complete" or not fingerprint:
            return
        metadata = {k: generation.get(k) for k in ("fingerprint", "total_images", "shard", "num_shards", "stats", "config")}
        art = wandb.Artifact(artifact_name(f"{name}-synthetic"), type="dataset", metadata=metadata,
                             description="idg synthetic detection set: YOLO layout, COCO annotations.json, manifest.jsonl")
        for path in sorted(Path(root).rglob("*")):
            # Ultralytics' label caches appear once training starts; they are not part of the export.
            if path.is_file() and not path.name.endswith((".cache", ".tmp")):
                art.add_file(str(path), name=path.relative_to(root).as_posix(), policy="immutable")
        alias = f"fp-{fingerprint}"
        if int(generation.get("num_shards") or 1) > 1:  # a shard is part of the dataset, not all of it
            alias += f"-shard{generation.get('shard')}"
        self.run.log_artifact(art, aliases=["latest", alias])
        self._dataset_ref = f"{art.name}:{alias}"

    @guarded
    def on_models(self, trainings: Sequence[Dict[str, Any]], dataset_name: str, dataset_root: Path) -> None:
        """Each training's evaluated weights as a ``model`` artifact.

        One run per study logs both the dataset and the models, so W&B's lineage shows them as outputs of
        the same run (W&B's graph is acyclic: a run cannot use what it logged, and offline runs cannot use
        artifacts at all). Each model's metadata names its dataset artifact version; an online run that
        trains on a dataset an earlier run logged marks that version as its input."""
        if not self.cfg.artifacts or not trainings:
            return
        import wandb

        dataset_ref = self._dataset_ref
        generation = read_generation(dataset_root)
        fingerprint = generation.get("fingerprint") if generation.get("status") == "complete" else None
        if dataset_ref is None and fingerprint:
            dataset_ref = f"{artifact_name(f'{dataset_name}-synthetic')}:fp-{fingerprint}"
            if not self.offline and any(t["arm"] != "real_only" for t in trainings):
                try:
                    self.run.use_artifact(dataset_ref)
                except Exception as exc:  # noqa: BLE001 - lineage is a nicety
                    log.info("W&B: could not mark %s as this run's input: %s", dataset_ref, exc)
        several = len({t.get("generator") for t in trainings if t.get("generator")}) > 1  # a study comparing generators
        for t in trainings:
            weights = Path(t["weights"])
            if not weights.is_file():
                continue
            meta = {k: v for k, v in t.items() if k != "weights" and isinstance(v, (int, float, str, bool, type(None)))}
            meta["synthetic_dataset"] = None if t["arm"] == "real_only" else dataset_ref
            who = f"{t['generator']}-{t['arm']}" if several and t.get("generator") else t["arm"]
            art = wandb.Artifact(artifact_name(f"{dataset_name}-{who}-f{t['fraction']:g}-s{t['seed']}"),
                                 type="model", metadata=meta,
                                 description=f"Ultralytics YOLO weights of the {t['arm']} arm (the checkpoint idg evaluates)")
            art.add_file(str(weights), name=weights.name, policy="immutable")
            for extra in ("args.yaml", "results.csv"):
                p = weights.parent.parent / extra
                if p.is_file():
                    art.add_file(str(p), name=extra, policy="immutable")
            self.run.log_artifact(art, aliases=["latest"])

    # -- results

    @guarded
    def on_table(self, key: str, rows: Sequence[dict]) -> None:
        if not rows:
            return
        import wandb

        columns = list(rows[0].keys())
        self.run.log({key: wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows])})

    @guarded
    def on_images(self, images: Dict[str, Path]) -> None:
        """Figures made on disk (the results plot, each evaluation's PR curve and confusion matrix)."""
        import wandb

        found = {k: wandb.Image(str(p)) for k, p in images.items() if Path(p).is_file()}
        if found:
            self.run.log(found)

    @guarded
    def on_chart(self, key: str, title: str, xname: str, series: Dict[str, Sequence[tuple]]) -> None:
        """Lines as a native W&B chart (``wandb.plot.line_series``: hover, zoom, compare runs)."""
        if not series:
            return
        import wandb

        names = list(series)
        chart = wandb.plot.line_series(xs=[[x for x, _ in series[n]] for n in names],
                                       ys=[[y for _, y in series[n]] for n in names], keys=names, title=title, xname=xname)
        self.run.log({key: chart})

    @guarded
    def on_summary(self, metrics: Dict[str, Any]) -> None:
        self.run.summary.update(metrics)

    def on_finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            self._restore_env()
            return
        try:
            self.run.finish(exit_code=exit_code)
            # finish() can return before wandb-core has flushed the run file; teardown waits for it, so the
            # run dir is complete when the study returns (also between the jobs of a one-process sweep).
            import wandb

            wandb.teardown(exit_code=exit_code)
        except Exception as exc:  # noqa: BLE001
            log.warning("W&B finish failed: %s", exc)
        self.run = None
        self._restore_env()
