"""The study's results as files: ``results.csv`` (one row per training: mAPs, precision, recall and per-class
``ap50/<class>``, ``ap50_95/<class>``), ``results.json`` (rows and summary), ``results.md`` (the summary
table) and ``results.png`` (mAP vs real fraction)."""

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


def markdown_table(summary: Sequence[dict]) -> str:
    lines = [
        "| arm | real fraction | seeds | mAP50 | mAP50-95 | Δ mAP50 vs real_only | Δ mAP50-95 vs real_only |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in summary:
        lines.append(
            f"| {e['arm']} | {e['fraction']:g} | {e['map50']['n']} | {_fmt(e['map50'])} | {_fmt(e['map50_95'])} | "
            f"{_fmt(e.get('delta_map50'))} | {_fmt(e.get('delta_map50_95'))} |"
        )
    return "\n".join(lines) + "\n\nMeans over seeds with 95% t-intervals in brackets (none for a single seed); Δ is paired by seed.\n"


def plot(summary: Sequence[dict], metric: str, path: Path) -> Path:
    """mAP vs real fraction, one line per arm with its CI band; an arm without real data (fraction 0) as a
    horizontal band. Bands are drawn within [0, 1], where mAP lives (the tables keep the raw t-intervals)."""
    plt = pyplot()
    band = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    fractions = sorted({e["fraction"] for e in summary if e["fraction"] > 0}) or [1.0]
    for arm in sorted({e["arm"] for e in summary}):
        pts = sorted((e for e in summary if e["arm"] == arm), key=lambda e: e["fraction"])
        if pts[0]["fraction"] == 0:
            s = pts[0][metric]
            xs = [min(fractions), max(fractions)]
            ax.plot(xs, [s["mean"]] * 2, linestyle="--", label=f"{arm} (no real data)")
            if s["ci_low"] is not None:
                ax.fill_between(xs, [band(s["ci_low"])] * 2, [band(s["ci_high"])] * 2, alpha=0.15)
            continue
        xs = [e["fraction"] for e in pts]
        ax.plot(xs, [e[metric]["mean"] for e in pts], marker="o", label=arm)
        if all(e[metric]["ci_low"] is not None for e in pts):
            ax.fill_between(xs, [band(e[metric]["ci_low"]) for e in pts], [band(e[metric]["ci_high"]) for e in pts],
                            alpha=0.2)
    if len(fractions) > 1:
        ax.set_xscale("log")
    ax.set_xlabel("fraction of the real train split")
    ax.set_ylabel({"map50": "mAP50", "map50_95": "mAP50-95"}[metric] + " on real val")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def results_series(summary: Sequence[dict], metric: str) -> dict:
    """``{arm: [(real fraction, mean metric), ...]}`` for a line chart (an arm without real images at 0)."""
    series: dict = {}
    for e in sorted(summary, key=lambda e: e["fraction"]):
        series.setdefault(e["arm"], []).append((e["fraction"], e[metric]["mean"]))
    return series


def results_key(rows: Sequence[dict]) -> str:
    """What the result files say: every row but its weights path (which moves with the run dir)."""
    return content_hash([{k: v for k, v in r.items() if k != "weights"} for r in rows])


def write_results(run_dir: Path, rows: Sequence[dict], metric: str, overwrite: bool = False) -> List[dict]:
    """results.csv, results.json, results.md and results.png; returns the summary.

    Results of other trainings or evaluations already in ``run_dir`` raise RunDirError unless ``overwrite``;
    results that ``rows`` extend (the same study with more seeds, fractions or arms: every earlier row is
    among the new ones, unchanged) are replaced.
    """
    key = results_key(rows)
    run = RunLayout(Path(run_dir))
    strip = lambda r: json.dumps({k: v for k, v in r.items() if k != "weights"}, sort_keys=True)  # noqa: E731

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
    writer = csv.DictWriter(buf, fieldnames=["arm", "fraction", "seed", "map50", "map50_95", "precision", "recall",
                                             *per_class, "weights"])
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k) for k in writer.fieldnames})
    atomic_write_text(run.results("csv"), buf.getvalue())
    atomic_write_json(run.results("json"), {"rows": list(rows), "summary": summary, "key": key})
    atomic_write_text(run.results("md"), markdown_table(summary))
    plot(summary, metric, run.results("png"))
    return summary
