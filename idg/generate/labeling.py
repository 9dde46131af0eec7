"""The labeller of the autolabel generator: cached, loaded on first use, batched.

:class:`ImageLabeler` gives the selected boxes (:func:`idg.models.labelers.select`) of whole images. Its
outputs are cached by (image hash, labeller identity, class queries, selection thresholds) under
``<cache_dir>/labels/``, so a rerun, a resumed run or another run over the same images labels each image
once, and a run whose every image is cached loads no labeller at all. Misses go to the model
``labeler.batch_size`` images at a time (one per forward pass on CPU, see
:class:`~idg.models.labelers.ZeroShotDetector`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from idg.core.atomic import atomic_write_text
from idg.core.config import IdgConfig
from idg.models.labelers import Detection, ZeroShotDetector, labeler_identity, select
from idg.generate.parts import Lazy

log = logging.getLogger(__name__)


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's pixels and shape."""
    h = hashlib.sha256(json.dumps(list(image.shape)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def label_key(image: np.ndarray, identity: str, queries: Sequence[Sequence[str]], settings: dict) -> str:
    """What a labelled image depends on: its pixels, the labeller, the queries and the selection."""
    payload = json.dumps({"image": image_hash(image), "labeler": identity, "queries": [list(q) for q in queries],
                          **settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class LabelCache:
    """JSON files under ``<cache_dir>/labels/<key[:2]>/<key>.json`` (write-once, atomic); a disabled cache
    stores nothing."""

    def __init__(self, cache_dir: Optional[str | Path], enabled: bool = True):
        self.root = Path(cache_dir) / "labels" if (cache_dir and enabled) else None

    def path(self, key: str) -> Optional[Path]:
        return self.root / key[:2] / f"{key}.json" if self.root else None

    def get(self, key: str) -> Optional[List[Detection]]:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            return [Detection.from_dict(d) for d in json.loads(path.read_text())["detections"]]
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("unreadable label cache entry %s: labelling the image again", path)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, detections: Sequence[Detection]) -> None:
        path = self.path(key)
        if path is None or path.is_file():
            return
        atomic_write_text(path, json.dumps({"detections": [d.as_dict() for d in detections]}, sort_keys=True))


class ImageLabeler:
    """The selected labeller boxes of whole images (uint8 RGB arrays) for the run's classes.

    ``stats`` (a :class:`~idg.generate.engine.GenerationStats`) counts labelled and cached images."""

    def __init__(self, cfg: IdgConfig, stats=None):
        lab = cfg.labeler
        self.cfg = lab
        self.queries = cfg.queries()
        self.identity = labeler_identity(lab.name, lab.model, lab.revision, lab.dtype)
        self.settings = {"threshold": lab.threshold, "nms_iou": lab.nms_iou, "min_size": lab.min_size,
                         "max_objects": lab.max_objects}
        self.cache = LabelCache(cfg.generate.cache_dir, cfg.generate.use_cache)
        self.stats = stats
        invariant = str(cfg.generate.batch_invariant).lower()
        self.detector = Lazy(lambda: ZeroShotDetector(
            lab.name, lab.model, revision=lab.revision, device=lab.device, dtype=lab.dtype, offline=cfg.offline,
            build_tiny=lab.build_tiny, batch_size=lab.batch_size, batch_invariant=invariant))

    def label(self, images: Sequence[np.ndarray]) -> List[List[Detection]]:
        """Each image's boxes: from the cache, else from the model (``labeler.batch_size`` images per call)."""
        keys = [label_key(im, self.identity, self.queries, self.settings) for im in images]
        out: List[Optional[List[Detection]]] = [self.cache.get(k) for k in keys]
        missing = [n for n, d in enumerate(out) if d is None]
        self._count("labels_from_cache", len(images) - len(missing))
        for start in range(0, len(missing), self.cfg.batch_size):
            chunk = missing[start : start + self.cfg.batch_size]
            for n, cand in zip(chunk, self.detector.get().candidates([images[n] for n in chunk], self.queries)):
                h, w = images[n].shape[:2]
                out[n] = select(cand, w, h, **self.settings)
                self.cache.put(keys[n], out[n])
            self._count("labels_computed", len(chunk))
        return out

    def query(self, detection: Detection) -> str:
        """The text query that gave ``detection``."""
        return self.queries[detection.cls][detection.query]

    def _count(self, field: str, n: int) -> None:
        if self.stats is not None:
            setattr(self.stats, field, getattr(self.stats, field) + n)
