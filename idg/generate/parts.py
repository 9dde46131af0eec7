"""The engine's parts and the small interfaces between them.

The engine (:mod:`idg.generate.engine`) only orders them, batch by batch::

    BackgroundSource  ->  sampler  ->  ObjectPainter  ->  Judge  ->  (retry | reject | accept)  ->  export
    background of i       boxes of i   paints a round      accept/retry/reject, re-estimated box

- a :class:`BackgroundSource` gives the background of image *i* (``PromptBackgrounds``: prompt ->
  text-to-image, with the content-addressed cache and artifact retries; ``PhotoBackgrounds``: the user's
  photos, real_empty, real_train; ``MixedBackgrounds``: a ``background.mix`` of them; ``AutolabelImages``:
  whole images whose prompts name the objects, each with its labeller boxes);
- the sampler (``idg.generate.sampling``) places the boxes of image *i* from its own seed;
- an :class:`ObjectPainter` paints one *round* of objects (at most one per image) into a batch of images in
  place (``DiffusionPainter``: crop-and-inpaint; ``CopyPastePainter``: real objects);
- a :class:`Judge` looks at each painted object (before/after pixels) and says accept, retry or reject, with
  the box to label (``ObjectJudge``: quality checks + the verifier).

The autolabel generator turns the order around: its source (``AutolabelImages``) draws whole images whose
prompts name the objects and hands them over with the boxes an open-vocabulary labeller found, so its engine
(``AutolabelEngine``) has no sampler, painter or judge.

Every part depends only on seeds and the pixels of its own image, never on batch composition, so outputs are
the same whatever the batch size, shard or resume point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, List, Optional, Protocol, Sequence, Tuple, TypeVar

import numpy as np

from idg.core.box import Box
from idg.data.records import BackgroundRecord
from idg.generate.seams import Seam

Key = Tuple[int, int]  # (image index, object index in the image's sampled boxes)


@dataclass
class PaintJob:
    """One object to paint: which image and object, which box (with its class), prompt and seed."""

    key: Key
    box: Box
    prompt: str
    seed: int


@dataclass(frozen=True)
class Painted:
    """What a painter did for one job: the region it repainted (the inpainting window, or the box) and, for
    objects taken from elsewhere, where they came from (recorded in the manifest as ``source``)."""

    window: Optional[Box]
    source: Optional[Dict[str, Any]] = None


class ObjectPainter(Protocol):
    #: whether the painter uses the diffusion pipelines (copy-paste does not: no model loads for it)
    needs_model: bool

    def paint(self, images: Dict[int, np.ndarray], jobs: Sequence[PaintJob]) -> Dict[Key, Painted]:
        """Paint ``jobs`` (at most one per image) into ``images`` in place."""


@dataclass
class Background:
    """The background of one image, its provenance record and, for ``real_train``, the real objects it
    already holds (their labels are kept; new boxes are placed beside them)."""

    image: np.ndarray
    record: BackgroundRecord
    objects: List[Box] = field(default_factory=list)


class BackgroundSource(Protocol):
    def __len__(self) -> int:
        """How many images the set has."""

    def resume(self, done: Dict[int, dict]) -> None:
        """Learn from the manifest records of finished images (e.g. their pHashes for the duplicate check)."""

    def backgrounds(self, indices: Sequence[int]) -> Dict[int, Background]:
        """The backgrounds of ``indices`` (one batch), as uint8 RGB arrays of the run's resolution."""


@dataclass
class ObjectCheck:
    """What the paste of one object changed, and whether that is good enough to label."""

    box: Optional[Tuple[int, int, int, int]]  # re-estimated box (x, y, w, h); None when nothing changed
    changed_fraction: float  # share of the requested region that changed
    box_iou: float  # IoU of the re-estimated box with the requested one (0 when nothing changed)
    reject_reason: Optional[str] = None

    @property
    def accepted(self) -> bool:
        return self.reject_reason is None


@dataclass
class Verdict:
    """A judge's view of one painted object."""

    check: ObjectCheck  # the label box and change measures (the verifier's box when it gives one)
    verify_score: Optional[float] = None
    reject_reason: Optional[str] = None  # None: accepted
    seam: Optional[Seam] = None  # both seam terms, measured on objects that passed the change check and verifier

    @property
    def accepted(self) -> bool:
        return self.reject_reason is None


class Judge(Protocol):
    def judge(self, before: Dict[int, np.ndarray], after: Dict[int, np.ndarray],
              jobs: Sequence[PaintJob]) -> Dict[Key, Verdict]:
        """A verdict per job, from the image before and after its paint."""

    def retries_left(self, attempt: int) -> bool:
        """Whether a rejected object at attempt ``attempt`` (0-based) may be painted again."""


T = TypeVar("T")


class Lazy(Generic[T]):
    """A value made on first use (the diffusion pipelines: a finished run, resumed, loads no model)."""

    def __init__(self, factory: Callable[[], T]):
        self._factory = factory
        self._value: Optional[T] = None
        self._made = False

    def get(self) -> T:
        if not self._made:
            self._value = self._factory()
            self._made = True
        return self._value

    @property
    def made(self) -> bool:
        return self._made


def schedule_rounds(boxes: Dict[int, List[Box]]) -> List[List[Key]]:
    """Round ``r`` holds object ``r`` of every image that has one: objects of one image are painted one
    after another (each sees the ones before), objects of different images are batched together."""
    out: List[List[Key]] = []
    depth = max((len(b) for b in boxes.values()), default=0)
    for r in range(depth):
        out.append([(i, r) for i in sorted(boxes) if len(boxes[i]) > r])
    return out
