"""The copy-paste baseline generator (``generator=copy_paste``): real objects pasted onto generated scenes.

Backgrounds and boxes come from the usual engine (:mod:`idg.generate.engine`: cached diffusion backgrounds,
the configured sampler, the same export format); only the painter differs. Instead of inpainting a prompt,
each box receives a real object of its class, cut from a labelled box of the real train split, resized to
the box and pasted with ``copy_paste.blend`` (:mod:`idg.generate.blend`; ``color_*`` first moves the
object's source light to the scene's, measured on its surroundings in both). The label is the box, as for
diffusion.

Objects come only from the real train subset of the study's current fraction and seed (never from val,
never from images the real arms of that fraction do not see), so the set depends on (fraction, seed): the
study generates one set per pair (:mod:`idg.generate.sets`), into
``<run dir>/copy_paste/f<fraction>_s<seed>/dataset``, and trains the synthetic arms of that pair on it.
``sources.json`` beside each set lists every real object it may use. Backgrounds may come from any source
(prompts, photos, the real subset's empty frames).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from idg.core.box import Box
from idg.core.config import CopyPasteConfig, IdgConfig
from idg.core.errors import DataError
from idg.core.hashing import content_hash
from idg.core.seeds import rng_for
from idg.data.real import RealDataset
from idg.data.subsets import PreparedReal
from idg.data.yolo import label_path, pixel_box
from idg.generate.blend import capped_feather, color_ring, paste, shape_mask
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
    settings = asdict(cfg)
    if settings.get("mask") == "box":  # the default: sets made before masks existed keep their fingerprint
        del settings["mask"]
    return content_hash({
        "copy_paste": settings,
        "sources": [[s.image.name, s.image.stat().st_size, s.cls, list(s.box)] for s in sources],
    })


# ------------------------------------------------------------------------------------ painting


def paste_margin(blend: str, feather: int, w: int, h: int) -> int:
    """Background kept around a ``w`` x ``h`` box for its paste: Poisson blending needs the border, colour
    transfer (``color_*``) the ring it matches; feathering ignores it."""
    feather = capped_feather(feather, w, h)
    return max(feather, color_ring(feather, w, h) if blend.startswith("color_") else 0) + 2


def paste_object(image: np.ndarray, patch: np.ndarray, box: Box, blend: str, feather: int,
                 context: Optional[np.ndarray] = None, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """``patch`` (box-sized) blended into ``image`` inside ``box`` (only where the box-sized ``mask`` is set,
    when given); returns a new image, pixels outside the box unchanged. The feather is capped at a quarter
    of the box's shorter side so small objects stay visible.

    ``context`` (box plus :func:`paste_margin` on each side, at the patch's scale) is the object's own
    surroundings in its source photo. It is never pasted; ``color_*`` matches it against the scene on the
    same ring, so the object's source light is moved to the scene's while its contrast with its own
    surroundings stays. Without it, ``color_*`` matches the object's inner border ring, which recolours the
    object toward its new background."""
    height, width = image.shape[:2]
    margin = paste_margin(blend, feather, box.w, box.h)
    feather = capped_feather(feather, box.w, box.h)
    x0, y0 = max(box.x - margin, 0), max(box.y - margin, 0)
    x1, y1 = min(box.x + box.w + margin, width), min(box.y + box.h + margin, height)
    region = image[y0:y1, x0:x1]
    canvas = region.copy()
    if context is not None:
        ox, oy = x0 - (box.x - margin), y0 - (box.y - margin)  # where the region starts in the context
        canvas[:] = context[oy : oy + (y1 - y0), ox : ox + (x1 - x0)]
    bx, by = box.x - x0, box.y - y0
    canvas[by : by + box.h, bx : bx + box.w] = patch
    region_mask = shape_mask(y1 - y0, x1 - x0, (bx, by, box.w, box.h), "rect")
    if mask is not None:
        region_mask[by : by + box.h, bx : bx + box.w] = np.where(mask > 0, 255, 0).astype(np.uint8)
    out = image.copy()
    out[y0:y1, x0:x1] = paste(region, canvas, region_mask, blend, feather,
                              color_source="outside" if context is not None else "inside")
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
        self._masks: Dict[SourceObject, Tuple[np.ndarray, float, bool]] = {}  # per source object, computed once

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

    def context(self, source: SourceObject, width: int, height: int, margin: int) -> np.ndarray:
        """The source object's box with its surroundings, ``margin`` px of them at the box's new scale on
        each side (the photo's edge replicated where it ends): the reference of ``color_*``."""
        x, y, w, h = source.box
        mx, my = math.ceil(margin * w / width), math.ceil(margin * h / height)
        padded = cv2.copyMakeBorder(self._image(source.image), my, my, mx, mx, cv2.BORDER_REPLICATE)
        around = padded[y : y + h + 2 * my, x : x + w + 2 * mx]
        return cv2.resize(around, (width + 2 * margin, height + 2 * margin), interpolation=cv2.INTER_AREA)

    def mask(self, source: SourceObject) -> Tuple[np.ndarray, float, bool]:
        """The source object's foreground mask (``copy_paste.mask``), its area fraction, and whether it fell
        back to the whole box."""
        if source not in self._masks:
            from idg.generate.masks import object_mask

            self._masks[source] = object_mask(self._image(source.image), source.box, self.cfg.mask)
        return self._masks[source]

    def paint(self, images: Dict[int, np.ndarray], jobs: Sequence[PaintJob]) -> Dict[Key, Painted]:
        out = {}
        for job in jobs:
            box = job.box
            source = self.choose(box, job.seed)
            patch = self.cut(source, box.w, box.h)
            context = None
            if self.cfg.blend.startswith("color_"):
                context = self.context(source, box.w, box.h, paste_margin(self.cfg.blend, self.cfg.feather, box.w, box.h))
            fg, fraction, fallback = self.mask(source)
            mask = None
            if self.cfg.mask != "box":
                mask = np.asarray(Image.fromarray(fg * 255).resize((box.w, box.h), Image.NEAREST))
            images[job.key[0]] = paste_object(images[job.key[0]], patch, box, self.cfg.blend, self.cfg.feather,
                                              context, mask)
            record = {**source.as_dict(), "blend": self.cfg.blend, "feather": self.cfg.feather}
            if self.cfg.mask != "box":  # sets made before masks existed keep their records
                record.update(mask=self.cfg.mask, mask_fraction=round(fraction, 4), mask_fallback=fallback)
            out[job.key] = Painted(Box(box.x, box.y, box.w, box.h), record)
        return out


def copy_paste_painter(cfg: IdgConfig, sources: Sequence[SourceObject]) -> Callable[[Lazy], CopyPastePainter]:
    """The engine's painter factory (``painter_factory`` of :func:`idg.generate.engine.run_generation`); the
    diffusion model then loads only for missing backgrounds."""
    return lambda _pipes: CopyPastePainter(sources, cfg.copy_paste)
