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
    """Per generator x arm x fraction: mean and 95% CI of each metric over seeds, and the seed-paired
    difference to ``real_only`` at the same fraction (an arm at fraction 0, which saw no real image, is
    compared with every fraction's baseline: ``delta_<metric>_vs_real_f<fraction>``). ``real_only`` uses no
    generator and is the one baseline of every generator."""
    base = {(r["fraction"], r["seed"]): r for r in rows if r["arm"] == "real_only"}
    groups: Dict[tuple, List[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("generator"), r["arm"], r["fraction"]), []).append(r)
    out = []
    for (generator, arm, fraction), group in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0] or "", kv[0][1])):
        entry = {"arm": arm, "generator": generator, "fraction": fraction}
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


def flat_metrics(summary: Sequence[dict], by_generator: bool = False) -> Dict[str, float]:
    """``eval/<arm>/f<fraction>/<metric>`` -> mean (and ``.../delta_<metric>``), for metrics.json and sweeps; a
    study comparing generators (``by_generator``) names the synthetic arms ``eval/<generator>/<arm>/...``."""
    out: Dict[str, float] = {}
    for e in summary:
        who = f"{e['generator']}/{e['arm']}" if by_generator and e.get("generator") else e["arm"]
        prefix = f"eval/{who}" + ("" if e["fraction"] == 0 else f"/f{e['fraction']:g}")
        for key, stat in e.items():
            if isinstance(stat, dict) and "mean" in stat:
                out[f"{prefix}/{key}"] = stat["mean"]
    return out


def main_metric(summary: Sequence[dict], metric: str, generator: Optional[str] = None) -> Optional[float]:
    """The number a sweeper optimises: the synthetic-data arm (of ``generator``, when given) at the largest real
    fraction (syn_then_real if run, else mixed, else syn_only, else real_only)."""
    for arm in ("syn_then_real", "mixed", "syn_only", "real_only"):
        entries = [e for e in summary if e["arm"] == arm and (generator is None or arm == "real_only"
                                                               or e.get("generator") == generator)]
        if entries:
            return max(entries, key=lambda e: e["fraction"])[metric]["mean"]
    return None
