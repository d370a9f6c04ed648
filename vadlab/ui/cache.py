"""Cached loaders: checkpoints, decoded clips, scores and dataset scores. Nothing is decoded or
scored twice; moving a slider only re-draws.

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
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Optional

import numpy as np
import streamlit as st

from vadlab import api
from vadlab.calibration import Calibration
from vadlab.data.datasets import VideoDataset, load_dataset
from vadlab.data.video import Video, read_video, read_video_bytes
from vadlab.outputs import EvalResult, FrameScores
from vadlab.protocol import PAPER, Protocol
from vadlab.ui import paths
from vadlab.ui import state

# Decode limits for the app (bounded memory whatever is uploaded): at most this many frames, and
# frames whose longer side exceeds this are shrunk (see vadlab.data.video). Ped2 (360 x 240) fits.
MAX_FRAMES = int(os.environ.get("VADLAB_MAX_FRAMES", "2000"))
MAX_SIDE = int(os.environ.get("VADLAB_MAX_SIDE", "480"))


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
    """

    name: str
    key: str
    kind: str
    path: Optional[str] = None
    suffix: str = ""
    data: Optional[bytes] = field(default=None, repr=False, compare=False)
    labels: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    @staticmethod
    def from_upload(name: str, data: bytes) -> "ClipSource":
        """A clip from uploaded bytes (video file or zip of frames)."""
        return ClipSource(name=Path(name).stem or "upload", key="sha256:" + hashlib.sha256(data).hexdigest(),
                          kind="upload", suffix=Path(name).suffix.lower(), data=data)

    @staticmethod
    def from_path(path: str | Path, kind: str, labels: Optional[np.ndarray] = None, name: Optional[str] = None) -> "ClipSource":
        """A clip on disk (a video file or a frame folder), with its labels when known."""
        p = Path(path)
        return ClipSource(name=name or p.stem, key=f"file:{file_identity(p)}", kind=kind, path=str(p),
                          labels=None if labels is None else np.asarray(labels).astype(np.uint8))


def file_identity(path: Path) -> str:
    """path:mtime_ns:size of a file, or of a folder (its newest entry and entry count)."""
    p = Path(path).resolve()
    st_ = p.stat()
    if p.is_dir():
        entries = list(p.iterdir())
        newest = max((e.stat().st_mtime_ns for e in entries), default=st_.st_mtime_ns)
        return f"{p}:{newest}:{len(entries)}"
    return f"{p}:{st_.st_mtime_ns}:{st_.st_size}"


@st.cache_resource(max_entries=6, show_spinner="Decoding the video…")
def _decode(key: str, _source: ClipSource) -> Video:
    if _source.data is not None:
        video = read_video_bytes(_source.data, _source.suffix or ".mp4", name=_source.name + _source.suffix,
                                 max_frames=MAX_FRAMES, max_side=MAX_SIDE)
    else:
        video = read_video(_source.path, max_frames=MAX_FRAMES, max_side=MAX_SIDE)
    return video  # shared between reruns and sessions: callers must not modify the frames


def decode(source: ClipSource) -> Video:
    """The decoded clip (uint8 frames (T, H, W, 3)), cached by the clip's identity."""
    return _decode(source.key, source)


# ------------------------------------------------------------------------------------ checkpoints
@dataclass(frozen=True)
class CheckpointEntry:
    """One checkpoint of the zoo (its metadata summarised for tables and pickers)."""

    path: str  # stem: <dir>/<name> (no suffix)
    name: str
    origin: str  # "shipped" or "yours" (trained in the app / user folder)
    family: str = "?"
    trained_on: str = "?"
    input_size: str = "?"
    window: Optional[int] = None
    target: str = "window"  # "window": reconstructs the scored frame; "next": predicts it
    auc: Optional[float] = None
    size_mb: float = 0.0
    error: Optional[str] = None
    calibrated: bool = False  # holds a normal-data calibration (calibrated verdicts)

    @property
    def label(self) -> str:
        auc = f", AUC {self.auc:.3f}" if self.auc is not None else ""
        return f"{self.name} ({self.family}, trained on {self.trained_on}{auc}{', calibrated' if self.calibrated else ''})"

    @property
    def mtime_ns(self) -> int:
        weights = Path(self.path + ".safetensors")
        return weights.stat().st_mtime_ns if weights.exists() else 0


def _entry(row: dict, origin: str) -> CheckpointEntry:
    path = row["path"]
    meta = row.get("metadata")
    if meta is None:
        return CheckpointEntry(path=path, name=Path(path).name, origin=origin, error=row.get("error"))
    inp = meta.get("input") or {}
    training = meta.get("training") or {}
    metrics = meta.get("metrics") or {}
    auc = metrics.get("micro_auc")
    data = str(training.get("data") or training.get("dataset") or "?")
    return CheckpointEntry(
        path=path,
        name=Path(path).name,
        origin=origin,
        family=str(meta.get("model", "?")),
        trained_on=_short_data(data),
        input_size=f"{inp.get('channels', '?')}×{inp.get('height', '?')}×{inp.get('width', '?')}",
        window=inp.get("window"),
        target=str(meta.get("target", "window")),
        auc=float(auc) if isinstance(auc, (int, float)) and np.isfinite(auc) else None,
        size_mb=round(float(row.get("size_mb") or 0.0), 2),
        calibrated=bool(meta.get("calibration")),
    )


def _short_data(spec: str) -> str:
    """'synthetic:/abs/repo/sample_videos' -> 'synthetic:sample_videos' (shorter in tables)."""
    kind, sep, rest = spec.partition(":")
    if not sep:
        return spec
    return f"{kind}:{Path(rest).name or rest}"


def list_checkpoints() -> list[CheckpointEntry]:
    """Every checkpoint of the zoo: shipped (`checkpoints/`) then yours (the user folder).

    Read from disk on every call (metadata only, cheap), so a checkpoint the Train page just saved
    appears at once. Invalid checkpoints are listed with their error.
    """
    entries: list[CheckpointEntry] = []
    seen: set[Path] = set()
    for folder, origin in ((paths.shipped_checkpoints_dir(), "shipped"), (paths.user_checkpoints_dir(), "yours")):
        folder = folder.resolve()
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        names = {e.name for e in entries}
        for row in api.list_checkpoints(folder):
            if row["path"].endswith(".trainstate"):  # resume state of a run in progress, not a checkpoint
                continue
            entry = _entry(row, origin)
            if entry.name in names:  # pages key results by name: keep names unique
                entry = dataclasses.replace(entry, name=f"{entry.name} ({origin})")
            entries.append(entry)
    return entries


def usable_checkpoints() -> list[CheckpointEntry]:
    """The checkpoints whose metadata is valid, shipped `*_synthetic` demo models first."""
    entries = [e for e in list_checkpoints() if e.error is None]
    return sorted(entries, key=lambda e: (e.origin != "shipped", not e.name.startswith("conv_ae"), e.name))


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
class ResultStore:
    """A small thread-safe LRU of computed results (scores), shared by all sessions."""

    def __init__(self, max_entries: int = 32):
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        hit = self.get(key)
        return hit if hit is not None else self.put(key, compute())

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


@st.cache_resource
def result_store() -> ResultStore:
    """The process-wide result store."""
    return ResultStore()


def _progress_bar(text: str) -> tuple[Any, Callable[[float], None]]:
    bar = st.progress(0.0, text=text)

    def update(fraction: float, *_: Any) -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=text)

    return bar, update


def scores_key(entry: CheckpointEntry, source: ClipSource) -> str:
    """Identity of a checkpoint's scores of a clip (for caches of things derived from them)."""
    return f"{checkpoint_key(entry)}|{source.key}"


def score(entry: CheckpointEntry, source: ClipSource) -> FrameScores:
    """Per-frame scores of a clip (with error maps and outputs), computed once per checkpoint +
    clip; a progress bar shows while scoring. The source's labels, when known, are attached to the
    returned FrameScores (the cached one is shared and carries none)."""
    key = ("scores", checkpoint_key(entry), source.key)
    frame_scores = result_store().get(key)
    if frame_scores is None:
        loaded = load_model(entry)
        video = decode(source)
        bar, update = _progress_bar(f"Scoring {source.name} with {entry.name}…")
        try:
            frame_scores = api.score_video(loaded, video, name=source.name, keep_maps=True, progress=update)
        finally:
            bar.empty()
        result_store().put(key, frame_scores)
    if source.labels is None:
        return frame_scores
    if len(source.labels) != len(frame_scores):
        raise ValueError(f"{source.name}: {len(source.labels)} labels for {len(frame_scores)} decoded frames")
    return dataclasses.replace(frame_scores, labels=np.asarray(source.labels).astype(np.uint8))


# ---------------------------------------------------------------------------------------- datasets
def samples_spec() -> str:
    """The dataset spec of the shipped sample videos (absolute path, so any working directory works)."""
    return f"synthetic:{paths.sample_videos_dir()}"


def display_spec(spec: str) -> str:
    """A dataset spec shown to users (paths relative to the repository)."""
    kind, _, rest = spec.partition(":")
    return f"{kind}:{paths.display_path(rest)}" if rest else spec


@st.cache_data(ttl=120, max_entries=16, show_spinner="Listing the dataset…")
def dataset(spec: str) -> VideoDataset:
    """The dataset of a spec `KIND:PATH` (lists videos and labels; decodes nothing)."""
    return load_dataset(spec)


def _dataset_identity(ds: VideoDataset) -> str:
    root = Path(ds.root)
    return file_identity(root) if root.exists() else ""


def dataset_scores(entry: CheckpointEntry, spec: str, keep_maps: bool = False) -> api.DatasetScores:
    """Scores of every labelled test video of a dataset (api.score_dataset), computed once per
    checkpoint + dataset; a progress bar shows while scoring."""
    ds = dataset(spec)
    key = ("dataset", checkpoint_key(entry), spec, _dataset_identity(ds), keep_maps)
    hit = result_store().get(key)
    if hit is None and not keep_maps:  # scores with maps serve a request without them too
        hit = result_store().get(key[:-1] + (True,))
    if hit is not None:
        return hit
    loaded = load_model(entry)
    bar = st.progress(0.0, text=f"Scoring {display_spec(spec)} with {entry.name}…")
    try:
        scored = api.score_dataset(
            loaded, ds, keep_maps=keep_maps,
            progress=lambda f, name: bar.progress(min(f, 1.0), text=f"Scoring {display_spec(spec)} with {entry.name}: {name}"),
        )
    finally:
        bar.empty()
    return result_store().put(key, scored)


def evaluate_dataset(entry: CheckpointEntry, spec: str, protocol: Protocol = PAPER, pixel_level: bool = False) -> EvalResult:
    """Frame-level evaluation of a checkpoint on a dataset under a scoring protocol: the same numbers
    as `api.evaluate` / `vadlab eval` with the same protocol (the same scores through
    `api.evaluate_scored`), but the scores are cached, so changing the protocol does not re-score."""
    scored = dataset_scores(entry, spec, keep_maps=pixel_level)
    return api.evaluate_scored(dataset(spec), scored, pixel_level=pixel_level, protocol=protocol,
                               calibration=checkpoint_calibration(entry))


def protocol_table(entry: CheckpointEntry, spec: str) -> list[dict]:
    """`api.protocol_table` of a checkpoint on a dataset, from the cached scores (computed once)."""
    scored = dataset_scores(entry, spec)
    key = ("protocol_table", checkpoint_key(entry), spec, _dataset_identity(dataset(spec)))
    return result_store().get_or_compute(key, lambda: api.protocol_table(load_model(entry), dataset(spec), scored=scored))


def clip_scores_and_labels(entry: CheckpointEntry, source: ClipSource,
                           labels: Optional[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({name: raw scores}, {name: labels}) of one clip, ready for `metrics.evaluate`.

    labels: (N,) 0/1 for the clip (an uploaded labels file); default: the source's own labels.
    Raises ValueError when there are none or their length differs from the decoded frame count."""
    scored = clip_dataset_scores(entry, source, labels)
    return {n: fs.scores for n, fs in scored.scores.items()}, dict(scored.labels)


def clip_dataset_scores(entry: CheckpointEntry, source: ClipSource, labels: Optional[np.ndarray] = None) -> api.DatasetScores:
    """One clip's cached scores with its ground truth, as a one-video DatasetScores (so a clip is
    evaluated under a protocol exactly as a dataset is).

    labels: (N,) 0/1 for the clip (an uploaded labels file); default: the source's own labels.
    Raises ValueError when there are none or their length differs from the decoded frame count."""
    frame_scores = score(entry, dataclasses.replace(source, labels=None))
    truth = labels if labels is not None else source.labels
    if truth is None:
        raise ValueError(f"{source.name}: no ground truth; upload a labels file (CSV/JSON/npy/.mat/.m)")
    truth = np.asarray(truth).astype(np.uint8).ravel()
    if len(truth) != len(frame_scores):
        raise ValueError(f"{source.name}: {len(truth)} labels but the video has {len(frame_scores)} decoded frames; "
                         "give one 0/1 label per frame")
    with_labels = dataclasses.replace(frame_scores, labels=truth)
    return api.DatasetScores({source.name: with_labels}, {source.name: truth}, decode_seconds=0.0, score_seconds=0.0,
                             n_frames=len(frame_scores))


def evaluate_clip(entry: CheckpointEntry, source: ClipSource, labels: Optional[np.ndarray] = None,
                  protocol: Protocol = PAPER) -> EvalResult:
    """Frame-level evaluation of one clip against its labels under a protocol (as a dataset of one
    video: `api.evaluate_scored`)."""
    scored = clip_dataset_scores(entry, source, labels)
    # no dataset: `evaluate_scored` reads it only for pixel-level AUC, which a clip does not offer
    return api.evaluate_scored(None, scored, protocol=protocol, calibration=checkpoint_calibration(entry))
