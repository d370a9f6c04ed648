"""Output views the pages share: alerts, the timeline synced with a frame slider, the frame panels
(real | reconstruction | heatmap overlay), the events table, downloads, evaluation summaries.

All heavy inputs come from `vadlab.ui.cache`; these functions only post-process cached scores
(cheap: a threshold or smoothing change never re-scores) and draw.
"""
from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import streamlit as st
from PIL import Image

from vadlab import api, export, plots
from vadlab.calibration import (DEFAULT_FAR, DEFAULT_MIN_LENGTH, DEFAULT_SMOOTH, NO_CALIBRATION, Calibration, assess,
                                format_far)
from vadlab.data.video import Video
from vadlab.metrics import find_events, postprocess, smooth_scores, threshold_metrics
from vadlab.outputs import EvalResult, Event, FrameScores
from vadlab.protocol import Protocol
from vadlab.ui import state
from vadlab.ui.cache import (CheckpointEntry, ClipSource, checkpoint_calibration, dataset, dataset_scores,
                             evaluate_dataset, in_sample_on, protocol_table, result_store, scores_key)
from vadlab.ui.errors import ERROR_ICON
from vadlab.ui.widgets import VerdictSettings, default_threshold, threshold_slider


# --------------------------------------------------------------------------------------- analysis
SCALE_MINMAX_CHOSEN = ("per-video min-max (the benchmark protocol): 0 = this clip's lowest score, 1 = its highest; "
                       "every clip peaks at 1, so even a normal clip crosses a threshold on it")
SCALE_ZSCORE = ("per-video z-score: standard deviations above this clip's own mean score; it ranks frames within "
                "the clip, not against normal footage")
AXIS_TITLES = {"calibrated": "calibrated score (σ above normal)", "minmax": "score (min-max per video)",
               "zscore": "score (z-score per video)", "none": "raw score"}


@dataclass(frozen=True)
class Flagged:
    """One video's verdict: its scores on the verdict's scale, flagged at a threshold (what every
    view draws).

    key: identity of the scores (checkpoint + clip), for caches of derived images and videos.
    normalized: (N,) the scores the threshold applies to, after smoothing: calibrated z-scores
    ("calibrated"), or per-video "minmax" / "zscore", or raw ("none"), exactly as `vadlab score`
    computes them; events: the alerts (runs of at least `min_length` flagged frames).
    normalize: the scale actually used ("minmax" when a calibrated verdict fell back).
    scale: one sentence saying what the values mean; notes: what the user must know (no
    calibration: the fallback; a clip far outside the model's normal).
    """

    key: str
    frame_scores: FrameScores
    normalized: np.ndarray
    threshold: float
    normalize: str
    smooth_sigma: float
    events: tuple[Event, ...]
    scale: str = ""
    notes: tuple[str, ...] = ()
    calibrated: bool = False
    far: Optional[float] = None
    out_of_scene: bool = False
    min_length: int = 1
    merge_gap: int = 0
    calibration: Optional[Calibration] = field(default=None, repr=False, compare=False)

    @property
    def n_frames(self) -> int:
        return int(self.normalized.shape[0])

    @property
    def flagged(self) -> np.ndarray:
        return self.normalized >= self.threshold

    @property
    def n_anomalous(self) -> int:
        return int(np.count_nonzero(self.flagged))

    @property
    def labels(self) -> Optional[np.ndarray]:
        return self.frame_scores.labels

    @property
    def fps(self) -> float:
        return float(self.frame_scores.fps or 25.0)

    @property
    def axis_title(self) -> str:
        return AXIS_TITLES.get(self.normalize, "score")

    def counts(self) -> Optional[dict]:
        """TP/FP/FN/TN, precision, recall, F1 at the threshold when ground truth is known."""
        if self.labels is None:
            return None
        return threshold_metrics(self.normalized, self.labels, self.threshold)


def flag(frame_scores: FrameScores, key: str, normalize: str = "calibrated", smooth_sigma: float = DEFAULT_SMOOTH,
         threshold: Optional[float] = None, min_length: int = DEFAULT_MIN_LENGTH, merge_gap: int = 0, *,
         calibration: Optional[Calibration] = None, far: float = DEFAULT_FAR) -> Flagged:
    """One video's verdict, as `vadlab score --normalize --far --smooth --threshold --min-length`.

    normalize "calibrated" (the default): `vadlab.calibration.assess` against the checkpoint's
    calibration, threshold (when None) the calibrated one for the false-alarm rate `far`; without a
    calibration it falls back to per-video min-max at 0.5 and says so in `notes`. "minmax" /
    "none": `assess` on that scale; "zscore": per-video z-score. threshold None: the scale's default
    (`widgets.default_threshold`)."""
    if normalize == "zscore":
        values = postprocess(frame_scores.scores, normalize="zscore", smooth_sigma=smooth_sigma)
        thr = 2.0 if threshold is None else float(threshold)
        events = find_events(values, thr, min_length=min_length, merge_gap=merge_gap)
        return Flagged(key, frame_scores, values, thr, "zscore", float(smooth_sigma), tuple(events), scale=SCALE_ZSCORE,
                       min_length=int(min_length), merge_gap=int(merge_gap))
    if normalize == "none" and threshold is None:
        threshold = default_threshold(smooth_scores(frame_scores.scores, smooth_sigma), "none")
    verdict = assess(frame_scores, calibration, far=far, smooth_sigma=smooth_sigma, min_length=min_length,
                     merge_gap=merge_gap, threshold=threshold, normalize=normalize)
    used = "calibrated" if verdict.calibrated else ("none" if normalize == "none" else "minmax")
    scale = SCALE_MINMAX_CHOSEN if normalize == "minmax" else verdict.scale
    return Flagged(key, frame_scores, verdict.values, float(verdict.threshold), used, float(smooth_sigma),
                   tuple(verdict.events), scale=scale, notes=tuple(verdict.notes), calibrated=verdict.calibrated,
                   far=verdict.far, out_of_scene=verdict.out_of_scene, min_length=int(min_length),
                   merge_gap=int(merge_gap), calibration=calibration if verdict.calibrated else None)


def clip_verdicts(page: str, scores: Mapping[str, FrameScores], entries: Mapping[str, CheckpointEntry],
                  source: ClipSource, settings: VerdictSettings, detail: Optional[str] = None) -> dict[str, Flagged]:
    """Every model's verdict on one clip, with ONE threshold slider on their shared scale.

    Calibrated scores share one scale (standard deviations above each model's own normal frames),
    so the slider applies to every calibrated model; its default is the calibrated threshold of
    `detail` (else the first calibrated model) for the chosen false-alarm rate. A model without a
    calibration is flagged at min-max 0.5 instead, with its note. On min-max, z-score or raw scores
    the slider applies to every model."""
    calibrations = {name: checkpoint_calibration(entry) for name, entry in entries.items()}
    keys = {name: scores_key(entry, source) for name, entry in entries.items()}
    previews = {name: flag(scores[name], keys[name], calibration=calibrations[name], **settings.flag_args())
                for name in entries}
    calibrated = [name for name in entries if previews[name].calibrated]
    if calibrated:
        lead = detail if detail in calibrated else calibrated[0]
        shown = np.concatenate([previews[name].normalized for name in calibrated])
        threshold = threshold_slider(page, shown, "calibrated", calibrations[lead], settings.far)
        if len(calibrated) > 1:
            st.caption(f"One threshold for every calibrated model (one shared scale); its default is {lead}'s "
                       f"calibrated threshold for {format_far(settings.far)} false alarms per normal frame.")
    else:
        lead = detail if detail in entries else next(iter(entries))
        threshold = threshold_slider(page, previews[lead].normalized, previews[lead].normalize)
    return {name: (flag(scores[name], keys[name], threshold=threshold, calibration=calibrations[name], **settings.flag_args())
                   if not calibrated or name in calibrated else previews[name])
            for name in entries}


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


# ------------------------------------------------------------------------------------------ alerts
def anomalous_frames_text(flagged: Flagged) -> str:
    """'N anomalous frames of M (p %) at threshold t' (the browser test reads this line)."""
    n = flagged.n_anomalous
    share = n / flagged.n_frames if flagged.n_frames else 0.0
    return (f"**{n} anomalous frame{'s' if n != 1 else ''}** of {flagged.n_frames} ({share:.0%}) "
            f"at threshold {flagged.threshold:.2f}, in {len(flagged.events)} event{'s' if len(flagged.events) != 1 else ''}")


def verdict_notes(flagged: Flagged, model: Optional[str] = None) -> None:
    """What the user must know before trusting a verdict, never silently: a clip far outside the
    model's normal (prominent, first), then the fallback of a checkpoint without calibration and
    any other note."""
    who = f"**{model}**: " if model else ""
    for note in flagged.notes:
        if flagged.out_of_scene and "outside what this model learned as normal" in note:
            st.warning(f"{who}**Outside this model's normal.** {note}", icon=":material/travel_explore:")
    for note in flagged.notes:
        if flagged.out_of_scene and "outside what this model learned as normal" in note:
            continue
        if note == NO_CALIBRATION:
            st.warning(f"{who}**Fallback to per-video min-max** (threshold {flagged.threshold:.2f}): {note}.",
                       icon=":material/rule:")
        else:
            st.warning(f"{who}{note}", icon=":material/info:")


def models_notes(flagged_by_model: Mapping[str, Flagged], skip: Sequence[str] = ()) -> None:
    """`verdict_notes` of several models on one clip, each naming its model."""
    for name, flagged in flagged_by_model.items():
        if name not in skip:
            verdict_notes(flagged, name)


def alert_banner(flagged: Flagged, name: str, model: Optional[str] = None) -> None:
    """The verdict: its notes first (out of scene, no calibration), then an alert when the clip
    crosses the threshold (st.error) or a green all-clear, the one sentence that says what the
    scores mean, and the counts."""
    verdict_notes(flagged, model)
    if flagged.events:
        first = flagged.events[0]
        peak = max(flagged.events, key=lambda e: e.peak_score)
        st.error(
            f"**Anomaly alert** in {name}: {len(flagged.events)} event(s); the first starts at "
            f"{first.start / flagged.fps:.1f} s (frame {first.start}), the strongest peaks at "
            f"{peak.peak_score:.2f} (frame {peak.peak_frame}).",
            icon=":material/warning:",
        )
    else:
        st.success(f"No anomaly in {name}: no run of {flagged.min_length} or more frames reaches the threshold "
                   f"{flagged.threshold:.2f}.", icon=":material/check_circle:")
    if flagged.scale:
        st.caption(f"Scores: {flagged.scale}.")
    st.markdown(anomalous_frames_text(flagged))
    counts = flagged.counts()
    if counts is not None:
        st.caption(
            f"Against the ground truth: {counts['tp']} true positives, {counts['fp']} false positives, "
            f"{counts['fn']} false negatives, {counts['tn']} true negatives; precision {counts['precision']:.2f}, "
            f"recall {counts['recall']:.2f}, F1 {counts['f1']:.2f}."
        )


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


def verdict_meta(flagged: Flagged, checkpoint: Optional[str] = None) -> dict:
    """How a verdict's numbers were made, for the `# key: value` header of the scores CSV (the
    same sections as `vadlab score --out`): checkpoint, protocol, verdict, calibration."""
    cal = flagged.calibration
    meta = {
        "checkpoint": checkpoint,
        "video": flagged.frame_scores.video,
        "fps": flagged.fps,
        "protocol": {"pooling": "mean", "normalize": flagged.normalize, "smooth_sigma": flagged.smooth_sigma,
                     "min_length": flagged.min_length, "merge_gap": flagged.merge_gap},
        "verdict": {"calibrated": flagged.calibrated, "threshold": flagged.threshold,
                    "far": flagged.far, "scale": flagged.scale, "events": len(flagged.events),
                    "flagged_frames": flagged.n_anomalous, "out_of_scene": flagged.out_of_scene},
        "calibration": ({"source": cal.source, "data": cal.data, "frames": cal.count, "far": format_far(flagged.far)}
                        if cal is not None and flagged.far is not None else None),
    }
    if cal is None:
        meta["calibration_note"] = ("no calibration: " + NO_CALIBRATION if NO_CALIBRATION in flagged.notes
                                    else f"no calibration used (scale chosen: {flagged.normalize})")
    if flagged.notes:
        meta["notes"] = list(flagged.notes)
    return meta


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


# -------------------------------------------------------------------------------------- evaluation
def pooled(scores: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], normalize: str,
           smooth_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """All videos' post-processed scores and labels concatenated in the order `metrics.evaluate`
    uses (sorted names): the frames behind the micro curves."""
    names = sorted(scores)
    pooled_scores = np.concatenate([postprocess(scores[n], normalize=normalize, smooth_sigma=smooth_sigma) for n in names])
    pooled_labels = np.concatenate([np.asarray(labels[n]).astype(np.int8) for n in names])
    return pooled_scores, pooled_labels


def protocol_frames(scored: api.DatasetScores, protocol: Protocol,
                    calibration: Optional[Calibration] = None) -> tuple[np.ndarray, np.ndarray]:
    """The frames an evaluation under `protocol` counts, as (scores, labels) concatenated in
    `metrics.evaluate`'s order: its pooling, frames dropped or kept, calibration, smoothing and
    normalisation applied exactly as `api.evaluate_scored` does."""
    scores, labels = api.protocol_scores(scored, protocol, calibration)
    return pooled(scores, labels, "none" if protocol.normalize == "calibrated" else protocol.normalize,
                  protocol.smooth_sigma)


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


def metric_cards(name: str, result: EvalResult) -> None:
    """The headline numbers of one evaluation as st.metric cards (4 decimals, as `vadlab eval`)."""
    st.markdown(f"##### {name}")
    columns = st.columns(6 if result.pixel_auc is not None else 5)
    columns[0].metric("Micro AUC", _fmt(result.micro_auc), help="ROC AUC over all frames of all videos.")
    columns[1].metric("Macro AUC", _fmt(result.macro_auc), help="Mean per-video AUC (videos with both classes).")
    columns[2].metric("EER", _fmt(result.eer), help="Equal error rate: where false alarms = misses.")
    columns[3].metric("PR-AUC", _fmt(result.pr_auc), help="Average precision, anomalous = positive.")
    columns[4].metric("Frames / s", "n/a" if not np.isfinite(result.frames_per_second) else f"{result.frames_per_second:.0f}",
                      help="Scoring throughput (decoding excluded).")
    if result.pixel_auc is not None:
        columns[5].metric("Pixel AUC", _fmt(result.pixel_auc), help="Error maps against pixel masks.")
    if result.protocol:
        st.caption(f"Protocol: {protocol_description(result)}.")
    if result.single_class_videos:
        st.caption(f"Single-class videos (left out of the macro AUC): {', '.join(result.single_class_videos)}")


def protocol_description(result: EvalResult) -> str:
    """The one-line description of the protocol an evaluation was made under."""
    return str((result.protocol or {}).get("description") or Protocol.from_dict(result.protocol).describe())


def summary_table(results: Mapping[str, EvalResult]) -> None:
    """One row per evaluation with full-precision numbers."""
    rows = []
    for name, result in results.items():
        summary = {k: v for k, v in result.summary().items() if k != "single_class_videos"}
        summary["protocol"] = protocol_description(result)  # a string: a table cell, not a dict
        rows.append({"checkpoint": name, **summary, "eer_threshold": result.eer_threshold})
    st.dataframe(rows, hide_index=True, width="stretch")


def curves(results: Mapping[str, EvalResult]) -> None:
    """ROC and PR curves, variants overlaid, EER marked."""
    col_roc, col_pr = st.columns(2)
    col_roc.plotly_chart(plots.roc_figure(results), width="stretch", config={"displaylogo": False})
    col_roc.caption("ROC: true positive rate against false positive rate as the threshold sweeps; × marks the EER.")
    col_pr.plotly_chart(plots.pr_figure(results), width="stretch", config={"displaylogo": False})
    col_pr.caption("Precision-recall: how many flagged frames are truly anomalous, against how many anomalies are found.")


def threshold_report(scores: np.ndarray, labels: np.ndarray, threshold: float) -> None:
    """Confusion matrix and precision / recall / F1 at one threshold."""
    counts = threshold_metrics(scores, labels, threshold)
    col_matrix, col_numbers = st.columns([3, 2])
    col_matrix.plotly_chart(plots.confusion_figure(counts, title=f"Confusion matrix at threshold {threshold:.2f}"),
                            width="stretch", config={"displaylogo": False})
    col_numbers.metric("Precision", f"{counts['precision']:.3f}")
    col_numbers.metric("Recall", f"{counts['recall']:.3f}")
    col_numbers.metric("F1", f"{counts['f1']:.3f}")
    col_numbers.caption(f"Accuracy {counts['accuracy']:.3f}, false positive rate {counts['fpr']:.3f}.")


def in_sample_warnings(entries: Sequence[CheckpointEntry]) -> None:
    """An st.warning for every supervised checkpoint: its numbers on its own labelled data are
    in-sample, not a generalisation figure."""
    for entry in entries:
        data = in_sample_on(entry)
        if data:
            st.warning(f"**In-sample:** {entry.name} is supervised: it was trained on the labelled videos of "
                       f"{data}; its numbers on that data are not a generalisation figure. For honest ones, see "
                       f"`vadlab cv --model {entry.family} --data SPEC` (cross-validation over videos).",
                       icon=":material/school:")


PROTOCOL_TABLE_COLUMNS = {
    "paper": st.column_config.TextColumn("", width="small"),
    "micro AUC": st.column_config.NumberColumn(format="%.4f"),
    "macro AUC": st.column_config.NumberColumn(format="%.4f"),
    "EER": st.column_config.NumberColumn(format="%.4f"),
}


def protocol_explorer(page: str, entry: CheckpointEntry, spec: str) -> None:
    """One checkpoint's micro / macro AUC and EER under every protocol of `protocol_grid`
    (`api.protocol_table`, from the cached scores: nothing re-scores; the paper's protocol first),
    and the ROC curves of any two of them overlaid."""
    rows = protocol_table(entry, spec)
    table = []
    for row in rows:
        p = row["protocol"]
        table.append({
            "paper": "paper" if p["paper"] else "",
            "protocol": p["description"],
            "pooling": p["pooling"] + (f" {p['patch']}" if p["pooling"] == "patch" else
                                       f" {p['topk']:g}" if p["pooling"] == "topk" else ""),
            "normalisation": p["normalize"],
            "smoothing σ": p["smooth_sigma"],
            "first frames": "dropped" if p["drop_undecidable"] else "kept",
            "micro AUC": row["micro_auc"],
            "macro AUC": row["macro_auc"],
            "EER": row["eer"],
        })
    st.dataframe(table, hide_index=True, width="stretch", column_config=PROTOCOL_TABLE_COLUMNS)
    spread = [r["micro_auc"] for r in rows if np.isfinite(r["micro_auc"])]
    if spread:
        st.caption(f"{entry.name}: micro AUC from {min(spread):.4f} to {max(spread):.4f} over {len(rows)} protocols, "
                   "from one scoring pass. A number without its protocol is not comparable.")
    protocols = {row["protocol"]["description"]: Protocol.from_dict(row["protocol"]) for row in rows}
    names = list(protocols)
    col_a, col_b = st.columns(2)
    first = col_a.selectbox("Protocol A", names, index=0, key=state.widget_key(page, "protocol_a"))
    second = col_b.selectbox("Protocol B", names, index=min(1, len(names) - 1), key=state.widget_key(page, "protocol_b"))
    chosen = {f"A: {first}": evaluate_dataset(entry, spec, protocols[first]),
              f"B: {second}": evaluate_dataset(entry, spec, protocols[second])}
    st.plotly_chart(plots.roc_figure(chosen, title=f"ROC of {entry.name} under two protocols"), width="stretch",
                    config={"displaylogo": False}, key=state.widget_key(page, "protocol_roc"))


def per_video_table(results: Mapping[str, EvalResult]) -> None:
    """AUC of every video (columns: checkpoints)."""
    names = sorted({v for r in results.values() for v in r.per_video_auc})
    rows = []
    for video_name in names:
        row: dict = {"video": video_name}
        for name, result in results.items():
            value = result.per_video_auc.get(video_name, float("nan"))
            row[name] = None if not np.isfinite(value) else round(value, 4)
        rows.append(row)
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption("Empty cells: single-class videos (all normal or all anomalous), where an AUC is undefined.")


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
    """Score the first shipped test clip with the first shipped checkpoint and show its timeline."""
    from vadlab.ui.cache import decode, score, usable_checkpoints
    from vadlab.ui.errors import user_errors
    from vadlab.ui.widgets import sample_source

    entries = usable_checkpoints()
    source = sample_source()
    if not entries or source is None:
        st.warning("The demo needs a checkpoint and the sample videos (`python -m vadlab samples --out sample_videos`).")
        return
    entry = entries[0]
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
