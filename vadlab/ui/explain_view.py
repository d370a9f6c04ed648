"""The Explain page's views and the attribution widgets it shares with the notebook's explain cells:
the clip's timeline synced with the frame (the working context's frame: Score -> Explain keeps it),
figures drawn clear of the chart toolbar, and one group of parameter widgets per Captum method (see
`vadlab.explain.DEFAULT_PARAMS`)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import streamlit as st

from vadlab import explain
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, checkpoint_calibration, result_store, scores_key
from vadlab.ui.verdict_view import Flagged, flag
from vadlab.zoo import CheckpointEntry

TOOLBAR_ROOM = 30  # px above subplot titles, so plotly's toolbar (top right) never covers them


def panels_chart(figure, key: str) -> None:
    """A figure of titled panels (frame | output | error, SVD, attributions) with room above its
    titles for the chart toolbar."""
    top = (figure.layout.margin.t or 40) + TOOLBAR_ROOM
    figure.update_layout(margin=dict(t=top), height=(figure.layout.height or 280) + TOOLBAR_ROOM)
    st.plotly_chart(figure, key=key, config={"displaylogo": False})


def explain_timeline(page: str, frame_scores, entry: CheckpointEntry, source: ClipSource) -> tuple[int, Flagged]:
    """The clip's scores under the Score page's verdict settings (a compact timeline, click to jump)
    with the frame slider; returns the frame and the verdict (whose `score_text` is the number Score
    shows for that frame: one score language). Starts at the frame last looked at on this clip with
    this model (from Score, say), else at the clip's most anomalous frame; another model starts
    again at its own most anomalous frame."""
    from vadlab.ui.timeline_view import timeline_with_slider

    # the Score page's rule: the model's own unless set by hand there (None = the model's rule)
    by_hand = bool(state.recall("verdict.by_hand", False))
    rule = {name: (state.recall(f"verdict.{name}", None) if by_hand else None)
            for name in ("smooth", "min_length", "far", "merge_gap")}
    flagged = flag(frame_scores, scores_key(entry, source), normalize=state.recall("verdict.normalize", "calibrated"),
                   smooth_sigma=rule["smooth"], min_length=rule["min_length"], merge_gap=rule["merge_gap"],
                   far=rule["far"], calibration=checkpoint_calibration(entry))
    frame = timeline_with_slider(flagged, page, title=f"{source.name}: anomaly score per frame ({entry.name})",
                                 where=(source.decode_key, entry.path), height=300)
    return frame, flagged


def attribution_on_demand(page: str, key: tuple, what: str, compute: Callable[[], Any]) -> Any:
    """An attribution only when asked for: the cached one for `key` (this clip, model, frame, method
    and parameters) when it was computed before, else a button that computes it. Returns it, or None
    while not asked for (a frame change then costs no attribution: Integrated Gradients takes
    seconds on a CPU)."""
    store = result_store()
    cached = store.get(key)
    if cached is not None:
        return cached
    if not st.button(f"Compute {what}", key=state.widget_key(page, "attribute"), type="primary",
                     icon=":material/insights:"):
        st.info(f"Press **Compute {what}** to see which pixels drive this frame's score (seconds on a CPU; kept "
                "for this frame and method, so coming back shows it at once).", icon=":material/touch_app:")
        return None
    with st.spinner(f"{what}…"):
        return store.get_or_compute(key, compute)


def seed(key: str, value) -> str:
    """Give widget `key` its starting value (once), then let the widget own it; returns `key`."""
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def _number(column, label: str, key: str, bounds: tuple, value, seeded: bool, step=None, help=None):
    # a stored value may lie anywhere the API accepts: a number input; otherwise a slider over a useful range
    low, high = bounds
    if seeded:
        return column.number_input(label, low, high, step=step, key=seed(key, value), help=help)
    return column.slider(label, low, high, value, step, key=key, help=help)


def _baseline(column, label: str, key: str, value: str, seeded: bool, help=None) -> str:
    if seeded:
        return column.selectbox(label, explain.BASELINES, key=seed(key, value), help=help)
    return column.radio(label, explain.BASELINES, key=key, help=help)


def attribution_params(page: str, method: str, height: Optional[int] = None, width: Optional[int] = None,
                       start: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The parameter widgets of attribution `method`, in three columns; returns {param: value}, every
    parameter of the method (ints, floats, baseline names), ready for `explain.explain_video_frame`.

    Widget keys are `widget_key(page, "ig_steps")`, `"occ_window"`, ... Two forms:
    - `start=None` (the Explain page): sliders over useful ranges, starting at the method's defaults; the
      occlusion patch and stride are bounded by the model's frame size `height` x `width` (pixels).
    - `start` = the values stored in a notebook cell (the method's defaults merged with its options):
      number inputs wide enough for any value a saved notebook may hold (the model may not be loaded
      yet), seeded from `start` once, then owned by the widget.
    """
    seeded = start is not None
    values = {**explain.DEFAULT_PARAMS.get(method, {}), **(start or {})}
    if seeded:  # any value the API accepts
        ranges = {"n_steps": (2, explain.MAX_PARAMS["n_steps"]), "window": (1, 1024), "stride": (1, 1024),
                  "n_samples": (1, explain.MAX_PARAMS["n_samples"]),
                  "stdevs": (0.0, 2.0), "seed": (0, 1_000_000)}
    else:
        if height is None or width is None:
            raise ValueError("attribution_params: without `start`, give the model's frame height and width (pixels)")
        side = min(height, width)
        ranges = {"n_steps": (2, 128), "window": (2, side), "stride": (1, side), "n_samples": (1, 64),
                  "stdevs": (0.0, 0.5), "seed": (0, 10_000)}
        # the defaults, within the sliders' ranges (a 12-pixel frame has no 16-pixel patch)
        values = {k: min(v, ranges[k][1]) if k in ranges else v for k, v in values.items()}
    key = lambda name: state.widget_key(page, name)  # noqa: E731
    c1, c2, c3 = st.columns(3)
    params: dict[str, Any] = {}
    if method == "integrated_gradients":
        params["n_steps"] = int(_number(c1, "Steps (n_steps)", key("ig_steps"), ranges["n_steps"], int(values["n_steps"]),
                                        seeded, help="Points on the path from the baseline to the input; more = more "
                                                     "exact, slower."))
        params["baseline"] = _baseline(c2, "Baseline", key("ig_baseline"), values["baseline"], seeded,
                                       help="black: an all-black window; mean: the window's mean frame (a static scene).")
    elif method == "saliency":
        c1.caption("Saliency is |∂ score / ∂ pixel|: no parameters, one backward pass.")
    elif method == "occlusion":
        params["window"] = int(_number(c1, "Patch size (px)", key("occ_window"), ranges["window"], int(values["window"]),
                                       seeded, help="Each patch of one frame is blacked out in turn; the score change "
                                                    "is its attribution."))
        params["stride"] = int(_number(c2, "Stride (px)", key("occ_stride"), ranges["stride"], int(values["stride"]), seeded))
        params["baseline"] = _baseline(c3, "Fill", key("occ_baseline"), values["baseline"], seeded)
    elif method == "gradient_shap":
        params["n_samples"] = int(_number(c1, "Samples (n_samples)", key("gs_samples"), ranges["n_samples"],
                                          int(values["n_samples"]), seeded))
        params["stdevs"] = float(_number(c2, "Noise σ (stdevs)", key("gs_stdevs"), ranges["stdevs"], float(values["stdevs"]),
                                         seeded, step=0.05 if seeded else 0.01,
                                         help="Gaussian noise added to the input, in [-1, 1] pixel units."))
        low, high = ranges["seed"]  # a seed is typed, not slid, in both forms
        if seeded:
            params["seed"] = int(c3.number_input("Seed", low, high, key=seed(key("gs_seed"), int(values["seed"]))))
        else:
            params["seed"] = int(c3.number_input("Seed", low, high, int(values["seed"]), key=key("gs_seed")))
    else:
        raise ValueError(f"unknown attribution method {method!r}; choose one of: {', '.join(explain.METHOD_LABELS)}")
    return params
