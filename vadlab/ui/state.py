"""Session-state keys: every key the app stores in `st.session_state`, in one place.

Widget keys are built with `widget_key(page, name)` ("score.threshold"), so two pages never share a
widget's state by accident and tests can address widgets by key (`at.slider(key="score.threshold")`).
"""
from __future__ import annotations

DEVICE = "app.device"  # device chosen in the sidebar ("auto", "cpu", "cuda", "cuda:N")
DEMO = "home.demo"  # the Home page's demo result (checkpoint path, sample path)
TRAIN_JOB = "train.job"  # the running / finished TrainingJob of this session
TRAIN_LAST_SAVED = "train.last_saved"  # path of the last checkpoint the Train page saved


def widget_key(page: str, name: str) -> str:
    """The session-state key of widget `name` on `page`, e.g. widget_key("score", "frame")."""
    return f"{page}.{name}"
