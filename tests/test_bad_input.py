"""Bad input fails in the first seconds, before any model loads, with one paragraph naming the key or file.

Most cases run in-process: compose, validate and start the study exactly as the entrypoint does
(:func:`idg.pipeline.run_study`), with every model loader and trainer replaced by a function that fails the
test, and assert the IdgError's message. A representative handful run the real entrypoint as a user does
(``python -X importtime -m idg.run ...``): exit status 2, one ``idg: error:`` paragraph on stderr naming the
key or file, no traceback unless ``HYDRA_FULL_ERROR=1``, and neither torch nor diffusers ever imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from conftest import REPO, make_config
from fake_real import DAMAGES, damage, make_real
from idg.core.errors import ConfigError, DataError, IdgError, ModelLoadError, RunDirError

GEN = ["model=tiny", "offline=true", "stages=[generate]", "logger=none"]
STUDY = ["experiment=smoke", "logger=none", "stages=[generate,train,evaluate]"]


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    """Any attempt to build, load or train a model fails the test: every check must come first."""
    import idg.generate.sets
    import idg.study.detect
    import idg.generate.engine
    import idg.models.diffusion
    import idg.models.tiny
    import idg.models.tiny_zoo

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded, built or trained before the bad input was caught")

    for module, name in ((idg.models.diffusion, "load_pipelines"), (idg.models.tiny, "ensure_tiny_sdxl"), (idg.models.tiny_zoo, "ensure_tiny"),
                         (idg.generate.engine, "run_generation"),
                         (idg.study.detect, "train"), (idg.study.detect, "evaluate"), (idg.generate.sets, "generate_sets")):
        monkeypatch.setattr(module, name, forbidden)


def start(overrides: List[str], run_dir: Path) -> IdgError:
    """Compose, validate and start the study as ``idg.run.run_app`` does; returns the IdgError raised."""
    from idg.pipeline import run_study

    with pytest.raises(IdgError) as info:
        run_study(make_config(overrides), {}, run_dir)
    assert not (run_dir / "dataset").exists() and not (run_dir / "detect").exists()
    message = str(info.value)
    assert "\n\n" not in message and "Traceback" not in message  # one paragraph
    return info.value


# ------------------------------------------------------------------------------------ config values

CONFIG_CASES = [
    # (id, overrides, error class, text the message must contain)
    ("negative_count", ["classes.fire.count=[-1,2]"], ConfigError, "classes.fire.count"),
    ("zero_num_images", ["generate.num_images=0"], ConfigError, "generate.num_images=0"),
    ("zero_batch_size", ["generate.batch_size=0"], ConfigError, "generate.batch_size=0"),
    ("negative_width", ["classes.fire.width=[-5,10]"], ConfigError, "classes.fire.width"),
    ("zero_resolution", ["model.resolution=0"], ConfigError, "model.resolution=0 must be >= 1"),
    ("count_min_gt_max", ["classes.fire.count=[3,1]"], ConfigError, "classes.fire.count=[3, 1]: min 3 is greater than max 1"),
    ("width_min_gt_max", ["classes.fire.width=[0.4,0.1]"], ConfigError, "classes.fire.width"),
    ("aspect_min_gt_max", ["classes.fire.aspect_ratio=[2,0.5]"], ConfigError, "classes.fire.aspect_ratio"),
    ("box_larger_than_image", ["dataset=safari", "classes.zebra.width=[900,1000]", "classes.zebra.height=null"],
     ConfigError, "classes.zebra"),
    ("more_objects_than_grid_cells", ["sampler=grid", "classes.fire.count=[400,400]"], ConfigError, "sampler=grid"),
    ("more_objects_than_fit", ["sampler=non_overlap", "classes.fire.count=[400,400]"], ConfigError, "sampler=non_overlap"),
    ("empty_class_list", ["classes=empty"], ConfigError, "classes is empty"),
    ("empty_prompt", ["classes.fire.prompt=''"], ConfigError, "classes.fire.prompt"),
    ("blank_background_prompt", ["background.prompts=[{prompt: ' '}]"], ConfigError, "background.prompts[0].prompt"),
    ("strength_above_one", ["inpaint.strength=1.5"], ConfigError, "inpaint.strength=1.5 must be in (0, 1]"),
    ("strength_zero", ["inpaint.strength=0"], ConfigError, "inpaint.strength=0"),
    ("inpaint_steps_zero", ["inpaint.steps=0"], ConfigError, "inpaint.steps=0 must be >= 1"),
    ("model_steps_zero", ["model.steps=0"], ConfigError, "model.steps=0"),
    ("resolution_not_multiple", ["model.resolution=100"], ConfigError, "not a multiple of model.size_multiple=8"),
    ("val_fraction_one", ["generate.val_fraction=1.0"], ConfigError, "generate.val_fraction"),
    ("unknown_stage", ["stages=[generate,fly]"], ConfigError, "stages="),
    ("shard_out_of_range", ["generate.num_shards=2", "generate.shard=2"], ConfigError, "generate.shard=2"),
    # NaN and infinity pass every range check (comparisons with NaN are false): refused anywhere, key named
    ("nan_strength", ["inpaint.strength=nan"], ConfigError, "inpaint.strength=nan: nan is not a finite number"),
    ("nan_width", ["classes.fire.width=[nan,0.3]"], ConfigError, "classes.fire.width=[nan, 0.3]: nan is not a finite"),
    ("inf_aspect_ratio", ["classes.fire.aspect_ratio=[0.5,inf]"], ConfigError, "classes.fire.aspect_ratio=[0.5, inf]"),
    ("nan_quality_threshold", ["quality.min_iou=nan"], ConfigError, "quality.min_iou=nan"),
    ("inf_in_detector_args", ["+detector.args.lr0=-inf"], ConfigError, "detector.args.lr0=-inf: -inf is not a finite"),
    ("empty_cache_dir", ["generate.cache_dir=''"], ConfigError, "generate.cache_dir is empty"),
    ("empty_run_dir", ["run_dir=''"], ConfigError, "run_dir is empty"),
]


@pytest.mark.parametrize("overrides, error, needle", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_value(tmp_path, overrides, error, needle):
    exc = start(GEN + overrides, tmp_path / "run")
    assert isinstance(exc, error), exc
    assert needle in str(exc)


COMPOSE_CASES = [
    # Hydra rejects these while composing; the entrypoint prints user_message(exc) (checked end to end below).
    ("non_string_prompt", ["classes.fire.prompt=[a,b]"], "classes.fire.prompt=[a,b]: Cannot convert 'list' to string"),
    ("null_prompt", ["classes.fire.prompt=null"], "classes.fire.prompt"),
    ("unknown_model_option", ["model=sdxl"], "model=sdxl: no such option in config group 'model'; choose from flux_schnell, sd15, sdxl_base, sdxl_turbo, tiny, tiny_flux, tiny_sd15"),
    ("misspelt_nested_key", ["sampler.jiter=0.5"], "(did you mean sampler.jitter?)"),
    ("wrong_type_in_list", ["classes.fire.count=[one,2]"], "classes.fire.count"),
]


@pytest.mark.parametrize("overrides, needle", [c[1:] for c in COMPOSE_CASES], ids=[c[0] for c in COMPOSE_CASES])
def test_compose_error_message(overrides, needle):
    from idg.core.errors import user_message

    with pytest.raises(Exception) as info:
        make_config(GEN + overrides)
    message = user_message(info.value)
    assert message is not None and needle in message, (message, info.value)
    assert "\n" not in message


# ------------------------------------------------------------------------------------ files


@pytest.mark.parametrize("how", DAMAGES)
def test_bad_real_dataset(tmp_path, how):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    needle = damage(tmp_path / "real", how)
    exc = start(STUDY + [f"real.data={data}"], tmp_path / "run")
    assert isinstance(exc, DataError) and needle in str(exc), exc


def test_class_map_to_an_unknown_class(tmp_path):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    exc = start(STUDY + [f"real.data={data}", "+real.class_map={fire: flames}"], tmp_path / "run")
    assert isinstance(exc, DataError) and "real.class_map maps 'fire' to 'flames'" in str(exc)


def test_csv_with_missing_columns(tmp_path):
    (tmp_path / "backgrounds.csv").write_text("prompt,num_imgs\na forest,2\n")
    (tmp_path / "classes.csv").write_text("prompt,min_appear,max_appear\na fire,1,2\n")
    with pytest.raises(DataError) as info:  # read while validating, before anything else
        make_config(GEN + ["dataset=from_csv", f"dataset.backgrounds_csv={tmp_path}/backgrounds.csv",
                           f"dataset.classes_csv={tmp_path}/classes.csv"])
    assert "classes.csv: missing column(s) aspect_ratio_min" in str(info.value)


def test_unwritable_run_dir(tmp_path):
    (tmp_path / "a_file").write_text("")  # a run dir below a file can never be created, even as root
    exc = start(GEN, tmp_path / "a_file" / "run")
    assert isinstance(exc, RunDirError) and "a_file/run cannot be created" in str(exc) and "a_file is a file" in str(exc)
    assert "hydra.run.dir" in str(exc)


def test_every_class_without_objects_is_refused_when_the_study_trains_on_them(tmp_path):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    exc = start(STUDY + [f"real.data={data}", "classes.fire.count=[0,0]"], tmp_path / "run")
    assert isinstance(exc, ConfigError) and "every class has count=[0, 0] (classes.fire.count)" in str(exc)


def test_empty_cache_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("IDG_CACHE_DIR", "")
    exc = start(GEN, tmp_path / "run")
    assert isinstance(exc, ConfigError) and "$IDG_CACHE_DIR is set but empty" in str(exc)


def test_tiny_model_dir_that_cannot_be_created(tmp_path):
    (tmp_path / "a_file").write_text("")
    exc = start(GEN + [f"model.pretrained={tmp_path}/a_file/tiny"], tmp_path / "run")
    assert isinstance(exc, RunDirError) and f"model.pretrained={tmp_path}/a_file/tiny: its parent" in str(exc)
    assert "a_file is a file" in str(exc)


@pytest.mark.parametrize("var", ["WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"])
def test_wandb_dir_that_is_a_file(tmp_path, monkeypatch, var):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(var, str(tmp_path / "a_file"))
    exc = start(["model=tiny", "offline=true", "stages=[generate]", "logger=wandb"], tmp_path / "run")
    assert isinstance(exc, RunDirError) and f"${var}={tmp_path}/a_file is a file" in str(exc)


def test_ultralytics_dir_set_but_empty(tmp_path, monkeypatch):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    monkeypatch.setenv("YOLO_CONFIG_DIR", "")
    exc = start(STUDY + [f"real.data={data}"], tmp_path / "run")
    assert isinstance(exc, ConfigError) and "$YOLO_CONFIG_DIR is set but empty" in str(exc)


@pytest.mark.parametrize("name, content, needle", [
    ("backgrounds.csv", b"prompt,num_imgs\na for\xeat,2\n", "backgrounds.csv, line 2: not UTF-8 text (byte 0xea)"),
    ("backgrounds.csv", b"prompt,num_imgs\na forest,nan\n", "line 2: column num_imgs='nan' is not a finite number"),
    ("classes.csv", b"prompt,min_appear,max_appear,aspect_ratio_min,aspect_ratio_max,width_min,width_max,height_min,"
     b"height_max\na fire,1,2,0.5,2,10,40,10,40\n\na smoke,1,2,0.5,2,10,-inf,10,40\n",
     "classes.csv, line 4: column width_max='-inf' is not a finite number"),  # line numbers count blank lines
])
def test_csv_that_is_not_utf8_or_not_finite(tmp_path, name, content, needle):
    (tmp_path / "backgrounds.csv").write_text("prompt,num_imgs\na forest,2\n")
    (tmp_path / "classes.csv").write_text("prompt,min_appear,max_appear,aspect_ratio_min,aspect_ratio_max,width_min,"
                                          "width_max,height_min,height_max\na fire,1,2,0.5,2,10,40,10,40\n")
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as info:
        make_config(GEN + ["dataset=from_csv", f"dataset.backgrounds_csv={tmp_path}/backgrounds.csv",
                           f"dataset.classes_csv={tmp_path}/classes.csv"])
    assert needle in str(info.value) and f"{tmp_path}/{name}" in str(info.value)


def test_model_dir_that_does_not_exist(tmp_path):
    exc = start(GEN + [f"model.pretrained={tmp_path}/no_model", "model.build_tiny=false"], tmp_path / "run")
    assert isinstance(exc, ModelLoadError) and f"model.pretrained={tmp_path}/no_model: no such directory" in str(exc)
    assert "model=tiny" in str(exc)


def test_model_dir_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "weights").mkdir()
    exc = start(GEN + [f"model.pretrained={tmp_path}/weights", "model.build_tiny=false"], tmp_path / "run")
    assert isinstance(exc, ModelLoadError) and "no model_index.json" in str(exc)


def test_detector_checkpoint_that_does_not_exist(tmp_path):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    exc = start(STUDY + [f"real.data={data}", f"detector.model={tmp_path}/missing.pt"], tmp_path / "run")
    assert isinstance(exc, ModelLoadError) and "missing.pt: file not found" in str(exc)


def test_train_stage_on_a_run_dir_without_a_generated_set(tmp_path):
    exc = start(["experiment=smoke", "logger=none", "stages=[train]"], tmp_path / "run")
    assert isinstance(exc, DataError) and "run/dataset/data.yaml: no synthetic dataset" in str(exc)
    assert "hydra.run.dir" in str(exc)


def test_evaluate_stage_on_a_run_dir_without_trainings(tmp_path):
    exc = start(["experiment=smoke", "logger=none", "stages=[evaluate]"], tmp_path / "run")
    assert isinstance(exc, DataError) and "evaluate: 3 training(s) not found" in str(exc)


# ------------------------------------------------------------------------------------ network


def test_offline_hub_model_not_in_cache_names_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf" / "hub"))
    exc = start(["model=sdxl_turbo", "offline=true", "stages=[generate]", "logger=none"], tmp_path / "run")
    assert isinstance(exc, ModelLoadError)
    assert "stabilityai/sdxl-turbo is not in the local Hugging Face cache and this run is offline" in str(exc)
    assert "model=tiny" in str(exc) and "model.pretrained=/path/to/a/local/diffusers/dir" in str(exc)


def test_unreachable_hub_fails_in_seconds_not_a_hang(tmp_path, monkeypatch):
    """Online, but the Hub does not answer (here: a closed local port): a quick probe, then the same error."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf" / "hub"))
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    t0 = time.perf_counter()
    exc = start(["model=sdxl_turbo", "offline=false", "stages=[generate]", "logger=none"], tmp_path / "run")
    assert time.perf_counter() - t0 < 10
    assert isinstance(exc, ModelLoadError) and "127.0.0.1 cannot be reached" in str(exc) and "model=tiny" in str(exc)


# ------------------------------------------------------------------------------------ the real entrypoint

ENTRY_CASES = [
    # (id, overrides, text stderr must contain)
    ("unknown_group_option", ["sampler=gridd"],
     "sampler=gridd: no such option in config group 'sampler'; choose from grid, non_overlap, random"),
    ("misspelt_key", ["inpaint.strenght=0.9"], "inpaint.strenght: 'inpaint' has no key 'strenght' (did you mean inpaint.strength?)"),
    ("wrong_type", ["generate.batch_size=four"], "generate.batch_size=four: Value 'four' of type 'str' could not be converted"),
    ("unparsable_override", ["stages=[generate"], "cannot parse the override 'stages=[generate'"),
    ("range_check", ["inpaint.strength=1.5"], "inpaint.strength=1.5 must be in (0, 1]"),
    ("missing_real_data_yaml", ["experiment=smoke", "real.data=/nonexistent/data.yaml", "stages=[generate,train,evaluate]"],
     "real.data=/nonexistent/data.yaml: file not found"),
    ("secret_in_override", ["+detector.args.api_key=abc123secret"], "pass secrets as environment variables"),
    ("labeller_not_a_detector", ["experiment=smoke", "generator=autolabel", f"labeler.model={REPO / 'data' / 'fire8_mini'}"],
     "(no config.json), not an open-vocabulary detector"),
    ("labeller_threshold", ["generator=autolabel", "labeler=tiny_owlv2", "labeler.threshold=1.5"],
     "labeler.threshold=1.5 must be in [0, 1]"),
    ("unknown_labeller", ["generator=autolabel", "labeler=yolo_world"], "labeler=yolo_world: no such option in config group 'labeler'"),
]


def run_entry(args: List[str], tmp_path: Path, **env) -> tuple:
    """``python -X importtime -m idg.run <args>``: (exit status, stderr without import timings, modules
    imported, seconds)."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "idg.run", *args, f"hydra.run.dir={tmp_path}/run"],
                         cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - t0
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    stderr = "\n".join(line for line in res.stderr.splitlines() if not line.startswith("import time:"))
    return res.returncode, stderr, imported, seconds


@pytest.mark.parametrize("args, needle", [c[1:] for c in ENTRY_CASES], ids=[c[0] for c in ENTRY_CASES])
def test_entrypoint_one_paragraph_exit_2(tmp_path, args, needle):
    rc, stderr, imported, seconds = run_entry(["stages=[generate]", *args], tmp_path, HYDRA_FULL_ERROR="")
    assert rc == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().startswith("idg: error: ") and stderr.count("idg: error:") == 1, stderr
    assert "\n" not in stderr.strip(), stderr  # one paragraph, nothing else on stderr
    assert needle in stderr
    assert not {"torch", "diffusers", "ultralytics"} & imported  # failed before any model could load
    assert seconds < 30


@pytest.mark.parametrize("args, needle", [(["sampler=gridd"], "sampler/gridd"), (["inpaint.strength=1.5"], "inpaint.strength=1.5")],
                         ids=["hydra_error", "idg_error"])
def test_entrypoint_full_error_shows_the_traceback(tmp_path, args, needle):
    rc, stderr, _, _ = run_entry(["stages=[generate]", *args], tmp_path, HYDRA_FULL_ERROR="1")
    assert rc != 0 and "Traceback (most recent call last)" in stderr and needle in stderr


def test_python_dash_m_idg_finds_the_config_and_reports_alike(tmp_path):
    """``python -m idg`` (and the ``idg`` script) run the same entrypoint from another module: same config,
    same one-paragraph errors."""
    res = subprocess.run([sys.executable, "-m", "idg", "sampler=gridd", f"hydra.run.dir={tmp_path}/run"], cwd=REPO,
                         env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.strip().startswith("idg: error: sampler=gridd: no such option"), res.stderr
    ok = subprocess.run([sys.executable, "-m", "idg", "--cfg", "job", "sampler=grid"], cwd=REPO, env=dict(os.environ),
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "name: grid" in ok.stdout, ok.stderr


def test_secret_override_is_redacted_in_hydra_files(tmp_path):
    rc, stderr, _, _ = run_entry(["stages=[generate]", "+detector.args.api_key=abc123secret"], tmp_path)
    assert rc == 2 and "abc123secret" not in stderr
    written = list((tmp_path / "run").rglob("*"))
    assert (tmp_path / "run" / ".hydra" / "overrides.yaml") in written
    assert not [p for p in written if p.is_file() and b"abc123secret" in p.read_bytes()]


# ------------------------------------------------------------------------------------ background sources


def _photo_dir(tmp_path: Path, n: int = 3, side: int = 48) -> Path:
    import numpy as np
    from PIL import Image

    d = tmp_path / "photos"
    d.mkdir(exist_ok=True)
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (side, side, 3), dtype=np.uint8)).save(d / f"p{i}.png")
    return d


def _break_photos(tmp_path: Path, how: str) -> tuple:
    """(background.images value, text the error must contain)"""
    if how == "empty_folder":
        (tmp_path / "empty").mkdir()
        return str(tmp_path / "empty"), "the folder holds no image file"
    if how == "glob_matches_nothing":
        _photo_dir(tmp_path)
        return f"{tmp_path}/photos/*.jpg", "the glob matches no image file"
    if how == "unreadable_photo":
        d = _photo_dir(tmp_path)
        (d / "p1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        return str(d), "p1.png: corrupt or unreadable photo"
    if how == "tiny_photo":
        return str(_photo_dir(tmp_path, side=16)), "smaller than background.min_side=32 px"
    if how == "list_names_a_missing_photo":
        d = _photo_dir(tmp_path)
        (tmp_path / "list.txt").write_text(f"{d}/p0.png\n{d}/gone.png\n")
        return str(tmp_path / "list.txt"), "list.txt, line 2: photo"
    if how == "no_such_path":
        return str(tmp_path / "nowhere"), "no such folder, file or glob"
    raise ValueError(how)


PHOTO_CASES = ["empty_folder", "glob_matches_nothing", "unreadable_photo", "tiny_photo", "list_names_a_missing_photo",
               "no_such_path"]


@pytest.mark.parametrize("how", PHOTO_CASES)
def test_bad_background_photos(tmp_path, how):
    value, needle = _break_photos(tmp_path, how)
    exc = start(GEN + ["background=images", f"background.images={value}"], tmp_path / "run")
    assert isinstance(exc, DataError) and needle in str(exc), exc


def test_background_images_without_a_path():
    with pytest.raises(ConfigError, match="background.source=images needs background.images"):
        make_config(GEN + ["background=images"])


def test_real_empty_when_the_subset_has_no_empty_image(tmp_path):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    for label in (tmp_path / "real" / "labels" / "train").glob("*.txt"):  # every image holds a fire
        label.write_text("0 0.5 0.5 0.25 0.25\n")
    exc = start(STUDY + [f"real.data={data}", "background=real_empty", "generator=copy_paste"], tmp_path / "run")
    assert isinstance(exc, DataError) and "background=real_empty: the real train subset at fraction 1, seed 0" in str(exc)
    assert "has no image without an object" in str(exc)


def test_coco_whose_images_are_missing(tmp_path):
    from coco_real import yolo_to_coco
    from conftest import FIRE8_MINI

    paths = yolo_to_coco(FIRE8_MINI, tmp_path / "coco")
    exc = start(STUDY + ["real.format=coco", f"real.train_json={paths['train']}", f"real.val_json={paths['val']}",
                         f"real.images={tmp_path}"], tmp_path / "run")
    assert isinstance(exc, DataError) and "train.json: image 'images/train/" in str(exc) and "not found under" in str(exc)


def test_from_real_without_real_data(tmp_path):
    with pytest.raises(DataError, match="classes=from_real builds the classes from the real dataset"):
        make_config(GEN + ["classes=from_real", "real=none"])


ENTRY_DATA_CASES = ["nan_class_id", "label_not_utf8", "train_is_an_image"]


@pytest.mark.parametrize("how", ENTRY_DATA_CASES)
def test_entrypoint_bad_real_label_exits_2(tmp_path, how):
    data = make_real(tmp_path / "real", n_train=8, n_val=2)
    needle = damage(tmp_path / "real", how)
    rc, stderr, imported, _ = run_entry(["experiment=smoke", f"real.data={data}", "logger=none"], tmp_path,
                                        HYDRA_FULL_ERROR="")
    assert rc == 2 and stderr.strip().startswith("idg: error: ") and "\n" not in stderr.strip(), stderr
    assert needle in stderr and not {"torch", "diffusers", "ultralytics"} & imported


def test_entrypoint_glob_matching_nothing_exits_2(tmp_path):
    rc, stderr, imported, _ = run_entry(["stages=[generate]", "model=tiny", "offline=true", "background=images",
                                         f"background.images={tmp_path}/*.jpg"], tmp_path, HYDRA_FULL_ERROR="")
    assert rc == 2 and "the glob matches no image file" in stderr and "\n" not in stderr.strip(), stderr
    assert not {"torch", "diffusers", "ultralytics"} & imported
