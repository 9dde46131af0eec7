"""An export of a generated set: the index files written once its images are complete, and reading it back.

See :class:`idg.core.layout.DatasetLayout` for the files. The manifest journal (one line per finished image,
appended as images are written) is rewritten here sorted by index, next to data.yaml (YOLO), annotations.json
(COCO) and generation.json (what the images depend on, and generation stats).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

from idg.core.atomic import atomic_write_json, read_jsonl, write_jsonl
from idg.core.layout import SPLITS, DatasetLayout
from idg.data.coco import write_coco
from idg.data.yolo import write_data_yaml


def finalize(layout: DatasetLayout, records: List[dict], names: Sequence[str], generation: Dict) -> None:
    """Write the index files of a complete export: sorted manifest, data.yaml, COCO, generation.json."""
    records = sorted(records, key=lambda r: r["index"])
    write_jsonl(layout.manifest, records)
    exported = [r for r in records if r["split"] in SPLITS]  # not the dropped autolabel images
    write_data_yaml(layout, names, has_val=any(r["split"] == "val" for r in exported))
    write_coco(layout, exported, names)
    atomic_write_json(layout.generation, generation)


def load_manifest(root: str | Path) -> List[dict]:
    """Manifest records of an export, one per image, in index order."""
    return sorted(read_jsonl(Path(root) / "manifest.jsonl"), key=lambda r: r["index"])
