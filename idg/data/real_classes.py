"""``classes=from_real``: the class list built from the real dataset's own names, so a study on a user's data
needs no hand-written class file.

Runs on the plain config dict before validation (like the prototype's CSV import), so a missing or broken
real dataset fails there, naming the file, before any model loads. Each real class ``name`` becomes a class
with prompt ``real_classes.prompt_template`` (``"a photo of {name}"``); its count range is
``real_classes.count`` and its width / aspect-ratio ranges are the 5th-95th percentiles of the real train
split's boxes (as fractions of the image; only samplers other than ``real_prior`` use them, ``real_prior``
fits the subset's boxes itself). Train only: val and test are never looked at.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from idg.core.config import RealConfig
from idg.core.errors import ConfigError, DataError


def apply_real_classes(container: Dict[str, Any]) -> None:
    """Fill ``classes`` from the real dataset when ``real_classes.enabled`` (set by ``classes=from_real``)."""
    spec = container.get("real_classes") or {}
    if not spec.get("enabled"):
        return
    from idg.data.real import read_real_quietly

    template = str(spec.get("prompt_template") or "")
    if "{name}" not in template:
        raise ConfigError(f"real_classes.prompt_template={template!r} must contain '{{name}}'")
    real = container.get("real") or {}
    try:
        real_cfg = RealConfig(**{**real, "check_images": False, "class_map": {}})
    except TypeError as exc:
        raise ConfigError(f"real: {exc}") from None
    if not real_cfg.given:
        raise DataError("classes=from_real builds the classes from the real dataset, but none is set: pass "
                        "real.data=<data.yaml> (or real.format=coco real.train_json=... real.val_json=...)")
    names, train = read_real_quietly(real_cfg)
    count = list(spec.get("count") or [0, 1])
    classes = {}
    for cid, name in enumerate(names):
        boxes = np.array([b[3:5] for item in train for b in item.boxes if int(b[0]) == cid], dtype=float).reshape(-1, 2)
        if len(boxes):
            w = np.quantile(boxes[:, 0], [0.05, 0.95])
            ar = np.quantile(boxes[:, 0] / boxes[:, 1], [0.05, 0.95])
            width, aspect = [float(max(w[0], 0.01)), float(max(w[1], w[0], 0.01))], [float(ar[0]), float(max(ar[1], ar[0]))]
        else:  # a class with no train box: the whole range (real_prior will refuse it anyway)
            width, aspect = [0.05, 0.95], [0.25, 4.0]
        classes[name] = {"prompt": template.format(name=name), "count": count, "width": width, "aspect_ratio": aspect,
                         "size_unit": "fraction"}
    container["classes"] = classes
