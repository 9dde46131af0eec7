"""Reading real YOLO label files the way Ultralytics reads them, and saying once what was lenient.

Ultralytics trains on data that a strict reader would refuse: an image without a label file is a
background image, a polygon (segment) line stands for its bounding box, coordinates up to 1% outside
[0, 1] are accepted and boxes reaching past the image edge are clipped. idg reads the same data the same
way, counts each of these in :class:`ReadNotes` and reports them once (one log line per kind, with the first
file as an example), instead of failing. What is genuinely broken stays a DataError naming the file and
line: text that is not UTF-8, a line that is not numbers, NaN or infinite values, a class id that is not a
whole number in range, coordinates beyond the 1% tolerance, a box of zero size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from PIL import Image, UnidentifiedImageError

from idg.core.errors import DataError

TOLERANCE = 0.01  # Ultralytics' own: coordinates in [-0.01, 1.01] are read as in range


@dataclass
class LabelledImage:
    """One real image and its boxes, whatever format it came in."""

    image: Path
    label: Optional[Path]  # None: no YOLO label file (a background image, or read from COCO JSON)
    boxes: List[List[float]]  # [class_id (real), cx, cy, w, h], normalised, inside the image


def check_image(image: Path) -> None:
    try:
        with Image.open(image) as im:
            im.verify()
        with Image.open(image) as im:  # verify() does not decode; a truncated file fails on load
            im.load()
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise DataError(f"{image}: corrupt or unreadable image ({exc})") from None


@dataclass
class ReadNotes:
    """What a reader accepted the lenient way, with one example each (file, or file and line)."""

    backgrounds: int = 0  # images without a label file
    polygons: int = 0  # segment lines read as their bounding boxes
    clipped: int = 0  # boxes reaching past the image edge, clipped to it
    crowd: int = 0  # COCO iscrowd regions, left out
    examples: Dict[str, str] = field(default_factory=dict)

    def note(self, kind: str, where: str, n: int = 1) -> None:
        setattr(self, kind, getattr(self, kind) + n)
        self.examples.setdefault(kind, where)

    def lines(self) -> List[str]:
        """One sentence per kind that occurred (for the log and the run record)."""
        out = []
        if self.backgrounds:
            out.append(f"{self.backgrounds} image(s) without a label file read as background images "
                       f"(no objects), e.g. {self.examples['backgrounds']}")
        if self.polygons:
            out.append(f"{self.polygons} polygon (segment) line(s) read as their bounding boxes, "
                       f"e.g. {self.examples['polygons']}")
        if self.clipped:
            out.append(f"{self.clipped} box(es) reaching past the image edge clipped to it, "
                       f"e.g. {self.examples['clipped']}")
        if self.crowd:
            out.append(f"{self.crowd} COCO iscrowd region(s) left out, e.g. {self.examples['crowd']}")
        return out

    def as_dict(self) -> dict:
        return {"backgrounds": self.backgrounds, "polygons": self.polygons, "clipped": self.clipped, "crowd": self.crowd}


def read_text(path: Path, what: str = "file") -> str:
    """A text file as UTF-8 (a byte-order mark is allowed, as Ultralytics allows it); anything else is a
    DataError naming the file and the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: this {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        f"save it as UTF-8") from None


def _number(text: str, label: Path, n: int, line: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{label}, line {n}: not numbers: {line.strip()!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{label}, line {n}: {text!r} is not a finite number: {line.strip()!r}")
    return value


def _in_range(values: List[float], label: Path, n: int, line: str) -> None:
    bad = [v for v in values if not -TOLERANCE <= v <= 1 + TOLERANCE]
    if bad:
        raise DataError(f"{label}, line {n}: coordinate {bad[0]:g} is outside [0, 1] (labels must be normalised to "
                        f"the image size): {line.strip()!r}")


def read_label(label: Path, nc: int, notes: Optional[ReadNotes] = None) -> List[List[float]]:
    """The boxes ``[class_id, cx, cy, w, h]`` of a YOLO label file (normalised, clipped to the image)."""
    notes = notes if notes is not None else ReadNotes()
    boxes = []
    for n, line in enumerate(read_text(label, "label file").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 5 or len(parts) == 6 or (len(parts) > 6 and len(parts) % 2 == 0):
            raise DataError(f"{label}, line {n}: expected 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 x3 y3 ...', "
                            f"got {line.strip()!r}")
        values = [_number(v, label, n, line) for v in parts]
        cls = values[0]
        if cls != int(cls) or not 0 <= cls < nc:
            raise DataError(f"{label}, line {n}: class id {parts[0]} is out of range 0..{nc - 1}")
        coords = values[1:]
        _in_range(coords, label, n, line)
        if len(coords) > 4:  # a polygon: its bounding box, as Ultralytics' segments2boxes
            xs, ys = coords[0::2], coords[1::2]
            x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
            notes.note("polygons", f"{label}, line {n}")
        else:
            cx, cy, w, h = coords
            if w <= 0 or h <= 0:
                raise DataError(f"{label}, line {n}: box {parts[1:]} has zero or negative size")
            x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        cx0, cx1, cy0, cy1 = max(x0, 0.0), min(x1, 1.0), max(y0, 0.0), min(y1, 1.0)
        if (cx0, cx1, cy0, cy1) != (x0, x1, y0, y1) and len(coords) == 4:
            if min(x0, y0) < -1e-3 or max(x1, y1) > 1 + 1e-3:  # below six-decimal rounding: not worth a note
                notes.note("clipped", f"{label}, line {n}")
        if cx1 <= cx0 or cy1 <= cy0:
            raise DataError(f"{label}, line {n}: the box {parts[1:]} has no area inside the image")
        boxes.append([float(int(cls)), (cx0 + cx1) / 2, (cy0 + cy1) / 2, cx1 - cx0, cy1 - cy0])
    return boxes
