"""Detector training, fine-tuning and evaluation with Ultralytics YOLO, resumable per training.

Training arguments keep Ultralytics' names (``detector.*`` and ``detector.args`` go to ``YOLO.train``), so
Ultralytics knowledge carries over. Every training writes ``<project>/<name>/`` (Ultralytics' own layout)
plus ``done.json`` when it finished; a rerun skips finished trainings. Metrics leave through a callback
(``on_epoch``), so this module does not know W&B exists; Ultralytics' own W&B callback is removed so it can
never close the run idg owns.

``.pt`` checkpoints are pickles: load only checkpoints you trust.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from idg.core.atomic import atomic_write_json
from idg.core.config import DetectorConfig
from idg.core.keyed import reuse_or_refuse, stored
from idg.core.progress import FILE_ONLY
from idg.models.detector import load_yolo

log = logging.getLogger(__name__)

EpochCallback = Callable[[str, int, Dict[str, float]], None]


def _strip_ultralytics_wandb(trainer) -> None:
    """Remove Ultralytics' own W&B callbacks (they would log a second, unprefixed copy into idg's run).

    The lists are edited in place: Ultralytics is iterating one of them while this callback runs, and a
    new list would leave the callbacks after this one still to be called."""
    for fns in trainer.callbacks.values():
        fns[:] = [f for f in fns if not getattr(f, "__module__", "").endswith("callbacks.wb")]


def _epoch_forwarder(tag: str, on_epoch: EpochCallback):
    """``on_train_epoch_end`` and ``on_fit_epoch_end`` callbacks forwarding each epoch's metrics once.

    Ultralytics fires ``on_fit_epoch_end`` once more after training, for its re-validation of best.pt at a
    fake epoch ``epochs + 1``; idg evaluates last.pt, so that call is dropped: only an epoch whose training
    part just ended is forwarded."""
    pending: Dict[str, int] = {}

    def train_epoch_end(trainer) -> None:
        pending["epoch"] = int(trainer.epoch)

    def fit_epoch_end(trainer) -> None:
        if pending.pop("epoch", None) == int(trainer.epoch):
            on_epoch(tag, int(trainer.epoch) + 1, _scalar_metrics(trainer))

    return train_epoch_end, fit_epoch_end


@dataclass
class TrainResult:
    weights: Path  # last.pt: evaluated, never picked on the real val set
    save_dir: Path
    skipped: bool


def _scalar_metrics(trainer) -> Dict[str, float]:
    metrics = {k: float(v) for k, v in (trainer.metrics or {}).items()}
    if getattr(trainer, "tloss", None) is not None and hasattr(trainer, "label_loss_items"):
        metrics.update({k: float(v) for k, v in trainer.label_loss_items(trainer.tloss, prefix="train").items()})
    metrics.update({k: float(v) for k, v in (getattr(trainer, "lr", None) or {}).items()})
    return metrics


def _reuse_training(save_dir: Path, key: str, candidates: Sequence[Path]) -> Optional[Path]:
    """Copy the first finished training among ``candidates`` whose key is ``key`` to ``save_dir``; its
    done.json is written last (through a temp dir and a rename), pointing at the copied weights."""
    for cand in candidates:
        info = stored(cand / "done.json")
        if not info or info.get("key") != key:
            continue
        tmp = save_dir.with_name(save_dir.name + ".reuse-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(cand, tmp, ignore=shutil.ignore_patterns("done.json", "eval_*"))  # evaluated here anew
        weights = Path(info["weights"])
        info["weights"] = str(save_dir / weights.relative_to(cand)) if weights.is_relative_to(cand) else str(weights)
        info["reused_from"] = str(cand)
        atomic_write_json(tmp / "done.json", info)
        tmp.rename(save_dir)
        return cand
    return None


def train(
    init: str,
    data: Path,
    project: Path,
    name: str,
    epochs: int,
    cfg: DetectorConfig,
    seed: int,
    tag: str,
    on_epoch: Optional[EpochCallback] = None,
    key: Optional[str] = None,
    overwrite: bool = False,
    reuse: Sequence[Path] = (),
    on_start: Optional[Callable[[], None]] = None,
) -> TrainResult:
    """Train ``init`` (a .yaml or .pt) on ``data`` for ``epochs``; skipped when already done.

    ``key`` identifies what the training depends on (data, init, settings); a finished training with another
    key raises RunDirError, or is deleted and redone with ``overwrite``, so stale weights are never reused.
    A finished training in one of the ``reuse`` dirs with the same key is copied here instead of retrained.
    ``on_start`` is called when the training really starts (not for one skipped or copied).
    """
    save_dir = Path(project) / name
    done = save_dir / "done.json"
    info = reuse_or_refuse(done, key, overwrite=overwrite, differs="was trained on other data or settings",
                           redo="retrain it", name=save_dir)
    if info is not None:
        log.info("%s: already trained (%s), skipping", tag, save_dir, extra=FILE_ONLY)  # the counter line says it
        return TrainResult(Path(info["weights"]), save_dir, True)
    if save_dir.exists():  # an interrupted (or replaced) training: start it again from its init
        shutil.rmtree(save_dir)
    if key is not None:
        reused = _reuse_training(save_dir, key, reuse)
        if reused is not None:
            log.info("%s: same training found in %s, copied", tag, reused, extra=FILE_ONLY)
            return TrainResult(Path(json.loads(done.read_text())["weights"]), save_dir, True)
    model = load_yolo(init)
    model.add_callback("on_pretrain_routine_start", _strip_ultralytics_wandb)
    if on_epoch is not None:
        train_epoch_end, fit_epoch_end = _epoch_forwarder(tag, on_epoch)
        model.add_callback("on_train_epoch_end", train_epoch_end)
        model.add_callback("on_fit_epoch_end", fit_epoch_end)
    args = {
        "imgsz": cfg.imgsz,
        "batch": cfg.batch,
        "workers": cfg.workers,
        "patience": cfg.patience,
        "seed": seed,
        "deterministic": True,
        "plots": False,
        "verbose": cfg.verbose,
        **({"device": cfg.device} if cfg.device is not None else {}),
        **cfg.args,
    }
    log.info("%s: training %s on %s for %d epochs", tag, init, data, epochs, extra=FILE_ONLY)
    if on_start is not None:
        on_start()
    model.train(data=str(data), epochs=epochs, project=str(project), name=name, exist_ok=True, **args)
    weights = Path(model.trainer.last)
    atomic_write_json(done, {"weights": str(weights), "init": str(init), "data": str(data), "epochs": epochs, "seed": seed,
                             "key": key})
    return TrainResult(weights, save_dir, False)


EVAL_PLOTS = {"pr_curve": "BoxPR_curve.png", "confusion_matrix": "confusion_matrix.png"}  # what W&B shows of each


class ImageStats:
    """Per-image matching results of one validation (``on_val_batch_end``): for each image its predictions'
    true-positive flags at the ten IoU thresholds, confidences and classes, and its target classes. Saved as
    ``image_stats.npz`` beside ``eval.json``, they let :mod:`idg.study.bootstrap` recompute mAP50 on resampled
    image sets (an image-level bootstrap, paired across trainings evaluated on the same images)."""

    def __init__(self) -> None:
        self.seen = 0
        self.names: list = []
        self.rows: Dict[str, list] = {"tp": [], "conf": [], "pred_cls": [], "target_cls": []}

    def on_batch(self, validator) -> None:
        stats = validator.metrics.stats
        n = len(stats["tp"])
        files = validator.dataloader.dataset.im_files
        for k in range(self.seen, n):
            for key in self.rows:
                self.rows[key].append(stats[key][k])
            self.names.append(Path(files[k]).name)
        self.seen = n

    def save(self, path: Path) -> None:
        import numpy as np

        counts = {k: np.array([len(v) for v in vals], dtype=np.int64) for k, vals in self.rows.items()}
        tp = [np.asarray(v, dtype=bool).reshape(-1, 10) for v in self.rows["tp"]]
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(
            tmp, names=np.array(self.names), n_pred=counts["conf"], n_target=counts["target_cls"],
            tp=np.concatenate(tp) if tp else np.zeros((0, 10), bool),
            conf=np.concatenate(self.rows["conf"]).astype(np.float32) if self.names else np.zeros(0, np.float32),
            pred_cls=np.concatenate(self.rows["pred_cls"]).astype(np.int32) if self.names else np.zeros(0, np.int32),
            target_cls=np.concatenate(self.rows["target_cls"]).astype(np.int32) if self.names else np.zeros(0, np.int32))
        tmp.replace(path)


def evaluate(weights: Path, data: Path, project: Path, name: str, cfg: DetectorConfig,
             key: Optional[str] = None, overwrite: bool = False, reuse: bool = True, split: str = "val") -> Dict[str, Any]:
    """mAP50, mAP50-95, precision, recall and per-class AP50 / AP50-95 (``per_class``: class name -> both;
    None for a class without instances in the split) of ``weights`` on ``split`` (val or test) of ``data``,
    by Ultralytics' own validator, which also draws its PR curves and confusion matrix into
    ``<project>/<name>/`` (:data:`EVAL_PLOTS`; training runs with ``plots=False`` to save time).

    The result is kept in ``eval.json`` (and the per-image matches in ``image_stats.npz``) and reused (with
    ``reuse``) while ``key`` (what it depends on) is unchanged; one of other weights or eval data raises
    RunDirError unless ``overwrite``. A record of an older idg (without per-image matches or per-class APs)
    is redone in place (same key) while the weights exist; without them its numbers stand.
    """
    out = Path(project) / name / "eval.json"
    if reuse:
        previous = reuse_or_refuse(out, key, overwrite=overwrite,
                                   differs=f"holds an evaluation of other weights or {split} data")
        current = (out.parent / "image_stats.npz").is_file() and "per_class" in (previous or {})
        if previous is not None and (current or not Path(weights).is_file()):
            return {k: v for k, v in previous.items() if k != "key"}
    model = load_yolo(str(weights))
    collector = ImageStats()
    model.add_callback("on_val_batch_end", collector.on_batch)
    metrics = model.val(
        data=str(data),
        split=split,
        imgsz=cfg.imgsz,
        batch=cfg.batch,
        workers=cfg.workers,
        plots=True,
        verbose=cfg.verbose,
        project=str(project),
        name=name,
        exist_ok=True,
        **({"device": cfg.device} if cfg.device is not None else {}),
    )
    box = metrics.box
    measured = {int(c): i for i, c in enumerate(box.ap_class_index)}
    per_class = {
        str(class_name): ({"ap50": float(box.ap50[measured[c]]), "ap50_95": float(box.ap[measured[c]])}
                          if c in measured else None)
        for c, class_name in sorted((int(k), v) for k, v in metrics.names.items())
    }
    result = {
        "map50": float(box.map50),
        "map50_95": float(box.map),
        "precision": float(box.mp),
        "recall": float(box.mr),
        "per_class": per_class,
    }
    collector.save(out.parent / "image_stats.npz")
    atomic_write_json(out, {**result, "key": key})
    return result


def eval_plots(project: Path, name: str) -> Dict[str, Path]:
    """The validator's figures of an evaluation that are on disk (:data:`EVAL_PLOTS`)."""
    found = {k: Path(project) / name / f for k, f in EVAL_PLOTS.items()}
    return {k: p for k, p in found.items() if p.is_file()}
