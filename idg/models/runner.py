"""The small interface the generation engine calls: text-to-image for backgrounds, inpainting for objects.

:class:`Pipelines` holds the background model and the object model (the same modules through ``from_pipe``,
or a pipeline of its own, loaded on first use so a copy-paste run never loads it). Each is a
:class:`DiffusionModel`: a loaded diffusers pipeline driven the way its family wants (prompt embeddings from
the family's :class:`~idg.models.families.PromptEncoder`, cached per prompt; one CPU generator per item, so an
image's noise depends on its seed alone). Calls take lists (one entry per image) and return float images in
[0, 1]; any extra keyword goes to the pipeline call as it is.

Every call stops at the end of a denoising step when Ctrl-C or SIGTERM has been recorded
(:func:`idg.core.interrupt.stop_at_step_end` as ``callback_on_step_end``), and an inpainting call of a
denoiser that never reads the masked image (SD/SDXL's 4-channel UNets) skips its VAE encode
(:func:`skipping_unused_masked_image_encode`): same output bits, one VAE encode less per object.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

from idg.core.interrupt import stop_at_step_end
from idg.models.families import Family, PromptEncoder


def generators(seeds: Sequence[int]):
    """One torch Generator per item: each image's noise depends on its seed alone."""
    import torch

    # CPU generators give the same noise whatever the device (diffusers moves the latents).
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def takes_masked_image(pipe) -> bool:
    """Whether the denoiser reads the masked image's latents: a 9-channel inpainting UNet (latents + mask +
    masked image) does, SD/SDXL's 4-channel UNets do not; FLUX pipelines are left as they are."""
    unet = getattr(pipe, "unet", None)
    return unet is None or unet.config.in_channels != pipe.vae.config.latent_channels


@contextmanager
def skipping_unused_masked_image_encode(pipe):
    """During one SD/SDXL inpainting call, skip the VAE encode of the masked image that its UNet ignores.

    diffusers' SD and SDXL inpainting pipelines encode the masked image even for a 4-channel UNet, which never
    reads it: a whole VAE encode per object thrown away (about 5% of an SDXL-Turbo image with one object).
    That encode also *samples* its latents: one draw of (1, latent channels, side/8, side/8) from each item's
    generator, after the image encode's and the initial noise's draws and before the denoising loop (whose
    ancestral schedulers draw noise at every step). So the pipeline's ``prepare_mask_latents`` is wrapped for
    the call: it takes the same draws at the same point and passes zero latents on, and every output bit stays
    what diffusers' own path gives (``tests/test_interrupt.py`` compares the two)."""
    if takes_masked_image(pipe) or not hasattr(pipe, "prepare_mask_latents"):
        yield
        return
    from diffusers.utils.torch_utils import randn_tensor

    original = pipe.prepare_mask_latents
    vae = pipe.vae
    channels = vae.config.latent_channels
    # the dtype diffusers samples in: float32 where SDXL upcasts its VAE for the encode, else the VAE's
    upcast = bool(getattr(vae.config, "force_upcast", False)) and type(pipe).__name__.startswith("StableDiffusionXL")

    def prepare_mask_latents(mask, masked_image, batch_size, height, width, dtype, device, generator, *args, **kwargs):
        if masked_image is None or masked_image.shape[1] == channels or not isinstance(generator, list):
            return original(mask, masked_image, batch_size, height, width, dtype, device, generator, *args, **kwargs)
        import torch

        side_h, side_w = (s // pipe.vae_scale_factor for s in masked_image.shape[-2:])
        draw_dtype = torch.float32 if upcast else vae.dtype
        draw_device = next(vae.parameters()).device
        for g in generator[: masked_image.shape[0]]:
            randn_tensor((1, channels, side_h, side_w), generator=g, device=draw_device, dtype=draw_dtype)
        zeros = torch.zeros((masked_image.shape[0], channels, side_h, side_w), device=device, dtype=dtype)
        return original(mask, zeros, batch_size, height, width, dtype, device, generator, *args, **kwargs)

    pipe.__dict__["prepare_mask_latents"] = prepare_mask_latents  # this instance only, for this call
    try:
        yield
    finally:
        pipe.__dict__.pop("prepare_mask_latents", None)


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

        kwargs.setdefault("callback_on_step_end", stop_at_step_end)
        skip = "mask_image" in kwargs and "masked_image_latents" not in kwargs  # passing it opts out
        with torch.inference_mode(), (skipping_unused_masked_image_encode(self.pipe) if skip else nullcontext()):
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
