"""Score a video: per-frame anomaly scores, a calibrated verdict (alerts), the frames behind it, and downloads.
Presenter mode: the same verdict full screen, for a projector."""
import streamlit as st

from vadlab import ui

PAGE = "score"

if ui.state.recall("presenter", False):  # full width, no chrome: the controls fold into one expander
    ui.presenter_chrome()
    col_head, col_csv, col_video, col_mode = st.columns([3.6, 1.2, 1.5, 1.4], vertical_alignment="center")
    presenter = ui.presenter_toggle(PAGE, col_mode)
    controls = col_head.expander("Clip, model(s) and verdict settings", icon=":material/tune:")
else:
    col_head, col_mode = st.columns([4, 1], vertical_alignment="bottom")
    presenter = ui.presenter_toggle(PAGE, col_mode)
    col_head.title("Score a video")
    st.caption("Choose a clip and a model: every frame gets an anomaly score (higher = more anomalous), judged against "
               "the normal frames the model was calibrated on. Runs of frames at or above the threshold are alerts (events).")
    controls = st.container()

with controls:
    col_source, col_models = st.columns([3, 2], gap="large")
    with col_source:
        source = ui.video_source_picker(PAGE)
    with col_models:
        entries = ui.checkpoints_picker(PAGE, label="Model(s)", clip=source)
if source is None:
    st.stop()
if not entries:
    st.info("Choose at least one model.")
    st.stop()

models = {entry.name: entry for entry in entries}
with ui.user_errors(f"Scoring {source.name}"):
    video = ui.decode(source)
    scores = {name: ui.score(entry, source, any_length=True) for name, entry in models.items()}  # every frame

with controls:
    ui.video_notes(video, source.fps_assumed, scored_frames=len(next(iter(scores.values()))))
    settings = ui.verdict_controls(PAGE)
    detail = ui.detail_picker(PAGE, entries)
    with ui.user_errors("Verdict"):
        flagged = ui.clip_verdicts(PAGE, scores, models, source, settings, detail.name)
shown = flagged[detail.name]

if presenter:
    with ui.user_errors("Presenter mode"):
        annotated = ui.annotated_video(video, shown)
    ui.presenter_downloads(shown, annotated, f"{source.name}_{detail.name}", PAGE, detail.name, col_csv, col_video)
    ui.presenter_view(video, shown, source.name, detail.name, annotated,
                      start=ui.state.context().frame_for(source.decode_key, detail.path))
    st.stop()

ui.alert_banner(shown, source.name, detail.name)
frame = ui.timeline_with_slider(shown, PAGE, title=f"{source.name}: anomaly score per frame ({detail.name})",
                                where=(source.decode_key, detail.path), also=[ui.overlay_key(PAGE)])
if len(flagged) > 1:
    ui.overlay_timeline(flagged, current_frame=frame, page=PAGE)
    ui.models_notes(flagged, skip=[detail.name])

st.subheader("The frame")
ui.frame_panels(video, shown, frame, detail)

st.subheader("Events")
st.caption("Each event is a run of flagged frames at least as long as the minimum event length, as `vadlab score` "
           "prints them.")
ui.events_table(video, shown)
ui.false_alarm_feedback(PAGE, video, shown, source, detail)

st.subheader("Downloads")
ui.downloads(video, shown, f"{source.name}_{detail.name}", PAGE, checkpoint=detail.name)
