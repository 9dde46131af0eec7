"""No secret (W&B API key, Hugging Face token) ends up in anything a run writes: config.yaml, run.json,
.hydra/*.yaml, logs, manifests, or the offline W&B run."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_idg
from idg.core.secrets import redact, redact_text, secret_override

FAKE_WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"  # the shape of a W&B API key
FAKE_HF_TOKEN = "hf_FakeTokenForTestsOnly1234567890abcd"


def leaks(run_dir: Path, *secrets: str) -> list:
    """Every file under ``run_dir`` (hidden ones, W&B's and Hydra's included) that contains a secret."""
    return [p for p in run_dir.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)]


def test_redact_config_and_text(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "s3cret-value-42")
    config = {"logger": {"api_key": "abc", "project": "idg"}, "detector": {"args": {"hf_token": None}},
              "model": {"revision": "0123456789abcdef0123456789abcdef01234567", "pretrained": FAKE_HF_TOKEN},
              "tags": ["ok", "s3cret-value-42"]}
    assert redact(config) == {"logger": {"api_key": "***", "project": "idg"}, "detector": {"args": {"hf_token": None}},
                              "model": {"revision": "0123456789abcdef0123456789abcdef01234567", "pretrained": "***"},
                              "tags": ["ok", "***"]}
    text = "- +logger.api_key=abc\n- model=tiny\ntokenizer: clip\nrun with s3cret-value-42\n"
    assert redact_text(text) == "- +logger.api_key=***\n- model=tiny\ntokenizer: clip\nrun with ***\n"


@pytest.mark.parametrize("override", ["+logger.api_key=abc", "+detector.args.hf_token=x", f"logger.entity={FAKE_HF_TOKEN}",
                                      "+detector.args.password='p w'"])
def test_secret_overrides_are_refused(override):
    message = secret_override(["model=tiny", override])
    assert message and "WANDB_API_KEY" in message and "HF_TOKEN" in message
    assert "abc" not in message and FAKE_HF_TOKEN not in message


def test_ordinary_overrides_pass():
    assert secret_override(["model=tiny", "model.revision=0123456789abcdef0123456789abcdef01234567",
                            "inpaint.prompt_template='{prompt}, photo'", "logger.tags=[a,b]"]) is None


@pytest.mark.slow
def test_planted_secrets_appear_in_no_output_file(tmp_path, tiny_model):
    env = {"WANDB_API_KEY": FAKE_WANDB_KEY, "HF_TOKEN": FAKE_HF_TOKEN, "WANDB_MODE": "offline"}
    run_dir = tmp_path / "run"
    res = run_idg(["experiment=smoke", "stages=[generate]", "generate.num_images=2", "logger=wandb",
                   f"hydra.run.dir={run_dir}"], env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert list((run_dir / "wandb").glob("offline-run-*")), "the W&B offline run is part of the check"
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "run.log").is_file()
    assert leaks(run_dir, FAKE_WANDB_KEY, FAKE_HF_TOKEN) == []
    assert FAKE_WANDB_KEY not in res.stdout + res.stderr and FAKE_HF_TOKEN not in res.stdout + res.stderr

    # The user pastes a key into an override: refused, and no file keeps it (Hydra's own copies included).
    for n, override in enumerate([f"logger.entity={FAKE_WANDB_KEY}", f"+logger.api_key={FAKE_WANDB_KEY}",
                                  f"+detector.args.token={FAKE_HF_TOKEN}"]):
        other = tmp_path / f"refused{n}"
        res = run_idg(["experiment=smoke", "stages=[generate]", override, f"hydra.run.dir={other}"], env=env, timeout=120)
        assert res.returncode == 2 and "pass secrets as environment variables" in res.stderr, res.stderr[-2000:]
        assert (other / ".hydra" / "overrides.yaml").is_file()
        assert leaks(other, FAKE_WANDB_KEY, FAKE_HF_TOKEN) == []
        assert FAKE_WANDB_KEY not in res.stdout + res.stderr and FAKE_HF_TOKEN not in res.stdout + res.stderr
