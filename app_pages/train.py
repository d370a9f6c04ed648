"""Train: fit a model family on normal videos, watch the losses, get a checkpoint for the zoo.

Training runs in a background thread and this page polls it every second. "Run in the foreground"
blocks the page until training ends instead (what tests and slow connections use).
"""
from pathlib import Path

import streamlit as st

from vadlab import ui

PAGE = "train"
train = ui.training

st.title("Train")
st.caption("Models learn normality from normal training clips only (your own footage: make a dataset on the "
           "**Data** page, then pick it under *Your datasets*). The finished checkpoint is saved under "
           f"`{ui.paths.display_path(ui.paths.user_checkpoints_dir())}` and appears in the model zoo at once.")

job = st.session_state.get(ui.state.TRAIN_JOB)
busy = job is not None and job.running

col_model, col_data = st.columns(2, gap="large")
with col_model:
    family = st.selectbox("Model family", train.model_families(), key="train.family")
    st.caption(train.family_summary(family))
    preset = st.selectbox("Preset", train.family_presets(family), key="train.preset",
                          help="'tiny' trains in seconds to minutes on a CPU; 'paper' is the published size.")
    start_from = st.radio("Start from", ["Scratch", "A checkpoint (knowledge transfer)"], horizontal=True,
                          key="train.start_from",
                          help="A checkpoint of the same family and preset gives the new model its weights to start "
                               "from (`vadlab train --init-from`): fine-tuning to your scene, as in the S0 paper.")
    init_from = None
    if start_from != "Scratch":
        candidates = {c["path"]: c for c in ui.zoo.init_candidates(family, preset, ui.zoo.default_folders())}
        if candidates:
            init_from = st.selectbox("Checkpoint to start from", list(candidates), key="train.init_from",
                                     format_func=lambda p: f"{candidates[p]['name']} ({candidates[p]['origin']}, "
                                                           f"trained on {candidates[p]['data']})")
        else:
            st.info(f"No {family} checkpoint with the {preset} preset in the zoo to start from: "
                    "this run starts from scratch.")
    train.follow_preset_epochs(st.session_state, family, preset)  # starts from the preset's recipe
    epochs = int(st.number_input("Epochs", 1, 500, key="train.epochs",
                                 help="The preset's own recipe to start with (what `vadlab train` runs without --epochs)."))
    max_steps = int(st.number_input("Max steps per epoch (0 = all windows)", 0, 100000, 0, key="train.max_steps",
                                    help="Caps each epoch; useful for a quick try."))
    device = st.selectbox("Device", ui.device_choices(), key="train.device")
with col_data:
    data = ui.dataset_picker(PAGE)
    name = st.text_input("Checkpoint name", value=train.default_checkpoint_name(family, preset, st.session_state), key="train.name")
    evaluate_after = st.checkbox("Evaluate on the test split when done (its AUC shows in the zoo)", value=True,
                                 key="train.evaluate_after")
    foreground = st.checkbox("Run in the foreground (the page waits until training ends)", key="train.foreground")

name_error = train.checkpoint_name_error(name)
if name_error:
    st.error(name_error, icon=ui.ERROR_ICON)
elif (ui.paths.user_checkpoints_dir() / f"{name}.safetensors").exists() and not (job is not None and job.request.out.name == name):
    st.warning(f"A checkpoint named {name} exists already; training will replace it.")
col_start, col_cancel = st.columns([1, 4])
start = col_start.button("Start training", type="primary", key="train.start",
                         disabled=busy or data is None or name_error is not None)
if col_cancel.button("Cancel", key="train.cancel", disabled=not busy):
    job.cancel()

if start:
    out = ui.paths.user_checkpoints_dir() / name
    request = train.TrainRequest(family=family, preset=preset, data=data, out=out, epochs=epochs,
                                 max_steps_per_epoch=max_steps or None, device=device, evaluate_after=evaluate_after,
                                 init_from=init_from)
    job = train.new_job(request)
    st.session_state[ui.state.TRAIN_JOB] = job
    if foreground:
        ui.training_progress_foreground(job)
    else:
        job.start()
        st.rerun()  # redraw with Start disabled and Cancel enabled while it runs

if job is not None:
    ui.training_status(job)
    if job.status == "done":
        st.caption(f"**{job.request.out.name}** · trained on: **{ui.zoo.data_label(job.request.data)}**"
                   + (f" · started from {Path(job.request.init_from).name}" if job.request.init_from else
                      " · from scratch"))
