"""Writing video files: frames (T, H, W, 3) uint8 RGB -> an H.264 mp4 (PyAV / libx264; decord cannot
write video). Decoding lives in `vadlab.data.video`.

Like every file the lab writes, a video is written to a hidden temporary file beside its target and
renamed over it when complete (`vadlab.files`): a kill mid-encode leaves the previous file, never a
truncated mp4 that a later read would half-decode.
"""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from vadlab.files import commit, temporary_name

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".ts": "mpegts",
              ".flv": "flv"}  # by the target's suffix (the temporary file has none); others: mp4


def check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{what} must be (T, H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {frames.dtype}; convert with np.clip(x, 0, 255).astype(np.uint8)")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ValueError(f"{what} is empty (shape {frames.shape}); nothing to write")
    return frames


def write_video(path: str | Path, frames: np.ndarray, fps: float, crf: int = 20) -> Path:
    """Encode frames (T, H, W, 3) uint8 RGB to an H.264 (libx264, yuv420p) mp4 at `fps`.

    yuv420p needs even sizes: an odd width or height is padded by ONE pixel that repeats the last
    column / row (edge replication), so the video is at most 1 px larger than the frames.
    `crf` is x264's constant rate factor (0 = lossless luma, 18-23 = visually good, 51 = worst).
    Returns the path written. Raises ValueError for empty input, a wrong shape/dtype, or a bad fps.
    """
    import av  # imported here: PyAV is only needed when writing videos

    frames = check_frames(frames)
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"fps must be a positive number, got {fps!r}") from None
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not 0 <= int(crf) <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    _, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")  # (T, H', W', 3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    tmp = temporary_name(path)
    try:
        _encode(av, tmp, CONTAINERS.get(path.suffix.lower(), "mp4"), frames, rate, width, height, pad_w, pad_h, crf)
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _encode(av, tmp: Path, container_format: str, frames: np.ndarray, rate: Fraction, width: int, height: int,
            pad_w: int, pad_h: int, crf: int) -> None:
    with av.open(str(tmp), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width = width + pad_w
        stream.height = height + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(int(crf))}
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder
            container.mux(packet)
