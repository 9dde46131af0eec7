"""Combine the shards of a sharded generation into one export, byte-identical to an unsharded run.

    python -m idg.merge multirun/forest_fire/2026-11-25_10-00-00 outputs/forest_fire_merged
    python -m idg.merge shard0_dir shard1_dir ... out_dir [--overwrite]

Each input is a run dir of ``generate.num_shards=K generate.shard=i stages=[generate]`` (or a multirun dir
holding such run dirs). The shards must come from the same generation config (same fingerprint), be
complete, and together hold every image exactly once. Images and labels keep their file names (the global
image index), so the merged manifest, labels, COCO JSON (ids = index + 1) and data.yaml equal what one
unsharded run writes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Sequence

from idg.core.disk import disk_full_message
from idg.core.errors import DataError, IdgError, RunDirError
from idg.core.layout import DatasetLayout, RunLayout
from idg.core.lock import DirLock
from idg.core.paths import check_dir
from idg.data.export import finalize, load_manifest

log = logging.getLogger(__name__)


def find_shards(paths: Sequence[str | Path]) -> List[Path]:
    """Run dirs with a ``dataset/generation.json``: the paths themselves or their subdirectories."""
    out: List[Path] = []
    for p in map(Path, paths):
        if RunLayout(p).dataset().generation.is_file():
            out.append(p)
        elif p.is_dir():
            found = sorted(d for d in p.iterdir() if RunLayout(d).dataset().generation.is_file())
            if not found:
                raise DataError(f"{p}: no shard run dirs (no dataset/generation.json) in it")
            out.extend(found)
        else:
            raise DataError(f"{p}: not a run dir or a multirun dir")
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # same filesystem: no copy, same bytes
    except OSError:
        shutil.copy2(src, dst)


def merge(shard_dirs: Sequence[Path], out_dir: Path, overwrite: bool = False) -> DatasetLayout:
    """Merge ``shard_dirs`` into ``<out_dir>/dataset``; raises DataError naming the offending shard."""
    infos: Dict[Path, dict] = {}
    for d in shard_dirs:
        gen = RunLayout(d).dataset().generation
        info = json.loads(gen.read_text())
        if info.get("status") != "complete":
            raise DataError(f"{gen}: shard {info.get('shard')} is not complete; rerun its command to finish it")
        infos[d] = info
    first_dir, first = next(iter(infos.items()))
    for d, info in infos.items():
        if info["fingerprint"] != first["fingerprint"]:
            raise DataError(f"{d}: generated with a different config than {first_dir} (fingerprint "
                            f"{info['fingerprint']} vs {first['fingerprint']})")
        if info["num_shards"] != first["num_shards"]:
            raise DataError(f"{d}: num_shards={info['num_shards']}, {first_dir} has {first['num_shards']}")
    shards = sorted(info["shard"] for info in infos.values())
    if shards != list(range(first["num_shards"])):
        raise DataError(f"shards {shards} given, expected each of 0..{first['num_shards'] - 1} exactly once")

    records: List[dict] = []
    sources: Dict[int, Path] = {}
    for d in shard_dirs:
        for rec in load_manifest(RunLayout(d).dataset_dir):
            if rec["index"] in sources:
                raise DataError(f"image {rec['index']} is in both {sources[rec['index']]} and {d}")
            sources[rec["index"]] = d
            records.append(rec)
    missing = sorted(set(range(first["total_images"])) - set(sources))
    if missing:
        raise DataError(f"the shards lack {len(missing)} image(s), e.g. index {missing[0]}")

    image_format = first["config"]["image_format"]
    check_dir(out_dir, "the output dir", "give a writable output dir")
    with DirLock(out_dir, hint="choose another output dir"):  # one merge (or run) writes it at a time
        return _write_merged(RunLayout(Path(out_dir)).dataset(image_format), records, sources, first, shard_dirs, overwrite)


def _write_merged(layout: DatasetLayout, records: List[dict], sources: Dict[int, Path], first: dict,
                  shard_dirs: Sequence[Path], overwrite: bool) -> DatasetLayout:
    if layout.root.exists() and any(layout.root.iterdir()):
        if not overwrite:
            raise RunDirError(f"{layout.root} is not empty; pass --overwrite to replace it")
        shutil.rmtree(layout.root)
    for rec in records:
        src = RunLayout(sources[rec["index"]]).dataset_dir
        for key in ("image", "label"):
            _link_or_copy(src / rec[key], layout.root / rec[key])
        for obj in rec.get("rejected") or []:  # rejected objects stay inspectable in the merged set too
            if obj.get("crop") and (src / obj["crop"]).is_file():
                _link_or_copy(src / obj["crop"], layout.root / obj["crop"])
    generation = {**first, "shard": 0, "num_shards": 1, "merged_from": [str(d) for d in shard_dirs],
                  "stats": {"images": len(records)}}
    finalize(layout, records, list(first["config"]["classes"]), generation)
    log.info("merged %d shards, %d images into %s", len(shard_dirs), len(records), layout.root)
    return layout


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m idg.merge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="shard run dirs or multirun dirs, then the output run dir")
    ap.add_argument("--overwrite", action="store_true", help="replace a non-empty output dataset")
    args = ap.parse_args(argv)
    if len(args.inputs) < 2:
        ap.error("give at least one shard (or multirun) dir and an output dir")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        layout = merge(find_shards(args.inputs[:-1]), Path(args.inputs[-1]), overwrite=args.overwrite)
    except IdgError as exc:
        print(f"idg.merge: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = disk_full_message(exc, args.inputs[-1])
        if message is None:
            raise
        print(f"idg.merge: error: {message}", file=sys.stderr)
        return 2
    print(layout.data_yaml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
