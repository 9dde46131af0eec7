"""The object judge: quality checks plus the verifier decide accept / retry / reject, and the label box.

For each painted object :class:`ObjectJudge` re-estimates the box from what the paste changed
(:func:`idg.generate.quality.check_object`), asks the verifier (``verify=clip|detector|owlv2|grounding_dino``)
about the objects
that passed, in one batched call, and measures both seam terms of those that are left
(:func:`idg.generate.seams.measure_seam`, with the image before the paste as the halo term's reference).
``verify=none`` and copy-paste objects (whose box is exact by construction) keep the requested box and are
never rejected for it; ``quality.max_seam_edge`` / ``max_seam_halo``, when set, retry or reject any object
whose paste left a visible seam.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from idg.core.box import box_iou
from idg.core.config import IdgConfig
from idg.generate.blend import shape_mask
from idg.generate.parts import Key, ObjectCheck, PaintJob, Verdict
from idg.generate.quality import check_object, clip_box, crop_around, crop_bounds
from idg.generate.seams import Seam, measure_seam


class ObjectJudge:
    def __init__(self, cfg: IdgConfig):
        self.cfg = cfg
        self._verifier = None

    @property
    def judging(self) -> bool:
        """Whether boxes are re-estimated and objects rejected: diffusion objects with a verifier. Copy-paste
        objects fill their box by construction (their box is the label, exactly), so they are only measured."""
        return self.cfg.generate.generator == "diffusion" and self.cfg.verify.name != "none"

    @property
    def verifier(self):
        if self._verifier is None and self.judging and self.cfg.verify.name not in ("none", "diff"):
            from idg.generate.verify import build_verifier

            cfg = self.cfg
            self._verifier = build_verifier(cfg.verify, offline=cfg.offline, queries=dict(zip(cfg.class_names, cfg.queries())),
                                            batch_invariant=str(cfg.generate.batch_invariant).lower())
        return self._verifier

    def retries_left(self, attempt: int) -> bool:
        return attempt + 1 < self.cfg.quality.max_attempts

    def region(self, shape: Sequence[int], job: PaintJob) -> np.ndarray:
        """The paste's mask of the requested box (where the object may change pixels): ``inpaint.mask`` for
        diffusion, the box itself for copy-paste."""
        shape_name = self.cfg.inpaint.mask if self.cfg.generate.generator == "diffusion" else "rect"
        return shape_mask(shape[0], shape[1], job.box.xywh, shape_name)

    def seam(self, before: np.ndarray, after: np.ndarray, job: PaintJob) -> Tuple[Seam, Optional[str]]:
        """Both seam terms of one painted object (the halo term against the image before its paste), and
        why they fail ``quality.max_seam_edge`` / ``max_seam_halo`` (None: they pass, or are unmeasurable)."""
        seam = measure_seam(after, self.region(after.shape, job), reference=before)
        q = self.cfg.quality
        for name, value, limit in (("seam_edge", seam.edge, q.max_seam_edge), ("seam_halo", seam.halo, q.max_seam_halo)):
            if limit is not None and value > limit:  # NaN (not measurable) never fails
                return seam, f"{name} {value:.3f} > {limit:g}"
        return seam, None

    def assess(self, before: np.ndarray, after: np.ndarray, job: PaintJob) -> ObjectCheck:
        """The change check of one painted object."""
        requested = job.box.xywh
        check = check_object(before, after, requested, self.region(after.shape, job), self.cfg.quality)
        if not self.judging:  # measured, not judged: the label stays the requested box
            check = ObjectCheck(requested, check.changed_fraction, 1.0, None)
        return check

    def judge(self, before: Dict[int, np.ndarray], after: Dict[int, np.ndarray],
              jobs: Sequence[PaintJob]) -> Dict[Key, Verdict]:
        q, v = self.cfg.quality, self.cfg.verify
        checks = {j.key: self.assess(before[j.key[0]], after[j.key[0]], j) for j in jobs}
        scores = self.verify(after, [j for j in jobs if checks[j.key].accepted], checks)
        verdicts = {}
        for job in jobs:
            check = checks[job.key]
            score, located = scores.get(job.key, (None, None))
            if located is not None:  # verify.use_box: the verifier's box is the label
                iou = box_iou(located, job.box)
                why = f"box_iou {iou:.3f} < {q.min_iou:g}" if iou < q.min_iou else None
                check = ObjectCheck(located, check.changed_fraction, iou, why)
            reason = check.reject_reason
            if reason is None and score is not None and score < v.min_score:
                reason = f"verify_score {score:.3f} < {v.min_score:g}"
            seam = None
            if reason is None:
                seam, reason = self.seam(before[job.key[0]], after[job.key[0]], job)
            verdicts[job.key] = Verdict(check, score, reason, seam)
        return verdicts

    def verify(self, images: Dict[int, np.ndarray], jobs: Sequence[PaintJob],
               checks: Dict[Key, ObjectCheck]) -> Dict[Key, Tuple[float, Optional[tuple]]]:
        """Verifier scores of ``jobs`` (the objects that passed the change check), one batched call (empty
        without a verifier), each with the verifier's box in image pixels (inside the requested box) when
        ``verify.use_box``."""
        verifier = self.verifier
        if verifier is None or not jobs:
            return {}
        jobs = sorted(jobs, key=lambda j: j.key)
        names = [self.cfg.class_names[j.box.cls] for j in jobs]
        if self.cfg.verify.use_box:
            # The detector looks at the requested box with context, so it can find the object's full extent.
            bounds = {j.key: crop_bounds(images[j.key[0]].shape, j.box.xywh) for j in jobs}
            crops = [images[j.key[0]][bounds[j.key][1] : bounds[j.key][3], bounds[j.key][0] : bounds[j.key][2]]
                     for j in jobs]
            out = {}
            for job, (score, box) in zip(jobs, verifier.locate(crops, names)):
                placed = None
                if box is not None:
                    x0, y0 = bounds[job.key][:2]
                    placed = clip_box((box[0] + x0, box[1] + y0, box[2], box[3]), job.box.xywh)
                out[job.key] = (score, placed)
            return out
        crops = [crop_around(images[j.key[0]], checks[j.key].box, pad=0.1) for j in jobs]
        return {j.key: (score, None) for j, score in zip(jobs, verifier(crops, names, [j.prompt for j in jobs]))}
