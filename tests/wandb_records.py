"""Read what an offline W&B run wrote, as W&B would upload it: the records of ``run-<id>.wandb``.

wandb 0.31 has no Python reader for its transaction log, so this is one: a 7-byte file header
(``:W&B``, magic, version) then LevelDB-log framing (32 KiB blocks; each chunk a 7-byte header of CRC,
little-endian length and type FULL/FIRST/MIDDLE/LAST), each assembled record a ``wandb.proto`` Record.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def raw_records(path: Path) -> Iterator[bytes]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        pos += HEADER
        chunk = data[pos:pos + length]
        pos += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""


@dataclass
class OfflineRun:
    """The parts of an offline run the tests look at."""

    dir: Path
    group: str = ""
    job_type: str = ""
    name: str = ""
    config: Dict[str, Any] = field(default_factory=dict)
    history_keys: set = field(default_factory=set)
    history: List[Dict[str, Any]] = field(default_factory=list)
    summary: Dict[str, Any] = field(default_factory=dict)
    artifacts: List[Any] = field(default_factory=list)

    def artifacts_of(self, kind: str) -> list:
        return [a for a in self.artifacts if a.type == kind]

    def media(self, pattern: str) -> List[Path]:
        return sorted((self.dir / "files" / "media").rglob(pattern))


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_run(run_dir: Path) -> OfflineRun:
    """Parse ``<run_dir>/run-*.wandb`` (``run_dir`` is an ``offline-run-*`` folder)."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log_file,) = list(Path(run_dir).glob("run-*.wandb"))
    run = OfflineRun(Path(run_dir))
    for raw in raw_records(log_file):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run.group, run.job_type, run.name = rec.run.run_group, rec.run.job_type, rec.run.display_name
            for item in rec.run.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            row = {_key(i): json.loads(i.value_json) for i in rec.history.item}
            run.history.append(row)
            run.history_keys.update(row)
        elif kind == "summary":
            for item in rec.summary.update:
                run.summary[_key(item)] = json.loads(item.value_json)
        elif kind == "artifact":
            run.artifacts.append(rec.artifact)
    return run


def offline_runs(run_dir: Path) -> List[OfflineRun]:
    """Every offline W&B run under an idg run dir (``<run dir>/wandb/offline-run-*``)."""
    return [read_run(p) for p in sorted((Path(run_dir) / "wandb").glob("offline-run-*"))]
