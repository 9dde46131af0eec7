"""The sample grid (``samples.png``): generated images with their boxes and class names drawn on."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw

from idg.core.atomic import atomic_write_bytes

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def sample_grid(root: Path, records: Sequence[dict], limit: int = 16, cell: int = 256) -> Image.Image:
    """A grid of generated images with their boxes and class names drawn on."""
    records = list(records)[:limit]
    cols = max(1, math.ceil(math.sqrt(len(records))))
    rows = max(1, math.ceil(len(records) / cols))
    grid = Image.new("RGB", (cols * cell, rows * cell), (32, 32, 32))
    for n, rec in enumerate(records):
        with Image.open(root / rec["image"]) as im:
            tile = im.convert("RGB").resize((cell, cell), Image.BILINEAR)
        s = cell / rec["width"]
        draw = ImageDraw.Draw(tile)
        for obj in rec["objects"]:
            x, y, w, h = obj["box"]
            color = PALETTE[obj["class_id"] % len(PALETTE)]
            draw.rectangle([x * s, y * s, (x + w) * s - 1, (y + h) * s - 1], outline=color, width=2)
            draw.text((x * s + 3, y * s + 2), obj["class"], fill=color)
        grid.paste(tile, ((n % cols) * cell, (n // cols) * cell))
    return grid


def write_sample_grid(path: Path, root: Path, records: Sequence[dict], limit: int = 16) -> Path:
    """The sample grid of an export's ``records`` (images under ``root``) as a PNG at ``path``."""
    buf = io.BytesIO()
    sample_grid(root, records, limit).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())
