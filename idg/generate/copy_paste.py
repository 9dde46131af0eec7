"""The copy-paste baseline generator (``generator=copy_paste``): real objects pasted onto generated scenes.

Backgrounds and boxes come from the usual engine (:mod:`idg.generate.engine`: cached diffusion backgrounds,
the configured sampler, the same export format); only the painter differs. Instead of inpainting a prompt,
each box receives a real object of its class, cut from a labelled box of the real train split, resized to
the box and pasted with a feathered edge (:mod:`idg.generate.blend`). The label is the box, as for diffusion.

Objects come only from the real train subset of the study's current fraction and seed (never from val,
never from images the real arms of that fraction do not see), so the set depends on (fraction, seed): the
study generates one set per pair, into ``<run dir>/copy_paste/f<fraction>_s<seed>/dataset``, and trains the
synthetic arms of that pair on it. ``sources.json`` beside each set lists every real object it may use.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from idg.core.atomic import atomic_write_json
from idg.core.box import Box
from idg.core.config import CopyPasteConfig, IdgConfig
from idg.core.errors import DataError
from idg.core.hashing import content_hash
from idg.core.keyed import reuse_or_refuse
from idg.core.layout import RunLayout
from idg.core.seeds import rng_for
from idg.data.real import RealDataset
from idg.data.subsets import PreparedReal
from idg.data.yolo import label_path, pixel_box
from idg.generate.blend import capped_feather, paste, shape_mask
from idg.generate.parts import Key, Lazy, PaintJob, Painted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceObject:
    """One labelled real object: its (linked) image, synthetic class id and pixel box ``(x, y, w, h)``."""

    image: Path
    cls: int
    box: Tuple[int, int, int, int]

    @property
    def aspect(self) -> float:
        return self.box[2] / self.box[3]

    def as_dict(self) -> dict:
        return {"image": str(self.image.resolve()), "class_id": self.cls, "box": list(self.box)}


# ------------------------------------------------------------------------------------ sources


def check_sources(real: RealDataset) -> None:
    """Start-up check: every generated class needs real objects in the train split to cut from."""
    present = set().union(*(real.classes_in(item) for item in real.splits["train"]))
    missing = [n for i, n in enumerate(real.synthetic_names) if i not in present]
    if missing:
        raise DataError(
            f"{real.yaml_path}: generator=copy_paste cuts objects from the train split, which has no object of "
            f"class(es) {', '.join(missing)}; map a real class onto them with real.class_map, or use "
            f"generator=diffusion"
        )


def collect_sources(real: PreparedReal, fraction: float, seed: int) -> List[SourceObject]:
    """Every labelled object of the real train subset at ``(fraction, seed)``, in subset order.

    Labels are the prepared ones (already mapped to synthetic class ids); images are only opened for their
    size here.
    """
    sources = []
    for image in real.subset(fraction, seed):
        lines = [ln.split() for ln in label_path(image).read_text().splitlines() if ln.strip()]
        if not lines:
            continue
        with Image.open(image) as im:
            width, height = im.size
        for parts in lines:
            cls, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:])
            sources.append(SourceObject(image, cls, pixel_box(cx, cy, w, h, width, height)))
    return sources


def sources_fingerprint(sources: Sequence[SourceObject], cfg: CopyPasteConfig) -> str:
    """What a copy-paste set depends on beyond the generation config: the objects and how they are pasted."""
    return content_hash({
        "copy_paste": asdict(cfg),
        "sources": [[s.image.name, s.image.stat().st_size, s.cls, list(s.box)] for s in sources],
    })


# ------------------------------------------------------------------------------------ painting


def paste_object(image: np.ndarray, patch: np.ndarray, box: Box, blend: str, feather: int) -> np.ndarray:
    """``patch`` (box-sized) blended into ``image`` inside ``box``; returns a new image, pixels outside the
    box unchanged. The feather is capped at a quarter of the box's shorter side so small objects stay
    visible."""
    height, width = image.shape[:2]
    feather = capped_feather(feather, box.w, box.h)
    # A margin of background around the box: Poisson blending needs the border, feathering ignores it.
    margin = feather + 2
    x0, y0 = max(box.x - margin, 0), max(box.y - margin, 0)
    x1, y1 = min(box.x + box.w + margin, width), min(box.y + box.h + margin, height)
    region = image[y0:y1, x0:x1]
    canvas = region.copy()
    bx, by = box.x - x0, box.y - y0
    canvas[by : by + box.h, bx : bx + box.w] = patch
    mask = shape_mask(y1 - y0, x1 - x0, (bx, by, box.w, box.h), "rect")
    out = image.copy()
    out[y0:y1, x0:x1] = paste(region, canvas, mask, blend, feather)
    return out


class CopyPastePainter:
    """The copy-paste :class:`~idg.generate.parts.ObjectPainter`: paints one round of jobs by pasting real
    objects (it needs no model).

    The object for a box is drawn from the job's own seed, so the result is independent of batching,
    sharding and resuming, like the diffusion painter's.
    """

    needs_model = False

    def __init__(self, sources: Sequence[SourceObject], cfg: CopyPasteConfig, cache_size: int = 64):
        self.cfg = cfg
        self.by_class: Dict[int, List[SourceObject]] = {}
        for s in sources:
            self.by_class.setdefault(s.cls, []).append(s)
        self._images: "OrderedDict[Path, np.ndarray]" = OrderedDict()
        self._cache_size = cache_size

    def choose(self, box: Box, seed: int) -> SourceObject:
        """Of ``candidates`` objects of the box's class drawn at random, the one closest in aspect ratio."""
        pool = self.by_class.get(box.cls)
        if not pool:
            raise DataError(f"copy_paste: no real object of class id {box.cls} in this real subset")
        rng = rng_for(seed, "copy-paste")
        drawn = rng.choice(len(pool), size=min(self.cfg.candidates, len(pool)), replace=False)
        target = math.log(box.w / box.h)
        return min((pool[int(k)] for k in drawn), key=lambda s: abs(math.log(s.aspect) - target))

    def _image(self, path: Path) -> np.ndarray:
        img = self._images.pop(path, None)
        if img is None:
            with Image.open(path) as im:
                img = np.asarray(im.convert("RGB"))
        self._images[path] = img
        while len(self._images) > self._cache_size:
            self._images.popitem(last=False)
        return img

    def cut(self, source: SourceObject, width: int, height: int) -> np.ndarray:
        """The source object's box, resized to ``width x height`` (stretched: the label is the box)."""
        x, y, w, h = source.box
        crop = Image.fromarray(self._image(source.image)[y : y + h, x : x + w])
        if crop.size != (width, height):
            crop = crop.resize((width, height), Image.LANCZOS)
        return np.asarray(crop)

    def paint(self, images: Dict[int, np.ndarray], jobs: Sequence[PaintJob]) -> Dict[Key, Painted]:
        out = {}
        for job in jobs:
            box = job.box
            source = self.choose(box, job.seed)
            patch = self.cut(source, box.w, box.h)
            images[job.key[0]] = paste_object(images[job.key[0]], patch, box, self.cfg.blend, self.cfg.feather)
            out[job.key] = Painted(Box(box.x, box.y, box.w, box.h),
                                   {**source.as_dict(), "blend": self.cfg.blend, "feather": self.cfg.feather})
        return out


def copy_paste_painter(cfg: IdgConfig, sources: Sequence[SourceObject]) -> Callable[[Lazy], CopyPastePainter]:
    """The engine's painter factory (``painter_factory`` of :func:`idg.generate.engine.run_generation`); the
    diffusion model then loads only for missing backgrounds."""
    return lambda _pipes: CopyPastePainter(sources, cfg.copy_paste)


# ------------------------------------------------------------------------------------ sets


def generate_copy_paste_set(cfg: IdgConfig, real: PreparedReal, fraction: float, seed: int, run_dir: str | Path,
                            pipes_factory: Optional[Callable] = None):
    """Generate (or finish) the copy-paste set of ``(fraction, seed)``; returns its GenerationResult.

    Raises RunDirError when the folder holds a set made from other objects or settings and ``overwrite``
    is off.
    """
    from idg.generate.engine import run_generation

    out = RunLayout(Path(run_dir)).copy_paste_set(fraction, seed)
    sources = collect_sources(real, fraction, seed)
    missing = sorted(set(range(len(real.names))) - {s.cls for s in sources})
    if missing:
        names = ", ".join(real.names[c] for c in missing)
        raise DataError(f"copy_paste: the real train subset at fraction {fraction:g}, seed {seed} has no object of {names}")
    fingerprint = sources_fingerprint(sources, cfg.copy_paste)
    if out.sources.is_file() and reuse_or_refuse(out.sources, fingerprint, field="fingerprint", overwrite=cfg.overwrite,
                                                 differs="was made from other real objects or copy_paste settings",
                                                 redo="replace it", name=out.root) is None:
        log.warning("overwrite=true: deleting %s", out.dataset_dir)
        shutil.rmtree(out.dataset_dir, ignore_errors=True)
    atomic_write_json(out.sources, {
        "fingerprint": fingerprint,
        "fraction": fraction,
        "seed": seed,
        "copy_paste": asdict(cfg.copy_paste),
        "objects_per_class": {n: sum(s.cls == c for s in sources) for c, n in enumerate(real.names)},
        "sources": [s.as_dict() for s in sources],
    })
    log.info("copy_paste f=%g s=%d: %d real objects from %d train images", fraction, seed, len(sources),
             len({s.image for s in sources}))
    return run_generation(cfg, out.root, pipes_factory=pipes_factory, painter_factory=copy_paste_painter(cfg, sources))


def generate_copy_paste_sets(cfg: IdgConfig, real: PreparedReal, run_dir: str | Path,
                             pipes_factory: Optional[Callable] = None) -> list:
    """One copy-paste set per (fraction, seed) of the study. The diffusion model loads at most once (or comes
    from ``pipes_factory``), and only when a background is missing from the cache (all sets share the same
    backgrounds)."""
    from idg.generate.engine import shared_pipelines

    pipes_factory = pipes_factory or shared_pipelines(cfg)
    return [generate_copy_paste_set(cfg, real, fraction, seed, run_dir, pipes_factory)
            for seed in cfg.study.seeds for fraction in cfg.study.fractions]
