"""Crash-safe file writes: a file exists under its final name only once it is complete.

Every output is written to a temporary file in the same directory, flushed to disk, then renamed over the
final name (``os.replace`` is atomic on POSIX). A kill at any moment leaves either the old file, the new
file, or a ``.tmp`` leftover that :func:`remove_temp_files` sweeps away; never a truncated file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

TMP_SUFFIX = ".tmp"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def encode_image(image, fmt: str) -> bytes:
    """PIL image -> file bytes; PNG and JPEG settings are fixed so the bytes are reproducible."""
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=6)
    else:
        image.convert("RGB").save(buf, format="JPEG", quality=95, subsampling=0)
    return buf.getvalue()


def atomic_save_image(path: str | os.PathLike, image, fmt: str) -> Path:
    return atomic_write_bytes(path, encode_image(image, fmt))


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one complete line and fsync. A kill mid-write leaves at most a partial last line, which
    :func:`read_jsonl` drops on the next start (the record it belonged to is redone)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike, repair: bool = False) -> list[dict]:
    """Records of a JSON-lines journal. A torn last line (from a kill) is ignored and, with ``repair``,
    cut off the file so new lines append cleanly."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    records, good_end = [], 0
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break
        try:
            records.append(json.loads(raw))
        except json.JSONDecodeError:
            break
        good_end += len(raw)
    if repair and good_end != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    return records


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def remove_temp_files(root: str | os.PathLike) -> int:
    """Delete leftovers of interrupted atomic writes under ``root`` (hidden ``.<name>.<random>.tmp`` files,
    as :func:`atomic_write_bytes` names them; other ``.tmp`` files are not idg's and are kept)."""
    n = 0
    for tmp in Path(root).rglob(f".*{TMP_SUFFIX}"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink()
            n += 1
    return n
