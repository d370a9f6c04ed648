"""Training progress on the Train page: the progress line, live loss curves and the latest sample
reconstruction of a `ui.training.TrainingJob`, refreshed every second while it runs."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import streamlit as st

from vadlab import plots
from vadlab.ui import state
from vadlab.ui.errors import ERROR_ICON


def loss_chart(history: Sequence[Mapping[str, float]], x_key: Optional[str], title: str) -> None:
    """Training losses as a line chart."""
    st.plotly_chart(plots.loss_figure(history, x_key=x_key, title=title), width="stretch", config={"displaylogo": False})


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
