"""The Data page's labelling section: one test clip at a time, a frame slider, a timeline of frame-to-frame
change with the ground-truth band (`plots.label_figure`), anomalous spans as an editable list, labels
files up and down. The work on files is `vadlab.userdata`; this module draws and keeps session state."""
from __future__ import annotations

import csv
import io
from typing import Optional

import numpy as np
import streamlit as st

from vadlab import paths, plots
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, decode, forget_datasets, result_store
from vadlab.ui.errors import ERROR_ICON, user_errors
from vadlab.userdata import ClipInfo, DatasetInfo, UserData, labels_to_spans, spans_to_labels
from vadlab.userdata import frame_changes as frame_change_values

PAGE = "data"  # the Data page (data_view.PAGE): widget keys "data.<name>"
LABEL_TYPES = ["csv", "txt", "json", "npy", "mat", "m"]
LABEL_NOTICE = "data.label_notice"  # a one-off success message for the next run, in the labelling section
SPAN_IDS = "data.span_ids"  # counter: every span row gets its own widget keys
CLIP_KEY = state.widget_key(PAGE, "label_clip")


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
    """(N,) how much each frame differs from the one before (`userdata.frame_changes`): a guide to
    where things happen in a clip. Cached per clip."""
    return result_store().get_or_compute(("frame_changes", source.key),
                                         lambda: frame_change_values(decode(source).frames))


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


def label_clip(info: DatasetInfo, data: UserData) -> None:
    """Label one test clip: frame slider + timeline, spans as an editable list, save; labels files."""
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
    st.plotly_chart(plots.label_figure(change, current_spans, n_frames, current, video.info.fps or 25.0,
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
        forget_datasets()  # files changed: listings cached by spec are read again
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
    labels_files(info, clip, data)


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


def labels_files(info: DatasetInfo, clip: ClipInfo, data: UserData) -> None:
    """Upload a labels file (CSV/JSON/npy/.mat/.m) for the dataset's test clips; download them."""
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
            forget_datasets()  # files changed: listings cached by spec are read again
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
