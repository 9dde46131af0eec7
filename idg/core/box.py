"""The one box type: where an object (or an image region) is, in integer pixels.

Convention everywhere in idg — manifests, samplers, painters, judges — is pixel ``[x, y, w, h]`` with a
top-left origin: ``x`` grows to the right, ``y`` downwards, and the box covers columns ``x .. x+w-1`` and
rows ``y .. y+h-1``. YOLO labels and COCO JSON are converted from it at export only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in integer pixels, optionally of an object class (``cls``, the class id)."""

    x: int
    y: int
    w: int
    h: int
    cls: Optional[int] = None

    @property
    def xywh(self) -> Tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h

    @property
    def xyxy(self) -> Tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.w, self.y + self.h

    def as_list(self) -> list:
        return [self.x, self.y, self.w, self.h]

    @classmethod
    def of(cls, box: "Box | Sequence[float]") -> "Box":
        """A Box from a Box or an ``(x, y, w, h)`` sequence of ints."""
        if isinstance(box, Box):
            return box
        x, y, w, h = box
        return Box(int(x), int(y), int(w), int(h))


def xywh(box: "Box | Sequence[float]") -> Tuple[float, float, float, float]:
    """``(x, y, w, h)`` of a Box or of any 4-sequence (floats allowed)."""
    if isinstance(box, Box):
        return box.xywh
    x, y, w, h = box
    return x, y, w, h


def box_iou(a: "Box | Sequence[float]", b: "Box | Sequence[float]") -> float:
    """IoU of two boxes (Boxes or ``(x, y, w, h)`` sequences)."""
    ax0, ay0, aw, ah = xywh(a)
    bx0, by0, bw, bh = xywh(b)
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0
