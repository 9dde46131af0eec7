"""Photos the user has: listing them from a folder, a glob or a text file of paths, checking them, and the
content fingerprint that goes into cache keys and the manifest.

Every problem is a DataError naming the key or the file, raised at start-up before any model loads: a
folder without photos, a glob that matches nothing, a list naming a missing file, a photo that cannot be
decoded, or one smaller than ``background.min_side``.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

from PIL import Image, UnidentifiedImageError

from idg.core.errors import DataError
from idg.data.labels import read_text
from idg.data.yolo import IMG_SUFFIXES


@dataclass(frozen=True)
class PhotoFile:
    """A checked photo: its path, size and the SHA-256 of its bytes (what a background made from it depends on)."""

    path: Path
    size: Tuple[int, int]  # (width, height)
    sha256: str


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_photos(spec: str, key: str = "background.images") -> List[Path]:
    """The photo paths ``spec`` names: a folder (searched recursively), a glob, or a text file with one path
    per line (relative to the file's folder); sorted, so the order never depends on the filesystem."""
    text = str(spec).strip()
    path = Path(text).expanduser()
    if any(c in text for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        photos = [p for p in found if p.is_file() and p.suffix.lower() in IMG_SUFFIXES]
        if not photos:
            raise DataError(f"{key}={spec}: the glob matches no image file ({', '.join(sorted(IMG_SUFFIXES))})")
        return photos
    if path.is_dir():
        photos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMG_SUFFIXES)
        if not photos:
            raise DataError(f"{key}={spec}: the folder holds no image file ({', '.join(sorted(IMG_SUFFIXES))})")
        return photos
    if path.is_file():
        if path.suffix.lower() in IMG_SUFFIXES:
            return [path.resolve()]
        photos = []
        for n, line in enumerate(read_text(path, "list of photos").splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            p = Path(line).expanduser()
            p = p if p.is_absolute() else (path.parent / p)
            if not p.is_file():
                raise DataError(f"{path}, line {n}: photo {p} not found")
            photos.append(p.resolve())
        if not photos:
            raise DataError(f"{key}={spec}: the list names no photo")
        return photos
    raise DataError(f"{key}={spec}: no such folder, file or glob")


def check_photos(paths: Sequence[Path], min_side: int, key: str = "background.images") -> List[PhotoFile]:
    """Open every photo (a truncated file fails on load) and fingerprint its bytes."""
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                size = im.size
        except (OSError, UnidentifiedImageError, SyntaxError) as exc:
            raise DataError(f"{p}: corrupt or unreadable photo ({exc}) in {key}") from None
        if min(size) < min_side:
            raise DataError(f"{p}: photo of {size[0]}x{size[1]} px is smaller than background.min_side={min_side} px "
                            f"(in {key})")
        out.append(PhotoFile(Path(p), size, file_sha256(Path(p))))
    return out
