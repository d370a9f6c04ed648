"""The user's own datasets: clips uploaded in the browser, kept as files in the `folder:` layout.

A dataset NAME lives in the user data folder (the app's `VADLAB_USER_DATA`, default `user_data/`):

    NAME/training/<clip>.mp4        normal clips (video files, or <clip>/ folders of frame images)
    NAME/testing/<clip>.mp4         test clips
    NAME/testing/labels.json        {"<clip>": [0, 1, ...]}: one 0/1 per frame (1 = anomalous)

so `load_dataset("folder:<user data>/NAME")` and `vadlab train --data folder:<user data>/NAME` read it
as they read any folder dataset. Nothing here imports Streamlit.

Uploads are hostile until proven otherwise. Each file is validated on its own (a bad one is named
and refused, the others are kept): its name is reduced to a plain base name, its size is capped,
a video must decode (`vadlab.data.video`), and a zip of frames is checked BEFORE anything is
extracted: no absolute paths, `..` components, symbolic links or encrypted entries, at most
`max_zip_files` entries and at most `max_zip_bytes` uncompressed (a zip bomb is refused from its
directory, never inflated). Files are written only under the data folder: first into a hidden
staging folder, then moved into place once they decode. Dataset and clip names are 1-64 letters,
digits, '_', '-' or '.', starting with a letter or digit (no '/', no '..', never hidden).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from vadlab import limits as upload_limits
from vadlab.data.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, natural_key, probe_video
from vadlab.data.zips import copy_entry, frame_entries, open_zip
from vadlab.files import atomic_write, commit

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SPLITS = ("training", "testing")  # normal clips, test clips
SPLIT_TITLES = {"training": "normal (training)", "testing": "test"}
UPLOAD_EXTENSIONS = (*VIDEO_EXTENSIONS, ".zip")
LABELS_FILE = "labels.json"
STAGING = ".staging"  # hidden: never listed as a dataset; uploads wait here until they decode
MB = 1024 * 1024


class UserDataError(ValueError):
    """A request on the user data folder that cannot be done: the message names the file or
    dataset and says what to do."""


@dataclass(frozen=True)
class Limits:
    """Caps on uploads (per file). Defaults from the environment: VADLAB_MAX_UPLOAD_MB (200, as the
    app's `server.maxUploadSize`), VADLAB_MAX_ZIP_MB (uncompressed total of a zip: `limits.ZIP_BYTES`),
    VADLAB_MAX_ZIP_FILES (4000) and VADLAB_MAX_CLIP_FRAMES (frames of one clip, 20000). Frames over
    `limits.FRAME_PIXELS` are refused when the clip is decoded."""

    max_file_bytes: int = int(float(os.environ.get("VADLAB_MAX_UPLOAD_MB", "200")) * MB)
    max_zip_bytes: int = field(default_factory=upload_limits.ZIP_BYTES.value)
    max_zip_files: int = int(os.environ.get("VADLAB_MAX_ZIP_FILES", "4000"))
    max_clip_frames: int = int(os.environ.get("VADLAB_MAX_CLIP_FRAMES", "20000"))


# ------------------------------------------------------------------------------------------ names
def validate_name(name: str, what: str = "dataset") -> str:
    """The name, stripped, when it is a safe folder name; else UserDataError saying why.

    Allowed: 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit; so no '/',
    '\\', '..', spaces, or hidden (dot) names, and a name can never point outside its folder."""
    text = (name or "").strip()
    if not text:
        raise UserDataError(f"no {what} name given; type one (letters, digits, '_', '-', '.')")
    if "/" in text or "\\" in text:
        raise UserDataError(f"'{text}': a {what} name cannot contain '/' or '\\' (it names one folder in the user data folder)")
    if ".." in text:
        raise UserDataError(f"'{text}': a {what} name cannot contain '..'")
    if text.startswith("."):
        raise UserDataError(f"'{text}': a {what} name cannot start with '.' (hidden)")
    if not NAME_PATTERN.match(text):
        raise UserDataError(f"'{text}': a {what} name is 1-64 letters, digits, '_', '-' or '.', starting with a letter "
                            "or digit (no spaces)")
    return text


def clip_name_for(filename: str) -> tuple[str, str]:
    """(clip name, extension) of an uploaded file: the base name only (any folder part a client
    sends is dropped), characters outside letters, digits, '_', '-', '.' become '_'.

    Raises UserDataError naming the file when no usable name or extension is left."""
    base = PurePosixPath(str(filename).replace("\\", "/")).name
    suffix = PurePosixPath(base).suffix.lower()
    stem = base[: len(base) - len(suffix)] if suffix else base
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")[:64]
    if suffix not in UPLOAD_EXTENSIONS:
        raise UserDataError(f"{filename}: unsupported file type '{suffix or '(none)'}'; upload a video "
                            f"({', '.join(VIDEO_EXTENSIONS)}) or a .zip of frame images")
    if not stem or not NAME_PATTERN.match(stem) or ".." in stem:
        raise UserDataError(f"{filename}: no usable clip name in the file name; rename the file (letters, digits, '_', '-')")
    return stem, suffix


# ----------------------------------------------------------------------------------------- labels
def labels_to_spans(labels: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """(N,) 0/1 labels -> anomalous spans as 0-based inclusive (start, end) frame pairs."""
    arr = np.asarray(labels, dtype=np.int8).ravel() > 0
    if not arr.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], arr.astype(np.int8), [0]])))
    return [(int(s), int(e) - 1) for s, e in zip(edges[::2], edges[1::2])]


def spans_to_labels(spans: Iterable[Sequence[int]], n_frames: int, label: str = "clip") -> np.ndarray:
    """Anomalous spans (0-based inclusive (start, end) frames; overlaps allowed) -> (n_frames,)
    uint8 0/1 labels. Raises UserDataError naming a span that does not fit the clip."""
    labels = np.zeros(int(n_frames), dtype=np.uint8)
    for i, span in enumerate(spans, 1):
        start, end = int(span[0]), int(span[1])
        if start < 0 or end >= n_frames or end < start:
            raise UserDataError(f"{label}: span {i} [{start}, {end}] does not fit a clip of {n_frames} frames "
                                f"(frames 0 to {n_frames - 1}, start <= end)")
        labels[start : end + 1] = 1
    return labels


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """(N,) how much each frame of uint8 (T, H, W, 3) `frames` differs from the one before (mean
    absolute grey difference over a shrunk frame, scaled to [0, 1]): a guide to where things happen
    in a clip, for labelling it."""
    step = max(1, max(frames.shape[1:3]) // 64)
    grey = frames[:, ::step, ::step].mean(axis=3, dtype=np.float32)  # (T, h, w)
    change = np.zeros(len(grey), np.float32)
    change[1:] = np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2))
    top = float(change.max())
    return change / top if top > 0 else change


# ---------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class ClipInfo:
    """One clip of a user dataset. `frames` is the container's frame count (what labels must
    match); `n_anomalous` is None while a test clip has no labels (training clips never do)."""

    split: str
    name: str
    path: Path
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    n_anomalous: Optional[int] = None
    error: Optional[str] = None

    @property
    def duration(self) -> float:
        """Seconds (frames / fps)."""
        return self.frames / self.fps if self.fps > 0 else 0.0

    @property
    def resolution(self) -> str:
        return f"{self.width}×{self.height}"

    @property
    def labelled(self) -> bool:
        return self.n_anomalous is not None


@dataclass(frozen=True)
class DatasetInfo:
    """A user dataset: its folder and clips (normal first, then test)."""

    name: str
    path: Path
    clips: tuple[ClipInfo, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        """The dataset spec the API and CLI read: `folder:<absolute path>`."""
        return f"folder:{self.path}"

    def split(self, split: str) -> list[ClipInfo]:
        return [c for c in self.clips if c.split == split]

    @property
    def frames(self) -> int:
        return int(sum(c.frames for c in self.clips))

    @property
    def duration(self) -> float:
        return float(sum(c.duration for c in self.clips))

    @property
    def resolutions(self) -> list[str]:
        return sorted({c.resolution for c in self.clips if c.error is None and c.width})

    def summary(self) -> dict:
        """One row for a table: clip counts, frames, duration, resolution(s)."""
        test = self.split("testing")
        return {"dataset": self.name, "normal clips": len(self.split("training")), "test clips": len(test),
                "labelled test clips": sum(c.labelled for c in test), "frames": self.frames,
                "duration (s)": round(self.duration, 1), "resolution": ", ".join(self.resolutions) or "-"}


@dataclass
class UploadReport:
    """What an upload did: the clips added, and each refused file with the reason."""

    dataset: str
    split: str
    added: list[ClipInfo] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, message naming it)


# ------------------------------------------------------------------------------------------ store
class UserData:
    """The user data folder: named datasets in the `folder:` layout (see the module docstring).

    root: the folder (created on first write). Every path this class touches is checked to lie
    inside it; symbolic links are never followed out of it."""

    def __init__(self, root: str | os.PathLike, limits: Optional[Limits] = None):
        self.root = Path(root).expanduser()
        self.limits = limits or Limits()

    # ---- paths ------------------------------------------------------------------------------
    def _inside(self, path: Path) -> Path:
        """`path`, after checking it resolves inside the root (symlinks followed)."""
        root = self.root.resolve()
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            raise UserDataError(f"{path}: outside the user data folder {root}; refusing")
        return path

    def dataset_dir(self, name: str, must_exist: bool = True) -> Path:
        """The folder of dataset `name` (validated; inside the root; not a symlink)."""
        name = validate_name(name)
        path = self.root / name
        if path.is_symlink():
            raise UserDataError(f"'{name}': the dataset folder is a symbolic link; refusing to follow it")
        self._inside(path)
        if must_exist and not path.is_dir():
            raise UserDataError(f"'{name}': no such dataset in {self.root}")
        return path

    def spec(self, name: str) -> str:
        """`folder:<absolute path>` of a dataset (what `load_dataset` and `vadlab train --data` read)."""
        return f"folder:{self.dataset_dir(name).resolve()}"

    def names(self) -> list[str]:
        """The datasets' names, in natural order (hidden and invalid folder names skipped)."""
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir()
                       if p.is_dir() and not p.is_symlink() and NAME_PATTERN.match(p.name) and ".." not in p.name),
                      key=natural_key)

    def specs(self) -> dict[str, str]:
        """The registry of the user's datasets: {name: `folder:<absolute path>`} (no probing: cheap).
        The app's pickers (Score, Train, Evaluate, Compare) and the CLI read the datasets from here."""
        return {name: self.spec(name) for name in self.names()}

    def name_of(self, spec: str) -> Optional[str]:
        """The name of the user dataset a spec points at (`folder:<path>` inside the root), else None."""
        kind, _, where = str(spec).partition(":")
        if kind != "folder" or not where:
            return None
        target = Path(where).expanduser().resolve()
        return next((name for name, s in self.specs().items() if Path(s.partition(":")[2]) == target), None)

    # ---- listing -----------------------------------------------------------------------------
    def clip_paths(self, name: str, split: str) -> list[tuple[str, Path]]:
        """(clip name, path) of a split's clips: video files and folders of frame images."""
        folder = self.dataset_dir(name) / _check_split(split)
        if not folder.is_dir():
            return []
        found = []
        for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            if entry.is_file() and entry.suffix.lower() in VIDEO_EXTENSIONS:
                found.append((entry.stem, entry))
            elif entry.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entry.iterdir()):
                found.append((entry.name, entry))
        return found

    def info(self, name: str) -> DatasetInfo:
        """A dataset's clips with frames, fps, resolution and labelling state (metadata only: no
        decoding). A clip that cannot be probed is listed with its error."""
        path = self.dataset_dir(name)
        problems: list[str] = []
        try:
            labels = self.labels(name)
        except UserDataError as exc:
            labels, problems = {}, [str(exc)]
        clips = []
        for split in SPLITS:
            for clip, source in self.clip_paths(name, split):
                try:
                    stat_ = source.stat()
                    probe = _probe(str(source), stat_.st_mtime_ns, stat_.st_size)
                except (ValueError, OSError) as exc:
                    clips.append(ClipInfo(split, clip, source, error=str(exc)))
                    continue
                truth = labels.get(clip) if split == "testing" else None
                if truth is not None and len(truth) != probe.n_frames:
                    problems.append(f"{clip}: {len(truth)} labels for {probe.n_frames} frames; label it again")
                clips.append(ClipInfo(split, clip, source, frames=probe.n_frames, fps=probe.fps, width=probe.width,
                                      height=probe.height, n_anomalous=None if truth is None else int(np.sum(truth))))
        return DatasetInfo(name=path.name, path=path.resolve(), clips=tuple(clips), problems=tuple(problems))

    def datasets(self) -> list[DatasetInfo]:
        """Every dataset of the folder (see `info`)."""
        return [self.info(n) for n in self.names()]

    def clip(self, name: str, split: str, clip: str) -> ClipInfo:
        """One clip's info (UserDataError when there is no such clip)."""
        for c in self.info(name).clips:
            if c.split == split and c.name == clip:
                return c
        raise UserDataError(f"'{name}': no {SPLIT_TITLES.get(split, split)} clip named '{clip}'")

    # ---- creating, renaming, deleting -----------------------------------------------------------
    def create(self, name: str) -> Path:
        """Create an empty dataset (its training/ and testing/ folders); UserDataError if it exists."""
        path = self.dataset_dir(name, must_exist=False)
        if path.exists():
            raise UserDataError(f"'{name}': a dataset with this name exists already; pick another name or add clips to it")
        for split in SPLITS:
            (path / split).mkdir(parents=True, exist_ok=True)
        return path

    def rename(self, old: str, new: str) -> Path:
        """Rename a dataset (its folder). Checkpoints trained on it keep the old path in their metadata."""
        source = self.dataset_dir(old)
        target = self.dataset_dir(new, must_exist=False)
        if target.exists():
            raise UserDataError(f"'{new}': a dataset with this name exists already")
        source.rename(target)
        return target

    def delete(self, name: str) -> None:
        """Delete a dataset and every file in it (the page asks for confirmation first)."""
        path = self.dataset_dir(name)
        shutil.rmtree(path)

    def delete_clip(self, name: str, split: str, clip: str) -> None:
        """Delete one clip (and its labels)."""
        target = dict(self.clip_paths(name, split)).get(clip)
        if target is None:
            raise UserDataError(f"'{name}': no {SPLIT_TITLES.get(split, split)} clip named '{clip}'")
        self._inside(target)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        if split == "testing":
            labels = self.labels(name)
            if labels.pop(clip, None) is not None:
                self._write_labels(name, labels)

    # ---- uploads -------------------------------------------------------------------------------
    def add_uploads(self, name: str, uploads: Iterable[tuple[str, bytes]], split: str = "training",
                    create: bool = True) -> UploadReport:
        """Validate uploaded files one by one and add the good ones to a dataset's split.

        uploads: (file name, bytes) pairs: videos (mp4/avi/mkv/mov/webm) or zips of one clip's frame
        images. A refused file is named in `report.refused` with the reason; the others are kept.
        The dataset is created when missing (`create`), and removed again if it was new and no file
        was accepted. Raises UserDataError only for a bad dataset name or split."""
        split = _check_split(split)
        path = self.dataset_dir(name, must_exist=False)
        is_new = not path.exists()
        if is_new and not create:
            raise UserDataError(f"'{name}': no such dataset")
        report = UploadReport(dataset=path.name, split=split)
        uploads = list(uploads)
        if not uploads:
            return report
        if is_new:
            self.create(name)
        (path / split).mkdir(parents=True, exist_ok=True)
        taken = {c for c, _ in self.clip_paths(name, split)}
        for filename, data in uploads:
            try:
                clip = self._add_one(path / split, filename, bytes(data), taken)
            except UserDataError as exc:
                report.refused.append((filename, str(exc)))
                continue
            taken.add(clip.name)
            report.added.append(clip)
        if is_new and not report.added:
            shutil.rmtree(path, ignore_errors=True)
        return report

    def _staging(self) -> Path:
        folder = self.root / STAGING / uuid.uuid4().hex
        folder.mkdir(parents=True)
        self._inside(folder)
        return folder

    def _add_one(self, folder: Path, filename: str, data: bytes, taken: set[str]) -> ClipInfo:
        clip, suffix = clip_name_for(filename)
        limits = self.limits
        if len(data) == 0:
            raise UserDataError(f"{filename}: the file is empty (0 bytes); upload it again")
        if len(data) > limits.max_file_bytes:
            raise UserDataError(f"{filename}: {len(data) / MB:.0f} MB, over the {limits.max_file_bytes / MB:.0f} MB "
                                "limit for one file; cut the clip or lower its resolution")
        if clip in taken:
            raise UserDataError(f"{filename}: this dataset already has a clip named '{clip}'; rename the file or "
                                "delete that clip first")
        staging = self._staging()
        try:
            return self._store(staging, folder, filename, clip, suffix, data)
        except OSError as exc:  # a full disk, a name the file system refuses, ...
            raise UserDataError(f"{filename}: could not be stored ({exc.strerror or exc})") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            try:
                (self.root / STAGING).rmdir()  # only when empty (no other upload in progress)
            except OSError:
                pass

    def _store(self, staging: Path, folder: Path, filename: str, clip: str, suffix: str, data: bytes) -> ClipInfo:
        if suffix == ".zip":
            staged = self._stage_zip(staging, filename, data)
            target = folder / clip
        else:
            staged = staging / f"{clip}{suffix}"
            staged.write_bytes(data)
            target = folder / f"{clip}{suffix}"
        probe = self._decode_check(staged, filename)
        self._inside(target)
        if target.exists():
            raise UserDataError(f"{filename}: {target.name} exists already in the dataset")
        if staged.is_file():
            commit(staged, target)  # flushed to disk before it appears in the dataset
        else:
            os.replace(staged, target)  # a folder of frames
        return ClipInfo(folder.name, clip, target, frames=probe.n_frames, fps=probe.fps, width=probe.width,
                        height=probe.height)

    def _decode_check(self, staged: Path, filename: str):
        """The clip decodes (every frame, at a small size: bounded memory) and is not too long."""
        from vadlab.data.video import VideoDecodeError, read_video

        try:
            probe = probe_video(staged)
            if probe.n_frames > self.limits.max_clip_frames:
                raise UserDataError(f"{filename}: {probe.n_frames} frames, over the {self.limits.max_clip_frames}-frame "
                                    "limit for one clip; cut it into shorter clips")
            with upload_limits.decode_slot(filename):
                video = read_video(staged, max_frames=self.limits.max_clip_frames, max_side=64, name=filename)
        except (VideoDecodeError, ValueError, OSError) as exc:
            message = str(exc)
            if message.startswith(staged.name):  # the staged copy's name: say the upload's
                message = filename + message[len(staged.name):]
            raise UserDataError(message if message.startswith(filename) else f"{filename}: {message}") from None
        decoded = int(video.frames.shape[0])
        if decoded == 0:
            raise UserDataError(f"{filename}: no frames decoded; not a usable video")
        # containers may miscount by a frame or two; far fewer frames than declared is a cut file,
        # whose labels (one per declared frame) would never line up with what is decoded
        if not video.truncated and probe.n_frames - decoded > max(2, probe.n_frames // 100):
            raise UserDataError(f"{filename}: declares {probe.n_frames} frames but only {decoded} decode; the file is "
                                "truncated or damaged: upload it again or re-encode it")
        return dataclasses.replace(probe, n_frames=decoded)

    def _stage_zip(self, staging: Path, filename: str, data: bytes) -> Path:
        """Check a zip of frame images from its directory (`data.zips.frame_entries`: names, links,
        encryption, counts, sizes), THEN extract its images, flat, into `staging/frames`, each
        streamed and stopped as soon as it outgrows its declared size."""
        limits = self.limits
        with open_zip(data, filename, UserDataError) as archive:
            try:
                images = frame_entries(
                    archive, filename, UserDataError, image_suffixes=IMAGE_EXTENSIONS, max_bytes=limits.max_zip_bytes,
                    max_entries=limits.max_zip_files,
                    too_large=lambda total: UserDataError(
                        f"{filename}: expands to more than {limits.max_zip_bytes / MB:.0f} MB uncompressed (the limit, "
                        f"VADLAB_MAX_ZIP_MB; the zip is {len(data) / MB:.1f} MB); refusing it before extracting "
                        "anything"))
            except upload_limits.LimitExceeded as exc:  # an entry too large for a frame: refused before extracting
                raise UserDataError(str(exc)) from None
            if len(images) > limits.max_clip_frames:
                raise UserDataError(f"{filename}: {len(images)} frames, over the {limits.max_clip_frames}-frame limit "
                                    "for one clip")
            frames_dir = staging / "frames"
            frames_dir.mkdir()
            for entry_path, entry in images:
                out_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", entry_path.name)
                out = frames_dir / out_name
                if out.parent != frames_dir or out_name.startswith("."):
                    raise UserDataError(f"{filename}: unusable entry name '{entry.filename}'; refusing the zip")
                if out.exists():
                    raise UserDataError(f"{filename}: two frames named '{out_name}'; rename the images")
                try:
                    with open(out, "xb") as target:  # "x": never overwrite
                        copy_entry(archive, entry, target.write, filename, UserDataError)
                except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error) as exc:
                    raise UserDataError(f"{filename}: entry '{entry.filename}' cannot be read ({exc}); "
                                        "zip the frames again") from None
        return frames_dir

    # ---- labels --------------------------------------------------------------------------------
    def labels_path(self, name: str) -> Path:
        return self.dataset_dir(name) / "testing" / LABELS_FILE

    def labels(self, name: str) -> dict[str, np.ndarray]:
        """The test clips' frame labels from testing/labels.json ({} when there is none)."""
        path = self.labels_path(name)
        if not path.is_file():
            return {}
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserDataError(f"'{name}': {LABELS_FILE} is not valid JSON ({exc}); save the labels again") from None
        if not isinstance(raw, dict):
            raise UserDataError(f"'{name}': {LABELS_FILE} must map clip names to lists of 0/1")
        return {str(k): np.asarray(v, dtype=np.uint8) for k, v in raw.items()}

    def _write_labels(self, name: str, labels: Mapping[str, np.ndarray]) -> Path:
        path = self.labels_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        ordered = {k: [int(x) for x in np.asarray(labels[k]).ravel()] for k in sorted(labels, key=natural_key)}
        return atomic_write(path, json.dumps(ordered, separators=(",", ":")))

    def save_labels(self, name: str, clip: str, labels: Sequence[int] | np.ndarray | None) -> Path:
        """Store one test clip's (N,) 0/1 labels in the dataset's labels file (None removes them).
        N must be the clip's frame count."""
        info = self.clip(name, "testing", clip)
        all_labels = self.labels(name)
        if labels is None:
            all_labels.pop(clip, None)
        else:
            arr = np.asarray(labels).ravel()
            if arr.size != info.frames:
                raise UserDataError(f"{clip}: {arr.size} labels but the clip has {info.frames} frames; give one 0/1 "
                                    "label per frame")
            if not np.isin(arr, (0, 1)).all():
                raise UserDataError(f"{clip}: labels must be 0 or 1")
            all_labels[clip] = arr.astype(np.uint8)
        return self._write_labels(name, all_labels)

    def save_spans(self, name: str, clip: str, spans: Iterable[Sequence[int]]) -> Path:
        """Store a test clip's anomalous spans (0-based inclusive frames) as its labels."""
        info = self.clip(name, "testing", clip)
        return self.save_labels(name, clip, spans_to_labels(spans, info.frames, clip))

    def import_labels(self, name: str, filename: str, data: bytes, clip: Optional[str] = None) -> dict[str, np.ndarray]:
        """Read an uploaded labels file (CSV/TXT/JSON/npy/.mat/.m, `datasets.load_labels_any`) and
        store its labels for the dataset's test clips. Entries are matched to clips by name; a
        single-video file goes to `clip` when its name matches no clip; numbered entries of a
        .mat/.m file ("01", "02", ...) go to the test clips in order. Range formats end at the
        last anomalous frame: the frames after it are normal. Returns {clip: labels} stored."""
        from vadlab.data.datasets import DatasetError, load_labels_any

        test = {c.name: c for c in self.info(name).split("testing") if c.error is None}
        if not test:
            raise UserDataError(f"'{name}': no test clips to label; upload test clips first")
        try:
            entries = load_labels_any(bytes(data), name=PurePosixPath(filename.replace("\\", "/")).name)
        except DatasetError as exc:
            raise UserDataError(str(exc)) from None
        matched: dict[str, np.ndarray] = {}
        if all(k in test for k in entries):
            matched = dict(entries)
        elif len(entries) == 1 and clip in test:
            matched = {clip: next(iter(entries.values()))}
        elif all(k.isdigit() for k in entries) and len(entries) == len(test):
            matched = dict(zip(test, entries.values()))  # .mat / .m: by position
        else:
            raise UserDataError(f"{filename}: its entries ({', '.join(list(entries)[:6])}) match none of the test clips "
                                f"({', '.join(list(test)[:6])}); name entries after the clips, or pick the clip and "
                                "upload one clip's labels")
        ranges = filename.lower().endswith((".mat", ".m"))
        stored = self.labels(name)
        for key, labels in matched.items():
            n = test[key].frames
            if ranges and len(labels) < n:
                labels = np.concatenate([labels, np.zeros(n - len(labels), np.uint8)])
            if len(labels) != n:
                raise UserDataError(f"{filename}: {len(labels)} labels for '{key}' but the clip has {n} frames; give "
                                    "one 0/1 label per frame")
            stored[key] = np.asarray(labels, dtype=np.uint8)
        self._write_labels(name, stored)
        return matched

    def labels_json(self, name: str) -> bytes:
        """The dataset's labels file as bytes (for a download): {"clip": [0, 1, ...]}."""
        labels = self.labels(name)
        ordered = {k: [int(x) for x in labels[k]] for k in sorted(labels, key=natural_key)}
        return json.dumps(ordered, indent=0).encode()


@functools.lru_cache(maxsize=1024)
def _probe(path: str, mtime_ns: int, size: int):
    """`probe_video`, remembered per file version (listing a dataset probes every clip)."""
    return probe_video(path)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UserDataError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    return split
