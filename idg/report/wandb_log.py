"""Weights & Biases as a listener: stages emit metrics and files, this module turns them into W&B calls.

**One study is one W&B run** (``job_type=study``), so a run's config, metrics, media, tables and
artifacts describe one complete experiment and sweeps compare like with like; a ``--multirun`` sweep
puts its jobs in one group named after the sweep, with the swept keys and values under ``sweep`` in the
config. Inside the run every stage has its own key prefix: ``generate/``, ``samples/``, ``tables/``,
per-epoch detector metrics under the training's tag (``syn_only/f0_s0/``, ``syn_then_real/f1_s0/``,
``real_only/f1_s0/``, ``mixed/f1_s0/``), each tag plotted against its own ``<tag>/epoch`` axis, and
``eval/``.

W&B never decides the fate of a study: every call is guarded, a failure is logged once and switches
logging off. ``mode=online`` first probes the server with a short time-box; when it is unreachable (or
``wandb.init`` fails, e.g. a bad API key) the run is logged offline instead (``wandb sync`` it later).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import urlparse

from idg.config import LoggerConfig

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wandb.ai"
INIT_TIMEOUT = 30.0  # seconds wandb.init may take once the server answered the probe
THUMBNAIL = 96  # px, longer side of an object's crop in the objects table


# ------------------------------------------------------------------------------------ pure helpers


def base_url() -> str:
    """The W&B server to use: ``$WANDB_BASE_URL`` as it is now, else ``wandb login --host``'s settings
    file, else W&B's cloud. (wandb itself reads the environment once per process; idg passes this URL to
    ``wandb.init`` so the probe and the run always talk to the same server.)"""
    if os.environ.get("WANDB_BASE_URL"):
        return os.environ["WANDB_BASE_URL"]
    os.environ.setdefault("WANDB_SILENT", "true")
    try:
        from wandb.sdk import wandb_setup  # reads the settings files; starts no service

        return wandb_setup.singleton().settings.base_url or DEFAULT_BASE_URL
    except Exception:  # noqa: BLE001 - an unexpected wandb version: W&B's default server
        return DEFAULT_BASE_URL


def server_reachable(url: str, timeout: float) -> bool:
    """True when the server at ``url`` answers an HTTP request within ``timeout`` seconds (any status,
    even an error page, counts: something answered; ``HTTP(S)_PROXY`` are honoured like W&B does).

    W&B's own client retries a refused connection until its init timeout (30 s measured), so this probe
    decides first. It runs in a daemon thread because name lookup has no timeout of its own."""
    import urllib.error
    import urllib.request

    if urlparse(url).scheme not in ("http", "https"):
        return False
    result: List[bool] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                result.append(True)
        except urllib.error.HTTPError:
            result.append(True)
        except (OSError, ValueError):
            result.append(False)

    thread = threading.Thread(target=probe, name="idg-wandb-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def wandb_config(config: Dict[str, Any], sweep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The W&B run config: the resolved config with secrets redacted (as in config.yaml), plus ``sweep``
    (group, swept keys and this job's values) for a --multirun job."""
    from idg.secrets import redact

    return {**redact(config), **({"sweep": redact(sweep)} if sweep else {})}


def run_name(dataset: str, run_dir: Path, sweep: Optional[Dict[str, Any]] = None) -> str:
    """``<dataset>-<run dir name>``, plus a sweep job's swept values (``forest_fire-0-strength=0.5``)."""
    from idg.overrides import label

    values = (sweep or {}).get("values")
    return f"{dataset}-{Path(run_dir).name}" + (f"-{label(values)}" if values else "")


def artifact_name(text: str) -> str:
    """A W&B artifact name (letters, digits, ``-``, ``_``, ``.``) from free text."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "idg"


def _position(box: Sequence[float], width: float, height: float, x_offset: float = 0.0, total_width: Optional[float] = None) -> dict:
    x, y, w, h = box
    tw = total_width or width
    return {"minX": (x_offset + x) / tw, "maxX": (x_offset + x + w) / tw, "minY": y / height, "maxY": (y + h) / height}


def box_sets(rec: dict, names: Sequence[str], x_offset: float = 0.0, total_width: Optional[float] = None) -> Dict[str, dict]:
    """W&B box overlays of one manifest record: ``labels`` (objects that became labels) and, when the
    quality stage recorded any, ``rejected``. Rejected boxes use class ids shifted by the number of classes,
    so W&B draws them in other colours (and either set can be toggled in the UI)."""
    W, H = rec["width"], rec["height"]
    nc = len(names)
    labels = [
        {"position": _position(obj["box"], W, H, x_offset, total_width), "class_id": int(obj["class_id"]),
         "box_caption": obj.get("class", names[obj["class_id"]])}
        for obj in rec.get("objects", [])
    ]
    out = {"labels": {"box_data": labels, "class_labels": {i: n for i, n in enumerate(names)}}}
    rejected = []
    for obj in rec.get("rejected") or []:
        box = obj.get("box") or obj.get("requested_box")
        if box is None:
            continue
        reason = obj.get("reject_reason")
        rejected.append({
            "position": _position(box, W, H, x_offset, total_width),
            "class_id": nc + int(obj["class_id"]),
            "box_caption": f"rejected {obj.get('class', names[obj['class_id']])}" + (f": {reason}" if reason else ""),
        })
    if rejected:
        out["rejected"] = {"box_data": rejected, "class_labels": {nc + i: f"rejected {n}" for i, n in enumerate(names)}}
    return out


OBJECT_COLUMNS = [
    "image", "index", "split", "object", "crop", "class", "prompt", "status", "reject_reason",
    "x", "y", "w", "h", "requested_box", "box_iou", "attempts", "seam_score", "changed_fraction", "verify_score",
    "seed", "strength", "steps", "guidance", "mask", "feather", "blend", "mode", "sampler",
]


def object_rows(records: Sequence[dict], limit: int) -> List[dict]:
    """One row per generated object (accepted, and rejected where the quality stage recorded them) for the
    W&B objects table, without the crop image (``crop`` holds what to cut it from).

    Beyond ``limit`` rows, rejected objects are kept first (failures are what users filter for), then
    accepted ones in image order. Quality fields are optional in the manifest and are None when absent."""
    rows = []
    for rec in records:
        for status, objs in (("accepted", rec.get("objects") or []), ("rejected", rec.get("rejected") or [])):
            for obj in objs:
                box = obj.get("box") or obj.get("requested_box") or [None] * 4
                rows.append({
                    "image": rec["image"],
                    "index": rec["index"],
                    "split": rec.get("split"),
                    "object": obj.get("id"),
                    # accepted: cut from the final image; rejected: the quality stage's crop file, if any
                    "crop": ("image", rec["image"], box) if status == "accepted" else ("file", obj.get("crop"), None),
                    "class": obj.get("class"),
                    "prompt": obj.get("prompt"),
                    "status": obj.get("status", status),
                    "reject_reason": obj.get("reject_reason"),
                    "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                    "requested_box": ",".join(str(v) for v in obj["requested_box"]) if obj.get("requested_box") else None,
                    # 64-bit seeds lose digits as JSON numbers in the browser
                    "seed": str(obj["seed"]) if obj.get("seed") is not None else None,
                    **{k: obj.get(k) for k in ("box_iou", "attempts", "seam_score", "changed_fraction", "verify_score",
                                               "strength", "steps", "guidance", "mask", "feather", "blend",
                                               "mode", "sampler")},
                })
    if len(rows) > limit:
        rejected = [r for r in rows if r["status"] != "accepted"][:limit]
        accepted = [r for r in rows if r["status"] == "accepted"][: limit - len(rejected)]
        kept = {id(r) for r in rejected + accepted}
        rows = [r for r in rows if id(r) in kept]
    return rows


def crop_thumbnail(image, box: Sequence[float], size: int = THUMBNAIL, pad: float = 0.25):
    """The box of a PIL image with ``pad`` of its longer side around it, shrunk to at most ``size`` px."""
    x, y, w, h = box
    m = pad * max(w, h)
    left, top = max(0, int(x - m)), max(0, int(y - m))
    right, bottom = min(image.width, int(x + w + m)), min(image.height, int(y + h + m))
    crop = image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    crop.thumbnail((size, size))
    return crop


def read_generation(root: Path) -> Dict[str, Any]:
    """An export's generation.json (fingerprint, status, stats); empty when absent or unreadable."""
    import json

    try:
        return json.loads((Path(root) / "generation.json").read_text())
    except (OSError, ValueError):
        return {}


def background_path(cache_dir: Optional[str | Path], rec: dict) -> Optional[Path]:
    """Where the background cache keeps this record's background (None when the manifest has no key)."""
    from idg.cache import BackgroundCache

    key = (rec.get("background") or {}).get("key")
    if not key or not cache_dir:
        return None
    return BackgroundCache(cache_dir).path(key)


# ------------------------------------------------------------------------------------ the logger


class WandbLogger:
    """Owns the study's W&B run. Every method is safe to call when W&B is disabled or has failed."""

    def __init__(self, cfg: LoggerConfig, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str] = None,
                 offline: bool = False):
        self.cfg = cfg
        self.run = None
        self._url: Optional[str] = None
        self._axes: set = set()
        self._failed = False
        self._dataset_ref: Optional[str] = None
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
        except Exception as exc:  # noqa: BLE001 - W&B must never stop a study
            if mode == "online":
                log.warning("W&B online init failed (%s); logging offline instead (sync later with "
                            "`wandb sync %s/wandb/offline-run-*`)", str(exc).splitlines()[0] if str(exc) else exc, run_dir)
                self._init("offline", run_dir, config, name, group)
            else:
                self._fail(exc)

    def _wandb_init(self, mode: str, run_dir: Path, config: Dict[str, Any], name: str, group: Optional[str]):
        os.environ.setdefault("WANDB_SILENT", "true")
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
            settings=wandb.Settings(console="off", silent=True, **extra),
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

    # -- generation

    def log_generation(self, root: Path, records: Sequence[dict], names: List[str], cache_dir: Optional[str],
                       dataset_name: str, complete: bool) -> None:
        """Everything W&B shows about a generated set: samples with box overlays, before/after pairs, the
        objects table and, once the export is ``complete``, the dataset artifact."""
        self.log_samples(root, records, names)
        self.log_before_after(root, records, names, cache_dir)
        self.log_objects(root, records)
        if complete:
            self.log_dataset(root, dataset_name)

    def log_samples(self, root: Path, records: Sequence[dict], names: List[str], key: str = "samples/generated") -> None:
        """Generated images with their boxes as W&B box overlays (rejected objects as a second set)."""
        if not self.active or not records or self.cfg.num_samples == 0:
            return
        try:
            import wandb
            from PIL import Image

            images = []
            for rec in records[: self.cfg.num_samples]:
                with Image.open(root / rec["image"]) as im:
                    images.append(wandb.Image(im.convert("RGB"), caption=rec["image"], boxes=box_sets(rec, names)))
            self.run.log({key: images})
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def log_before_after(self, root: Path, records: Sequence[dict], names: List[str], cache_dir: Optional[str],
                         key: str = "samples/before_after") -> None:
        """Background | inpainted side by side, boxes on the right half; images whose background is not in
        the cache (cache off, or cleaned) are skipped."""
        if not self.active or not records or self.cfg.num_pairs == 0:
            return
        try:
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
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def log_objects(self, root: Path, records: Sequence[dict], key: str = "tables/objects") -> None:
        """The objects table: one row per generated object with its crop, settings and quality scores."""
        if not self.active or not records or self.cfg.table_rows == 0:
            return
        try:
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
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    # -- artifacts

    def log_dataset(self, root: Path, name: str) -> None:
        """A complete export (images, labels, data.yaml, COCO, manifest) as a ``dataset`` artifact, aliased
        ``fp-<fingerprint>`` and described by its generation.json; files are referenced in place
        (``immutable``), not copied."""
        if not self.active or not self.cfg.artifacts:
            return
        try:
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
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def log_models(self, trainings: Sequence[Dict[str, Any]], dataset_name: str, dataset_root: Path) -> None:
        """Each training's evaluated weights as a ``model`` artifact.

        One run per study logs both the dataset and the models, so W&B's lineage shows them as outputs of
        the same run (W&B's graph is acyclic: a run cannot use what it logged, and offline runs cannot use
        artifacts at all). Each model's metadata names its dataset artifact version; an online run that
        trains on a dataset an earlier run logged marks that version as its input."""
        if not self.active or not self.cfg.artifacts or not trainings:
            return
        try:
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
            for t in trainings:
                weights = Path(t["weights"])
                if not weights.is_file():
                    continue
                meta = {k: v for k, v in t.items() if k != "weights" and isinstance(v, (int, float, str, bool, type(None)))}
                meta["synthetic_dataset"] = None if t["arm"] == "real_only" else dataset_ref
                art = wandb.Artifact(artifact_name(f"{dataset_name}-{t['arm']}-f{t['fraction']:g}-s{t['seed']}"),
                                     type="model", metadata=meta,
                                     description=f"Ultralytics YOLO weights of the {t['arm']} arm (the checkpoint idg evaluates)")
                art.add_file(str(weights), name=weights.name, policy="immutable")
                for extra in ("args.yaml", "results.csv"):
                    p = weights.parent.parent / extra
                    if p.is_file():
                        art.add_file(str(p), name=extra, policy="immutable")
                self.run.log_artifact(art, aliases=["latest"])
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    # -- results

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
            # finish() can return before wandb-core has flushed the run file; teardown waits for it, so the
            # run dir is complete when the study returns (also between the jobs of a one-process sweep).
            import wandb

            wandb.teardown(exit_code=exit_code)
        except Exception as exc:  # noqa: BLE001
            log.warning("W&B finish failed: %s", exc)
        self.run = None
