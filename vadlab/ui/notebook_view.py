"""The Lab notebook page's widgets: cells (each cell's parameter widgets and its output), opening,
adding, saving and exporting notebooks, and the session state that holds them.

Session-state keys (tests read them): DOC, CACHE, SAVED_JSON, SCRIPT, SCORES_CSV, OPENED_UPLOAD, and
the cells' widgets under `notebook.cell.<id>.<param>`.
"""
from __future__ import annotations

import hashlib
import re

import streamlit as st

from vadlab import explain, notebook, notebook_export, paths, plots, zoo
from vadlab.calibration import format_far
from vadlab.device import choices as device_choices
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, best_checkpoints
from vadlab.ui.errors import user_errors
from vadlab.ui.explain_view import attribution_params, seed
from vadlab.ui.verdict_view import note_warnings
from vadlab.ui.timeline_view import click_to_frame
from vadlab.ui.source_picker import sample_clips, sample_source

DOC = "notebook.doc"  # the Notebook being edited
CACHE = "notebook.cache"  # its NotebookCache (cell outputs by key)
SAVED_JSON = "notebook.saved_json"  # what "Save" downloads (also read by tests)
SCRIPT = "notebook.script"  # what "Export as Python" downloads
SCORES_CSV = "notebook.scores_csv"  # per-frame scores of the last score cell, in the script's CSV format
OPENED_UPLOAD = "notebook.opened_upload"  # sha256 of the last uploaded notebook file (opened once)
CELL_PREFIX = "notebook.cell."  # widget keys: notebook.cell.<id>.<param>
FIRST_MODEL = "(the first model)"  # the explain cell's model choice for `model: null`


def wkey(cell: notebook.Cell, name: str) -> str:
    return f"{CELL_PREFIX}{cell.id}.{name}"


def timeline_key(cell: notebook.Cell) -> str:
    """The key of a score cell's timeline (a click on it picks the frame of the inspect cell below)."""
    return f"notebook.{cell.id}.timeline"


def seed_choice(key: str, value, options: list):
    """`seed` for a choice widget whose options may have changed since (a stale choice falls back)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    return seed(key, value if value in options else options[0])


def repo_path(path) -> str:
    return paths.display_path(path)


def sample_paths() -> list[str]:
    return [repo_path(p) for p in sample_clips().values()]


def checkpoint_paths() -> list[str]:
    return [repo_path(e.path) for e in zoo.usable_checkpoints()]


def starter() -> notebook.Notebook:
    """The starter notebook, on what the user is looking at: the working context's clip (when it is
    a file on disk), its model (else the model that fits the clip best) and its frame (else the
    clip's peak is found by the inspect cell's user; frame 60 of a sample)."""
    samples = sample_paths()
    video = samples[0] if samples else "sample_videos/testing/test_01.mp4"
    clip = state.context().clip
    if isinstance(clip, ClipSource) and clip.path and clip.data is None:
        video = repo_path(clip.path)
    models = [repo_path(p) for p in (state.recall("models") or ())]
    if not models:
        best, _ = best_checkpoints(clip=clip if isinstance(clip, ClipSource) else sample_source())
        models = [repo_path(e.path) for e in best] or checkpoint_paths()[:1] or ["checkpoints/conv_ae_synthetic"]
    frame = 60
    if isinstance(clip, ClipSource) and clip.path and clip.data is None:
        ref = state.context().frame
        frame = ref.index if ref is not None and ref.clip == clip.decode_key else frame
    nb = notebook.starter_notebook(video=video, checkpoint=models[0], frame=frame)
    nb.cells[1].params["checkpoints"] = models
    return nb


def open_notebook(nb: notebook.Notebook) -> None:
    """Make `nb` the notebook of this session: widgets start again from its params."""
    for key in [k for k in st.session_state if str(k).startswith(CELL_PREFIX)]:
        del st.session_state[key]
    st.session_state[DOC] = nb
    st.session_state["notebook.title"] = nb.title


def confine_paths(cell: notebook.Cell) -> None:
    """Clip and checkpoint paths must lie inside the lab's readable roots (a served lab reads no other files)."""
    params = cell.resolved_params()
    if cell.kind == "clip":
        paths.confine(notebook.resolve_path(params["video"]))
        if params["labels"] not in ("auto", "none"):
            paths.confine(notebook.resolve_path(params["labels"]))
    elif cell.kind == "model":
        for path in params["checkpoints"]:
            stem = re.sub(r"\.(safetensors|json)$", "", path)
            paths.confine(notebook.resolve_path(stem + ".safetensors"))


# ------------------------------------------------------------------------------- per-cell widgets
def clip_widgets(cell: notebook.Cell, latest: dict) -> None:
    samples = sample_paths()
    current = cell.params.get("video", "")
    options = samples + ["Another path…"]
    col_video, col_labels = st.columns([3, 1])
    choice = col_video.selectbox("Video", options, key=seed_choice(wkey(cell, "choice"), current if current in samples else options[-1], options))
    if choice == options[-1]:
        video = col_video.text_input("Video path (file or frame folder)", key=seed(wkey(cell, "video"), current),
                                     help="Relative to the repository, or absolute; it must lie inside the lab's "
                                          "sample, checkpoint or data folders.")
    else:
        video = choice
    label_choices = ["auto", "none"]
    labels = cell.params.get("labels", "auto")
    label_choice = col_labels.selectbox("Ground truth", label_choices + ["a labels file"],
                                        key=seed(wkey(cell, "labels_choice"), labels if labels in label_choices else "a labels file"),
                                        help="auto: labels.json (or NAME.csv) beside the video.")
    if label_choice == "a labels file":
        labels = col_labels.text_input("Labels file", key=seed(wkey(cell, "labels"), labels if labels not in label_choices else ""))
    else:
        labels = label_choice
    cell.params.update(video=video, labels=labels)


def model_widgets(cell: notebook.Cell, latest: dict) -> None:
    current = list(cell.params.get("checkpoints", []))
    options = checkpoint_paths()
    options += [p for p in current if p not in options]
    col_models, col_device = st.columns([3, 1])
    key = wkey(cell, "checkpoints")
    if key in st.session_state and not set(st.session_state[key]) <= set(options):
        st.session_state[key] = [p for p in st.session_state[key] if p in options]
    chosen = col_models.multiselect("Checkpoints", options, key=seed(key, current))
    devices = device_choices()
    device = cell.params.get("device", "auto")
    device = col_device.selectbox("Device", devices, key=seed_choice(wkey(cell, "device"), device, devices))
    cell.params.update(checkpoints=chosen, device=device)


def score_widgets(cell: notebook.Cell, latest: dict) -> None:
    p = cell.resolved_params()
    col_batch, col_far = st.columns(2)
    batch = col_batch.number_input("Batch size", 1, 512, key=seed(wkey(cell, "batch_size"), int(p["batch_size"])),
                                   help="Windows per forward pass (speed only: the scores do not change).")
    choices = list(notebook.PARAMS["score"]["far"].choices)
    far = col_far.selectbox("Target false-alarm rate", choices,
                            format_func=lambda f: "the model's verdict rule" if f is None else f"{format_far(f)} normal frames",
                            key=seed_choice(wkey(cell, "far"), p["far"], choices),
                            help="Sets the calibrated alert threshold of each checkpoint (a new rate re-judges the "
                                 "same scores; nothing is re-scored).")
    cell.params.update(batch_size=int(batch), far=None if far is None else float(far))


def _frame_widget(cell: notebook.Cell, latest: dict, label: str, value: int) -> int:
    clip = latest.get("clip")
    if clip is not None:
        n = clip["n_frames"]
        key = wkey(cell, "frame")
        if key in st.session_state and st.session_state[key] > n - 1:  # a shorter clip was chosen above
            st.session_state[key] = n - 1
        return int(st.slider(label, 0, n - 1, key=seed(key, int(min(value, n - 1)))))
    return int(st.number_input(label, 0, 1_000_000, key=seed(wkey(cell, "frame"), int(value))))


def inspect_widgets(cell: notebook.Cell, latest: dict) -> None:
    cell.params["frame"] = _frame_widget(cell, latest, "Frame", int(cell.params.get("frame", 0)))


def explain_widgets(cell: notebook.Cell, latest: dict) -> None:
    p = cell.resolved_params()
    labels = explain.METHOD_LABELS
    col_method, col_frame, col_model = st.columns(3)
    method = col_method.selectbox("Method", list(labels), format_func=labels.get, key=seed(wkey(cell, "method"), p["method"]))
    with col_frame:
        follow = st.checkbox("Frame of the inspect cell", key=seed(wkey(cell, "follow"), p["frame"] is None))
        frame = None if follow else _frame_widget(cell, latest, "Frame to explain", p["frame"] or 0)
    models = list(latest["model"]["models"]) if latest.get("model") else []
    # a selectbox shows None as "Choose an option": the first model is a named choice instead
    model_options = [FIRST_MODEL] + models + ([p["model"]] if p["model"] and p["model"] not in models else [])
    model = col_model.selectbox("Model", model_options,
                                format_func=lambda m: f"the first model ({models[0]})" if m == FIRST_MODEL and models
                                else "the first model" if m == FIRST_MODEL else m,
                                key=seed_choice(wkey(cell, "model"), p["model"] or FIRST_MODEL, model_options))
    model = None if model == FIRST_MODEL else model
    options = dict(p["options"]) if method == p["method"] else {}
    chosen = attribution_params(f"{CELL_PREFIX}{cell.id}", method, start={**explain.DEFAULT_PARAMS[method], **options})
    # only what differs from the method's defaults is stored: notebooks stay short and readable
    options = {k: v for k, v in chosen.items() if v != explain.DEFAULT_PARAMS[method][k]}
    cell.params.update(method=method, options=options, frame=frame, model=model)


def evaluate_widgets(cell: notebook.Cell, latest: dict) -> None:
    p = cell.resolved_params()
    col_norm, col_smooth = st.columns(2)
    normalize = col_norm.selectbox("Normalisation (per video)", ["minmax", "zscore", "none"],
                                   key=seed(wkey(cell, "normalize"), p["normalize"]))
    smooth = col_smooth.slider("Smoothing σ (frames)", 0.0, 10.0, key=seed(wkey(cell, "smooth_sigma"), float(p["smooth_sigma"])),
                               step=0.5)
    cell.params.update(normalize=normalize, smooth_sigma=float(smooth))


WIDGETS = {"clip": clip_widgets, "model": model_widgets, "score": score_widgets, "inspect": inspect_widgets,
           "explain": explain_widgets, "evaluate": evaluate_widgets}


# ------------------------------------------------------------------------------- per-cell outputs
def show_output(cell: notebook.Cell, out: dict) -> None:
    if cell.kind == "clip":
        labels = out["labels"]
        truth = "no ground truth" if labels is None else f"{int(labels.sum())} anomalous frames (ground truth)"
        st.caption(f"**{out['name']}**: {out['n_frames']} frames at {out['fps']:g} fps · {truth}")
    elif cell.kind == "model":
        st.dataframe([{"name": name, "family": m.spec.name, "input": f"{m.model.config.channels}×{m.model.config.height}×"
                       f"{m.model.config.width}", "window": m.model.config.window, "scores": m.spec.score_kind}
                      for name, m in out["models"].items()], hide_index=True)
    elif cell.kind == "score":
        verdicts = out["verdicts"]
        for name, verdict in verdicts.items():
            scene_note = verdict.notes[-1] if verdict.out_of_scene and verdict.notes else None  # `assess` adds it last
            note_warnings(verdict.notes, scene_note, verdict.threshold, name)
        st.dataframe([{"model": name, "scale": "calibrated" if v.calibrated else "min-max (no calibration)",
                       "threshold": round(v.threshold, 3), "flagged frames": v.n_flagged, "alert events": len(v.events),
                       "verdict": "ALERT" if v.events else "no anomaly"} for name, v in verdicts.items()],
                     hide_index=True)
        import plotly.graph_objects as go

        # a copy: the cached figure is shared; a click on a frame moves the inspect cell below
        st.plotly_chart(plots.clickable(go.Figure(out["figure"])), key=timeline_key(cell), on_select="rerun",
                        selection_mode="points")
        st.caption("Click any point to inspect that frame in the inspect cell below.")
        lead = next((v for v in verdicts.values() if v.calibrated), next(iter(verdicts.values())))
        st.caption(f"{lead.scale[0].upper()}{lead.scale[1:]}.")
    elif cell.kind == "inspect":
        st.dataframe(out["rows"], hide_index=True)
        for name, figure in out["figures"].items():
            st.plotly_chart(figure, key=f"notebook.{cell.id}.frame.{name}")
    elif cell.kind == "explain":
        attribution = out["attribution"]
        st.plotly_chart(out["figure"], key=f"notebook.{cell.id}.attribution")
        st.caption(f"{explain.METHOD_LABELS[attribution.method]} of {out['model']}'s score {attribution.score:.4g} for frame "
                   f"{out['explanation'].scored_frame}: {attribution.seconds:.2f} s")
    elif cell.kind == "evaluate":
        st.dataframe(out["rows"], hide_index=True)
        st.plotly_chart(out["figure"], key=f"notebook.{cell.id}.roc")


# -------------------------------------------------------------------------------- page sections
def notebook_session() -> tuple[notebook.Notebook, notebook.NotebookCache]:
    """The notebook of this session and its cache of cell outputs (the starter notebook at first)."""
    if DOC not in st.session_state:
        open_notebook(starter())
    if CACHE not in st.session_state:
        st.session_state[CACHE] = notebook.NotebookCache(max_entries=12)  # outputs hold decoded clips: keep few
    return st.session_state[DOC], st.session_state[CACHE]


def notebook_open_controls() -> None:
    """Open a notebook from an uploaded JSON file (it opens as soon as it is uploaded) or from pasted
    JSON (with its own button), or start again from the starter notebook."""
    col_file, col_paste = st.columns(2, gap="large")
    upload = col_file.file_uploader("Upload a notebook file (.json): it opens at once", type=["json"], key="notebook.upload")
    if upload is not None:
        digest = hashlib.sha256(upload.getvalue()).hexdigest()
        if st.session_state.get(OPENED_UPLOAD) != digest:
            with user_errors(f"Opening {upload.name}", stop=False) as report:
                opened = notebook.Notebook.from_json(upload.getvalue())
            if not report.failed:
                st.session_state[OPENED_UPLOAD] = digest
                open_notebook(opened)
                st.rerun()
    with col_paste:
        text = st.text_area("…or paste a notebook's JSON", key="notebook.open_text", height=100)
        if st.button("Open the pasted notebook", key="notebook.open", disabled=not text.strip(),
                     help="Paste a notebook's JSON in the box above first."):
            with user_errors("Opening the notebook", stop=False) as report:
                opened = notebook.Notebook.from_json(text)
            if not report.failed:
                open_notebook(opened)
                st.rerun()
    if st.button("Start again from the starter notebook (on the clip and model you are working on)", key="notebook.reset"):
        open_notebook(starter())
        st.rerun()


def notebook_cells(nb: notebook.Notebook, cache: notebook.NotebookCache) -> list:
    """Every cell in a bordered box: move/delete buttons, its widgets, then its output. A cell runs
    (through `cache`: only cells whose inputs changed) unless a cell above it cannot. Returns the run
    results of the cells that ran, top to bottom."""
    latest: dict = {}  # kind -> output of the nearest cell above (for widget ranges)
    results: list = []
    blocked = False
    clicked = None  # a frame clicked on a score cell's timeline: the next inspect cell shows it
    for i, cell in enumerate(nb.cells):
        if cell.kind == "score":
            clicked = click_to_frame(timeline_key(cell))
        elif cell.kind == "inspect" and clicked is not None:
            st.session_state[wkey(cell, "frame")] = clicked
            cell.params["frame"] = clicked
            clicked = None
        with st.container(border=True):
            col_title, col_up, col_down, col_delete = st.columns([12, 1, 1, 1])
            col_title.markdown(f"**{i + 1} · {notebook.CELL_TITLES[cell.kind]}**")
            if col_up.button("↑", key=f"notebook.{cell.id}.up", disabled=i == 0, help="Move up"):
                nb.cells[i - 1], nb.cells[i] = nb.cells[i], nb.cells[i - 1]
                st.rerun()
            if col_down.button("↓", key=f"notebook.{cell.id}.down", disabled=i == len(nb.cells) - 1, help="Move down"):
                nb.cells[i + 1], nb.cells[i] = nb.cells[i], nb.cells[i + 1]
                st.rerun()
            if col_delete.button("✕", key=f"notebook.{cell.id}.delete", help="Delete this cell"):
                nb.cells.pop(i)
                st.rerun()
            WIDGETS[cell.kind](cell, latest)
            if blocked:
                st.caption("Not run: a cell above it cannot run.")
                continue
            with user_errors(f"Cell {i + 1}", stop=False) as report:
                notebook.validate_cell(cell, f"cell {i + 1}")
                confine_paths(cell)
            if report.failed:
                blocked = True
                continue
            with st.spinner(f"Running cell {i + 1} ({cell.kind})…"):
                result = notebook.run(notebook.Notebook(nb.cells[: i + 1], nb.title), cache)[-1]
            results.append(result)
            if result.ok:
                latest[cell.kind] = result.output
                show_output(cell, result.output)
                st.caption("unchanged: from the cache" if result.cached else f"ran in {result.seconds:.2f} s")
            else:
                st.error(result.error, icon="🚫")
    return results


def notebook_add_cell(nb: notebook.Notebook) -> None:
    """A cell-kind choice and an "Add cell" button that appends a cell with default parameters."""
    col_kind, col_add = st.columns([3, 1], vertical_alignment="bottom")
    new_kind = col_kind.selectbox("New cell", notebook.CELL_KINDS, format_func=notebook.CELL_TITLES.get,
                                  key="notebook.new_kind")
    if col_add.button("Add cell", key="notebook.add"):
        defaults = {"clip": {"video": (sample_paths() or ["sample_videos/testing/test_01.mp4"])[0]},
                    "model": {"checkpoints": (checkpoint_paths() or ["checkpoints/conv_ae_synthetic"])[:1]}}
        nb.cells.append(notebook.Cell(new_kind, dict(defaults.get(new_kind, {}))))
        st.rerun()


def notebook_downloads(nb: notebook.Notebook, results: list) -> None:
    """Save (.json), export (.py, .ipynb) and the last score cell's per-frame scores (.csv), as
    download buttons; their contents are also kept in SAVED_JSON, SCRIPT and SCORES_CSV."""
    with user_errors("Export", stop=False):
        saved = nb.to_json()
        script = notebook_export.export_python(nb)
        st.session_state[SAVED_JSON] = saved
        st.session_state[SCRIPT] = script
        scores = notebook.last_scores(results)
        st.session_state[SCORES_CSV] = (None if scores is None else
                                        notebook.scores_csv(scores, notebook.last_scores(results, "verdicts")))
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", nb.title).strip("_") or "notebook"
        col_json, col_py, col_ipynb = st.columns(3)
        col_json.download_button("Save notebook (.json)", saved, file_name=f"{stem}.json", mime="application/json",
                                 key="notebook.save")
        col_py.download_button("Export as Python script", script, file_name=f"{stem}.py", mime="text/x-python",
                               key="notebook.export_py")
        col_ipynb.download_button("Export as Jupyter notebook", notebook_export.export_ipynb(nb), file_name=f"{stem}.ipynb",
                                  mime="application/x-ipynb+json", key="notebook.export_ipynb")
        st.caption("The script runs the same vadlab calls: `python notebook.py scores.csv` writes the per-frame scores "
                   "of the last score cell (the numbers above); set VADLAB_FIGURES to a folder to save the figures.")
        if scores is not None:
            st.download_button("Per-frame scores (.csv)", st.session_state[SCORES_CSV], file_name=f"{stem}_scores.csv",
                               mime="text/csv", key="notebook.scores")
