"""Plotly figures from numpy: anomaly timelines, ROC / PR curves, losses, confusion matrices, images,
and Explain's figures (attributions, SVD rank-r panels and spectra, a scored frame's panels).

No Streamlit here: every function returns a `plotly.graph_objects.Figure`, so the same figures show
in the app, in Jupyter and in exported notebooks.

Conventions (as in `vadlab.metrics`): one score per frame, HIGHER = MORE ANOMALOUS; a frame is
flagged anomalous when `score >= threshold`; labels are 0/1 per frame, 1 = anomalous. Timelines put
the frame index on the x axis (hover shows the time in seconds), so a clicked point's `x` is a frame.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np
import plotly.graph_objects as go

from vadlab.outputs import EvalResult, Event, FrameScores

if TYPE_CHECKING:
    import torch

    from vadlab.explain import Attribution

__all__ = [
    "COLORS",
    "spans",
    "frame_outcomes",
    "timeline",
    "timelines",
    "roc_figure",
    "pr_figure",
    "loss_figure",
    "confusion_figure",
    "image_figure",
    "per_video_auc_figure",
    "attribution_figure",
    "spectrum_figure",
    "svd_figure",
    "frame_panels_figure",
    "scored_frame_figure",
    "clickable",
    "label_figure",
]

# One palette for every figure (colour-blind friendly, Okabe-Ito based).
COLORS = {
    "score": "#1f4e79",
    "threshold": "#c0392b",
    "flagged": "rgba(214, 39, 40, 0.16)",  # predicted anomalous span
    "ground_truth": "rgba(230, 159, 0, 0.55)",  # ground-truth band along the bottom
    "current": "#555555",
    "tp": "#d62728",  # anomaly caught
    "fn": "#e69f00",  # anomaly missed
    "fp": "#8e44ad",  # false alarm
    "tn": "#2ca02c",  # normal, not flagged
}
SERIES_COLORS = ["#1f4e79", "#d55e00", "#009e73", "#cc79a7", "#0072b2", "#e69f00", "#56b4e9", "#000000"]
OUTCOME_NAMES = {"tp": "true positive", "fp": "false positive", "fn": "false negative", "tn": "true negative"}


# ------------------------------------------------------------------------------------------ helpers
def _as_1d(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array with one value per frame, got shape {array.shape}")
    return array


def _as_labels(labels: Optional[np.ndarray], n_frames: int) -> Optional[np.ndarray]:
    if labels is None:
        return None
    array = np.asarray(labels).astype(np.int8).ravel()
    if array.shape[0] != n_frames:
        raise ValueError(f"labels: {array.shape[0]} labels for {n_frames} frames; need one label per frame")
    return array


def spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True in a 1-D bool mask as inclusive (start, end) frame pairs."""
    flags = np.asarray(mask, dtype=np.int8).ravel()
    edges = np.diff(np.concatenate(([0], flags, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def frame_outcomes(scores: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """Per-frame outcome at `threshold`: an (N,) array of "tp", "fp", "fn" or "tn" strings."""
    scores = _as_1d(scores, "scores")
    labels = _as_labels(labels, scores.shape[0])
    flagged = scores >= threshold
    positive = labels == 1
    out = np.full(scores.shape[0], "tn", dtype="<U2")
    out[flagged & positive] = "tp"
    out[flagged & ~positive] = "fp"
    out[~flagged & positive] = "fn"
    return out


def _base_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    top, bottom = 40, 100  # px; the legend sits under the x axis title, inside the bottom margin
    plot_height = max(height - top - bottom, 60)
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=50, r=20, t=top, b=bottom),
        template="plotly_white",
        legend=dict(orientation="h", yanchor="top", y=-48 / plot_height, xanchor="left", x=0.0, font=dict(size=11)),
        hovermode="closest",
    )
    return fig


def _legend_box(fig: go.Figure, name: str, color: str, group: str) -> None:
    """A legend entry for shaded shapes (shapes themselves carry no legend in every plotly.js)."""
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup=group,
                   marker=dict(symbol="square", size=12, color=color), hoverinfo="skip")
    )


# ---------------------------------------------------------------------------------------- timelines
def timeline(
    scores: np.ndarray,
    threshold: Optional[float] = None,
    labels: Optional[np.ndarray] = None,
    events: Optional[Sequence[Event]] = None,
    current_frame: Optional[int] = None,
    fps: float = 25.0,
    title: str = "Anomaly score per frame",
    name: str = "score",
    y_title: str = "anomaly score",
    height: int = 420,
) -> go.Figure:
    """The anomaly graph of one video: score per frame against the threshold.

    scores: (N,) per-frame scores (usually normalised to [0, 1]); the "score" trace has exactly one
    point per frame at x = frame index (hover shows time = index / fps seconds).
    threshold: drawn as a horizontal line; frames with score >= threshold are flagged.
    events: anomalous spans to shade in red (default: the runs of flagged frames).
    labels: (N,) 0/1 ground truth; when given, it is shaded as a band along the bottom, and every
    frame is marked as a true/false positive/negative at the threshold (the papers' anomaly graphs).
    current_frame: drawn as a dashed vertical line (the frame shown beside the chart).
    """
    scores = _as_1d(scores, "scores")
    n_frames = scores.shape[0]
    labels = _as_labels(labels, n_frames)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    frames = np.arange(n_frames)
    seconds = frames / fps
    fig = go.Figure()

    if threshold is not None:
        if events is not None:
            flagged_spans = [(e.start, e.end) for e in events]
        else:
            flagged_spans = spans(scores >= threshold)
        for start, end in flagged_spans:
            fig.add_vrect(x0=start - 0.5, x1=end + 0.5, fillcolor=COLORS["flagged"], line_width=0, layer="below")
        if flagged_spans:
            _legend_box(fig, "flagged anomalous", COLORS["flagged"].replace("0.16", "0.5"), "flagged")

    if labels is not None:
        for start, end in spans(labels == 1):
            fig.add_vrect(x0=start - 0.5, x1=end + 0.5, y0=0.0, y1=0.06, fillcolor=COLORS["ground_truth"],
                          line_width=0, layer="below")
        if labels.any():
            _legend_box(fig, "ground truth anomalous", COLORS["ground_truth"], "gt")

    fig.add_trace(
        go.Scatter(
            x=frames, y=scores, mode="lines", name=name, line=dict(color=COLORS["score"], width=2),
            customdata=seconds, hovertemplate="frame %{x}<br>t = %{customdata:.2f} s<br>score %{y:.3f}<extra></extra>",
        )
    )

    if labels is not None and threshold is not None:
        outcomes = frame_outcomes(scores, labels, threshold)
        for outcome in ("tp", "fn", "fp", "tn"):
            chosen = np.flatnonzero(outcomes == outcome)
            fig.add_trace(
                go.Scatter(
                    x=chosen, y=scores[chosen], mode="markers", name=f"{OUTCOME_NAMES[outcome]} ({chosen.size})",
                    marker=dict(color=COLORS[outcome], size=5 if outcome == "tn" else 6),
                    customdata=seconds[chosen], legendgroup=outcome,
                    hovertemplate=f"frame %{{x}}<br>t = %{{customdata:.2f}} s<br>score %{{y:.3f}}<br>{OUTCOME_NAMES[outcome]}<extra></extra>",
                )
            )

    if threshold is not None:
        fig.add_hline(y=float(threshold), line=dict(color=COLORS["threshold"], width=1.5, dash="dash"),
                      annotation_text=f"threshold {threshold:.2f}", annotation_position="top left",
                      annotation_font=dict(color=COLORS["threshold"], size=11))
    if current_frame is not None and 0 <= current_frame < n_frames:
        fig.add_vline(x=int(current_frame), line=dict(color=COLORS["current"], width=1.5, dash="dot"))

    _base_layout(fig, title, height)
    fig.update_xaxes(title_text=f"frame ({fps:g} fps)", range=[-0.5, max(n_frames - 0.5, 0.5)])
    fig.update_yaxes(title_text=y_title)
    return fig


def timelines(
    series: Mapping[str, np.ndarray],
    threshold: Optional[float] = None,
    labels: Optional[np.ndarray] = None,
    current_frame: Optional[int] = None,
    fps: float = 25.0,
    title: str = "Anomaly scores of several models",
    y_title: str = "anomaly score",
    height: int = 420,
) -> go.Figure:
    """Several score curves of the same video overlaid (Compare variants).

    series: model name -> (N,) scores (same N for all); one line trace per model with one point per
    frame. threshold, labels (ground truth band) and current_frame as in `timeline`.
    """
    if not series:
        raise ValueError("timelines: no score series given")
    lengths = {name: _as_1d(values, name).shape[0] for name, values in series.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"timelines: every series needs the same number of frames, got {lengths}")
    n_frames = next(iter(lengths.values()))
    labels = _as_labels(labels, n_frames)
    frames = np.arange(n_frames)
    seconds = frames / fps
    fig = go.Figure()
    if labels is not None:
        for start, end in spans(labels == 1):
            fig.add_vrect(x0=start - 0.5, x1=end + 0.5, fillcolor="rgba(230, 159, 0, 0.15)", line_width=0, layer="below")
        if labels.any():
            _legend_box(fig, "ground truth anomalous", COLORS["ground_truth"], "gt")
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=frames, y=_as_1d(values, name), mode="lines", name=name,
                line=dict(color=SERIES_COLORS[i % len(SERIES_COLORS)], width=2), customdata=seconds,
                hovertemplate=f"{name}<br>frame %{{x}}<br>t = %{{customdata:.2f}} s<br>score %{{y:.3f}}<extra></extra>",
            )
        )
    if threshold is not None:
        fig.add_hline(y=float(threshold), line=dict(color=COLORS["threshold"], width=1.5, dash="dash"),
                      annotation_text=f"threshold {threshold:.2f}", annotation_position="top left")
    if current_frame is not None and 0 <= current_frame < n_frames:
        fig.add_vline(x=int(current_frame), line=dict(color=COLORS["current"], width=1.5, dash="dot"))
    _base_layout(fig, title, height)
    fig.update_xaxes(title_text=f"frame ({fps:g} fps)")
    fig.update_yaxes(title_text=y_title)
    return fig


# ----------------------------------------------------------------------------------------- curves
def roc_figure(results: Mapping[str, EvalResult], title: str = "ROC curve (frame level, micro)", height: int = 420) -> go.Figure:
    """ROC curves of several evaluations overlaid, each with its equal-error-rate point marked.

    results: name -> EvalResult (its micro `fpr`/`tpr`); the legend shows each micro AUC. The EER
    point is where the false positive rate equals the miss rate: (EER, 1 - EER).
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(color="#aaaaaa", dash="dot"),
                             hoverinfo="skip"))
    for i, (name, result) in enumerate(results.items()):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        fig.add_trace(
            go.Scatter(x=result.fpr, y=result.tpr, mode="lines", name=f"{name} (AUC {result.micro_auc:.3f})",
                       line=dict(color=color, width=2), legendgroup=name,
                       hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra>" + name + "</extra>")
        )
        if np.isfinite(result.eer):
            fig.add_trace(
                go.Scatter(x=[result.eer], y=[1.0 - result.eer], mode="markers+text", name=f"{name} EER {result.eer:.3f}",
                           marker=dict(color=color, size=11, symbol="x"), text=[f"EER {result.eer:.3f}"],
                           textposition="bottom right", legendgroup=name, showlegend=False,
                           hovertemplate="EER %{x:.3f}<extra>" + name + "</extra>")
            )
    _base_layout(fig, title, height)
    fig.update_xaxes(title_text="false positive rate", range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(title_text="true positive rate", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1)
    fig.update_layout(legend=dict(orientation="v", yanchor="bottom", y=0.02, xanchor="right", x=0.98))
    return fig


def pr_figure(results: Mapping[str, EvalResult], title: str = "Precision-recall curve (anomalous = positive)", height: int = 420) -> go.Figure:
    """Precision-recall curves overlaid; the legend shows each PR-AUC (average precision) and the
    dotted line is the chance level (share of anomalous frames)."""
    fig = go.Figure()
    for i, (name, result) in enumerate(results.items()):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        fig.add_trace(
            go.Scatter(x=result.recall, y=result.precision, mode="lines", name=f"{name} (PR-AUC {result.pr_auc:.3f})",
                       line=dict(color=color, width=2, shape="hv"),
                       hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}<extra>" + name + "</extra>")
        )
        if result.n_frames:
            base = result.n_anomalous / result.n_frames
            fig.add_trace(go.Scatter(x=[0, 1], y=[base, base], mode="lines", showlegend=i == 0, name="chance",
                                     line=dict(color="#aaaaaa", dash="dot"), hoverinfo="skip"))
    _base_layout(fig, title, height)
    fig.update_xaxes(title_text="recall", range=[-0.01, 1.01])
    fig.update_yaxes(title_text="precision", range=[-0.01, 1.05])
    fig.update_layout(legend=dict(orientation="v", yanchor="bottom", y=0.02, xanchor="left", x=0.02))
    return fig


def loss_figure(
    history: Sequence[Mapping[str, float]],
    x_key: Optional[str] = None,
    title: str = "Training losses",
    skip: Sequence[str] = ("epoch", "step", "seconds"),
    height: int = 330,
) -> go.Figure:
    """One line per loss over training.

    history: a list of records {loss name: value, ...} (the per-epoch `TrainResult.history`, or the
    losses of step events); x_key: the record field used as x (e.g. "epoch" or "step"; default the
    record index + 1). Every other numeric field not in `skip` becomes a line; NaNs leave gaps.
    """
    fig = go.Figure()
    names: list[str] = []
    for record in history:
        for key, value in record.items():
            if key == x_key or key in skip or key in names:
                continue
            if isinstance(value, (int, float, np.floating)) and not isinstance(value, bool):
                names.append(key)
    xs = [record.get(x_key, i + 1) if x_key else i + 1 for i, record in enumerate(history)]
    for i, key in enumerate(names):
        ys = [float(record[key]) if key in record and record[key] is not None else np.nan for record in history]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if len(xs) < 40 else "lines", name=key,
                                 line=dict(color=SERIES_COLORS[i % len(SERIES_COLORS)], width=2)))
    _base_layout(fig, title, height)
    fig.update_xaxes(title_text=x_key or "record")
    fig.update_yaxes(title_text="loss")
    return fig


def confusion_figure(counts: Mapping[str, float], title: str = "Confusion matrix", height: int = 330) -> go.Figure:
    """2 x 2 confusion matrix from {tp, fp, tn, fn} counts (e.g. `metrics.threshold_metrics`).

    Rows: actual (normal, anomalous); columns: predicted (normal, anomalous); cells show the count
    and the share of that row.
    """
    for key in ("tp", "fp", "tn", "fn"):
        if key not in counts:
            raise ValueError(f"confusion_figure: counts need tp, fp, tn and fn; missing '{key}'")
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]], dtype=np.float64)
    row_totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, row_totals, out=np.zeros_like(matrix), where=row_totals > 0)
    names = [["true negative", "false positive"], ["false negative", "true positive"]]
    text = [[f"{names[r][c]}<br><b>{int(matrix[r, c])}</b><br>{shares[r, c]:.1%} of row" for c in range(2)] for r in range(2)]
    fig = go.Figure(
        go.Heatmap(z=shares, x=["predicted normal", "predicted anomalous"], y=["actual normal", "actual anomalous"],
                   text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1, showscale=False,
                   hoverinfo="skip")
    )
    _base_layout(fig, title, height)
    fig.update_yaxes(autorange="reversed")
    return fig


def per_video_auc_figure(per_video_auc: Mapping[str, float], title: str = "AUC per video", height: int = 300) -> go.Figure:
    """Bar chart of per-video AUCs (single-class videos, whose AUC is undefined, are left out)."""
    names = [name for name, value in per_video_auc.items() if np.isfinite(value)]
    values = [per_video_auc[name] for name in names]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color=COLORS["score"],
                           hovertemplate="%{x}: AUC %{y:.3f}<extra></extra>"))
    _base_layout(fig, title, height)
    fig.update_yaxes(title_text="AUC", range=[0, 1])
    return fig


# ----------------------------------------------------------------------------------------- images
def image_figure(image: np.ndarray, title: str = "", height: int = 300) -> go.Figure:
    """An image as a figure: uint8 (H, W, 3) RGB or (H, W) grey; float (H, W) maps become a heatmap."""
    array = np.asarray(image)
    fig = go.Figure()
    if array.ndim == 2 and array.dtype != np.uint8:
        fig.add_trace(go.Heatmap(z=array.astype(np.float64), colorscale="Inferno", showscale=True))
        fig.update_yaxes(autorange="reversed")
    elif array.ndim == 2:
        fig.add_trace(go.Image(z=np.repeat(array[..., None], 3, axis=2)))
    elif array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8:
        fig.add_trace(go.Image(z=array[..., :3]))
    else:
        raise ValueError(f"image_figure: expected uint8 (H, W, 3), uint8 (H, W) or a float (H, W) map, got {array.shape} {array.dtype}")
    _base_layout(fig, title, height)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


# ---------------------------------------------------------------------------------- interaction
def clickable(figure: go.Figure) -> go.Figure:
    """Make every frame of a timeline clickable: an invisible marker over each point of every line
    trace (plotly selects markers, not lines), carrying the line's hover text, so a click on any
    frame selects it, with or without the true/false-positive markers of ground truth."""
    for trace in list(figure.data):
        if getattr(trace, "mode", None) != "lines" or trace.x is None or len(trace.x) < 2:
            continue
        figure.add_trace(go.Scatter(
            x=trace.x, y=trace.y, mode="markers", name=f"{trace.name} · frames", showlegend=False,
            marker=dict(size=9, color="rgba(0,0,0,0)"), customdata=trace.customdata, hovertemplate=trace.hovertemplate,
            selected=dict(marker=dict(color="rgba(0,0,0,0)")), unselected=dict(marker=dict(opacity=0)),
        ))
        trace.hoverinfo, trace.hovertemplate = "skip", None  # the markers answer hover and clicks
    return figure


# ------------------------------------------------------------------------------------ labelling
def label_figure(change: np.ndarray, spans: list[tuple[int, int]], n_frames: int, current: int, fps: float,
                 pending: Optional[int] = None) -> go.Figure:
    """The labelling timeline: frame-to-frame change per frame, the anomalous spans as a shaded
    ground-truth band, the current frame (dotted) and a span start waiting for its end (dashed)."""
    fig = go.Figure()
    for start, end in spans:
        fig.add_vrect(x0=start - 0.5, x1=end + 0.5, fillcolor="rgba(230, 159, 0, 0.18)", line_width=0, layer="below")
        fig.add_vrect(x0=start - 0.5, x1=end + 0.5, y0=0.0, y1=0.08, fillcolor=COLORS["ground_truth"], line_width=0,
                      layer="below")
    if spans:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="anomalous (ground truth)",
                                 marker=dict(symbol="square", size=12, color=COLORS["ground_truth"]), hoverinfo="skip"))
    frames = np.arange(len(change))
    fig.add_trace(go.Scatter(
        x=frames, y=change, mode="lines+markers", name="change from the previous frame",
        line=dict(color=COLORS["score"], width=1.5), marker=dict(size=3), customdata=frames / fps,
        hovertemplate="frame %{x}<br>t = %{customdata:.2f} s<extra></extra>"))
    fig.add_vline(x=int(current), line=dict(color=COLORS["current"], width=1.5, dash="dot"))
    if pending is not None:
        fig.add_vline(x=int(pending), line=dict(color=COLORS["tn"], width=2, dash="dash"),
                      annotation_text="span start", annotation_position="top right")
    fig.update_layout(height=300, margin=dict(l=50, r=20, t=30, b=40), template="plotly_white", dragmode="select",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0), hovermode="closest")
    fig.update_xaxes(title_text=f"frame ({fps:g} fps)", range=[-0.5, max(n_frames - 0.5, 0.5)])
    fig.update_yaxes(title_text="change", range=[0, 1.05])
    return fig


# ---------------------------------------------------------------------------------------- explanations
# Explain's figures (the computations are `vadlab.explain`'s; imported when drawn: explain needs torch)
def attribution_figure(attr: "Attribution", frames: "Union[np.ndarray, torch.Tensor]", alpha: float = 0.55,
                       frame_labels: Optional[list[str]] = None) -> go.Figure:
    """Plotly figure: each window frame with its attribution map blended on it, then the sum over time.

    frames: the window's T frames, uint8 (T, H, W[, 3]) or (T, C, H, W), or the (1, C, T, H, W)
    clip. The per-frame maps share one colour scale (so frames can be compared); the spatial sum
    has its own. Hover shows the attribution value.
    """
    from plotly.subplots import make_subplots

    from vadlab.explain import METHOD_LABELS, error_heatmap, frames_rgb

    t = attr.maps.shape[0]
    rgb = frames_rgb(frames, t)
    labels = frame_labels or [f"t-{t - 1 - i}" if i < t - 1 else "t (last)" for i in range(t)]
    titles = [f"{lab} · {attr.per_frame[i] / max(attr.per_frame.sum(), 1e-12):.0%}" for i, lab in enumerate(labels)]
    fig = make_subplots(rows=1, cols=t + 1, subplot_titles=titles + ["sum over time"],
                        horizontal_spacing=0.01)
    shared = float(attr.maps.max()) or 1.0
    for i in range(t + 1):
        values = attr.maps[i] if i < t else attr.spatial
        background = rgb[i] if i < t else rgb[-1]
        top = shared if i < t else (float(values.max()) or 1.0)
        fig.add_trace(go.Image(z=error_heatmap(values, background, alpha=alpha, scale=top), hoverinfo="skip"), 1, i + 1)
        fig.add_trace(go.Heatmap(z=values, zmin=0, zmax=top, opacity=0.0, showscale=False,
                                 hovertemplate="x %{x}, y %{y}<br>attribution %{z:.3g}<extra></extra>"), 1, i + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(height=260, margin=dict(l=5, r=5, t=40, b=5),
                      title=f"{METHOD_LABELS.get(attr.method, attr.method)} · {attr.seconds:.2f} s")
    return fig


def spectrum_figure(result: dict[str, Any], max_values: Optional[int] = None) -> go.Figure:
    """Singular-value spectra (log scale) of the frame and its reconstruction, with their cumulative
    energy on a second axis and the chosen rank r marked. `result` is `explain.svd_explorer`'s dict."""
    from plotly.subplots import make_subplots

    n = len(result["frame_spectrum"]) if max_values is None else min(max_values, len(result["frame_spectrum"]))
    k = np.arange(1, n + 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for key, name, colour in (("frame", "frame", "#1f77b4"), ("reconstruction", "reconstruction", "#d62728")):
        fig.add_trace(go.Scatter(x=k, y=result[f"{key}_spectrum"][:n], name=f"σ {name}", mode="lines+markers",
                                 marker=dict(size=4), line=dict(color=colour)), secondary_y=False)
        fig.add_trace(go.Scatter(x=k, y=result[f"{key}_energy"][:n], name=f"energy {name}", mode="lines",
                                 line=dict(color=colour, dash="dot")), secondary_y=True)
    fig.add_vline(x=result["r"], line=dict(color="black", dash="dash"), annotation_text=f"r = {result['r']}")
    fig.update_yaxes(type="log", title_text="singular value", secondary_y=False)
    fig.update_yaxes(range=[0, 1.02], tickvals=[0, 0.25, 0.5, 0.75, 1.0], tickformat=".0%", showgrid=False,
                     title_text="cumulative energy", secondary_y=True)
    fig.update_xaxes(title_text="index k")
    fig.update_layout(height=320, margin=dict(l=5, r=5, t=30, b=5), legend=dict(orientation="h", y=-0.25))
    return fig


def svd_figure(result: dict[str, Any], frame_aspect: Optional[float] = None) -> go.Figure:
    """Three panels: the frame at rank r, the reconstruction at rank r, and their difference (what the
    SVD loss sees; diverging colours, 0 = white). Values in the range given to `explain.svd_explorer`.

    frame_aspect: the video frame's height / width; the panels (at model resolution, often square)
    are drawn with it, so a round object stays round (default: the model resolution's own)."""
    from plotly.subplots import make_subplots

    r = result["r"]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.02, subplot_titles=[
        f"frame, rank {r}", f"reconstruction, rank {r}", f"difference (‖·‖F = {result['difference_norm']:.3g})"])
    lo = float(min(result["frame_r"].min(), result["reconstruction_r"].min()))
    hi = float(max(result["frame_r"].max(), result["reconstruction_r"].max()))
    for col, key in ((1, "frame_r"), (2, "reconstruction_r")):
        fig.add_trace(go.Heatmap(z=result[key], colorscale="gray", zmin=lo, zmax=hi, showscale=False), 1, col)
    bound = float(np.abs(result["difference"]).max()) or 1.0
    fig.add_trace(go.Heatmap(z=result["difference"], colorscale="RdBu", zmid=0, zmin=-bound, zmax=bound,
                             colorbar=dict(thickness=10)), 1, 3)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", constrain="domain")
    h, w = np.asarray(result["frame_r"]).shape
    # one row drawn (H/W) / (h/w) as tall as one column is wide: the frame's aspect, not the model's
    ratio = (float(frame_aspect) if frame_aspect else h / w) * w / h
    for i in range(1, 4):
        fig.update_yaxes(scaleanchor=f"x{'' if i == 1 else i}", scaleratio=ratio, row=1, col=i)
    fig.update_layout(height=280, margin=dict(l=5, r=5, t=40, b=5))
    return fig


def frame_panels_figure(frame: np.ndarray, output: Optional[np.ndarray], error_map: Optional[np.ndarray],
                        title: str = "") -> go.Figure:
    """real | reconstruction or prediction | error heatmap on the frame, for one scored frame.

    frame, output: uint8 (H, W[, 3]) (output may be None for families without an image);
    error_map: (h, w) float or None."""
    from plotly.subplots import make_subplots

    from vadlab.explain import as_rgb, error_heatmap, resize_map

    real = as_rgb(frame)
    panels = [("real", real)]
    if output is not None:  # model resolution -> the frame's size, so the panels line up
        out = as_rgb(output).astype(np.float32)
        out = np.stack([resize_map(out[..., c], *real.shape[:2]) for c in range(3)], axis=-1)
        panels.append(("reconstruction / prediction", np.clip(out, 0, 255).round().astype(np.uint8)))
    if error_map is not None:
        panels.append(("error heatmap", error_heatmap(np.asarray(error_map, np.float32), as_rgb(frame))))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels], horizontal_spacing=0.02)
    for i, (_, image) in enumerate(panels):
        fig.add_trace(go.Image(z=image), 1, i + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=280, margin=dict(l=5, r=5, t=40, b=5), title=title or None)
    return fig


def scored_frame_figure(frame: np.ndarray, scores: FrameScores, index: int, title: str = "") -> go.Figure:
    """`frame_panels_figure` for frame `index` of a scored video.

    frame: the video's frame `index`, uint8 (H, W, 3) at any resolution; scores: its `FrameScores`
    (outputs / error maps at model resolution, when kept)."""
    if not 0 <= index < len(scores):
        raise IndexError(f"frame {index} is outside the video (0..{len(scores) - 1})")
    output = None if scores.outputs is None else scores.outputs[index].transpose(1, 2, 0)  # (h, w, C)
    error_map = None if scores.error_maps is None else scores.error_maps[index].astype(np.float32)
    return frame_panels_figure(frame, output, error_map, title=title)
