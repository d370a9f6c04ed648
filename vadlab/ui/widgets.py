"""Widget groups the pages share, besides the pickers (`model_picker`, `source_picker`): the sidebar,
the verdict controls (scale, false-alarm rate, smoothing, alert rules), the evaluation protocol and the
threshold. Each returns plain values (a `calibration.VerdictSettings`, a Protocol, a threshold), never
widgets; the scale and default threshold they draw are `calibration.verdict_scale` and
`calibration.default_threshold`."""
from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from vadlab import device as devices
from vadlab import zoo
from vadlab.calibration import (DEFAULT_FAR, DEFAULT_MIN_LENGTH, DEFAULT_SMOOTH, Calibration, VerdictSettings,
                                default_threshold, format_far, verdict_scale)
from vadlab.protocol import DEFAULT_POOLINGS, Protocol
from vadlab.ui import state


# -------------------------------------------------------------------------------------- sidebar
def device_description(name: Optional[str] = None) -> str:
    """The device a name resolves to, in words ("CPU (2 threads)", "NVIDIA H100 (cuda:0)")."""
    try:
        return devices.describe(devices.resolve(name or str(st.session_state.get(state.DEVICE, "auto"))))
    except ValueError as exc:
        return f"unavailable ({exc})"


def sidebar() -> None:
    """The shared sidebar: device in use (selectable) and the size of the model zoo."""
    with st.sidebar:
        st.selectbox("Device", devices.choices(), key=state.DEVICE,
                     help="Where models run. 'auto' uses a GPU when there is one, else the CPU.")
        st.caption(f"In use: **{device_description()}**")
        entries = zoo.list_checkpoints()
        valid = sum(e.error is None for e in entries)
        st.caption(f"Model zoo: **{valid} checkpoint{'s' if valid != 1 else ''}**"
                   + (f" ({len(entries) - valid} invalid)" if valid != len(entries) else ""))


# ----------------------------------------------------------------------- verdicts and protocols
FAR_CHOICES = (1e-2, 1e-3, 1e-4)  # target false-alarm rates per normal frame offered for verdicts
VERDICT_SCALES = {
    "calibrated": "calibrated: against this model's normal frames (the verdict)",
    "minmax": "per-video min-max: the benchmark protocol, every clip peaks at 1",
    "zscore": "per-video z-score: standard deviations above this clip's own mean",
    "none": "none: the raw scores",
}
PROTOCOL_NORMALIZATIONS = {
    "minmax": "per-video min-max (the papers')",
    "none": "none (raw scores)",
    "calibrated": "calibrated on normal data",
    "zscore": "per-video z-score",
}
POOLING_LABELS = {"mean": "frame mean (the family's score)", "patch": "max over patches", "topk": "mean of the top 1% of pixels"}
PATCH_SIZES = tuple(patch for kind, patch, _ in DEFAULT_POOLINGS if kind == "patch")  # computed in every scoring pass


def _verdict_name(page: str, name: str) -> str:
    # Score, Compare and presenter mode judge clips the same way: one set of verdict settings
    return f"verdict.{name}" if page in ("score", "compare") else f"{page}.verdict.{name}"


def verdict_controls(page: str) -> VerdictSettings:
    """The verdict's scale (calibrated by default) and its rule: each checkpoint's own verdict rule
    (chosen when it was calibrated, on normal footage and pseudo-anomalies, never test labels) unless
    the user sets the target false-alarm rate, smoothing and alert rules by hand; bound to the
    working context (Score and Compare share them). Returns VerdictSettings."""
    def bound(name: str, default, options=None) -> dict:
        return state.bind(state.widget_key(page, name), _verdict_name(page, name), default, options)

    col_scale, col_far = st.columns(2)
    by_hand = st.toggle("Set the verdict rule by hand", help="Off: each model judges with its own verdict rule "
                        "(score pooling, false-alarm rate, smoothing, event length), chosen without test labels on "
                        "normal footage and pseudo-anomalies; `vadlab info` shows it.", **bound("by_hand", False))
    normalize = col_scale.selectbox(
        "Score scale", list(VERDICT_SCALES), format_func=VERDICT_SCALES.get,
        help="calibrated: how unusual a frame is compared with normal frames this model never trained on, so a "
             "threshold means the same on every clip. Per-video min-max stretches every clip to peak at 1: fine "
             "for benchmarks, but even a normal clip then raises alerts.",
        **bound("normalize", "calibrated", list(VERDICT_SCALES)),
    )
    if not by_hand:
        col_far.caption("Rule: each model's own (false-alarm rate, smoothing, event length)")
        return VerdictSettings(normalize=normalize)
    far = col_far.selectbox(
        "Target false-alarm rate", list(FAR_CHOICES),
        format_func=lambda f: f"{format_far(f)} normal frames", disabled=normalize != "calibrated",
        help="The calibrated threshold expects this many false alarms per normal frame.",
        **bound("far", DEFAULT_FAR, list(FAR_CHOICES)),
    )
    with st.expander("Smoothing and alert rules"):
        col_smooth, col_length, col_gap = st.columns(3)
        smooth = col_smooth.slider("Smoothing σ (frames)", 0.0, 10.0, step=0.5,
                                   help="Gaussian smoothing over time, applied before the scale.",
                                   **bound("smooth", float(DEFAULT_SMOOTH)))
        min_length, merge_gap = _alert_rule_inputs(page, col_length, col_gap)
    return VerdictSettings(normalize=normalize, far=float(far), smooth_sigma=float(smooth), min_length=min_length,
                           merge_gap=merge_gap)


def protocol_controls(page: str, expanded: bool = True) -> Protocol:
    """The scoring protocol of an evaluation (`vadlab eval --pooling --patch --normalize --smooth
    --keep-undecidable`); the defaults are the papers' protocol. Bound to the working context
    (Evaluate and Compare share it). Returns a Protocol."""
    def bound(name: str, default, options=None) -> dict:
        ctx_name = f"protocol.{name}" if page in ("evaluate", "compare") else f"{page}.protocol.{name}"
        return state.bind(state.widget_key(page, f"protocol.{name}"), ctx_name, default, options)

    with st.expander("Scoring protocol", expanded=expanded):
        col_pool, col_norm, col_frames = st.columns(3)
        pooling = col_pool.selectbox("Pooling", list(POOLING_LABELS), format_func=POOLING_LABELS.get,
                                     help="How a frame's error map becomes one score. Patch and top-k catch small "
                                          "anomalous objects a frame mean averages away (families with error maps).",
                                     **bound("pooling", "mean", list(POOLING_LABELS)))
        patch = col_pool.selectbox("Patch size (model pixels)", list(PATCH_SIZES), disabled=pooling != "patch",
                                   **bound("patch", PATCH_SIZES[-1], list(PATCH_SIZES)))
        normalize = col_norm.selectbox("Normalisation", list(PROTOCOL_NORMALIZATIONS), format_func=PROTOCOL_NORMALIZATIONS.get,
                                       help="Per-video min-max is the papers' protocol; calibrated needs a calibrated checkpoint.",
                                       **bound("normalize", "minmax", list(PROTOCOL_NORMALIZATIONS)))
        smooth = col_norm.slider("Smoothing σ (frames)", 0.0, 10.0, step=0.5,
                                 help="Gaussian smoothing of each video's scores over time, before normalisation.",
                                 **bound("smooth", 0.0))
        drop = col_frames.checkbox("Drop undecidable first frames",
                                   help="The first frames of a video no full window covers have no score of their own "
                                        "(they copy the first one); FFP's evaluation drops them.",
                                   **bound("drop_undecidable", True))
    return Protocol(pooling=pooling, patch=int(patch), normalize=normalize, smooth_sigma=float(smooth),
                    drop_undecidable=bool(drop))


def threshold_slider(page: str, values: np.ndarray, normalize: str, calibration: Optional[Calibration] = None,
                     far: Optional[float] = None, key: Optional[str] = None) -> float:
    """The alert threshold on the verdict's scale (frames with value >= threshold are flagged).

    values: (N,) the scores on that scale (to size the range). On the calibrated scale the default
    is the checkpoint's threshold for the target false-alarm rate `far`, and the range covers the
    values, 0 and the threshold; on min-max it is [0, 1] from 0.5. Moving it never re-scores."""
    scale = verdict_scale(normalize, calibration)
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if scale == "calibrated":  # None: the checkpoint's verdict rule decides
        far = far if far is not None else calibration.verdict_rule.far
        key = key or calibration.verdict_rule.key
    default = default_threshold(values, normalize, calibration, far, key)
    if scale == "minmax":
        low, high, step = 0.0, 1.0, 0.01
    else:
        low = float(np.floor(min(values.min(), default) * 10) / 10) if values.size else 0.0
        high = float(np.ceil(max(values.max(), default) * 10) / 10) if values.size else 1.0
        if scale == "calibrated":
            # whole standard deviations, 0 (a typical normal frame) and room above the threshold in
            # view: a little smoothing does not move the range (and so reset the slider)
            low, high = min(float(np.floor(low)), 0.0), max(float(np.ceil(high)), float(np.ceil(default)) + 1.0)
        high = max(high, low + 0.1)
        step = float(10 ** np.floor(np.log10((high - low) / 100)))  # about 100 to 1000 steps
    default = float(np.clip(default, low, high))
    # the key changes with the range and the default: a new clip, model or false-alarm rate starts
    # again from its own default instead of keeping a value from another scale
    name = "threshold" if scale == "minmax" else f"threshold_{scale}_{low:g}_{high:g}_{default:.6g}"
    group = "verdict" if page in ("score", "compare") else page
    return float(st.slider("Threshold", low, high, step=step,
                           help="A frame is flagged anomalous when its score is at or above the threshold."
                                + (f" Default: the calibrated threshold for {format_far(far)} false alarms per "
                                   "normal frame." if scale == "calibrated" else ""),
                           **state.bind_threshold(state.widget_key(page, name), f"{group}:{name}", default, low, high)))


def _alert_rule_inputs(page: str, col_length, col_gap) -> tuple[int, int]:
    min_length = col_length.number_input("Minimum event length (frames)", 1, 1000,
                                         help="Shorter runs of flagged frames raise no alert (a verdict, not one noisy frame).",
                                         **state.bind(state.widget_key(page, "min_length"), _verdict_name(page, "min_length"),
                                                      int(DEFAULT_MIN_LENGTH)))
    merge_gap = col_gap.number_input("Merge events closer than (frames)", 0, 1000,
                                     **state.bind(state.widget_key(page, "merge_gap"), _verdict_name(page, "merge_gap"), 0))
    return int(min_length), int(merge_gap)


def alert_rules(page: str) -> tuple[int, int]:
    """Event rules, as `vadlab score --min-length --merge-gap`: runs of flagged frames separated by
    at most `merge_gap` frames merge into one event; events shorter than `min_length` (default 3
    frames) are dropped."""
    with st.expander("Alert rules"):
        col_length, col_gap = st.columns(2)
        return _alert_rule_inputs(page, col_length, col_gap)
