"""A crash or kill costs only the unfinished image: generation killed with SIGKILL at random moments and
resumed, again and again, ends byte-identical to a run that was never interrupted.

Each cycle starts ``python -m idg.run`` (tiny model, 64 px, one image per batch) on the same run dir and
kills it with SIGKILL: ``early`` at a random moment before the first new image is done (imports, compose,
model load, the first diffusion calls and writes: the delay is a random share of the start-up time measured
in the first cycle), ``next`` as soon as the manifest grows (inside the next image's diffusion calls),
``late`` a random moment after it grows (anywhere in the next image, its writes included). The order and the
delays come from a seeded RNG, so a failure replays. After the last cycle a final resume finishes the run, which must equal an
uninterrupted run of the same config byte for byte. One cycle is a Ctrl-C (SIGINT) and one a SIGTERM
instead: those must end with a one-line ``idg: interrupted`` message, no traceback, and the run marked
interrupted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from PIL import Image

from conftest import REPO

pytestmark = pytest.mark.slow

# Enough images that the kill cycles (each lets a few images finish) never complete the run by themselves.
NUM_IMAGES = 30
# The first cycle (SIGINT after its first image) measures the start-up. Each "next"/"late" cycle costs a whole
# start-up (imports of torch and diffusers: seconds), an "early" one a part of it.
PLAN = ["early"] * 5 + ["next"] * 2 + ["late"] * 3  # SIGKILL; plus one SIGINT and one SIGTERM cycle
SEED = 20261130
OVERRIDES = ["model=tiny", "offline=true", "stages=[generate]", "logger=none", f"generate.num_images={NUM_IMAGES}",
             "generate.batch_size=1", "generate.val_fraction=0.25", "model.resolution=64", "model.native_resolution=32",
             "classes.fire.count=[1,1]", "classes.fire.width=[0.2,0.4]", "inpaint.steps=2", "inpaint.strength=1.0"]


def overrides(cache_dir: Path, tiny_model: Path) -> List[str]:
    return [*OVERRIDES, f"model.pretrained={tiny_model}", f"generate.cache_dir={cache_dir}"]


def manifest_lines(run_dir: Path) -> int:
    path = run_dir / "dataset" / "manifest.jsonl"
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def dataset_files(root: Path) -> dict:
    """Bytes of every file of the export but generation.json (it holds timings; compared separately)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "generation.json"}


def test_kill_and_resume_until_done_is_byte_identical(tmp_path, tiny_model, tiny_pipes):
    from conftest import make_config
    from idg.generate.engine import export, run_generation

    t0 = time.perf_counter()
    # The uninterrupted run, in-process (same code and config; saves a process start-up).
    reference = tmp_path / "reference"
    ref_cfg = make_config(overrides(tmp_path / "cache_ref", tiny_model))
    assert export(run_generation(ref_cfg, reference, pipes_factory=lambda: tiny_pipes), ref_cfg.class_names)
    expected = dataset_files(reference / "dataset")
    assert len([k for k in expected if k.startswith("images/")]) == NUM_IMAGES

    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "idg.run", *overrides(tmp_path / "cache_killed", tiny_model), f"hydra.run.dir={run_dir}"]
    rng = random.Random(SEED)
    plan = [(how, signal.SIGKILL) for how in PLAN]
    rng.shuffle(plan)
    # Ctrl-C first (it also measures the start-up), and one SIGTERM somewhere: both end without a traceback.
    plan.insert(rng.randrange(1, len(plan)), ("late", signal.SIGTERM))
    plan.insert(0, ("next", signal.SIGINT))
    history = []
    startup = 3.0
    cycle = -1
    while True:
        cycle += 1
        kills = sum(1 for h in history if h[4] == "SIGKILL")
        if cycle >= len(plan):
            # A cycle whose process finished before its signal (a quiet machine starts faster than the first,
            # measured cycle) is not a kill: add cycles until 10 kills have landed.
            if kills >= 10 or cycle >= 24:
                break
            plan.append((rng.choice(["early", "next"]), signal.SIGKILL))
        how, sig = plan[cycle]
        before = manifest_lines(run_dir)
        started = time.monotonic()
        with open(tmp_path / f"stderr{cycle}.txt", "w+") as err:
            # SIG_DFL for SIGINT: a shell running the suite in the background leaves it ignored, and Python
            # then installs no Ctrl-C handler in the child.
            proc = subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            if how == "early":
                deadline = started + rng.uniform(0.05, 1.0) * startup
                while time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.01)
            else:
                deadline = time.monotonic() + 120
                while manifest_lines(run_dir) <= before and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                if cycle == 0:
                    startup = time.monotonic() - started
                if how == "late":
                    time.sleep(rng.uniform(0.02, 0.3))
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, sig)
            rc = proc.wait(timeout=60)
            err.seek(0)
            stderr = err.read()
        history.append((cycle, how, before, manifest_lines(run_dir), "exited" if finished else sig.name,
                        round(time.monotonic() - started, 2)))
        if sig != signal.SIGKILL and not finished:  # interrupted, not killed: a one-line message, no traceback
            assert rc == (130 if sig == signal.SIGINT else 143), stderr[-2000:]
            assert "Traceback" not in stderr and f"idg: interrupted ({'Ctrl-C' if sig == signal.SIGINT else 'SIGTERM'})" in stderr
            assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    kills = sum(1 for h in history if h[4] == "SIGKILL")
    assert kills >= 10, history
    assert manifest_lines(run_dir) < NUM_IMAGES, history  # the last kill still left work to resume
    assert any(h[3] > h[2] for h in history), history  # some cycles made progress before their kill

    res = subprocess.run(cmd, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]  # the final resume
    root = run_dir / "dataset"
    records = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    # the journal: exactly one line per image, none missing or repeated
    assert [r["index"] for r in records] == list(range(NUM_IMAGES)), history
    # no orphan, missing or truncated image or label; no temp file left anywhere in the run dir
    listed = {r["image"] for r in records} | {r["label"] for r in records}
    on_disk = {p.relative_to(root).as_posix() for sub in ("images", "labels") for p in (root / sub).rglob("*") if p.is_file()}
    assert on_disk == listed
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    for r in records:
        with Image.open(root / r["image"]) as im:
            im.load()
            assert im.size == (64, 64)
        assert len((root / r["label"]).read_text().splitlines()) == len(r["objects"]) >= 1
    # byte for byte the uninterrupted run: images, labels, COCO json, manifest, data.yaml
    assert dataset_files(root) == expected, history
    generation = json.loads((root / "generation.json").read_text())
    assert generation["status"] == "complete"
    assert generation["fingerprint"] == json.loads((reference / "dataset" / "generation.json").read_text())["fingerprint"]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "complete" and run["attempts"] >= 2
    print(f"\n{kills} kills in {time.perf_counter() - t0:.0f}s: {history}")


# ------------------------------------------------------------------------------------ interrupted training


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C (or a scheduler's SIGINT/SIGTERM handler) raises in the middle of a training."""


def test_interrupted_study_resumes_at_the_unfinished_arm(tmp_path, tiny_model, monkeypatch, caplog):
    """stages=[generate,train]: a study interrupted inside its second training resumes there; the finished
    generation and the finished arm are not redone."""
    from conftest import make_config
    from idg.pipeline import run_study
    from idg.report.wandb_log import WandbLogger

    cfg = make_config(["experiment=smoke", "stages=[generate,train]", "study.arms=[syn_only,real_only]", "logger=none",
                       "generate.num_images=4", "model.resolution=64", "model.native_resolution=32",
                       "classes.fire.width=[0.2,0.4]", f"model.pretrained={tiny_model}",
                       f"generate.cache_dir={tmp_path}/cache"])
    run_dir = tmp_path / "run"
    real_log_epoch = WandbLogger.on_epoch

    def interrupt_real_only(self, tag, epoch, metrics):
        if tag.startswith("real_only/"):
            raise Interrupt
        real_log_epoch(self, tag, epoch, metrics)

    monkeypatch.setattr(WandbLogger, "on_epoch", interrupt_real_only)
    with pytest.raises(Interrupt):
        run_study(cfg, {}, run_dir)
    syn, real = run_dir / "detect" / "syn_only" / "f0_s0", run_dir / "detect" / "real_only" / "f1_s0"
    assert (syn / "done.json").is_file() and not (real / "done.json").exists()
    assert real.is_dir()  # the interrupted training left its partial run behind
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["stages"]["train"]["status"] == "running"
    assert run["stages"]["generate"]["status"] == "complete"
    kept = {p: p.stat().st_mtime_ns for p in [*syn.rglob("*.pt"), *(run_dir / "dataset").rglob("*.png"), syn / "done.json"]}

    monkeypatch.setattr(WandbLogger, "on_epoch", real_log_epoch)
    caplog.set_level("INFO")
    metrics = run_study(cfg, {}, run_dir)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # nothing finished was redone
    assert "syn_only/f0_s0: already trained" in caplog.text
    assert "syn_only/f0_s0: training" not in caplog.text
    # The unfinished arm was trained now: its record appears (below) and the partial run it left was finished.
    # (Its "training" log line is not asserted: in the full in-process suite that line went missing from
    # caplog after earlier tests, though this test passes alone; the files are what a resume must get right.)
    assert (real / "done.json").is_file() and (real / "weights" / "last.pt").is_file()
    assert metrics["generate/images"] == 0 and metrics["generate/images_skipped"] == 4
    assert json.loads((real / "done.json").read_text())["weights"].endswith("last.pt")
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "complete" and run["attempts"] == 2 and run["stages"]["train"]["trainings"] == 2
