"""Model families, the inpaint_model node, schedulers and LoRAs: checks before any weights load, cache keys and
fingerprints, and generation with the tiny model of each family as background model and as inpaint_model."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import make_config, run_idg
from idg.core.errors import ConfigError, IdgError

GEN = ["experiment=smoke", "stages=[generate]", "logger=none"]


def config(*overrides):
    return make_config(GEN + list(overrides))


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any attempt to build or load a model fails the test: the check must come first."""
    import idg.generate.engine
    import idg.models.diffusion
    import idg.models.tiny
    import idg.models.tiny_zoo

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded or built before the bad input was caught")

    for module, name in ((idg.models.diffusion, "load_pipelines"), (idg.models.tiny, "ensure_tiny_sdxl"),
                         (idg.models.tiny_zoo, "ensure_tiny"), (idg.generate.engine, "run_generation")):
        monkeypatch.setattr(module, name, forbidden)


def start_error(overrides, run_dir) -> str:
    """The one-paragraph error the study raises for ``overrides`` before anything loads."""
    from idg.pipeline import run_study

    with pytest.raises(IdgError) as info:
        run_study(config(*overrides), {}, run_dir)
    assert not (run_dir / "dataset").exists()
    return str(info.value)


def preset_path(group: str, name: str) -> Path:
    cfg = config(f"{group}={name}")
    return Path(os.path.expanduser(getattr(cfg, group).pretrained))


@pytest.fixture(scope="session")
def zoo():
    """The tiny zoo models, built once where their presets look for them."""
    from idg.models.tiny_zoo import ensure_tiny

    out = {}
    for group, name, kind in (("model", "tiny_sd15", "sd15"), ("inpaint_model", "tiny_sd15_inpainting", "sd15_inpainting"),
                              ("inpaint_model", "tiny_sdxl_inpainting", "sdxl_inpainting"), ("model", "tiny_flux", "flux"),
                              ("inpaint_model", "tiny_flux_fill", "flux_fill")):
        out[kind] = ensure_tiny(kind, preset_path(group, name))
    return out


def make_lora(kind: str, pipe_dir: Path, out: Path) -> Path:
    """A tiny LoRA for the zoo model ``kind`` (random A and B, so it changes the output), saved as diffusers does."""
    import torch
    from diffusers import AutoPipelineForText2Image
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(1)
    pipe = AutoPipelineForText2Image.from_pretrained(pipe_dir)
    attr, key = ("transformer", "transformer_lora_layers") if kind == "flux" else ("unet", "unet_lora_layers")
    denoiser = getattr(pipe, attr)
    denoiser.add_adapter(LoraConfig(r=2, lora_alpha=2, init_lora_weights=False,
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(denoiser))
    type(pipe).save_lora_weights(out, **{key: state}, safe_serialization=True)
    return out / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="session")
def loras(zoo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loras")
    return {kind: make_lora(kind, zoo[kind], tmp / kind) for kind in ("sd15", "flux")}


# ------------------------------------------------------------------------------------ the two nodes


def test_inpaint_model_defaults_to_the_background_model_with_turbo_steps():
    cfg = config()
    im = cfg.inpaint_model
    assert im.reuses_model and im.name == "same"
    assert (im.family, im.native_resolution, im.negative_prompt) == (cfg.model.family, cfg.model.native_resolution,
                                                                    cfg.model.negative_prompt)
    assert (cfg.inpaint.steps, cfg.inpaint.guidance) == (4, 0.0)
    assert config("inpaint.steps=8").inpaint.steps == 8  # the old override keeps working
    assert config("inpaint_model.steps=6").inpaint.steps == 6


def test_a_reused_inpaint_model_refuses_module_keys_naming_them():
    with pytest.raises(ConfigError, match=r"inpaint_model.dtype='float16'.*set model.dtype instead"):
        config("inpaint_model.dtype=float16")
    with pytest.raises(ConfigError, match=r"inpaint_model.loras.*model.loras"):
        config("inpaint_model.loras=[{path: x.safetensors}]")


def test_separate_inpaint_model_inherits_device_and_dtype():
    cfg = config("inpaint_model=tiny_sd15_inpainting", "model.dtype=float32")
    assert not cfg.inpaint_model.reuses_model
    assert (cfg.inpaint_model.dtype, cfg.inpaint_model.device, cfg.inpaint_model.native_resolution) == ("float32", "auto", 64)


def test_flux_crops_must_fit_its_patch_size():
    with pytest.raises(ConfigError, match="inpaint_model.size_multiple=16"):
        config("model=tiny_flux", "inpaint.crop_size=40")


# ------------------------------------------------------------------------------------ checks before weights load


@pytest.mark.usefixtures("no_model_loads")
def test_an_inpainting_checkpoint_cannot_draw_backgrounds(zoo, tmp_path):
    msg = start_error(["model=tiny_sd15", f"model.pretrained={zoo['sd15_inpainting']}", "model.build_tiny=false"],
                      tmp_path / "run")
    assert "is a dedicated inpainting checkpoint" in msg and "inpaint_model.pretrained=" in msg


@pytest.mark.usefixtures("no_model_loads")
def test_declared_family_must_match_the_checkpoint(zoo, tmp_path):
    msg = start_error(["model=tiny", f"model.pretrained={zoo['sd15']}", "model.build_tiny=false"], tmp_path / "run")
    assert "model.family=sdxl" in msg and "StableDiffusionPipeline (sd)" in msg


@pytest.mark.usefixtures("no_model_loads")
def test_a_text_to_image_checkpoint_declared_as_inpainting_is_named(zoo, tmp_path):
    msg = start_error(["model=tiny_sd15", "inpaint_model=tiny_sd15_inpainting", f"inpaint_model.pretrained={zoo['sd15']}",
                       "inpaint_model.build_tiny=false"], tmp_path / "run")
    assert "inpaint_model.inpainting=True" in msg and "unet in_channels=4" in msg


@pytest.mark.usefixtures("no_model_loads")
def test_an_unsupported_pipeline_lists_the_families(tmp_path):
    fake = tmp_path / "pixart"
    fake.mkdir()
    (fake / "model_index.json").write_text(json.dumps({"_class_name": "PixArtSigmaPipeline"}))
    msg = start_error(["model=tiny_sd15", f"model.pretrained={fake}", "model.build_tiny=false"], tmp_path / "run")
    assert "PixArtSigmaPipeline" in msg and "sdxl (" in msg and "flux (" in msg
    msg = start_error(["inpaint_model=tiny_sd15_inpainting", f"inpaint_model.pretrained={fake}", "inpaint_model.build_tiny=false"],
                      tmp_path / "run")
    assert "has no inpainting pipeline idg can drive" in msg


@pytest.mark.usefixtures("no_model_loads")
def test_unknown_or_unfitting_schedulers_list_the_alternatives(tmp_path):
    msg = start_error(["model.scheduler=EulerAncestralScheduler"], tmp_path / "run")
    assert "model.scheduler='EulerAncestralScheduler' is not a diffusers scheduler" in msg
    assert "EulerAncestralDiscreteScheduler" in msg and "DPMSolverMultistepScheduler" in msg
    msg = start_error(["model=tiny_flux", "model.scheduler=EulerAncestralDiscreteScheduler"], tmp_path / "run")
    assert "does not fit this checkpoint's FlowMatchEulerDiscreteScheduler" in msg
    msg = start_error(["model.scheduler=DPMSolverMultistepScheduler", "+model.scheduler_args.karras=true"], tmp_path / "run")
    assert "model.scheduler_args: DPMSolverMultistepScheduler takes no karras" in msg and "use_karras_sigmas" in msg


@pytest.mark.usefixtures("no_model_loads")
def test_a_lora_for_another_family_is_refused_naming_the_key(loras, tiny_model, tmp_path):
    # an SD 1.5 LoRA on the tiny SDXL: the cross-attention widths differ (32 vs 64)
    msg = start_error(["model=tiny", f"model.loras=[{{path: {loras['sd15']}, scale: 1.0}}]"], tmp_path / "run")
    assert "model.loras[0].path=" in msg and "a LoRA for another model family" in msg
    # a FLUX LoRA on SD 1.5: a transformer LoRA for a UNet model
    msg = start_error(["model=tiny_sd15", f"model.loras=[{{path: {loras['flux']}}}]"], tmp_path / "run")
    assert "is a LoRA for a transformer model" in msg and "Stable Diffusion 1.x/2.x" in msg
    msg = start_error(["model=tiny_sd15", f"model.loras=[{{path: {tmp_path}/missing.safetensors}}]"], tmp_path / "run")
    assert "model.loras[0].path=" in msg and "no such file" in msg


def test_lora_targets_from_kohya_and_diffusers_keys():
    from idg.models.adapters import lora_targets

    assert lora_targets(["lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight",
                         "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight"]) == {"unet", "text_encoder"}
    assert lora_targets(["lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight"]) == {"transformer"}
    assert lora_targets(["transformer.single_transformer_blocks.0.attn.to_k.lora_A.weight"]) == {"transformer"}
    assert lora_targets(["unet.up_blocks.1.attentions.0.proj_in.lora_A.weight"]) == {"unet"}


def test_cpu_offload_and_slow_bf16_are_warned(monkeypatch, caplog):
    import idg.models.diffusion as diffusion

    caplog.set_level(logging.WARNING)
    cfg = config("model.cpu_offload=true", "model.dtype=bfloat16")
    monkeypatch.setattr(diffusion, "cpu_has_fast_bf16", lambda: False)
    import torch

    warned: set = set()
    diffusion._warn_settings(cfg.model, "cpu", torch.bfloat16, warned)
    assert "model.cpu_offload=true has no effect on cpu" in caplog.text
    assert "model.dtype=bfloat16 on a CPU without native bf16" in caplog.text
    caplog.clear()
    diffusion._warn_settings(cfg.inpaint_model, "cpu", torch.bfloat16, warned)  # it inherits both: said once
    assert not caplog.records


# ------------------------------------------------------------------------------------ keys and fingerprints


def test_default_fingerprint_has_only_the_keys_it_always_had():
    from idg.generate.plan import fingerprint_config

    fp = fingerprint_config(config())
    assert "inpaint_model" not in fp
    assert set(fp["model"]) == {"pretrained", "revision", "dtype", "steps", "guidance", "native_resolution", "negative_prompt"}
    assert (fp["inpaint"]["steps"], fp["inpaint"]["guidance"]) == (4, 0.0)


def test_scheduler_lora_and_inpaint_model_change_keys_and_fingerprints(loras):
    from idg.generate.engine import model_identity
    from idg.generate.plan import fingerprint

    base = config("model=tiny_sd15")
    variants = [config("model=tiny_sd15", "model.scheduler=EulerAncestralDiscreteScheduler"),
                config("model=tiny_sd15", f"model.loras=[{{path: {loras['sd15']}, scale: 0.5}}]"),
                config("model=tiny_sd15", f"model.loras=[{{path: {loras['sd15']}, scale: 1.0}}]")]
    keys = [model_identity(c).get() for c in [base, *variants]]
    assert len(set(keys)) == 4
    objects = config("model=tiny_sd15", "inpaint_model=tiny_sd15_inpainting")
    assert len({fingerprint(c) for c in [base, *variants, objects]}) == 5
    # the LoRA counts by content, not by path
    copy = loras["sd15"].parent / "copy.safetensors"
    copy.write_bytes(loras["sd15"].read_bytes())
    same = config("model=tiny_sd15", f"model.loras=[{{path: {copy}, scale: 0.5}}]")
    assert model_identity(same).get() == keys[2] and fingerprint(same) == fingerprint(variants[1])


# ------------------------------------------------------------------------------------ generation per family


def small(*overrides):
    return config("generate.num_images=2", "generate.batch_size=2", "generate.val_fraction=0", "generate.use_cache=false",
                  "classes.fire.count=[1,1]", "classes.fire.width=[0.3,0.4]", "quality.shortcut_images=0", *overrides)


def generate(cfg, run_dir):
    from idg.generate.engine import export, run_generation

    result = run_generation(cfg, run_dir)
    assert export(result, cfg.class_names)
    return result


def painted_boxes_changed(result) -> bool:
    from PIL import Image

    return all(r["objects"] and all(o["changed_fraction"] > 0 for o in r["objects"]) for r in result.records) and all(
        Image.open(result.layout.root / r["image"]).size == (r["width"], r["height"]) for r in result.records)


@pytest.mark.slow
@pytest.mark.parametrize("model,inpaint_model,pipeline", [
    ("tiny_sd15", "tiny_sd15_inpainting", "StableDiffusionInpaintPipeline"),
    ("tiny_sd15", "same", "StableDiffusionInpaintPipeline"),
    ("tiny", "tiny_sdxl_inpainting", "StableDiffusionXLInpaintPipeline"),
    ("tiny_flux", "tiny_flux_fill", "FluxFillPipeline"),
    ("tiny_flux", "same", "FluxInpaintPipeline"),
])
def test_each_family_draws_backgrounds_and_paints_objects(tmp_path, model, inpaint_model, pipeline):
    cfg = small(f"model={model}", f"inpaint_model={inpaint_model}", "model.resolution=64", "model.native_resolution=32",
                *([] if inpaint_model == "same" else ["inpaint_model.native_resolution=32"]))
    result = generate(cfg, tmp_path / "run")
    engine_pipes = result.engine.painter.pipes.get()
    assert type(engine_pipes.objects.pipe).__name__ == pipeline
    if inpaint_model != "same":  # a dedicated checkpoint: the mask and masked image go into the denoiser
        denoiser = getattr(engine_pipes.objects.pipe, "transformer" if "flux" in model else "unet").config
        assert denoiser.in_channels == (9 if "flux" not in model else 2 * denoiser.out_channels + 4 * 8**2)
    assert painted_boxes_changed(result)
    objects = [o for r in result.records for o in r["objects"]]
    assert objects and all(o.get("model") == cfg.inpaint_model.pretrained for o in objects)


@pytest.mark.slow
def test_scheduler_override_changes_images_and_is_recorded(tmp_path):
    base = generate(small("model=tiny_sd15", "inpaint_model=tiny_sd15_inpainting", "model.resolution=64"), tmp_path / "a")
    euler = generate(small("model=tiny_sd15", "inpaint_model=tiny_sd15_inpainting", "model.resolution=64",
                           "model.scheduler=EulerAncestralDiscreteScheduler"), tmp_path / "b")
    pipes = euler.engine.painter.pipes.get()
    assert type(pipes.background.pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    a, b = base.records[0], euler.records[0]
    assert a["background"]["key"] != b["background"]["key"]
    assert b["background"]["scheduler"] == "EulerAncestralDiscreteScheduler" and "scheduler" not in a["background"]
    from PIL import Image

    img = lambda res, r: np.asarray(Image.open(res.layout.root / r["image"]))  # noqa: E731
    assert not np.array_equal(img(base, a), img(euler, b))
    assert euler.generation["config"]["model"]["scheduler"] == "EulerAncestralDiscreteScheduler"


@pytest.mark.slow
def test_a_lora_changes_the_images_and_scale_zero_does_not(tmp_path, loras):
    common = ("model=tiny_sd15", "inpaint_model=same", "model.resolution=64", "model.native_resolution=32")
    runs = {name: generate(small(*common, *extra), tmp_path / name) for name, extra in (
        ("none", ()), ("lora", (f"model.loras=[{{path: {loras['sd15']}, scale: 1.0}}]",)),
        ("zero", (f"model.loras=[{{path: {loras['sd15'].parent}, scale: 0.0}}]",)))}
    from PIL import Image

    def pixels(name):
        return [np.asarray(Image.open(runs[name].layout.root / r["image"])) for r in runs[name].records]

    assert any(not np.array_equal(x, y) for x, y in zip(pixels("none"), pixels("lora")))
    assert all(np.abs(x.astype(int) - y.astype(int)).max() <= 1 for x, y in zip(pixels("none"), pixels("zero")))
    rec = runs["lora"].records[0]["background"]
    assert rec["loras"] == [{"path": str(loras["sd15"]), "scale": 1.0}]
    assert runs["lora"].generation["config"]["model"]["loras"][0]["sha256"]


@pytest.mark.slow
def test_a_reused_inpaint_model_can_take_its_own_scheduler(zoo):
    from idg.models.diffusion import load_pipelines

    cfg = config("model=tiny_sd15", "inpaint_model.scheduler=EulerAncestralDiscreteScheduler")
    pipes = load_pipelines(cfg.model, cfg.inpaint_model, offline=True)
    assert type(pipes.background.pipe.scheduler).__name__ == "PNDMScheduler"
    assert type(pipes.objects.pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert pipes.objects.pipe.unet is pipes.background.pipe.unet  # still one copy of the modules
    assert pipes.objects.identity != pipes.background.identity


@pytest.mark.slow
def test_compile_wraps_the_denoiser(zoo):
    from idg.models.diffusion import load_pipelines

    cfg = config("model=tiny_sd15", "model.compile=true")
    pipes = load_pipelines(cfg.model, cfg.inpaint_model, offline=True)
    assert pipes.background.pipe.unet._compiled_call_impl is not None


@pytest.mark.slow
def test_sd15_with_its_inpainting_model_through_the_entrypoint(tmp_path, zoo):
    run_dir = tmp_path / "run"
    res = run_idg([*GEN, "model=tiny_sd15", "inpaint_model=tiny_sd15_inpainting", "generate.num_images=2",
                   "model.scheduler=EulerAncestralDiscreteScheduler", "quality.shortcut_images=0",
                   f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    records = [json.loads(line) for line in (run_dir / "dataset" / "manifest.jsonl").read_text().splitlines()]
    assert sum(len(r["objects"]) for r in records) >= 2
    assert all(r["background"]["scheduler"] == "EulerAncestralDiscreteScheduler" for r in records)
    config_yaml = (run_dir / "config.yaml").read_text()
    assert "scheduler: EulerAncestralDiscreteScheduler" in config_yaml and "name: tiny_sd15_inpainting" in config_yaml


@pytest.mark.slow
def test_flux_images_do_not_depend_on_the_batch_size(tmp_path):
    runs = [generate(small("model=tiny_flux", "inpaint_model=tiny_flux_fill", "model.resolution=64",
                           "model.native_resolution=32", "inpaint_model.native_resolution=32",
                           f"generate.batch_size={bs}"), tmp_path / f"b{bs}") for bs in (1, 2)]
    files = [{p.relative_to(r.layout.root).as_posix(): p.read_bytes() for p in sorted(r.layout.root.rglob("*"))
              if p.is_file() and p.name != "generation.json"} for r in runs]
    assert files[0] == files[1]
