"""Decode videos and frame folders into uint8 frames `(T, H, W, C)` with bounded memory.

Inputs: video files (.mp4 .avi .mkv .mov .webm), folders of frame images (.jpg .jpeg .png .tif
.tiff .bmp, sorted naturally by file name: 2.png before 10.png) and zip files of frame images.
Output: a `Video` whose `frames` are uint8 (T, H, W, 3) RGB (grey sources repeat their channel).

Memory is bounded, whatever the input:
  * at most `max_frames` frames are decoded (`Video.truncated` says there were more);
  * frames whose longer side exceeds `max_side` are shrunk (aspect ratio kept) with torch area
    interpolation right after each chunk is decoded, so only one chunk ever exists at native
    resolution; a chunk holds at most 64 frames and at most ~64 MB of native-size pixels.
  So `frames` is at most max_frames x max_side^2 x 3 bytes (3000 x 640 x 480 x 3 = 2.8 GB for a
  4:3 source at the defaults; pass smaller limits for a lighter load).

Streaming (bounded memory whatever the length): `iter_video` decodes a whole file chunk by chunk
(the same frames as `read_video`, never all held). Frames that arrive over time (a URL, a camera,
a recording still being written) are `vadlab.data.sources`'; zip safety is `vadlab.data.zips`'.

Decoders: decord first (fast random access), PyAV when decord fails. decord 0.6 mis-decodes some
frame widths (e.g. 8, 12, 16, 24, 48, 72 px): `get_batch` raises a size-mismatch error and single
frames come back with 4, 6 or 8 "channels". Every decord batch is therefore checked against the
frame size the container declares, and any mismatch or decord exception sends the whole file to
PyAV. Neither decoder is ever asked to resize. Decoder failures surface as `VideoDecodeError`
whose message starts with the file name and says what to do, never as a C++ traceback.
"""
from __future__ import annotations


import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vadlab import limits
from vadlab.data import zips
from vadlab.limits import LimitExceeded

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
FOLDER_FPS = 25.0  # frame folders carry no frame rate; this is what `fps` says for them
MAX_CHUNK_FRAMES = 64
MAX_CHUNK_BYTES = 64 * 1024 * 1024  # native-resolution uint8 pixels held at once while decoding


class VideoDecodeError(ValueError):
    """A video, frame folder or zip that cannot be turned into frames.

    The message starts with the file name, says what is wrong and what to do, e.g.
    `clip.mp4: no video stream (audio only?)`.
    """


@dataclass
class VideoInfo:
    """What a source holds. `width` x `height` is the NATIVE frame size in pixels (before any
    downscale); `n_frames` counts the frames of the whole source (container metadata for files,
    image count for folders); `decoder` is "decord", "pyav" or "images"."""

    path: str
    fps: float
    n_frames: int
    width: int
    height: int
    decoder: str


@dataclass
class Video:
    """Decoded frames. `frames`: uint8 (T, H, W, 3) RGB, T <= max_frames, max(H, W) <= max_side.
    `downscaled`: frames were shrunk from `info.width` x `info.height`.
    `truncated`: the source had frames after the last decoded one (max_frames reached)."""

    frames: np.ndarray
    info: VideoInfo
    downscaled: bool
    truncated: bool

    @property
    def n_frames(self) -> int:
        """Number of decoded frames, T."""
        return int(self.frames.shape[0])


# ---- helpers --------------------------------------------------------------------------------
def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers numerically: 'f2.png' < 'f10.png'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_image_file(path: Path) -> bool:
    """A visible file with a frame-image extension (case-insensitive)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def list_frame_files(folder: str | Path) -> list[Path]:
    """The frame images of a folder, sorted naturally; hidden and non-image files are ignored."""
    folder = Path(folder)
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: natural_key(p.name))


def count_frames(source: str | Path) -> int:
    """Number of frames of a video file (container metadata, no decoding) or frame folder."""
    source = Path(source)
    if source.is_dir():
        return len(list_frame_files(source))
    return probe_video(source).n_frames


def _check_limits(max_frames: Optional[int], max_side: Optional[int], start: int) -> None:
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 (or None for no limit), got {max_frames}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1 (or None for no limit), got {max_side}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")


def _target_size(height: int, width: int, max_side: Optional[int]) -> tuple[int, int]:
    """(h, w) after shrinking so that the longer side is at most `max_side` (aspect ratio kept)."""
    longer = max(height, width)
    if max_side is None or longer <= max_side:
        return height, width
    scale = max_side / longer
    return max(1, round(height * scale)), max(1, round(width * scale))


def _chunk_frames(height: int, width: int) -> int:
    """Frames per decode chunk: at most 64 and at most MAX_CHUNK_BYTES of native pixels."""
    return int(max(1, min(MAX_CHUNK_FRAMES, MAX_CHUNK_BYTES // max(1, height * width * 3))))


def _downscale(chunk: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (n, H, W, 3) -> uint8 (n, h, w, 3) by torch area interpolation (no-op when same size)."""
    if chunk.shape[1:3] == size:
        return chunk
    x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2).float()  # (n, 3, H, W)
    x = F.interpolate(x, size=size, mode="area")  # (n, 3, h, w)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()  # (n, h, w, 3)


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * len(text)


def _short(exc: BaseException) -> str:
    """One line of an exception's message (decord messages carry a C++ file:line prefix)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    msg = lines[0] if lines else type(exc).__name__
    msg = re.sub(r"^\[[\d:]+\]\s*\S+:\d+:\s*", "", msg)  # "[06:06:55] src/x.cc:171: " prefix
    msg = re.sub(r"^\[Errno -?\d+\]\s*", "", msg)  # PyAV's errno prefix
    msg = re.sub(r":\s*'[^']*'$", "", msg)  # PyAV appends the (possibly temporary) file path
    return msg[:200]


def _check_video_file(path: Path, label: str) -> None:
    """Errors that need no decoder: missing, wrong extension, empty, text."""
    if not path.exists():
        raise FileNotFoundError(f"{label}: no such file or folder ({path})")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise VideoDecodeError(
            f"{label}: unsupported file type '{path.suffix or '(none)'}'; give a video "
            f"({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames ({', '.join(IMAGE_EXTENSIONS)})"
        )
    size = path.stat().st_size
    if size == 0:
        raise VideoDecodeError(f"{label}: not a video file (0 bytes); the file is empty, upload or copy it again")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if _looks_like_text(head):
        raise VideoDecodeError(f"{label}: not a decodable video (looks like text); give a real video file")


# ---- probing --------------------------------------------------------------------------------
def _probe_file(path: Path, label: str) -> VideoInfo:
    import av

    _check_video_file(path, label)
    try:
        container = av.open(str(path))
    except Exception as exc:  # av.FFmpegError, OSError, ...
        raise VideoDecodeError(
            f"{label}: not a decodable video, corrupt or truncated file? (ffmpeg: {_short(exc)})"
        ) from None
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoDecodeError(
                f"{label}: no video stream (audio only?); streams found: {', '.join(kinds)}"
            )
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if width <= 0 or height <= 0:
            raise VideoDecodeError(f"{label}: video stream has no frame size; the file is probably corrupt")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else FOLDER_FPS
        n_frames = int(stream.frames or 0)
        if n_frames <= 0:  # mkv/webm do not store a count: count packets (demux only, no decoding)
            try:
                n_frames = sum(1 for packet in container.demux(stream) if packet.size)
            except Exception as exc:
                raise VideoDecodeError(
                    f"{label}: cannot read the video packets, corrupt or truncated file? (ffmpeg: {_short(exc)})"
                ) from None
        return VideoInfo(path=label, fps=fps, n_frames=n_frames, width=width, height=height, decoder="pyav")
    finally:
        container.close()


def _probe_folder(path: Path, label: str, fps: float) -> tuple[VideoInfo, list[Path]]:
    from PIL import Image

    files = list_frame_files(path)
    if not files:
        raise VideoDecodeError(
            f"{label}: empty frame folder, no {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images in it"
        )
    try:
        with Image.open(files[0]) as img:
            width, height = img.size
    except Exception as exc:
        raise VideoDecodeError(f"{label}/{files[0].name}: not a readable image ({_short(exc)})") from None
    return VideoInfo(path=label, fps=fps, n_frames=len(files), width=width, height=height, decoder="images"), files


def probe_video(path: str | Path, folder_fps: float = FOLDER_FPS) -> VideoInfo:
    """Frame rate, frame count and native size of a video file or frame folder, without decoding
    the frames (container metadata; mkv/webm packets are counted). `decoder` is "pyav" for files
    (the reader of the metadata) and "images" for folders; frame folders report `folder_fps`."""
    path = Path(path)
    if path.is_dir():
        return _probe_folder(path, path.name, folder_fps)[0]
    return _probe_file(path, path.name)


# ---- frame images (folders and zips) ----------------------------------------------------------
def _image_to_rgb(img, label: str) -> np.ndarray:
    """PIL image -> uint8 (H, W, 3). 16-bit grey keeps its top 8 bits. Its size is checked against
    limits.FRAME_PIXELS from the header, before any pixel is decoded."""
    limits.check_frame_pixels(img.width, img.height, label)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = (np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("I", "F"):
        raise VideoDecodeError(f"{label}: {img.mode}-mode (32-bit) images are not supported; save frames as 8-bit")
    return np.asarray(img.convert("RGB"))


def _frames_from_images(
    names: Sequence[str],
    open_image: Callable[[int], object],
    label: str,
    fps: float,
    max_frames: Optional[int],
    max_side: Optional[int],
    start: int,
    max_bytes: bool = False,
) -> Video:
    """Decode images `names[start:start+max_frames]` (opened by `open_image(i)`) chunk by chunk;
    max_bytes: also stop at limits.DECODED_BYTES of decoded frames."""
    total = len(names)
    if start >= total:
        raise ValueError(f"{label}: start={start} is past the last frame ({total} frames)")
    first = _read_image(open_image, names, start, label)
    height, width = first.shape[:2]
    size = _target_size(height, width, max_side)
    if max_bytes:
        max_frames = limits.frames_within_budget(max_frames, *size)
    stop = total if max_frames is None else min(total, start + max_frames)
    chunk_len = _chunk_frames(height, width)
    out = np.empty((stop - start, *size, 3), dtype=np.uint8)
    for chunk_start in range(start, stop, chunk_len):
        chunk_stop = min(stop, chunk_start + chunk_len)
        chunk = np.empty((chunk_stop - chunk_start, height, width, 3), dtype=np.uint8)
        for i in range(chunk_start, chunk_stop):
            frame = first if i == start else _read_image(open_image, names, i, label)
            if frame.shape[:2] != (height, width):
                raise VideoDecodeError(
                    f"{label}: frames have mixed sizes: {names[start]} is {width}x{height} but "
                    f"{names[i]} is {frame.shape[1]}x{frame.shape[0]} (W x H); every frame of a video "
                    "must have the same size"
                )
            chunk[i - chunk_start] = frame
        out[chunk_start - start : chunk_stop - start] = _downscale(chunk, size)
    info = VideoInfo(path=label, fps=fps, n_frames=total, width=width, height=height, decoder="images")
    return Video(frames=out, info=info, downscaled=size != (height, width), truncated=stop < total)


def _read_image(open_image: Callable[[int], object], names: Sequence[str], i: int, label: str) -> np.ndarray:
    try:
        with open_image(i) as img:
            return _image_to_rgb(img, f"{label}/{names[i]}")
    except (VideoDecodeError, LimitExceeded):
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError on truncated files, ...
        raise VideoDecodeError(f"{label}/{names[i]}: not a readable image ({_short(exc)}); remove or replace it") from None


def read_frames_folder(
    path: str | Path,
    max_frames: Optional[int] = 3000,
    max_side: Optional[int] = 640,
    start: int = 0,
    fps: float = FOLDER_FPS,
    name: Optional[str] = None,
    max_bytes: bool = False,
) -> Video:
    """Read a folder of frame images (sorted naturally by name) as uint8 (T, H, W, 3).

    Images must all have the same size; grey images are repeated to 3 channels. Limits as in
    `read_video`. `fps` is reported in `info.fps` (folders carry none)."""
    from PIL import Image

    _check_limits(max_frames, max_side, start)
    path = Path(path)
    label = name or path.name
    if not path.is_dir():
        raise FileNotFoundError(f"{label}: no such folder ({path})")
    info, files = _probe_folder(path, label, fps)
    return _frames_from_images(
        [f.name for f in files], lambda i: Image.open(files[i]), label, fps, max_frames, max_side, start, max_bytes
    )


def read_zip_of_frames(
    source: bytes | str | Path,
    max_frames: Optional[int] = 3000,
    max_side: Optional[int] = 640,
    start: int = 0,
    fps: float = FOLDER_FPS,
    name: str = "frames.zip",
    max_total_bytes: Optional[int] = None,
    max_bytes: bool = False,
) -> Video:
    """Read a zip of frame images (an upload of one video's frames) as uint8 (T, H, W, 3).

    Safe and bounded (`vadlab.data.zips`: the zip's directory is checked before anything is read):
    nothing is extracted to disk; directories, hidden files and `__MACOSX/` entries are ignored;
    entries with absolute paths or `..` components, symbolic links and encrypted entries are
    refused; the entries' total uncompressed size must not exceed `max_total_bytes` (default
    limits.ZIP_BYTES) and no entry may exceed limits.max_image_file_bytes; an entry is streamed,
    never read whole, and refused as soon as it outgrows its declared size; all images must sit in
    one folder. `source` is the zip's bytes or a path to it; `name` labels messages when bytes are
    given. max_bytes: also stop at limits.DECODED_BYTES of decoded frames."""
    from PIL import Image

    _check_limits(max_frames, max_side, start)
    if isinstance(source, (str, Path)):
        name = Path(source).name
    cap = limits.ZIP_BYTES.value() if max_total_bytes is None else max_total_bytes
    with zips.open_zip(source, name, VideoDecodeError) as archive:
        entries = zips.frame_entries(
            archive, name, VideoDecodeError, image_suffixes=IMAGE_EXTENSIONS, max_bytes=cap,
            too_large=lambda total: _zip_refusal(name, f"images total {total / limits.MB:,.0f} MB uncompressed", cap,
                                                 max_total_bytes),
            entry_label=lambda raw: f"{name}/{PurePosixPath(raw).name}")
        entries.sort(key=lambda item: natural_key(item[0].name))
        names = [p.name for p, _ in entries]

        def open_image(i: int):
            buffer = io.BytesIO()
            zips.copy_entry(archive, entries[i][1], buffer.write, name, VideoDecodeError)
            buffer.seek(0)
            return Image.open(buffer)

        return _frames_from_images(names, open_image, name, fps, max_frames, max_side, start, max_bytes)


def _zip_refusal(name: str, amount: str, cap: int, given: Optional[int]) -> Exception:
    if given is None:
        return limits.ZIP_BYTES.refuse(name, amount, "upload fewer or smaller frames")
    return VideoDecodeError(f"{name}: {amount}, over the {cap / 1e6:.0f} MB limit; upload fewer or smaller frames")


# ---- video files ------------------------------------------------------------------------------
class _DecordFailed(Exception):
    """decord could not (correctly) decode this file; PyAV takes over."""


def _open_decord(path: Path) -> tuple[object, int]:
    """(decord VideoReader, frame count), or _DecordFailed so that PyAV takes over."""
    try:
        import decord
    except ImportError as exc:  # pragma: no cover - decord is a dependency, but keep PyAV working
        raise _DecordFailed("decord not installed") from exc
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        total = len(reader)
    except Exception as exc:
        raise _DecordFailed(_short(exc)) from None
    if total <= 0:
        raise _DecordFailed("no frames")
    return reader, total


def _decord_chunks(reader, info: VideoInfo, size: tuple[int, int], start: int, stop: int) -> Iterator[np.ndarray]:
    """Frames [start, stop) as downscaled uint8 chunks (n, h, w, 3), every batch's shape checked
    (decord 0.6 returns corrupt frames for some widths)."""
    height, width = info.height, info.width
    chunk_len = _chunk_frames(height, width)
    for chunk_start in range(start, stop, chunk_len):
        indices = list(range(chunk_start, min(stop, chunk_start + chunk_len)))
        try:
            batch = reader.get_batch(indices).asnumpy()
        except Exception as exc:
            raise _DecordFailed(_short(exc)) from None
        if batch.shape != (len(indices), height, width, 3) or batch.dtype != np.uint8:
            raise _DecordFailed(f"corrupt batch {batch.shape} {batch.dtype}, expected ({len(indices)}, {height}, {width}, 3)")
        yield _downscale(batch, size)


def _read_with_decord(
    path: Path, info: VideoInfo, max_frames: Optional[int], size: tuple[int, int], start: int
) -> tuple[np.ndarray, int]:
    """(frames (T, h, w, 3), source frame count) via decord, checking every batch's shape."""
    reader, total = _open_decord(path)
    if start >= total:
        raise ValueError(f"{info.path}: start={start} is past the last frame ({total} frames)")
    stop = total if max_frames is None else min(total, start + max_frames)
    out = np.empty((stop - start, *size, 3), dtype=np.uint8)
    at = 0
    for chunk in _decord_chunks(reader, info, size, start, stop):
        out[at : at + chunk.shape[0]] = chunk
        at += chunk.shape[0]
    del reader
    return out, total


def _read_with_pyav(
    path: Path, info: VideoInfo, max_frames: Optional[int], size: tuple[int, int], start: int
) -> tuple[np.ndarray, int, bool]:
    """(frames (T, h, w, 3), frames seen, truncated) via PyAV, decoding sequentially from frame 0."""
    import av

    label = info.path
    chunk_len = _chunk_frames(info.height, info.width)
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    seen = 0
    kept = 0
    truncated = False

    def flush() -> None:
        if pending:
            chunks.append(_downscale(np.stack(pending), size))  # (n, h, w, 3)
            pending.clear()

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if seen < start:
                    seen += 1
                    continue
                if max_frames is not None and kept >= max_frames:
                    truncated = True
                    break
                rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
                if rgb.shape != (info.height, info.width, 3):
                    raise VideoDecodeError(
                        f"{label}: frame {seen} is {rgb.shape[1]}x{rgb.shape[0]} but the video declares "
                        f"{info.width}x{info.height}; videos that change size mid-stream are not supported"
                    )
                pending.append(rgb)
                seen += 1
                kept += 1
                if len(pending) >= chunk_len:
                    flush()
            flush()
    except VideoDecodeError:
        raise
    except Exception as exc:  # av.FFmpegError and friends
        raise VideoDecodeError(
            f"{label}: decoding failed after {seen} frames, corrupt or truncated file? (ffmpeg: {_short(exc)})"
        ) from None
    if not chunks:
        if seen and start >= seen:
            raise ValueError(f"{label}: start={start} is past the last frame ({seen} frames)")
        raise VideoDecodeError(f"{label}: no decodable frames; the file is corrupt, truncated or empty")
    return np.concatenate(chunks), seen, truncated


def read_video(
    path: str | Path,
    max_frames: Optional[int] = 3000,
    max_side: Optional[int] = 640,
    start: int = 0,
    *,
    folder_fps: float = FOLDER_FPS,
    name: Optional[str] = None,
    max_bytes: bool = False,
) -> Video:
    """Decode a video file or a folder of frame images into uint8 (T, H, W, 3) RGB frames.

    path:       .mp4/.avi/.mkv/.mov/.webm file, or a folder of .jpg/.jpeg/.png/.tif/.tiff/.bmp
                frames (natural name order; all the same size).
    max_frames: decode at most this many frames from `start` (`truncated` is True if the source
                has more); None = no limit (unbounded memory).
    max_side:   frames whose longer side exceeds this many pixels are shrunk, aspect ratio kept,
                with torch area interpolation chunk by chunk; None = native size.
    start:      index of the first frame to decode (0-based).
    folder_fps: frame rate reported for frame folders (they carry none).
    name:       label for messages and `info.path` (e.g. an upload's original file name).
    max_bytes:  also stop at limits.DECODED_BYTES of decoded frames (`truncated` says so).
    Frames over limits.FRAME_PIXELS are refused from the header, before decoding.

    Raises FileNotFoundError (missing path), VideoDecodeError (anything undecodable: empty file,
    text, corrupt/truncated data, no video stream, no frames, unsupported extension, empty folder,
    mixed frame sizes) and ValueError (bad limits, `start` past the end). A 1-frame video gives T=1.
    """
    _check_limits(max_frames, max_side, start)
    path = Path(path)
    label = name or path.name
    if path.is_dir():
        return read_frames_folder(path, max_frames, max_side, start, fps=folder_fps, name=label, max_bytes=max_bytes)
    info = _probe_file(path, label)
    limits.check_frame_pixels(info.width, info.height, label)
    size = _target_size(info.height, info.width, max_side)
    if max_bytes:
        max_frames = limits.frames_within_budget(max_frames, *size)
    try:
        frames, total = _read_with_decord(path, info, max_frames, size, start)
        truncated = start + frames.shape[0] < total
        decoder = "decord"
    except _DecordFailed:
        frames, seen, truncated = _read_with_pyav(path, info, max_frames, size, start)
        decoder = "pyav"
        total = info.n_frames if truncated else seen  # fully decoded: the real count beats metadata
    info = VideoInfo(path=label, fps=info.fps, n_frames=max(total, start + frames.shape[0]),
                     width=info.width, height=info.height, decoder=decoder)
    return Video(frames=frames, info=info, downscaled=size != (info.height, info.width), truncated=truncated)


def read_video_bytes(data: bytes, suffix: str, name: Optional[str] = None, **kwargs) -> Video:
    """Decode an uploaded video (or zip of frames) given as bytes.

    suffix: the upload's extension (".mp4", "avi", ".zip", ...), which picks the decoder.
    name:   the upload's file name, used in messages and `info.path` (default "upload<suffix>").
    kwargs: `max_frames`, `max_side`, `start`, as for `read_video`.
    Video bytes go to a temporary file (decoders need a path), removed afterwards."""
    suffix = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    label = name or f"upload{suffix}"
    if suffix == ".zip":
        return read_zip_of_frames(data, name=label, **kwargs)
    if suffix not in VIDEO_EXTENSIONS:
        raise VideoDecodeError(
            f"{label}: unsupported file type '{suffix}'; upload a video ({', '.join(VIDEO_EXTENSIONS)}) "
            "or a .zip of frame images"
        )
    if len(data) == 0:
        raise VideoDecodeError(f"{label}: not a video file (0 bytes); upload it again")
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="vadlab_upload_")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return read_video(tmp, name=label, **kwargs)
    finally:
        os.unlink(tmp)


# ------------------------------------------------------------------------------------------------
# streaming: a file chunk by chunk (frames that arrive over time: vadlab.data.sources)
# ------------------------------------------------------------------------------------------------
def iter_video(
    path: str | Path,
    max_side: Optional[int] = 640,
    *,
    folder_fps: float = FOLDER_FPS,
    name: Optional[str] = None,
) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """Decode a whole video file or frame folder chunk by chunk, with memory that does not grow
    with its length: (info, an iterator of uint8 (n, h, w, 3) RGB chunks, n <= 64).

    The frames are exactly those `read_video(path, max_frames=None, max_side=max_side)` returns
    (the same decoders, decord first and PyAV from the first frame decord gets wrong, and the same
    area downscale), without holding them all. `info` is probed before decoding (container
    metadata: `n_frames` may be off by a few for some containers; the chunks are the truth).
    Raises as `read_video` (at the call for what probing finds, while iterating for the rest).
    """
    _check_limits(None, max_side, 0)
    path = Path(path)
    label = name or path.name
    if path.is_dir():
        info, files = _probe_folder(path, label, folder_fps)
        return info, _iter_images(files, label, max_side)
    info = _probe_file(path, label)
    limits.check_frame_pixels(info.width, info.height, label)
    size = _target_size(info.height, info.width, max_side)
    return info, _iter_file(path, info, size)


def _iter_images(files: Sequence[Path], label: str, max_side: Optional[int]) -> Iterator[np.ndarray]:
    from PIL import Image

    names = [f.name for f in files]
    first = _read_image(lambda i: Image.open(files[i]), names, 0, label)
    height, width = first.shape[:2]
    size = _target_size(height, width, max_side)
    chunk_len = _chunk_frames(height, width)
    for chunk_start in range(0, len(files), chunk_len):
        chunk = []
        for i in range(chunk_start, min(len(files), chunk_start + chunk_len)):
            frame = first if i == 0 else _read_image(lambda k: Image.open(files[k]), names, i, label)
            if frame.shape[:2] != (height, width):
                raise VideoDecodeError(
                    f"{label}: frames have mixed sizes: {names[0]} is {width}x{height} but {names[i]} is "
                    f"{frame.shape[1]}x{frame.shape[0]} (W x H); every frame of a video must have the same size")
            chunk.append(frame)
        yield _downscale(np.stack(chunk), size)  # (n, h, w, 3)


def _iter_file(path: Path, info: VideoInfo, size: tuple[int, int]) -> Iterator[np.ndarray]:
    done = 0
    try:
        for chunk in _iter_decord(path, info, size):
            yield chunk
            done += chunk.shape[0]
        return
    except _DecordFailed:
        pass
    yield from _iter_pyav(path, info, size, start=done)


def _iter_decord(path: Path, info: VideoInfo, size: tuple[int, int]) -> Iterator[np.ndarray]:
    reader, total = _open_decord(path)
    yield from _decord_chunks(reader, info, size, 0, total)


def _iter_pyav(path: Path, info: VideoInfo, size: tuple[int, int], start: int = 0) -> Iterator[np.ndarray]:
    import av

    label = info.path
    chunk_len = _chunk_frames(info.height, info.width)
    pending: list[np.ndarray] = []
    seen = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if seen < start:
                    seen += 1
                    continue
                rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
                if rgb.shape != (info.height, info.width, 3):
                    raise VideoDecodeError(
                        f"{label}: frame {seen} is {rgb.shape[1]}x{rgb.shape[0]} but the video declares "
                        f"{info.width}x{info.height}; videos that change size mid-stream are not supported")
                pending.append(rgb)
                seen += 1
                if len(pending) >= chunk_len:
                    yield _downscale(np.stack(pending), size)
                    pending = []
    except VideoDecodeError:
        raise
    except Exception as exc:  # av.FFmpegError and friends
        raise VideoDecodeError(
            f"{label}: decoding failed after {seen} frames, corrupt or truncated file? (ffmpeg: {_short(exc)})"
        ) from None
    if pending:
        yield _downscale(np.stack(pending), size)
    elif seen == 0:
        raise VideoDecodeError(f"{label}: no decodable frames; the file is corrupt, truncated or empty")
