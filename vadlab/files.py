"""Writes that never destroy: every file the lab writes goes to a temporary file in the same folder,
is flushed to disk (fsync) and only then renamed over its target (`os.replace`, atomic on POSIX),
so a kill at any moment leaves either the old file or the new one, never a truncated mix.

    atomic_write(path, text_or_bytes)          # one call
    with atomic_open(path) as handle:          # a file written in pieces; replaced on success only
        handle.write(...)
    tmp = temporary_name(path); library_save(tmp); commit(tmp, path)   # a library that writes to a path

A kill leaves at most a hidden temporary file (`.NAME.PID.XXXXXXXX.tmp`) beside the old target; the
next successful write of the same target removes the temporaries of processes that no longer run.

Files get the permissions a plain new file gets (0666 minus the umask, e.g. 0644), whatever the
library that wrote the temporary file chose, so a checkpoint's two files are readable alike.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Union

PathLike = Union[str, os.PathLike]


def temporary_name(target: Path) -> Path:
    """A fresh hidden name next to `target` (same folder, so the final rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or we cannot tell: keep its file
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries of `target` left by processes that were killed while writing it (never
    this process's: another of its threads may be writing). Returns what was removed."""
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        pid = tmp.name[len(target.name) + 2:].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _umask() -> int:
    """The process umask, read without changing it (Linux /proc); 0o022 when unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def file_mode() -> int:
    """The mode of a plain new file: 0666 minus the umask."""
    return 0o666 & ~_umask()


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: Path, target: Path) -> None:
    """fsync `tmp`, give it a plain file's mode, rename it over `target`, fsync the folder; then
    remove what killed writers of `target` left behind."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(tmp, file_mode())
    os.replace(tmp, target)
    fsync_folder(target.parent)
    remove_stale_temporaries(target)


@contextmanager
def atomic_open(path: PathLike, binary: bool = False, encoding: str = "utf-8") -> Iterator[IO]:
    """A handle on a temporary file next to `path`; when the block ends without an exception the
    file replaces `path` atomically, otherwise it is removed and `path` is untouched. Refuses a
    folder at `path` with an IsADirectoryError naming it."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a folder; give a file name to write")
    tmp = temporary_name(target)
    try:
        with open(tmp, "xb" if binary else "x", **({} if binary else {"encoding": encoding, "newline": ""})) as handle:
            yield handle
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: PathLike, data: Union[str, bytes], encoding: str = "utf-8") -> Path:
    """Write `data` (text or bytes) to `path` atomically (see `atomic_open`). Returns the path."""
    with atomic_open(path, binary=isinstance(data, bytes), encoding=encoding) as handle:
        handle.write(data)
    return Path(path)


class FileLockedError(ValueError):
    """Another run holds the lock on an output (the message names the output and the holder)."""


@contextmanager
def exclusive_lock(lock_path: PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` for the block (an OS lock, released when the process
    ends however it ends), or raise FileLockedError at once naming `what` and the holder. Two runs
    writing the same output, in two processes or two threads of one server, cannot both proceed."""
    import fcntl

    path = Path(lock_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            raise FileLockedError(f"{what} is being written by {holder}; wait for it to finish or choose another "
                                  "name") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
