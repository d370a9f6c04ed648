"""Score a video: per-frame anomaly scores, alerts, the frames behind them, and downloads."""
import streamlit as st

from vadlab import ui

PAGE = "score"

st.title("Score a video")
st.caption("Choose a clip and a model: every frame gets an anomaly score (higher = more anomalous). "
           "Frames at or above the threshold are flagged; runs of flagged frames are alerts (events).")

col_source, col_models = st.columns([3, 2], gap="large")
with col_source:
    source = ui.video_source_picker(PAGE)
with col_models:
    entries = ui.checkpoints_picker(PAGE, label="Model(s)")
    presenter = st.toggle("Presenter mode", key="score.presenter",
                          help="The annotated video, large, with the timeline under it.")
if source is None:
    st.stop()
if not entries:
    st.info("Choose at least one model.")
    st.stop()

models = {entry.name: entry for entry in entries}
with ui.user_errors(f"Scoring {source.name}"):
    video = ui.decode(source)
    scores = {name: ui.score(entry, source) for name, entry in models.items()}
ui.video_notes(video)

col_post, col_rules = st.columns(2)
with col_post:
    normalize, smooth = ui.postprocess_controls(PAGE)
with col_rules:
    min_length, merge_gap = ui.alert_rules(PAGE)
detail = st.selectbox("Model shown in detail", list(models), key="score.detail") if len(models) > 1 else entries[0].name
threshold = ui.threshold_slider(PAGE, ui.postprocessed(scores[detail], normalize, smooth), normalize)
flagged = {name: ui.flag(scores[name], ui.scores_key(entry, source), normalize, smooth, threshold, min_length, merge_gap)
           for name, entry in models.items()}
shown = flagged[detail]

if presenter:
    ui.presenter_view(video, shown, source.name)
    st.stop()

ui.alert_banner(shown, source.name)
frame = ui.timeline_with_slider(shown, PAGE, title=f"{source.name}: anomaly score per frame ({detail})")
if len(flagged) > 1:
    ui.overlay_timeline(flagged, current_frame=frame)

st.subheader("The frame")
ui.frame_panels(video, shown, frame, models[detail])

st.subheader("Events")
st.caption("Each event is a run of consecutive flagged frames, as `vadlab score` prints them.")
ui.events_table(video, shown)

st.subheader("Downloads")
ui.downloads(video, shown, f"{source.name}_{detail}", PAGE)
