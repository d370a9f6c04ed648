"""Home: what the lab does, the model zoo, the device in use, and a one-click demo."""
import streamlit as st

from vadlab import ui

st.title("vadlab: video anomaly detection lab")
st.markdown(
    "vadlab learns what *normal* looks like in surveillance video, with GAN-based and autoencoder "
    "models trained only on normal clips, and flags the frames it cannot explain as anomalous. "
    "Score your own videos frame by frame, see where and why a model raises an alert, and evaluate or "
    "compare models on benchmarks such as UCSD Ped2; everything runs on a laptop CPU (a GPU, when present, "
    "is used automatically)."
)

if ui.start_here():
    st.session_state[ui.state.DEMO] = True
if st.session_state.get(ui.state.DEMO):
    ui.demo()

st.subheader("Model zoo")
st.caption(f"Checkpoints in `{ui.paths.display_path(ui.paths.shipped_checkpoints_dir())}` (shipped) and in "
           f"`{ui.paths.display_path(ui.paths.user_checkpoints_dir())}` (yours, from the Train page). "
           "AUC: frame-level micro and macro AUC, one pair of columns per evaluation dataset (a synthetic AUC and a "
           "Ped2 AUC are not comparable), from the checkpoint's metadata and from evaluations run in this lab, under the "
           "protocol named beside them. Click a column header to sort. Calibrated: it knows its score distribution on "
           "normal frames, so its alerts hold a target false-alarm rate.")
ui.zoo_table()
st.caption(f"Device in use: **{ui.device_description()}**")
