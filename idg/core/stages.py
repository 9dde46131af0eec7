"""The stage table: what each stage of a study needs and what it writes into the run dir, defined once.

``idg.pipeline`` runs the stages in this order; the config's start-up checks and the run-dir guard read
their rules from here (which stage needs real data, which outputs ``resume=false`` must not overwrite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Tuple

if TYPE_CHECKING:  # a type only: the config schemas import this module
    from idg.core.config import IdgConfig


def _generate_needs_real(cfg: "IdgConfig") -> bool:
    # objects cut from the real train subsets, backgrounds taken from them, or box layouts fitted to them (by
    # a generator that samples boxes: autolabel does not)
    return ("copy_paste" in cfg.generators or cfg.background.uses_real
            or (cfg.sampler.name == "real_prior" and any(g != "autolabel" for g in cfg.generators)))


def _train_needs_real(cfg: "IdgConfig") -> bool:
    return any(arm != "syn_only" for arm in cfg.study.arms)


@dataclass(frozen=True)
class Stage:
    name: str
    does: str
    needs_real: Callable[["IdgConfig"], bool]
    writes: Tuple[str, ...]  # run-dir entries (see RunLayout) that only this stage writes


STAGE_TABLE: Tuple[Stage, ...] = (
    Stage("generate", "synthetic images and labels, their export (YOLO, COCO, manifest) and the seam-shortcut set",
          _generate_needs_real, ("dataset", "copy_paste", "sets", "generators", "samples.png")),
    Stage("train", "the detector arms: synthetic, fine-tuned on real, real-only, mixed", _train_needs_real, ("detect",)),
    Stage("evaluate", "every training on the real val split; results tables and plot; seam-shortcut rates",
          lambda cfg: True, ("results.csv", "results.json", "results.md", "results.png")),
)
STAGES: Tuple[str, ...] = tuple(s.name for s in STAGE_TABLE)
BY_NAME: Dict[str, Stage] = {s.name: s for s in STAGE_TABLE}


def stages_needing_real(cfg: "IdgConfig") -> Tuple[str, ...]:
    """The selected stages that read the real dataset."""
    return tuple(s for s in cfg.stages if BY_NAME[s].needs_real(cfg))


def needs_real(cfg: "IdgConfig") -> bool:
    return bool(stages_needing_real(cfg))


def stage_outputs(stage: str) -> Tuple[str, ...]:
    return BY_NAME[stage].writes
