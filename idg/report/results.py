"""The study's results as files: ``results.csv`` (one row per training), ``results.json`` (rows and summary),
``results.md`` (the summary table) and ``results.png`` (mAP vs real fraction)."""

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
from idg.study.stats import summarize


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
    head = "| arm | real fraction | seeds | mAP50 | mAP50-95 | Δ mAP50 vs real_only | Δ mAP50-95 vs real_only |"
    rule = "|---|---|---|---|---|---|---|"
    if boot:
        head += " mAP50 image bootstrap | Δ mAP50 image bootstrap |"
        rule += "---|---|"
    lines = [head, rule]
    for e in summary:
        line = (f"| {e['arm']} | {e['fraction']:g} | {e['map50']['n']} | {_fmt(e['map50'])} | {_fmt(e['map50_95'])} | "
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
    note = ("Means over seeds with 95% t-intervals in brackets (none for a single seed); Δ is paired by seed."
            + (" Image bootstrap: 95% percentile interval of the seed mean over resamples of the evaluation images "
               "(Δ: paired, same images and seeds for the arm and real_only)." if boot else ""))
    return "\n".join(out) + "\n" + note + "\n"


def report_split(summary: Sequence[dict]) -> str:
    """The split the plot and the headline numbers report: test when there is one."""
    return "test" if any(e.get("split") == "test" for e in summary) else "val"


def plot(summary: Sequence[dict], metric: str, path: Path) -> Path:
    """mAP vs real fraction, one line per arm with its CI band; an arm without real data (fraction 0) as a
    horizontal band. Bands are drawn within [0, 1], where mAP lives (the tables keep the raw t-intervals)."""
    plt = pyplot()
    band = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
    split = report_split(summary)
    summary = [e for e in summary if e.get("split", "val") == split]

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
    ax.set_ylabel({"map50": "mAP50", "map50_95": "mAP50-95"}[metric] + f" on real {split}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


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
        old_rows = old.get("rows") if isinstance(old.get("rows"), list) else []
        return old.get("key") is None or {strip(r) for r in old_rows} <= {strip(r) for r in rows}

    reuse_or_refuse(run.results("json"), key, overwrite=overwrite, accept=extended, redo="replace them",
                    differs="holds the results of other trainings or evaluations (study arms, fractions or seeds, "
                            "or their inputs, changed)")
    summary = summarize(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["arm", "fraction", "seed", "split", "map50", "map50_95", "precision",
                                             "recall", "weights"])
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: r.get(k) for k in writer.fieldnames}, "split": r.get("split", "val")})
    atomic_write_text(run.results("csv"), buf.getvalue())
    atomic_write_json(run.results("json"), {"rows": list(rows), "summary": summary, "key": key})
    atomic_write_text(run.results("md"), markdown_table(summary))
    plot(summary, metric, run.results("png"))
    return summary
