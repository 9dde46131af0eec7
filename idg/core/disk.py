"""A full disk: warned about at start-up, and one clear error (exit 2) instead of a traceback when it fills.

Nothing is lost when the disk fills: every file is written atomically (:mod:`idg.core.atomic`), so the
write that failed leaves no file under its final name, and the journal lists only finished images. The
same command, rerun once space is freed, resumes and produces the same bytes as an uninterrupted run.

:func:`space_warnings` compares a rough estimate of what the run will write (images x resolution^2 x 3
bytes, plus as much again for the cached backgrounds) with the free space of each filesystem involved.
:func:`disk_full_message` turns an ENOSPC / EDQUOT anywhere in an exception chain into
``no space left on <device> while writing <file>; free space and rerun the same command to resume``.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

from idg.core.errors import DiskFullError

if TYPE_CHECKING:
    from idg.core.config import IdgConfig

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
NEARLY_FULL = 1 << 20  # bytes: a failed write with less than this free is taken as a full disk
RESUME = "free space and rerun the same command to resume (finished work is kept)"


def _existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def mount_of(path: str | os.PathLike) -> Tuple[str, str]:
    """``(mount point, device)`` of the filesystem holding ``path`` (or its nearest existing ancestor)."""
    target = os.path.realpath(_existing(Path(os.path.abspath(path))))
    best, device = "/", ""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 2:
                    continue
                point = parts[1].replace("\\040", " ")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, device = point, parts[0]
    except OSError:  # not Linux: walk up to where the device changes
        dev = os.stat(target).st_dev
        p = Path(target)
        while p.parent != p and os.stat(p.parent).st_dev == dev:
            p = p.parent
        best = str(p)
    return best, device


def describe_device(path: str | os.PathLike) -> str:
    point, device = mount_of(path)
    return f"{point} ({device})" if device and device != point else point


def free_bytes(path: str | os.PathLike) -> int:
    st = os.statvfs(_existing(Path(os.path.abspath(path))))
    return st.f_bavail * st.f_frsize


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def disk_full_message(exc: BaseException, written_in: Optional[str | os.PathLike] = None) -> Optional[str]:
    """The one-paragraph message for an exception caused by a full disk or quota, else None.

    An OSError with errno ENOSPC/EDQUOT anywhere in the chain names its file. Libraries that hide the
    errno (``torch.save`` raises a RuntimeError "file write failed") are recognised by the filesystem of
    ``written_in`` (the run dir) having under 1 MiB left."""
    full = [e for e in _chain(exc) if isinstance(e, OSError) and e.errno in DISK_FULL]
    if full:
        # The first write that failed, named (later ones, e.g. recording the failure, follow from it; the
        # innermost may be the unnamed original that idg.core.atomic re-raised with its file's name).
        e = next((e for e in reversed(full) if e.filename or e.filename2), full[-1])
        where = e.filename or e.filename2 or written_in
        what = "no space left" if e.errno == errno.ENOSPC else "disk quota exceeded"
        file = f" while writing {where}" if where else ""
        device = describe_device(where) if where else "the disk"
        return f"{what} on {device}{file}; {RESUME}"
    if written_in is not None and isinstance(exc, (OSError, RuntimeError)):
        try:
            nearly_full = free_bytes(written_in) < NEARLY_FULL
        except OSError:
            nearly_full = False
        if nearly_full:
            return f"no space left on {describe_device(written_in)} while writing in {written_in}; {RESUME}"
    return None


@contextlib.contextmanager
def disk_full_is_a_user_error(run_dir: str | os.PathLike) -> Iterator[None]:
    """Re-raise a full-disk failure inside the block as a :class:`DiskFullError` (exit 2, one paragraph)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        message = disk_full_message(exc, run_dir)
        if message is None:
            raise
        raise DiskFullError(message) from exc


# ------------------------------------------------------------------------------------ start-up estimate


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _images_left(cfg: "IdgConfig", run_dir: Path) -> int:
    from idg.core.layout import RunLayout

    total = cfg.generate.num_images or sum(bg.num_images for bg in cfg.background.prompts)
    shard = -(-total // cfg.generate.num_shards)
    sets = sum(len(cfg.study.fractions) * len(cfg.study.seeds) if g == "copy_paste" else 1 for g in cfg.generators)
    manifest = RunLayout(run_dir).dataset_dir / "manifest.jsonl"
    try:
        done = manifest.read_bytes().count(b"\n") if cfg.generate.generator == "diffusion" else 0
    except OSError:
        done = 0
    return max(0, shard * sets - done)


def space_needed(cfg: "IdgConfig", run_dir: Path) -> Dict[str, Tuple[int, List[str]]]:
    """Rough bytes this run will write, by mount point: ``{mount: (bytes, [what])}``."""
    if "generate" not in cfg.stages:
        return {}
    n = _images_left(cfg, run_dir)
    per_image = cfg.generate.resolution ** 2 * 3 // (8 if cfg.generate.image_format == "jpg" else 1)
    needs: Dict[str, Tuple[int, List[str]]] = {}

    def add(path: Path, size: int, what: str) -> None:
        point = mount_of(path)[0]
        total, whats = needs.get(point, (0, []))
        needs[point] = (total + size, whats + [what])

    add(run_dir, n * per_image, f"{n} images at {cfg.generate.resolution} px")
    if cfg.generate.use_cache:
        add(Path(cfg.generate.cache_dir), n * cfg.generate.resolution ** 2 * 3, "their cached backgrounds")
    return needs


def space_warnings(cfg: "IdgConfig", run_dir: Path) -> List[str]:
    """One warning per filesystem with less free space than this run roughly needs."""
    out = []
    for point, (needed, whats) in space_needed(cfg, run_dir).items():
        try:
            free = free_bytes(point)
        except OSError:
            continue
        if needed > free:
            out.append(f"{describe_device(point)} has {_human(free)} free, but {' and '.join(whats)} need about "
                       f"{_human(needed)}; if it fills up the run stops with a clear error, and rerunning the same "
                       "command after freeing space resumes it")
    return out
