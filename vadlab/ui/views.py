"""Clip views the pages share: the frame panels (real | reconstruction | heatmap overlay), what was
decoded, the events table, downloads (headed by how the numbers were made) and the clip comparison
table. Timelines synced with a frame slider are in `timeline_view`, training progress in
`training_view`, verdicts and their alerts in `verdict_view`, evaluation summaries in
`evaluation_view`, presenter mode in `presenter_view`, the model zoo and the demo in `home_view`.

All heavy inputs come from `vadlab.ui.cache`; these functions only post-process cached scores
(cheap: a threshold, false-alarm rate or smoothing change never re-scores) and draw.
"""
from __future__ import annotations

import os
import tempfile
from typing import Mapping, Optional

import numpy as np
import streamlit as st

from vadlab import explain, export, limits
from vadlab.calibration import NO_CALIBRATION
from vadlab.data.video import Video
from vadlab.ui import state
from vadlab.ui.cache import result_store
from vadlab.ui.verdict_view import Flagged, verdict_meta
from vadlab.zoo import CheckpointEntry


# ------------------------------------------------------------------------------------------ frames
def map_scale(flagged: Flagged) -> Optional[float]:
    """The heatmap scale of a video: 99.5th percentile of its error maps (as export.annotate_frames
    uses for a whole video), so one frame drawn alone looks as it does in the annotated video."""
    maps = flagged.frame_scores.error_maps
    if maps is None:
        return None
    store = result_store()
    return store.get_or_compute(("map_scale", flagged.key), lambda: float(np.percentile(maps.astype(np.float32), 99.5)))


def overlay_image(video: Video, flagged: Flagged, index: int) -> np.ndarray:
    """Frame `index` with the error heatmap, red outlines of high-error regions on flagged frames
    and a red (anomalous) or green (normal) border: `export.annotate_frames` on one frame."""
    maps = flagged.frame_scores.error_maps
    labels = flagged.labels
    values, threshold = export.bar_scale(flagged.normalized, flagged.threshold, flagged.normalize)
    return export.annotate_frames(
        np.asarray(video.frames[index : index + 1]),
        values[index : index + 1],
        threshold,
        None if maps is None else maps[index : index + 1].astype(np.float32),
        None if labels is None else labels[index : index + 1],
        map_scale=map_scale(flagged),
        show_text=False,  # the caption says which frame; annotate_frames would number it 0
    )[0]


def video_notes(video: Video, fps_assumed: bool = False, scored_frames: Optional[int] = None) -> None:
    """What was decoded: frames, size, frame rate (read from the container or the dataset, or
    assumed, and then said so) and duration; whether the decode limits shrank or cut it.
    scored_frames: how many frames were scored, when every frame of a longer clip was."""
    t, h, w = video.frames.shape[:3]
    fps = video.info.fps or 25.0
    note = f"{t} frames, {w}×{h} px, {export.fps_text(fps, fps_assumed)}, {t / fps:.1f} s"
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
    output = explain.output_image(flagged.frame_scores, index, size)
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
            "thumbnail": (export.thumbnail_url(np.asarray(video.frames[event.peak_frame]))
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
            values, threshold = export.bar_scale(flagged.normalized, flagged.threshold, flagged.normalize)
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
