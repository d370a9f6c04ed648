"""Lab notebooks: an exploration as an ordered list of cells, saved as JSON, run with a cache, and
exported as a runnable Python script or a Jupyter notebook (`vadlab.notebook_export`).

Cells and what each one consumes (always the nearest cell of that kind ABOVE it):

    clip      {video, labels}            decodes a video (file or frame folder)        -> frames, labels
    model     {checkpoints, device}      loads one or more checkpoints                 -> models
    score     {batch_size, far}          scores every frame with every model and judges the clip: the
                                         calibrated verdict at false-alarm rate `far`  (clip, model)
    inspect   {frame}                    one frame: scores, verdict, real | output | error map  (clip, score)
    explain   {method, options, frame, model}  Captum attribution of a frame's score
                                         (clip, model, and inspect when `frame` is null)
    evaluate  {normalize, smooth_sigma}  frame-level AUC / EER / PR-AUC vs the clip's labels (clip, score)

`run` re-executes a cell only when its key changed: the key hashes the cell's kind, its params
(defaults filled in), the files it reads (path, mtime, size) and the keys of the cells it consumes,
so changing the inspect frame re-runs inspect (and an explain that follows it), never score. A new
false-alarm rate re-runs the score cell's verdict, not its scoring pass (kept in the cache by the
clip, the models and the batch size).

Paths in cells are relative to the repository root (or absolute). No Streamlit here.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Optional

import numpy as np

from vadlab.paths import REPO_ROOT
from vadlab.store import ResultStore, file_identity

if TYPE_CHECKING:
    from vadlab.protocol import Protocol

FORMAT = "vadlab-notebook"
VERSION = 1

CellKind = Literal["clip", "model", "score", "inspect", "explain", "evaluate"]
CELL_KINDS: tuple[str, ...] = ("clip", "model", "score", "inspect", "explain", "evaluate")
CELL_TITLES = {
    "clip": "Choose a clip",
    "model": "Choose model(s)",
    "score": "Score every frame",
    "inspect": "Inspect a frame",
    "explain": "Explain the frame's score",
    "evaluate": "Evaluate against ground truth",
}
SCORES_CSV_COLUMNS = ("model", "video", "frame", "score", "raw", "calibrated")


class NotebookError(ValueError):
    """A notebook that cannot be read or run as written (bad JSON, unknown kind, bad parameter)."""


# ------------------------------------------------------------------------------------------------
# cells and their parameters
# ------------------------------------------------------------------------------------------------
_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One cell parameter: accepted JSON types, default (or required), allowed values, help text."""

    types: tuple[type, ...]
    default: Any = _REQUIRED
    choices: Optional[tuple[Any, ...]] = None
    help: str = ""


PARAMS: dict[str, dict[str, Param]] = {
    "clip": {
        "video": Param((str,), help="video file or frame folder, relative to the repo root or absolute"),
        "labels": Param((str,), "auto", help='"auto" (labels.json / NAME.csv beside the video), "none", or a labels file'),
    },
    "model": {
        "checkpoints": Param((list,), help="checkpoint paths (stem, .safetensors or .json)"),
        "device": Param((str,), "auto", help='"auto", "cpu", "cuda" or "cuda:N"'),
    },
    "score": {
        "batch_size": Param((int,), 32, help="windows per forward pass"),
        "far": Param((float, type(None)), None, (None, 1e-2, 1e-3, 1e-4),
                     help="target false-alarm rate per normal frame: sets the calibrated alert threshold; "
                          "null = each checkpoint's own verdict rule"),
    },
    "inspect": {"frame": Param((int,), 0, help="frame index (0-based)")},
    "explain": {
        "method": Param((str,), "saliency", ("integrated_gradients", "saliency", "occlusion", "gradient_shap")),
        "options": Param((dict,), {}, help="the method's parameters (see vadlab.explain.DEFAULT_PARAMS)"),
        "frame": Param((int, type(None)), None, help="frame to explain; null = the inspect cell's frame"),
        "model": Param((str, type(None)), None, help="model name; null = the first model"),
    },
    "evaluate": {
        "normalize": Param((str,), "minmax", ("minmax", "zscore", "none")),
        "smooth_sigma": Param((int, float), 0.0, help="Gaussian smoothing of the scores, in frames"),
    },
}


def new_id() -> str:
    """A short random id for a cell (or an exported notebook cell)."""
    return uuid.uuid4().hex[:8]


@dataclass
class Cell:
    """One step of a notebook. params: JSON values (see PARAMS[kind]); missing ones take defaults."""

    kind: CellKind
    params: dict = field(default_factory=dict)
    id: str = field(default_factory=new_id)

    def resolved_params(self) -> dict[str, Any]:
        """The params with defaults filled in (after `validate_cell`)."""
        spec = PARAMS[self.kind]
        return {name: self.params.get(name, p.default) for name, p in spec.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "params": self.params}


def validate_cell(cell: Cell, where: str = "cell") -> None:
    """Raise NotebookError naming the cell and the parameter when `cell` is not runnable as written."""
    if cell.kind not in PARAMS:
        raise NotebookError(f"{where}: unknown kind {cell.kind!r}; kinds: {', '.join(CELL_KINDS)}")
    if not isinstance(cell.id, str) or not cell.id:
        raise NotebookError(f"{where}: 'id' must be a non-empty string, got {cell.id!r}")
    if not isinstance(cell.params, dict):
        raise NotebookError(f"{where}: 'params' must be an object, got {type(cell.params).__name__}")
    spec = PARAMS[cell.kind]
    unknown = sorted(set(cell.params) - set(spec))
    if unknown:
        raise NotebookError(f"{where} ({cell.kind}): unknown parameter(s) {unknown}; allowed: {', '.join(spec)}")
    for name, p in spec.items():
        if name not in cell.params:
            if p.default is _REQUIRED:
                raise NotebookError(f"{where} ({cell.kind}): missing required parameter '{name}' ({p.help})")
            continue
        value = cell.params[name]
        ok = isinstance(value, p.types) and not (isinstance(value, bool) and bool not in p.types)
        if not ok:
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in p.types)
            raise NotebookError(f"{where} ({cell.kind}): '{name}' must be {wanted}, got {value!r}")
        if p.choices is not None and value not in p.choices:
            raise NotebookError(f"{where} ({cell.kind}): '{name}' must be one of {', '.join(map(str, p.choices))}, got {value!r}")
    params = cell.resolved_params()
    if cell.kind == "clip" and not params["video"].strip():
        raise NotebookError(f"{where} (clip): 'video' is empty; give a video file or frame folder")
    if cell.kind == "model":
        paths = params["checkpoints"]
        if not paths or not all(isinstance(x, str) and x.strip() for x in paths):
            raise NotebookError(f"{where} (model): 'checkpoints' must be a non-empty list of checkpoint paths, got {paths!r}")
    if cell.kind == "score" and params["batch_size"] < 1:
        raise NotebookError(f"{where} (score): 'batch_size' must be >= 1, got {params['batch_size']}")
    if cell.kind in ("inspect", "explain") and params["frame"] is not None and params["frame"] < 0:
        raise NotebookError(f"{where} ({cell.kind}): 'frame' must be >= 0, got {params['frame']}")
    if cell.kind == "explain":
        from vadlab.explain import check_params

        try:
            check_params(params["method"], dict(params["options"]))
        except ValueError as exc:
            raise NotebookError(f"{where} (explain): {exc}") from None
    if cell.kind == "evaluate" and not (np.isfinite(params["smooth_sigma"]) and params["smooth_sigma"] >= 0):
        raise NotebookError(f"{where} (evaluate): 'smooth_sigma' must be a number of frames >= 0")


@dataclass
class Notebook:
    """An ordered list of cells; JSON-serialisable (`to_json` / `from_json`)."""

    cells: list[Cell] = field(default_factory=list)
    title: str = "Lab notebook"
    version: int = VERSION

    def add(self, kind: CellKind, **params: Any) -> Cell:
        """Append a cell (validated) and return it."""
        cell = Cell(kind, dict(params))
        validate_cell(cell, f"cell {len(self.cells) + 1}")
        self.cells.append(cell)
        return cell

    def validate(self) -> None:
        """Raise NotebookError for an unknown kind, a bad parameter or duplicate cell ids."""
        if not isinstance(self.title, str):
            raise NotebookError(f"'title' must be a string, got {self.title!r}")
        if self.version != VERSION:
            raise NotebookError(f"notebook version {self.version!r} is not supported (this vadlab reads version {VERSION})")
        seen: set[str] = set()
        for i, cell in enumerate(self.cells):
            where = f"cell {i + 1}" + (f" (id {cell.id!r})" if isinstance(cell.id, str) else "")
            validate_cell(cell, where)
            if cell.id in seen:
                raise NotebookError(f"{where}: duplicate cell id; every cell needs its own id")
            seen.add(cell.id)

    def to_json(self) -> str:
        """The notebook as JSON text: {"format", "version", "title", "cells": [{id, kind, params}]}."""
        self.validate()
        doc = {"format": FORMAT, "version": self.version, "title": self.title,
               "cells": [c.to_dict() for c in self.cells]}
        return json.dumps(doc, indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Notebook":
        """Parse and validate notebook JSON (as written by `to_json`). Raises NotebookError."""
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise NotebookError("the notebook file is not UTF-8 text; expected the JSON a vadlab notebook saves") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NotebookError(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        except RecursionError:  # the parser recurses once per nesting level
            raise NotebookError(f"not a vadlab notebook: its JSON is nested too deeply (a notebook nests at most "
                                f"{MAX_NESTING} levels)") from None
        if _nesting(doc) > MAX_NESTING:
            raise NotebookError(f"not a vadlab notebook: its JSON is nested more than {MAX_NESTING} levels deep")
        if not isinstance(doc, dict) or "cells" not in doc:
            raise NotebookError('not a vadlab notebook: expected an object with "cells" (and "title", "version")')
        if doc.get("format", FORMAT) != FORMAT:
            raise NotebookError(f"not a vadlab notebook: format is {doc.get('format')!r}, expected {FORMAT!r}")
        if not isinstance(doc["cells"], list):
            raise NotebookError(f'"cells" must be a list, got {type(doc["cells"]).__name__}')
        cells = []
        for i, item in enumerate(doc["cells"]):
            if not isinstance(item, dict) or "kind" not in item:
                raise NotebookError(f'cell {i + 1}: expected an object with "kind" and "params", got {item!r:.80}')
            extra = sorted(set(item) - {"id", "kind", "params"})
            if extra:
                raise NotebookError(f"cell {i + 1}: unknown field(s) {extra}; a cell has id, kind and params")
            cells.append(Cell(kind=item["kind"], params=item.get("params", {}), id=item.get("id", new_id())))
        notebook = cls(cells=cells, title=doc.get("title", "Lab notebook"), version=doc.get("version", VERSION))
        notebook.validate()
        return notebook


MAX_NESTING = 32  # levels of JSON objects / lists a notebook may hold (a real one has 4 or 5)


def _nesting(value: Any) -> int:
    """How deeply JSON lists / objects nest in `value` (0 for a scalar), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:  # deeper is refused anyway: no need to walk it all
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def starter_notebook(video: str = "sample_videos/testing/test_01.mp4",
                     checkpoint: str = "checkpoints/conv_ae_synthetic", frame: int = 60) -> Notebook:
    """A first exploration: a sample clip, a shipped checkpoint, its scores and one frame."""
    nb = Notebook(title="First look")
    nb.add("clip", video=video, labels="auto")
    nb.add("model", checkpoints=[checkpoint], device="auto")
    nb.add("score", batch_size=32)
    nb.add("inspect", frame=frame)
    return nb


# ------------------------------------------------------------------------------------------------
# helpers shared by `run` and the exported code
# ------------------------------------------------------------------------------------------------
def resolve_path(path: str | Path, root: Optional[Path] = None) -> Path:
    """A cell path: absolute as is, relative to `root` (default: the repository root)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or REPO_ROOT) / p


def clip_labels(video_path: str | Path, labels: str, n_frames: int) -> Optional[np.ndarray]:
    """(N,) uint8 frame labels of a clip, or None.

    labels: "none"; "auto" = a labels.json beside the video (keyed by the video's name) or
    NAME.csv / .npy / .json next to it (None when there is none); or the path of a labels file (one
    video, or several keyed by name; see `load_labels_any` for the formats). Raises DatasetError
    when labels exist but their length is not n_frames."""
    from vadlab.data.datasets import DatasetError, load_dataset, load_labels_any

    video_path = Path(video_path)
    if labels == "none":
        return None
    if labels == "auto":
        record = [r for r in load_dataset(f"folder:{video_path}").test if r.labels is not None]
        found = record[0].labels if record else None
    else:
        by_name = load_labels_any(Path(labels), n_frames={video_path.stem: n_frames})
        if len(by_name) == 1:
            found = next(iter(by_name.values()))
        elif video_path.stem in by_name:
            found = by_name[video_path.stem]
        else:
            raise DatasetError(f"{labels}: no labels for '{video_path.stem}' (it lists {', '.join(list(by_name)[:5])}...)")
    if found is None:
        return None
    found = np.asarray(found).astype(np.uint8)
    if len(found) != n_frames:
        raise DatasetError(f"{video_path.name}: {len(found)} labels but {n_frames} decoded frames")
    return found


def unique_name(existing: Mapping[str, Any], name: str) -> str:
    """`name`, or `name#2`, `name#3`... when a model of that name is already loaded."""
    if name not in existing:
        return name
    i = 2
    while f"{name}#{i}" in existing:
        i += 1
    return f"{name}#{i}"


def verdict_timelines(verdicts: Mapping[str, Any], labels: Optional[np.ndarray] = None, fps: float = 25.0,
                      title: str = "anomaly verdict"):
    """Every model's verdict values of one clip overlaid, with the threshold of the first calibrated
    verdict (calibrated scores share one scale), else of the first (per-video min-max fallback).

    verdicts: model name -> `vadlab.calibration.Verdict` (the output of a score cell)."""
    from vadlab import plots

    lead = next((v for v in verdicts.values() if v.calibrated), next(iter(verdicts.values())))
    return plots.timelines({name: v.values for name, v in verdicts.items()}, threshold=lead.threshold, labels=labels,
                           fps=fps, title=title,
                           y_title="calibrated score (σ above normal)" if lead.calibrated else "score (min-max per video)")


def verdict_lines(verdicts: Mapping[str, Any]) -> list[str]:
    """One line per model: how many frames and alert events its verdict flags, on which scale, and
    its notes (no calibration, a clip outside the model's normal)."""
    from vadlab.calibration import format_far

    lines = []
    for name, v in verdicts.items():
        scale = f"calibrated, {format_far(v.far)} false alarms per normal frame" if v.calibrated else "per-video min-max"
        lines.append(f"{name}: {v.n_flagged} frames at or above {v.threshold:.3f} ({scale}), {len(v.events)} alert event(s)")
        lines.extend(f"  note: {note}" for note in v.notes)
    return lines


def scores_csv(scores: Mapping[str, Any], verdicts: Optional[Mapping[str, Any]] = None) -> str:
    """Per-frame scores of every model as CSV: model,video,frame,score,raw,calibrated (floats written
    exactly, repr). `calibrated` is the verdict's score in σ above normal, as the Score page shows it
    (empty without a verdict or a calibration).

    scores: model name -> `FrameScores`; verdicts: model name -> `Verdict` (the outputs of a score cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SCORES_CSV_COLUMNS)
    for name, fs in scores.items():
        verdict = (verdicts or {}).get(name)
        calibrated = verdict.values if verdict is not None and verdict.calibrated else None
        for i in range(len(fs)):
            writer.writerow([name, fs.video, i, repr(float(fs.scores[i])), repr(float(fs.raw[i])),
                             "" if calibrated is None else repr(float(calibrated[i]))])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
@dataclass
class CellResult:
    """What one cell produced. output: kind-specific dict (see `run`), None when it failed.
    key: the cache key; cached: True when the output came from the cache; seconds: runtime of the
    execution that produced it."""

    cell_id: str
    kind: str
    key: str
    output: Optional[dict] = None
    error: Optional[str] = None
    cached: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class NotebookCache(ResultStore):
    """Cell outputs by key (`vadlab.store.ResultStore`: least recently used dropped beyond
    `max_entries`), and how often each kind of cell actually ran.

    executions: Counter of cell kind -> number of times a cell of that kind actually ran."""

    def __init__(self, max_entries: int = 48):
        super().__init__(max_entries)
        self.executions: Counter = Counter()


def _needs(cell: Cell) -> tuple[str, ...]:
    if cell.kind == "score":
        return ("clip", "model")
    if cell.kind == "inspect":
        return ("clip", "score")
    if cell.kind == "explain":
        return ("clip", "model") + (("inspect",) if cell.resolved_params()["frame"] is None else ())
    if cell.kind == "evaluate":
        return ("clip", "score")
    return ()


def _checkpoint_files(path: Path) -> list[Path]:
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return [stem.parent / (stem.name + ".safetensors"), stem.parent / (stem.name + ".json")]


def cell_key(cell: Cell, upstream: Mapping[str, str], root: Optional[Path] = None) -> str:
    """sha256 of the cell's kind, params, the files it reads and its upstream cells' keys."""
    params = cell.resolved_params()
    files: list[str] = []
    if cell.kind == "clip":
        video = resolve_path(params["video"], root)
        files.append(file_identity(video, missing_ok=True))
        if params["labels"] not in ("auto", "none"):
            files.append(file_identity(resolve_path(params["labels"], root), missing_ok=True))
        elif params["labels"] == "auto":
            files.append(file_identity(video.parent / "labels.json", missing_ok=True))
    if cell.kind == "model":
        for ck in params["checkpoints"]:
            files.extend(file_identity(p, missing_ok=True) for p in _checkpoint_files(resolve_path(ck, root)))
    payload = {"kind": cell.kind, "params": params, "files": files, "upstream": dict(sorted(upstream.items()))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _scoring_pass_key(cell: Cell, upstream: Mapping[str, str], root: Optional[Path] = None) -> str:
    """The cache key of a score cell's scoring pass: its clip, models and batch size, not the verdict's
    false-alarm rate (a new rate re-judges the same scores)."""
    return "pass:" + cell_key(Cell("score", {"batch_size": cell.resolved_params()["batch_size"]}), upstream, root)


def _labels_arg(labels: str, root: Optional[Path]) -> str:
    return labels if labels in ("auto", "none") else str(resolve_path(labels, root))


def _run_clip(p: dict, up: dict, root: Optional[Path]) -> dict:
    from vadlab import api

    video_path = resolve_path(p["video"], root)
    video = api.as_video(video_path)
    labels = clip_labels(video_path, _labels_arg(p["labels"], root), len(video.frames))
    return {"video": video, "path": video_path, "name": video_path.stem, "labels": labels,
            "n_frames": len(video.frames), "fps": video.info.fps or 25.0}


def _run_model(p: dict, up: dict, root: Optional[Path]) -> dict:
    from vadlab import api

    models: dict[str, Any] = {}
    for checkpoint in p["checkpoints"]:
        loaded = api.load(resolve_path(checkpoint, root), device=p["device"])
        models[unique_name(models, loaded.name)] = loaded
    return {"models": models}


def _run_score(p: dict, up: dict, root: Optional[Path], passes: Optional["NotebookCache"] = None,
               pass_key: str = "") -> dict:
    from vadlab import api

    clip, models = up["clip"], up["model"]["models"]
    scored = passes.get(pass_key) if passes is not None else None
    if scored is None:  # the scoring pass: only a new clip, model or batch size runs it again
        scored = {"scores": {name: api.score_video(loaded, clip["video"], name=clip["name"], batch_size=p["batch_size"])
                             for name, loaded in models.items()}}
        if passes is not None:
            passes.put(pass_key, scored)
    scores = scored["scores"]
    verdicts = {name: api.verdict(models[name], fs, far=p["far"]) for name, fs in scores.items()}
    figure = verdict_timelines(verdicts, labels=clip["labels"], fps=clip["fps"], title=f"{clip['name']}: anomaly verdict")
    return {"scores": scores, "verdicts": verdicts, "figure": figure}


def _run_inspect(p: dict, up: dict, root: Optional[Path]) -> dict:
    from vadlab import plots

    clip, scores, verdicts = up["clip"], up["score"]["scores"], up["score"]["verdicts"]
    frame = p["frame"]
    if frame >= clip["n_frames"]:
        raise IndexError(f"frame {frame} is outside {clip['name']} (0..{clip['n_frames'] - 1})")
    rows, figures = [], {}
    for name, fs in scores.items():
        verdict = verdicts[name]
        rows.append({"model": name, "frame": frame, "score": float(fs.scores[frame]),
                     "verdict_score": float(verdict.values[frame]), "threshold": float(verdict.threshold),
                     "alert": bool(verdict.flagged[frame]), "scale": "calibrated" if verdict.calibrated else "min-max",
                     "scored": bool(fs.scored[frame]),
                     "label": None if clip["labels"] is None else int(clip["labels"][frame])})
        figures[name] = plots.scored_frame_figure(clip["video"].frames[frame], fs, frame, title=f"{name} · frame {frame}")
    return {"frame": frame, "rows": rows, "figures": figures}


def _run_explain(p: dict, up: dict, root: Optional[Path]) -> dict:
    from vadlab import api, explain, plots

    clip, models = up["clip"], up["model"]["models"]
    frame = p["frame"] if p["frame"] is not None else up["inspect"]["frame"]
    name = p["model"] if p["model"] is not None else next(iter(models))
    if name not in models:
        raise KeyError(f"no model named {name!r}; loaded: {', '.join(models)}")
    loaded = models[name]
    frames = api.model_frames(loaded.model, clip["video"])
    explanation = explain.explain_frame(loaded, frames, frame, p["method"], **p["options"])
    figure = plots.attribution_figure(explanation.attribution, explanation.window_rgb)
    return {"model": name, "frame": frame, "explanation": explanation, "attribution": explanation.attribution,
            "figure": figure}


def evaluate_protocol(params: Mapping[str, Any]) -> "Protocol":
    """The protocol of an evaluate cell: the Evaluate page's (frame mean, the undecidable first
    frames dropped, micro) with the cell's normalisation and smoothing."""
    from vadlab.protocol import PAPER

    return PAPER.replace(normalize=params["normalize"], smooth_sigma=float(params["smooth_sigma"]))


def _run_evaluate(p: dict, up: dict, root: Optional[Path]) -> dict:
    from vadlab import api, plots

    clip, scores = up["clip"], up["score"]["scores"]
    if clip["labels"] is None:
        raise ValueError(f"{clip['name']}: no ground-truth labels (set the clip cell's labels to a labels file)")
    protocol = evaluate_protocol(p)
    results = {name: api.evaluate_clip(fs, clip["labels"], protocol) for name, fs in scores.items()}
    rows = [{"model": name, **{k: v for k, v in r.summary().items() if k != "single_class_videos"}}
            for name, r in results.items()]
    return {"results": results, "rows": rows, "figure": plots.roc_figure(results)}


_EXECUTORS: dict[str, Callable[[dict, dict, Optional[Path]], dict]] = {
    "clip": _run_clip, "model": _run_model, "score": _run_score,
    "inspect": _run_inspect, "explain": _run_explain, "evaluate": _run_evaluate,
}


def run(notebook: Notebook, cache: Optional[NotebookCache] = None, root: Optional[Path] = None,
        on_cell: Optional[Callable[[int, Cell], None]] = None) -> list[CellResult]:
    """Run the cells in order; each consumes the nearest cell above it of every kind it needs.

    Outputs by kind: clip {video, path, name, labels, n_frames, fps}; model {models: name ->
    LoadedModel}; score {scores: name -> FrameScores, verdicts: name -> Verdict, figure}; inspect
    {frame, rows, figures};
    explain {model, frame, explanation, attribution, figure}; evaluate {results: name -> EvalResult,
    rows, figure}. A failing cell gets `error` (the message) and the cells that need it fail too;
    the others still run. A cell whose key is in `cache` is not re-executed (`cached` = True).
    on_cell(i, cell) is called before a cell executes (e.g. a progress message).
    """
    notebook.validate()
    cache = cache if cache is not None else NotebookCache()
    latest: dict[str, CellResult] = {}
    latest_cell: dict[str, Cell] = {}
    results: list[CellResult] = []
    for i, cell in enumerate(notebook.cells):
        missing = [k for k in _needs(cell) if k not in latest]
        upstream = {k: latest[k].key for k in _needs(cell) if k in latest}
        if cell.kind == "explain" and "inspect" in upstream:
            # explain takes only the frame number from inspect: re-scoring with the same models
            # (say, a new batch size) must not re-run an attribution of the same frame
            upstream["inspect"] = f"frame={latest_cell['inspect'].resolved_params()['frame']}"
        key = cell_key(cell, upstream, root)
        result = CellResult(cell.id, cell.kind, key)
        failed = [k for k in _needs(cell) if k in latest and not latest[k].ok]
        if missing:
            result.error = f"a {cell.kind} cell needs a {' and a '.join(missing)} cell above it"
        elif failed:
            result.error = f"needs the {' and '.join(failed)} cell above it, which failed"
        else:
            output = cache.get(key)
            if output is not None:
                result.output, result.cached = output, True
                result.seconds = output.get("_seconds", 0.0)
            else:
                if on_cell is not None:
                    on_cell(i, cell)
                started = time.perf_counter()
                execute = _EXECUTORS[cell.kind]
                if cell.kind == "score":
                    execute = functools.partial(_run_score, passes=cache, pass_key=_scoring_pass_key(cell, upstream, root))
                try:
                    output = execute(cell.resolved_params(), {k: latest[k].output for k in upstream}, root)
                except Exception as exc:  # noqa: BLE001 - reported in the cell; the notebook goes on
                    result.error = f"{type(exc).__name__}: {exc}"
                else:
                    output["_seconds"] = time.perf_counter() - started
                    cache.put(key, output)
                    result.output, result.seconds = output, output["_seconds"]
                cache.executions[cell.kind] += 1
        latest[cell.kind] = result
        latest_cell[cell.kind] = cell
        results.append(result)
    return results


def last_scores(results: list[CellResult], what: str = "scores") -> Optional[dict]:
    """name -> FrameScores (`what` "scores") or name -> Verdict ("verdicts") of the last successful
    score cell, or None."""
    for r in reversed(results):
        if r.kind == "score" and r.ok:
            return r.output[what]
    return None
