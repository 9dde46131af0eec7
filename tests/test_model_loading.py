"""Model loading prefers safetensors (no code runs when they load); pickled weights only as a warned fallback."""

from __future__ import annotations

import logging

import pytest

from idg.models.diffusion import from_pretrained_safe


class FakePipeline:
    """Records from_pretrained calls; ``files`` says which (safetensors, variant) weights exist."""

    calls: list = []
    files: set = set()

    @classmethod
    def from_pretrained(cls, path, use_safetensors=None, variant=None, **kwargs):
        cls.calls.append((use_safetensors, variant))
        if (use_safetensors, variant) in cls.files:
            return cls()
        if use_safetensors:
            raise OSError(f"Could not find the necessary `safetensors` weights in {path} (variant={variant})")
        raise OSError(f"Error no file named diffusion_pytorch_model{'.' + variant if variant else ''}.bin found (variant={variant})")


def load(files, **kwargs):
    FakePipeline.calls, FakePipeline.files = [], set(files)
    return from_pretrained_safe(FakePipeline, "some/model", {"torch_dtype": None, **kwargs})


def test_safetensors_first(caplog):
    assert isinstance(load({(True, None)}), FakePipeline)
    assert FakePipeline.calls == [(True, None)] and not caplog.records


def test_a_missing_variant_falls_back_to_default_safetensors_not_to_pickle():
    load({(True, None), (False, "fp16")}, variant="fp16")
    assert FakePipeline.calls == [(True, "fp16"), (True, None)]


def test_pickled_weights_only_when_there_are_no_safetensors(caplog):
    caplog.set_level(logging.WARNING)
    load({(False, None)})
    assert FakePipeline.calls == [(True, None), (False, None)]
    assert "pickled .bin weights, which can run code" in caplog.text


def test_other_errors_are_not_retried():
    class Offline(FakePipeline):
        @classmethod
        def from_pretrained(cls, path, **kwargs):
            cls.calls.append(kwargs.get("use_safetensors"))
            raise OSError("We couldn't connect to 'https://huggingface.co'")

    Offline.calls = []
    with pytest.raises(OSError, match="couldn't connect"):
        from_pretrained_safe(Offline, "some/model", {})
    assert Offline.calls == [True]


def test_nothing_loadable_raises_the_first_error():
    with pytest.raises(OSError, match="safetensors"):
        load(set(), variant="fp16")
    assert len(FakePipeline.calls) == 4


@pytest.mark.slow
def test_tiny_model_is_saved_and_loaded_as_safetensors(tiny_model, tiny_pipes):
    assert list(tiny_model.rglob("*.safetensors")) and not list(tiny_model.rglob("*.bin"))
    assert tiny_pipes.background.pipe is not None


@pytest.mark.slow
def test_model_tiny_builds_the_v2_sdxl_structure_where_the_config_points(tiny_model):
    """model=tiny writes the current tiny version under its own path (caches of v1 never mix with it) with
    SDXL's 4-block VAE (latent factor 8)."""
    import json

    from idg.models.tiny import TINY_VERSION

    assert tiny_model.name == f"tiny-sdxl-{TINY_VERSION}" == "tiny-sdxl-v2"
    vae = json.loads((tiny_model / "vae" / "config.json").read_text())
    assert len(vae["block_out_channels"]) == 4
    unet = json.loads((tiny_model / "unet" / "config.json").read_text())
    assert unet["down_block_types"] == ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
