"""One process per run folder: ``DIR/.lock``, held with ``flock`` for the run's lifetime.

Two trainings into one folder would interleave their checkpoints, traces and logs into a run that is
neither (config.yaml of one, traces of the other). The first `hiper-repro train` takes an exclusive
``flock`` on ``DIR/.lock`` and writes its process id there; a second one fails at once with
:class:`RunFolderInUse` naming the folder and that process id.

A lock is never stale in the kernel: ``flock`` locks vanish with the process that held them, however it
died, so a folder left by a killed training is taken over by the next one. The file itself stays (it is
never deleted: a process that opened it just before the unlink would lock an orphan), and a pid left in it
by a process that did not release it cleanly tells the next holder it took over a stale lock.
Under ``torchrun``/``accelerate launch`` only rank 0 takes it: the other ranks are the same run.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"


class RunFolderInUse(ValueError):
    """Another live process trains into the folder; the message names the folder and its process id."""


def _holder(fd: int) -> str:
    """The process id written in the lock file, or 'unknown' when it holds none (yet)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", errors="replace").strip()
    return text if text.isdigit() else "unknown"


@contextmanager
def run_lock(out: str | os.PathLike) -> Iterator[str | None]:
    """Hold ``out/.lock`` for the block; yields the process id of a stale holder it took over, or None.

    Raises :class:`RunFolderInUse` when a live process holds it, OSError (naming the file) when the
    folder cannot hold a lock.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OSError(err.errno, f"{path}: cannot lock the run folder ({err.strerror})") from None
            raise RunFolderInUse(
                f"{folder} is in use by another `hiper-repro train` (process {_holder(fd)}, see {path}): "
                "wait for it to end, or train into another --out"
            ) from None
        stale = _holder(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        os.fsync(fd)
        try:
            yield None if stale == "unknown" else stale
        finally:
            os.ftruncate(fd, 0)  # released by this process: the next holder finds no pid, no stale lock
    finally:
        os.close(fd)  # closing the descriptor releases the flock
