"""Statistics of a study: means with Student-t intervals over seeds, seed-paired differences to the real-only
baseline, and the flat metrics a sweeper reads."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

METRICS = ("map50", "map50_95")


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Dict[str, Optional[float]]:
    """Mean and Student-t confidence interval; the interval is None with fewer than two values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": n}
    from scipy import stats

    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def summarize(rows: Sequence[dict]) -> List[dict]:
    """Per arm x fraction: mean and 95% CI of each metric over seeds, and the seed-paired difference to
    ``real_only`` at the same fraction (an arm at fraction 0, which saw no real image, is compared with
    every fraction's baseline: ``delta_<metric>_vs_real_f<fraction>``)."""
    base = {(r["fraction"], r["seed"]): r for r in rows if r["arm"] == "real_only"}
    groups: Dict[tuple, List[dict]] = {}
    for r in rows:
        groups.setdefault((r["arm"], r["fraction"]), []).append(r)
    out = []
    for (arm, fraction), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        entry = {"arm": arm, "fraction": fraction}
        for metric in METRICS:
            entry[metric] = mean_ci([r[metric] for r in group])
            if arm != "real_only":
                fractions = sorted({f for f, _ in base}) if fraction == 0 else [fraction]
                for f in fractions:
                    diffs = [r[metric] - base[(f, r["seed"])][metric] for r in group if (f, r["seed"]) in base]
                    if diffs:
                        key = f"delta_{metric}" if fraction != 0 else f"delta_{metric}_vs_real_f{f:g}"
                        entry[key] = mean_ci(diffs)
        out.append(entry)
    return out


PER_CLASS = ("ap50", "ap50_95")  # per-class metrics of an evaluation: ``ap50/<class>``, ``ap50_95/<class>``


def per_class_columns(evaluation: dict) -> dict:
    """An evaluation (``idg.study.detect.evaluate``) with its ``per_class`` APs as flat ``ap50/<class>`` and
    ``ap50_95/<class>`` entries (None for a class without instances in the val split)."""
    out = {k: v for k, v in evaluation.items() if k != "per_class"}
    for name, aps in (evaluation.get("per_class") or {}).items():
        for metric in PER_CLASS:
            out[f"{metric}/{name}"] = aps[metric] if aps else None
    return out


def flat_metrics(rows: Sequence[dict], summary: Sequence[dict]) -> Dict[str, float]:
    """The study's metrics in one key scheme, for metrics.json, W&B and sweeps:

    - ``eval/<arm>/f<fraction>_s<seed>/<metric>``: each evaluation (``map50``, ``map50_95``, ``precision``,
      ``recall``, ``ap50/<class>``, ``ap50_95/<class>``), named like its training (``detect/<arm>/f1_s0``);
    - ``eval/<arm>/f<fraction>/mean/<metric>``: the mean over seeds (``map50``, ``map50_95``) and of the
      seed-paired difference to ``real_only`` (``delta_<metric>``; for an arm without real images, at
      fraction 0, ``delta_<metric>_vs_real_f<fraction>`` against each fraction's baseline).

    Classes without instances in the val split have no per-class key."""
    out: Dict[str, float] = {}
    for r in rows:
        prefix = f"eval/{r['arm']}/f{r['fraction']:g}_s{r['seed']}"
        for key, value in r.items():
            if key not in ("arm", "fraction", "seed") and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}/{key}"] = value
    for e in summary:
        prefix = f"eval/{e['arm']}/f{e['fraction']:g}/mean"
        for key, stat in e.items():
            if isinstance(stat, dict) and "mean" in stat:
                out[f"{prefix}/{key}"] = stat["mean"]
    return out


def main_entry(summary: Sequence[dict]) -> Optional[dict]:
    """The summary entry of the main metric: the synthetic-data arm at the largest real fraction
    (syn_then_real if run, else mixed, else syn_only, else real_only)."""
    for arm in ("syn_then_real", "mixed", "syn_only", "real_only"):
        entries = [e for e in summary if e["arm"] == arm]
        if entries:
            return max(entries, key=lambda e: e["fraction"])
    return None


def main_metric(summary: Sequence[dict], metric: str) -> Optional[float]:
    """The number a sweeper optimises: ``metric`` (mean over seeds) of :func:`main_entry`."""
    entry = main_entry(summary)
    return entry[metric]["mean"] if entry is not None else None
