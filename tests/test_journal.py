"""The manifest journal keeps every valid record, whatever surrounds it.

Reproductions before the fix (a finished 4-image run, then the same command again): a line of garbage
inserted as line 2 made the resume keep image 0 only and regenerate images 1-3 (``read_jsonl`` stopped at
the first bad line); a valid-JSON line that is not a record (``{"hello": 1}``) crashed the resume with
``KeyError: 'image'`` (exit 1).
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import TINY_GEN, dataset_bytes, run_idg
from idg.core.atomic import read_journal
from idg.data.records import ImageRecord


def _lines(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_bad_lines_anywhere_are_skipped_and_every_valid_record_kept(tmp_path):
    good = [{"index": i} for i in range(4)]
    path = tmp_path / "journal.jsonl"
    path.write_text(_lines(good[:1]) + "garbage\n" + _lines(good[1:2]) + "\n" + '["a list"]\n' + _lines(good[2:])
                    + '{"torn": ')
    journal = read_journal(path, repair=True, check=lambda r: r["index"])
    assert journal.records == good
    assert journal.skipped == [2, 5] and journal.torn  # the blank line is no record but no damage either
    assert path.read_text().endswith(_lines(good[2:]))  # the torn tail is cut off, the rest left as it was
    assert "skipped 2 line(s) that are not valid records (line 2, 5)" in journal.describe_skipped(path)


def test_a_json_line_that_is_not_a_manifest_record_is_skipped(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"hello": 1}\n{"index": 0, "image": "images/train/000000.png"}\n')
    assert read_journal(path, check=ImageRecord.from_dict).skipped == [1, 2]


@pytest.mark.slow
def test_a_damaged_journal_resumes_keeping_every_valid_record(tmp_path, tiny_generation):
    """Garbage, a JSON line of something else and a truncated record in the middle: the resume keeps the
    three intact records, regenerates only the image whose line was damaged, warns once, and ends byte for
    byte where an uninterrupted run ends."""
    run = tmp_path / "run"
    shutil.copytree(tiny_generation, run)
    manifest = run / "dataset" / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    damaged = lines[2][: len(lines[2]) // 2] + "\n"  # the record of one image, cut in the middle
    manifest.write_text(lines[0] + "\x00\x17 not json\n" + lines[1] + '{"hello": 1}\n' + damaged + "".join(lines[3:]))
    res = run_idg([*TINY_GEN, f"hydra.run.dir={run}"])
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert out.count("skipped 3 line(s) that are not valid records (line 2, 4, 5)") == 1, out[-3000:]
    generated = json.loads((run / "dataset" / "generation.json").read_text())["stats"]
    assert (generated["images"], generated["images_skipped"]) == (1, 3)  # only the damaged one redone
    assert dataset_bytes(run / "dataset") == dataset_bytes(tiny_generation / "dataset")
