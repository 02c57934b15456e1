"""Atomic file writes: write a temporary file in the target's directory, fsync, then rename it
over the target. A process killed at any moment leaves the old file or the new one, never a torn
one, and no temporary debris survives an exception (a SIGKILL does leave the temporary file:
`remove_stale_temporaries` clears those from a directory whose writer holds `DirectoryLock`).

A write that fails (disk full, read-only location, a directory in the way) raises `WriteError`:
a CondganError, so the CLI prints one line naming the target file, and an OSError with the
original errno, so library callers can still catch it as one.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from condgan.errors import CondganError

# mkstemp's names: f".{target}.{8 random chars}{suffix}". Only names of this shape are removed.
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}(\.tmp|\.part)$")


class WriteError(CondganError, OSError):
    """Writing `path` failed at the operating-system level."""

    def __init__(self, path: str | os.PathLike, cause: OSError):
        OSError.__init__(self, cause.errno, cause.strerror, str(path))
        self.message = f"cannot write '{path}': {cause.strerror or cause}"
        if cause.errno == errno.ENOSPC:
            self.message += " (free some space and re-run; the previous file is kept)"

    def __str__(self) -> str:
        return self.message


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path next to `path`; on success it replaces `path` (mode 0644).

    An OSError raised while creating, writing or renaming becomes a WriteError naming `path`
    (not the temporary name, which means nothing to the user)."""
    path = Path(path)
    if path.is_dir():
        raise CondganError(f"cannot write '{path}': it is a directory; name a file inside it instead")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
    except OSError as e:
        raise WriteError(path, e) from e
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs and caches are fine to share
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(path, e) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files `atomic_path` left in `directory` when its process was
    killed (SIGKILL, power loss: no exception handler ran). A checkpoint's leftover is as big as
    the checkpoint and nothing else ever removes it.

    Only names `atomic_path` creates are touched, and only call this while holding the
    directory's `DirectoryLock`: another live writer's temporary file looks the same."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for entry in directory.iterdir():
        if entry.is_file() and _TEMP_NAME.match(entry.name):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


class DirectoryLock:
    """An exclusive, advisory lock on a directory (`DIR/.lock`, `fcntl.flock`), holding the
    owner's PID for the error message.

    Why flock: the kernel releases it when the process dies, however it dies, so a kill -9
    never leaves a stale lock to clean up by hand (a PID file alone would). The lock file itself
    is never deleted: deleting it would let a third process lock a new inode while the second
    still holds the old one. Where fcntl does not exist (Windows) the lock is a no-op.
    """

    NAME = ".lock"

    def __init__(self, directory: str | os.PathLike, what: str = "directory"):
        self.directory = Path(directory)
        self.path = self.directory / self.NAME
        self.what = what
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> "DirectoryLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise WriteError(self.directory, e) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CondganError(
                f"{self.what} '{self.directory}' is in use by another process (PID {self.holder()}); "
                "wait for it to finish or stop it, or use another directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
