""""This is normal" on the Score page: an alert event marked as a false alarm becomes normal footage
of the user's dataset for this camera (`vadlab.feedback`), the model is recalibrated on it at once,
and the page shows the new threshold and the events that remain. A shipped checkpoint is never
written over: its recalibrated copy goes to the user's checkpoint folder and becomes the model in use."""
from __future__ import annotations

import re
from typing import Optional

import streamlit as st

from vadlab import feedback, paths
from vadlab.data.video import Video
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, current_device, forget_datasets, forget_models
from vadlab.ui.errors import user_errors
from vadlab.ui.verdict_view import Flagged
from vadlab.zoo import CheckpointEntry

NOTICE = "feedback.notice"  # (what was done, events before, the recalibrated checkpoint) for the next run


def _default_dataset(source: ClipSource) -> str:
    chosen = state.recall(state.USER_DATASET)
    return chosen or (re.sub(r"[^A-Za-z0-9_.-]+", "_", source.name).strip("_.-") or "camera") + "_normal"


def recalibrated_path(entry: CheckpointEntry, dataset: str) -> Optional[str]:
    """Where the recalibrated checkpoint goes: a copy in the user's folder for a shipped checkpoint
    (never written over), else None (the user's own checkpoint, recalibrated in place)."""
    if entry.origin != "shipped":
        return None
    return str(paths.user_checkpoints_dir().resolve() / f"{entry.name}_{dataset}")


def false_alarm_feedback(page: str, video: Video, flagged: Flagged, source: ClipSource, entry: CheckpointEntry) -> None:
    """Pick an alert event and the dataset of this camera; "Mark as a false alarm" keeps its frames as
    normal footage there and recalibrates the model on that dataset (seconds)."""
    notice = st.session_state.get(NOTICE)
    if notice is not None and notice[2] == entry.path:
        st.success(f"{notice[0]} Alert events on this clip: {notice[1]} → {len(flagged.events)} (threshold now "
                   f"{flagged.threshold:.2f} σ). To also fine-tune the model on this footage, start a run on the "
                   "**Train** page from this checkpoint on the same dataset (it runs in the background).",
                   icon=":material/check_circle:")
    if not flagged.events:
        return
    with st.container(border=True, key=state.widget_key(page, "feedback")):
        st.markdown("**Was an alert wrong? This is normal.** Its frames become normal footage of your dataset for "
                    "this camera (kept with where they came from, in the dataset's feedback log), and the model is "
                    "recalibrated on that dataset at once.")
        col_event, col_data, col_go = st.columns([2, 2, 1.4], vertical_alignment="bottom")
        numbers = list(range(len(flagged.events)))
        chosen = col_event.selectbox(
            "Alert event", numbers, key=state.widget_key(page, "feedback_event"),
            format_func=lambda i: (f"{i + 1}: frames {flagged.events[i].start}–{flagged.events[i].end} "
                                   f"({flagged.events[i].start / flagged.fps:.1f}–{flagged.events[i].end / flagged.fps:.1f} s)"))
        dataset = col_data.text_input("Your dataset for this camera", value=_default_dataset(source),
                                      key=state.widget_key(page, "feedback_dataset"),
                                      help="A dataset of the Data page (a new name makes one): normal footage of "
                                           "this camera. The model is recalibrated on all of its normal clips.")
        pressed = col_go.button("Mark as a false alarm", key=state.widget_key(page, "false_alarm"),
                                icon=":material/thumb_up:", type="secondary")
    if not pressed:
        return
    event = flagged.events[chosen]
    with user_errors("This is normal", stop=False) as report:
        if event.end >= len(video.frames):
            raise ValueError(f"frames {event.start}–{event.end} are past the {len(video.frames)} frames decoded for "
                             "display; use `vadlab feedback false-alarm` on the clip")
        from vadlab.ui.data_view import store

        with st.spinner(f"Keeping frames {event.start}–{event.end} as normal footage of {dataset} and recalibrating…"):
            result = feedback.mark_false_alarm(store(), dataset.strip(), entry.path, video.frames, flagged.fps,
                                               source.name + source.suffix, event.start, event.end,
                                               out=recalibrated_path(entry, dataset.strip()), device=current_device())
    if report.failed:
        return
    forget_models()  # the recalibrated checkpoint's calibration is read again
    forget_datasets()
    state.remember("models", (result.checkpoint,))
    state.remember("detail", result.checkpoint)
    state.remember(state.USER_DATASET, result.dataset)
    st.session_state[NOTICE] = (feedback.describe(result), len(flagged.events), result.checkpoint)
    st.rerun()
