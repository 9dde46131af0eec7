"""One writer per run dir: an exclusive lock that dies with its process.

Two runs writing one run dir (a double-click, a SLURM requeue while the first job still runs, two shells)
would each append every image to the same journal. The first run takes an ``fcntl.flock`` on
``<run dir>/.idg.lock`` and holds it until it ends; a second run is refused at start-up with the pid and
host of the holder (exit 2). The kernel drops the lock when the holder exits in any way (SIGKILL, a power
cut, a preempted node), so a stale lock never blocks the next run: the lock file may stay, but a lock on it
does not, and a resubmitted job takes it and resumes. ``flock`` works across hosts on NFS (Linux maps it to
an NFS byte-range lock), so jobs on different nodes sharing a run dir exclude each other too.

Forked children (dataloader workers) inherit the lock with the open file and release it when they exit,
seconds after their parent at most. The lock file holds the holder's pid, host, start time and command,
only for the message; it is removed when the holder ends cleanly. Acquiring re-checks that the locked
file is still the one under the name (a releasing holder unlinks it before unlocking), so two runs never
both think they hold it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional

from idg.core.errors import RunDirError
from idg.core.layout import LOCK_NAME


class DirLock:
    """An exclusive, non-blocking lock on ``<dir>/.idg.lock``; use as a context manager."""

    def __init__(self, directory: str | os.PathLike, hint: str = "choose another hydra.run.dir"):
        self.dir = Path(directory)
        self.path = self.dir / LOCK_NAME
        self.hint = hint
        self.fd: Optional[int] = None

    def acquire(self) -> "DirLock":
        for _ in range(20):  # retried only when a holder released between our open and our lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies, as for any file
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise RunDirError(self.in_use_message()) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # we locked a file its last holder had already unlinked: take the new one
                os.close(fd)
                continue
            self.fd = fd
            self._write_holder()
            return self
        raise RunDirError(f"{self.dir}: could not take its lock {self.path} (it keeps changing); is another run starting?")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # while still locked: a run waiting on this file retries on the new name
        except FileNotFoundError:
            pass
        finally:
            os.close(self.fd)  # closing drops the lock
            self.fd = None

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _write_holder(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": sys.argv}
        data = (json.dumps(info) + "\n").encode()
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)
        except OSError:  # a full disk: the lock holds without its note (the run meets the full disk next)
            pass

    def holder(self) -> dict:
        """Who holds the lock, as its holder wrote it (empty while the holder is still writing it)."""
        for _ in range(10):
            try:
                info = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(info, dict):
                    return info
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        return {}

    def in_use_message(self) -> str:
        info = self.holder()
        pid = info.get("pid", "unknown")
        host = info.get("host")
        where = "" if not host or host == socket.gethostname() else f" on host {host}"
        since = f" (since {info['started']})" if info.get("started") else ""
        return (f"{self.dir} is in use by pid {pid}{where}{since}: one run writes a run dir at a time; wait for it "
                f"to finish (a later run with the same command resumes it), or {self.hint}")
