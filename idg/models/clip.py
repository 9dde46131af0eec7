"""CLIP image-text similarity, from a hub id or a local ``save_pretrained`` dir (model, tokenizer and image
processor), for the CLIP verifier."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

import numpy as np

from idg.core.errors import ModelLoadError


class ClipScorer:
    """CLIP image-text cosine similarity in [-1, 1]."""

    def __init__(self, model: str, device: str = "cpu", offline: bool = False):
        import torch
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        local = os.path.expanduser(model)
        src = local if Path(local).is_dir() else model
        kwargs = {"local_files_only": True} if offline else {}
        try:
            self.model = CLIPModel.from_pretrained(src, **kwargs).to(device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(src, **kwargs)
            self.processor = AutoImageProcessor.from_pretrained(src, **kwargs)
        except OSError as exc:
            raise ModelLoadError(f"verify.model={model}: cannot load a CLIP model ({str(exc).splitlines()[0]})") from None
        self.device = device
        self._torch = torch

    def __call__(self, crops: Sequence[np.ndarray], classes: Sequence[str], prompts: Sequence[str]) -> List[float]:
        if not crops:
            return []
        torch = self._torch
        from PIL import Image

        scores = []
        # One crop per forward pass: a score must not depend on which other objects shared its batch (CPU
        # kernels round differently with the batch size), or a threshold decision could change with it.
        for crop, prompt in zip(crops, prompts):
            pixels = self.processor(images=[Image.fromarray(crop)], return_tensors="pt")["pixel_values"]
            text = self.tokenizer([prompt], padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                out = self.model(input_ids=text["input_ids"].to(self.device),
                                 attention_mask=text["attention_mask"].to(self.device), pixel_values=pixels.to(self.device))
                img = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
                txt = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)
                scores.append(float((img * txt).sum()))
        return scores
