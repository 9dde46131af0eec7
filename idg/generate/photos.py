"""Photo background sources: the user's own photos (``images``), the real train subset's empty frames
(``real_empty``) and its labelled frames (``real_train``, whose objects stay labelled).

Image *i* gets one photo of the pool, fitted to the run's square resolution (``background.fit``):
``center_crop`` (the largest centred square), ``random_crop`` (the largest square at a position seeded per
image) or ``letterbox`` (the whole photo, scaled to fit, on Ultralytics' grey). Photos are dealt in seeded
rounds, so each is used about equally often and the choice depends only on the image's index and the run
seed (never on batches, shards or resume).

Real video frames are often near-duplicates of each other. The pool's photos are pHashed once: a photo
within ``quality.phash_distance`` bits of an earlier one of the pool is a near-duplicate. With
``quality.duplicates=keep`` (the default for photos) it is used and flagged in the manifest
(``duplicate_of_photo``); ``drop`` / ``regenerate`` leave near-duplicates out of the pool. Either way the
count is reported, and a photo source never falls back to another source. Black or constant photos are
flagged (``artifact``), not replaced: they are the user's data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from idg.core.box import Box
from idg.core.config import IdgConfig
from idg.core.hashing import content_hash
from idg.core.seeds import derive_seed, rng_for
from idg.data.photos import PhotoFile
from idg.data.records import BackgroundRecord
from idg.generate.parts import Background
from idg.generate.quality import artifact_reason, duplicate_of, phash

log = logging.getLogger(__name__)

LETTERBOX_GREY = 114  # Ultralytics' letterbox colour


@dataclass(frozen=True)
class Photo:
    """A pool photo and, for ``real_train``, its labelled objects (synthetic class id, normalised cx cy w h)."""

    file: PhotoFile
    objects: Tuple[Tuple[int, float, float, float, float], ...] = ()


@dataclass
class Fitted:
    image: np.ndarray
    crop: List[int]  # the photo region used, [x, y, w, h] in photo pixels
    scale: float  # output pixels per photo pixel
    pad: Tuple[int, int]  # letterbox: where the photo's origin lands in the output (0, 0 for crops)
    objects: List[Box] = field(default_factory=list)  # the photo's objects in output pixels


def fit_photo(img: Image.Image, side: int, mode: str, rng: Optional[np.random.Generator] = None) -> Fitted:
    """``img`` as a ``side`` x ``side`` uint8 RGB array (see the module docstring for the modes)."""
    img = img.convert("RGB")
    width, height = img.size
    if mode == "letterbox":
        scale = side / max(width, height)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        canvas = Image.new("RGB", (side, side), (LETTERBOX_GREY,) * 3)
        ox, oy = (side - w) // 2, (side - h) // 2
        canvas.paste(img.resize((w, h), Image.LANCZOS) if (w, h) != img.size else img, (ox, oy))
        return Fitted(np.asarray(canvas), [0, 0, width, height], scale, (ox, oy))
    c = min(width, height)
    if mode == "random_crop":
        rng = rng if rng is not None else np.random.default_rng(0)
        x0, y0 = int(rng.integers(0, width - c + 1)), int(rng.integers(0, height - c + 1))
    else:
        x0, y0 = (width - c) // 2, (height - c) // 2
    region = img.crop((x0, y0, x0 + c, y0 + c))
    if c != side:
        region = region.resize((side, side), Image.LANCZOS)
    return Fitted(np.asarray(region), [x0, y0, c, c], side / c, (0, 0))


def fitted_objects(photo: Photo, fitted: Fitted, side: int, min_visible: float = 0.25) -> Tuple[List[Box], int]:
    """The photo's labelled objects in output pixels, clipped to the image; objects with less than
    ``min_visible`` of their area left after the crop are dropped (returned as a count)."""
    width, height = photo.file.size
    cx0, cy0, cw, ch = fitted.crop
    out, dropped = [], 0
    for cls, cx, cy, w, h in photo.objects:
        x0, y0, x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height
        vx0, vy0, vx1, vy1 = max(x0, cx0), max(y0, cy0), min(x1, cx0 + cw), min(y1, cy0 + ch)
        if vx1 <= vx0 or vy1 <= vy0 or (vx1 - vx0) * (vy1 - vy0) < min_visible * (x1 - x0) * (y1 - y0):
            dropped += 1
            continue
        s, (px, py) = fitted.scale, fitted.pad  # output = (photo px - crop origin) * scale + pad
        bx0, by0 = int(np.floor((vx0 - cx0) * s + px)), int(np.floor((vy0 - cy0) * s + py))
        bx1, by1 = int(np.ceil((vx1 - cx0) * s + px)), int(np.ceil((vy1 - cy0) * s + py))
        bx0, by0 = min(max(bx0, 0), side - 1), min(max(by0, 0), side - 1)
        bx1, by1 = min(max(bx1, bx0 + 1), side), min(max(by1, by0 + 1), side)
        out.append(Box(bx0, by0, bx1 - bx0, by1 - by0, int(cls)))
    return out, dropped


def pool_duplicates(photos: Sequence[Photo], side: int, quality) -> Dict[int, int]:
    """``k -> j``: pool photo ``k`` is within ``quality.phash_distance`` pHash bits of the earlier photo ``j``
    (centre-crop fitted, so the hash sees what a background shows)."""
    if quality.phash_distance < 0:
        return {}
    hashes: Dict[int, int] = {}
    dups: Dict[int, int] = {}
    for k, p in enumerate(photos):
        with Image.open(p.file.path) as im:
            h = phash(fit_photo(im, min(side, 256), "center_crop").image)
        j = duplicate_of(h, hashes, quality)
        if j is not None:
            dups[k] = j
        hashes[k] = h
    return dups


class PhotoBackgrounds:
    """A :class:`~idg.generate.parts.BackgroundSource` over a pool of photos (see the module docstring).

    ``members`` are the global image indices this source serves (all of them, unless it is part of a
    ``background.mix``); ``name`` is the source (``images``, ``real_empty``, ``real_train``)."""

    def __init__(self, cfg: IdgConfig, name: str, photos: Sequence[Photo], stats, members: Sequence[int]):
        self.cfg = cfg
        self.name = name
        self.stats = stats
        self.members = list(members)
        self._position = {i: p for p, i in enumerate(self.members)}
        side = cfg.generate.resolution
        dups = pool_duplicates(photos, side, cfg.quality)
        policy = cfg.quality.duplicate_policy(photo=True)
        self.duplicates = {photos[k].file.path: photos[j].file.path for k, j in dups.items()}
        self.photos = [p for k, p in enumerate(photos) if k not in dups] if policy != "keep" else list(photos)
        if dups:
            log.warning("background=%s: %d of %d photos are near-duplicates of another photo of the pool (pHash within "
                        "%d bits); quality.duplicates=%s: %s", name, len(dups), len(photos), cfg.quality.phash_distance,
                        policy, "kept and flagged in the manifest" if policy == "keep" else "left out of the pool")
        stats.photo_duplicates += len(dups)
        stats.photo_pool += len(photos)

    def __len__(self) -> int:
        return len(self.members)

    def resume(self, done: Dict[int, dict]) -> None:
        """Nothing to restore: a photo's choice depends only on its index."""

    def photo_for(self, index: int) -> Photo:
        """Photos dealt in seeded rounds: round ``r`` is a permutation of the pool, so each photo is used about
        equally often."""
        n = len(self.photos)
        p = self._position[index]
        order = rng_for(self.cfg.generate.seed, f"photo-order-{self.name}", p // n).permutation(n)
        return self.photos[int(order[p % n])]

    def seed(self, index: int) -> int:
        return derive_seed(self.cfg.generate.seed, "photo", index)

    def backgrounds(self, indices: Sequence[int]) -> Dict[int, Background]:
        side, fit = self.cfg.generate.resolution, self.cfg.background.fit
        out = {}
        for i in sorted(indices):
            photo = self.photo_for(i)
            with Image.open(photo.file.path) as im:
                fitted = fit_photo(im, side, fit, rng_for(self.seed(i), "photo-crop"))
            objects, cut = fitted_objects(photo, fitted, side) if photo.objects else ([], 0)
            self.stats.real_objects_cut += cut
            img = fitted.image
            artifact = artifact_reason(None, img, self.cfg.quality)
            if artifact is not None:
                self.stats.artifacts_unresolved += 1
                log.warning("image %d: photo %s is %s; kept and flagged in the manifest", i, photo.file.path, artifact)
            dup = self.duplicates.get(photo.file.path)
            self.stats.backgrounds_from_photos += 1
            record = BackgroundRecord(
                key=content_hash({"sha256": photo.file.sha256, "fit": fit, "crop": fitted.crop, "side": side}),
                prompt=None, negative_prompt=None, seed=self.seed(i), steps=None, guidance=None, model=None,
                attempts=1, phash=f"{phash(img):016x}", artifact=artifact, rejected_attempts=[],
                source=self.name, photo=str(Path(photo.file.path).resolve()), photo_sha256=photo.file.sha256,
                photo_size=list(photo.file.size), fit=fit, crop=list(fitted.crop),
                duplicate_of_photo=str(Path(dup).resolve()) if dup is not None else None,
                real_objects_cut=cut if photo.objects else None,
            )
            out[i] = Background(np.ascontiguousarray(img), record, objects)
        return out
