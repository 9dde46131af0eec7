"""Figures as files: matplotlib on the Agg backend (no display needed; safe in workers and CI) and atomic PNG
writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

from idg.core.atomic import atomic_write_bytes


def configure_matplotlib(config_dir: str | Path) -> None:
    """matplotlib's config and font cache in idg's cache (``~/.cache/idg/matplotlib``) instead of
    ``~/.config/matplotlib`` and ``~/.cache/matplotlib``, unless the user set ``MPLCONFIGDIR``; set before
    matplotlib is first imported (by idg's plots or Ultralytics')."""
    os.environ.setdefault("MPLCONFIGDIR", str(config_dir))


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed; safe in workers and CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Render ``fig`` to PNG and write it atomically to ``path``; closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())
