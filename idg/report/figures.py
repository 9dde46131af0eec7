"""Figures as files: matplotlib on the Agg backend (no display needed; safe in workers and CI) and atomic PNG
writes."""

from __future__ import annotations

import io
from pathlib import Path

from idg.core.atomic import atomic_write_bytes


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
