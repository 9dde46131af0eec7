"""Every path inside a run dir, in one place (the rest of idg asks these classes, never spells a path).

A run dir (Hydra's ``hydra.run.dir``)::

    config.yaml  run.json  metrics.json  samples.png        resolved config, run record, metrics, sample grid
    dataset/                                                the export (DatasetLayout below)
    real/                                                   links to the real images, labels mapped to the classes
    copy_paste/f<fraction>_s<seed>/{dataset/,sources.json}  generator=copy_paste: one set per (fraction, seed)
    sets/f<fraction>_s<seed>/{dataset/,sources.json}        diffusion sets made per real subset (real_empty /
                                                            real_train backgrounds, real_prior boxes); prior.json
    shortcut/                                               the held-out null-prompt set for seam-shortcut rates
    detect/<arm>/f<fraction>_s<seed>/                       one Ultralytics training (+ done.json, eval_real/)
    results.{csv,json,md,png}                               the study's results
    wandb/                                                  the W&B run's files
    .idg.lock                                               held while a run writes the dir (idg.core.lock)

An export (``dataset/``, and each copy-paste set's)::

    data.yaml  annotations.json  annotations_{train,val}.json  manifest.jsonl  generation.json
    images/{train,val}/NNNNNN.<png|jpg>  labels/{train,val}/NNNNNN.txt  rejected/NNNNNN_<object>.png
    images/dropped/, labels/dropped/                        autolabel images without a box, left out (on_empty=drop)

A study comparing generators (``study.generators``) holds one run-dir-like folder per generator::

    generators/<generator>/{dataset/,copy_paste/,sets/,shortcut/,samples.png,detect/<synthetic arm>/...}
    detect/real_only/...                                    the real-only baselines, shared by every generator
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

SPLITS = ("train", "val")  # what the export's data.yaml and COCO hold
DROPPED = "dropped"  # autolabel images left out of the export (labeler.on_empty=drop), kept for inspection
ALL_SPLITS = SPLITS + (DROPPED,)
LOCK_NAME = ".idg.lock"
RESULT_FILES = ("csv", "json", "md", "png")


def tag(fraction: float, seed: int) -> str:
    """``f<fraction>_s<seed>``: the name of everything made for one real fraction and seed."""
    return f"f{fraction:g}_s{seed}"


@dataclass(frozen=True)
class DatasetLayout:
    """Where each file of an export lives."""

    root: Path
    image_format: str = "png"

    @staticmethod
    def stem(index: int) -> str:
        return f"{index:06d}"

    def image(self, split: str, index: int) -> Path:
        return self.root / "images" / split / f"{self.stem(index)}.{self.image_format}"

    def label(self, split: str, index: int) -> Path:
        return self.root / "labels" / split / f"{self.stem(index)}.txt"

    def split_dirs(self, split: str) -> List[Path]:
        return [self.root / "images" / split, self.root / "labels" / split]

    def rejected_crop(self, index: int, obj: int) -> Path:
        return self.root / "rejected" / f"{self.stem(index)}_{obj}.png"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def data_yaml(self) -> Path:
        return self.root / "data.yaml"

    @property
    def coco(self) -> Path:
        return self.root / "annotations.json"

    def coco_split(self, split: str) -> Path:
        return self.root / f"annotations_{split}.json"

    @property
    def generation(self) -> Path:
        return self.root / "generation.json"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run dir."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def samples(self) -> Path:
        return self.root / "samples.png"

    @property
    def dataset_dir(self) -> Path:
        return self.root / "dataset"

    def dataset(self, image_format: str = "png") -> DatasetLayout:
        return DatasetLayout(self.dataset_dir, image_format)

    @property
    def real(self) -> Path:
        return self.root / "real"

    @property
    def copy_paste(self) -> Path:
        return self.root / "copy_paste"

    def generator(self, name: str) -> "RunLayout":
        """A generator's part of a study comparing generators, laid out like a single-generator run dir."""
        return RunLayout(self.root / "generators" / name)

    def copy_paste_set(self, fraction: float, seed: int) -> "RunLayout":
        """A copy-paste set is laid out like a run dir of its own (``dataset/`` + ``sources.json``)."""
        return RunLayout(self.copy_paste / tag(fraction, seed))

    @property
    def sets(self) -> Path:
        return self.root / "sets"

    def subset_set(self, fraction: float, seed: int) -> "RunLayout":
        """A diffusion set made for one real subset (its backgrounds or box prior come from it)."""
        return RunLayout(self.sets / tag(fraction, seed))

    @property
    def prior(self) -> Path:
        return self.root / "prior.json"

    @property
    def sources(self) -> Path:
        return self.root / "sources.json"

    @property
    def shortcut(self) -> Path:
        return self.root / "shortcut"

    @property
    def detect(self) -> Path:
        return self.root / "detect"

    def training(self, arm: str, fraction: float, seed: int) -> Path:
        return self.detect / arm / tag(fraction, seed)

    def results(self, ext: str) -> Path:
        return self.root / f"results.{ext}"

    @property
    def wandb(self) -> Path:
        return self.root / "wandb"

    @property
    def lock(self) -> Path:
        """Held by the run writing this dir (:mod:`idg.core.lock`); removed when it ends cleanly."""
        return self.root / LOCK_NAME

    def entries(self, names: Sequence[str]) -> List[Path]:
        """Run-dir entries by name (the stage table's ``writes``)."""
        return [self.root / name for name in names]
