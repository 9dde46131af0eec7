"""Statistics of a study: means with Student-t intervals over seeds, seed-paired differences to the real-only
baseline, and the flat metrics a sweeper reads."""

from __future__ import annotations

import math
from pathlib import Path
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


def split_of(row: dict) -> str:
    return row.get("split", "val")  # rows written before the test split existed are val rows


def _stats(rows: Sequence[dict]):
    """The rows' per-image matches (``image_stats``), or None when any is missing."""
    from idg.study.bootstrap import load_image_stats

    paths = [r.get("image_stats") for r in rows]
    if not all(p and Path(p).is_file() for p in paths):
        return None
    return [load_image_stats(Path(p)) for p in paths]


def summarize(rows: Sequence[dict], n_boot: int = 1000) -> List[dict]:
    """Per generator x arm x fraction x split: mean and 95% t-interval of each metric over seeds, and the
    seed-paired difference to ``real_only`` at the same fraction (an arm at fraction 0, which saw no real
    image, is compared with every fraction's baseline: ``delta_<metric>_vs_real_f<fraction>``). ``real_only``
    uses no generator and is the one baseline of every generator.

    Where every training kept its per-image matches, ``boot_map50`` (and ``boot_delta_map50``, paired on the
    same resampled images and the same seeds) add the image-level bootstrap interval of :mod:`idg.study.bootstrap`
    (``n_boot`` resamples; 0 switches it off): the uncertainty from the choice of evaluation images, beside
    the t-interval's from the choice of training seeds."""
    from idg.study.bootstrap import bootstrap_map50

    base = {(r["fraction"], r["seed"], split_of(r)): r for r in rows if r["arm"] == "real_only"}
    groups: Dict[tuple, List[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("generator"), r["arm"], r["fraction"], split_of(r)), []).append(r)
    out = []
    for (generator, arm, fraction, split), group in sorted(
            groups.items(), key=lambda kv: (kv[0][3] != "test", kv[0][3], kv[0][2], kv[0][1], kv[0][0] or "")):
        group = sorted(group, key=lambda r: r["seed"])
        entry = {"arm": arm, "generator": generator, "fraction": fraction, "split": split}
        for metric in METRICS:
            entry[metric] = mean_ci([r[metric] for r in group])
            if arm != "real_only":
                fractions = sorted({f for f, _, sp in base if sp == split}) if fraction == 0 else [fraction]
                for f in fractions:
                    diffs = [r[metric] - base[(f, r["seed"], split)][metric] for r in group if (f, r["seed"], split) in base]
                    if diffs:
                        key = f"delta_{metric}" if fraction != 0 else f"delta_{metric}_vs_real_f{f:g}"
                        entry[key] = mean_ci(diffs)
        mine = _stats(group) if n_boot else None
        if mine is not None:
            entry["boot_map50"] = bootstrap_map50(mine, n_boot=n_boot)
            if arm != "real_only":
                fractions = sorted({f for f, _, sp in base if sp == split}) if fraction == 0 else [fraction]
                for f in fractions:
                    paired = [(r, base[(f, r["seed"], split)]) for r in group if (f, r["seed"], split) in base]
                    theirs = _stats([b for _, b in paired]) if paired else None
                    if theirs is not None:
                        arm_stats = _stats([a for a, _ in paired])
                        key = "boot_delta_map50" if fraction != 0 else f"boot_delta_map50_vs_real_f{f:g}"
                        entry[key] = bootstrap_map50(arm_stats, theirs, n_boot=n_boot)
        out.append(entry)
    return out


PER_CLASS = ("ap50", "ap50_95")  # per-class metrics of an evaluation: ``ap50/<class>``, ``ap50_95/<class>``


def per_class_columns(evaluation: dict) -> dict:
    """An evaluation (``idg.study.detect.evaluate``) with its ``per_class`` APs as flat ``ap50/<class>`` and
    ``ap50_95/<class>`` entries (None for a class without instances in the split)."""
    out = {k: v for k, v in evaluation.items() if k != "per_class"}
    for name, aps in (evaluation.get("per_class") or {}).items():
        for metric in PER_CLASS:
            out[f"{metric}/{name}"] = aps[metric] if aps else None
    return out


def _split_prefix(entry: dict) -> str:
    split = entry.get("split", "val")
    return "eval" if split == "val" else f"eval/{split}"


def _who(entry: dict, by_generator: bool) -> str:
    """``<arm>``, or ``<generator>/<arm>`` for a synthetic arm of a study comparing generators."""
    return f"{entry['generator']}/{entry['arm']}" if by_generator and entry.get("generator") else entry["arm"]


def flat_metrics(rows: Sequence[dict], summary: Sequence[dict], by_generator: bool = False) -> Dict[str, float]:
    """The study's metrics in one key scheme, for metrics.json, W&B and sweeps:

    - ``eval/<arm>/f<fraction>_s<seed>/<metric>``: each evaluation on val (``map50``, ``map50_95``,
      ``precision``, ``recall``, ``ap50/<class>``, ``ap50_95/<class>``), named like its training
      (``detect/<arm>/f1_s0``);
    - ``eval/<arm>/f<fraction>/mean/<metric>``: the mean over seeds (``map50``, ``map50_95``, the image
      bootstrap's ``boot_*``) and of the seed-paired difference to ``real_only`` (``delta_<metric>``; for an
      arm without real images, at fraction 0, ``delta_<metric>_vs_real_f<fraction>`` against each
      fraction's baseline);
    - the same under ``eval/test/...`` for the test split, when the real data has one;
    - in a study comparing generators (``by_generator``) a synthetic arm is ``<generator>/<arm>`` in these keys
      (``eval/autolabel/syn_then_real/f0.1_s0/map50``, ``eval/test/diffusion/mixed/f0.1/mean/map50``);
      ``real_only``, every generator's baseline, keeps ``eval/real_only/...``.

    Classes without instances in the split have no per-class key."""
    out: Dict[str, float] = {}
    for r in rows:
        prefix = f"{_split_prefix(r)}/{_who(r, by_generator)}/f{r['fraction']:g}_s{r['seed']}"
        for key, value in r.items():
            if key not in ("arm", "fraction", "seed") and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}/{key}"] = value
    for e in summary:
        prefix = f"{_split_prefix(e)}/{_who(e, by_generator)}/f{e['fraction']:g}/mean"
        for key, stat in e.items():
            if isinstance(stat, dict) and "mean" in stat:
                out[f"{prefix}/{key}"] = stat["mean"]
    return out


def main_entry(summary: Sequence[dict], generator: Optional[str] = None) -> Optional[dict]:
    """The summary entry of the main metric: the synthetic-data arm (of ``generator``, when given: the first
    of a study comparing generators) at the largest real fraction (syn_then_real if run, else mixed, else
    syn_only, else real_only), on val (tuning on test would make it val)."""
    for arm in ("syn_then_real", "mixed", "syn_only", "real_only"):
        entries = [e for e in summary if e["arm"] == arm and e.get("split", "val") == "val"
                   and (generator is None or arm == "real_only" or e.get("generator") == generator)]
        if entries:
            return max(entries, key=lambda e: e["fraction"])
    return None


def main_entry_name(entry: dict, by_generator: bool = False) -> str:
    """``<arm>/f<fraction>`` (``<generator>/<arm>/f<fraction>`` comparing generators): metrics.json's
    ``main_metric_of``, named like the entry's ``eval/.../mean`` keys."""
    return f"{_who(entry, by_generator)}/f{entry['fraction']:g}"


def main_metric(summary: Sequence[dict], metric: str, generator: Optional[str] = None) -> Optional[float]:
    """The number a sweeper optimises: ``metric`` (mean over seeds) of :func:`main_entry`."""
    entry = main_entry(summary, generator)
    return entry[metric]["mean"] if entry is not None else None
