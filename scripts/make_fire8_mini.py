"""Rebuild data/fire8_mini (the real-data subset bundled for the smoke study) from the full fire8 set.

    python scripts/make_fire8_mini.py ../shared/data/fire8 data/fire8_mini

fire8 is CC BY 4.0 (see its SOURCE.txt, copied alongside), which allows redistribution with attribution.
Picks, with a fixed seed, 30 train images (24 with objects, both classes present, 6 without) and 10 val
images from distinct source videos where possible.
"""

import random
import shutil
import sys
from pathlib import Path


def pick(src: Path, split: str, n_obj: int, n_empty: int, rng: random.Random) -> list:
    labels = sorted((src / "labels" / split).glob("*.txt"))
    with_obj = [l for l in labels if l.read_text().strip()]
    empty = [l for l in labels if not l.read_text().strip()]
    rng.shuffle(with_obj)
    rng.shuffle(empty)
    chosen, videos = [], set()
    for l in with_obj:  # one frame per source video first, for variety
        video = l.name.split("_")[0]
        if video not in videos:
            chosen.append(l)
            videos.add(video)
        if len(chosen) == n_obj:
            break
    chosen += [l for l in with_obj if l not in chosen][: n_obj - len(chosen)]
    return chosen + empty[:n_empty]


def main(src: str, dst: str) -> None:
    src, dst = Path(src), Path(dst)
    rng = random.Random(8)
    for split, n_obj, n_empty in (("train", 24, 6), ("val", 10, 0)):
        (dst / "images" / split).mkdir(parents=True, exist_ok=True)
        (dst / "labels" / split).mkdir(parents=True, exist_ok=True)
        for label in pick(src, split, n_obj, n_empty, rng):
            image = next((src / "images" / split).glob(label.stem + ".*"))
            shutil.copy2(image, dst / "images" / split / image.name)
            shutil.copy2(label, dst / "labels" / split / label.name)
    shutil.copy2(src / "SOURCE.txt", dst / "SOURCE.txt")
    (dst / "data.yaml").write_text(
        "# 40-image subset of fire8 (CC BY 4.0, attribution in SOURCE.txt), bundled for the smoke study.\n"
        "# Rebuilt by scripts/make_fire8_mini.py. Paths are relative to this file.\n"
        "train: images/train\nval: images/val\nnc: 2\nnames:\n  0: fire\n  1: smoke\n"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
