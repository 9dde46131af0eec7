"""Content-addressed background cache, shared by every run that uses the same cache dir.

A background is a pure function of (model: checkpoint, revision, dtype and any scheduler or LoRAs; prompt,
negative prompt, seed, size, steps, guidance); its key is the SHA-256 of those, so a sweep over inpainting
settings generates each background once.

Concurrent jobs (a sweep, shards on a cluster, a network filesystem) share it safely. Reads take no lock: an
entry appears under its name only once complete. Writes are write-once creates
(:func:`idg.core.atomic.atomic_create_bytes`): the first complete write of a key wins and is never replaced,
so every job reads the same bytes for a key even if two jobs computed it at once (on another device, say,
with different bits). A reader that finds an entry unreadable removes only the file it read, never one a
writer has put there since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from idg.core.atomic import atomic_create_bytes, encode_image

log = logging.getLogger(__name__)

# A temp file of a cache write older than this was left by a killed writer (a live one writes a PNG in well
# under a second); younger ones may belong to a concurrent job writing the same key, so they stay.
STALE_TEMP_SECONDS = 3600


def background_key(model: str, prompt: str, negative_prompt: str, seed: int, width: int, height: int, steps: int, guidance: float) -> str:
    payload = json.dumps(
        {"model": model, "prompt": prompt, "negative_prompt": negative_prompt, "seed": int(seed),
         "width": int(width), "height": int(height), "steps": int(steps), "guidance": float(guidance)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class BackgroundCache:
    """PNG files under ``<cache_dir>/backgrounds/<key[:2]>/<key>.png``; a disabled cache stores nothing."""

    def __init__(self, cache_dir: Optional[str | Path], enabled: bool = True):
        self.root = Path(cache_dir) / "backgrounds" if (cache_dir and enabled) else None

    def path(self, key: str) -> Optional[Path]:
        return self.root / key[:2] / f"{key}.png" if self.root else None

    def get(self, key: str) -> Optional[np.ndarray]:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            with open(path, "rb") as fh:
                inode = os.fstat(fh.fileno()).st_ino
                try:
                    with Image.open(fh) as im:
                        return np.asarray(im.convert("RGB"))
                except (OSError, UnidentifiedImageError, ValueError):
                    log.warning("unreadable cache entry %s: regenerating it", path)
                    _unlink_if_same(path, inode)
                    return None
        except FileNotFoundError:
            return None

    def put(self, key: str, image: np.ndarray) -> bool:
        """Store ``image`` under ``key`` unless an entry exists; returns whether this call stored it."""
        path = self.path(key)
        if path is None or path.is_file():
            return False
        remove_stale_temp_files(path)
        return atomic_create_bytes(path, encode_image(Image.fromarray(image), "png"))


def _unlink_if_same(path: Path, inode: int) -> None:
    """Remove ``path`` if it is still the file with ``inode`` (not an entry another job wrote since)."""
    try:
        if os.stat(path).st_ino == inode:
            path.unlink()
    except FileNotFoundError:
        pass


def remove_stale_temp_files(path: Path, max_age: float = STALE_TEMP_SECONDS) -> int:
    """Delete temp files that killed writers of ``path`` left beside it (older than ``max_age`` seconds)."""
    n = 0
    now = time.time()
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime > max_age:
                tmp.unlink()
                n += 1
        except FileNotFoundError:  # another job swept it first
            continue
    return n
