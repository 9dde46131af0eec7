"""Compare runs: swept config keys against metrics, as a table and a plot, with or without W&B.

    python -m idg.compare multirun/forest_fire/2026-11-25_10-00-00      # a --multirun sweep dir
    python -m idg.compare outputs/a outputs/b --format csv               # any run dirs
    python -m idg.compare --wandb my-team/idg --group multirun/forest_fire/2026-11-25_10-00-00

From run dirs it reads each run's ``config.yaml`` (resolved config), ``.hydra/overrides.yaml`` (the job's
command-line overrides) and ``metrics.json``; nothing needs W&B. The swept keys are those a sweep declared
(``multirun.yaml``) plus every override whose value differs between the runs; without overrides, the
config keys whose values differ. ``--wandb`` reads the same from the W&B API (online only).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from idg.core.errors import DataError, IdgError
from idg.core.layout import RunLayout
from idg.core.overrides import assignments, multirun_swept_keys, read_overrides

MAIN = "main_metric"
DEFAULT_METRICS = [MAIN, "eval/*/mean/map50", "eval/*/mean/map50_95"]  # per arm x fraction, means over seeds


@dataclass
class Run:
    """One run as compare sees it."""

    name: str
    config: Dict[str, Any]  # flattened: "inpaint.strength" -> 0.5
    overrides: Dict[str, Any] = field(default_factory=dict)
    metrics: Dict[str, Any] = field(default_factory=dict)
    status: Optional[str] = None


def flatten(obj: Any, prefix: str = "") -> Dict[str, Any]:
    """Nested dicts to ``a.b.c`` keys (lists stay values)."""
    if not isinstance(obj, dict):
        return {prefix: obj} if prefix else {}
    out: Dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


# ------------------------------------------------------------------------------------ reading runs


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.as_posix())]


def find_run_dirs(path: Path) -> List[Path]:
    """``path`` itself when it is a run dir (has config.yaml), else the run dirs up to two levels below it
    (a sweep dir holds one per job: ``0/``, ``1/``, ...), in natural order."""
    if not path.is_dir():
        raise DataError(f"{path}: no such directory")
    if RunLayout(path).config.is_file():
        return [path]
    # hidden dirs hold Hydra's own copies (.hydra/config.yaml), not runs
    found = [p.parent for p in list(path.glob("*/config.yaml")) + list(path.glob("*/*/config.yaml"))
             if not any(part.startswith(".") for part in p.relative_to(path).parts)]
    if not found:
        raise DataError(f"{path}: no idg run dirs in it (a run dir holds config.yaml; is this a sweep dir?)")
    return sorted(set(found), key=_natural)


def _read_json(path: Path) -> Dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def read_run(run_dir: Path, name: str) -> Run:
    """A run dir's resolved config, its job's overrides, metrics and status."""
    try:
        config = yaml.safe_load(RunLayout(run_dir).config.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{RunLayout(run_dir).config}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise DataError(f"{RunLayout(run_dir).config}: expected a mapping, got {type(config).__name__}")
    return Run(
        name=name,
        config=flatten(config),
        overrides=assignments(read_overrides(run_dir / ".hydra" / "overrides.yaml")),
        metrics=_read_json(RunLayout(run_dir).metrics),
        status=_read_json(RunLayout(run_dir).run_json).get("status"),
    )


def load_runs(paths: Sequence[Path]) -> tuple[List[Run], List[str]]:
    """Runs under ``paths`` and the keys their sweeps declared (from multirun.yaml)."""
    dirs: List[Path] = []
    declared: List[str] = []
    for p in paths:
        dirs.extend(find_run_dirs(p))
        declared.extend(k for k in multirun_swept_keys(p) if k not in declared)
    dirs = list(dict.fromkeys(d.resolve() for d in dirs))
    common = Path(os.path.commonpath([str(d) for d in dirs])) if len(dirs) > 1 else dirs[0].parent
    return [read_run(d, d.relative_to(common).as_posix() or d.name) for d in dirs], declared


# ------------------------------------------------------------------------------------ the comparison


def swept_keys(runs: Sequence[Run], declared: Sequence[str] = ()) -> List[str]:
    """Declared sweep keys, then overrides whose value differs between runs; failing both (runs not made
    by one command), the config keys whose values differ."""
    keys = list(declared)
    override_keys = sorted({k for r in runs for k in r.overrides})
    for k in override_keys:
        values = {json.dumps(r.overrides.get(k), sort_keys=True, default=str) for r in runs}
        if len(values) > 1 and k not in keys:
            keys.append(k)
    if not keys and len(runs) > 1:
        config_keys = sorted({k for r in runs for k in r.config})
        keys = [k for k in config_keys
                if len({json.dumps(r.config.get(k), sort_keys=True, default=str) for r in runs}) > 1]
    return keys


def value_of(run: Run, key: str) -> Any:
    """The run's value of a swept key: the resolved config's where it is a leaf (``inpaint.strength``),
    else the override's (a group choice such as ``dataset=safari``)."""
    if key in run.config:
        return run.config[key]
    return run.overrides.get(key)


def metric_keys(runs: Sequence[Run], patterns: Sequence[str]) -> List[str]:
    """Metric keys present in any run that match ``patterns`` (fnmatch; ``*`` spans ``/``), pattern order."""
    present = list(dict.fromkeys(k for r in runs for k in r.metrics))
    out: List[str] = []
    for pat in patterns:
        for k in present:
            if fnmatch.fnmatchcase(k, pat) and k not in out and not k.endswith("_name"):
                out.append(k)
    return out


def table(runs: Sequence[Run], keys: Sequence[str], metrics: Sequence[str]) -> tuple[List[str], List[List[Any]]]:
    """Header and rows: run, swept keys, status, metrics."""
    main_name = next((r.metrics.get(f"{MAIN}_name") for r in runs if r.metrics.get(f"{MAIN}_name")), None)
    header = ["run", *keys, "status",
              *[f"{m} ({main_name})" if m == MAIN and main_name else m for m in metrics]]
    rows = [[r.name, *[value_of(r, k) for k in keys], r.status, *[r.metrics.get(m) for m in metrics]] for r in runs]
    return header, rows


def _cell(v: Any, digits: Optional[int] = None) -> str:
    """A table cell: floats rounded to ``digits`` when given (metrics in Markdown), else as written."""
    if v is None:
        return ""
    if isinstance(v, float) and digits is not None and math.isfinite(v):
        return f"{v:.{digits}f}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    return str(v)


def format_markdown(header: Sequence[str], rows: Sequence[Sequence[Any]], first_metric: int) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v, 4 if i >= first_metric else None).replace("|", "\\|") for i, v in enumerate(row))
              + " |" for row in rows]
    return "\n".join(lines) + "\n"


def format_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return buf.getvalue()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def plot(runs: Sequence[Run], keys: Sequence[str], metric: str, path: Path) -> Path:
    """``compare.png``: :func:`compare_figure` as a PNG at ``path``."""
    from idg.report.figures import save_figure

    return save_figure(compare_figure(runs, keys, metric), path)


def compare_figure(runs: Sequence[Run], keys: Sequence[str], metric: str):
    """``metric`` against each swept key, one panel per key: in the panel of a key, one line per
    combination of the other swept keys' values (legend), so a two-key sweep reads as a family of curves
    instead of a zig-zag; categorical keys on an ordered axis. With no swept key, one bar per run."""
    from idg.report.figures import pyplot

    plt = pyplot()
    panels = list(keys) or [None]
    cols = min(3, len(panels))
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.6 * nrows), dpi=120, squeeze=False)
    label = metric if metric != MAIN else next((f"{MAIN} ({r.metrics[MAIN + '_name']})" for r in runs
                                                if r.metrics.get(MAIN + "_name")), MAIN)
    measured = [r for r in runs if _is_number(r.metrics.get(metric))]
    for n, key in enumerate(panels):
        ax = axes[n // cols][n % cols]
        if key is None:
            ax.bar(range(len(measured)), [r.metrics[metric] for r in measured])
            ax.set_xticks(range(len(measured)), [r.name for r in measured], rotation=30, ha="right", fontsize=8)
            ax.set_xlabel("run")
        else:
            xs_all = [value_of(r, key) for r in measured]
            numeric = bool(xs_all) and all(_is_number(x) for x in xs_all)
            cats = [] if numeric else list(dict.fromkeys(_cell(x) for x in xs_all))  # the sweep's order
            others = [k for k in keys if k != key]
            groups: Dict[str, List[Run]] = {}
            for r in measured:
                groups.setdefault(", ".join(_cell(value_of(r, k)) for k in others), []).append(r)
            for name, members in groups.items():
                pts = [(value_of(r, key) if numeric else cats.index(_cell(value_of(r, key))), r.metrics[metric])
                       for r in members]
                pts.sort(key=lambda p: p[0])
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name or None)
            if numeric:
                ticks = sorted({x for x in xs_all})
                if len(ticks) <= 8:
                    ax.set_xticks(ticks, [_cell(t) for t in ticks], fontsize=8)
            else:
                ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize=8)
            if others and len(groups) > 1:
                ax.legend(fontsize=7, title=", ".join(k.rsplit(".", 1)[-1] for k in others), title_fontsize=7,
                          framealpha=0.7)
            ax.set_xlabel(key)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for n in range(len(panels), nrows * cols):  # the grid's unused panels
        axes[n // cols][n % cols].set_visible(False)
    fig.suptitle(f"{label} across {len(measured)} run{'s' if len(measured) != 1 else ''}", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ W&B


def load_wandb_runs(path: str, group: str, timeout: float = 10.0) -> tuple[List[Run], List[str]]:
    """The runs of one W&B group through the public API (needs network and an API key)."""
    from idg.report.wandb_server import base_url, server_reachable

    if os.environ.get("WANDB_MODE") in ("offline", "disabled"):
        raise DataError(f"--wandb reads the W&B API, but WANDB_MODE={os.environ['WANDB_MODE']}; compare the run "
                        "dirs instead: python -m idg.compare <multirun dir | run dirs>")
    if path.count("/") != 1:
        raise DataError(f"--wandb {path!r}: expected entity/project")
    url = base_url()
    if not server_reachable(url, timeout):
        raise DataError(f"--wandb: cannot reach the W&B server {url} within {timeout:g}s (offline?); compare the "
                        "run dirs instead: python -m idg.compare <multirun dir | run dirs>")
    try:
        import wandb

        api_runs = list(wandb.Api(timeout=int(timeout)).runs(path, filters={"group": group}))
    except Exception as exc:  # noqa: BLE001 - auth, permission, unknown project: one clear line
        raise DataError(f"--wandb {path} --group {group}: the W&B API failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if not api_runs:
        raise DataError(f"--wandb {path}: no runs in group {group!r}")
    runs, declared = [], []
    for r in api_runs:
        config = {k: v for k, v in dict(r.config).items() if not k.startswith("_")}
        sweep = config.pop("sweep", None) or {}
        declared.extend(k for k in sweep.get("keys", []) if k not in declared)
        summary = {k: v for k, v in dict(r.summary).items() if not k.startswith("_") and not isinstance(v, dict)}
        runs.append(Run(name=r.name, config=flatten(config), overrides=dict(sweep.get("values") or {}),
                        metrics=summary, status=r.state))
    return runs, declared


# ------------------------------------------------------------------------------------ entry point


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m idg.compare", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, help="a --multirun sweep dir, or run dirs")
    p.add_argument("--format", choices=("markdown", "csv"), default="markdown", help="table format (default markdown)")
    p.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS, metavar="PATTERN",
                   help=f"metric keys to show, fnmatch patterns (default: {' '.join(DEFAULT_METRICS)})")
    p.add_argument("--metric", default=MAIN, help="metric plotted against each swept key (default main_metric)")
    p.add_argument("--plot", type=Path, default=None,
                   help="plot file (default: <sweep dir>/compare.png for one dir, else ./compare.png)")
    p.add_argument("--no-plot", action="store_true", help="print the table only")
    p.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read the runs from the W&B API instead of run dirs")
    p.add_argument("--group", help="with --wandb: the W&B group (a sweep's group is its dir, as in the run's config)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.wandb:
            if args.paths or not args.group:
                raise DataError("--wandb ENTITY/PROJECT needs --group NAME and no run dirs")
            runs, declared = load_wandb_runs(args.wandb, args.group)
            default_plot = Path(f"compare-{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.group)}.png")
        else:
            if not args.paths:
                raise DataError("give a --multirun sweep dir or run dirs (or --wandb ENTITY/PROJECT --group NAME)")
            runs, declared = load_runs(args.paths)
            default_plot = args.paths[0] / "compare.png" if len(args.paths) == 1 and len(runs) > 1 else Path("compare.png")
        keys = swept_keys(runs, declared)
        metrics = metric_keys(runs, args.metrics)
        header, rows = table(runs, keys, metrics)
        first_metric = len(header) - len(metrics)
        sys.stdout.write(format_csv(header, rows) if args.format == "csv" else format_markdown(header, rows, first_metric))
        if not args.no_plot:
            if args.metric not in metrics and not any(args.metric in r.metrics for r in runs):
                print(f"idg.compare: no run has metric {args.metric!r}; no plot written", file=sys.stderr)
            else:
                from idg.report.figures import configure_matplotlib

                configure_matplotlib(Path(os.path.expanduser(os.environ.get("IDG_CACHE_DIR", "~/.cache/idg"))) / "matplotlib")
                out = plot(runs, keys, args.metric, args.plot or default_plot)
                print(f"idg.compare: plot written to {out}", file=sys.stderr)
    except IdgError as exc:
        print(f"idg.compare: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
