"""Where computed results are kept: file identity (what says a file changed, cheaply), the
in-memory result store (a small thread-safe LRU; the app's scores and the notebook's cell outputs),
and the on-disk cache of dataset scores (scored once per checkpoint + dataset, even across restarts;
its summaries feed the zoo table). No Streamlit here: `vadlab.ui.cache` wraps these for the app.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, Optional

import numpy as np

from vadlab import paths
from vadlab.files import atomic_write, commit
from vadlab.outputs import FrameScores

if TYPE_CHECKING:
    from vadlab.api import DatasetScores
    from vadlab.data.datasets import VideoDataset


# ------------------------------------------------------------------------------- file identity
def file_identity(path: str | os.PathLike, missing_ok: bool = False) -> str:
    """path:mtime_ns:size of a file, or of a folder path:newest-entry-mtime_ns:entry-count (the path
    resolved). A missing path raises OSError, or gives "path:missing" when `missing_ok`."""
    try:
        p = Path(path).resolve()
        st_ = p.stat()
        if p.is_dir():
            entries = list(p.iterdir())
            newest = max((e.stat().st_mtime_ns for e in entries), default=st_.st_mtime_ns)
            return f"{p}:{newest}:{len(entries)}"
        return f"{p}:{st_.st_mtime_ns}:{st_.st_size}"
    except OSError:
        if not missing_ok:
            raise
        return f"{path}:missing"


# ---------------------------------------------------------------------------------- the store
class ResultStore:
    """A small thread-safe LRU of computed results (least recently used dropped beyond
    `max_entries`); None is never stored as a result."""

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

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)


# ------------------------------------------------------------------------ dataset scores on disk
CACHE_DIR_ENV = "VADLAB_CACHE_DIR"
CACHE_FORMAT = 1


def score_cache_dir() -> Path:
    """Where dataset scores are kept between sessions and restarts: $VADLAB_CACHE_DIR, else
    `data_cache/scores/` in the repository (git-ignored). Created when first written."""
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else paths.REPO_ROOT / "data_cache" / "scores"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=32)
def code_digest(family: str) -> str:
    """The code that turns frames into scores (the family's module, scoring, clips): a change to it
    must not serve stale scores (read once per process)."""
    import vadlab

    root = Path(vadlab.__file__).parent
    files = [root / "models" / f"{family}.py", root / "scoring.py", root / "data" / "clips.py", root / "models" / "layers.py"]
    return sha("|".join(hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else f.name for f in files))


def checkpoint_digest(weights: str, family: str, device: str) -> str:
    """A checkpoint's identity for the disk cache: its weights' identity (the recorded sha256),
    the scoring code's digest and the device kind ("cpu", "cuda")."""
    return sha(f"{weights}|{code_digest(family)}|{device}|{CACHE_FORMAT}")


def dataset_digest(ds: "VideoDataset") -> str:
    """A labelled test split's identity: every video's file identity (path, mtime, size or frame
    count) and its labels."""
    parts = [ds.name]
    for record in ds.test:
        if record.labels is None:
            continue
        labels = hashlib.sha256(np.asarray(record.labels, np.uint8).tobytes()).hexdigest()
        parts.append(f"{record.name}:{file_identity(Path(record.source))}:{record.n_frames}:{labels}")
    return sha("\n".join(parts))


def cache_stem(checkpoint: str, dataset: str) -> Path:
    """Where the scores of a checkpoint digest on a dataset digest are kept (no suffix: .npz + .json)."""
    return score_cache_dir() / f"{checkpoint[:24]}_{dataset[:24]}"


def save_scores(stem: Path, scored: "DatasetScores", summary: dict) -> None:
    """Write per-video scores (no maps) as one .npz, atomically, and a small JSON summary beside it."""
    arrays: dict[str, np.ndarray] = {}
    videos = []
    for i, (name, fs) in enumerate(scored.scores.items()):
        videos.append({"name": name, "video": fs.video, "score_kind": fs.score_kind, "fps": fs.fps,
                       "pooled": sorted(fs.pooled)})
        arrays[f"{i}.scores"], arrays[f"{i}.raw"] = np.asarray(fs.scores), np.asarray(fs.raw)
        arrays[f"{i}.scored"], arrays[f"{i}.labels"] = np.asarray(fs.scored), np.asarray(scored.labels[name], np.uint8)
        for key, values in fs.pooled.items():
            arrays[f"{i}.pooled.{key}"] = np.asarray(values)
    meta = {"format": CACHE_FORMAT, "videos": videos, "decode_seconds": scored.decode_seconds,
            "score_seconds": scored.score_seconds, "n_frames": scored.n_frames}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tmp = stem.with_name(stem.name + f".{os.getpid()}.{threading.get_ident()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        commit(tmp, stem.with_suffix(".npz"))
        atomic_write(stem.with_suffix(".json"), json.dumps(summary, indent=1))
    finally:
        if tmp.exists():
            tmp.unlink()


def load_scores(stem: Path) -> Optional["DatasetScores"]:
    """The cached scores of `save_scores`, or None (absent, or unreadable: scored again)."""
    from vadlab.api import DatasetScores  # the use-case layer's type; imported late (api imports the core)

    path = stem.with_suffix(".npz")
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if meta.get("format") != CACHE_FORMAT:
                return None
            scores, labels = {}, {}
            for i, video in enumerate(meta["videos"]):
                name = video["name"]
                labels[name] = data[f"{i}.labels"]
                scores[name] = FrameScores(
                    video=video["video"], scores=data[f"{i}.scores"], raw=data[f"{i}.raw"], scored=data[f"{i}.scored"],
                    score_kind=video["score_kind"], fps=float(video["fps"]), labels=labels[name],
                    pooled={key: data[f"{i}.pooled.{key}"] for key in video["pooled"]})
    except Exception:  # noqa: BLE001 - a damaged cache file is just a miss
        return None
    return DatasetScores(scores, labels, decode_seconds=float(meta["decode_seconds"]),
                         score_seconds=float(meta["score_seconds"]), n_frames=int(meta["n_frames"]))


def cached_evaluations(folder: Optional[Path] = None) -> list[dict]:
    """Summaries of every dataset evaluation kept on disk in `folder` (default: `score_cache_dir()`):
    checkpoint digest and name, dataset, micro / macro AUC under the paper protocol; the zoo table
    shows them beside the stored metrics."""
    folder = score_cache_dir() if folder is None else folder
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return rows
