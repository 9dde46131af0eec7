"""Ctrl-C and SIGTERM end a run within seconds, also in the middle of a long pipeline call, and the run dir
resumes; an inpainting call skips the masked-image VAE encode its 4-channel UNet never reads, bit for bit."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from idg.core import interrupt
from idg.core.interrupt import Terminated

from conftest import REPO


@pytest.fixture
def unet_calls(tiny_pipes):
    calls = []
    handle = tiny_pipes.background.pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    yield calls
    handle.remove()
    interrupt.clear()


def _crops(n: int, side: int = 64):
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n)]
    mask = np.zeros((side, side), np.uint8)
    mask[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 255
    return images, [Image.fromarray(mask)] * n


def test_a_recorded_stop_ends_text_to_image_after_one_denoising_step(tiny_pipes, unet_calls):
    # As if the handler's exception had been lost (raised inside a destructor): only the record is left.
    interrupt.request(Terminated)
    with pytest.raises(Terminated):
        tiny_pipes.text_to_image(["a forest"], [0], negative_prompt=None, steps=20, guidance=0.0, height=64, width=64)
    assert len(unet_calls) == 1


def test_a_recorded_stop_ends_inpainting_after_one_denoising_step(tiny_pipes, unet_calls):
    images, masks = _crops(2)
    interrupt.request(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        tiny_pipes.inpaint(["fire", "fire"], [1, 2], images=images, masks=masks, negative_prompt=None, strength=1.0,
                           steps=20, guidance=0.0, size=64)
    assert len(unet_calls) == 1
    interrupt.clear()
    out = tiny_pipes.inpaint(["fire"], [1], images=images[:1], masks=masks[:1], negative_prompt=None, strength=1.0,
                             steps=2, guidance=0.0, size=64)
    assert out.shape == (1, 64, 64, 3)  # cleared: calls run to the end again


def test_skipping_the_unused_masked_image_encode_changes_no_bit(tiny_pipes):
    """With an ancestral scheduler (SDXL-Turbo's), whose every step draws noise from the generators, the
    skipped encode's draws must still be taken: the output is compared with diffusers' own path (which
    encodes the masked image) and with a skip that does not take them (which must differ)."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler

    model = tiny_pipes.objects
    pipe = model.pipe
    assert pipe.unet.config.in_channels == 4
    encodes = []
    original_encode, original_scheduler = pipe.vae.encode, pipe.scheduler

    def counted(*args, **kwargs):
        encodes.append(1)
        return original_encode(*args, **kwargs)

    images, masks = _crops(2)
    common = dict(images=images, masks=masks, negative_prompt=None, strength=0.75, steps=4, guidance=0.0, size=64)
    pipe.vae.encode = counted
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(original_scheduler.config)
    try:
        skipped = tiny_pipes.inpaint(["fire", "smoke"], [3, 4], **common)
        n_skipped, encodes[:] = len(encodes), []
        diffusers_path = tiny_pipes.inpaint(["fire", "smoke"], [3, 4], masked_image_latents=None, **common)
        n_diffusers = len(encodes)
        zeros = torch.zeros(2, 4, 8, 8)
        undrawn = tiny_pipes.inpaint(["fire", "smoke"], [3, 4], masked_image_latents=zeros, **common)
    finally:
        pipe.vae.encode, pipe.scheduler = original_encode, original_scheduler
    assert (n_skipped, n_diffusers) == (2, 4)  # one encode per item instead of two
    assert np.array_equal(skipped, diffusers_path)
    assert not np.array_equal(undrawn, diffusers_path), "the test cannot tell whether the draws are taken"


@pytest.mark.slow
def test_sigterm_in_the_middle_of_a_long_pipeline_call_ends_the_run_within_seconds_and_it_resumes(tmp_path, tiny_model):
    """One 512 px background of 60 denoising steps (a call of 20-60 s on 2 CPU cores); SIGTERM a few seconds
    into it. The process ends within seconds, as interrupted (exit 143, no image written), and the same
    command then finishes the run (the steps are few enough for that resume to stay about a minute)."""
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "idg.run", "experiment=smoke", "stages=[generate]", "logger=none",
            "generate.num_images=1", "generate.batch_size=1", "model.resolution=512", "model.steps=60",
            "quality.shortcut_images=0", f"hydra.run.dir={run_dir}"]
    log = run_dir / "run.log"
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 600
            while not (log.is_file() and "loaded " in log.read_text()):
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()[-3000:]
                time.sleep(0.2)
            time.sleep(3.0)  # the text-to-image call is under way
            assert proc.poll() is None, "the call ended before the signal: make it longer"
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=120)
            ended = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = (tmp_path / "stderr").read_text()
    assert rc == 143, stderr[-3000:]
    assert "idg: interrupted (SIGTERM)" in stderr and "Traceback" not in stderr
    manifest = run_dir / "dataset" / "manifest.jsonl"
    assert not manifest.is_file() or not manifest.read_text().strip(), "the call finished before the signal"
    # Generous for a loaded 2-core machine; the call itself runs for tens of seconds (60 steps at 512 px).
    print(f"ended {ended:.1f} s after SIGTERM")
    assert ended < 15.0, f"took {ended:.1f} s to end after SIGTERM"

    res = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(manifest.read_text().splitlines()) == 1
    assert sorted(p.name for p in Path(run_dir / "dataset" / "images").rglob("*.png")) == ["000000.png"]
