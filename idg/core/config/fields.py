"""Field helpers shared by the schemas: help texts (fairseq-style metadata) and range checks."""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any, List

from omegaconf import MISSING

from idg.core.errors import ConfigError


def help_field(text: str, default: Any = MISSING, default_factory: Any = None) -> Any:
    """A dataclass field with fairseq-style ``metadata={"help": ...}`` (read by ``--help``)."""
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


def check_range(where: str, values: List[float], *, low: float = 0.0, allow_equal_low: bool = False) -> None:
    """A ``[min, max]`` pair: two numbers, ``min <= max``, both above ``low``."""
    if len(values) != 2:
        raise ConfigError(f"{where}={list(values)} must be a [min, max] pair")
    lo, hi = values
    bad_low = lo < low if allow_equal_low else lo <= low
    if bad_low:
        sign = ">=" if allow_equal_low else ">"
        raise ConfigError(f"{where}={list(values)}: min must be {sign} {low:g}")
    if lo > hi:
        raise ConfigError(f"{where}={list(values)}: min {lo:g} is greater than max {hi:g}")


def whole_pixels(rng: List[float]) -> List[int]:
    """The whole-pixel sizes inside ``[lo, hi]``; a range narrower than a pixel rounds to its middle."""
    lo, hi = max(1, math.ceil(rng[0] - 1e-9)), max(1, math.floor(rng[1] + 1e-9))
    if lo > hi and rng[1] >= rng[0]:
        lo = hi = max(1, int(round((rng[0] + rng[1]) / 2)))
    return [lo, hi]


def check_prompt(where: str, prompt: Any) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where}={prompt!r} must be a non-empty string")
