"""The generation engine: it orders the parts (:mod:`idg.generate.parts`) and owns batching, resume and
determinism.

Work goes in batches of ``generate.batch_size`` images, aligned to global image indices:

1. backgrounds come from the :class:`~idg.generate.parts.BackgroundSource` (cache, or one text-to-image
   call per batch, artifacts regenerated);
2. boxes are sampled per image from a seed derived from (run seed, image index);
3. objects are painted in rounds by the :class:`~idg.generate.parts.ObjectPainter`: round ``r`` paints
   object ``r`` of every image of the batch in one call (each object with its own seed), so an image's later
   objects see its earlier ones;
4. the :class:`~idg.generate.parts.Judge` looks at every painted object: a rejected one is undone and
   repainted with the next attempt's seed (the retries of a round are batched together); after
   ``quality.max_attempts`` it is left out of the labels and listed under ``rejected`` in its manifest line,
   with a crop of its last attempt in ``rejected/``;
5. each finished image is written atomically (image, then label), then its manifest line is appended.

Every decision depends only on the image's own pixels and seeds (and, for duplicates, on earlier images),
never on batch composition. A rerun into the same run dir skips images whose manifest line exists
(:mod:`idg.generate.journal`) and completes the rest, byte-identical to an uninterrupted run. The export's
index files (YOLO data.yaml, COCO, sorted manifest) are the pipeline's next stage (:func:`export`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from PIL import Image

from idg.core import interrupt
from idg.core.atomic import append_line, atomic_save_image, atomic_write_text, read_jsonl
from idg.core.box import Box
from idg.core.config import IdgConfig
from idg.core.layout import DatasetLayout, RunLayout
from idg.core.progress import FILE_ONLY, LazyBar
from idg.core.seeds import derive_seed
from idg.data.export import finalize
from idg.data.records import ImageRecord, ObjectRecord, RealObjectRecord
from idg.data.yolo import yolo_lines
from idg.generate.journal import prepare_output
from idg.generate.judge import ObjectJudge
from idg.generate.parts import (BackgroundSource, Judge, Key, Lazy, ObjectPainter, PaintJob, Painted, Verdict,
                                schedule_rounds)
from idg.generate.plan import fingerprint, fingerprint_config, plan_boxes, shard_indices, val_indices
from idg.generate.quality import clean_float, crop_around

log = logging.getLogger(__name__)


@dataclass
class GenerationStats:
    images: int = 0
    images_skipped: int = 0
    objects: int = 0
    objects_dropped: int = 0
    objects_rejected: int = 0  # painted max_attempts times without passing the quality checks
    object_retries: int = 0  # extra paint attempts
    backgrounds_generated: int = 0
    backgrounds_from_cache: int = 0
    backgrounds_regenerated: int = 0  # extra background attempts after an artifact, by reason:
    artifact_black: int = 0
    artifact_constant: int = 0
    artifact_nan: int = 0
    artifact_duplicate: int = 0
    artifacts_unresolved: int = 0  # images kept with an artifact after the last attempt
    background_duplicates_kept: int = 0  # prompts, quality.duplicates=keep: near-duplicates used and flagged
    backgrounds_from_photos: int = 0  # images whose background is a photo (images, real_empty, real_train)
    photo_pool: int = 0  # photos in the pools of the photo sources
    photo_duplicates: int = 0  # of them, near-duplicates of an earlier photo of their pool
    real_objects: int = 0  # real_train: real labelled objects kept in the images
    real_objects_cut: int = 0  # real_train: real objects left out because the crop cut them
    labels_computed: int = 0  # autolabel: images the labeller ran on
    labels_from_cache: int = 0  # autolabel: images whose labels came from the label cache
    empty_retries: int = 0  # autolabel, labeler.on_empty=retry: images redrawn because the labeller found nothing
    images_empty: int = 0  # autolabel: images exported without a box (keep_as_background, or retries exhausted)
    images_dropped: int = 0  # autolabel, labeler.on_empty=drop: images left out of the export (images/dropped/)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "images_per_second": round(self.images_per_second, 4)}


@dataclass
class GenerationResult:
    layout: DatasetLayout
    stats: GenerationStats
    complete: bool
    records: List[dict] = field(default_factory=list)
    generation: dict = field(default_factory=dict)  # generation.json of the export
    engine: Optional["Engine"] = None  # its parts, for the seam-shortcut set


@dataclass
class Outcome:
    """What became of one object after its last attempt."""

    status: str  # accepted | rejected
    attempts: int
    seed: int
    painted: Optional[Painted]
    verdict: Verdict
    retry_reasons: List[str]


class Engine:
    """Generates the images of one run into ``layout`` from its parts (a subclass whose source already draws
    the objects, :class:`~idg.generate.autolabel.AutolabelEngine`, has no painter and no judge)."""

    def __init__(self, cfg: IdgConfig, layout: DatasetLayout, source: BackgroundSource, painter: Optional[ObjectPainter],
                 judge: Optional[Judge], stats: GenerationStats, plan_size: int, prior=None):
        self.cfg = cfg
        self.prior = prior  # sampler=real_prior: the fitted layout (idg.generate.prior)
        self.layout = layout
        self.source = source
        self.painter = painter
        self.judge = judge
        self.stats = stats
        self.val = val_indices(plan_size, cfg.generate.val_fraction, cfg.generate.seed)
        self.crops: Dict[int, Dict[int, np.ndarray]] = {}  # rejected objects' crops, written with the image

    # -- objects

    def object_prompt(self, class_id: int) -> str:
        name = self.cfg.class_names[class_id]
        return self.cfg.inpaint.prompt_template.format(prompt=self.cfg.classes[name].prompt)

    def object_seed(self, index: int, obj: int, attempt: int = 0) -> int:
        base = self.cfg.inpaint.seed if self.cfg.inpaint.seed is not None else self.cfg.generate.seed
        return derive_seed(base, "object", index, obj, attempt)

    def paint_objects(self, images: Dict[int, np.ndarray], boxes: Dict[int, List[Box]]) -> Dict[Key, Outcome]:
        """Paint every object, retrying rejected ones; returns each object's outcome."""
        bs = self.cfg.generate.batch_size
        outcomes: Dict[Key, Outcome] = {}
        for round_keys in schedule_rounds(boxes):
            attempt = {k: 0 for k in round_keys}
            reasons: Dict[Key, List[str]] = {k: [] for k in round_keys}
            pending = list(round_keys)
            while pending:
                retry = []
                for start in range(0, len(pending), bs):
                    chunk = pending[start : start + bs]
                    before = {i: images[i].copy() for i, _ in chunk}
                    jobs = [PaintJob((i, j), boxes[i][j], self.object_prompt(boxes[i][j].cls),
                                     self.object_seed(i, j, attempt[(i, j)])) for i, j in chunk]
                    painted = self.painter.paint(images, jobs)
                    verdicts = self.judge.judge(before, images, jobs)
                    for k in chunk:
                        i, j = k
                        verdict = verdicts[k]
                        outcome = Outcome("accepted", attempt[k] + 1, self.object_seed(i, j, attempt[k]), painted.get(k),
                                          verdict, list(reasons[k]))
                        if verdict.accepted:
                            outcomes[k] = outcome
                            continue
                        after = images[i]
                        images[i] = before[i]  # undo: a failed object must not stay in the image unlabelled
                        if self.judge.retries_left(attempt[k]):
                            reasons[k].append(verdict.reject_reason)
                            attempt[k] += 1
                            retry.append(k)
                            self.stats.object_retries += 1
                        else:
                            self.crops.setdefault(i, {})[j] = crop_around(after, boxes[i][j].xywh)
                            outcome.status = "rejected"
                            outcomes[k] = outcome
                pending = retry
        return outcomes

    # -- records

    def object_record(self, index: int, j: int, box: Box, out: Optional[Outcome]) -> ObjectRecord:
        inp = self.cfg.inpaint
        diffusion = self.cfg.generate.generator == "diffusion"
        check = out.verdict.check if out is not None else None
        status = out.status if out is not None else "accepted"
        final = list(check.box) if check is not None and check.box is not None else None
        win = out.painted.window if out is not None and out.painted is not None else None
        seam = out.verdict.seam if out is not None else None
        pasted = self.cfg.copy_paste if self.cfg.generate.generator == "copy_paste" else None
        return ObjectRecord(
            id=j,
            class_name=self.cfg.class_names[box.cls],
            class_id=box.cls,
            prompt=self.object_prompt(box.cls),
            requested_box=box.as_list(),
            # the label: the re-estimated box (None for a rejected object where nothing changed)
            box=final if final is not None or status == "rejected" else box.as_list(),
            seed=out.seed if out is not None else self.object_seed(index, j),
            window=win.as_list() if win is not None else None,
            status=status,
            attempts=out.attempts if out is not None else 1,
            box_iou=clean_float(check.box_iou) if check is not None else None,
            changed_fraction=clean_float(check.changed_fraction) if check is not None else None,
            seam_edge=clean_float(seam.edge) if seam is not None else None,
            seam_halo=clean_float(seam.halo) if seam is not None else None,
            seam_halo_widths={str(w): clean_float(v) for w, v in seam.halo_widths.items()} if seam is not None else None,
            verify_score=clean_float(out.verdict.verify_score) if out is not None else None,
            retry_reasons=list(out.retry_reasons) if out is not None else [],
            generator=self.cfg.generate.generator,
            strength=inp.strength,
            steps=inp.steps,
            guidance=inp.guidance,
            # how it was pasted: copy-paste objects go in by copy_paste.blend/feather, as a rectangle
            mask=inp.mask if pasted is None else "rect",
            feather=inp.feather if pasted is None else pasted.feather,
            blend=inp.blend if pasted is None else pasted.blend,
            mode=inp.mode,
            sampler=self.cfg.sampler.name,
            source=out.painted.source if out is not None and out.painted is not None else None,
            reject_reason=out.verdict.reject_reason if status == "rejected" else None,
            crop=self.layout.relative(self.layout.rejected_crop(index, j)) if status == "rejected" else None,
            model=self.cfg.inpaint_model.pretrained if diffusion else None,
            scheduler=self.cfg.inpaint_model.scheduler if diffusion else None,
        )

    def record(self, index: int, background, boxes: List[Box], dropped: int, outcomes: Dict[Key, Outcome],
               real: Sequence[Box] = ()) -> ImageRecord:
        split = "val" if index in self.val else "train"
        res = self.cfg.generate.resolution
        objects = [self.object_record(index, j, b, outcomes.get((index, j))) for j, b in enumerate(boxes)]
        real_objects = [RealObjectRecord(self.cfg.class_names[b.cls], b.cls, b.as_list()) for b in real]
        return ImageRecord(
            index=index,
            image=self.layout.relative(self.layout.image(split, index)),
            label=self.layout.relative(self.layout.label(split, index)),
            split=split,
            width=res,
            height=res,
            background=background,
            objects=[o for o in objects if o.status != "rejected"],
            rejected=[o for o in objects if o.status == "rejected"],
            objects_dropped=dropped,
            real_objects=real_objects if background.source == "real_train" else None,
        )

    def write(self, index: int, image: np.ndarray, rec: dict) -> None:
        """Image, label and rejected crops, then the manifest line: a manifest line always means its files
        are complete."""
        for j, crop in sorted(self.crops.pop(index, {}).items()):
            atomic_save_image(self.layout.rejected_crop(index, j), Image.fromarray(crop), "png")
        atomic_save_image(self.layout.root / rec["image"], Image.fromarray(image), self.cfg.generate.image_format)
        labels = (rec.get("real_objects") or []) + rec["objects"]  # real_train: the real labels, then the new ones
        atomic_write_text(self.layout.root / rec["label"], yolo_lines(labels, rec["width"], rec["height"]))
        append_line(self.layout.manifest, json.dumps(rec, sort_keys=True))

    # -- driver

    def run(self, indices: Sequence[int], done: Set[int], progress: bool = True) -> None:
        todo = [i for i in indices if i not in done]
        self.stats.images_skipped = len(indices) - len(todo)
        bs = self.cfg.generate.batch_size
        batches: Dict[int, List[int]] = {}
        for i in todo:
            batches.setdefault(i // bs, []).append(i)
        start = time.perf_counter()
        # The bar opens at the first finished image: the lazy pipelines load inside the first batch.
        with LazyBar(len(todo), "generate", enabled=progress) as bar:
            for members in batches.values():
                interrupt.raise_if_requested()  # a Ctrl-C/SIGTERM whose exception was lost ends the run here
                for i, image, record in self.batch(members):
                    rec = record.to_dict()
                    self.write(i, image, rec)
                    self.stats.images += 1
                    self.stats.objects += len(rec["objects"])
                    self.stats.objects_rejected += len(rec["rejected"])
                    self.stats.objects_dropped += rec["objects_dropped"]
                    bar.update(1)
        self.stats.seconds = time.perf_counter() - start

    def batch(self, members: List[int]) -> List[Tuple[int, np.ndarray, ImageRecord]]:
        """The finished images of one batch, in index order: backgrounds, boxes, painted and judged objects."""
        backgrounds = self.source.backgrounds(members)
        images = {i: backgrounds[i].image for i in members}
        planned = {i: plan_boxes(self.cfg, i, self.prior, backgrounds[i].objects) for i in members}
        boxes = {i: p[0] for i, p in planned.items()}
        outcomes = self.paint_objects(images, boxes)
        self.stats.real_objects += sum(len(backgrounds[i].objects) for i in members)
        return [(i, images[i], self.record(i, backgrounds[i].record, boxes[i], planned[i][1], outcomes,
                                           backgrounds[i].objects)) for i in members]


def default_pipelines(cfg: IdgConfig) -> Callable[[], object]:
    """Loads the diffusion pipelines of ``cfg.model`` and ``cfg.inpaint_model`` (called at most once, when a
    background or an object is left to draw; the object model loads on its first object)."""

    def load():
        from idg.models.diffusion import load_pipelines

        return load_pipelines(cfg.model, cfg.inpaint_model, offline=cfg.offline,
                              batch_invariant=str(cfg.generate.batch_invariant).lower(),
                              progress=cfg.generate.pipeline_progress)

    return load


def shared_pipelines(cfg: IdgConfig) -> Callable[[], object]:
    """A pipelines factory that loads at most once, for several sets of one run (copy-paste sets, the
    generators of a study comparing them)."""
    lazy = Lazy(default_pipelines(cfg))
    return lazy.get


def model_identity(cfg: IdgConfig) -> Lazy:
    """Identity of the model without loading it (the cache is consulted before any weights load)."""

    def identity() -> str:
        from idg.models.diffusion import model_identity as identity_of, resolve_device, resolve_dtype

        return identity_of(cfg.model, resolve_dtype(cfg.model.dtype, resolve_device(cfg.model.device)))

    return Lazy(identity)


# (cfg, layout, lazy pipelines, stats, photo pools, prior) -> the engine of one set
EngineFactory = Callable[[IdgConfig, DatasetLayout, Lazy, GenerationStats, Optional[Dict[str, list]], object], Engine]


def painting_engine(painter_factory: Optional[Callable[[Lazy], ObjectPainter]] = None) -> EngineFactory:
    """The engine of the painting generators: the background source of ``cfg.background`` (prompts, photos or
    a mix), sampled boxes (from the fitted ``prior`` for ``sampler=real_prior``), the painter (default:
    diffusion crop-and-inpaint; copy-paste passes its own) and the object judge."""
    from idg.generate.inpaint import DiffusionPainter
    from idg.generate.sources import make_source

    def make(cfg: IdgConfig, layout: DatasetLayout, pipes: Lazy, stats: GenerationStats,
             pools: Optional[Dict[str, list]] = None, prior=None) -> Engine:
        source = make_source(cfg, pipes, stats, model_identity(cfg), pools)
        painter = (painter_factory or (lambda p: DiffusionPainter(cfg, p)))(pipes)
        return Engine(cfg, layout, source, painter, ObjectJudge(cfg), stats, len(source), prior)

    return make


def run_generation(
    cfg: IdgConfig,
    run_dir: str | Path,
    pipes_factory: Optional[Callable[[], object]] = None,
    painter_factory: Optional[Callable[[Lazy], ObjectPainter]] = None,
    pools: Optional[Dict[str, list]] = None,
    prior=None,
    extra_fingerprint: Optional[dict] = None,
    engine_factory: Optional[EngineFactory] = None,
) -> GenerationResult:
    """Generate (or finish generating) this shard of the dataset into ``<run_dir>/dataset``.

    ``pipes_factory`` loads the diffusion pipelines; it is only called when an image is left to generate
    (so a finished run, resumed, loads no model). ``pools`` are the photos of the photo background
    sources, ``prior`` the fitted layout of ``sampler=real_prior``; ``extra_fingerprint`` is what else the
    set depends on (their content hashes), so a change in them is never mistaken for a finished set.
    ``engine_factory`` builds the engine from its parts (default: :func:`painting_engine` with
    ``painter_factory``, which builds the object painter from the lazy pipelines, default the diffusion
    painter; the autolabel generator passes its own).
    """
    layout = RunLayout(Path(run_dir)).dataset(cfg.generate.image_format)
    done = prepare_output(cfg, layout, extra_fingerprint)
    pipes = Lazy(pipes_factory or default_pipelines(cfg))
    stats = GenerationStats()
    engine = (engine_factory or painting_engine(painter_factory))(cfg, layout, pipes, stats, pools, prior)
    source = engine.source
    source.resume(done)
    indices = shard_indices(len(source), cfg.generate.batch_size, cfg.generate.num_shards, cfg.generate.shard)
    log.info("generating %d images (%d already done) into %s", len(indices), len(set(indices) & set(done)), layout.root)
    engine.run(indices, set(done), progress=cfg.generate.progress)
    records = sorted(read_jsonl(layout.manifest), key=lambda r: r["index"])
    complete = set(indices) <= {r["index"] for r in records}
    generation = {
        "fingerprint": fingerprint(cfg, extra_fingerprint),
        "status": "complete" if complete else "running",
        "shard": cfg.generate.shard,
        "num_shards": cfg.generate.num_shards,
        "total_images": len(source),
        "stats": stats.as_dict(),
        "config": fingerprint_config(cfg),
        **({"inputs": extra_fingerprint} if extra_fingerprint else {}),
    }
    log.info("generated %d images, %d objects in %.1fs (%.2f img/s); backgrounds: %d generated, %d from cache",
             stats.images, stats.objects, stats.seconds, stats.images_per_second,
             stats.backgrounds_generated, stats.backgrounds_from_cache, extra=FILE_ONLY)  # the stage line says it
    return GenerationResult(layout, stats, complete, records, generation, engine)


def export(result: GenerationResult, names: Sequence[str]) -> bool:
    """The export stage of one generated set: once every image of the shard is there, the index files (sorted
    manifest, data.yaml, COCO annotations.json, generation.json). Returns whether it was written."""
    if result.complete:
        finalize(result.layout, result.records, names, result.generation)
    return result.complete
