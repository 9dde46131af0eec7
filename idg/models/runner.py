"""The small interface the generation engine calls: text-to-image for backgrounds, inpainting for objects.

:class:`Pipelines` holds the background model and the object model (the same modules through ``from_pipe``,
or a pipeline of its own, loaded on first use so a copy-paste run never loads it). Each is a
:class:`DiffusionModel`: a loaded diffusers pipeline driven the way its family wants (prompt embeddings from
the family's :class:`~idg.models.families.PromptEncoder`, cached per prompt; one CPU generator per item, so an
image's noise depends on its seed alone). Calls take lists (one entry per image) and return float images in
[0, 1]; any extra keyword (e.g. ``callback_on_step_end``) goes to the pipeline call as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

from idg.models.families import Family, PromptEncoder


def generators(seeds: Sequence[int]):
    """One torch Generator per item: each image's noise depends on its seed alone."""
    import torch

    # CPU generators give the same noise whatever the device (diffusers moves the latents).
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


@dataclass
class DiffusionModel:
    """One loaded pipeline, its family and its prompt encoder."""

    pipe: object
    family: Family
    encoder: PromptEncoder
    identity: str  # what its pixels depend on: checkpoint, revision, dtype, scheduler, LoRAs

    def __call__(self, prompts: Sequence[str], seeds: Sequence[int], negative_prompt: Optional[str], guidance: float,
                 **kwargs) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.pipe(
                **self.encoder.batch(list(prompts), negative_prompt, guidance),
                guidance_scale=guidance,
                generator=generators(seeds),
                output_type="np",
                **kwargs,
            ).images


@dataclass
class Pipelines:
    """The background model and the (lazily loaded) object model of a run."""

    background: DiffusionModel
    device: str
    dtype: object
    batch_invariant: bool
    objects_factory: Callable[[], DiffusionModel]
    _objects: Optional[DiffusionModel] = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        return self.background.identity

    @property
    def objects(self) -> DiffusionModel:
        if self._objects is None:
            self._objects = self.objects_factory()
        return self._objects

    def generators(self, seeds: Sequence[int]):
        return generators(seeds)

    def text_to_image(self, prompts: Sequence[str], seeds: Sequence[int], *, negative_prompt: Optional[str],
                      steps: int, guidance: float, height: int, width: int, **kwargs) -> np.ndarray:
        """Backgrounds: one batched call, raw float images in [0, 1], one per (prompt, seed)."""
        return self.background(prompts, seeds, negative_prompt, guidance, num_inference_steps=steps, height=height,
                               width=width, **kwargs)

    def inpaint(self, prompts: Sequence[str], seeds: Sequence[int], *, images: List[object], masks: List[object],
                negative_prompt: Optional[str], strength: float, steps: int, guidance: float, size: int,
                **kwargs) -> np.ndarray:
        """Objects: inpaint each (image, mask) crop of side ``size`` with its prompt and seed, in one call."""
        return self.objects(prompts, seeds, negative_prompt, guidance, image=list(images), mask_image=list(masks),
                            strength=strength, num_inference_steps=steps, height=size, width=size, **kwargs)
