"""Background sources: where the scene of image *i* comes from.

:class:`PromptBackgrounds` (``background.prompts``) draws each background with text-to-image from its
prompt and its own seed, reading the content-addressed cache first (:mod:`idg.generate.cache`: a sweep over
inpainting settings draws each background once). A background that is black, near-constant, NaN or a
near-duplicate of an earlier image is drawn again with the next attempt's seed, up to
``quality.max_attempts``; decisions are taken in index order, so they never depend on the batch size.
"""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from idg.core.config import IdgConfig
from idg.core.seeds import derive_seed
from idg.data.records import BackgroundRecord, RejectedAttempt
from idg.generate.blend import to_uint8
from idg.generate.cache import BackgroundCache, background_key
from idg.generate.parts import Background, Lazy
from idg.generate.plan import background_plan
from idg.generate.quality import artifact_reason, duplicate_of, phash

log = logging.getLogger(__name__)


class PromptBackgrounds:
    """The ``background.prompts`` source: text-to-image per image, cached, with artifact retries.

    ``stats`` (a :class:`~idg.generate.engine.GenerationStats`) receives the background counters;
    ``phashes`` holds the final pHash of every image decided so far (and of finished images on resume), for
    the near-duplicate check."""

    def __init__(self, cfg: IdgConfig, pipes: Lazy, stats, model_identity: Lazy, members: Optional[Sequence[int]] = None):
        self.cfg = cfg
        self.pipes = pipes
        self.stats = stats
        self._identity = model_identity
        self.cache = BackgroundCache(cfg.generate.cache_dir, cfg.generate.use_cache)
        # members: the global image indices this source serves (part of a background.mix), else all images
        self.plan = background_plan(cfg.background.prompts, cfg.generate.num_images if members is None else len(members))
        self.members = list(range(len(self.plan))) if members is None else list(members)
        self._position = {i: p for p, i in enumerate(self.members)}
        self.keep_duplicates = cfg.quality.duplicate_policy(photo=False) == "keep"
        self.phashes: Dict[int, int] = {}
        self._records: Dict[int, BackgroundRecord] = {}

    def __len__(self) -> int:
        return len(self.plan)

    def resume(self, done: Dict[int, dict]) -> None:
        """Finished images' hashes, so a resumed run finds the same near-duplicates as an uninterrupted one."""
        self.phashes = {i: int(rec["background"]["phash"], 16) for i, rec in done.items()
                        if i in self._position and (rec.get("background") or {}).get("phash")}

    # -- what image i's background depends on

    def seed(self, index: int, attempt: int = 0) -> int:
        # Attempt 0 keeps the original derivation, so cached backgrounds stay valid.
        if attempt == 0:
            return derive_seed(self.cfg.generate.seed, "background", index)
        return derive_seed(self.cfg.generate.seed, "background", index, attempt)

    def prompt(self, index: int) -> str:
        return self.cfg.background.prompts[self.plan[self._position[index]]].prompt

    def negative(self) -> str:
        return self.cfg.background.negative_prompt or self.cfg.model.negative_prompt

    def key(self, index: int, attempt: int = 0) -> str:
        m, res = self.cfg.model, self.cfg.generate.resolution
        return background_key(self._identity.get(), self.prompt(index), self.negative(), self.seed(index, attempt),
                              res, res, m.steps, m.guidance)

    # -- drawing

    def text_to_image(self, prompts: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """One batched text-to-image call: raw float images in [0, 1], one per (prompt, seed), at the run's
        resolution with the model's steps and guidance and the background negative prompt."""
        m, res = self.cfg.model, self.cfg.generate.resolution
        return self.pipes.get().text_to_image(list(prompts), list(seeds), negative_prompt=self.negative(),
                                              steps=m.steps, guidance=m.guidance, height=res, width=res)

    def attempts(self, attempts: Dict[int, int]) -> Dict[int, Tuple[np.ndarray, Optional[np.ndarray]]]:
        """``index -> (uint8 image, raw float output or None when cached)`` for each ``index: attempt``; cached
        ones read, the rest generated in batches. Only images free of artifacts are cached."""
        keys = {i: self.key(i, a) for i, a in attempts.items()}
        out: Dict[int, Tuple[np.ndarray, Optional[np.ndarray]]] = {}
        for i in attempts:
            cached = self.cache.get(keys[i])
            if cached is not None:
                out[i] = (cached, None)
                self.stats.backgrounds_from_cache += 1
        missing = [i for i in attempts if i not in out]
        bs = self.cfg.generate.batch_size
        for start in range(0, len(missing), bs):
            chunk = missing[start : start + bs]
            raw = self.text_to_image([self.prompt(i) for i in chunk], [self.seed(i, attempts[i]) for i in chunk])
            for i, r, img in zip(chunk, raw, to_uint8(np.nan_to_num(raw, nan=0.0))):
                out[i] = (img, r)
                if artifact_reason(r, img, self.cfg.quality) is None:
                    self.cache.put(keys[i], img)
                self.stats.backgrounds_generated += 1
        return out

    def backgrounds(self, indices: Sequence[int]) -> Dict[int, Background]:
        """Backgrounds of ``indices`` free of artifacts where ``quality.max_attempts`` allows.

        Decided in index order, as if one image at a time: image ``i`` is checked (artifacts, then pHash
        against every earlier final image) only once all earlier images of the batch are final, so the
        result never depends on the batch size. A failed image is regenerated with its next attempt's seed,
        all failures of a pass in one batch."""
        q = self.cfg.quality
        members = sorted(indices)
        attempt = {i: 0 for i in members}
        rejected: Dict[int, List[RejectedAttempt]] = {i: [] for i in members}
        final: Dict[int, Background] = {}
        candidates: Dict[int, Tuple[np.ndarray, Optional[np.ndarray]]] = {}
        while len(final) < len(members):
            need = {i: attempt[i] for i in members if i not in final and i not in candidates}
            candidates.update(self.attempts(need))
            for i in members:
                if i in final:
                    continue
                if any(j not in final for j in members if j < i):
                    break  # an earlier image is still being regenerated: it may change what i duplicates
                img, raw = candidates.pop(i)
                h = phash(img)
                reason = artifact_reason(raw, img, q)
                dup = kept_dup = None
                if reason is None:
                    dup = duplicate_of(h, {j: v for j, v in self.phashes.items() if j < i}, q)
                    if dup is not None and self.keep_duplicates:  # quality.duplicates=keep: used, flagged
                        kept_dup, dup = dup, None
                        self.stats.background_duplicates_kept += 1
                    reason = "duplicate" if dup is not None else None
                if reason is None:
                    reason = self.retry_reason(i, attempt[i])
                if reason is None or attempt[i] + 1 >= q.max_attempts:
                    self.phashes[i] = h
                    final[i] = self.final(i, attempt[i], img, f"{h:016x}", reason, rejected[i], kept_dup)
                else:
                    rejected[i].append(RejectedAttempt(attempt[i], self.seed(i, attempt[i]), reason, dup))
                    attempt[i] += 1
                    self.count_retry(reason)
                    break
        return final

    # -- hooks of sources that judge more than artifacts (autolabel: images where the labeller found nothing)

    def retry_reason(self, index: int, attempt: int) -> Optional[str]:
        """Why an attempt free of artifacts is still redrawn (None: it is not)."""
        return None

    def count_retry(self, reason: str) -> None:
        self.stats.backgrounds_regenerated += 1
        setattr(self.stats, f"artifact_{reason}", getattr(self.stats, f"artifact_{reason}") + 1)

    def final(self, index: int, attempt: int, image: np.ndarray, phash_hex: str, reason: Optional[str],
              rejected: List[RejectedAttempt], duplicate: Optional[int] = None) -> Background:
        """Image ``index``'s background once decided; ``reason``: the artifact it still has after the last
        attempt; ``duplicate``: the earlier image it is a near-duplicate of, kept (``quality.duplicates=keep``)."""
        if reason is not None:
            self.stats.artifacts_unresolved += 1
            log.warning("image %d: background still %s after %d attempts; kept and flagged in the manifest",
                        index, reason, self.cfg.quality.max_attempts)
        return Background(image, self.record(index, attempt, phash_hex, reason, rejected, duplicate))

    def record(self, index: int, attempt: int, phash_hex: Optional[str], artifact: Optional[str],
               rejected: List[RejectedAttempt], duplicate: Optional[int] = None) -> BackgroundRecord:
        m = self.cfg.model
        return BackgroundRecord(
            # cache entry: <cache_dir>/backgrounds/<key[:2]>/<key>.png (of the attempt that was kept)
            key=self.key(index, attempt),
            prompt=self.prompt(index),
            negative_prompt=self.negative(),
            seed=self.seed(index, attempt),
            steps=m.steps,
            guidance=m.guidance,
            model=m.pretrained,
            scheduler=m.scheduler,
            scheduler_args=dict(m.scheduler_args) or None,
            loras=[{"path": lo.path, "scale": lo.scale} for lo in m.loras] or None,
            attempts=attempt + 1,
            phash=phash_hex,
            artifact=artifact,
            rejected_attempts=list(rejected),
            source="prompts",
            duplicate_of=duplicate,
        )
