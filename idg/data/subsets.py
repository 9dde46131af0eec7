"""The real set as the study uses it: a prepared copy in the run dir, and train subsets per (fraction, seed).

:func:`prepare_real` builds ``<run dir>/real/`` with links to the real images and label files rewritten to
the synthetic class ids (classes without a counterpart are dropped); Ultralytics writes its label caches
there, not beside the user's data. Train subsets at a fraction are deterministic and drawn from the train
split only, so no val image can leak into training.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import yaml

from idg.core.atomic import atomic_write_text
from idg.core.layout import tag as fraction_tag
from idg.core.seeds import rng_for
from idg.data.real import RealDataset


@dataclass
class PreparedReal:
    """``<run dir>/real``: linked images, remapped labels, and the val data.yaml."""

    root: Path
    train: List[Path]  # linked train images, in the real set's order
    train_classes: List[set]
    val_yaml: Path  # data.yaml of the evaluation splits: val, and test when the real set has one
    names: List[str]
    splits: Tuple[str, ...] = ("val",)  # the splits every arm is evaluated on
    negatives: List[Path] = field(default_factory=list)  # label-free photos added to every real training

    @property
    def has_test(self) -> bool:
        return "test" in self.splits

    def empty(self, fraction: float, seed: int) -> List[Path]:
        """The images of the (fraction, seed) subset without an object of the selected classes."""
        return [self.train[i] for i in subset_indices(self.train_classes, fraction, seed) if not self.train_classes[i]]

    def labelled(self, fraction: float, seed: int) -> List[Path]:
        """The images of the (fraction, seed) subset holding at least one object of the selected classes."""
        return [self.train[i] for i in subset_indices(self.train_classes, fraction, seed) if self.train_classes[i]]

    def subset(self, fraction: float, seed: int) -> List[Path]:
        return [self.train[i] for i in subset_indices(self.train_classes, fraction, seed)]

    def data_yaml(self, fraction: float, seed: int, extra_train: Optional[Sequence[Path]] = None, tag: str = "real") -> Path:
        """A data.yaml whose train split is the (fraction, seed) subset (plus ``extra_train`` dirs, for the
        mixed arm) and whose val split is the real val split."""
        name = f"{tag}_{fraction_tag(fraction, seed)}"
        listing = self.root / "subsets" / f"{name}.txt"
        atomic_write_text(listing, "".join(f"{p}\n" for p in self.subset(fraction, seed)))
        train = [str(listing)] + [str(p) for p in (extra_train or [])]
        if self.negatives:  # study.real_negatives: the photo backgrounds, as label-free images
            train.append(str(self.root / "negatives.txt"))
        doc = {"path": str(self.root), "train": train if len(train) > 1 else train[0], "val": "images/val",
               "nc": len(self.names), "names": {i: n for i, n in enumerate(self.names)}}
        return atomic_write_text(self.root / "subsets" / f"{name}.yaml", yaml.safe_dump(doc, sort_keys=False))


def subset_indices(classes: Sequence[set], fraction: float, seed: int) -> List[int]:
    """Deterministic subset of ``fraction`` of the images (at least one), grown to hold every class.

    One permutation per seed, whatever the fraction: a smaller fraction is a prefix of a larger one.
    """
    n = len(classes)
    order = [int(i) for i in rng_for(seed, "real-subset", n).permutation(n)]
    k = max(1, int(math.ceil(n * fraction - 1e-9)))
    chosen = set(order[:k])
    present = set().union(*classes) if classes else set()
    covered = set().union(*(classes[i] for i in chosen)) if chosen else set()
    for c in sorted(present - covered):
        chosen.add(next(i for i in order if c in classes[i]))
    return sorted(chosen)


def _link(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # filesystems without symlinks
        shutil.copy2(src, dst)


def prepare_real(ds: RealDataset, root: str | Path) -> PreparedReal:
    """Build ``root`` from the validated real set (idempotent; labels are rewritten every time)."""
    root = Path(root)
    train, train_classes = [], []
    for split, items in ds.splits.items():
        img_dir, lab_dir = root / "images" / split, root / "labels" / split
        if img_dir.exists():
            shutil.rmtree(img_dir)
        if lab_dir.exists():
            shutil.rmtree(lab_dir)
        img_dir.mkdir(parents=True)
        lab_dir.mkdir(parents=True)
        seen = set()
        for n, item in enumerate(items):
            stem = item.image.stem if item.image.stem not in seen else f"{item.image.stem}_{n}"
            seen.add(stem)
            dst = img_dir / f"{stem}{item.image.suffix}"
            _link(item.image, dst)
            lines = [
                f"{ds.to_synthetic[int(b[0])]} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f} {b[4]:.6f}\n"
                for b in item.boxes
                if int(b[0]) in ds.to_synthetic
            ]
            (lab_dir / f"{stem}.txt").write_text("".join(lines))
            if split == "train":
                train.append(dst)
                train_classes.append(ds.classes_in(item))
    for stale in ("test",):  # a split the real set no longer has
        if stale not in ds.splits:
            for d in (root / "images" / stale, root / "labels" / stale):
                shutil.rmtree(d, ignore_errors=True)
    splits = tuple(s for s in ("val", "test") if s in ds.splits)
    doc = {"path": str(root), "train": "images/train", "val": "images/val", "nc": len(ds.synthetic_names),
           "names": {i: n for i, n in enumerate(ds.synthetic_names)}}
    if "test" in splits:
        doc["test"] = "images/test"
    val_yaml = atomic_write_text(root / "val.yaml", yaml.safe_dump(doc, sort_keys=False))
    return PreparedReal(root, train, train_classes, val_yaml, list(ds.synthetic_names), splits)


def add_negatives(real: PreparedReal, photos: Sequence[Path]) -> PreparedReal:
    """``study.real_negatives``: the photo backgrounds join every real training as label-free images (links
    under ``real/negatives/`` with empty label files), so a gain of the synthetic arms comes from the
    objects pasted into the photos, not from extra real scenes."""
    img_dir, lab_dir = real.root / "negatives" / "images", real.root / "negatives" / "labels"
    for d in (img_dir, lab_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    links = []
    for n, photo in enumerate(sorted({Path(p).resolve() for p in photos})):
        dst = img_dir / f"neg_{n:05d}{photo.suffix.lower()}"
        _link(photo, dst)
        (lab_dir / f"neg_{n:05d}.txt").write_text("")
        links.append(dst)
    atomic_write_text(real.root / "negatives.txt", "".join(f"{p}\n" for p in links))
    real.negatives = links
    return real
