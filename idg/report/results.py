"""The study's results as files: ``results.csv`` (one row per training and evaluation split, tagged by arm
and generator: mAPs, precision, recall and per-class ``ap50/<class>``, ``ap50_95/<class>``), ``results.json``
(rows and summary), ``results.md`` (the summary table) and ``results.png`` (mAP vs real fraction)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import List, Optional, Sequence

from idg.core.atomic import atomic_write_json, atomic_write_text
from idg.core.hashing import content_hash
from idg.core.keyed import reuse_or_refuse
from idg.core.layout import RunLayout
from idg.report.figures import pyplot, save_figure
from idg.study.stats import PER_CLASS, summarize


def _fmt(stat: Optional[dict]) -> str:
    if not stat:
        return ""
    if stat["ci_low"] is None:
        return f"{stat['mean']:.4f}"
    return f"{stat['mean']:.4f} [{stat['ci_low']:.4f}, {stat['ci_high']:.4f}]"


PATHS = ("weights", "image_stats")  # row fields that are file locations (they move with the run dir)

SPLIT_TITLES = {"test": "Test split (held out: nobody tuned on it)", "val": "Val split"}


def _table(summary: Sequence[dict]) -> List[str]:
    boot = any("boot_map50" in e for e in summary)
    head = ("| generator | arm | real fraction | seeds | mAP50 | mAP50-95 | Δ mAP50 vs real_only | "
            "Δ mAP50-95 vs real_only |")
    rule = "|---|---|---|---|---|---|---|---|"
    if boot:
        head += " mAP50 image bootstrap | Δ mAP50 image bootstrap |"
        rule += "---|---|"
    lines = [head, rule]
    for e in summary:
        line = (f"| {e.get('generator') or '-'} | {e['arm']} | {e['fraction']:g} | {e['map50']['n']} | {_fmt(e['map50'])} | {_fmt(e['map50_95'])} | "
                f"{_fmt(e.get('delta_map50'))} | {_fmt(e.get('delta_map50_95'))} |")
        if boot:
            line += f" {_fmt(e.get('boot_map50'))} | {_fmt(e.get('boot_delta_map50'))} |"
        lines.append(line)
    return lines


def markdown_table(summary: Sequence[dict]) -> str:
    """The summary per evaluation split: test first (the split nobody tuned on), then val."""
    splits = sorted({e.get("split", "val") for e in summary}, key=lambda s: (s != "test", s))
    out: List[str] = []
    if "test" not in splits:
        out += ["No test split: these are val numbers, the split a sweep (e.g. Optuna) tunes on. Give the real data "
                "a `test` split (data.yaml `test:`, `real.test=...` or `real.test_json=...`) for held-out numbers.", ""]
    for split in splits:
        if len(splits) > 1 or split == "test":
            out += [f"### {SPLIT_TITLES.get(split, split)}", ""]
        out += _table([e for e in summary if e.get("split", "val") == split]) + [""]
    boot = any("boot_map50" in e for e in summary)
    note = ("Means over seeds with 95% t-intervals in brackets (none for a single seed); Δ is paired by seed; "
            "real_only uses no generator and is every generator's baseline."
            + (" Image bootstrap: 95% percentile interval of the seed mean over resamples of the evaluation images "
               "(Δ: paired, same images and seeds for the arm and real_only)." if boot else ""))
    return "\n".join(out) + "\n" + note + "\n"


def report_split(summary: Sequence[dict]) -> str:
    """The split the plot and the headline numbers report: test when there is one."""
    return "test" if any(e.get("split") == "test" for e in summary) else "val"


ARM_STYLE = {  # colour, marker, line style: the same arm looks the same in every study's plot
    "real_only": ("#222222", "s", "--"),
    "syn_only": ("#2ca02c", "^", "-"),
    "syn_then_real": ("#d62728", "o", "-"),
    "mixed": ("#1f77b4", "D", "-"),
}
METRIC_LABEL = {"map50": "mAP50", "map50_95": "mAP50-95"}


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"


def plot(summary: Sequence[dict], metric: str, path: Path) -> Path:
    """``results.png``: :func:`results_figure` as a PNG at ``path``."""
    return save_figure(results_figure(summary, metric), path)


def line_label(generator: Optional[str], arm: str, several: bool) -> str:
    """A results line's name: the arm, prefixed by its generator when the study compares several."""
    return f"{generator} {arm}" if several and generator else arm


GENERATOR_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")  # several generators: colour = generator


def results_figure(summary: Sequence[dict], metric: str):
    """``metric`` on the real test split (val when there is none: :func:`report_split`) against the share of
    real train images, one line per arm (per generator x arm in a study comparing generators).

    Every line stays visible: each arm has its own colour and marker (several generators: the generator
    gives the colour, the arm the marker and line style), and points at the same fraction are spread a
    little sideways; a 95% interval is an error bar at its point and a light band along the line (drawn
    within [0, 1], where mAP lives; the tables keep the raw t-intervals). An arm without real images
    (``syn_only`` of a set made once per study, at fraction 0) is a dotted horizontal line with its band.
    The real-only baseline is the dashed black line (a horizontal reference line when there is one
    fraction). The x axis is the study's fractions in percent (log scale for several)."""
    plt = pyplot()
    from matplotlib.ticker import FixedLocator, NullLocator

    split = report_split(summary)
    summary = [e for e in summary if e.get("split", "val") == split]
    clip = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
    fractions = sorted({e["fraction"] for e in summary if e["fraction"] > 0}) or [1.0]
    arm_order = [a for a in ARM_STYLE if any(e["arm"] == a for e in summary)]
    arm_order += sorted({e["arm"] for e in summary} - set(arm_order))
    generators = sorted({e.get("generator") for e in summary if e.get("generator")})
    several = len(generators) > 1
    lines = sorted({(e.get("generator"), e["arm"]) for e in summary},
                   key=lambda ga: (arm_order.index(ga[1]), ga[0] or ""))
    lo, hi = (fractions[0] / 1.6, fractions[-1] * 1.6) if len(fractions) == 1 else (fractions[0] / 1.3, fractions[-1] * 1.3)
    fig, ax = plt.subplots(figsize=(7, 4.4), dpi=120)
    ax.set_xscale("log")
    of = lambda g, a: [e for e in summary if e["arm"] == a and e.get("generator") == g]  # noqa: E731
    moving = [ga for ga in lines if any(e["fraction"] > 0 for e in of(*ga))]
    seeds = max((e[metric]["n"] for e in summary), default=1)
    for generator, arm in lines:
        color, marker, style = ARM_STYLE.get(arm, ("#7f7f7f", "v", "-"))
        if several and generator:
            color = GENERATOR_COLOURS[generators.index(generator) % len(GENERATOR_COLOURS)]
        name = line_label(generator, arm, several)
        pts = sorted(of(generator, arm), key=lambda e: e["fraction"])
        stats = [e[metric] for e in pts]
        if all(e["fraction"] == 0 for e in pts):  # no real images: a level, not a curve
            s = stats[0]
            ax.axhline(s["mean"], color=color, linestyle=":", linewidth=1.8, label=f"{name} (no real images)")
            if s["ci_low"] is not None:
                ax.axhspan(clip(s["ci_low"]), clip(s["ci_high"]), color=color, alpha=0.10, linewidth=0)
            ax.plot([lo * 1.04], [s["mean"]], marker=marker, color=color, markersize=7, clip_on=False)
            continue
        # a small sideways shift per line (multiplicative: the axis is logarithmic) so equal points do not hide
        shift = 1.0 + 0.035 * (moving.index((generator, arm)) - (len(moving) - 1) / 2)
        xs = [e["fraction"] * shift for e in pts]
        ys = [st["mean"] for st in stats]
        has_ci = all(st["ci_low"] is not None for st in stats)
        err = [[y - clip(st["ci_low"]) for y, st in zip(ys, stats)], [clip(st["ci_high"]) - y for y, st in zip(ys, stats)]] \
            if has_ci else None
        ax.errorbar(xs, ys, yerr=err, color=color, marker=marker, linestyle=style, linewidth=1.8, markersize=7,
                    capsize=3, label=name + (" (baseline)" if arm == "real_only" else ""), zorder=3)
        if has_ci and len(xs) > 1:
            ax.fill_between(xs, [clip(st["ci_low"]) for st in stats], [clip(st["ci_high"]) for st in stats],
                            color=color, alpha=0.08, linewidth=0)
        if arm == "real_only" and len(fractions) == 1:
            ax.axhline(ys[0], color=color, linestyle="--", linewidth=1, alpha=0.6)
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(fractions))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_percent(f) for f in fractions])
    top = max(ax.get_ylim()[1], 0.01)
    ax.set_ylim(-0.03 * top, top)  # a little room below 0: points and lines at mAP 0 stay visible
    ax.set_xlabel("share of the real train split used (log scale)" if len(fractions) > 1 else "share of the real train split used")
    ax.set_ylabel(f"{METRIC_LABEL.get(metric, metric)} on real {split}")
    ci = "95% CI" if seeds > 1 else "one seed: no CI"
    by = "generator and arm" if several else "arm"
    ax.set_title(f"{METRIC_LABEL.get(metric, metric)} by {by}: mean over {seeds} seed{'s' if seeds != 1 else ''} ({ci})",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)
    fig.tight_layout()
    return fig


def results_series(summary: Sequence[dict], metric: str) -> dict:
    """``{line: [(real fraction, mean metric), ...]}`` on the split of :func:`report_split`, for a line chart (an
    arm without real images at 0); a line is an arm, or ``<generator> <arm>`` in a study comparing generators."""
    series: dict = {}
    split = report_split(summary)
    several = len({e.get("generator") for e in summary if e.get("generator")}) > 1
    for e in sorted((e for e in summary if e.get("split", "val") == split), key=lambda e: e["fraction"]):
        series.setdefault(line_label(e.get("generator"), e["arm"], several), []).append((e["fraction"], e[metric]["mean"]))
    return series


def results_key(rows: Sequence[dict]) -> str:
    """What the result files say: every row but its file locations (which move with the run dir)."""
    return content_hash([{k: v for k, v in r.items() if k not in PATHS} for r in rows])


def write_results(run_dir: Path, rows: Sequence[dict], metric: str, overwrite: bool = False) -> List[dict]:
    """results.csv, results.json, results.md and results.png; returns the summary.

    Results of other trainings or evaluations already in ``run_dir`` raise RunDirError unless ``overwrite``;
    results that ``rows`` extend (the same study with more seeds, fractions or arms: every earlier row is
    among the new ones, unchanged) are replaced.
    """
    key = results_key(rows)
    run = RunLayout(Path(run_dir))
    strip = lambda r: json.dumps({k: v for k, v in r.items() if k not in PATHS and not (k == "split" and v == "val")},  # noqa: E731
                                 sort_keys=True)

    def extended(old: dict) -> bool:
        # every earlier row is among the new ones, compared on the columns it has (results written before
        # idg recorded per-class APs lack those)
        old_rows = old.get("rows") if isinstance(old.get("rows"), list) else []
        return old.get("key") is None or all(
            isinstance(o, dict) and strip(o) in {strip({k: r.get(k) for k in o}) for r in rows} for o in old_rows)

    reuse_or_refuse(run.results("json"), key, overwrite=overwrite, accept=extended, redo="replace them",
                    differs="holds the results of other trainings or evaluations (study arms, fractions or seeds, "
                            "or their inputs, changed)")
    summary = summarize(rows)
    buf = io.StringIO()
    per_class = list(dict.fromkeys(k for r in rows for k in r if k.split("/")[0] in PER_CLASS))
    writer = csv.DictWriter(buf, fieldnames=["generator", "arm", "fraction", "seed", "split", "map50", "map50_95",
                                             "precision", "recall", *per_class, "weights"])
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: r.get(k) for k in writer.fieldnames}, "split": r.get("split", "val")})
    atomic_write_text(run.results("csv"), buf.getvalue())
    atomic_write_json(run.results("json"), {"rows": list(rows), "summary": summary, "key": key})
    atomic_write_text(run.results("md"), markdown_table(summary))
    plot(summary, metric, run.results("png"))
    return summary
