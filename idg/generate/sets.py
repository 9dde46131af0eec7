"""The synthetic sets of a study: one for the whole study, or one per real subset (fraction, seed).

A set depends on the real train subset when anything in it is taken from that subset: objects cut from it
(``generator=copy_paste``), its images as backgrounds (``background=real_empty`` / ``real_train``) or box
layouts fitted to its labels (``sampler=real_prior``). Then the study makes one set per (fraction, seed) —
under ``copy_paste/f<fraction>_s<seed>/`` for the copy-paste generator, ``sets/f<fraction>_s<seed>/`` for
diffusion — and trains the synthetic arms of that pair on it, so nothing of val, test or a larger subset
reaches them. Otherwise there is one set, ``dataset/``. The autolabel generator samples no boxes, so
``real_prior`` alone does not make its set per subset (and it draws no photo backgrounds).

A study comparing generators (``study.generators``) makes each generator's sets this way inside
``generators/<generator>/`` (:func:`generate_sets` is called once per generator, with one shared pipelines
factory so the diffusion model loads at most once for all of them).

Beside each per-subset set: ``sources.json`` (what it is made from: the real objects, the photos with
their content hashes, the prior's key; its ``fingerprint`` guards the set like a generation fingerprint)
and, for ``real_prior``, ``prior.json``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from PIL import Image

from idg.core.atomic import atomic_write_json
from idg.core.config import IdgConfig
from idg.core.errors import DataError
from idg.core.hashing import content_hash
from idg.core.keyed import reuse_or_refuse
from idg.core.layout import RunLayout
from idg.data.photos import PhotoFile, file_sha256
from idg.data.subsets import PreparedReal
from idg.data.yolo import label_path
from idg.generate.photos import Photo

log = logging.getLogger(__name__)


def subset_dependent(cfg: IdgConfig) -> bool:
    """Whether the synthetic set is made per real subset (fraction, seed) rather than once per study."""
    gen = cfg.generate.generator
    return gen == "copy_paste" or cfg.background.uses_real or (cfg.sampler.name == "real_prior" and gen != "autolabel")


def set_layout(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> RunLayout:
    """Where the set the synthetic arms of ``(fraction, seed)`` train on lives (a run-dir-like layout)."""
    run = RunLayout(Path(run_dir))
    if not subset_dependent(cfg):
        return run
    return run.copy_paste_set(fraction, seed) if cfg.generate.generator == "copy_paste" else run.subset_set(fraction, seed)


def _real_labels(image: Path) -> List[tuple]:
    """The prepared (synthetic-id) labels of a linked real image: ``(cls, cx, cy, w, h)``."""
    out = []
    for line in label_path(image).read_text().splitlines():
        parts = line.split()
        if parts:
            out.append((int(parts[0]), *(float(v) for v in parts[1:5])))
    return out


def _photo(path: Path, objects: Sequence[tuple] = ()) -> Photo:
    with Image.open(path) as im:
        size = im.size
    return Photo(PhotoFile(path, size, file_sha256(path.resolve())), tuple(objects))


def photo_pools(cfg: IdgConfig, real: Optional[PreparedReal], fraction: float, seed: int,
                user_photos: Optional[Sequence[PhotoFile]]) -> Dict[str, List[Photo]]:
    """The photos of each photo source of ``cfg.background`` for the subset ``(fraction, seed)``."""
    pools: Dict[str, List[Photo]] = {}
    where = f"the real train subset at fraction {fraction:g}, seed {seed}"
    for name in cfg.background.sources:
        if name == "images":
            pools[name] = [Photo(p) for p in user_photos or []]
        elif name == "real_empty":
            pools[name] = [_photo(p) for p in real.empty(fraction, seed)]
            if not pools[name]:
                raise DataError(f"background=real_empty: {where} has no image without an object of the selected "
                                f"classes; use a larger real fraction, background=images or background=prompts")
        elif name == "real_train":
            pools[name] = [_photo(p, _real_labels(p)) for p in real.labelled(fraction, seed)]
            if not pools[name]:
                raise DataError(f"background=real_train: {where} has no labelled image")
    return pools


def fit_subset_prior(cfg: IdgConfig, real: PreparedReal, fraction: float, seed: int):
    from idg.generate.prior import fit_prior

    labels = [_real_labels(p) for p in real.subset(fraction, seed)]
    return fit_prior(labels, real.names, f"the real train subset at fraction {fraction:g}, seed {seed}")


def _pools_record(pools: Dict[str, List[Photo]]) -> Dict[str, list]:
    return {name: [{"photo": str(p.file.path.resolve()), "sha256": p.file.sha256, "size": list(p.file.size),
                    "objects": len(p.objects)} for p in photos] for name, photos in pools.items()}


def generate_set(cfg: IdgConfig, real: Optional[PreparedReal], fraction: float, seed: int, run_dir: str | Path,
                 user_photos: Optional[Sequence[PhotoFile]] = None, pipes_factory: Optional[Callable] = None):
    """Generate (or finish) the set of ``(fraction, seed)`` (the study's only set when it does not depend on
    the subset); returns its GenerationResult.

    Raises RunDirError when the folder holds a set made from other real objects, photos, prior or settings
    and ``overwrite`` is off."""
    from idg.generate.copy_paste import collect_sources, copy_paste_painter, sources_fingerprint
    from idg.generate.engine import run_generation
    from idg.generate.prior import summary_lines, write_prior

    out = set_layout(cfg, Path(run_dir), fraction, seed)
    pools = photo_pools(cfg, real, fraction, seed, user_photos)
    samples_boxes = cfg.generate.generator != "autolabel"
    prior = fit_subset_prior(cfg, real, fraction, seed) if cfg.sampler.name == "real_prior" and samples_boxes else None
    extra = {}
    if pools:
        extra["photos"] = {name: [p.file.sha256 for p in photos] for name, photos in pools.items()}
    if prior is not None:
        extra["prior"] = prior.key
    painter_factory, engine_factory, record = None, None, {}
    if cfg.generate.generator == "autolabel":
        from idg.generate.autolabel import autolabel_engine

        engine_factory = autolabel_engine
    if cfg.generate.generator == "copy_paste":
        sources = collect_sources(real, fraction, seed)
        missing = sorted(set(range(len(real.names))) - {s.cls for s in sources})
        if missing:
            names = ", ".join(real.names[c] for c in missing)
            raise DataError(f"copy_paste: the real train subset at fraction {fraction:g}, seed {seed} has no object of {names}")
        painter_factory = copy_paste_painter(cfg, sources)
        # Only the copy-paste sources: sets made before photo sources and priors existed keep their fingerprint.
        fingerprint = sources_fingerprint(sources, cfg.copy_paste)
        if extra:
            fingerprint = content_hash({"copy_paste": fingerprint, **extra})
        record = {"copy_paste": asdict(cfg.copy_paste),
                  "objects_per_class": {n: sum(s.cls == c for s in sources) for c, n in enumerate(real.names)},
                  "sources": [s.as_dict() for s in sources]}
        log.info("copy_paste f=%g s=%d: %d real objects from %d train images", fraction, seed, len(sources),
                 len({s.image for s in sources}))
    else:
        fingerprint = content_hash(extra)
    if subset_dependent(cfg):
        if out.sources.is_file() and reuse_or_refuse(
                out.sources, fingerprint, field="fingerprint", overwrite=cfg.overwrite, redo="replace it", name=out.root,
                differs="was made from other real objects, photos, box prior or copy_paste settings") is None:
            log.warning("overwrite=true: deleting %s", out.dataset_dir)
            shutil.rmtree(out.dataset_dir, ignore_errors=True)
        atomic_write_json(out.sources, {"fingerprint": fingerprint, "fraction": fraction, "seed": seed, **record,
                                        **({"backgrounds": _pools_record(pools)} if pools else {}),
                                        **({"prior": prior.key} if prior is not None else {})})
    if prior is not None:
        write_prior(prior, out.prior, {"fraction": fraction, "seed": seed, "split": "train",
                                       "images": prior.images}, cfg.sampler)
        for line in summary_lines(prior):
            log.info("real_prior f=%g s=%d %s", fraction, seed, line)
    for name, photos in pools.items():
        log.info("background=%s f=%g s=%d: %d photos", name, fraction, seed, len(photos))
    return run_generation(cfg, out.root, pipes_factory=pipes_factory, painter_factory=painter_factory, pools=pools,
                          prior=prior, extra_fingerprint=extra or None, engine_factory=engine_factory)


def generate_sets(cfg: IdgConfig, real: Optional[PreparedReal], run_dir: str | Path,
                  user_photos: Optional[Sequence[PhotoFile]] = None, pipes_factory: Optional[Callable] = None) -> list:
    """Every synthetic set of ``cfg.generate.generator`` in ``run_dir``. The diffusion model (and the object
    model, on its first object) loads at most once, from ``pipes_factory`` when given (shared by the
    generators of a study comparing them), and only when a background or an object is left to draw (all
    sets share the cached backgrounds)."""
    from idg.generate.engine import shared_pipelines

    pipes_factory = pipes_factory or shared_pipelines(cfg)
    if not subset_dependent(cfg):
        return [generate_set(cfg, real, 1.0, 0, run_dir, user_photos, pipes_factory)]
    return [generate_set(cfg, real, fraction, seed, run_dir, user_photos, pipes_factory)
            for seed in cfg.study.seeds for fraction in cfg.study.fractions]
