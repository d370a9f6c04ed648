"""The Data page's sections: the user's datasets (made from uploads, kept in the user data folder
in the `folder:` layout), adding clips, renaming and deleting, and labelling test clips (a frame
slider, a timeline with the ground-truth band, anomalous spans as an editable list, labels files
up and down). The work on files is `vadlab.userdata`; this module draws and keeps session state.

Also `user_dataset_specs` / `user_dataset_picker`, which the shared dataset picker uses so that
every page that picks a dataset (Train, Evaluate, Compare, ...) offers the user's datasets.
"""
from __future__ import annotations

import csv
import io
from typing import Optional

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from vadlab import paths
from vadlab.plots import COLORS
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, dataset, decode, display_spec, forget_datasets, result_store
from vadlab.ui.errors import ERROR_ICON, user_errors
from vadlab.userdata import (
    SPLIT_TITLES,
    UPLOAD_EXTENSIONS,
    ClipInfo,
    DatasetInfo,
    UserData,
    UserDataError,
    labels_to_spans,
    spans_to_labels,
)

PAGE = "data"
UPLOAD_TYPES = [e.lstrip(".") for e in UPLOAD_EXTENSIONS]
LABEL_TYPES = ["csv", "txt", "json", "npy", "mat", "m"]
REPORT = "data.report"  # the last upload's report, shown after the rerun that clears the form
SELECT_NEXT = "data.select_next"  # dataset to select on the next run (after create / rename / delete)
NOTICE = "data.notice"  # a one-off success message for the next run (top of the page)
LABEL_NOTICE = "data.label_notice"  # the same, shown in the labelling section
UPLOAD_GENERATION = "data.upload_generation"  # bumped after clips are added: the form's uploaders start empty
SPAN_IDS = "data.span_ids"  # counter: every span row gets its own widget keys
DATASET_KEY = state.widget_key(PAGE, "dataset")
CLIP_KEY = state.widget_key(PAGE, "label_clip")


def store() -> UserData:
    """The user data folder of this app (`paths.user_data_dir()`, VADLAB_USER_DATA)."""
    return UserData(paths.user_data_dir())


def _changed() -> None:
    """Files changed: listings cached by spec must be read again (labels above all)."""
    forget_datasets()


# ----------------------------------------------------------------------------- the shared picker
def user_dataset_specs() -> dict[str, str]:
    """{name: dataset spec} of the user's datasets (the core's registry, `UserData.specs`)."""
    return store().specs()


def user_dataset_picker(page: str) -> Optional[str]:
    """One of the user's datasets, starting from the one last made or chosen in this session (the
    working context's, so Score, Train and Evaluate follow the Data page); returns its spec
    `folder:<path>` (None when there is none or it has no clips)."""
    specs = user_dataset_specs()
    if not specs:
        st.info("No datasets of your own yet: make one on the **Data** page.")
        return None
    names = list(specs)
    name = st.selectbox("Your dataset", names, help="Datasets made on the Data page (files in "
                                                    f"{paths.display_path(paths.user_data_dir())}/).",
                        **state.bind(state.widget_key(page, "user_dataset"), state.USER_DATASET, names[-1], names))
    with user_errors(stop=False) as report:
        info = store().info(name)
    if report.failed:
        return None
    normal, test = info.split("training"), info.split("testing")
    st.caption(f"Dataset: `{display_spec(info.spec)}` · {len(normal)} normal clip{'s' if len(normal) != 1 else ''}, "
               f"{len(test)} test clip{'s' if len(test) != 1 else ''} ({sum(c.labelled for c in test)} labelled)")
    if not info.clips:
        st.warning(f"{name} has no clips yet: add some on the Data page.")
        return None
    if not normal:
        st.warning(f"{name} has no normal (training) clips: models cannot be trained on it, only evaluated.")
    elif not any(c.labelled for c in test):
        st.caption("No labelled test clip yet: label one on the Data page to evaluate on this dataset.")
    return info.spec


# ------------------------------------------------------------------------------------ overview
def datasets_table(infos: list[DatasetInfo]) -> None:
    """One row per dataset: clip counts, frames, duration, resolution(s)."""
    if not infos:
        st.info("No datasets yet. Add normal clips of your scene below: they become a named dataset that the Train, "
                "Evaluate and Compare pages (and `vadlab train --data folder:...`) can use.")
        return
    st.dataframe([info.summary() for info in infos], hide_index=True, width="stretch")
    st.caption(f"Files in `{paths.display_path(paths.user_data_dir())}/` (set VADLAB_USER_DATA to move it): "
               "NAME/training/ holds the normal clips, NAME/testing/ the test clips and their labels.json.")


# ----------------------------------------------------------------------------------- uploading
def _show_report() -> None:
    reports = st.session_state.pop(REPORT, None)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    for report in reports or []:
        if report.added:
            names = ", ".join(f"{c.name} ({c.frames} frames, {c.width}×{c.height})" for c in report.added)
            st.success(f"Added to **{report.dataset}** as {SPLIT_TITLES[report.split]} clips: {names}",
                       icon=":material/check_circle:")
        for filename, message in report.refused:
            st.error(message if message.startswith(filename) else f"{filename}: {message}", icon=ERROR_ICON)


def _upload_key(name: str) -> str:
    """The key of an uploader of the form; a new one after each upload that added clips, so the
    uploaders start empty then (and only then: a refused or incomplete submit keeps the files)."""
    generation = st.session_state.get(UPLOAD_GENERATION, 0)
    return state.widget_key(PAGE, name) + (f".{generation}" if generation else "")


def upload_form() -> None:
    """A form: dataset name, normal clips, test clips; every file is validated on its own. Enter in
    the name field does not submit it, and nothing the user chose is cleared until clips are added."""
    _show_report()
    with st.form("data.upload_form", clear_on_submit=False, enter_to_submit=False, border=True):
        st.markdown("**Add clips to a dataset** (a new name makes a new dataset)")
        name = st.text_input("Dataset name", key=state.widget_key(PAGE, "new_name"), placeholder="e.g. lobby_cam",
                             help="1-64 letters, digits, '_', '-' or '.'; an existing name adds the clips to it.")
        normal = st.file_uploader(
            "Normal clips (training): videos or zips of frame images", type=UPLOAD_TYPES, accept_multiple_files=True,
            key=_upload_key("normal_upload"),
            help="Footage of the scene with nothing unusual in it: models learn what normal looks like from these.")
        test = st.file_uploader(
            "Test clips (optional): label their anomalous spans below", type=UPLOAD_TYPES, accept_multiple_files=True,
            key=_upload_key("test_upload"),
            help="Clips to evaluate on; once labelled, the Evaluate page computes ROC curves on them.")
        submitted = st.form_submit_button("Add clips", type="primary")
    if not submitted:
        return
    if not normal and not test:
        st.warning("Choose at least one clip to upload.")
        return
    if not (name or "").strip():
        st.warning("Give the dataset a name (a new name makes a new dataset): your chosen clips are kept.",
                   icon=":material/edit:")
        return
    data = store()
    reports = []
    with user_errors("Dataset", stop=False) as failed:
        for split, files in (("training", normal or []), ("testing", test or [])):
            if files:
                with st.spinner(f"Checking {len(files)} {SPLIT_TITLES[split]} clip(s)…"):
                    reports.append(data.add_uploads(name, [(f.name, f.getvalue()) for f in files], split))
    if failed.failed:
        return
    _changed()
    st.session_state[REPORT] = reports
    if any(r.added for r in reports):
        st.session_state[SELECT_NEXT] = reports[0].dataset
        st.session_state[UPLOAD_GENERATION] = st.session_state.get(UPLOAD_GENERATION, 0) + 1  # empty uploaders
    st.rerun()


# ---------------------------------------------------------------------------------- one dataset
def dataset_choice(names: list[str]) -> Optional[str]:
    """The dataset the rest of the page works on."""
    if not names:
        return None
    pending = st.session_state.pop(SELECT_NEXT, None)
    if pending in names:
        state.remember(state.USER_DATASET, pending)  # just made: the other pages follow it
    return st.selectbox("Dataset", names, **state.bind(DATASET_KEY, state.USER_DATASET, names[0], names))


def clips_table(info: DatasetInfo) -> None:
    """Every clip of a dataset with frames, duration, resolution and labelling state."""
    rows = [{"split": SPLIT_TITLES[c.split], "clip": c.name, "frames": c.frames, "duration (s)": round(c.duration, 1),
             "resolution": c.resolution if c.error is None else "-", "fps": round(c.fps, 2),
             "labels": ("-" if c.split == "training" else
                        f"{c.n_anomalous} anomalous frames" if c.labelled else "not labelled yet"),
             "problem": c.error or ""} for c in info.clips]
    if not any(r["problem"] for r in rows):
        for r in rows:
            del r["problem"]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    for problem in info.problems:
        st.warning(problem)
    where = paths.display_path(info.path)
    out = paths.display_path(paths.user_checkpoints_dir() / f"{info.name}_conv_ae")  # where the app lists models
    st.caption(f"Folder `{where}`. From a terminal: `vadlab train --model conv_ae --preset tiny --data folder:{where} "
               f"--out {out}` (the app lists it under your models).")


def manage(info: DatasetInfo) -> None:
    """Rename the dataset, delete it, or delete one clip (each asks for confirmation)."""
    data = store()
    with st.expander("Rename or delete"):
        col_rename, col_delete = st.columns(2, gap="large")
        with col_rename:
            new = st.text_input("New name", key=state.widget_key(PAGE, "rename_to"), placeholder=info.name)
            if st.button("Rename", key=state.widget_key(PAGE, "rename"), disabled=not new.strip()):
                with user_errors("Rename"):
                    target = data.rename(info.name, new)
                _changed()
                st.session_state[SELECT_NEXT] = target.name
                st.session_state[NOTICE] = (f"Renamed {info.name} to {target.name}. Checkpoints trained on it still "
                                            "name the old folder in their metadata.")
                st.rerun()
        with col_delete:
            sure = st.checkbox(f"Yes, delete {info.name}: its {len(info.clips)} clips and labels, for good",
                               key=state.widget_key(PAGE, f"confirm_delete.{info.name}"))
            if st.button("Delete dataset", key=state.widget_key(PAGE, "delete"), disabled=not sure):
                with user_errors("Delete"):
                    data.delete(info.name)
                _changed()
                st.session_state[NOTICE] = f"Deleted {info.name}."
                st.rerun()
        if info.clips:
            labels = {f"{c.split}/{c.name}": c for c in info.clips}
            choice = st.selectbox("Clip", list(labels), key=state.widget_key(PAGE, "clip_to_delete"))
            clip = labels[choice]
            sure_clip = st.checkbox(f"Yes, delete the clip {choice}", key=state.widget_key(PAGE, f"confirm_clip.{info.name}.{choice}"))
            if st.button("Delete clip", key=state.widget_key(PAGE, "delete_clip"), disabled=not sure_clip):
                with user_errors("Delete clip"):
                    data.delete_clip(info.name, clip.split, clip.name)
                _changed()
                st.session_state[NOTICE] = f"Deleted the clip {choice} from {info.name}."
                st.rerun()


# ------------------------------------------------------------------------------------- labelling
def _spans_key(dataset_name: str, clip: str) -> str:
    return f"data.spans|{dataset_name}|{clip}"


def _new_span(start: int, end: int) -> dict:
    st.session_state[SPAN_IDS] = st.session_state.get(SPAN_IDS, 0) + 1
    return {"id": st.session_state[SPAN_IDS], "start": int(start), "end": int(end)}


def _load_spans(dataset_name: str, clip: str, saved: Optional[np.ndarray]) -> list[dict]:
    key = _spans_key(dataset_name, clip)
    if key not in st.session_state:
        st.session_state[key] = [_new_span(s, e) for s, e in labels_to_spans(saved if saved is not None else [])]
    return st.session_state[key]


def frame_changes(source: ClipSource) -> np.ndarray:
    """(N,) how much each frame differs from the one before (mean absolute grey difference over a
    shrunk frame, scaled to [0, 1]): a guide to where things happen in a clip. Cached per clip."""
    def compute() -> np.ndarray:
        frames = decode(source).frames  # (T, H, W, 3)
        step = max(1, max(frames.shape[1:3]) // 64)
        grey = frames[:, ::step, ::step].mean(axis=3, dtype=np.float32)  # (T, h, w)
        change = np.zeros(len(grey), np.float32)
        change[1:] = np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2))
        top = float(change.max())
        return change / top if top > 0 else change

    return result_store().get_or_compute(("frame_changes", source.key), compute)


def label_figure(change: np.ndarray, spans: list[tuple[int, int]], n_frames: int, current: int, fps: float,
                 pending: Optional[int] = None) -> go.Figure:
    """The labelling timeline: frame-to-frame change per frame, the anomalous spans as a shaded
    ground-truth band, the current frame (dotted) and a span start waiting for its end (dashed)."""
    fig = go.Figure()
    for start, end in spans:
        fig.add_vrect(x0=start - 0.5, x1=end + 0.5, fillcolor="rgba(230, 159, 0, 0.18)", line_width=0, layer="below")
        fig.add_vrect(x0=start - 0.5, x1=end + 0.5, y0=0.0, y1=0.08, fillcolor=COLORS["ground_truth"], line_width=0,
                      layer="below")
    if spans:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="anomalous (ground truth)",
                                 marker=dict(symbol="square", size=12, color=COLORS["ground_truth"]), hoverinfo="skip"))
    frames = np.arange(len(change))
    fig.add_trace(go.Scatter(
        x=frames, y=change, mode="lines+markers", name="change from the previous frame",
        line=dict(color=COLORS["score"], width=1.5), marker=dict(size=3), customdata=frames / fps,
        hovertemplate="frame %{x}<br>t = %{customdata:.2f} s<extra></extra>"))
    fig.add_vline(x=int(current), line=dict(color=COLORS["current"], width=1.5, dash="dot"))
    if pending is not None:
        fig.add_vline(x=int(pending), line=dict(color=COLORS["tn"], width=2, dash="dash"),
                      annotation_text="span start", annotation_position="top right")
    fig.update_layout(height=300, margin=dict(l=50, r=20, t=30, b=40), template="plotly_white", dragmode="select",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0), hovermode="closest")
    fig.update_xaxes(title_text=f"frame ({fps:g} fps)", range=[-0.5, max(n_frames - 0.5, 0.5)])
    fig.update_yaxes(title_text="change", range=[0, 1.05])
    return fig


def _selected_frames(selection: object) -> list[int]:
    try:
        points = selection["selection"]["points"]  # type: ignore[index]
    except (KeyError, TypeError):
        return []
    xs = []
    for point in points or []:
        x = point.get("x") if isinstance(point, dict) else None
        if isinstance(x, (int, float)) and np.isfinite(x):
            xs.append(int(round(x)))
    return sorted(set(xs))


def label_clip(info: DatasetInfo) -> None:
    """Label one test clip: frame slider + timeline, spans as an editable list, save; labels files."""
    data = store()
    test = [c for c in info.split("testing") if c.error is None]
    if not test:
        st.info(f"{info.name} has no test clips yet: add some above, then mark their anomalous spans here. "
                "Normal (training) clips need no labels.")
        return
    by_name = {c.name: c for c in test}
    if st.session_state.get(CLIP_KEY) not in by_name:
        st.session_state.pop(CLIP_KEY, None)
    name = st.selectbox("Test clip", list(by_name), key=CLIP_KEY,
                        help="Only test clips are labelled: normal (training) clips are normal throughout.")
    clip = by_name[name]
    with user_errors(f"Labelling {clip.name}"):
        saved = data.labels(info.name).get(clip.name)
        source = ClipSource.from_path(clip.path, "dataset", name=clip.name)
        video = decode(source)
        change = frame_changes(source)
    n_frames, last = clip.frames, max(clip.frames - 1, 0)
    spans = _load_spans(info.name, clip.name, saved)
    key = _spans_key(info.name, clip.name)
    frame_key = f"data.frame|{info.name}|{clip.name}"
    chart_key = f"data.timeline|{info.name}|{clip.name}"
    pending_key = f"{key}|pending"
    applied_key = f"{chart_key}|applied"
    if frame_key not in st.session_state:
        st.session_state[frame_key] = 0

    # a click on the chart jumps to that frame (once per click); a box / lasso selection offers a span
    selected = _selected_frames(st.session_state.get(chart_key))
    if len(selected) == 1 and selected != st.session_state.get(applied_key):
        st.session_state[applied_key] = selected
        st.session_state[frame_key] = min(max(selected[0], 0), last)
    current = int(min(max(int(st.session_state[frame_key]), 0), last))
    st.session_state[frame_key] = current

    current_spans = [(int(s["start"]), int(s["end"])) for s in spans]
    st.plotly_chart(label_figure(change, current_spans, n_frames, current, video.info.fps or 25.0,
                                 st.session_state.get(pending_key)),
                    key=chart_key, on_select="rerun", selection_mode=("points", "box"), width="stretch",
                    config={"displaylogo": False})
    st.caption("Frame-to-frame change (where things move). Orange: the anomalous spans (the ground truth). Click a "
               "point to jump to that frame; drag a box over the chart to select frames as a span.")
    if len(selected) >= 2 and selected != st.session_state.get(applied_key):
        start, end = selected[0], min(selected[-1], last)
        if st.button(f"Mark the selected frames {start}–{end} as anomalous", key=f"{key}|add_selection"):
            spans.append(_new_span(start, end))
            st.session_state[applied_key] = selected
            st.rerun()

    col_frame, col_marks = st.columns([3, 2], gap="large")
    with col_frame:
        if last > 0:
            current = int(st.slider("Frame", 0, last, key=frame_key, help=f"t = frame / {video.info.fps:g} s"))
        inside = [i + 1 for i, (s, e) in enumerate(current_spans) if s <= current <= e]
        if current < len(video.frames):
            st.image(np.asarray(video.frames[current]), width="stretch",
                     caption=f"frame {current} of {n_frames} · t = {current / (video.info.fps or 25.0):.2f} s · "
                             + (f"anomalous (span {', '.join(map(str, inside))})" if inside else "normal"))
    with col_marks:
        st.markdown("**Mark with the slider**")
        pending = st.session_state.get(pending_key)
        if st.button("Span starts at this frame", key=f"{key}|mark_start", width="stretch"):
            st.session_state[pending_key] = current
            st.rerun()
        if st.button("Span ends at this frame", key=f"{key}|mark_end", width="stretch",
                     disabled=pending is None):
            start, end = sorted((int(pending), current))
            spans.append(_new_span(start, end))
            st.session_state.pop(pending_key, None)
            st.rerun()
        st.caption(f"Span start waiting for its end: frame {pending}." if pending is not None
                   else "Move the slider to where the anomaly starts, press the first button, then to where it "
                        "ends and press the second.")

    st.markdown("**Anomalous spans** (frames, first and last included)")
    problems = _span_rows(spans, key, last)
    col_start, col_end, col_add = st.columns([2, 2, 1], vertical_alignment="bottom")
    new_start = col_start.number_input("New span: start frame", 0, last, 0, key=f"{key}|new_start")
    new_end = col_end.number_input("New span: end frame", 0, last, last, key=f"{key}|new_end")
    if col_add.button("Add span", key=f"{key}|add"):
        if new_end < new_start:
            st.error(f"The new span ends ({new_end}) before it starts ({new_start}).", icon=ERROR_ICON)
        else:
            spans.append(_new_span(new_start, new_end))
            st.rerun()

    edited = [(int(s["start"]), int(s["end"])) for s in spans]
    unsaved = bool(problems) or saved is None or not np.array_equal(spans_to_labels(edited, n_frames), saved)
    notice = st.session_state.pop(LABEL_NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    col_save, col_revert, col_state = st.columns([1, 1, 3], vertical_alignment="center")
    if col_save.button("Save labels", type="primary", key=f"{key}|save", disabled=bool(problems)):
        with user_errors(f"Saving the labels of {clip.name}"):
            data.save_spans(info.name, clip.name, edited)
        _changed()
        st.session_state[LABEL_NOTICE] = (f"Saved the labels of {clip.name}: {len(edited)} anomalous span"
                                    f"{'s' if len(edited) != 1 else ''}, "
                                    f"{int(spans_to_labels(edited, n_frames).sum())} of {n_frames} frames.")
        st.rerun()
    if col_revert.button("Revert", key=f"{key}|revert", disabled=saved is None or not unsaved):
        st.session_state.pop(key, None)
        st.rerun()
    if problems:
        col_state.error(" ".join(problems), icon=ERROR_ICON)
    elif saved is None and edited:
        col_state.warning("Unsaved changes: the clip is not labelled yet.")
    elif saved is None:
        col_state.caption("Not labelled yet: saving with no span marks every frame normal.")
    elif unsaved:
        col_state.warning("Unsaved changes.")
    else:
        col_state.caption(f"Saved in {paths.display_path(data.labels_path(info.name))}.")
    labels_files(info, clip)


def _span_rows(spans: list[dict], key: str, last: int) -> list[str]:
    """One row per span (start, end, remove); returns the problems (a span ending before it starts)."""
    problems = []
    if not spans:
        st.caption("No anomalous span: every frame is normal.")
    for i, span in enumerate(list(spans), 1):
        row = f"{key}|span{span['id']}"
        for part in ("start", "end"):
            if f"{row}|{part}" not in st.session_state:
                st.session_state[f"{row}|{part}"] = int(span[part])
        col_label, col_start, col_end, col_remove = st.columns([1, 2, 2, 1], vertical_alignment="bottom")
        col_label.markdown(f"Span {i}")
        span["start"] = int(col_start.number_input("Start frame", 0, last, key=f"{row}|start"))
        span["end"] = int(col_end.number_input("End frame", 0, last, key=f"{row}|end"))
        if col_remove.button("Remove", key=f"{row}|remove"):
            spans.remove(span)
            st.rerun()
        if span["end"] < span["start"]:
            problems.append(f"Span {i} ends (frame {span['end']}) before it starts (frame {span['start']}).")
    return problems


def labels_files(info: DatasetInfo, clip: ClipInfo) -> None:
    """Upload a labels file (CSV/JSON/npy/.mat/.m) for the dataset's test clips; download them."""
    data = store()
    with st.expander("Labels files: upload or download"):
        upload = st.file_uploader(
            "Labels file", type=LABEL_TYPES, key=state.widget_key(PAGE, "labels_upload"),
            help="One 0/1 per frame (1 = anomalous): CSV/TXT lines or a 'label' column, a JSON list or "
                 '{"clip": [...]}, a .npy array, a .mat `gt` cell of [start; end] ranges or UCSD .m lines. '
                 f"Entries named after clips go to those clips; a single clip's file goes to {clip.name}; numbered "
                 ".mat/.m entries go to the test clips in order.")
        if upload is not None and st.button("Import labels", key=state.widget_key(PAGE, "import_labels")):
            with user_errors(f"Labels file {upload.name}"):
                stored = data.import_labels(info.name, upload.name, upload.getvalue(), clip=clip.name)
            _changed()
            for name in stored:
                st.session_state.pop(_spans_key(info.name, name), None)
            st.session_state[LABEL_NOTICE] = f"Imported labels from {upload.name} for: {', '.join(stored)}."
            st.rerun()
        with user_errors("Labels", stop=False):
            labels = data.labels(info.name)
            col_json, col_csv = st.columns(2)
            col_json.download_button("Download labels.json (all test clips)", data.labels_json(info.name),
                                     file_name=f"{info.name}_labels.json", mime="application/json",
                                     key=state.widget_key(PAGE, "download_json"), disabled=not labels)
            if clip.name in labels:
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(["frame", "label"])
                writer.writerows(enumerate(int(x) for x in labels[clip.name]))
                col_csv.download_button(f"Download {clip.name}.csv", buffer.getvalue(), file_name=f"{clip.name}.csv",
                                        mime="text/csv", key=state.widget_key(PAGE, "download_csv"))


# ------------------------------------------------------------------------------------------ page
def data_page() -> None:
    """The Data page below its title: datasets, the upload form, then one dataset's clips, labels
    and management."""
    data = store()
    overview = st.container()
    upload_form()
    with user_errors("Datasets"):
        infos = data.datasets()
    with overview:
        st.subheader("Your datasets")
        datasets_table(infos)
    names = [i.name for i in infos]
    if not names:
        return
    st.subheader("A dataset: its clips and labels")
    name = dataset_choice(names)
    info = next(i for i in infos if i.name == name)
    clips_table(info)
    manage(info)
    st.subheader(f"Label the test clips of {info.name}")
    st.caption("Mark where the anomalies are; the labels are saved as the dataset's testing/labels.json and used by "
               "the Evaluate page (ROC curves on your own footage).")
    label_clip(info)


__all__ = ["UserDataError", "data_page", "store", "user_dataset_picker", "user_dataset_specs"]
