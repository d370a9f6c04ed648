"""Output views the pages share: timelines synced with a frame slider (every frame clickable, with
or without ground truth; the frame kept in the session's working context), the frame panels (real |
reconstruction | heatmap overlay), the events table, downloads (headed by how the numbers were
made), the clip comparison table, training progress. Verdicts and their alerts are in
`verdict_view`, evaluation summaries in `evaluation_view`, presenter mode in `presenter_view`, the
model zoo and the demo in `home_view`.

All heavy inputs come from `vadlab.ui.cache`; these functions only post-process cached scores
(cheap: a threshold, false-alarm rate or smoothing change never re-scores) and draw.
"""
from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from vadlab import export, limits, plots
from vadlab.calibration import NO_CALIBRATION
from vadlab.data.video import Video
from vadlab.metrics import postprocess
from vadlab.outputs import FrameScores
from vadlab.ui import state
from vadlab.ui.cache import result_store
from vadlab.ui.errors import ERROR_ICON
from vadlab.ui.verdict_view import Flagged, verdict_meta
from vadlab.zoo import CheckpointEntry


# --------------------------------------------------------------------------------------- analysis
def postprocessed(frame_scores: FrameScores, normalize: str = "minmax", smooth_sigma: float = 0.0) -> np.ndarray:
    """(N,) scores after smoothing then per-video normalisation (`metrics.postprocess`)."""
    return postprocess(frame_scores.scores, normalize=normalize, smooth_sigma=smooth_sigma)


def map_scale(flagged: Flagged) -> Optional[float]:
    """The heatmap scale of a video: 99.5th percentile of its error maps (as export.annotate_frames
    uses for a whole video), so one frame drawn alone looks as it does in the annotated video."""
    maps = flagged.frame_scores.error_maps
    if maps is None:
        return None
    store = result_store()
    return store.get_or_compute(("map_scale", flagged.key), lambda: float(np.percentile(maps.astype(np.float32), 99.5)))


# ------------------------------------------------------------------------------------------ images
def output_image(frame_scores: FrameScores, index: int, size: tuple[int, int]) -> Optional[np.ndarray]:
    """The model's reconstruction / prediction of frame `index` as uint8 (H, W, 3) at `size` (H, W)."""
    if frame_scores.outputs is None:
        return None
    output = np.asarray(frame_scores.outputs[index])  # (C, h, w)
    image = np.transpose(output, (1, 2, 0))  # (h, w, C)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)  # (h, w, 3)
    return np.asarray(Image.fromarray(image[..., :3]).resize((size[1], size[0]), Image.BILINEAR))


def bar_scale(flagged: Flagged) -> tuple[np.ndarray, float]:
    """(values, threshold) mapped into [0, 1] for the score bar of annotated frames, which is drawn
    on [0, 1]: min-max values as they are; other scales by one affine map over the clip's values and
    the threshold (monotone, so exactly the same frames are flagged)."""
    values, threshold = np.asarray(flagged.normalized, dtype=np.float64), float(flagged.threshold)
    if flagged.normalize == "minmax":
        return values, threshold
    low, high = min(float(values.min()), threshold), max(float(values.max()), threshold)
    if high <= low:
        return np.zeros_like(values), 0.0
    return (values - low) / (high - low), (threshold - low) / (high - low)


def overlay_image(video: Video, flagged: Flagged, index: int) -> np.ndarray:
    """Frame `index` with the error heatmap, red outlines of high-error regions on flagged frames
    and a red (anomalous) or green (normal) border: `export.annotate_frames` on one frame."""
    maps = flagged.frame_scores.error_maps
    labels = flagged.labels
    values, threshold = bar_scale(flagged)
    return export.annotate_frames(
        np.asarray(video.frames[index : index + 1]),
        values[index : index + 1],
        threshold,
        None if maps is None else maps[index : index + 1].astype(np.float32),
        None if labels is None else labels[index : index + 1],
        map_scale=map_scale(flagged),
        show_text=False,  # the caption says which frame; annotate_frames would number it 0
    )[0]


def thumbnail_url(frame: np.ndarray, width: int = 120) -> str:
    """A PNG data URL of a frame shrunk to `width` px (for image columns of tables)."""
    image = Image.fromarray(np.asarray(frame))
    height = max(1, round(image.height * width / image.width))
    buffer = io.BytesIO()
    image.resize((width, height), Image.BILINEAR).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------------------- timeline
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


def clickable(figure: go.Figure) -> go.Figure:
    """Make every frame of a timeline clickable: an invisible marker over each point of every line
    trace (plotly selects markers, not lines), carrying the line's hover text, so a click on any
    frame selects it, with or without the true/false-positive markers of ground truth."""
    for trace in list(figure.data):
        if getattr(trace, "mode", None) != "lines" or trace.x is None or len(trace.x) < 2:
            continue
        figure.add_trace(go.Scatter(
            x=trace.x, y=trace.y, mode="markers", name=f"{trace.name} · frames", showlegend=False,
            marker=dict(size=9, color="rgba(0,0,0,0)"), customdata=trace.customdata, hovertemplate=trace.hovertemplate,
            selected=dict(marker=dict(color="rgba(0,0,0,0)")), unselected=dict(marker=dict(opacity=0)),
        ))
        trace.hoverinfo, trace.hovertemplate = "skip", None  # the markers answer hover and clicks
    return figure


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
    st.plotly_chart(clickable(build_figure(current)), key=chart_key, on_select="rerun", selection_mode="points",
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
        st.plotly_chart(clickable(figure), key=overlay_key(page), on_select="rerun", selection_mode="points",
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


def fps_text(fps: float, assumed: bool) -> str:
    """"10 fps", or "25 fps (assumed: frame images carry no rate)"."""
    return f"{fps:g} fps" + (" (assumed: frame images carry no frame rate)" if assumed else "")


def video_notes(video: Video, fps_assumed: bool = False, scored_frames: Optional[int] = None) -> None:
    """What was decoded: frames, size, frame rate (read from the container or the dataset, or
    assumed, and then said so) and duration; whether the decode limits shrank or cut it.
    scored_frames: how many frames were scored, when every frame of a longer clip was."""
    t, h, w = video.frames.shape[:3]
    fps = video.info.fps or 25.0
    note = f"{t} frames, {w}×{h} px, {fps_text(fps, fps_assumed)}, {t / fps:.1f} s"
    if video.downscaled:
        note += f"; shrunk from {video.info.width}×{video.info.height} px"
    st.caption(note)
    if video.truncated and scored_frames is not None and scored_frames > t:
        st.info(f"Every one of the {scored_frames:,} frames is scored ({scored_frames / fps:.0f} s, in bounded memory, "
                f"as `vadlab score`): the timeline, events and CSV cover them all. The first {t:,} are decoded for "
                "display (frame panels, thumbnails, annotated video).", icon=":material/all_inclusive:")
    elif video.truncated:
        st.warning(f"Only the first {t} of {video.info.n_frames} frames were decoded (the app's limits: "
                   f"{limits.UPLOAD_FRAMES.what} {limits.UPLOAD_FRAMES.env}={limits.UPLOAD_FRAMES.value()}, "
                   f"{limits.DECODED_BYTES.what} {limits.DECODED_BYTES.env}={limits.DECODED_BYTES.value() // limits.MB}); "
                   "use the `vadlab score` command for longer videos.")


# ------------------------------------------------------------------------------------------ frames
OVERLAY_CAPTION = ("Error heatmap (bright = the model's largest errors); border red = flagged, green = normal; red "
                   "outlines = high error. The thin bar along the bottom is this frame's score on the clip's range "
                   "(the white tick: the threshold); an orange tick above it: ground truth anomalous.")
def frame_panels(video: Video, flagged: Flagged, index: int, entry: Optional[CheckpointEntry] = None) -> None:
    """Real | reconstructed or predicted (by `entry`'s model) | error heatmap overlay, for frame `index`."""
    if index >= len(video.frames):  # a long clip scored whole: only its first frames are decoded for display
        st.markdown(f"**Frame {index}** (t = {index / flagged.fps:.2f} s): score {flagged.score_text(index)} → "
                    f"{'ANOMALOUS' if flagged.flagged[index] else 'normal'}")
        st.caption(f"Frame {index} is past the first {len(video.frames):,} frames decoded for display; its score is "
                   "above and in the CSV.")
        return
    frame = np.asarray(video.frames[index])
    size = frame.shape[:2]
    t = index / flagged.fps
    verdict = "ANOMALOUS" if flagged.flagged[index] else "normal"
    truth = ""
    if flagged.labels is not None:
        truth = f", ground truth: {'anomalous' if flagged.labels[index] else 'normal'}"
    st.markdown(f"**Frame {index}** (t = {t:.2f} s): score {flagged.score_text(index)} → {verdict}{truth}")
    col_real, col_output, col_overlay = st.columns(3)
    col_real.image(frame, caption="Real frame", width="stretch")
    output = output_image(flagged.frame_scores, index, size)
    if output is None:
        col_output.info("This model produces no image (it scores frames directly).")
    else:
        what = "Prediction" if entry is not None and entry.target == "next" else "Reconstruction"
        col_output.image(output, caption=f"{what}{' by ' + entry.name if entry else ''} (model resolution)", width="stretch")
    col_overlay.image(overlay_image(video, flagged, index), caption=OVERLAY_CAPTION, width="stretch")


def compare_panels(video: Video, flagged_by_model: Mapping[str, Flagged], index: int) -> None:
    """The real frame and every model's heatmap overlay at the same index, side by side."""
    columns = st.columns(1 + len(flagged_by_model))
    columns[0].image(np.asarray(video.frames[index]), caption=f"Real frame {index}", width="stretch")
    for column, (name, flagged) in zip(columns[1:], flagged_by_model.items()):
        column.image(overlay_image(video, flagged, index),
                     caption=f"{name}: score {flagged.normalized[index]:.2f} ({'flagged' if flagged.flagged[index] else 'normal'})",
                     width="stretch")


# ------------------------------------------------------------------------------------------ events
def events_table(video: Video, flagged: Flagged) -> None:
    """The anomalous events (the ones `vadlab score` prints): time span, peak score, thumbnail."""
    if not flagged.events:
        st.caption("No events at this threshold.")
        return
    rows = []
    for number, event in enumerate(flagged.events, start=1):
        rows.append({
            "event": number,
            "start–end (s)": f"{event.start / flagged.fps:.1f}–{event.end / flagged.fps:.1f}",
            "frames": f"{event.start}–{event.end}",
            "length": event.length,
            "peak score": round(event.peak_score, 3),
            "peak frame": event.peak_frame,
            "thumbnail": (thumbnail_url(np.asarray(video.frames[event.peak_frame]))
                          if event.peak_frame < len(video.frames) else None),  # past the frames decoded for display
        })
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"thumbnail": st.column_config.ImageColumn("peak frame image", width="small")})


# --------------------------------------------------------------------------------------- downloads
def _annotated_key(flagged: Flagged) -> tuple:
    return ("annotated", flagged.key, flagged.normalize, flagged.smooth_sigma, flagged.threshold)


def annotated_video(video: Video, flagged: Flagged) -> bytes:
    """The annotated mp4 (heatmap overlay, red/green border, score bar) as bytes, cached per
    scores + post-processing + threshold."""
    key = _annotated_key(flagged)
    if flagged.n_frames > len(video.frames):
        raise ValueError(f"this clip has {flagged.n_frames:,} scored frames, {len(video.frames):,} decoded for display: "
                         f"the annotated video is rendered for clips of up to {limits.UPLOAD_FRAMES.value():,} frames "
                         f"({limits.UPLOAD_FRAMES.env})")

    def render() -> bytes:
        fd, path = tempfile.mkstemp(suffix=".mp4", prefix="vadlab_annotated_")
        os.close(fd)
        try:
            maps = flagged.frame_scores.error_maps
            values, threshold = bar_scale(flagged)
            with st.spinner("Rendering the annotated video…"):
                export.write_annotated_video(path, np.asarray(video.frames), values, threshold,
                                             error_maps=None if maps is None else maps.astype(np.float32),
                                             fps=flagged.fps, labels=flagged.labels,
                                             text_values=flagged.normalized, calibrated=flagged.calibrated)
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)

    return result_store().get_or_compute(key, render)


def scores_csv(flagged: Flagged, checkpoint: Optional[str] = None) -> str:
    """The per-frame scores CSV (as `vadlab score --out`: headed by how the numbers were made)."""
    return export.scores_to_csv(flagged.frame_scores, normalized_scores=flagged.normalized,
                                threshold=flagged.threshold, labels=flagged.labels,
                                meta=verdict_meta(flagged, checkpoint))


def downloads(video: Video, flagged: Flagged, name: str, page: str, checkpoint: Optional[str] = None) -> None:
    """Per-frame scores CSV (as `vadlab score --out`: headed by how the numbers were made) and the
    annotated mp4, which also plays here."""
    col_csv, col_video = st.columns(2)
    col_csv.download_button("Download per-frame scores (CSV)", scores_csv(flagged, checkpoint), file_name=f"{name}_scores.csv",
                            mime="text/csv", key=state.widget_key(page, "download_csv"), on_click="ignore",
                            help="Its first lines (# key: value) record the checkpoint, protocol, threshold and calibration.")
    if flagged.n_frames > len(video.frames):  # a long clip scored whole: the CSV has every frame, no video
        col_video.caption(f"The annotated video is rendered for clips of up to {len(video.frames):,} frames; the CSV has "
                          f"all {flagged.n_frames:,}.")
        return
    wanted = col_video.button("Render the annotated video", key=state.widget_key(page, "render_video"),
                              help="Heatmap overlay, red/green border and score bar on every frame (H.264 mp4).")
    rendered_key = _annotated_key(flagged)
    if wanted or result_store().get(rendered_key) is not None:
        data = annotated_video(video, flagged)
        col_video.download_button("Download the annotated video (mp4)", data, file_name=f"{name}_annotated.mp4",
                                  mime="video/mp4", key=state.widget_key(page, "download_video"), on_click="ignore")
        st.video(data, format="video/mp4")


def presenter_downloads(flagged: Flagged, annotated: bytes, name: str, page: str, checkpoint: Optional[str],
                        col_csv, col_video) -> None:
    """Presenter mode's downloads, in two columns of its top row: the CSV and the annotated mp4."""
    col_csv.download_button("Scores (CSV)", scores_csv(flagged, checkpoint), file_name=f"{name}_scores.csv",
                            mime="text/csv", key=state.widget_key(page, "download_csv"), on_click="ignore",
                            icon=":material/download:", width="stretch")
    col_video.download_button("Annotated video (mp4)", annotated, file_name=f"{name}_annotated.mp4", mime="video/mp4",
                              key=state.widget_key(page, "download_video"), on_click="ignore",
                              icon=":material/download:", width="stretch")


def loss_chart(history: Sequence[Mapping[str, float]], x_key: Optional[str], title: str) -> None:
    """Training losses as a line chart."""
    st.plotly_chart(plots.loss_figure(history, x_key=x_key, title=title), width="stretch", config={"displaylogo": False})


def clip_comparison_table(flagged_by_model: Mapping[str, Flagged]) -> None:
    """One row per model on a clip: flagged frames and events at the threshold, peak frame, and the
    clip's AUC / F1 against its ground truth when known."""
    from vadlab.metrics import auc_score

    rows = []
    for name, flagged in flagged_by_model.items():
        row: dict = {
            "model": name,
            "score kind": flagged.frame_scores.score_kind,
            "scale": "calibrated" if flagged.calibrated else flagged.normalize + (" (no calibration)" if NO_CALIBRATION in flagged.notes else ""),
            "threshold": round(flagged.threshold, 3),
            "anomalous frames": flagged.n_anomalous,
            "events": len(flagged.events),
            "peak frame": int(np.argmax(flagged.normalized)),
            "out of scene": flagged.out_of_scene,
        }
        counts = flagged.counts()
        if counts is not None:
            auc = auc_score(flagged.normalized, flagged.labels)
            row.update({"clip AUC": None if not np.isfinite(auc) else round(auc, 4),
                        "precision": round(counts["precision"], 3), "recall": round(counts["recall"], 3),
                        "F1": round(counts["f1"], 3)})
        rows.append(row)
    st.dataframe(rows, hide_index=True, width="stretch")


# ---------------------------------------------------------------------------------------- training
def training_progress_text(job, now: Optional[float] = None) -> str:
    """The progress line of a training job. Before its first step the job is loading its data
    (decoding every training video and resizing it to the model's input), and says so, with the
    time spent, instead of a step count it does not know yet."""
    import time

    request = job.request
    if job.step == 0 and not job.total_steps and getattr(job, "status", "running") == "running":
        started = getattr(job, "started", None)
        waited = f" ({(now or time.time()) - started:.0f} s)" if isinstance(started, (int, float)) else ""
        return (f"{request.family} ({request.preset}) · loading the training data{waited}: decoding the normal videos and "
                "resizing every frame to the model's input; the steps start once they are in memory")
    text = f"{request.family} ({request.preset}) · step {job.step} of {job.total_steps or '?'}"
    if job.message:
        text += f" · {job.message}"
    return text


def _draw_training(job) -> None:
    """Progress, loss curves and the latest sample reconstruction of a TrainingJob."""
    st.progress(float(job.progress), text=training_progress_text(job))
    col_losses, col_sample = st.columns([3, 2], gap="large")
    with col_losses:
        if job.step_history:
            loss_chart(job.step_history[-2000:], "step", "Losses per step (live)")
            st.caption("Every loss the family reports (e.g. generator, discriminator, reconstruction).")
        if job.epoch_history:
            st.dataframe(job.epoch_history, hide_index=True, width="stretch")
    with col_sample:
        if job.sample is not None:
            st.markdown("**A held-out normal frame and the model's output** (end of the last epoch)")
            col_in, col_out = st.columns(2)
            col_in.image(np.asarray(job.sample["input"]), caption="input", width="stretch")
            col_out.image(np.asarray(job.sample["output"]), caption="output", width="stretch")


@st.fragment(run_every=1.0)
def _live_training() -> None:
    job = st.session_state.get(state.TRAIN_JOB)
    if job is None:
        return
    job.poll()
    _draw_training(job)
    if not job.running:
        st.rerun()  # the whole page: re-enable Start, show the result


def training_status(job) -> None:
    """The state of a training job: live (refreshed every second) while it runs, final after."""
    if job.running:
        _live_training()
        return
    job.poll()
    _draw_training(job)
    if job.status == "done":
        metrics = job.metrics or {}
        auc = metrics.get("micro_auc")
        st.success(f"Saved **{job.request.out.name}** in {job.finished - job.started:.0f} s"
                   + (f"; micro AUC on the test split {auc:.4f}" if isinstance(auc, float) else "")
                   + ". It is in the model zoo now: use it on the Score, Evaluate and Compare pages.", icon=":material/check_circle:")
        st.session_state[state.TRAIN_LAST_SAVED] = str(job.request.out)
    elif job.status == "cancelled":
        st.warning(f"Training cancelled ({job.message}); no checkpoint was saved.")
    elif job.status == "failed":
        st.error(f"Training failed: {job.message}", icon=ERROR_ICON)


def training_progress_foreground(job) -> None:
    """Run a job in the script's thread, showing a progress bar, until it ends."""
    bar = st.progress(0.0, text="Starting…")

    def update(current) -> None:
        bar.progress(float(current.progress), text=training_progress_text(current))

    job.run(on_update=update)
    bar.empty()
