"""Session state: the working context every page reads and writes, and every other key the app
stores in `st.session_state`, in one place.

The working context (`context()`) is what the user is looking at, kept for the whole browser
session: the clip (where it comes from, the sample / dataset clip chosen, the uploads of this
session), the model(s), the model shown in detail, the frame, thresholds, the verdict settings and
the evaluation protocol. Pages do not own these values: their widgets are *bound* to the context
(`bind`): each run starts the widget from the context's value, and a change by the user writes it
back (an `on_change` callback, which runs before the page does). So going from Score to Explain to
Evaluate finds the same clip, model and frame there, and coming back to a page finds it as it was
left (Streamlit forgets the state of widgets a page did not draw; the context does not).

Widget keys are built with `widget_key(page, name)` ("score.threshold"), so two pages never share a
widget's state by accident and tests can address widgets by key (`at.slider(key="score.threshold")`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import streamlit as st

DEVICE = "app.device"  # device chosen in the sidebar ("auto", "cpu", "cuda", "cuda:N")
DEMO = "home.demo"  # the Home page's demo result (checkpoint path, sample path)
TRAIN_JOB = "train.job"  # the running / finished TrainingJob of this session
TRAIN_LAST_SAVED = "train.last_saved"  # path of the last checkpoint the Train page saved
CONTEXT = "app.context"  # the session's working Context

SOURCES = ("Shipped sample", "Upload", "Your datasets", "Dataset clip")  # where a clip comes from (the source radio)
USER_DATASET = "user_dataset"  # context name: the user's dataset last made or chosen (Data, Score, Train, Evaluate follow it)
MAX_UPLOADS = 6  # uploaded clips kept per session (oldest dropped first)


@dataclass
class FrameRef:
    """The frame the user looked at last: which clip (ClipSource.key), under which model (path),
    and its index. Another clip or model makes it stale: pages then start at that model's most
    anomalous frame."""

    clip: str
    model: str
    index: int


@dataclass
class Context:
    """What the user is working on, shared by every page of one browser session.

    source: "Shipped sample", "Upload", "Your datasets" or "Dataset clip"; sample: the sample chosen
    ("testing/test_01"); dataset_kind / dataset_folder / dataset_clip: the dataset clip chosen;
    uploads: ClipSource by key, every clip uploaded in this session (most recent last), upload: the
    key of the one in use; clip: the ClipSource in use (None until a page has chosen one).
    models: checkpoint paths the user chose (None: chosen for the clip by `cache.rank_checkpoints`);
    detail: the model shown in detail (Score) and explained (Explain); frame: FrameRef.
    thresholds: threshold slider name -> value (a name encodes the scale, range and default, so a
    value is only reused where it means the same); values: other bound widgets, by context name.
    """

    source: str = SOURCES[0]
    sample: Optional[str] = None
    dataset_kind: Optional[str] = None
    dataset_folder: Optional[str] = None
    dataset_clip: Optional[str] = None
    uploads: dict = field(default_factory=dict)
    upload: Optional[str] = None
    clip: Any = None
    models: Optional[tuple[str, ...]] = None
    detail: Optional[str] = None
    frame: Optional[FrameRef] = None
    thresholds: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    # ---------------------------------------------------------------------------- uploads
    def add_upload(self, source: Any) -> None:
        """Keep an uploaded ClipSource for the rest of the session and make it the one in use."""
        self.uploads.pop(source.key, None)
        self.uploads[source.key] = source
        while len(self.uploads) > MAX_UPLOADS:
            self.uploads.pop(next(iter(self.uploads)))
        self.upload = source.key

    # ---------------------------------------------------------------------------- frames
    def frame_for(self, clip: str, model: str) -> Optional[int]:
        """The frame last looked at on this clip under this model, or None (start at the peak)."""
        ref = self.frame
        return ref.index if ref is not None and ref.clip == clip and ref.model == model else None

    def set_frame(self, clip: str, model: str, index: int) -> None:
        self.frame = FrameRef(clip, model, int(index))


def context() -> Context:
    """This browser session's working context (created empty on first use)."""
    if CONTEXT not in st.session_state:
        st.session_state[CONTEXT] = Context()
    return st.session_state[CONTEXT]


def widget_key(page: str, name: str) -> str:
    """The session-state key of widget `name` on `page`, e.g. widget_key("score", "frame")."""
    return f"{page}.{name}"


# ---------------------------------------------------------------------------------- binding
def _read(name: str) -> Any:
    ctx = context()
    return getattr(ctx, name) if hasattr(ctx, name) and name not in ("values", "thresholds") else ctx.values.get(name)


def _write(name: str, value: Any) -> None:
    ctx = context()
    if hasattr(ctx, name) and name not in ("values", "thresholds"):
        setattr(ctx, name, value)
    else:
        ctx.values[name] = value


def _store(key: str, name: str, then: Optional[Callable[[Any], None]]) -> None:
    value = st.session_state.get(key)
    _write(name, value)
    if then is not None:
        then(value)


def bind(key: str, name: str, default: Any, options: Optional[Sequence[Any]] = None,
         then: Optional[Callable[[Any], None]] = None) -> dict:
    """Bind the widget with session key `key` to the context value `name`.

    Sets the widget's value from the context (or `default` when the context has none, or when its
    value is not among `options`) before the widget is drawn, and returns the keyword arguments
    (`key`, `on_change`, `args`) that write a user's change back to the context; `then(value)` runs
    after such a change. Widgets drawn with it take no `value` / `index` / `default` argument:
    `st.selectbox("Clip", clips, **state.bind("score.sample", "sample", clips[0], clips))`.
    """
    value = _read(name)
    if value is None or (options is not None and not _among(value, options)):
        value = default
        _write(name, value)
    st.session_state[key] = value
    return {"key": key, "on_change": _store, "args": (key, name, then)}


def _among(value: Any, options: Sequence[Any]) -> bool:
    if isinstance(value, (list, tuple)):
        return all(v in options for v in value)
    return value in options


def remember(name: str, value: Any) -> None:
    """Write a value into the context directly (for values a page derives, e.g. the clip in use)."""
    _write(name, value)


def recall(name: str, default: Any = None) -> Any:
    """A context value (`default` when unset)."""
    value = _read(name)
    return default if value is None else value


def bind_threshold(key: str, name: str, default: float, low: float, high: float) -> dict:
    """`bind` for a threshold slider: the context keeps one value per slider name (scale, range and
    default), clipped into [low, high]."""
    ctx = context()
    value = float(min(max(ctx.thresholds.get(name, default), low), high))
    st.session_state[key] = value

    def store(k: str = key, n: str = name) -> None:
        context().thresholds[n] = float(st.session_state[k])

    return {"key": key, "on_change": store}
