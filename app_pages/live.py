"""Live: score a camera or a stream as it happens: the current frame with its heatmap, a rolling
timeline, the alert banner and the events (with their clips) as they close."""
import streamlit as st

from vadlab import ui

live = ui.live_view
PAGE = live.PAGE

st.title("Live")
st.caption("Point the lab at a stream: every frame is scored as it arrives, judged against the normal frames the "
           "model was calibrated on, and an alert opens the moment a run of anomalous frames is long enough. "
           "When scoring falls behind, the oldest waiting frames are dropped (and counted), never queued, and the "
           "model's window starts afresh after the gap: no score is ever made of frames that were not consecutive. "
           "A stream that is lost is reconnected.")

col_source, col_model = st.columns([3, 2], gap="large")
with col_source:
    choice = live.live_source_picker(PAGE)
with col_model:
    entry = ui.checkpoint_picker(PAGE, label="Model")
settings, history_s = live.live_settings(PAGE)
if choice is None:
    live.live_panel(PAGE)
    st.stop()

if choice.kind == "webcam":
    live.webcam_controls(entry, settings, history_s, PAGE)
else:
    live.live_controls(entry, choice, settings, history_s, PAGE)
live.live_panel(PAGE)
