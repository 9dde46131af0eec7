"""What a person watching a run reads: a short console with one line per stage, a training counter with an
ETA, one idg line per epoch, a closing block; libraries' own output only with ``-v``; user errors once."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from idg.report.console import Console, ConsoleFilter, ConsoleFormatter, duration, expand_verbose_flag
from idg.study.arms import TrainingStep

STAMP = re.compile(r"^\d{2}:\d{2}:\d{2} ")
DURATION = r"(\d+\.\ds|\d+m\d\ds|\d+h\d\dm)"  # as idg.report.console.duration writes it


@pytest.fixture(scope="module")
def smoke_console(smoke_run):
    return smoke_run, (smoke_run.parent / "stdout.txt").read_text(), (smoke_run.parent / "stderr.txt").read_text()


@pytest.mark.slow
def test_smoke_console_is_short_and_ends_with_the_closing_block(smoke_console):
    run_dir, out, err = smoke_console
    lines = (out + err).splitlines()
    assert len(lines) <= 60, "\n".join(lines)
    assert not err.strip(), err  # a non-terminal gets no bars and no warnings of the libraries
    # Ultralytics' own output (banner, layer table, argument dump, its epoch table) is off
    for noise in ("Ultralytics 8", "ultralytics.nn.modules", "engine/trainer:", "Epoch    GPU_mem", "Loading pipeline"):
        assert noise not in out, noise
    # one start and one end line per stage, with the elapsed time
    for stage in ("check_inputs", "generate", "export", "shortcut_set", "report_generation", "train", "evaluate"):
        assert sum(1 for line in lines if re.fullmatch(rf"{STAMP.pattern}{stage} \.\.\.", line)) == 1, stage
        assert sum(1 for line in lines if re.match(rf"{STAMP.pattern}{stage}: done in {DURATION}", line)) == 1, stage
    # the training counter, an ETA from the second training on, and one idg line per epoch with the arm's tag
    assert re.search(r"\[1/3\] syn_only f=0 s=0: 1 epoch\n", out)
    assert re.search(rf"\[2/3\] syn_then_real f=1 s=0: 1 epoch, ETA {DURATION}\n", out)
    assert re.search(r"\[3/3\] real_only f=1 s=0: 1 epoch, ETA", out)
    for tag in ("syn_only/f0_s0", "syn_then_real/f1_s0", "real_only/f1_s0"):
        (epoch,) = [line for line in lines if f"{tag} epoch" in line]
        assert re.search(rf"{tag} epoch 1/1: box \S+  cls \S+  dfl \S+  P \S+  R \S+  mAP50 \S+  mAP50-95 \S+$", epoch)
    # the closing block is last: results, samples, the offline W&B run with its sync command, the main metric
    block = out.rstrip().split("\n\nidg: finished in ")[-1].splitlines()
    assert block[0].endswith(f": {run_dir}")
    text = "\n".join(block)
    assert f"results      {run_dir / 'results.md'}" in text and f"samples      {run_dir / 'samples.png'}" in text
    (sync,) = re.findall(r"wandb sync (\S+)", text)
    assert sync.startswith(str(run_dir / "wandb" / "offline-run-")) and os.path.isdir(sync)
    assert re.search(r"main metric  map50_95 = \d\.\d{4} \(syn_then_real at 100% real; real_only \d\.\d{4}\)$", text)
    # the run's log file has what the console leaves out (the init and data of each training)
    log_text = (run_dir / "run.log").read_text()
    assert "syn_only/f0_s0: training yolov8n.yaml on" in log_text and "training yolov8n.yaml" not in out


def _record(message: str, level: int = logging.INFO, **extra) -> logging.LogRecord:
    record = logging.LogRecord("idg.x", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_console_format_filter_and_flags():
    fmt = ConsoleFormatter()
    assert re.fullmatch(r"\d{2}:\d{2}:\d{2} hello", fmt.format(_record("hello")))
    assert re.fullmatch(r"\d{2}:\d{2}:\d{2} WARNING: careful", fmt.format(_record("careful", logging.WARNING)))
    assert fmt.format(_record("  results  x", plain=True)) == "  results  x"
    assert not ConsoleFilter().filter(_record("detail", console=False)) and ConsoleFilter().filter(_record("line"))
    assert [duration(s) for s in (4.24, 65, 3 * 3600 + 420)] == ["4.2s", "1m05s", "3h07m"]
    assert expand_verbose_flag(["-v", "experiment=smoke"]) == ["experiment=smoke", "hydra.verbose=idg"]
    assert expand_verbose_flag(["experiment=smoke"]) == ["experiment=smoke"]


def test_training_counter_eta_comes_from_finished_epochs(tmp_path, caplog):
    console = Console(tmp_path)
    step = TrainingStep(1, 3, "syn_only", 0.0, 0, epochs=2, epochs_left=6, status="started")
    with caplog.at_level(logging.INFO, logger="idg"):
        console.on_training(step)
        console.on_training(TrainingStep(1, 3, "syn_only", 0.0, 0, 2, 6, "done", seconds=10.0))
        console.on_training(TrainingStep(2, 3, "real_only", 0.5, 0, 2, 4, "started"))
        console.on_epoch("real_only/f0.5_s0", 1, {"train/box_loss": 1.5, "metrics/mAP50(B)": 0.25})
        console.on_training(TrainingStep(3, 3, "mixed", 0.5, 0, 2, 2, "skipped"))
    shown = [r.getMessage() for r in caplog.records if getattr(r, "console", True)]
    assert shown == ["[1/3] syn_only f=0 s=0: 2 epochs",
                     "[2/3] real_only f=0.5 s=0: 2 epochs, ETA 20.0s",  # 4 epochs left at 5 s per finished epoch
                     "  real_only/f0.5_s0 epoch 1/2: box 1.5  mAP50 0.250",
                     "[3/3] mixed f=0.5 s=0: trained earlier, kept"]


QUIETING = ("TQDM_DISABLE", "YOLO_VERBOSE", "DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY")  # as a user's shell: unset


def _entry(args, tmp_path, **env):
    # in-process tests may have set the quieting variables in this process (idg sets them for a run)
    full = {k: v for k, v in os.environ.items() if k not in QUIETING}
    return subprocess.run([sys.executable, "-m", "idg.run", *args, f"hydra.run.dir={tmp_path}/run"], cwd=REPO,
                          env={**full, **env}, capture_output=True, text=True, timeout=600)


def test_a_user_error_is_printed_once(tmp_path):
    res = _entry(["experiment=smoke", "inpaint.strength=1.5"], tmp_path)
    assert res.returncode == 2
    assert res.stderr.count("inpaint.strength=1.5 must be in (0, 1]") == 1 and "must be in" not in res.stdout
    assert "inpaint.strength=1.5 must be in (0, 1]" in (tmp_path / "run" / "run.log").read_text()


@pytest.mark.slow
def test_verbose_flag_restores_the_libraries_output(tmp_path, tiny_model):
    args = ["experiment=smoke", "study.arms=[syn_only]", "stages=[generate,train]", "generate.num_images=2",
            "quality.shortcut_images=0", "logger=none"]
    res = _entry([*args, "-v"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "Ultralytics 8" in out and "ultralytics.nn.modules" in out  # banner and layer table
    assert "syn_only/f0_s0 epoch 1/1:" in out and "[1/1] syn_only f=0 s=0" in out  # idg's lines stay


def test_progress_bar_opens_at_the_first_finished_item():
    from idg.core.progress import LazyBar

    with LazyBar(8, "generate", enabled=False) as bar:
        assert bar.bar is None  # nothing shown while the model loads and the first batch runs
        bar.update(4)  # the first batch
        assert bar.bar is not None and bar.bar.n == 4 and bar.bar.total == 8  # its items are the start count
        bar.update(1)
        assert bar.done == 5
