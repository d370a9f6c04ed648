"""Datasets with frame-level ground truth: UCSD Ped1/Ped2, CUHK Avenue, ShanghaiTech, plain folders.

`load_dataset("KIND:PATH")` lists the videos of a dataset (it decodes nothing: frame counts come
from listing frame folders or from container metadata) and attaches per-frame 0/1 labels to the
test videos. Frame `i` (0-based) of a video is anomalous when `labels[i] == 1`; ground truth given
as 1-based inclusive [start; end] ranges (`.mat` `gt`, UCSD `.m`) is converted accordingly, so
`000.jpg` is frame 1 of the ranges.

Kinds and the layouts they read:
  ped2, ped1    Liu et al. 2018 frame layout: PATH/training/frames/01/000.jpg, PATH/testing/frames/..,
                labels from PATH/ped2.mat (or ../ped2.mat; `gt` = 1xN cell of [start; end] columns),
                else PATH/frame_labels.json, else PATH/UCSDped2.m; masks PATH/testing/masks/NN/NNN.png.
                A PATH in the original UCSD layout (Train/, Test/) is read as `ucsd`.
  ucsd          original UCSD layout: PATH/Train/Train001/001.tif, PATH/Test/Test001/001.tif, masks
                PATH/Test/Test001_gt/001.bmp, labels from UCSDped1.m / UCSDped2.m (in PATH or PATH/Test).
  avenue        PATH/training/frames/01/0000.jpg + PATH/testing/frames/.. + PATH/avenue.mat (`gt`), or
                the original PATH/training_videos/01.avi + testing_videos/ + per-video
                testing_label_mask/1_label.mat (`volLabel`: cell of per-frame masks; also looked
                for under PATH/ground_truth_demo/).
  shanghaitech  PATH/training/videos/01_001.avi (or training/frames/01_001/), PATH/testing/frames/01_0014/,
                labels PATH/testing/test_frame_mask/01_0014.npy, masks testing/test_pixel_mask/01_0014.npy.
  folder        PATH/training/* and PATH/testing/* (videos and/or frame folders; `train`/`test` work
  synthetic     too); labels from <split>/labels.json {"name": [0, 1, ...]} or per-video NAME.csv /
                NAME.npy / NAME.json; masks <split>/masks/NAME.npz (key "masks", (N, H, W) bool),
                NAME.npy or a frame folder NAME/. PATH may also be one video file, one frame folder
                or one folder of videos with no split (then train = [], test = all).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from vadlab.data.video import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoDecodeError,
    count_frames,
    is_image_file,
    list_frame_files,
    natural_key,
)


class DatasetError(ValueError):
    """A dataset that cannot be loaded as asked (missing path, no videos, inconsistent labels...)."""


@dataclass
class VideoRecord:
    """One video of a dataset.

    source:      a video file or a folder of frame images.
    labels:      (N,) uint8 0/1 per-frame ground truth, or None when there is none (training videos).
    mask_source: pixel-level ground truth (a folder of mask images, an .npy/.npz (N, H, W), or an
                 Avenue `_label.mat`), or None; read it with `read_masks`.
    n_frames:    frame count of `source` (N), filled by `load_dataset`.
    """

    name: str
    source: Path
    labels: Optional[np.ndarray] = field(default=None, repr=False)
    mask_source: Optional[Path] = None
    n_frames: Optional[int] = None


@dataclass
class VideoDataset:
    """A dataset: normal training videos and labelled test videos.

    fps: the frame rate of the dataset's cameras when the benchmark defines one (UCSD 10,
    Avenue 25, ShanghaiTech 24: `DATASET_FPS`), for frame folders, which carry none; None for
    layouts whose videos carry their own rate (folder, synthetic)."""

    name: str
    root: Path
    train: list[VideoRecord] = field(default_factory=list)
    test: list[VideoRecord] = field(default_factory=list)
    fps: Optional[float] = None

    def test_labels(self) -> dict[str, np.ndarray]:
        """Video name -> (N,) uint8 frame labels, for the test videos that have labels."""
        return {r.name: r.labels for r in self.test if r.labels is not None}

    def n_frames(self, split: str = "test") -> int:
        """Total frame count of a split ("train" or "test")."""
        records = {"train": self.train, "test": self.test}[split]
        return int(sum(r.n_frames or 0 for r in records))


# ---- ground-truth formats -------------------------------------------------------------------------
Intervals = list[tuple[int, int]]  # 1-based inclusive (start, end) frame ranges of one video

_M_LINE = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")


def parse_ucsd_m(text: str) -> list[Intervals]:
    """Parse UCSD's `UCSDpedN.m` ground truth: one list of 1-based inclusive (start, end) ranges
    per `TestVideoFile{end+1}.gt_frame = [61:180];` line, in file order. `[1:10, 50:60]` gives two
    ranges, a bare number `[7]` gives (7, 7), `[]` gives none; `%` comments are ignored."""
    videos: list[Intervals] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.split("%", 1)[0]
        match = _M_LINE.search(line)
        if not match:
            continue
        ranges: Intervals = []
        for token in re.split(r"[,\s;]+", match.group(1).strip()):
            if not token:
                continue
            parts = token.split(":")
            try:
                if len(parts) == 1:
                    ranges.append((int(parts[0]), int(parts[0])))
                elif len(parts) == 2:
                    ranges.append((int(parts[0]), int(parts[1])))
                else:
                    raise ValueError(token)
            except ValueError:
                raise DatasetError(f"line {line_no}: cannot read range '{token}' in '{line.strip()}'") from None
        videos.append(ranges)
    return videos


def _intervals_from_mat_gt(gt: np.ndarray, label: str) -> list[Intervals]:
    """`gt` cell (1xN object array) of [start; end] columns (2xK for K ranges) -> ranges per video."""
    cells = np.asarray(gt, dtype=object).ravel() if gt.dtype == object else [gt]
    videos: list[Intervals] = []
    for i, cell in enumerate(cells):
        arr = np.asarray(cell)
        if arr.size == 0:
            videos.append([])
            continue
        arr = arr.astype(np.int64)
        if arr.ndim == 1 and arr.size == 2:
            arr = arr.reshape(2, 1)
        if arr.ndim != 2 or 2 not in arr.shape:
            raise DatasetError(f"{label}: gt entry {i + 1} has shape {arr.shape}; expected [start; end] rows (2 x K)")
        if arr.shape[0] != 2:  # K x 2 written the other way round
            arr = arr.T
        videos.append([(int(s), int(e)) for s, e in arr.T])
    return videos


def intervals_to_labels(intervals: Intervals, n_frames: Optional[int], label: str = "video") -> np.ndarray:
    """1-based inclusive ranges -> (n_frames,) uint8 0/1 labels. With `n_frames=None` the labels end
    at the last anomalous frame (trailing normal frames are unknown; pass the frame count)."""
    n = n_frames if n_frames is not None else max((e for _, e in intervals), default=0)
    labels = np.zeros(n, dtype=np.uint8)
    for start, end in intervals:
        if start < 1 or end < start or end > n:
            where = f"does not fit a video of {n} frames" if n_frames is not None else "is not a range of frames"
            raise DatasetError(f"{label}: anomalous range [{start}:{end}] {where} (ranges are 1-based and inclusive: "
                               "the first frame is 1, and the end is not before the start)")
        labels[start - 1 : end] = 1
    return labels


def _as_binary(values, label: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DatasetError(f"{label}: labels must be one value per frame (1-D), got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{label}: labels must be numbers 0 or 1") from None
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{label}: labels must be 0 or 1; frame {i} has {arr[i]:g}")
    return arr.astype(np.uint8)


def _parse_csv(text: str, label: str) -> np.ndarray:
    """One 0/1 per line, or a column named 'label'. Raises DatasetError for anything else, binary
    data included (one line, never a csv module error)."""
    if "\x00" in text or text.count("\ufffd") > max(2, len(text) // 100):  # NUL bytes or undecodable bytes
        raise DatasetError(f"{label}: not a text CSV (it holds binary data); give one 0/1 per line or a column "
                           "named 'label'")
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DatasetError(f"{label}: not a readable CSV ({exc}); give one 0/1 per line or a column named "
                           "'label'") from None
    if not rows:
        raise DatasetError(f"{label}: no labels in the file")
    header = [cell.strip().lower() for cell in rows[0]]
    try:
        [float(cell) for cell in header]
        has_header = False
    except ValueError:
        has_header = True
    if has_header:
        if "label" in header:
            column = header.index("label")
        elif len(header) == 1:
            column = 0
        else:
            raise DatasetError(f"{label}: no column named 'label' among {rows[0]}; name the 0/1 column 'label'")
        rows = rows[1:]
    else:
        if len(rows[0]) != 1:
            raise DatasetError(
                f"{label}: {len(rows[0])} columns and no header; give one 0/1 per line or a column named 'label'"
            )
        column = 0
    try:
        values = [float(row[column]) for row in rows]
    except (ValueError, IndexError):
        raise DatasetError(f"{label}: every row needs a number 0 or 1 in the label column") from None
    return _as_binary(values, label)


def _load_mat(data: bytes, label: str) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(io.BytesIO(data))
    except NotImplementedError:
        raise DatasetError(f"{label}: MATLAB v7.3 (HDF5) file; re-save it in MATLAB with save(..., '-v7')") from None
    except Exception as exc:
        raise DatasetError(f"{label}: not a readable MATLAB .mat file ({exc})") from None


def _volume_label_masks(mat: dict, label: str) -> np.ndarray:
    """Avenue `volLabel` (1xN cell of H x W masks) -> (N, H, W) bool."""
    cells = np.asarray(mat["volLabel"], dtype=object).ravel()
    if len(cells) == 0:
        raise DatasetError(f"{label}: volLabel is empty")
    masks = [np.asarray(c) != 0 for c in cells]
    if len({m.shape for m in masks}) != 1 or masks[0].ndim != 2:
        raise DatasetError(f"{label}: volLabel masks must all be 2-D and the same size")
    return np.stack(masks)  # (N, H, W)


def _index_names(count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"{i + 1:0{width}d}" for i in range(count)]


def load_labels_any(
    source: str | Path | bytes,
    name: Optional[str] = None,
    n_frames: int | Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Read frame labels of one or several videos from a file or its bytes (e.g. an upload).

    source:   a path, or the file's bytes (then `name`, the file name, gives the format).
    Formats (by extension): `.csv`/`.txt` one 0/1 per line or a column named `label`; `.json` a
              list (one video) or {"video": [0, 1, ...]}; `.npy` a 1-D array; `.mat` a `gt` cell of
              1-based [start; end] ranges (Liu et al.) or an Avenue `volLabel` mask cell; `.m` UCSD
              `gt_frame = [a:b, ...]` lines.
    Returns video name -> (N,) uint8 0/1. Single-video files are keyed by the file's stem;
    `.mat` `gt` / `.m` entries by their 1-based position, zero-padded: "01", "02", ...
    n_frames: the frame count (int, single video) or counts per name; range formats need it to
              know how many normal frames follow the last range (without it the labels end at the
              last anomalous frame); other formats are checked against it.
    """
    if isinstance(source, (bytes, bytearray)):
        if not name:
            raise DatasetError("labels given as bytes need the file name (its extension gives the format)")
        data = bytes(source)
    else:
        path = Path(source)
        name = name or path.name
        if not path.is_file():
            raise DatasetError(f"{name}: no such labels file ({path})")
        data = path.read_bytes()
    suffix = Path(name).suffix.lower()
    stem = Path(name).stem
    if not data.strip():
        raise DatasetError(f"{name}: the labels file is empty")

    def count_for(key: str) -> Optional[int]:
        if isinstance(n_frames, Mapping):
            return n_frames.get(key)
        return n_frames

    out: dict[str, np.ndarray]
    if suffix in (".csv", ".txt"):
        out = {stem: _parse_csv(data.decode("utf-8-sig", errors="replace"), name)}
    elif suffix == ".json":
        try:
            obj = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{name}: not valid JSON ({exc})") from None
        if isinstance(obj, list):
            out = {stem: _as_binary(obj, name)}
        elif isinstance(obj, dict) and all(isinstance(v, list) for v in obj.values()) and obj:
            out = {str(k): _as_binary(v, f"{name}[{k!r}]") for k, v in obj.items()}
        else:
            raise DatasetError(f'{name}: expected a list of 0/1 or {{"video": [0, 1, ...]}}, got {type(obj).__name__}')
    elif suffix == ".npy":
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:
            raise DatasetError(f"{name}: not a readable .npy array ({exc})") from None
        out = {stem: _as_binary(arr, name)}
    elif suffix == ".mat":
        mat = _load_mat(data, name)
        if "gt" in mat:
            ranges = _intervals_from_mat_gt(mat["gt"], name)
            keys = _index_names(len(ranges))
            if isinstance(n_frames, int) and len(ranges) > 1:
                raise DatasetError(f"{name}: holds {len(ranges)} videos; give n_frames per video name")
            out = {k: intervals_to_labels(r, count_for(k), f"{name} video {k}") for k, r in zip(keys, ranges)}
        elif "volLabel" in mat:
            out = {stem: _volume_label_masks(mat, name).any(axis=(1, 2)).astype(np.uint8)}  # any pixel set
        else:
            found = [k for k in mat if not k.startswith("__")]
            raise DatasetError(f"{name}: no 'gt' or 'volLabel' variable (found: {', '.join(found) or 'none'})")
    elif suffix == ".m":
        ranges = parse_ucsd_m(data.decode("utf-8", errors="replace"))
        if not ranges:
            raise DatasetError(f"{name}: no 'gt_frame = [...]' lines found")
        keys = _index_names(len(ranges))
        if isinstance(n_frames, int) and len(ranges) > 1:
            raise DatasetError(f"{name}: holds {len(ranges)} videos; give n_frames per video name")
        out = {k: intervals_to_labels(r, count_for(k), f"{name} video {k}") for k, r in zip(keys, ranges)}
    else:
        raise DatasetError(f"{name}: unsupported labels format '{suffix or '(none)'}'; use .csv, .json, .npy, .mat or .m")
    for key, labels in out.items():
        expected = count_for(key)
        if expected is not None and len(labels) != expected:
            raise DatasetError(f"{name}: {len(labels)} labels for '{key}' but the video has {expected} frames")
    return out


def load_labels_file(path: str | Path, n_frames: Optional[int] = None) -> np.ndarray:
    """(N,) uint8 0/1 frame labels of ONE video from a .csv/.json/.npy/.mat/.m file (see
    `load_labels_any`; files holding several videos raise DatasetError: use `load_labels_any`)."""
    labels = load_labels_any(path, n_frames=n_frames)
    if len(labels) != 1:
        raise DatasetError(
            f"{Path(path).name}: holds labels for {len(labels)} videos ({', '.join(list(labels)[:5])}...); "
            "use load_labels_any to get them by name"
        )
    return next(iter(labels.values()))


# ---- pixel masks --------------------------------------------------------------------------------
def read_masks(record: VideoRecord, n_frames: Optional[int] = None) -> Optional[np.ndarray]:
    """(N, H, W) bool pixel-level ground truth of a video at native resolution, or None when the
    record has none. True = anomalous pixel. N is checked against `n_frames` (or `record.n_frames`)."""
    from PIL import Image

    src = record.mask_source
    if src is None:
        return None
    src = Path(src)
    label = f"{record.name} masks ({src.name})"
    if src.is_dir():
        files = list_frame_files(src)
        if not files:
            raise DatasetError(f"{label}: no mask images in {src}")
        masks = None
        for i, f in enumerate(files):
            with Image.open(f) as img:
                mask = np.asarray(img.convert("L")) > 0  # (H, W)
            if masks is None:
                masks = np.empty((len(files), *mask.shape), dtype=bool)
            if mask.shape != masks.shape[1:]:
                raise DatasetError(f"{label}: {f.name} is {mask.shape} but {files[0].name} is {masks.shape[1:]}")
            masks[i] = mask
    elif src.suffix.lower() == ".npy":
        masks = np.load(src, allow_pickle=False) != 0
    elif src.suffix.lower() == ".npz":
        with np.load(src, allow_pickle=False) as archive:
            if "masks" in archive.files:
                key = "masks"
            elif len(archive.files) == 1:
                key = archive.files[0]
            else:
                raise DatasetError(f"{label}: no array named 'masks' (found {', '.join(archive.files)})")
            masks = archive[key] != 0
    elif src.suffix.lower() == ".mat":
        mat = _load_mat(src.read_bytes(), label)
        if "volLabel" not in mat:
            raise DatasetError(f"{label}: no 'volLabel' variable")
        masks = _volume_label_masks(mat, label)
    else:
        raise DatasetError(f"{label}: unsupported mask source; use a folder of images, .npy, .npz or .mat")
    if masks.ndim != 3:
        raise DatasetError(f"{label}: masks must be (N, H, W), got shape {masks.shape}")
    expected = n_frames if n_frames is not None else record.n_frames
    if expected is not None and masks.shape[0] != expected:
        raise DatasetError(f"{label}: {masks.shape[0]} masks but the video has {expected} frames")
    return masks


# ---- listing videos ---------------------------------------------------------------------------
_SKIP_DIRS = {"masks", "test_frame_mask", "test_pixel_mask", "__MACOSX"}


def _has_images(folder: Path) -> bool:
    return any(is_image_file(p) for p in folder.iterdir())


def list_videos(folder: Path) -> list[tuple[str, Path]]:
    """(name, source) of the videos in `folder`, in natural order: video files (name = stem) and
    sub-folders holding frame images (name = folder name). Hidden entries, `*_gt` mask folders and
    mask folders are skipped."""
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
            continue
        if entry.is_file() and entry.suffix.lower() in VIDEO_EXTENSIONS:
            name = entry.stem
        elif entry.is_dir() and not entry.name.endswith("_gt") and _has_images(entry):
            name = entry.name
        else:
            continue
        if name in found:
            raise DatasetError(f"{folder}: two videos named '{name}' ({found[name].name} and {entry.name}); rename one")
        found[name] = entry
    return list(found.items())


def _make_record(name: str, source: Path, labels: Optional[np.ndarray], mask_source: Optional[Path], where: str) -> VideoRecord:
    try:
        n = count_frames(source)
    except (VideoDecodeError, OSError) as exc:
        raise DatasetError(f"{where}: cannot read video '{name}': {exc}") from None
    if n == 0:
        raise DatasetError(f"{where}: video '{name}' ({source}) has no frames")
    if labels is not None:
        labels = np.asarray(labels, dtype=np.uint8)
        if labels.shape != (n,):
            raise DatasetError(
                f"{where}: video '{name}' has {n} frames but its labels have {labels.size} entries; "
                "give one 0/1 label per frame"
            )
    return VideoRecord(name=name, source=source, labels=labels, mask_source=mask_source, n_frames=n)


def _first_existing(*paths: Path) -> Optional[Path]:
    return next((p for p in paths if p.exists()), None)


def _child(folder: Path, *names: str) -> Optional[Path]:
    """The first child of `folder` whose name matches one of `names`, case-insensitively."""
    if not folder.is_dir():
        return None
    by_lower = {p.name.lower(): p for p in folder.iterdir()}
    return next((by_lower[n.lower()] for n in names if n.lower() in by_lower), None)


def _labels_by_position(ranges_file: Path, videos: Sequence[tuple[str, Path]], where: str) -> dict[str, np.ndarray]:
    """Labels from a multi-video `.mat`/`.m`, matched to `videos` by position (1st entry = 1st video)."""
    counts = {key: count_frames(src) for key, (_, src) in zip(_index_names(len(videos)), videos)}
    by_index = load_labels_any(ranges_file, n_frames=counts)
    if len(by_index) != len(videos):
        raise DatasetError(
            f"{where}: {ranges_file.name} has ground truth for {len(by_index)} videos but there are "
            f"{len(videos)} test videos"
        )
    return {name: labels for (name, _), labels in zip(videos, by_index.values())}


def _records(
    videos: Sequence[tuple[str, Path]],
    where: str,
    labels: Mapping[str, np.ndarray] | None = None,
    mask_for: Callable[[str], Optional[Path]] | None = None,
) -> list[VideoRecord]:
    labels = labels or {}
    names = {n for n, _ in videos}
    unknown = sorted(set(labels) - names, key=natural_key)
    if unknown:
        raise DatasetError(f"{where}: labels given for videos that do not exist: {', '.join(unknown[:5])}")
    return [
        _make_record(name, src, labels.get(name), mask_for(name) if mask_for else None, where)
        for name, src in videos
    ]


# ---- loaders --------------------------------------------------------------------------------
def _load_liu(root: Path, kind: str) -> VideoDataset:
    """ped1 / ped2 / avenue in the frame-folder layout of Liu et al. 2018."""
    train_dir, test_dir = root / "training" / "frames", root / "testing" / "frames"
    if not train_dir.is_dir() and not test_dir.is_dir():
        if kind in ("ped1", "ped2") and _child(root, "Train", "Test"):
            return _load_ucsd(root, kind)
        if kind == "avenue" and _child(root, "training_videos", "testing_videos"):
            return _load_avenue_videos(root)
        raise DatasetError(
            f"{kind}:{root}: neither training/frames/ nor testing/frames/ found; expected "
            f"{root}/training/frames/01/000.jpg and {root}/testing/frames/01/000.jpg"
        )
    train = list_videos(train_dir) if train_dir.is_dir() else []
    test = list_videos(test_dir) if test_dir.is_dir() else []
    where = f"{kind}:{root}"
    labels: dict[str, np.ndarray] = {}
    gt_mat = _first_existing(root / f"{kind}.mat", root.parent / f"{kind}.mat")
    gt_json = root / "frame_labels.json"
    gt_m = _first_existing(root / f"UCSD{kind}.m", root / "testing" / f"UCSD{kind}.m")
    if test and gt_mat:
        labels = _labels_by_position(gt_mat, test, where)
    elif test and gt_json.is_file():
        labels = load_labels_any(gt_json)
    elif test and gt_m:
        labels = _labels_by_position(gt_m, test, where)
    elif test and kind == "avenue":
        labels = _avenue_mask_labels(root, test)
    mask_root = root / "testing" / "masks"

    def mask_for(name: str) -> Optional[Path]:
        if kind == "avenue" and not mask_root.is_dir():
            return _avenue_mask_file(root, name)
        return _find_mask(mask_root, name)

    return VideoDataset(kind, root, _records(train, where), _records(test, where, labels, mask_for))


def _find_mask(mask_dir: Path, name: str) -> Optional[Path]:
    """mask_dir/NAME/ (images), NAME.npz or NAME.npy, whichever exists."""
    if not mask_dir.is_dir():
        return None
    return _first_existing(mask_dir / name, mask_dir / f"{name}.npz", mask_dir / f"{name}.npy")


def _load_ucsd(root: Path, kind: str = "ucsd") -> VideoDataset:
    """The original UCSD layout: Train/Train001/001.tif, Test/Test001/001.tif, Test/Test001_gt/."""
    train_dir, test_dir = _child(root, "Train"), _child(root, "Test")
    if train_dir is None and test_dir is None:
        raise DatasetError(f"{kind}:{root}: no Train/ or Test/ folder; expected {root}/Train/Train001/001.tif")
    where = f"{kind}:{root}"
    train = list_videos(train_dir) if train_dir else []
    test = list_videos(test_dir) if test_dir else []
    labels: dict[str, np.ndarray] = {}
    m_files = sorted([p for d in (root, test_dir) if d for p in d.glob("UCSDped*.m")], key=lambda p: p.name)
    preferred = [p for p in m_files if p.stem.lower() == f"ucsd{kind}"]
    if test and (preferred or m_files):
        labels = _labels_by_position((preferred or m_files)[0], test, where)

    def mask_for(name: str) -> Optional[Path]:
        gt = test_dir / f"{name}_gt" if test_dir else None
        return gt if gt is not None and gt.is_dir() else None

    return VideoDataset(kind, root, _records(train, where), _records(test, where, labels, mask_for))


def _avenue_mask_dir(root: Path) -> Optional[Path]:
    return _first_existing(root / "testing_label_mask", root / "ground_truth_demo" / "testing_label_mask")


def _avenue_mask_file(root: Path, name: str) -> Optional[Path]:
    mask_dir = _avenue_mask_dir(root)
    if mask_dir is None:
        return None
    candidates = [mask_dir / f"{name}_label.mat"]
    if name.isdigit():
        candidates.append(mask_dir / f"{int(name)}_label.mat")
    return _first_existing(*candidates)


def _avenue_mask_labels(root: Path, videos: Sequence[tuple[str, Path]]) -> dict[str, np.ndarray]:
    """Frame labels from Avenue's per-video `volLabel` masks: anomalous = any pixel set."""
    labels = {}
    for name, _ in videos:
        mask_file = _avenue_mask_file(root, name)
        if mask_file is not None:
            labels[name] = next(iter(load_labels_any(mask_file).values()))
    return labels


def _load_avenue_videos(root: Path) -> VideoDataset:
    train_dir, test_dir = root / "training_videos", root / "testing_videos"
    where = f"avenue:{root}"
    train = list_videos(train_dir) if train_dir.is_dir() else []
    test = list_videos(test_dir) if test_dir.is_dir() else []
    gt_mat = _first_existing(root / "avenue.mat", root.parent / "avenue.mat")
    labels = _labels_by_position(gt_mat, test, where) if gt_mat and test else _avenue_mask_labels(root, test)
    return VideoDataset(
        "avenue", root, _records(train, where), _records(test, where, labels, lambda n: _avenue_mask_file(root, n))
    )


def _load_avenue(root: Path, kind: str = "avenue") -> VideoDataset:
    return _load_liu(root, "avenue")


def _load_shanghaitech(root: Path, kind: str = "shanghaitech") -> VideoDataset:
    where = f"shanghaitech:{root}"
    train_dir = _first_existing(root / "training" / "videos", root / "training" / "frames")
    test_dir = _first_existing(root / "testing" / "frames", root / "testing" / "videos")
    if train_dir is None and test_dir is None:
        raise DatasetError(
            f"{where}: no training/videos/, training/frames/ or testing/frames/; expected "
            f"{root}/training/videos/01_001.avi and {root}/testing/frames/01_0014/000.jpg"
        )
    train = list_videos(train_dir) if train_dir else []
    test = list_videos(test_dir) if test_dir else []
    frame_mask_dir = root / "testing" / "test_frame_mask"
    labels = {}
    for name, _ in test:
        label_file = frame_mask_dir / f"{name}.npy"
        if label_file.is_file():
            labels[name] = load_labels_file(label_file)
    pixel_dir = root / "testing" / "test_pixel_mask"

    def mask_for(name: str) -> Optional[Path]:
        path = pixel_dir / f"{name}.npy"
        return path if path.is_file() else None

    return VideoDataset("shanghaitech", root, _records(train, where), _records(test, where, labels, mask_for))


def _folder_labels(folder: Path, videos: Sequence[tuple[str, Path]]) -> dict[str, np.ndarray]:
    """labels.json in `folder`, then per-video NAME.csv / NAME.npy / NAME.json next to the videos."""
    labels: dict[str, np.ndarray] = {}
    labels_json = folder / "labels.json"
    if labels_json.is_file():
        labels.update(load_labels_any(labels_json))
    for name, _ in videos:
        if name in labels:
            continue
        per_video = _first_existing(*(folder / f"{name}{ext}" for ext in (".csv", ".npy", ".json")))
        if per_video is not None and per_video != labels_json:
            labels[name] = load_labels_file(per_video)
    return labels


def _folder_split(folder: Path, where: str) -> list[VideoRecord]:
    videos = list_videos(folder)
    return _records(videos, where, _folder_labels(folder, videos), lambda n: _find_mask(folder / "masks", n))


def _load_folder(root: Path, kind: str = "folder") -> VideoDataset:
    where = f"{kind}:{root}"
    if root.is_file():
        if root.suffix.lower() not in VIDEO_EXTENSIONS:
            raise DatasetError(f"{where}: not a video file; give a {', '.join(VIDEO_EXTENSIONS)} file or a folder")
        videos = [(root.stem, root)]
        labels = _folder_labels(root.parent, videos)
        labels = {k: v for k, v in labels.items() if k == root.stem}  # a shared labels.json may list others
        return VideoDataset(kind, root, [], _records(videos, where, labels, lambda n: _find_mask(root.parent / "masks", n)))
    train_dir, test_dir = _child(root, "training", "train"), _child(root, "testing", "test")
    if (train_dir and train_dir.is_dir()) or (test_dir and test_dir.is_dir()):
        train = _folder_split(train_dir, where) if train_dir and train_dir.is_dir() else []
        test = _folder_split(test_dir, where) if test_dir and test_dir.is_dir() else []
        return VideoDataset(kind, root, train, test)
    if _has_images(root):  # one video given as a frame folder
        videos = [(root.name, root)]
        return VideoDataset(kind, root, [], _records(videos, where, _folder_labels(root, videos)))
    return VideoDataset(kind, root, [], _folder_split(root, where))


_LOADERS: dict[str, Callable[[Path, str], VideoDataset]] = {
    "ped2": _load_liu,
    "ped1": _load_liu,
    "ucsd": _load_ucsd,
    "avenue": _load_avenue,
    "shanghaitech": _load_shanghaitech,
    "folder": _load_folder,
    "synthetic": _load_folder,
}
KNOWN_KINDS = tuple(_LOADERS)

# Frame rates of the benchmark cameras (frames per second), as their papers and readmes give them:
# UCSD Ped1/Ped2 were recorded at 10 fps, CUHK Avenue at 25, ShanghaiTech Campus at 24. Frame
# folders carry no rate, so a clip read from one of these datasets takes the dataset's rate.
DATASET_FPS: dict[str, float] = {"ped1": 10.0, "ped2": 10.0, "ucsd": 10.0, "avenue": 25.0, "shanghaitech": 24.0}


def dataset_fps(kind: str) -> Optional[float]:
    """The frame rate of a dataset kind's cameras ("ped2" -> 10.0), or None when the kind defines
    none (folder, synthetic: their videos carry their own rate; frame folders there are assumed)."""
    return DATASET_FPS.get(kind.strip().lower())


def load_dataset(spec: str) -> VideoDataset:
    """Load a dataset from `KIND:PATH` (KIND in ped2, ped1, ucsd, avenue, shanghaitech, folder,
    synthetic; see the module docstring for each layout). Lists videos and frame counts and
    attaches (N,) uint8 labels to test videos; decodes no frames.

    Raises DatasetError for an unknown kind, a missing path, no videos, or labels whose length
    differs from the video's frame count."""
    kind, sep, path_text = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in _LOADERS:
        raise DatasetError(
            f"unknown dataset kind '{kind if sep else spec}'; write KIND:PATH with KIND one of: {', '.join(KNOWN_KINDS)}"
        )
    if not path_text.strip():
        raise DatasetError(f"'{spec}': no path after '{kind}:'; write {kind}:/path/to/data")
    root = Path(path_text.strip()).expanduser()
    if not root.exists():
        raise DatasetError(f"{kind}:{root}: path does not exist")
    dataset = _LOADERS[kind](root, kind)
    dataset.fps = dataset_fps(dataset.name)  # "ped2", "ucsd", "avenue", ...: the camera's rate; folders: None
    if not dataset.train and not dataset.test:
        raise DatasetError(
            f"{kind}:{root}: no videos found (video files {', '.join(VIDEO_EXTENSIONS)} or folders of "
            f"{', '.join(IMAGE_EXTENSIONS)} frames)"
        )
    return dataset
