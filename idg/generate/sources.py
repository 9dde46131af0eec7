"""Which background source draws image *i*: one source, or a ``background.mix`` of several by share.

A mix deals the images out by share (largest remainder, so 0.5 / 0.5 of 7 images is 4 / 3), in a seeded
order, so every prefix of the set has about the mix's proportions and the assignment depends only on the
config. Each source then works on its own images as if alone (prompt plan, photo rounds, duplicate checks).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from idg.core.config import IdgConfig
from idg.core.errors import ConfigError
from idg.core.seeds import rng_for
from idg.generate.parts import Background, Lazy
from idg.generate.photos import Photo, PhotoBackgrounds


def plan_size(cfg: IdgConfig, pools: Dict[str, List[Photo]]) -> int:
    """How many images the set has: ``generate.num_images``, else the prompts' image counts (one source of
    prompts) or the photo pool's size (one photo source: each photo once)."""
    if cfg.generate.num_images is not None:
        return cfg.generate.num_images
    sources = cfg.background.sources
    if len(sources) > 1:
        raise ConfigError("background.mix needs generate.num_images (how many images the shares divide)")
    if sources[0] == "prompts":
        return sum(p.num_images for p in cfg.background.prompts)
    return len(pools[sources[0]])


def mix_plan(cfg: IdgConfig, n: int) -> List[str]:
    """The source of each of ``n`` images."""
    mix = cfg.background.mix
    if not mix:
        return [cfg.background.source] * n
    total = sum(m.share for m in mix)
    exact = [n * m.share / total for m in mix]
    counts = [math.floor(x) for x in exact]
    for k in sorted(range(len(mix)), key=lambda k: (-(exact[k] - counts[k]), k))[: n - sum(counts)]:
        counts[k] += 1
    plan = [m.source for m, c in zip(mix, counts) for _ in range(c)]
    order = rng_for(cfg.generate.seed, "background-mix", n).permutation(n)
    return [plan[int(k)] for k in order]


class MixedBackgrounds:
    """A :class:`~idg.generate.parts.BackgroundSource` that asks each image's own source."""

    def __init__(self, parts: Dict[str, object], plan: Sequence[str]):
        self.parts = parts
        self.plan = list(plan)

    def __len__(self) -> int:
        return len(self.plan)

    def resume(self, done: Dict[int, dict]) -> None:
        for part in self.parts.values():
            part.resume(done)

    def backgrounds(self, indices: Sequence[int]) -> Dict[int, Background]:
        out: Dict[int, Background] = {}
        for name, part in self.parts.items():
            mine = [i for i in indices if self.plan[i] == name]
            if mine:
                out.update(part.backgrounds(mine))
        return out

    def prompt_source(self):
        return self.parts.get("prompts")


def make_source(cfg: IdgConfig, pipes: Lazy, stats, identity: Lazy, pools: Optional[Dict[str, List[Photo]]] = None):
    """The background source of ``cfg.background`` (``pools``: the photos of each photo source)."""
    from idg.generate.backgrounds import PromptBackgrounds

    pools = pools or {}
    n = plan_size(cfg, pools)
    plan = mix_plan(cfg, n)
    parts: Dict[str, object] = {}
    for name in cfg.background.sources:
        members = [i for i, s in enumerate(plan) if s == name]
        if name == "prompts":
            parts[name] = PromptBackgrounds(cfg, pipes, stats, identity, members=members if cfg.background.mix else None)
        else:
            parts[name] = PhotoBackgrounds(cfg, name, pools[name], stats, members)
    if len(parts) == 1 and not cfg.background.mix:
        return next(iter(parts.values()))
    return MixedBackgrounds(parts, plan)


def prompt_source(source):
    """The prompt source inside ``source`` (for the seam-shortcut set), or None when no background is
    generated."""
    from idg.generate.backgrounds import PromptBackgrounds

    if isinstance(source, PromptBackgrounds):
        return source
    return source.prompt_source() if isinstance(source, MixedBackgrounds) else None
