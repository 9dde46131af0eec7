"""Stop requests: Ctrl-C and SIGTERM end a run within seconds, even in the middle of a pipeline call.

The command line (:func:`idg.run.main`) installs :func:`handle_signal` for SIGINT and SIGTERM. Python runs a
signal handler in the main thread between two bytecodes, so the handler's exception usually lands at once,
in the middle of a UNet forward; a long C++ op (a VAE attention over a big latent) only delays it until the
op returns. But an exception raised while the interpreter runs a destructor or a weakref callback (torch
frees tensors all through a forward pass) is printed as "Exception ignored in ..." and lost. So the handler
also *records* the request, and the record is checked where a run is known to be safe to stop: at the end of
every denoising step (diffusers' ``callback_on_step_end``, :func:`stop_at_step_end`) and between batches
(:func:`raise_if_requested`). A recorded request is raised again there, so a lost exception costs one
denoising step, not the rest of the call.

The record is process state by nature (a signal is delivered to the process); it lives here, in one place,
and :func:`clear` resets it (tests, and ``main`` once the run has ended).
"""

from __future__ import annotations

import signal
from typing import Optional


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler stopping a job), handled like Ctrl-C: the run is marked interrupted,
    W&B is closed, and the finished work stays for a resume."""


_requested: Optional[type] = None


def handle_signal(signum, frame) -> None:
    """Signal handler: record the stop request and raise it (:class:`Terminated` for SIGTERM, else
    ``KeyboardInterrupt``)."""
    global _requested
    _requested = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    raise _requested()


def request(kind: type = KeyboardInterrupt) -> None:
    """Record a stop request without raising it (what :func:`handle_signal` records)."""
    global _requested
    _requested = kind


def requested() -> Optional[type]:
    """The exception type of the pending stop request, or None."""
    return _requested


def raise_if_requested() -> None:
    """Raise the pending stop request, if any (it stays recorded: every later check raises it too)."""
    if _requested is not None:
        raise _requested()


def clear() -> None:
    global _requested
    _requested = None


def stop_at_step_end(pipe, step: int, timestep, tensors: dict) -> dict:
    """diffusers ``callback_on_step_end``: raise a pending stop request after this denoising step.

    Raising (rather than setting ``pipe._interrupt``, after which diffusers skips the remaining steps but
    still decodes the latents: seconds to a minute at 768 px on a CPU) ends the call at once."""
    raise_if_requested()
    return tensors
