"""Carve a held-out test split from fire8's train split, by scene, so near-duplicate frames cannot leak.

fire8 (Roboflow "fire" v8) is mostly video frames: files named ``<video>_mp4-<frame>_jpg.rf.<hash>.jpg`` are
frames of one video, and the ``img_<n>_jpg.rf.<hash>.jpg`` files are frame dumps where consecutive numbers
are near-identical frames (and one number can name frames of two different videos). A split by file name
alone would leak, so images are grouped into *scenes*: the union of (a) same video name and (b) pairs of
images whose 64-bit pHash (``idg.generate.quality.phash``) differs in at most ``--distance`` bits, closed
transitively (connected components). Measured on fire8 at distance 6: 237 scenes over the 924 train+val
images; the 47 val images fall in 10 scenes that hold 472 of them, i.e. val is near-duplicates of half
of train.

The test split takes whole scenes that touch no val image, drawn in a seeded random order until it holds
``--test-share`` of the train images; train keeps every other train image. Writes, into ``--out``:
``train.txt``, ``test.txt`` (absolute image paths), ``data.yaml`` (train/val/test; val is fire8's own val
folder) and ``split.json`` (the scenes, the counts, the settings).

    python experiments/fire8_scenes/make_split.py --data ../shared/data/fire8/data.yaml --out /work/studies/fire8_split
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from idg.generate.quality import phash

VIDEO = re.compile(r"(.+?)(_mp4|_jpg\.rf|\.rf\.)")


def video_of(name: str) -> str | None:
    """The video a frame's file name names, or None for the ``img_<n>`` frame dumps (their numbers are not
    videos)."""
    m = VIDEO.match(name)
    stem = m.group(1) if m else name
    return None if stem.startswith("img_") else stem


def scenes(files: list[Path], distance: int) -> list[int]:
    """Scene id per file: connected components of same-video and pHash-near pairs."""
    n = len(files)
    hashes = np.array([phash(np.asarray(Image.open(f).convert("RGB"))) for f in files], dtype=np.uint64)
    bits = np.unpackbits(hashes.view(np.uint8).reshape(n, 8), axis=1)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i in range(n):
        near = np.nonzero((bits[i + 1 :] != bits[i]).sum(1) <= distance)[0] + i + 1
        for j in near:
            parent[find(i)] = find(int(j))
    first: dict[str, int] = {}
    for i, f in enumerate(files):
        v = video_of(f.name)
        if v is not None:
            parent[find(i)] = find(first.setdefault(v, i))
    roots = [find(i) for i in range(n)]
    ids = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return [ids[r] for r in roots]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="fire8 data.yaml (train/val folders)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--test-share", type=float, default=0.22, help="share of the train images moved to test")
    ap.add_argument("--distance", type=int, default=6, help="pHash bits within which two frames are one scene")
    ap.add_argument("--max-empty-share", type=float, default=0.2,
                    help="at most this share of test images without objects (fire8's empty frames are mostly "
                         "singleton scenes, so a plain draw of scenes over-samples them)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    data = Path(args.data).resolve()
    root = data.parent
    train = sorted((root / "images" / "train").iterdir())
    val = sorted((root / "images" / "val").iterdir())
    files = train + val
    scene = scenes(files, args.distance)
    val_scenes = {scene[i] for i in range(len(train), len(files))}
    members = collections.defaultdict(list)
    for i in range(len(train)):
        members[scene[i]].append(i)
    def boxes(i: int) -> list[str]:
        label = root / "labels" / "train" / (train[i].stem + ".txt")
        return [ln.split()[0] for ln in label.read_text().splitlines() if ln.strip()]

    free = sorted(s for s in members if s not in val_scenes)
    order = [free[k] for k in np.random.default_rng(args.seed).permutation(len(free))]
    target = int(round(args.test_share * len(train)))
    test_scenes, count, empty = [], 0, 0
    for s in order:
        if count >= target:
            break
        n_empty = sum(not boxes(i) for i in members[s])
        if n_empty and empty + n_empty > args.max_empty_share * target:
            continue
        test_scenes.append(s)
        count += len(members[s])
        empty += n_empty
    test = sorted(i for s in test_scenes for i in members[s])
    test_set = set(test)
    keep = [i for i in range(len(train)) if i not in test_set]

    def stats(idx: list[int]) -> dict:
        c = collections.Counter(cls for i in idx for cls in boxes(i))
        return {"images": len(idx), "empty": sum(not boxes(i) for i in idx), "fire_boxes": c.get("0", 0),
                "smoke_boxes": c.get("1", 0), "scenes": len({scene[i] for i in idx})}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("".join(f"{train[i]}\n" for i in keep))
    (out / "test.txt").write_text("".join(f"{train[i]}\n" for i in test))
    doc = {"path": str(out), "train": "train.txt", "val": str(root / "images" / "val"), "test": "test.txt",
           "nc": 2, "names": {0: "fire", 1: "smoke"}}
    (out / "data.yaml").write_text("# fire8 with a test split carved from train by scene (make_split.py)\n"
                                   + yaml.safe_dump(doc, sort_keys=False))
    summary = {"settings": vars(args), "scenes_total": len(set(scene)), "val_scenes": len(val_scenes),
               "train_images_in_val_scenes": sum(scene[i] in val_scenes for i in range(len(train))),
               "train": stats(keep), "test": stats(test), "val": len(val),
               "test_scene_sizes": sorted((len(members[s]) for s in test_scenes), reverse=True)[:10]}
    (out / "split.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
