"""Cached loaders: checkpoints, decoded clips and scores. Nothing is decoded or scored twice; moving
a slider only re-draws. The zoo itself (listing, ranking, why a model was chosen) is `vadlab.zoo`,
the result store and file identity `vadlab.store`, the folders `vadlab.paths`: this module adds
Streamlit caching, the session's device and progress bars. Dataset scores and evaluations (memory
and disk) are `vadlab.ui.evaluation_cache`.

* Models: `st.cache_resource`, keyed by checkpoint path + weights mtime + device (a retrained
  checkpoint with the same name is reloaded).
* Decoded clips: `st.cache_resource`, keyed by the clip's identity (sha256 of an upload, or path +
  mtime + size of a file on disk). Resource, not data, caching: a clip can be hundreds of MB, and
  `st.cache_data` would copy (unpickle) it on every rerun; the frames are marked read-only instead.
* Scores (FrameScores, DatasetScores): a process-wide LRU store (itself a `st.cache_resource`),
  keyed by checkpoint identity + clip / dataset identity. Not `st.cache_data` because scoring shows
  a live progress bar, and Streamlit cannot replay elements drawn inside a cached function onto a
  bar created outside it. Results are shared read-only.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import streamlit as st

from vadlab import api, limits, paths, store, zoo
from vadlab.calibration import Calibration
from vadlab.data.datasets import VideoDataset, load_dataset
from vadlab.data.video import FOLDER_FPS, Video, probe_video, read_video, read_video_bytes
from vadlab.outputs import FrameScores
from vadlab.ui import state
from vadlab.zoo import CheckpointEntry, Match

# Decode limits for the app (bounded memory whatever is uploaded): frames whose longer side exceeds
# this are shrunk (see vadlab.data.video; Ped2, 360 x 240, fits); the other limits (pixels per frame,
# frames and decoded bytes per upload, zip bytes, decodes at once) are `vadlab.limits`.
MAX_SIDE = int(os.environ.get("VADLAB_MAX_SIDE", "480"))


def max_frames() -> int:
    """Frames decoded per clip in the app (limits.UPLOAD_FRAMES; longer clips are cut, visibly)."""
    return limits.UPLOAD_FRAMES.value()


# ------------------------------------------------------------------------------------------ clips
@dataclass(frozen=True)
class ClipSource:
    """A video chosen on a page.

    name:   shown to the user and used as the video's name in scores ("test_01", "my_clip").
    key:    identity for caches: "sha256:<hex>" of uploaded bytes, or "file:<path>:<mtime>:<size>".
    kind:   "upload", "sample" or "dataset".
    path:   the file or frame folder on disk (sample / dataset clips).
    suffix: the upload's extension (".mp4", ".zip", ...).
    labels: (N,) 0/1 ground truth when known (samples and dataset test clips), else None.
    fps:    the frame rate of a frame folder's camera when its dataset defines one (UCSD 10 fps,
            Avenue 25, ShanghaiTech 24: `datasets.dataset_fps`); None: the container's rate, or,
            for frame folders and zips of frames, an assumed one (`fps_assumed`).
    dataset: the dataset spec the clip belongs to (samples, a dataset folder), else None.
    """

    name: str
    key: str
    kind: str
    path: Optional[str] = None
    suffix: str = ""
    data: Optional[bytes] = field(default=None, repr=False, compare=False)
    labels: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    fps: Optional[float] = None
    dataset: Optional[str] = None

    @property
    def is_frames(self) -> bool:
        """A frame folder or a zip of frames: images that carry no frame rate."""
        return self.suffix == ".zip" if self.data is not None else bool(self.path and Path(self.path).is_dir())

    @property
    def fps_assumed(self) -> bool:
        """True when the clip's frame rate is a default, not read from the container or its dataset."""
        return self.is_frames and self.fps is None

    @property
    def decode_key(self) -> str:
        """Identity of the decoded frames: the clip and the frame rate its frames are given."""
        return f"{self.key}|fps={self.fps or FOLDER_FPS:g}"

    @staticmethod
    def from_upload(name: str, data: bytes) -> "ClipSource":
        """A clip from uploaded bytes (video file or zip of frames)."""
        return ClipSource(name=Path(name).stem or "upload", key="sha256:" + hashlib.sha256(data).hexdigest(),
                          kind="upload", suffix=Path(name).suffix.lower(), data=data)

    @staticmethod
    def from_path(path: str | Path, kind: str, labels: Optional[np.ndarray] = None, name: Optional[str] = None,
                  fps: Optional[float] = None, dataset: Optional[str] = None) -> "ClipSource":
        """A clip on disk (a video file or a frame folder), with its labels when known; `fps`: its
        dataset's frame rate (used for frame folders), `dataset`: the spec of its dataset."""
        p = Path(path)
        return ClipSource(name=name or p.stem, key=f"file:{store.file_identity(p)}", kind=kind, path=str(p),
                          labels=None if labels is None else np.asarray(labels).astype(np.uint8),
                          fps=fps if p.is_dir() else None, dataset=dataset)


@st.cache_resource(max_entries=6, show_spinner="Decoding the video…")
def _decode(key: str, _source: ClipSource) -> Video:
    return decode_now(_source)  # shared between reruns and sessions: callers must not modify the frames


def decode_now(source: ClipSource) -> Video:
    """Decode a clip under the app's limits (uncached): one of the server's decode slots held
    (limits.CONCURRENT_DECODES), frames over limits.FRAME_PIXELS refused, at most max_frames() frames
    and limits.DECODED_BYTES decoded, frames shrunk to MAX_SIDE."""
    label = source.name + source.suffix if source.data is not None else source.name
    with limits.decode_slot(label):
        if source.data is not None:
            return read_video_bytes(source.data, source.suffix or ".mp4", name=label, max_frames=max_frames(),
                                    max_side=MAX_SIDE, max_bytes=True)
        return read_video(source.path, max_frames=max_frames(), max_side=MAX_SIDE,
                          folder_fps=source.fps or FOLDER_FPS, max_bytes=True)


def decode(source: ClipSource) -> Video:
    """The decoded clip (uint8 frames (T, H, W, 3)), cached by the clip's identity (and the frame
    rate a frame folder is given). `video.info.fps` is the container's rate, the dataset's for a
    frame folder of a known dataset, else the assumed FOLDER_FPS (`source.fps_assumed`)."""
    return _decode(source.decode_key, source)


# ------------------------------------------------------------------------------------ the zoo
@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def data_frame_size(spec: str) -> Optional[tuple[int, int]]:
    """`vadlab.zoo.data_frame_size`, cached: (width, height) of a dataset's frames, or None."""
    return zoo.data_frame_size(spec)


def clip_frame_size(source: ClipSource) -> Optional[tuple[int, int]]:
    """(width, height) of a clip's native frames: probed for files on disk, decoded for uploads."""
    try:
        if source.data is None and source.path:
            info = probe_video(source.path)
        else:
            info = decode(source).info
    except Exception:  # noqa: BLE001 - the page shows the decode error where the clip is used
        return None
    return int(info.width), int(info.height)


def _scoring_on_gpu() -> bool:
    from vadlab import device as devices

    try:
        return devices.resolve(current_device()).type == "cuda"
    except Exception:  # noqa: BLE001 - an unusable device choice ranks as a CPU
        return False


def rank_checkpoints(entries: list[CheckpointEntry], dataset: Optional[str] = None, clip_path: Optional[str] = None,
                     frame_size: Optional[tuple[int, int]] = None, subject: str = "this clip") -> list[Match]:
    """`vadlab.zoo.rank_checkpoints` on the session's device, with the cached frame sizes."""
    return zoo.rank_checkpoints(entries, dataset, clip_path, frame_size, subject, on_gpu=_scoring_on_gpu(),
                                frame_size_of=data_frame_size)


def best_checkpoints(dataset: Optional[str] = None, clip: Optional[ClipSource] = None,
                     count: int = 1) -> tuple[list[CheckpointEntry], str]:
    """The `count` usable checkpoints of the zoo that fit a clip (or a dataset spec) best, and the
    sentence that says why the first was chosen (empty when the zoo is empty):
    `vadlab.zoo.best_checkpoints` on the session's device, with the cached frame sizes."""
    clip_path = None
    if clip is not None:
        dataset = dataset or clip.dataset
        clip_path = clip.path
    return zoo.best_checkpoints(
        zoo.usable_checkpoints(), dataset, clip_path, count, "this clip" if clip is not None else "this dataset",
        subject_frame_size=lambda: clip_frame_size(clip) if clip is not None else (data_frame_size(dataset) if dataset else None),
        on_gpu=_scoring_on_gpu(), frame_size_of=data_frame_size)


def current_device() -> str:
    """The device chosen in the sidebar ("auto" when none)."""
    return str(st.session_state.get(state.DEVICE, "auto"))


@st.cache_resource(max_entries=8, show_spinner="Loading the checkpoint…")
def _load_model(path: str, mtime_ns: int, device: str) -> api.LoadedModel:
    return api.load(path, device=device)


def load_model(entry: CheckpointEntry | str, device: Optional[str] = None) -> api.LoadedModel:
    """A loaded, validated model (cached by path + weights mtime + device)."""
    path = entry.path if isinstance(entry, CheckpointEntry) else str(entry)
    weights = Path(path + ".safetensors") if not path.endswith(".safetensors") else Path(path)
    mtime = weights.stat().st_mtime_ns if weights.exists() else 0
    return _load_model(path, mtime, device or current_device())


def forget_models() -> None:
    """Loaded models must be read again (a checkpoint's calibration was saved: its weights, and so
    its scores, did not change)."""
    _load_model.clear()


def checkpoint_calibration(entry: CheckpointEntry | str) -> Optional[Calibration]:
    """A checkpoint's normal-data calibration (None when it has none: verdicts then fall back to
    per-video min-max, visibly), from the cached model's metadata."""
    return load_model(entry).calibration


def in_sample_on(entry: CheckpointEntry | str) -> Optional[str]:
    """For a supervised checkpoint, the dataset its labelled training videos came from (evaluating
    there is in-sample); None for models trained on normal videos only."""
    return load_model(entry).in_sample_on


def checkpoint_key(entry: CheckpointEntry | str, device: Optional[str] = None) -> str:
    path = entry.path if isinstance(entry, CheckpointEntry) else str(entry)
    weights = Path(path + ".safetensors")
    mtime = weights.stat().st_mtime_ns if weights.exists() else 0
    return f"{path}:{mtime}:{device or current_device()}"


# ------------------------------------------------------------------------------------- the store
@st.cache_resource
def result_store() -> store.ResultStore:
    """The process-wide result store (`vadlab.store.ResultStore`), shared by every session."""
    return store.ResultStore()


def _progress_bar(text: str) -> tuple[Any, Callable[[float], None]]:
    bar = st.progress(0.0, text=text)

    def update(fraction: float, *_: Any) -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=text)

    return bar, update


def scores_key(entry: CheckpointEntry, source: ClipSource) -> str:
    """Identity of a checkpoint's scores of a clip (for caches of things derived from them)."""
    return f"{checkpoint_key(entry)}|{source.decode_key}"


def clip_scores_key(entry: CheckpointEntry, source: ClipSource) -> tuple:
    """The result store's key of a checkpoint's scores of a clip (as `score` keeps them)."""
    return ("scores", checkpoint_key(entry), source.decode_key)


def has_scores(entry: CheckpointEntry, source: ClipSource) -> bool:
    """Whether this clip's scores by this checkpoint are computed already (nothing to wait for)."""
    return result_store().get(clip_scores_key(entry, source)) is not None


def scores_every_frame(source: ClipSource) -> bool:
    """Whether `score(..., any_length=True)` scores frames the app did not decode: a video file or
    frame folder longer than the decode cap (`max_frames()`); zips of frames are decoded only."""
    return decode(source).truncated and source.suffix != ".zip"


def score(entry: CheckpointEntry, source: ClipSource, any_length: bool = False) -> FrameScores:
    """Per-frame scores of a clip (with error maps and outputs), computed once per checkpoint +
    clip; a progress bar shows while scoring. The source's labels, when known, are attached to the
    returned FrameScores (the cached one is shared and carries none), and `fps_assumed` says
    whether its frame rate is a default (frame folders and zips outside a known dataset).

    any_length: a clip longer than the decode cap is scored whole, every frame, through the
    bounded-memory path of `vadlab score` (`vadlab.stream.score_file`: decoded chunk by chunk, no
    error maps kept), instead of its first `max_frames()` decoded frames."""
    whole = any_length and scores_every_frame(source)
    key = (("whole",) if whole else ()) + clip_scores_key(entry, source)
    frame_scores = result_store().get(key)
    if frame_scores is None:
        loaded = load_model(entry)
        video = decode(source)
        bar, update = _progress_bar(f"Scoring {'every frame of ' if whole else ''}{source.name} with {entry.name}…")
        try:
            if whole:
                frame_scores = dataclasses.replace(_score_file(loaded, source, update), fps=video.info.fps or FOLDER_FPS)
            else:
                frame_scores = api.score_video(loaded, video, name=source.name, keep_maps=True, progress=update)
        finally:
            bar.empty()
        result_store().put(key, frame_scores)
    if frame_scores.fps_assumed != source.fps_assumed:
        frame_scores = dataclasses.replace(frame_scores, fps_assumed=source.fps_assumed)
    if source.labels is None:
        return frame_scores
    if len(source.labels) != len(frame_scores):
        raise ValueError(f"{len(source.labels)} labels for {len(frame_scores)} decoded frames of {source.name}")
    return dataclasses.replace(frame_scores, labels=np.asarray(source.labels).astype(np.uint8))


def _score_file(loaded: api.LoadedModel, source: ClipSource, progress: Callable[[float], None]) -> FrameScores:
    """Every frame of a clip's file (an upload is written to a temporary file first), in bounded
    memory, holding one of the server's decode slots."""
    import tempfile

    from vadlab.stream import score_file

    label = source.name + source.suffix if source.data is not None else source.name
    with limits.decode_slot(label):
        if source.data is None:
            return score_file(loaded, source.path, keep_maps=False, name=source.name, max_side=MAX_SIDE, progress=progress)
        with tempfile.TemporaryDirectory(prefix="vadlab_long_") as folder:
            path = Path(folder) / f"clip{source.suffix or '.mp4'}"
            path.write_bytes(source.data)
            return score_file(loaded, path, keep_maps=False, name=source.name, max_side=MAX_SIDE, progress=progress)


# ---------------------------------------------------------------------------------------- datasets
def samples_spec() -> str:
    """The dataset spec of the shipped sample videos (absolute path, so any working directory works)."""
    return f"synthetic:{paths.sample_videos_dir()}"


def display_spec(spec: str) -> str:
    """A dataset spec shown to users (paths relative to the repository)."""
    kind, _, rest = spec.partition(":")
    return f"{kind}:{paths.display_path(rest)}" if rest else spec


@st.cache_data(ttl=120, max_entries=16, show_spinner="Listing the dataset…")
def _listed_dataset(spec: str) -> VideoDataset:
    return load_dataset(spec)


def dataset(spec: str) -> VideoDataset:
    """The dataset of a spec `KIND:PATH` (lists videos and labels, cached; decodes nothing). Every
    video, frame and mask it lists must lie inside the app's folders once links are followed, checked
    on every call: a link inside an allowed folder to a file outside them is refused
    (PathNotAllowedError naming it)."""
    ds = _listed_dataset(spec)
    allowed = paths.roots().readable
    for record in (*ds.train, *ds.test):
        for source in (record.source, record.mask_source):
            if source is not None:
                paths.confine_links(Path(source), allowed)
    return ds


def forget_datasets() -> None:
    """Files changed: dataset listings cached by spec are read again on their next use."""
    _listed_dataset.clear()


def dataset_identity(ds: VideoDataset) -> str:
    """A dataset's identity for caches: its root folder's `vadlab.store.file_identity` ("" when absent)."""
    root = Path(ds.root)
    return store.file_identity(root) if root.exists() else ""
