"""Where a generation's time goes: wall seconds per kind of work, from wrappers around what does it.

:class:`Split` wraps the text encoders', UNet's and VAE's entry points and idg's blending, quality-check and
image-writing functions (instance or module attributes, restored by :meth:`Split.restore`); everything else
is "other". Only the outermost wrapped call counts, so nested work is never counted twice. ``sync`` (e.g.
``torch.cuda.synchronize``) is called at every boundary so that asynchronous GPU work lands in its category.
Not a test module.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Tuple

CATEGORIES = ("text_encode", "unet", "vae_encode", "vae_decode", "blend", "quality", "image_write", "other")


class Split:
    def __init__(self, sync: Optional[Callable[[], None]] = None):
        self.seconds: Dict[str, float] = defaultdict(float)
        self.calls: Dict[str, int] = defaultdict(int)
        self._sync = sync or (lambda: None)
        self._active: Optional[str] = None
        self._patched: List[Tuple[object, str, object, bool]] = []

    def wrap(self, owner, name: str, category: str) -> None:
        """Time every call of ``owner.name`` as ``category`` (an instance attribute when ``owner`` is an
        object whose class defines ``name``, else the attribute itself is replaced)."""
        original = getattr(owner, name)
        had_own = name in getattr(owner, "__dict__", {})

        def timed(*args, **kwargs):
            if self._active is not None:
                return original(*args, **kwargs)
            self._sync()
            self._active, start = category, time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[category] += time.perf_counter() - start
                self.calls[category] += 1
                self._active = None

        setattr(owner, name, timed)
        self._patched.append((owner, name, original, had_own))

    def wrap_pipelines(self, *pipes) -> None:
        """The modules of diffusers pipelines (shared modules are wrapped once)."""
        seen = set()
        for pipe in pipes:
            for attr, method, category in (("text_encoder", "forward", "text_encode"),
                                           ("text_encoder_2", "forward", "text_encode"),
                                           ("unet", "forward", "unet"), ("transformer", "forward", "unet"),
                                           ("vae", "encode", "vae_encode"), ("vae", "decode", "vae_decode")):
                module = getattr(pipe, attr, None)
                if module is None or (id(module), method) in seen:
                    continue
                seen.add((id(module), method))
                self.wrap(module, method, category)

    def wrap_idg(self) -> None:
        """idg's own work around the models: blending the crop back, judging objects, writing images."""
        import idg.generate.engine as engine
        import idg.generate.inpaint as inpaint
        from idg.generate.judge import ObjectJudge

        self.wrap(inpaint, "put_back", "blend")
        self.wrap(ObjectJudge, "judge", "quality")
        self.wrap(engine, "atomic_save_image", "image_write")

    def restore(self) -> None:
        for owner, name, original, had_own in reversed(self._patched):
            if had_own or isinstance(owner, type) or not hasattr(type(owner), name):
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # back to the class's method
        self._patched.clear()

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def snapshot(self, total: float) -> Dict[str, float]:
        """Seconds per category for a run of ``total`` wall seconds (``other`` = the rest)."""
        out = {c: float(self.seconds.get(c, 0.0)) for c in CATEGORIES if c != "other"}
        out["other"] = max(0.0, total - sum(out.values()))
        return out

    def timer(self, category: str):
        """A context manager timing a block as ``category`` (for work done inline, like the prototype's save)."""
        split = self

        class _Block:
            def __enter__(self):
                split._sync()
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                split._sync()
                split.seconds[category] += time.perf_counter() - self.start
                split.calls[category] += 1

        return _Block()
