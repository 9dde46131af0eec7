"""The console: what a person watching a run reads, and where everything else goes.

A study prints one line per stage start and end with its elapsed time, one counter line per detector
training (``[3/12] syn_then_real f=0.1 s=1: 30 epochs, ETA 4m10s``, the ETA from the trainings finished so far),
one line per epoch under the training's tag, one per evaluation, and ends with a closing block: where the
results, the sample grid and the W&B run are (with the ``wandb sync`` command of an offline run), and the
main metric. Libraries' own output (Ultralytics' layer tables, argument dumps and bars; diffusers' and
transformers' loading bars and advisory warnings; deprecation warnings) is off; ``-v`` (``hydra.verbose``)
or ``detector.verbose=true`` turns it back on.

The log file Hydra writes into the run dir (``<run dir>/<job name>.log``) gets every idg record, also the
ones marked :data:`~idg.core.progress.FILE_ONLY` that the console leaves out. The formatter and the filter
below are named by ``conf/hydra/job_logging/idg.yaml``.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict

from idg.core.layout import RunLayout
from idg.core.progress import FILE_ONLY

if TYPE_CHECKING:  # the logging config imports this module: keep it light
    from idg.study.arms import TrainingStep

log = logging.getLogger("idg")

PLAIN = {"plain": True}  # logging ``extra``: printed as it is (no time stamp), for the closing block


# ------------------------------------------------------------------------------------ logging config


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS message``; warnings and errors say so (``HH:MM:SS WARNING: ...``); the closing block's
    lines (``extra=PLAIN``) as they are. Logger names are left to the log file."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if getattr(record, "plain", False):
            return message
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = f"{record.levelname}: " if record.levelno >= logging.WARNING else ""
        text = f"{stamp} {level}{message}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class ConsoleFilter(logging.Filter):
    """Drops the records logged with ``extra=FILE_ONLY`` (details for the log file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "console", True)


VERBOSE_FLAGS = ("-v", "--verbose")


def expand_verbose_flag(argv: list) -> list:
    """idg's ``-v`` / ``--verbose`` as the Hydra override it stands for: ``hydra.verbose=idg`` (idg's DEBUG
    records, and the libraries' own output back on). ``hydra.verbose=true`` is Hydra's own: every logger at
    DEBUG, also the libraries'."""
    if not any(a in VERBOSE_FLAGS for a in argv):
        return list(argv)
    return [a for a in argv if a not in VERBOSE_FLAGS] + ["hydra.verbose=idg"]


def verbose_requested() -> bool:
    """Whether this Hydra job runs with ``hydra.verbose`` (``-v`` on idg's command line sets it)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and bool(HydraConfig.get().verbose)


def quiet_libraries() -> None:
    """Libraries' own console output off, set before they are imported (a user's own settings win).

    Ultralytics' info lines and bars (``YOLO_VERBOSE``; its warnings stay on, see
    :func:`idg.models.detector.load_yolo`), diffusers' and transformers' advisory warnings and loading bars
    (their verbosity, and ``TQDM_DISABLE``, which idg's own bars override), matplotlib's info lines, and
    Python's deprecation warnings, which are addressed to developers of the libraries."""
    for name, value in (("YOLO_VERBOSE", "False"), ("DIFFUSERS_VERBOSITY", "error"), ("TRANSFORMERS_VERBOSITY", "error"),
                        ("TQDM_DISABLE", "1"), ("WANDB_SILENT", "true")):
        os.environ.setdefault(name, value)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # "generated new fontManager" and the like


# ------------------------------------------------------------------------------------ the listener


def duration(seconds: float) -> str:
    """``4.2s``, ``3m05s``, ``2h07m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


EPOCH_FIELDS = (("box", "train/box_loss", ".3g"), ("cls", "train/cls_loss", ".3g"), ("dfl", "train/dfl_loss", ".3g"),
                ("P", "metrics/precision(B)", ".3f"), ("R", "metrics/recall(B)", ".3f"),
                ("mAP50", "metrics/mAP50(B)", ".3f"), ("mAP50-95", "metrics/mAP50-95(B)", ".3f"))


class Console:
    """A listener of the study's events (:mod:`idg.core.events`) that prints what a person follows.

    ``wandb`` (the study's :class:`~idg.report.wandb_log.WandbLogger`) says where its run is, for the
    closing block."""

    def __init__(self, run_dir: Path, wandb: Any = None):
        self.run = RunLayout(Path(run_dir))
        self.wandb = wandb
        self.started = time.perf_counter()
        self.metrics: Dict[str, Any] = {}
        self.epochs: Dict[str, int] = {}  # training tag -> its number of epochs
        self.trained_seconds = 0.0
        self.trained_epochs = 0

    def on_stage(self, name: str, status: str, seconds: float = 0.0, detail: str = "") -> None:
        if status == "started":
            log.info("%s ...", name)
        else:
            log.info("%s: done in %s%s", name, duration(seconds), f" ({detail})" if detail else "")

    def eta(self, step: "TrainingStep") -> str:
        """Time left for this training and the ones after it, at the epoch rate of those finished so far."""
        if not self.trained_epochs:
            return ""
        return f", ETA {duration(self.trained_seconds / self.trained_epochs * step.epochs_left)}"

    def on_training(self, step: "TrainingStep") -> None:
        who = f"{step.generator} {step.arm}" if step.generator else step.arm
        label = f"[{step.index}/{step.total}] {who} f={step.fraction:g} s={step.seed}"
        self.epochs[step.tag or f"{step.arm}/f{step.fraction:g}_s{step.seed}"] = step.epochs
        if step.status == "started":
            log.info("%s: %d epoch%s%s", label, step.epochs, "" if step.epochs == 1 else "s", self.eta(step))
        elif step.status == "skipped":
            log.info("%s: trained earlier, kept", label)
        else:
            self.trained_seconds += step.seconds
            self.trained_epochs += step.epochs
            log.info("%s: trained in %s", label, duration(step.seconds), extra=FILE_ONLY)

    def on_epoch(self, tag: str, epoch: int, metrics: Dict[str, float]) -> None:
        """Ultralytics' per-epoch line as one idg line: losses, then P, R and mAPs on the training's val split."""
        parts = [f"{name} {metrics[key]:{fmt}}" for name, key, fmt in EPOCH_FIELDS if key in metrics]
        total = self.epochs.get(tag)
        log.info("  %s epoch %d%s: %s", tag, epoch, f"/{total}" if total else "", "  ".join(parts))

    def on_summary(self, metrics: Dict[str, Any]) -> None:
        self.metrics = dict(metrics)

    def on_finish(self, exit_code: int = 0) -> None:
        if exit_code == 0:
            for line in self.closing_block():
                log.info("%s", line, extra=PLAIN)

    def closing_block(self) -> list:
        """Where the outputs are, and the main metric."""
        root = self.run.root
        lines = ["", f"idg: finished in {duration(time.perf_counter() - self.started)}: {root}"]

        def row(name: str, text: str) -> None:
            lines.append(f"  {name:<12} {text}")

        if self.run.results("md").is_file():
            row("results", f"{self.run.results('md')}  (per training: results.csv; plot: results.png)")
        if self.run.samples.is_file():
            row("samples", str(self.run.samples))
        if self.run.dataset().data_yaml.is_file():
            row("dataset", str(self.run.dataset().data_yaml))
        where = getattr(self.wandb, "location", None) or {}
        if where.get("url"):
            row("W&B", where["url"])
        elif where.get("dir"):
            row("W&B", f"offline run {where['dir']}")
            row("", f"upload it: wandb sync {where['dir']}")
        value = self.metrics.get("main_metric")
        if isinstance(value, (int, float)):
            row("main metric", self.main_metric_text(value))
        lines.append("")
        return lines

    def main_metric_text(self, value: float) -> str:
        """``map50_95 = 0.4210 (syn_then_real at 10% real; real_only 0.3900)`` (comparing generators:
        ``diffusion/syn_then_real at 10% real; ...``)."""
        name = self.metrics.get("main_metric_name", "main_metric")
        of = self.metrics.get("main_metric_of")
        text = f"{name} = {value:.4f}"
        if not of:
            return text
        arm, frac = of.rsplit("/", 1)
        fraction = float(frac.lstrip("f"))
        base = self.metrics.get(f"eval/real_only/{frac}/mean/{name}")
        where = f"{arm} at {fraction * 100:g}% real" if fraction else f"{arm}, no real images"
        if isinstance(base, (int, float)) and arm != "real_only":
            where += f"; real_only {base:.4f}"
        return f"{text} ({where})"
