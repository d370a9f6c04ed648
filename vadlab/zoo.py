"""The model zoo: the checkpoints in given folders, summarised (`CheckpointEntry`), ranked by how
well they fit a clip or a dataset (and the sentence that says why the first was chosen), the zoo
table's rows, the checkpoints a run can start from, and the lightest checkpoint of each family.

The app (`vadlab.ui.cache` adds Streamlit caching and the session's device), the notebook, the CLI
and `bench/` all read the zoo here. Metadata only: nothing is loaded or scored. No Streamlit here.
"""
from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from vadlab import paths
from vadlab.checkpoint import read_metadata

CPU_DEFAULT_MIN_FPS = 5.0  # a checkpoint slower than this on one CPU thread is never picked by default on a CPU

FrameSize = tuple[int, int]  # (width, height) in pixels


# ------------------------------------------------------------------------------------ entries
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
    auc: Optional[float] = None  # micro AUC on `eval_data` under `protocol` (the checkpoint's stored metrics)
    size_mb: float = 0.0
    error: Optional[str] = None
    calibrated: bool = False  # holds a normal-data calibration (calibrated verdicts)
    macro_auc: Optional[float] = None
    eval_data: Optional[str] = None  # dataset spec the stored metrics were measured on
    protocol: Optional[str] = None  # short form of the protocol of the stored metrics
    training_data: Optional[str] = None  # the full training data spec (as recorded: maybe relative)
    supervised: bool = False  # trained on labelled videos: its AUC needs cross-validation
    weights_sha256: Optional[str] = None
    trained_with: str = "?"  # "GPU" | "CPU": the device of its training run
    cpu_fps: Optional[float] = None  # scoring frames/s measured on one CPU thread (metadata extra), when recorded

    @property
    def too_slow_for_cpu(self) -> bool:
        """Scores under CPU_DEFAULT_MIN_FPS frames/s on one CPU thread: never a default on a CPU."""
        return self.cpu_fps is not None and self.cpu_fps < CPU_DEFAULT_MIN_FPS

    @property
    def label(self) -> str:
        """Short, name first (pickers show it in narrow chips): "ffp_synthetic · AUC 0.968"."""
        return f"{self.name} · AUC {self.auc:.3f}" if self.auc is not None else self.name

    @property
    def description(self) -> str:
        """One line: family, training data, stored AUC and its dataset, calibration."""
        auc = (f"micro AUC {self.auc:.3f} on {short_data(self.eval_data or self.trained_on)}" if self.auc is not None
               else "supervised: see cross-validation" if self.supervised else "not evaluated")
        return (f"{self.name}: {self.family}, trained on {self.trained_on}, {auc}"
                + (", calibrated" if self.calibrated else ", no calibration"))

    @property
    def mtime_ns(self) -> int:
        weights = Path(self.path + ".safetensors")
        return weights.stat().st_mtime_ns if weights.exists() else 0


def finite(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else None


def short_data(spec: str) -> str:
    """'synthetic:/abs/repo/sample_videos' -> 'synthetic:sample_videos' (shorter in tables)."""
    kind, sep, rest = spec.partition(":")
    if not sep:
        return spec
    return f"{kind}:{Path(rest).name or rest}"


def checkpoint_rows(root: str | Path) -> list[dict]:
    """Metadata of every checkpoint in the folder `root`: [{"path" (stem), "metadata", "error",
    "size_mb"}]; an invalid one has metadata None and its error (never raises for one bad file)."""
    rows = []
    for meta_path in sorted(Path(root).glob("*.json")):
        if meta_path.name.endswith(".trainstate.json") or not meta_path.with_suffix(".safetensors").exists():
            continue  # a run in progress (resume state), or a stray JSON
        try:
            meta = read_metadata(meta_path)
            rows.append({"path": str(meta_path.with_suffix("")), "metadata": meta, "error": None,
                         "size_mb": meta_path.with_suffix(".safetensors").stat().st_size / 2**20})
        except Exception as exc:  # noqa: BLE001 - shown to the user, never crashes the zoo
            rows.append({"path": str(meta_path.with_suffix("")), "metadata": None, "error": str(exc), "size_mb": 0.0})
    return rows


def _entry(row: dict, origin: str) -> CheckpointEntry:
    path = row["path"]
    meta = row.get("metadata")
    if meta is None:
        return CheckpointEntry(path=path, name=Path(path).name, origin=origin, error=row.get("error"))
    inp = meta.get("input") or {}
    training = meta.get("training") or {}
    metrics = meta.get("metrics") or {}
    data = str(training.get("data") or training.get("dataset") or "?")
    family = str(meta.get("model", "?"))
    try:
        from vadlab.registry import get_spec

        supervised = bool(get_spec(family).supervised)
    except Exception:  # an unknown family: listed with what its metadata says
        supervised = False
    return CheckpointEntry(
        path=path,
        name=Path(path).name,
        origin=origin,
        family=family,
        trained_on=short_data(data),
        input_size=f"{inp.get('channels', '?')}×{inp.get('height', '?')}×{inp.get('width', '?')}",
        window=inp.get("window"),
        target=str(meta.get("target", "window")),
        auc=finite(metrics.get("micro_auc")),
        size_mb=round(float(row.get("size_mb") or 0.0), 2),
        calibrated=bool(meta.get("calibration")),
        macro_auc=finite(metrics.get("macro_auc")),
        eval_data=metrics.get("eval_data") or (data if finite(metrics.get("micro_auc")) is not None else None),
        protocol=(metrics.get("protocol") or {}).get("short") if isinstance(metrics.get("protocol"), dict) else None,
        training_data=data if data != "?" else None,
        supervised=supervised,
        weights_sha256=meta.get("weights_sha256"),
        trained_with="GPU" if "cuda" in str(training.get("device", "")).lower() else ("CPU" if training.get("device") else "?"),
        cpu_fps=finite((meta.get("extra") or {}).get("cpu_frames_per_second")),
    )


def _entry_or_invalid(row: dict, origin: str) -> CheckpointEntry:
    """The zoo's row for one checkpoint; metadata the summary cannot read makes one "invalid" row
    with the reason (one bad file never takes the pages that list the zoo down)."""
    try:
        return _entry(row, origin)
    except Exception as exc:  # noqa: BLE001 - isolated to this checkpoint's row, shown in its "problem" column
        return CheckpointEntry(path=row["path"], name=Path(row["path"]).name, origin=origin,
                               error=f"invalid metadata: {exc}")


def default_folders() -> list[tuple[Path, str]]:
    """The zoo's folders with their origin: the shipped checkpoints, then yours (`vadlab.paths`)."""
    return [(paths.shipped_checkpoints_dir(), "shipped"), (paths.user_checkpoints_dir(), "yours")]


def list_checkpoints(folders: Optional[Sequence[tuple[Path, str]]] = None) -> list[CheckpointEntry]:
    """Every checkpoint of the given (folder, origin) pairs, in order (default: shipped
    (`checkpoints/`) then yours (the user folder)); by name within a folder.

    Read from disk on every call (metadata only, cheap), so a checkpoint just saved appears at
    once. Invalid checkpoints are listed with their error; a name met twice gets " (origin)"."""
    entries: list[CheckpointEntry] = []
    seen: set[Path] = set()
    for folder, origin in (default_folders() if folders is None else folders):
        folder = Path(folder).resolve()
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        names = {e.name for e in entries}
        for row in checkpoint_rows(folder):
            if row["path"].endswith(".trainstate"):  # resume state of a run in progress, not a checkpoint
                continue
            entry = _entry_or_invalid(row, origin)
            if entry.name in names:  # pages key results by name: keep names unique
                entry = dataclasses.replace(entry, name=f"{entry.name} ({origin})")
            entries.append(entry)
    return entries


def usable_checkpoints(folders: Optional[Sequence[tuple[Path, str]]] = None) -> list[CheckpointEntry]:
    """The checkpoints of `list_checkpoints(folders)` whose metadata is valid, in the zoo's order.
    Which one fits a clip is `best_checkpoints`' business."""
    return [e for e in list_checkpoints(folders) if e.error is None]


# ------------------------------------------------------------------------- the model for a clip
@dataclass(frozen=True)
class Match:
    """How well a checkpoint fits a clip or dataset. tier 0: trained on the same dataset; 1: on
    data whose frames have the clip's size (likely the same camera); 2: neither. reason: one
    sentence for the page ("why this model")."""

    entry: CheckpointEntry
    tier: int
    reason: str


def spec_root(spec: Optional[str]) -> Optional[Path]:
    """The folder of a dataset spec (relative paths are relative to the repository), or None."""
    if not spec:
        return None
    _, sep, rest = str(spec).partition(":")
    if not sep or not rest.strip():
        return None
    root = Path(rest.strip()).expanduser()
    if not root.is_absolute():
        root = paths.REPO_ROOT / root
    try:
        return root.resolve()
    except OSError:
        return None


def data_frame_size(spec: str) -> Optional[FrameSize]:
    """(width, height) of the frames of a dataset's first video (its camera), or None when the data
    is not on this machine (uncached: the app caches it)."""
    from vadlab.data.datasets import load_dataset
    from vadlab.data.video import probe_video

    root = spec_root(spec)
    if root is None or not root.exists():
        return None
    try:
        ds = load_dataset(f"{spec.partition(':')[0]}:{root}")
        record = (ds.train or ds.test)[0]
        info = probe_video(record.source)
    except Exception:  # noqa: BLE001 - unknown data only means "no match by size"
        return None
    return int(info.width), int(info.height)


def _fit_key(entry: CheckpointEntry, on_gpu: bool) -> tuple:
    # on a CPU, checkpoints too slow to score there last; then calibrated first (its verdict means
    # something), then the best stored micro AUC, then the name
    slow = entry.too_slow_for_cpu and not on_gpu
    return (slow, not entry.calibrated, -(entry.auc if entry.auc is not None else -1.0), entry.name)


def rank_checkpoints(entries: Sequence[CheckpointEntry], dataset: Optional[str] = None, clip_path: Optional[str] = None,
                     frame_size: Optional[FrameSize] = None, subject: str = "this clip", *, on_gpu: bool = False,
                     frame_size_of: Callable[[str], Optional[FrameSize]] = data_frame_size) -> list[Match]:
    """The checkpoints ordered by how well they fit a clip (or a dataset), best first: trained on
    the same dataset (the clip's `dataset` spec, or a dataset folder holding `clip_path`), then on
    data whose frames have the clip's `frame_size` (width, height: the same camera, most likely),
    then the rest; within each, calibrated ones first, then by stored micro AUC (on a CPU,
    `on_gpu` False, checkpoints too slow to score there come last). frame_size_of(spec): the frame
    size of a checkpoint's training data (the app passes a cached one)."""
    matches: list[Match] = []
    clip_root = spec_root(dataset)
    clip_file = Path(clip_path).resolve() if clip_path else None
    for entry in entries:
        root = spec_root(entry.training_data)
        same = root is not None and ((clip_root is not None and paths.inside(clip_root, root))
                                     or (clip_file is not None and paths.inside(clip_file, root)))
        if same:
            matches.append(Match(entry, 0, f"trained on {'this dataset' if subject == 'this dataset' else subject + chr(39) + 's dataset'}"
                                           f" ({entry.trained_on})"))
            continue
        size = frame_size_of(entry.training_data) if entry.training_data and frame_size else None
        if size is not None and size == tuple(frame_size):
            matches.append(Match(entry, 1, f"trained on {entry.trained_on}, whose frames have the size of {subject}'s "
                                           f"({size[0]}×{size[1]} px): most likely the same camera"))
            continue
        matches.append(Match(entry, 2, f"no model was trained on {subject}'s data or scene"))
    matches.sort(key=lambda m: (m.tier, *_fit_key(m.entry, on_gpu)))
    return matches


def why_chosen(match: Match, others: int) -> str:
    """One sentence: why the first of `rank_checkpoints` was chosen ("others": how many share its tier)."""
    entry = match.entry
    score = (f"micro AUC {entry.auc:.3f}" + (f" ({entry.protocol})" if entry.protocol else "")
             + (f" on {short_data(entry.eval_data)}" if entry.eval_data else "")) if entry.auc is not None else None
    if match.tier == 2:
        return (f"**{entry.name}**: {match.reason}, so the lab picked the best-scoring model of the zoo"
                + (f" ({score})" if score else "") + ". Its verdicts on another scene may not hold.")
    best = (f"; the best of the {others + 1} such models" + (f" by {score}" if score else "")) if others else \
        (f"; {score}" if score else "")
    return f"**{entry.name}**: {match.reason}{best}."


def best_checkpoints(entries: Sequence[CheckpointEntry], dataset: Optional[str] = None, clip_path: Optional[str] = None,
                     count: int = 1, subject: str = "this clip", *,
                     subject_frame_size: Callable[[], Optional[FrameSize]] = lambda: None, on_gpu: bool = False,
                     frame_size_of: Callable[[str], Optional[FrameSize]] = data_frame_size,
                     ) -> tuple[list[CheckpointEntry], str]:
    """The `count` entries that fit a clip (or a dataset spec) best, and the sentence that says why
    the first was chosen (empty when there are none). When none was trained on the same dataset,
    frame sizes are compared: subject_frame_size() is the clip's (or dataset's), asked only then."""
    if not entries:
        return [], ""
    ranked = rank_checkpoints(entries, dataset, clip_path, None, subject, on_gpu=on_gpu, frame_size_of=frame_size_of)
    if ranked[0].tier != 0:  # nothing from the same dataset: compare frame sizes (the camera)
        ranked = rank_checkpoints(entries, dataset, clip_path, subject_frame_size(), subject, on_gpu=on_gpu,
                                  frame_size_of=frame_size_of)
    first = ranked[0]
    others = sum(1 for m in ranked[1:] if m.tier == first.tier)
    return [m.entry for m in ranked[:count]], why_chosen(first, others)


# ----------------------------------------------------------------------------------- the table
def _dataset_label(spec: str) -> str:
    """A short column label for an evaluation dataset: its kind ("ped2", "synthetic"), or the
    folder's name for plain folders."""
    kind, _, rest = str(spec).partition(":")
    if kind == "folder" and rest:
        return rest.rstrip("/").split("/")[-1]
    return kind or str(spec)


def zoo_rows(entries: Sequence[CheckpointEntry], cached: Sequence[dict] = ()) -> tuple[list[dict], list[str]]:
    """The zoo table's rows, and its evaluation datasets (column groups): for every checkpoint its
    micro and macro AUC on each dataset it was evaluated on (its stored metrics, and evaluations
    kept on disk for the same weights: `vadlab.store.cached_evaluations`), under the protocol named
    in `protocol`."""
    evaluations: dict[str, dict[str, dict]] = {}  # checkpoint path -> dataset label -> numbers
    for entry in entries:
        if entry.auc is not None and entry.eval_data:
            evaluations.setdefault(entry.path, {})[_dataset_label(entry.eval_data)] = {
                "micro": entry.auc, "macro": entry.macro_auc, "protocol": entry.protocol}
    by_weights = {e.weights_sha256: e for e in entries if e.weights_sha256}
    for row in cached:
        entry = by_weights.get(row.get("weights_sha256"))
        label = _dataset_label(row.get("dataset_spec") or row.get("dataset") or "")
        if entry is None or row.get("micro_auc") is None or label in evaluations.get(entry.path, {}):
            continue
        evaluations.setdefault(entry.path, {})[label] = {"micro": row["micro_auc"], "macro": row.get("macro_auc"),
                                                         "protocol": row.get("protocol")}
    datasets = sorted({label for per in evaluations.values() for label in per},
                      key=lambda label: (label != "synthetic", label))
    rows = []
    for e in entries:
        per = evaluations.get(e.path, {})
        row: dict = {"checkpoint": e.name, "family": e.family, "trained on": e.trained_on}
        for label in datasets:
            row[f"micro AUC · {label}"] = per.get(label, {}).get("micro")
            row[f"macro AUC · {label}"] = per.get(label, {}).get("macro")
        protocols = sorted({str(v.get("protocol")) for v in per.values() if v.get("protocol")})
        row["protocol"] = (", ".join(protocols) if protocols else "not recorded") if per else (
            "supervised: see cross-validation" if e.supervised else "not evaluated" if e.error is None else "")
        row.update({"calibrated": e.calibrated, "input (C×H×W)": e.input_size, "window": e.window,
                    "trained with": e.trained_with,
                    "CPU frames/s": (f"{e.cpu_fps:g} (too slow for a CPU default)" if e.too_slow_for_cpu
                                     else f"{e.cpu_fps:g}" if e.cpu_fps is not None else ""),
                    "size (MB)": e.size_mb, "origin": e.origin, "problem": e.error or ""})
        rows.append(row)
    if not any(r["problem"] for r in rows):
        for r in rows:
            del r["problem"]
    return rows, datasets


# ------------------------------------------------------------------- starting points, benches
def data_label(spec: str) -> str:
    """A dataset spec in a few words: "your dataset lobby_cam" for a dataset of the user data
    folder, else KIND:FOLDER-NAME ("synthetic:sample_videos")."""
    kind, sep, rest = spec.partition(":")
    if not sep:
        return spec
    folder = Path(rest)
    try:
        if kind == "folder" and folder.resolve().parent == paths.user_data_dir().resolve():
            return f"your dataset {folder.name}"
    except OSError:
        pass
    return f"{kind}:{folder.name or rest}"


def init_candidates(family: str, preset: str, folders: Sequence[tuple[Path, str]]) -> list[dict]:
    """Checkpoints a new (family, preset) run can start from (knowledge transfer, `--init-from`):
    same family and same preset, so every tensor fits. folders: (folder, origin) pairs, e.g. the
    shipped checkpoints then yours. Returns [{"path", "name", "origin", "data"}]."""
    rows = []
    for folder, origin in folders:
        if not Path(folder).is_dir():
            continue
        for row in checkpoint_rows(folder):
            meta = row.get("metadata") or {}
            training = meta.get("training") or {}
            if meta.get("model") == family and training.get("preset") == preset:
                rows.append({"path": row["path"], "name": Path(row["path"]).name, "origin": origin,
                             "data": data_label(str(training.get("data") or "?"))})
    return rows


def lightest_checkpoints(folder: Path, families: Sequence[str], pattern: str = "*_synthetic.json") -> dict[str, Path]:
    """family -> its checkpoint in `folder` whose metadata file matches the glob `pattern` (default:
    the tiny shipped `*_synthetic` ones) with the smallest weights file (valid ones only; the first
    by name on a tie)."""
    best: dict[str, tuple[int, Path]] = {}
    for row in checkpoint_rows(folder):
        stem = Path(row["path"])
        if row["metadata"] is None or not fnmatch.fnmatch(stem.name + ".json", pattern):
            continue
        family = row["metadata"]["model"]
        size = stem.with_name(stem.name + ".safetensors").stat().st_size
        if family in families and (family not in best or size < best[family][0]):
            best[family] = (size, stem)
    return {f: best[f][1] for f in families if f in best}
