"""The fire8 scenes study's cross-variant table: each arm of the real_empty study against the same arm of the
generated-backgrounds study (same real subsets, seeds and evaluation images), seed-paired t-interval and
paired image bootstrap of the mAP50 difference, per split and real fraction. Also, when those runs exist,
the mask comparison (syn_only with copy_paste.mask=grabcut / contrast against mask=box) and the control
(each variant's synthetic arms at 10% real against real_only trained for as many image-steps as mixed).

    python experiments/fire8_scenes/compare_variants.py /work/studies/fire8_scenes > compare.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from idg.study.bootstrap import bootstrap_map50, load_image_stats
from idg.study.stats import mean_ci


def rows_of(run: Path) -> list:
    return json.loads((run / "results.json").read_text())["rows"]


def fmt(s: dict) -> str:
    return f"{s['mean']:+.4f} [{s['ci_low']:+.4f}, {s['ci_high']:+.4f}]" if s["ci_low"] is not None else f"{s['mean']:+.4f}"


def paired(a_rows: list, b_rows: list, arm_a: str, arm_b: str, split: str, fraction: float) -> tuple:
    a = {r["seed"]: r for r in a_rows if r["arm"] == arm_a and r["split"] == split and r["fraction"] == fraction}
    b = {r["seed"]: r for r in b_rows if r["arm"] == arm_b and r["split"] == split and r["fraction"] == fraction}
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    t = mean_ci([a[s]["map50"] - b[s]["map50"] for s in seeds])
    boot = bootstrap_map50([load_image_stats(Path(a[s]["image_stats"])) for s in seeds],
                           [load_image_stats(Path(b[s]["image_stats"])) for s in seeds], n_boot=1000)
    return len(seeds), t, boot


def table(title: str, a_rows: list, b_rows: list, pairs: list, fractions: list) -> list:
    out = [f"### {title}", "", "| split | real fraction | arms (A − B) | seeds | Δ mAP50, seed t-interval | Δ mAP50, image bootstrap |",
           "|---|---|---|---|---|---|"]
    for split in ("test", "val"):
        for f in fractions:
            for arm_a, arm_b in pairs:
                res = paired(a_rows, b_rows, arm_a, arm_b, split, f)
                if res:
                    n, t, boot = res
                    out.append(f"| {split} | {f:g} | {arm_a} − {arm_b} | {n} | {fmt(t)} | {fmt(boot)} |")
    return out + [""]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/studies/fire8_scenes")
    a, b = rows_of(out / "real_empty"), rows_of(out / "generated")
    fractions = sorted({r["fraction"] for r in a})
    lines = table("A (real_empty backgrounds) − B (generated backgrounds), same arm", a, b,
                  [(arm, arm) for arm in ("syn_only", "syn_then_real", "mixed")], fractions)
    for mask in ("grabcut", "contrast"):
        run = out / f"mask_{mask}"
        if (run / "results.json").is_file():
            lines += table(f"syn_only with copy_paste.mask={mask} − mask=box (A)", rows_of(run), a,
                           [("syn_only", "syn_only")], sorted({r["fraction"] for r in rows_of(run)}))
    control = out / "control_real_only_54ep"  # run_control.sh: real_only with the optimisation steps of mixed
    if (control / "results.json").is_file():
        c = rows_of(control)
        for name, rows in (("A", a), ("B", b)):
            lines += table(f"{name}'s synthetic arms − real_only trained 54 epochs (the control)", rows, c,
                           [(arm, "real_only") for arm in ("syn_only", "syn_then_real", "mixed")],
                           sorted({r["fraction"] for r in c}))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
