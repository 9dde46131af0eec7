"""Crash-safe file writes: a file exists under its final name only once it is complete.

Every output is written to a temporary file in the same directory, flushed to disk, then renamed over the
final name (``os.replace`` is atomic on POSIX). A kill at any moment leaves either the old file, the new
file, or a ``.tmp`` leftover that :func:`remove_temp_files` sweeps away; never a truncated file.

``mkstemp`` creates its file with mode 0600; a written file gets the mode a plain ``open()`` would give it
under the process's umask instead (0644 under umask 022), so a dataset on a shared filesystem is readable
by colleagues. A failed write (a full disk) raises the OSError with the final file's name, so the message
can say what was being written.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional

TMP_SUFFIX = ".tmp"
log = logging.getLogger(__name__)


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only be read by setting it, which
    would briefly change the mode of files other threads create)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new directory: 0777 minus the umask (``mkdtemp`` gives 0700)."""
    return 0o777 & ~current_umask()


def apply_umask(root: str | os.PathLike) -> None:
    """Give every file and dir under ``root`` (itself included) the mode ``open()`` / ``mkdir`` would: for
    trees written by libraries that create 0600 files (safetensors) or 0700 temp dirs (``mkdtemp``)."""
    files, dirs = file_mode(), dir_mode()
    os.chmod(root, dirs)
    for parent, subdirs, names in os.walk(root):
        for name in subdirs:
            os.chmod(os.path.join(parent, name), dirs)
        for name in names:
            path = os.path.join(parent, name)
            if not os.path.islink(path):
                os.chmod(path, files)


def with_filename(exc: OSError, path: str | os.PathLike, temp: Optional[str] = None) -> OSError:
    """``exc`` naming the file being written (an OSError from ``write`` or ``fsync`` names none; one from
    the temp file's creation or rename names the temp file)."""
    if exc.errno is None or (exc.filename is not None and exc.filename != temp):
        return exc
    return OSError(exc.errno, exc.strerror, str(path))


def _raise_named(exc: BaseException, path: str | os.PathLike, temp: Optional[str] = None) -> None:
    named = with_filename(exc, path, temp) if isinstance(exc, OSError) else exc
    if named is exc:
        raise exc
    raise named from exc


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        _raise_named(exc, path, exc.filename)
    try:
        try:
            os.fchmod(fd, file_mode())
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _raise_named(exc, path, tmp)
    return path


def atomic_create_bytes(path: str | os.PathLike, data: bytes) -> bool:
    """Write ``path`` once: a complete file appears under its name only if none was there, and an existing
    one is never replaced. Returns whether this call created it.

    For write-once entries shared by concurrent writers (the background cache on a network filesystem):
    the temp file is hard-linked to the final name (``link`` fails if the name exists, atomically, also on
    NFS), so the first complete write wins and every reader sees that one. Filesystems without hard links
    fall back to a rename, where a writer racing another may replace an entry with its own equal-keyed one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        _raise_named(exc, path, exc.filename)
    try:
        try:
            os.fchmod(fd, file_mode())
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    except BaseException as exc:
        _raise_named(exc, path, tmp)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


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
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        _raise_named(exc, path)


@dataclass
class Journal:
    """What :func:`read_journal` found: the valid records, in file order, and the lines it skipped."""

    records: List[dict] = field(default_factory=list)
    skipped: List[int] = field(default_factory=list)  # 1-based numbers of complete lines that are not records
    torn: bool = False  # the file ended in a partial line (a write a kill interrupted)

    def describe_skipped(self, path: str | os.PathLike) -> str:
        shown = ", ".join(map(str, self.skipped[:5])) + (", ..." if len(self.skipped) > 5 else "")
        return f"{path}: skipped {len(self.skipped)} line(s) that are not valid records (line {shown})"


def read_journal(path: str | os.PathLike, repair: bool = False,
                 check: Optional[Callable[[Any], Any]] = None) -> Journal:
    """Every valid record of a JSON-lines journal, whatever surrounds it.

    A line is a record when it parses as JSON and ``check`` (e.g. a typed record's ``from_dict``) accepts
    it; other complete lines (garbage from a disk error, a hand edit) are skipped and listed, never taken as
    the end of the journal, so no valid record after them is lost. A partial last line (a kill mid-append)
    is ignored and, with ``repair``, cut off the file so new lines append cleanly.
    """
    path = Path(path)
    journal = Journal()
    if not path.exists():
        return journal
    data = path.read_bytes()
    good_end = 0
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        if not raw.endswith(b"\n"):
            journal.torn = True
            break
        good_end += len(raw)
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if check is not None:
                check(record)
        except (ValueError, TypeError, KeyError):  # JSONDecodeError and RecordError are ValueErrors
            journal.skipped.append(number)
            continue
        journal.records.append(record)
    if repair and good_end != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    return journal


def read_jsonl(path: str | os.PathLike, repair: bool = False,
               check: Optional[Callable[[Any], Any]] = None) -> list[dict]:
    """The valid records of a JSON-lines file (see :func:`read_journal`); skipped lines are warned about."""
    journal = read_journal(path, repair=repair, check=check)
    if journal.skipped:
        log.warning("%s", journal.describe_skipped(path))
    return journal.records


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
