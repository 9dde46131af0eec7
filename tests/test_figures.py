"""Pictures people read: the sample grid (class colours, legible labels, captions, dashed rejects, no empty
cells), the results plot (percent ticks, every arm visible, CIs, the baseline) and the compare plot (every
swept key, one line per combination of the others)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idg.report.compare import Run, compare_figure
from idg.report.results import results_figure
from idg.report.samples import BACKDROP, PALETTE, class_color, grid_shape, sample_grid, text_color


@pytest.mark.parametrize("n", range(1, 17))
def test_grid_has_no_empty_cell_and_no_lone_row(n):
    cols, rows = grid_shape(n)
    assert cols * rows <= n and max(cols / rows, rows / cols) <= 3
    assert cols * rows >= n - max(2, n // 4)  # few images left out
    assert grid_shape(8) == (4, 2) and grid_shape(16) == (4, 4) and grid_shape(3) == (3, 1)


def test_label_text_contrasts_with_its_fill():
    assert text_color((255, 225, 25)) == (0, 0, 0) and text_color((0, 130, 200)) == (255, 255, 255)
    assert len(set(PALETTE)) == len(PALETTE)


def _records(root: Path, n: int) -> list:
    recs = []
    for i in range(n):
        path = root / "images" / "train" / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((128, 128, 3), 128, np.uint8)).save(path)
        recs.append({"image": f"images/train/{i:06d}.png", "split": "train", "width": 128, "height": 128,
                     "background": {"prompt": "a forest"},
                     "objects": [{"class": "smoke", "class_id": 1, "box": [20, 40, 40, 30]}],
                     "rejected": [{"class": "fire", "class_id": 0, "box": None, "requested_box": [70, 70, 50, 50]}]})
    return recs


def test_sample_grid_draws_labels_captions_and_dashed_rejects(tmp_path):
    grid = np.asarray(sample_grid(tmp_path, _records(tmp_path, 5), limit=16, cell=256))
    # 5 images fill a 2 x 2 grid (no empty cell): two cells wide, each with a caption strip below
    assert grid.shape[1] == 2 * 256 + 3 * 4 and grid.shape[0] > 2 * 256 + 40
    cell = grid[4:4 + 256, 4:4 + 256]
    s = 2  # 128 px images in 256 px cells
    # the accepted box's left edge in its class colour, with its label (filled in that colour) above it
    edge = cell[40 * s + 20:40 * s + 40, 20 * s]
    assert (edge == class_color(1)).all(axis=1).all()
    assert ((cell[40 * s - 12:40 * s - 2, 20 * s:20 * s + 30] == class_color(1)).all(axis=2)).mean() > 0.3
    # the rejected (requested) box is dashed: about half of each edge in the class colour, the rest the image
    for edge in (cell[70 * s, 70 * s:120 * s - 1], cell[120 * s - 1, 70 * s:120 * s - 1], cell[70 * s:120 * s - 1, 70 * s]):
        assert 0.25 < (edge == class_color(0)).all(axis=1).mean() < 0.75
    # a caption under the image (light text on the backdrop)
    caption = grid[4 + 256:4 + 256 + 30, 4:4 + 256]
    assert (caption != BACKDROP).any() and (caption == BACKDROP).all(axis=2).mean() > 0.5


def _stat(mean, half=None):
    return {"mean": mean, "ci_low": None if half is None else mean - half,
            "ci_high": None if half is None else mean + half, "n": 1 if half is None else 3}


def test_results_plot_ticks_in_percent_and_shows_every_arm():
    summary = [{"arm": "syn_only", "fraction": 0.0, "map50_95": _stat(0.01, 0.01)}]
    summary += [{"arm": a, "fraction": f, "map50_95": _stat(m, 0.02)} for a, base in
                (("real_only", 0.1), ("syn_then_real", 0.15), ("mixed", 0.15)) for f, m in ((0.05, base), (0.25, base * 2))]
    ax = results_figure(summary, "map50_95").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5%", "25%"] and ax.get_xscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert set(labels) == {"real_only (baseline)", "syn_then_real", "mixed", "syn_only (no real images)"}
    # equal points (syn_then_real and mixed) are shifted apart, not drawn on top of each other; CIs as error bars
    xs = {c.get_label(): tuple(c.lines[0].get_xdata()) for c in ax.containers}
    assert xs["syn_then_real"] != xs["mixed"] and all(c.has_yerr for c in ax.containers)


def test_results_plot_of_one_fraction_and_seed_has_markers_and_a_baseline():
    summary = [{"arm": a, "fraction": 1.0, "map50_95": _stat(0.0)} for a in ("real_only", "syn_then_real")]
    summary.append({"arm": "syn_only", "fraction": 0.0, "map50_95": _stat(0.0)})
    ax = results_figure(summary, "map50_95").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100%"]
    markers = {c.get_label(): c.lines[0].get_marker() for c in ax.containers}
    assert markers["real_only (baseline)"] not in ("None", "") and markers["syn_then_real"] not in ("None", "")
    assert markers["real_only (baseline)"] != markers["syn_then_real"]
    assert ax.get_ylim()[0] < 0 < ax.get_ylim()[1]  # points at mAP 0 are not cut by the axis
    # the baseline as a horizontal reference line across the plot
    assert any(tuple(line.get_xdata()) == (0, 1) and line.get_linestyle() == "--" for line in ax.get_lines())


def test_compare_plot_has_a_panel_per_swept_key_and_a_line_per_other_value():
    runs = [Run(f"{i}", {"inpaint.strength": s, "inpaint.blend": b}, metrics={"main_metric": s + (b == "feather")})
            for i, (s, b) in enumerate((s, b) for s in (0.5, 0.75, 1.0) for b in ("none", "feather"))]
    fig = compare_figure(runs, ["inpaint.strength", "inpaint.blend"], "main_metric")
    strength, blend = [ax for ax in fig.axes if ax.get_visible()]
    assert strength.get_xlabel() == "inpaint.strength" and blend.get_xlabel() == "inpaint.blend"
    assert len(strength.get_lines()) == 2 and len(blend.get_lines()) == 3  # one per value of the other key
    assert [t.get_text() for t in blend.get_xticklabels()] == ["none", "feather"]
