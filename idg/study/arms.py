"""The usefulness study: detector arms x real fractions x seeds, evaluated on the real val split.

Arms (each a separate Ultralytics training from ``detector.model``, same architecture and image size):

- ``syn_only``: ``detector.epochs`` on the synthetic set; zero-shot on real val
- ``syn_then_real``: ``syn_only``'s weights fine-tuned ``detector.finetune_epochs`` on the real subset
- ``real_only``: ``detector.finetune_epochs`` on the real subset alone (the baseline)
- ``mixed``: ``detector.finetune_epochs`` on synthetic + real subset together

The diffusion generator makes one synthetic set for the whole study, so ``syn_only`` is trained once per
seed and reported at real fraction 0 (it sees no real image). The copy-paste generator cuts its objects
from the real subset of each (fraction, seed), so there is one synthetic set, and one ``syn_only``, per
(fraction, seed), reported at that fraction.

Trainings live in ``<run dir>/detect/<arm>/f<fraction>_s<seed>/`` and are skipped when done with the same
data and settings (a key in ``done.json``), so an interrupted study resumes at the next unfinished arm.
Results: ``results.csv``, ``results.json`` (rows and per arm x fraction summaries with 95% confidence
intervals and seed-paired differences vs ``real_only``), ``results.md`` and ``results.png``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from idg.atomic import atomic_write_json, atomic_write_text
from idg.config import DetectorConfig, IdgConfig
from idg.detect import EpochCallback, evaluate, train
from idg.errors import DataError, RunDirError
from idg.real import IMG_SUFFIXES, PreparedReal, label_path

log = logging.getLogger(__name__)

METRICS = ("map50", "map50_95")


@dataclass
class Trained:
    arm: str
    fraction: float  # 0.0 when the training saw no real image (syn_only of the diffusion generator)
    seed: int
    weights: Path
    save_dir: Path
    key: Optional[str] = None  # what the weights depend on (see training_key)


def run_dir_name(fraction: float, seed: int) -> str:
    return f"f{fraction:g}_s{seed}"


def per_fraction_synthetic(cfg: IdgConfig) -> bool:
    """Whether the synthetic set depends on the real subset (copy-paste) rather than being one per study."""
    return cfg.generate.generator == "copy_paste"


def synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    """The synthetic data.yaml that the synthetic arms of ``(fraction, seed)`` train on."""
    if per_fraction_synthetic(cfg):
        from idg.copy_paste import set_dir

        return set_dir(run_dir, fraction, seed) / "dataset" / "data.yaml"
    return run_dir / "dataset" / "data.yaml"


def existing_synthetic_yaml(cfg: IdgConfig, run_dir: Path, fraction: float, seed: int) -> Path:
    path = synthetic_yaml(cfg, run_dir, fraction, seed)
    if not path.is_file():
        raise DataError(f"{path}: no synthetic dataset; run the generate stage first (stages=[generate,...]) or "
                        f"point hydra.run.dir at the run that generated it")
    return path


def check_synthetic_sets(cfg: IdgConfig, run_dir: Path) -> None:
    """The synthetic sets the study's arms train on exist (a start-up check when generate is not a stage)."""
    if any(a != "real_only" for a in cfg.study.arms):
        for seed in cfg.study.seeds:
            for fraction in cfg.study.fractions:
                existing_synthetic_yaml(cfg, run_dir, fraction, seed)


def syn_only_fraction(cfg: IdgConfig, fraction: float) -> float:
    return fraction if per_fraction_synthetic(cfg) else 0.0


# ------------------------------------------------------------------------------------ resume keys


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_key(yaml_path: Path, splits: Sequence[str] = ("train", "val")) -> str:
    """What a detector sees through a data.yaml: class names and, per split, each image (name and size)
    with its label text. Cheap (labels are small) and independent of where the run dir lives."""
    doc = yaml.safe_load(Path(yaml_path).read_text())
    root = Path(doc["path"]) if doc.get("path") else Path(yaml_path).parent
    h = hashlib.sha256(json.dumps(doc.get("names"), sort_keys=True, default=str).encode())
    for split in splits:
        entries = doc.get(split) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            path = Path(entry) if Path(entry).is_absolute() else root / entry
            if path.is_dir():
                images = sorted(f for f in path.iterdir() if f.suffix.lower() in IMG_SUFFIXES)
            else:
                images = [Path(line.strip()) for line in path.read_text().splitlines() if line.strip()]
            for image in images:
                label = label_path(image)
                h.update(f"{split}|{image.name}|{image.stat().st_size}|".encode())
                h.update(label.read_bytes() if label.is_file() else b"-")
    return h.hexdigest()[:16]


def model_key(model: str) -> str:
    """A detector init: an architecture name, or a checkpoint file (name and size)."""
    path = Path(model).expanduser()
    return f"{path.name}:{path.stat().st_size}" if model.endswith(".pt") and path.is_file() else model


def training_key(init_key: str, data: Path, epochs: int, seed: int, det: DetectorConfig) -> str:
    settings = {k: v for k, v in asdict(det).items() if k not in ("workers", "epochs", "finetune_epochs", "model")}
    return _hash({"init": init_key, "data": data_key(data), "epochs": epochs, "seed": seed, "detector": settings})


# ------------------------------------------------------------------------------------ training


def train_arms(
    cfg: IdgConfig,
    run_dir: Path,
    real: Optional[PreparedReal],
    on_epoch: Optional[EpochCallback] = None,
) -> List[Trained]:
    """Train every arm x fraction x seed of ``cfg.study`` that is not already done."""
    det, study = cfg.detector, cfg.study
    root = run_dir / "detect"
    arms = list(study.arms)
    if any(a != "syn_only" for a in arms) and real is None:
        raise DataError("the study needs real data: pass real.data=<data.yaml>")
    base_key = model_key(det.model)

    def fit(arm: str, init: str, init_key: str, data: Path, fraction: float, seed: int, epochs: int) -> Trained:
        name = run_dir_name(fraction, seed)
        key = training_key(init_key, data, epochs, seed, det)
        r = train(init, data, root / arm, name, epochs, det, seed, tag=f"{arm}/{name}", on_epoch=on_epoch,
                  key=key, overwrite=cfg.overwrite,
                  reuse=[Path(d).expanduser() / "detect" / arm / name for d in study.reuse])
        return Trained(arm, fraction, seed, r.weights, r.save_dir, key)

    def synthetic(fraction: float, seed: int) -> Path:
        return existing_synthetic_yaml(cfg, run_dir, fraction, seed)

    check_synthetic_sets(cfg, run_dir)  # every synthetic set exists before the first training starts

    out: List[Trained] = []
    for seed in study.seeds:
        syn: Dict[float, Trained] = {}
        for fraction in study.fractions:
            sf = syn_only_fraction(cfg, fraction)
            if ("syn_only" in arms or "syn_then_real" in arms) and sf not in syn:
                syn[sf] = fit("syn_only", det.model, base_key, synthetic(fraction, seed), sf, seed, det.epochs)
                if "syn_only" in arms:
                    out.append(syn[sf])
            if "syn_then_real" in arms:
                s = syn[sf]
                out.append(fit("syn_then_real", str(s.weights), s.key, real.data_yaml(fraction, seed), fraction, seed,
                               det.finetune_epochs))
            if "real_only" in arms:
                out.append(fit("real_only", det.model, base_key, real.data_yaml(fraction, seed), fraction, seed,
                               det.finetune_epochs))
            if "mixed" in arms:
                syn_train = synthetic(fraction, seed).parent / "images" / "train"
                data = real.data_yaml(fraction, seed, extra_train=[syn_train], tag="mixed")
                out.append(fit("mixed", det.model, base_key, data, fraction, seed, det.finetune_epochs))
    return out


def find_trained(cfg: IdgConfig, run_dir: Path) -> List[Trained]:
    """The trainings of ``cfg.study`` already on disk (for ``stages=[evaluate]``)."""
    found, missing = [], []
    for seed in cfg.study.seeds:
        for arm in cfg.study.arms:
            fractions = cfg.study.fractions
            if arm == "syn_only":
                fractions = sorted({syn_only_fraction(cfg, f) for f in fractions})
            for fraction in fractions:
                save_dir = run_dir / "detect" / arm / run_dir_name(fraction, seed)
                done = save_dir / "done.json"
                if done.is_file():
                    info = json.loads(done.read_text())
                    found.append(Trained(arm, fraction, seed, Path(info["weights"]), save_dir, info.get("key")))
                else:
                    missing.append(str(save_dir))
    if missing:
        raise DataError(f"evaluate: {len(missing)} training(s) not found, e.g. {missing[0]}; run the train stage first")
    return found


def evaluate_arms(cfg: IdgConfig, trained: Sequence[Trained], real: PreparedReal) -> List[dict]:
    """One row per training: its mAPs on the real val split (Ultralytics' validator, ``last.pt``)."""
    val_key = data_key(real.val_yaml, splits=("val",))
    rows = []
    for t in trained:
        key = _hash({"weights": t.key or str(t.weights), "val": val_key, "imgsz": cfg.detector.imgsz})
        m = evaluate(t.weights, real.val_yaml, t.save_dir, "eval_real", cfg.detector, key=key, overwrite=cfg.overwrite,
                     reuse=cfg.resume)
        rows.append({"arm": t.arm, "fraction": t.fraction, "seed": t.seed, **m, "weights": str(t.weights)})
        log.info("%-14s f=%-5g s=%d  mAP50=%.4f  mAP50-95=%.4f", t.arm, t.fraction, t.seed, m["map50"], m["map50_95"])
    return rows


# ------------------------------------------------------------------------------------ statistics


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
    from idg.report import pyplot, save_figure

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


def results_key(rows: Sequence[dict]) -> str:
    """What the result files say: every row but its weights path (which moves with the run dir)."""
    return _hash([{k: v for k, v in r.items() if k != "weights"} for r in rows])


def write_results(run_dir: Path, rows: Sequence[dict], metric: str, overwrite: bool = False) -> List[dict]:
    """results.csv, results.json, results.md and results.png; returns the summary.

    Results of other trainings or evaluations already in ``run_dir`` raise RunDirError unless ``overwrite``;
    results that ``rows`` extend (the same study with more seeds, fractions or arms: every earlier row is
    among the new ones, unchanged) are replaced.
    """
    key = results_key(rows)
    previous = run_dir / "results.json"
    if previous.is_file() and not overwrite:
        try:
            old = json.loads(previous.read_text())
            old_key, old_rows = old.get("key"), old.get("rows") or []
        except (OSError, ValueError, AttributeError):
            old_key, old_rows = None, []
        strip = lambda r: json.dumps({k: v for k, v in r.items() if k != "weights"}, sort_keys=True)  # noqa: E731
        extended = {strip(r) for r in old_rows} <= {strip(r) for r in rows}
        if old_key is not None and old_key != key and not extended:
            raise RunDirError(
                f"{previous} holds the results of other trainings or evaluations (study arms, fractions or seeds, or "
                f"their inputs, changed); pass overwrite=true to replace them, or choose another hydra.run.dir"
            )
    summary = summarize(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["arm", "fraction", "seed", "map50", "map50_95", "precision", "recall", "weights"])
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k) for k in writer.fieldnames})
    atomic_write_text(run_dir / "results.csv", buf.getvalue())
    atomic_write_json(run_dir / "results.json", {"rows": list(rows), "summary": summary, "key": key})
    atomic_write_text(run_dir / "results.md", markdown_table(summary))
    plot(summary, metric, run_dir / "results.png")
    return summary


def flat_metrics(summary: Sequence[dict]) -> Dict[str, float]:
    """``eval/<arm>/f<fraction>/<metric>`` -> mean (and ``.../delta_<metric>``), for metrics.json and sweeps."""
    out: Dict[str, float] = {}
    for e in summary:
        prefix = f"eval/{e['arm']}" + ("" if e["fraction"] == 0 else f"/f{e['fraction']:g}")
        for key, stat in e.items():
            if isinstance(stat, dict) and "mean" in stat:
                out[f"{prefix}/{key}"] = stat["mean"]
    return out


def main_metric(summary: Sequence[dict], metric: str) -> Optional[float]:
    """The number a sweeper optimises: the synthetic-data arm at the largest real fraction (syn_then_real
    if run, else mixed, else syn_only, else real_only)."""
    for arm in ("syn_then_real", "mixed", "syn_only", "real_only"):
        entries = [e for e in summary if e["arm"] == arm]
        if entries:
            return max(entries, key=lambda e: e["fraction"])[metric]["mean"]
    return None


def trained_as_dict(t: Trained) -> dict:
    d = asdict(t)
    d["weights"], d["save_dir"] = str(t.weights), str(t.save_dir)
    return d
