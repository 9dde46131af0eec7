"""Config composition: presets compose, schemas catch typos and wrong types, ranges are checked."""

import pytest

from conftest import compose, make_config, run_idg
from idg.core.errors import ConfigError


@pytest.mark.parametrize("dataset", ["forest_fire", "safari", "fire_cctv"])
@pytest.mark.parametrize("sampler", ["random", "grid", "non_overlap"])
def test_presets_compose_and_validate(dataset, sampler):
    cfg = make_config([f"dataset={dataset}", f"sampler={sampler}", "stages=[generate]"])
    assert cfg.dataset.name == dataset
    assert cfg.sampler.name == sampler
    assert cfg.classes and cfg.background.prompts


def test_forest_fire_matches_the_prototype():
    cfg = make_config(["dataset=forest_fire", "stages=[generate]"])
    assert list(cfg.classes) == ["fire"]
    fire = cfg.classes["fire"]
    assert fire.count == [1, 2] and fire.aspect_ratio == [0.5, 2.0]
    assert "satellite" in cfg.background.prompts[0].prompt
    assert cfg.model.pretrained == "stabilityai/sdxl-turbo"
    assert (cfg.model.steps, cfg.model.guidance, cfg.model.resolution) == (2, 0.0, 768)
    assert cfg.model.negative_prompt == "render, anime, cartoon, illustration, drawing"


def test_safari_sizes_scale_with_resolution():
    full = make_config(["dataset=safari", "stages=[generate]"])
    assert full.box_size_range("zebra")["w"] == [300, 500]
    assert full.classes["zebra"].count == [0, 2] and full.classes["elephant"].count == [0, 1]
    assert full.box_size_range("elephant")["w"] == [400, 700]
    half = make_config(["dataset=safari", "model.resolution=384", "stages=[generate]"])
    assert half.box_size_range("zebra")["w"] == [150, 250]


def test_background_and_classes_override_a_dataset_preset():
    cfg = make_config(["dataset=safari", "background=forest_satellite", "stages=[generate]"])
    assert cfg.background.name == "forest_satellite" and "zebra" in cfg.classes


def test_experiment_smoke_bundle():
    cfg = make_config(["experiment=smoke"])
    assert cfg.model.name == "tiny" and cfg.model.build_tiny
    assert cfg.generate.resolution == 192 and cfg.model.native_resolution == 128 and cfg.generate.num_images == 8
    assert cfg.model.pretrained.endswith("models/tiny-sdxl-v2")
    assert cfg.detector.epochs == 1 and cfg.real.data.endswith("fire8_mini/data.yaml")
    assert cfg.offline


@pytest.mark.parametrize(
    "override, needle",
    [
        ("inpaint.strenght=0.5", "strenght"),
        ("generate.batch_size=four", "batch_size"),
        ("sampler=gridd", "gridd"),
        ("classes.fire.cout=[1,2]", "cout"),
    ],
)
def test_typos_fail_at_compose_time_naming_the_key(override, needle):
    with pytest.raises(Exception) as info:
        compose([override])
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("inpaint.strength=1.5", "inpaint.strength"),
        ("inpaint.strength=0", "inpaint.strength"),
        ("inpaint.steps=0", "inpaint.steps"),
        ("classes.fire.count=[3,1]", "classes.fire.count"),
        ("classes.fire.aspect_ratio=[2,0.5]", "classes.fire.aspect_ratio"),
        ("classes.fire.width=[0.5,1.5]", "classes.fire.width"),
        ("classes.fire.prompt=''", "classes.fire.prompt"),
        ("model.resolution=100", "generate.resolution"),
        ("generate.batch_size=0", "generate.batch_size"),
        ("stages=[generate,fly]", "stages"),
    ],
)
def test_range_checks_name_the_field(override, needle):
    with pytest.raises(ConfigError) as info:
        make_config([override, "stages=[generate]"] if not override.startswith("stages") else [override])
    assert needle in str(info.value)


def test_box_larger_than_the_image_is_an_error():
    with pytest.raises(ConfigError, match="classes.zebra"):
        make_config(["dataset=safari", "classes.zebra.width=[900,1000]", "classes.zebra.height=null", "stages=[generate]"])


def test_entrypoint_prints_composed_config():
    res = run_idg(["dataset=forest_fire", "sampler=grid", "--cfg", "job"], timeout=120)
    assert res.returncode == 0, res.stderr
    assert "name: grid" in res.stdout and "forest_fire" in res.stdout


def test_entrypoint_misspelt_override_names_the_key():
    res = run_idg(["dataset=forest_fire", "inpaint.strenght=0.9", "--cfg", "job"], timeout=120)
    assert res.returncode != 0
    assert "strenght" in res.stderr
