"""Output views the pages share: the timeline synced with a frame slider, the frame panels (real |
reconstruction | heatmap overlay), the events table, downloads (headed by how the numbers were
made), presenter mode, the model zoo and the demo, the clip comparison table, training progress.
Verdicts and their alerts are in `verdict_view`, evaluation summaries in `evaluation_view`.

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
import streamlit as st
from PIL import Image

from vadlab import export, plots
from vadlab.calibration import NO_CALIBRATION
from vadlab.data.video import Video
from vadlab.metrics import postprocess
from vadlab.outputs import FrameScores
from vadlab.ui import state
from vadlab.ui.cache import CheckpointEntry, checkpoint_calibration, result_store, scores_key
from vadlab.ui.errors import ERROR_ICON
from vadlab.ui.verdict_view import Flagged, alert_banner, flag, verdict_meta


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


def _synced_chart(page: str, n_frames: int, default_frame: int, build_figure, caption: str, fps: float,
                  show_slider: bool = True) -> int:
    """A chart whose clicked point moves a frame slider, and whose dotted line follows the slider.

    build_figure(current_frame) -> plotly Figure with x = frame index. Returns the current frame.
    The chart reruns the page on selection; a click is applied once (a new click moves the slider,
    the old selection does not pin it), then the slider may move freely.
    """
    frame_key = state.widget_key(page, "frame")
    chart_key = state.widget_key(page, "timeline")
    applied_key = state.widget_key(page, "timeline_applied")
    last = max(n_frames - 1, 0)
    if frame_key not in st.session_state:
        st.session_state[frame_key] = int(default_frame)
    clicked = _selected_frame(st.session_state.get(chart_key))
    if clicked is not None and clicked != st.session_state.get(applied_key):
        st.session_state[applied_key] = clicked
        st.session_state[frame_key] = clicked
    st.session_state[frame_key] = int(min(max(int(st.session_state[frame_key]), 0), last))
    current = int(st.session_state[frame_key])
    st.plotly_chart(build_figure(current), key=chart_key, on_select="rerun", selection_mode="points",
                    width="stretch", config={"displaylogo": False})
    st.caption(caption + " Click a point to jump to that frame.")
    if show_slider and last > 0:
        current = int(st.slider("Frame", 0, last, key=frame_key, help=f"Frame index (t = index / {fps:g} s)."))
    return current


def timeline_with_slider(flagged: Flagged, page: str, title: str = "Anomaly score per frame",
                         show_slider: bool = True) -> int:
    """The timeline chart of one video and a frame slider kept in sync; returns the current frame
    (initially the peak-score frame)."""
    caption = ("Anomaly score of every frame (higher = more anomalous). Red bands: alert events, runs of at "
               f"least {flagged.min_length} frame{'s' if flagged.min_length != 1 else ''} at or above the threshold "
               "(dashed line)."
               + (" Orange band at the bottom: ground-truth anomalies; dots: true/false positives and "
                  "negatives." if flagged.labels is not None else ""))
    return _synced_chart(
        page, flagged.n_frames, int(np.argmax(flagged.normalized)),
        lambda current: plots.timeline(flagged.normalized, flagged.threshold, labels=flagged.labels,
                                       events=flagged.events, current_frame=current, fps=flagged.fps, title=title,
                                       y_title=flagged.axis_title),
        caption, flagged.fps, show_slider,
    )


def overlay_timeline(flagged_by_model: Mapping[str, Flagged], current_frame: Optional[int] = None,
                     title: str = "All chosen models on this clip") -> None:
    """Every model's post-processed scores of one clip overlaid (no slider)."""
    first = _shared_scale_lead(flagged_by_model)
    figure = plots.timelines({name: f.normalized for name, f in flagged_by_model.items()}, threshold=first.threshold,
                             labels=first.labels, current_frame=current_frame, fps=first.fps, title=title,
                             y_title=first.axis_title)
    st.plotly_chart(figure, width="stretch", config={"displaylogo": False})
    st.caption(_overlay_caption(flagged_by_model))


def overlay_timeline_with_slider(flagged_by_model: Mapping[str, Flagged], page: str,
                                 title: str = "Anomaly scores of the chosen models") -> int:
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
        first.fps,
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


def video_notes(video: Video) -> None:
    """What was decoded: frames, size, frame rate; whether the decode limits shrank or cut it."""
    t, h, w = video.frames.shape[:3]
    note = f"{t} frames, {w}×{h} px, {video.info.fps:g} fps ({t / (video.info.fps or 25):.1f} s)"
    if video.downscaled:
        note += f"; shrunk from {video.info.width}×{video.info.height} px"
    st.caption(note)
    if video.truncated:
        st.warning(f"Only the first {t} of {video.info.n_frames} frames were decoded (the app's limit); "
                   "use the `vadlab score` command for longer videos.")


# ------------------------------------------------------------------------------------------ frames
def frame_panels(video: Video, flagged: Flagged, index: int, entry: Optional[CheckpointEntry] = None) -> None:
    """Real | reconstructed or predicted (by `entry`'s model) | error heatmap overlay, for frame `index`."""
    frame = np.asarray(video.frames[index])
    size = frame.shape[:2]
    t = index / flagged.fps
    verdict = "ANOMALOUS" if flagged.flagged[index] else "normal"
    truth = ""
    if flagged.labels is not None:
        truth = f", ground truth: {'anomalous' if flagged.labels[index] else 'normal'}"
    st.markdown(f"**Frame {index}** (t = {t:.2f} s): score {flagged.normalized[index]:.3f} → {verdict}{truth}")
    col_real, col_output, col_overlay = st.columns(3)
    col_real.image(frame, caption="Real frame", width="stretch")
    output = output_image(flagged.frame_scores, index, size)
    if output is None:
        col_output.info("This model produces no image (it scores frames directly).")
    else:
        what = "Prediction" if entry is not None and entry.target == "next" else "Reconstruction"
        col_output.image(output, caption=f"{what}{' by ' + entry.name if entry else ''} (model resolution)", width="stretch")
    col_overlay.image(overlay_image(video, flagged, index),
                      caption="Error heatmap: red border = flagged, green = normal; red outlines = high error",
                      width="stretch")


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
            "thumbnail": thumbnail_url(np.asarray(video.frames[event.peak_frame])),
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

    def render() -> bytes:
        fd, path = tempfile.mkstemp(suffix=".mp4", prefix="vadlab_annotated_")
        os.close(fd)
        try:
            maps = flagged.frame_scores.error_maps
            values, threshold = bar_scale(flagged)
            with st.spinner("Rendering the annotated video…"):
                export.write_annotated_video(path, np.asarray(video.frames), values, threshold,
                                             error_maps=None if maps is None else maps.astype(np.float32),
                                             fps=flagged.fps, labels=flagged.labels)
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)

    return result_store().get_or_compute(key, render)


def downloads(video: Video, flagged: Flagged, name: str, page: str, checkpoint: Optional[str] = None) -> None:
    """Per-frame scores CSV (as `vadlab score --out`: headed by how the numbers were made) and the
    annotated mp4, which also plays here."""
    csv_text = export.scores_to_csv(flagged.frame_scores, normalized_scores=flagged.normalized,
                                    threshold=flagged.threshold, labels=flagged.labels,
                                    meta=verdict_meta(flagged, checkpoint))
    col_csv, col_video = st.columns(2)
    col_csv.download_button("Download per-frame scores (CSV)", csv_text, file_name=f"{name}_scores.csv",
                            mime="text/csv", key=state.widget_key(page, "download_csv"), on_click="ignore",
                            help="Its first lines (# key: value) record the checkpoint, protocol, threshold and calibration.")
    wanted = col_video.button("Render the annotated video", key=state.widget_key(page, "render_video"),
                              help="Heatmap overlay, red/green border and score bar on every frame (H.264 mp4).")
    rendered_key = _annotated_key(flagged)
    if wanted or result_store().get(rendered_key) is not None:
        data = annotated_video(video, flagged)
        col_video.download_button("Download the annotated video (mp4)", data, file_name=f"{name}_annotated.mp4",
                                  mime="video/mp4", key=state.widget_key(page, "download_video"), on_click="ignore")
        st.video(data, format="video/mp4")


def presenter_view(video: Video, flagged: Flagged, name: str, model: Optional[str] = None) -> None:
    """Presenter mode: the annotated video large, the timeline under it, the verdict above."""
    alert_banner(flagged, name, model)
    st.video(annotated_video(video, flagged), format="video/mp4")
    figure = plots.timeline(flagged.normalized, flagged.threshold, labels=flagged.labels, events=flagged.events,
                            fps=flagged.fps, title=f"{name}: anomaly score per frame", y_title=flagged.axis_title,
                            height=340)
    st.plotly_chart(figure, width="stretch", config={"displaylogo": False})


def loss_chart(history: Sequence[Mapping[str, float]], x_key: Optional[str], title: str) -> None:
    """Training losses as a line chart."""
    st.plotly_chart(plots.loss_figure(history, x_key=x_key, title=title), width="stretch", config={"displaylogo": False})


# ------------------------------------------------------------------------------------------- home
def zoo_table() -> None:
    """The checkpoints table: family, trained on, input size, window, AUC, size; invalid ones with
    their error."""
    from vadlab.ui.cache import list_checkpoints

    entries = list_checkpoints()
    if not entries:
        st.info("No checkpoints yet: train one on the Train page.")
        return
    rows = [
        {
            "checkpoint": e.name,
            "origin": e.origin,
            "family": e.family,
            "trained on": e.trained_on,
            "input (C×H×W)": e.input_size,
            "window": e.window,
            "AUC": None if e.auc is None else round(e.auc, 4),
            "calibrated": e.calibrated,
            "size (MB)": e.size_mb,
            "problem": e.error or "",
        }
        for e in entries
    ]
    if not any(r["problem"] for r in rows):
        for r in rows:
            del r["problem"]
    st.dataframe(rows, hide_index=True, width="stretch")


def demo() -> None:
    """Score the first shipped test clip with the first calibrated shipped checkpoint (else the first
    one) and show its calibrated verdict and timeline."""
    from vadlab.ui.cache import decode, score, usable_checkpoints
    from vadlab.ui.errors import user_errors
    from vadlab.ui.widgets import sample_source

    entries = usable_checkpoints()
    source = sample_source()
    if not entries or source is None:
        st.warning("The demo needs a checkpoint and the sample videos (`python -m vadlab samples --out sample_videos`).")
        return
    entry = next((e for e in entries if e.calibrated), entries[0])
    with user_errors("Demo"):
        frame_scores = score(entry, source)
        video = decode(source)
        calibration = checkpoint_calibration(entry)
    flagged = flag(frame_scores, key=scores_key(entry, source), calibration=calibration)  # the calibrated verdict
    alert_banner(flagged, source.name, entry.name)
    figure = plots.timeline(flagged.normalized, flagged.threshold, labels=flagged.labels, events=flagged.events,
                            fps=flagged.fps, title=f"{source.name} scored by {entry.name}", y_title=flagged.axis_title)
    st.plotly_chart(figure, width="stretch", config={"displaylogo": False})
    peak = int(np.argmax(flagged.normalized))
    frame_panels(video, flagged, peak, entry)
    st.caption("Open **Score a video** to upload your own clip, move the threshold and download the results.")


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
def _draw_training(job) -> None:
    """Progress, loss curves and the latest sample reconstruction of a TrainingJob."""
    request = job.request
    text = f"{request.family} ({request.preset}) · step {job.step} of {job.total_steps or '?'}"
    if job.message:
        text += f" · {job.message}"
    st.progress(float(job.progress), text=text)
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
        bar.progress(float(current.progress), text=f"step {current.step} of {current.total_steps or '?'} · {current.message}")

    job.run(on_update=update)
    bar.empty()
