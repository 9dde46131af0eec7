"""The study's results as files: ``results.csv`` (one row per training, tagged by arm and generator),
``results.json`` (rows and summary), ``results.md`` (the summary table) and ``results.png`` (mAP vs real
fraction)."""

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


def markdown_table(summary: Sequence[dict]) -> str:
    lines = [
        "| generator | arm | real fraction | seeds | mAP50 | mAP50-95 | Δ mAP50 vs real_only | Δ mAP50-95 vs real_only |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in summary:
        lines.append(
            f"| {e.get('generator') or '-'} | {e['arm']} | {e['fraction']:g} | {e['map50']['n']} | {_fmt(e['map50'])} | "
            f"{_fmt(e['map50_95'])} | {_fmt(e.get('delta_map50'))} | {_fmt(e.get('delta_map50_95'))} |"
        )
    return "\n".join(lines) + ("\n\nMeans over seeds with 95% t-intervals in brackets (none for a single seed); Δ is paired "
                               "by seed; real_only uses no generator and is every generator's baseline.\n")


ARM_STYLES = {"syn_only": "--", "syn_then_real": "-", "mixed": "-.", "real_only": "-"}


def plot(summary: Sequence[dict], metric: str, path: Path) -> Path:
    """mAP vs real fraction, one line per generator x arm with its CI band (colour: generator, line style: arm;
    real_only in black); an arm without real data (fraction 0) as a horizontal line. Bands are drawn within
    [0, 1], where mAP lives (the tables keep the raw t-intervals)."""
    plt = pyplot()
    band = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    fractions = sorted({e["fraction"] for e in summary if e["fraction"] > 0}) or [1.0]
    generators = sorted({e.get("generator") for e in summary if e.get("generator")})
    colours = {g: f"C{k}" for k, g in enumerate(generators)}
    several = len(generators) > 1
    lines = sorted({(e.get("generator"), e["arm"]) for e in summary}, key=lambda ga: (ga[0] or "", ga[1]))
    for generator, arm in lines:
        pts = sorted((e for e in summary if e["arm"] == arm and e.get("generator") == generator), key=lambda e: e["fraction"])
        name = f"{generator} {arm}" if several and generator else arm
        # several generators: colour by generator, style by arm; one generator: a colour per arm
        style = {"color": colours.get(generator, "black"), "linestyle": ARM_STYLES.get(arm, "-")} if several else {}
        if pts[0]["fraction"] == 0:
            s = pts[0][metric]
            xs = [min(fractions), max(fractions)]
            drawn = ax.plot(xs, [s["mean"]] * 2, label=f"{name} (no real data)", **{"linestyle": "--", **style})
            if s["ci_low"] is not None:
                ax.fill_between(xs, [band(s["ci_low"])] * 2, [band(s["ci_high"])] * 2, alpha=0.15,
                                color=drawn[0].get_color())
            continue
        xs = [e["fraction"] for e in pts]
        drawn = ax.plot(xs, [e[metric]["mean"] for e in pts], marker="o", label=name, **style)
        if all(e[metric]["ci_low"] is not None for e in pts):
            ax.fill_between(xs, [band(e[metric]["ci_low"]) for e in pts], [band(e[metric]["ci_high"]) for e in pts],
                            alpha=0.2, color=drawn[0].get_color())
    if len(fractions) > 1:
        ax.set_xscale("log")
    ax.set_xlabel("fraction of the real train split")
    ax.set_ylabel({"map50": "mAP50", "map50_95": "mAP50-95"}[metric] + " on real val")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(lines) > 6 else 1)
    fig.tight_layout()
    return save_figure(fig, path)


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
        old_rows = old.get("rows") if isinstance(old.get("rows"), list) else []
        # Rows of an earlier version may lack later columns (e.g. generator): compared on their own keys.
        return old.get("key") is None or all(
            strip(r) in {strip({k: n.get(k) for k in r}) for n in rows} for r in old_rows if isinstance(r, dict))

    reuse_or_refuse(run.results("json"), key, overwrite=overwrite, accept=extended, redo="replace them",
                    differs="holds the results of other trainings or evaluations (study arms, fractions or seeds, "
                            "or their inputs, changed)")
    summary = summarize(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["generator", "arm", "fraction", "seed", "map50", "map50_95", "precision", "recall",
                                            "weights"])
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k) for k in writer.fieldnames})
    atomic_write_text(run.results("csv"), buf.getvalue())
    atomic_write_json(run.results("json"), {"rows": list(rows), "summary": summary, "key": key})
    atomic_write_text(run.results("md"), markdown_table(summary))
    plot(summary, metric, run.results("png"))
    return summary
