"""The autolabel generator (``generator=autolabel``): whole images whose prompts name the objects, boxed by an
open-vocabulary labeller.

The painting generators place boxes first and paint into them, so the box is the label by construction;
here the order is reversed. Each image's prompt is ``autolabel.template`` over its scene (the background
prompt of the ``background`` group) and 1..n classes named by ``autolabel.object_template`` (from the
``classes`` group), so the same presets serve every generator. Text-to-image draws the whole image, objects
included (no seam), and the labeller (:mod:`idg.generate.labeling`) boxes what it finds for each class's
queries: its boxes are the labels, and its scores go to the manifest (``labeler_score``).

In the engine's terms (:mod:`idg.generate.parts`) :class:`AutolabelImages` is a ``BackgroundSource`` whose
images already hold their objects: it draws them like :class:`~idg.generate.backgrounds.PromptBackgrounds`
(cache, artifact retries, decisions in index order), labels each attempt, and with ``labeler.on_empty=retry``
redraws an image where nothing was found. :class:`AutolabelEngine` then has no sampler, painter or judge:
it turns the labels into records. Everything depends on the image's own seed and pixels, so outputs are the
same whatever the batch size, shard or resume point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from idg.core.config import IdgConfig
from idg.core.layout import DROPPED, DatasetLayout
from idg.core.seeds import rng_for
from idg.data.records import AutolabelRecord, ImageRecord, ObjectRecord, RejectedAttempt
from idg.generate.backgrounds import PromptBackgrounds
from idg.generate.engine import Engine, GenerationStats, model_identity
from idg.generate.labeling import ImageLabeler
from idg.generate.parts import Background, Lazy
from idg.generate.quality import clean_float
from idg.models.labelers import Detection


def join_phrases(phrases: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def named_classes(cfg: IdgConfig, index: int) -> List[int]:
    """The class ids image ``index``'s prompt names: ``autolabel.objects`` distinct classes (capped at the
    number of classes), drawn from the image's own seed, in class order. Retries keep them (only the noise
    seed changes)."""
    n = len(cfg.classes)
    lo, hi = cfg.autolabel.objects
    rng = rng_for(cfg.generate.seed, "autolabel-objects", index)
    k = min(int(rng.integers(lo, hi + 1)), n)
    return sorted(int(c) for c in rng.choice(n, size=k, replace=False))


def image_prompt(cfg: IdgConfig, scene: str, classes: Sequence[int]) -> str:
    """The text-to-image prompt of a scene naming ``classes``."""
    a, names = cfg.autolabel, cfg.class_names
    objects = [a.object_template.format(prompt=cfg.classes[names[c]].prompt, name=names[c]) for c in classes]
    return a.template.format(scene=scene, objects=join_phrases(objects))


@dataclass
class LabelledImage(Background):
    """A whole image with its objects drawn in, and what the labeller found in it."""

    detections: List[Detection] = field(default_factory=list)
    named: List[int] = field(default_factory=list)  # class ids the prompt named


class AutolabelImages(PromptBackgrounds):
    """Whole images from prompts that name their objects, each labelled; a ``BackgroundSource`` whose
    backgrounds are :class:`LabelledImage`.

    Every attempt (first draw, artifact redraw, empty redraw) is labelled in one batched call per pass;
    ``labeler.on_empty=retry`` redraws an image whose attempt has no box, up to ``quality.max_attempts``,
    and then keeps it as background."""

    def __init__(self, cfg: IdgConfig, pipes: Lazy, stats, identity: Lazy, labeler: ImageLabeler):
        super().__init__(cfg, pipes, stats, identity)
        self.labeler = labeler
        self._found: Dict[Tuple[int, int], List[Detection]] = {}

    def scene(self, index: int) -> str:
        return super().prompt(index)

    def prompt(self, index: int) -> str:
        return image_prompt(self.cfg, self.scene(index), named_classes(self.cfg, index))

    def attempts(self, attempts: Dict[int, int]) -> Dict[int, Tuple[np.ndarray, Optional[np.ndarray]]]:
        out = super().attempts(attempts)
        order = list(attempts)
        for i, found in zip(order, self.labeler.label([out[i][0] for i in order])):
            self._found[(i, attempts[i])] = found
        return out

    def retry_reason(self, index: int, attempt: int) -> Optional[str]:
        if self.cfg.labeler.on_empty == "retry" and not self._found[(index, attempt)]:
            return "empty"
        return None

    def count_retry(self, reason: str) -> None:
        if reason == "empty":
            self.stats.empty_retries += 1
        else:
            super().count_retry(reason)

    def final(self, index: int, attempt: int, image: np.ndarray, phash_hex: str, reason: Optional[str],
              rejected: List[RejectedAttempt], duplicate: Optional[int] = None) -> LabelledImage:
        found = self._found[(index, attempt)]
        for key in [k for k in self._found if k[0] == index]:  # this image's other attempts are done with
            del self._found[key]
        # Still empty after the last retry: kept as background, not flagged as an artifact.
        bg = super().final(index, attempt, image, phash_hex, None if reason == "empty" else reason, rejected, duplicate)
        return LabelledImage(bg.image, bg.record, detections=list(found), named=named_classes(self.cfg, index))


class AutolabelEngine(Engine):
    """The engine of ``generator=autolabel``: no sampler, painter or judge; each image's objects are its
    labeller boxes. An image without a box is exported with an empty label (``keep_as_background``, or
    ``retry`` after its last attempt) or left out of the export (``drop``: split ``dropped``)."""

    def __init__(self, cfg: IdgConfig, layout: DatasetLayout, source: AutolabelImages, stats: GenerationStats):
        super().__init__(cfg, layout, source, None, None, stats, len(source))
        self.labeler = source.labeler

    def batch(self, members: List[int]) -> List[Tuple[int, np.ndarray, ImageRecord]]:
        images = self.source.backgrounds(members)
        return [(i, images[i].image, self.labelled_record(i, images[i])) for i in members]

    def labelled_record(self, index: int, image: LabelledImage) -> ImageRecord:
        names = self.cfg.class_names
        empty = not image.detections
        if empty and self.cfg.labeler.on_empty == "drop":
            split = DROPPED
            self.stats.images_dropped += 1
        else:
            split = "val" if index in self.val else "train"
            self.stats.images_empty += int(empty)
        bg = image.record
        objects = [
            ObjectRecord(
                id=k, class_name=names[d.cls], class_id=d.cls, prompt=bg.prompt, requested_box=None, box=list(d.box),
                seed=bg.seed, window=None, status="accepted", attempts=bg.attempts, box_iou=None, changed_fraction=None,
                seam_edge=None, seam_halo=None, seam_halo_widths=None, verify_score=None, retry_reasons=[],
                generator="autolabel",
                labeler_score=clean_float(d.score), labeler_query=self.labeler.query(d),
            )
            for k, d in enumerate(image.detections)
        ]
        res = self.cfg.generate.resolution
        return ImageRecord(
            index=index,
            image=self.layout.relative(self.layout.image(split, index)),
            label=self.layout.relative(self.layout.label(split, index)),
            split=split,
            width=res,
            height=res,
            background=bg,
            objects=objects,
            rejected=[],
            objects_dropped=0,
            autolabel=AutolabelRecord(named=[names[c] for c in image.named], labeler=self.labeler.identity, empty=empty),
        )


def autolabel_engine(cfg: IdgConfig, layout: DatasetLayout, pipes: Lazy, stats: GenerationStats,
                     pools: Optional[dict] = None, prior=None) -> AutolabelEngine:
    """The ``engine_factory`` of :func:`idg.generate.engine.run_generation` for ``generator=autolabel``. It
    draws from the prompts alone (the config refuses photo backgrounds for it) and samples no boxes, so
    ``pools`` and ``prior`` are unused."""
    labeler = ImageLabeler(cfg, stats)
    return AutolabelEngine(cfg, layout, AutolabelImages(cfg, pipes, stats, model_identity(cfg), labeler), stats)
