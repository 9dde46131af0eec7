"""Content-addressed background cache, shared by every run that uses the same cache dir.

A background is a pure function of (model: checkpoint, revision, dtype and any scheduler or LoRAs; prompt,
negative prompt, seed, size, steps, guidance); its key is
the SHA-256 of those, so a sweep over inpainting settings generates each background once. Entries are
write-once PNGs written atomically, so concurrent jobs can share the cache: two writers of one key write the
same bytes and the rename of either leaves a complete file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from idg.core.atomic import atomic_save_image

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
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, UnidentifiedImageError):
            log.warning("unreadable cache entry %s: regenerating it", path)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, image: np.ndarray) -> None:
        path = self.path(key)
        if path is None or path.is_file():
            return
        remove_stale_temp_files(path)
        atomic_save_image(path, Image.fromarray(image), "png")


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
