"""Timelines synced with a frame slider: every frame clickable (`plots.clickable`), with or without
ground truth, the frame kept in the session's working context; one model's verdict or every chosen
model's scores overlaid."""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import streamlit as st

from vadlab import plots
from vadlab.ui import state
from vadlab.ui.verdict_view import Flagged


def _selected_frame(selection: object) -> Optional[int]:
    """The x (frame) of the first selected point of a plotly chart's selection state."""
    try:
        points = selection["selection"]["points"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        x = point.get("x") if isinstance(point, Mapping) else None
        if isinstance(x, (int, float)) and math.isfinite(x):
            return int(round(x))
    return None


def click_to_frame(chart_key: str) -> Optional[int]:
    """The frame a new click on the clickable chart `chart_key` asks for (once per click), else None."""
    applied_key = f"{chart_key}_applied"
    clicked = _selected_frame(st.session_state.get(chart_key))
    if clicked is None:
        st.session_state.pop(applied_key, None)  # a cleared selection: the same point may be clicked again
        return None
    if clicked == st.session_state.get(applied_key):
        return None
    st.session_state[applied_key] = clicked
    return clicked


def _synced_chart(page: str, n_frames: int, default_frame: int, build_figure, caption: str, fps: float,
                  show_slider: bool = True, where: Optional[tuple[str, str]] = None,
                  also: Sequence[str] = ()) -> int:
    """A chart whose clicked point moves a frame slider, and whose dotted line follows the slider.

    build_figure(current_frame) -> plotly Figure with x = frame index (made clickable here). Returns
    the current frame. where: (clip identity, model path): the frame is kept in the working
    context for them, so another page on the same clip and model starts at it, and another clip or
    model starts at `default_frame` (its most anomalous one). also: keys of other charts on the page
    whose clicks move the frame too (drawn later, e.g. the overlay of several models).
    """
    frame_key = state.widget_key(page, "frame")
    chart_key = state.widget_key(page, "timeline")
    last = max(n_frames - 1, 0)
    ctx = state.context()
    remembered = ctx.frame_for(*where) if where else None
    if where is None:  # no context (a page of its own): the slider keeps its own value
        remembered = st.session_state.get(frame_key) if st.session_state.get(f"{frame_key}_for") == n_frames else None
    current = default_frame if remembered is None else remembered
    for key in (chart_key, *also):
        clicked = click_to_frame(key)
        if clicked is not None:
            current = clicked
    current = int(min(max(int(current), 0), last))
    if where:
        ctx.set_frame(*where, current)
    st.session_state[frame_key] = current
    st.session_state[f"{frame_key}_for"] = n_frames
    st.plotly_chart(plots.clickable(build_figure(current)), key=chart_key, on_select="rerun", selection_mode="points",
                    width="stretch", config={"displaylogo": False})
    st.caption(caption + " Click any point to jump to that frame.")
    if show_slider and last > 0:
        def store() -> None:
            if where:
                state.context().set_frame(*where, st.session_state[frame_key])

        current = int(st.slider("Frame", 0, last, key=frame_key, on_change=store,
                                help=f"Frame index (t = index / {fps:g} s)."))
    return current


def timeline_with_slider(flagged: Flagged, page: str, title: str = "Anomaly score per frame",
                         show_slider: bool = True, where: Optional[tuple[str, str]] = None,
                         also: Sequence[str] = (), height: int = 420) -> int:
    """The timeline chart of one video and a frame slider kept in sync; returns the current frame
    (initially the peak-score frame, or the frame last looked at on this clip with this model:
    `where` = (clip identity, model path))."""
    caption = ("Anomaly score of every frame (higher = more anomalous). Red bands: alert events, runs of at "
               f"least {flagged.min_length} frame{'s' if flagged.min_length != 1 else ''} at or above the threshold "
               "(dashed line)."
               + (" Orange band at the bottom: ground-truth anomalies; dots: true/false positives and "
                  "negatives." if flagged.labels is not None else ""))
    # the chart states its own threshold and count: while a moved threshold re-renders the page, the
    # chart and the numbers in it never disagree
    title = f"{title} · {flagged.n_anomalous} flagged at threshold {flagged.threshold:.2f}"
    return _synced_chart(
        page, flagged.n_frames, int(np.argmax(flagged.normalized)),
        lambda current: plots.timeline(flagged.normalized, flagged.threshold, labels=flagged.labels,
                                       events=flagged.events, current_frame=current, fps=flagged.fps, title=title,
                                       y_title=flagged.axis_title, height=height),
        caption, flagged.fps, show_slider, where, also,
    )


def overlay_timeline(flagged_by_model: Mapping[str, Flagged], current_frame: Optional[int] = None,
                     title: str = "All chosen models on this clip", page: Optional[str] = None) -> None:
    """Every model's post-processed scores of one clip overlaid (no slider of its own: with `page`,
    a click moves that page's frame; give its key, `overlay_key(page)`, to the page's synced chart)."""
    first = _shared_scale_lead(flagged_by_model)
    figure = plots.timelines({name: f.normalized for name, f in flagged_by_model.items()}, threshold=first.threshold,
                             labels=first.labels, current_frame=current_frame, fps=first.fps, title=title,
                             y_title=first.axis_title)
    if page is None:
        st.plotly_chart(figure, width="stretch", config={"displaylogo": False})
    else:
        st.plotly_chart(plots.clickable(figure), key=overlay_key(page), on_select="rerun", selection_mode="points",
                        width="stretch", config={"displaylogo": False})
    st.caption(_overlay_caption(flagged_by_model) + (" Click any point to jump to that frame." if page else ""))


def overlay_key(page: str) -> str:
    """The key of a page's overlay timeline (clicks on it move the page's frame)."""
    return state.widget_key(page, "overlay")


def overlay_timeline_with_slider(flagged_by_model: Mapping[str, Flagged], page: str,
                                 title: str = "Anomaly scores of the chosen models",
                                 where: Optional[tuple[str, str]] = None) -> int:
    """Every model's scores of one clip overlaid, synced with a frame slider; returns the frame."""
    first = _shared_scale_lead(flagged_by_model)
    series = {name: f.normalized for name, f in flagged_by_model.items()}
    mean = np.mean(np.stack(list(series.values())), axis=0)
    return _synced_chart(
        page, first.n_frames, int(np.argmax(mean)),
        lambda current: plots.timelines(series, threshold=first.threshold, labels=first.labels,
                                        current_frame=current, fps=first.fps, title=title,
                                        y_title=first.axis_title),
        _overlay_caption(flagged_by_model),
        first.fps, where=where,
    )


def _shared_scale_lead(flagged_by_model: Mapping[str, Flagged]) -> Flagged:
    """The verdict whose scale and threshold an overlay draws: the first calibrated one, if any."""
    return next((f for f in flagged_by_model.values() if f.calibrated), next(iter(flagged_by_model.values())))


def _overlay_caption(flagged_by_model: Mapping[str, Flagged]) -> str:
    lead = _shared_scale_lead(flagged_by_model)
    others = [name for name, f in flagged_by_model.items() if f.normalize != lead.normalize]
    text = (f"Each line is one model's per-frame score on one scale: {lead.scale}. The shaded spans are "
            "ground-truth anomalies when known.")
    if others:
        text += (f" {', '.join(others)}: no calibration, drawn on per-video min-max and flagged at its own "
                 "threshold 0.5 (see its note).")
    return text
