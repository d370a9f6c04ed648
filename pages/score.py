"""Score a video: per-frame anomaly scores, a calibrated verdict (alerts), the frames behind it, and downloads."""
import streamlit as st

from vadlab import ui

PAGE = "score"

st.title("Score a video")
st.caption("Choose a clip and a model: every frame gets an anomaly score (higher = more anomalous), judged against "
           "the normal frames the model was calibrated on. Runs of frames at or above the threshold are alerts (events).")

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

settings = ui.verdict_controls(PAGE)
detail = st.selectbox("Model shown in detail", list(models), key="score.detail") if len(models) > 1 else entries[0].name
with ui.user_errors("Verdict"):
    flagged = ui.clip_verdicts(PAGE, scores, models, source, settings, detail)
shown = flagged[detail]

if presenter:
    ui.presenter_view(video, shown, source.name, detail)
    st.stop()

ui.alert_banner(shown, source.name, detail)
frame = ui.timeline_with_slider(shown, PAGE, title=f"{source.name}: anomaly score per frame ({detail})")
if len(flagged) > 1:
    ui.overlay_timeline(flagged, current_frame=frame)
    ui.models_notes(flagged, skip=[detail])

st.subheader("The frame")
ui.frame_panels(video, shown, frame, models[detail])

st.subheader("Events")
st.caption("Each event is a run of flagged frames at least as long as the minimum event length, as `vadlab score` "
           "prints them.")
ui.events_table(video, shown)

st.subheader("Downloads")
ui.downloads(video, shown, f"{source.name}_{detail}", PAGE, checkpoint=detail)
