"""The export as a journal: which images a run dir already holds, so a rerun resumes where the last one
stopped.

An image is finished when its manifest line exists (written after its image and label files, see
``Engine.write``). :func:`prepare_output` checks the export belongs to this config (its generation
fingerprint), sweeps what an interrupted run left half-written, and returns the finished records.

Each line must be a manifest record (:meth:`idg.data.records.ImageRecord.from_dict`). A line that is not
(garbage from a disk error, a hand edit, valid JSON of something else) is skipped with one warning and
never ends the journal: every valid record before and after it is kept, so only images whose line was
damaged are generated again, with the same seeds and bytes.
"""

from __future__ import annotations

import json
import logging
import shutil
from typing import Dict, Optional

from idg.core.atomic import atomic_write_json, atomic_write_text, read_journal, remove_temp_files
from idg.core.config import IdgConfig
from idg.core.errors import RunDirError
from idg.core.keyed import ELSEWHERE, reuse_or_refuse
from idg.core.layout import ALL_SPLITS, SPLITS, DatasetLayout
from idg.data.records import ImageRecord
from idg.generate.plan import fingerprint, fingerprint_config

log = logging.getLogger(__name__)


def prepare_output(cfg: IdgConfig, layout: DatasetLayout, extra: Optional[dict] = None) -> Dict[int, dict]:
    """Check the run dir belongs to this config (and ``extra`` inputs: photos, a fitted prior), clean up
    after an interrupted run, return finished records.

    Raises RunDirError when the dir holds a different generation and ``overwrite`` is off.
    """
    fp = fingerprint(cfg, extra)
    if layout.generation.exists():
        if not cfg.resume:
            if not cfg.overwrite:
                raise RunDirError(f"{layout.root} exists and resume=false; pass overwrite=true to replace it, {ELSEWHERE}")
            previous = None
        else:
            previous = reuse_or_refuse(layout.generation, fp, field="fingerprint", overwrite=cfg.overwrite,
                                       differs="was generated with a different config", redo="replace it",
                                       name=layout.root)
        if previous is None:
            log.warning("overwrite=true: deleting %s", layout.root)
            shutil.rmtree(layout.root)
    elif layout.root.exists() and any(layout.root.iterdir()):
        if not cfg.overwrite:
            raise RunDirError(f"{layout.root} holds files that idg did not write; pass overwrite=true or choose another dir")
        shutil.rmtree(layout.root)
    for split in SPLITS:  # Ultralytics expects both; images/dropped/ appears with its first image
        for d in layout.split_dirs(split):
            d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(layout.generation, {"fingerprint": fp, "status": "running", "config": fingerprint_config(cfg)})
    remove_temp_files(layout.root)

    journal = read_journal(layout.manifest, repair=True, check=ImageRecord.from_dict)
    if journal.skipped:
        log.warning("%s; an image whose line it was is generated again", journal.describe_skipped(layout.manifest))
    done: Dict[int, dict] = {}
    for rec in journal.records:
        img, lab = layout.root / rec["image"], layout.root / rec["label"]
        if img.is_file() and lab.is_file():
            done[rec["index"]] = rec
    # Files of images whose manifest line never got written: they are redone from the same seeds.
    keep = {p for rec in done.values() for p in (layout.root / rec["image"], layout.root / rec["label"])}
    for split in ALL_SPLITS:
        for d in layout.split_dirs(split):
            for path in (d.iterdir() if d.is_dir() else ()):
                if path not in keep:
                    path.unlink()
    if journal.skipped or len(done) != len(journal.records):
        # Drop skipped lines, repeated images and lines whose files vanished, so the journal lists exactly
        # the finished images, once each.
        atomic_write_text(layout.manifest, "".join(json.dumps(r, sort_keys=True) + "\n" for r in done.values()))
    return done
