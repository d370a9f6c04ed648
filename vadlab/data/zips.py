"""Zips of frame images, checked before a byte of them is inflated: zip safety has this one home,
whoever reads the zip (`data.video.read_zip_of_frames` decodes an upload in memory, `userdata`
extracts one into a dataset).

`open_zip` opens the zip's bytes or path; `frame_entries` checks its directory and returns the frame
images; `copy_entry` streams one entry. Refused from the directory, before anything is inflated:
  * more than `max_entries` entries (when the reader sets a count);
  * more than `max_bytes` uncompressed, all entries' declared sizes together (a zip bomb is refused
    from its directory, never inflated);
  * an entry whose name is absolute, starts with a drive letter, has a '..' component or a NUL; a
    symbolic link; an encrypted entry;
  * an entry larger than an uncompressed frame at the pixel limit (`limits.check_image_file_bytes`);
  * no frame image, or frame images in more than one folder (directories, hidden files and
    `__MACOSX/` entries are ignored).
While streaming, an entry that outgrows its declared size is refused at once (so the bytes read
never pass the declared total either).

Each reader keeps its own error class (`error`), its own words for "too large" (`too_large`) and
for naming an entry in a size refusal (`entry_label`); the checks are the same for all.
"""
from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Optional, Sequence

from vadlab import limits

FrameEntry = tuple[PurePosixPath, zipfile.ZipInfo]  # an image's path inside the zip and its directory entry


def open_zip(source: bytes | str | Path, label: str, error: type[Exception]) -> zipfile.ZipFile:
    """The zip at `source` (its bytes, or a path: FileNotFoundError when missing); `error` for an
    empty file or one that is not a zip. `label` starts every message."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{label}: no such file ({path})")
        if path.stat().st_size == 0:
            raise error(f"{label}: not a zip file (0 bytes); upload it again")
        handle: object = path
    else:
        if len(source) == 0:
            raise error(f"{label}: not a zip file (0 bytes); upload it again")
        handle = io.BytesIO(source)
    try:
        return zipfile.ZipFile(handle)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, ValueError):
        raise error(f"{label}: not a zip file (or a damaged one); zip the frame images again") from None


def frame_entries(archive: zipfile.ZipFile, label: str, error: type[Exception], *, image_suffixes: Sequence[str],
                  max_bytes: int, too_large: Callable[[int], Exception], max_entries: Optional[int] = None,
                  entry_label: Optional[Callable[[str], str]] = None) -> list[FrameEntry]:
    """The frame images of a zip, in the zip's order, after checking its whole directory (the
    module docstring lists the checks). `too_large(total)` makes the refusal of a zip whose entries
    declare `total` > `max_bytes` bytes; `entry_label(name)` names an entry in a size refusal
    (`limits.LimitExceeded`; default "<label>: entry '<name>'"); everything else raises `error`."""
    entries = archive.infolist()
    if max_entries is not None and len(entries) > max_entries:
        raise error(f"{label}: {len(entries)} entries, over the {max_entries}-file limit for a zip; refusing it "
                    "before extracting anything")
    total = sum(entry.file_size for entry in entries)
    if total > max_bytes:
        raise too_large(total)
    images = []
    for entry in entries:
        raw = entry.filename
        posix = raw.replace("\\", "/")
        path = PurePosixPath(posix)
        if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in path.parts or "\x00" in raw:
            raise error(f"{label}: unsafe entry name '{raw}' (absolute path or '..'); refusing the zip")
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise error(f"{label}: entry '{raw}' is a symbolic link; refusing the zip")
        if entry.flag_bits & 0x1:
            raise error(f"{label}: entry '{raw}' is encrypted; zip the frames without a password")
        limits.check_image_file_bytes(entry.file_size, entry_label(raw) if entry_label else f"{label}: entry '{raw}'")
        if entry.is_dir() or not path.name or path.name.startswith(".") or path.parts[:1] == ("__MACOSX",):
            continue
        if path.suffix.lower() in image_suffixes:
            images.append((path, entry))
    if not images:
        raise error(f"{label}: no frame images in the zip ({'/'.join(e[1:] for e in image_suffixes)})")
    folders = sorted({str(p.parent) for p, _ in images})
    if len(folders) > 1:
        shown = ", ".join(f + "/" for f in folders[:4]) + (" ..." if len(folders) > 4 else "")
        raise error(f"{label}: frame images in {len(folders)} folders ({shown}); zip the frames of ONE video")
    return images


def copy_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, write: Callable[[bytes], object], label: str,
               error: type[Exception]) -> int:
    """Stream one entry to `write` in 1 MiB chunks (never read whole), refused with `error` as
    soon as it outgrows its declared size; the bytes written. zipfile checks the CRC at the end."""
    left = entry.file_size
    with archive.open(entry) as stream:
        while chunk := stream.read(1 << 20):
            left -= len(chunk)
            if left < 0:  # a directory that lies about sizes: stop at once
                raise error(f"{label}: entry '{entry.filename}' is larger than the zip declares; refusing the zip")
            write(chunk)
    return entry.file_size - left
