"""Events: what the stages tell the outside world, and the listeners that hear it.

Stages never call a logger. They emit events on an :class:`Events` bus; a listener implements the
``on_<event>`` methods it cares about. idg ships two: the console (``idg.report.console``: stage lines, the
training counter, the closing block) and W&B (``idg.report.wandb_log``). One table of events:

=============  ==========================================================  =====================================
event          payload                                                     emitted by
=============  ==========================================================  =====================================
``stage``      ``name, status, seconds, detail``: a stage ``started`` or   the pipeline, around each stage
               ``done`` (elapsed seconds, a one-line summary)
``metrics``    flat ``{key: number}`` (``generate/*``, ``quality/*``,      generate, evaluate
               ``eval/*``)
``training``   a :class:`~idg.study.arms.TrainingStep`: one detector       train (before and after each one)
               training of the study started, done or skipped
``epoch``      ``tag, epoch, metrics`` of one detector training epoch       train (Ultralytics callbacks)
``generation`` ``root, records, names, cache_dir, dataset_name, complete``  generate (samples, tables, artifact)
``table``      ``key, rows``                                               evaluate (``tables/results``)
``images``     ``{key: png path}``: figures made on disk                   evaluate (results plot, PR curves)
``chart``      ``key, title, xname, series``: ``{name: [(x, y), ...]}``    evaluate (mAP vs real fraction)
``models``     ``trainings, dataset_name, dataset_root``                   train / evaluate (model artifacts)
``summary``    the run's final metrics                                     the pipeline, at the end
``finish``     ``exit_code`` (0: complete, 1: failed or interrupted)       the pipeline, always
=============  ==========================================================  =====================================

A listener must not stop a study: each one guards itself (see ``WandbLogger``); exceptions that reach the
bus are the listener's bugs and propagate.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

EVENTS = ("stage", "metrics", "training", "epoch", "generation", "table", "images", "chart", "models", "summary",
          "finish")


class Events:
    """Fan-out of events to listeners, in the order they were added."""

    def __init__(self, listeners: Sequence[Any] = ()):
        self.listeners: List[Any] = list(listeners)

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
        for listener in self.listeners:
            handler = getattr(listener, f"on_{event}", None)
            if handler is not None:
                handler(*args, **kwargs)

    def metrics(self, metrics: Dict[str, Any]) -> None:
        self.emit("metrics", metrics)

    def epoch(self, tag: str, epoch: int, metrics: Dict[str, float]) -> None:
        self.emit("epoch", tag, epoch, metrics)
