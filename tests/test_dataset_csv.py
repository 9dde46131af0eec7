"""The prototype's CSV inputs: read into the same config as the equivalent YAML presets."""

import numpy as np
import pytest

from conftest import make_config
from idg.data.csv_import import class_name_from_prompt
from idg.generate.plan import background_plan
from idg.core.errors import DataError
from idg.generate.sampling import class_ranges, sample_boxes

SAFARI_CLASSES = """name,prompt,min_appear,max_appear,aspect_ratio_min,aspect_ratio_max,width_min,width_max,height_min,height_max
zebra,"a zebra standing in the grass, full body",0,2,0.6,1.6,300,500,300,500
elephant,"an african elephant, full body",0,1,0.7,1.5,400,700,400,700
"""
SAFARI_BACKGROUNDS = """prompt,num_imgs
"photo of an african savannah with dry grass and acacia trees, wildlife photography",60
"photo of a grassy plain in a national park at golden hour, wildlife photography",40
"""


@pytest.fixture
def safari_csv(tmp_path):
    (tmp_path / "classes.csv").write_text(SAFARI_CLASSES)
    (tmp_path / "backgrounds.csv").write_text(SAFARI_BACKGROUNDS)
    return tmp_path


def _csv_config(d, *extra):
    return make_config(["dataset=from_csv", f"dataset.backgrounds_csv={d}/backgrounds.csv",
                        f"dataset.classes_csv={d}/classes.csv", "stages=[generate]", *extra])


def test_csv_import_matches_the_yaml_preset(safari_csv):
    from_csv = _csv_config(safari_csv)
    from_yaml = make_config(["dataset=safari", "stages=[generate]"])
    assert from_csv.class_names == from_yaml.class_names
    for name in from_yaml.class_names:
        a, b = from_csv.classes[name], from_yaml.classes[name]
        assert (a.prompt, a.count, a.width, a.height, a.aspect_ratio, a.size_unit) == (
            b.prompt, b.count, b.width, b.height, b.aspect_ratio, b.size_unit)
    assert [(p.prompt, p.num_images) for p in from_csv.background.prompts] == [
        (p.prompt, p.num_images) for p in from_yaml.background.prompts]
    # ...and so the same seed places the same boxes.
    for seed in range(20):
        assert sample_boxes(from_csv.sampler, class_ranges(from_csv), 768, 768, np.random.default_rng(seed)) == \
            sample_boxes(from_yaml.sampler, class_ranges(from_yaml), 768, 768, np.random.default_rng(seed))


def test_csv_without_name_column_names_classes_by_prompt(tmp_path):
    (tmp_path / "classes.csv").write_text(
        "prompt,min_appear,max_appear,aspect_ratio_min,aspect_ratio_max,width_min,width_max,height_min,height_max\n"
        "a forest fire,1,2,0.5,2,0.1,0.3,0.1,0.3\n")
    (tmp_path / "backgrounds.csv").write_text("prompt,num_imgs\nforest from above,3\n")
    cfg = _csv_config(tmp_path)
    assert cfg.class_names == ["forest_fire"]
    assert cfg.classes["forest_fire"].size_unit == "fraction"
    assert class_name_from_prompt("An Elephant!") == "elephant"


@pytest.mark.parametrize(
    "file, text, needle",
    [
        ("classes.csv", "prompt,min_appear\na zebra,1\n", "missing column"),
        ("classes.csv", SAFARI_CLASSES.replace(",0,2,", ",zero,2,"), "min_appear"),
        ("backgrounds.csv", "prompt,count\nsavannah,3\n", "num_imgs"),
        ("backgrounds.csv", "prompt,num_imgs\n", "no data rows"),
    ],
)
def test_bad_csv_names_the_file_and_column(safari_csv, file, text, needle):
    (safari_csv / file).write_text(text)
    with pytest.raises(DataError) as info:
        _csv_config(safari_csv)
    assert file in str(info.value) and needle in str(info.value)


def test_missing_csv_file(safari_csv):
    tmp_path = safari_csv
    with pytest.raises(DataError, match="classes_csv"):
        make_config(["dataset=from_csv", f"dataset.backgrounds_csv={tmp_path}/backgrounds.csv",
                     f"dataset.classes_csv={tmp_path}/nope.csv", "stages=[generate]"])


def test_csv_values_are_validated_like_yaml(safari_csv):
    (safari_csv / "classes.csv").write_text(SAFARI_CLASSES.replace("zebra,\"a zebra standing in the grass, full body\",0,2", "zebra,\"a zebra\",3,2"))
    from idg.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"classes\.zebra\.count"):
        _csv_config(safari_csv)


def test_background_plan_shares_images_in_proportion():
    cfg = make_config(["dataset=safari", "stages=[generate]"])
    assert len(background_plan(cfg.background.prompts, None)) == 100
    plan = background_plan(cfg.background.prompts, 10)
    assert plan == [0] * 6 + [1] * 4
    assert background_plan(cfg.background.prompts, 3) == [0, 0, 1]
