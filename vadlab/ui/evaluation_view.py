"""Evaluation views (Evaluate, and Compare on a dataset): headline numbers with their protocol,
curves, the confusion matrix at a threshold, per-video AUC, the summary table, the in-sample warning
of supervised checkpoints, and the protocol explorer (every common protocol from one scoring pass).

Everything is computed from cached scores (`vadlab.ui.cache`): a protocol change never re-scores.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import streamlit as st

from vadlab import api, plots
from vadlab.calibration import Calibration
from vadlab.metrics import postprocess, threshold_metrics
from vadlab.outputs import EvalResult
from vadlab.protocol import Protocol
from vadlab.ui import state
from vadlab.ui.cache import in_sample_on
from vadlab.ui.evaluation_cache import evaluate_dataset, protocol_table
from vadlab.zoo import CheckpointEntry

def pooled(scores: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], normalize: str,
           smooth_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """All videos' post-processed scores and labels concatenated in the order `metrics.evaluate`
    uses (sorted names): the frames behind the micro curves."""
    names = sorted(scores)
    pooled_scores = np.concatenate([postprocess(scores[n], normalize=normalize, smooth_sigma=smooth_sigma) for n in names])
    pooled_labels = np.concatenate([np.asarray(labels[n]).astype(np.int8) for n in names])
    return pooled_scores, pooled_labels


def protocol_frames(scored: api.DatasetScores, protocol: Protocol,
                    calibration: Optional[Calibration] = None) -> tuple[np.ndarray, np.ndarray]:
    """The frames an evaluation under `protocol` counts, as (scores, labels) concatenated in
    `metrics.evaluate`'s order: its pooling, frames dropped or kept, calibration, smoothing and
    normalisation applied exactly as `api.evaluate_scored` does."""
    scores, labels = api.protocol_scores(scored, protocol, calibration)
    return pooled(scores, labels, "none" if protocol.normalize == "calibrated" else protocol.normalize,
                  protocol.smooth_sigma)


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


def metric_cards(name: str, result: EvalResult) -> None:
    """The headline numbers of one evaluation as st.metric cards (4 decimals, as `vadlab eval`)."""
    st.markdown(f"##### {name}")
    columns = st.columns(6 if result.pixel_auc is not None else 5)
    columns[0].metric("Micro AUC", _fmt(result.micro_auc), help="ROC AUC over all frames of all videos.")
    columns[1].metric("Macro AUC", _fmt(result.macro_auc), help="Mean per-video AUC (videos with both classes).")
    columns[2].metric("EER", _fmt(result.eer), help="Equal error rate: where false alarms = misses.")
    columns[3].metric("PR-AUC", _fmt(result.pr_auc), help="Average precision, anomalous = positive.")
    columns[4].metric("Frames / s", "n/a" if not np.isfinite(result.frames_per_second) else f"{result.frames_per_second:.0f}",
                      help="Scoring throughput (decoding excluded).")
    if result.pixel_auc is not None:
        columns[5].metric("Pixel AUC", _fmt(result.pixel_auc), help="Error maps against pixel masks.")
    if result.protocol:
        st.caption(f"Protocol: {protocol_description(result)}.")
    if result.single_class_videos:
        st.caption(f"Single-class videos (left out of the macro AUC): {', '.join(result.single_class_videos)}")


def protocol_description(result: EvalResult) -> str:
    """The one-line description of the protocol an evaluation was made under."""
    return str((result.protocol or {}).get("description") or Protocol.from_dict(result.protocol).describe())


def summary_table(results: Mapping[str, EvalResult]) -> None:
    """One row per evaluation with full-precision numbers."""
    rows = []
    for name, result in results.items():
        summary = {k: v for k, v in result.summary().items() if k != "single_class_videos"}
        summary["protocol"] = protocol_description(result)  # a string: a table cell, not a dict
        rows.append({"checkpoint": name, **summary, "eer_threshold": result.eer_threshold})
    st.dataframe(rows, hide_index=True, width="stretch")


def curves(results: Mapping[str, EvalResult]) -> None:
    """ROC and PR curves, variants overlaid, EER marked."""
    col_roc, col_pr = st.columns(2)
    col_roc.plotly_chart(plots.roc_figure(results), width="stretch", config={"displaylogo": False})
    col_roc.caption("ROC: true positive rate against false positive rate as the threshold sweeps; × marks the EER.")
    col_pr.plotly_chart(plots.pr_figure(results), width="stretch", config={"displaylogo": False})
    col_pr.caption("Precision-recall: how many flagged frames are truly anomalous, against how many anomalies are found.")


def threshold_report(scores: np.ndarray, labels: np.ndarray, threshold: float) -> None:
    """Confusion matrix and precision / recall / F1 at one threshold."""
    counts = threshold_metrics(scores, labels, threshold)
    col_matrix, col_numbers = st.columns([3, 2])
    col_matrix.plotly_chart(plots.confusion_figure(counts, title=f"Confusion matrix at threshold {threshold:.2f}"),
                            width="stretch", config={"displaylogo": False})
    col_numbers.metric("Precision", f"{counts['precision']:.3f}")
    col_numbers.metric("Recall", f"{counts['recall']:.3f}")
    col_numbers.metric("F1", f"{counts['f1']:.3f}")
    col_numbers.caption(f"Accuracy {counts['accuracy']:.3f}, false positive rate {counts['fpr']:.3f}.")


def in_sample_warnings(entries: Sequence[CheckpointEntry]) -> None:
    """An st.warning for every supervised checkpoint: its numbers on its own labelled data are
    in-sample, not a generalisation figure."""
    for entry in entries:
        data = in_sample_on(entry)
        if data:
            st.warning(f"**In-sample:** {entry.name} is supervised: it was trained on the labelled videos of "
                       f"{data}; its numbers on that data are not a generalisation figure. For honest ones, see "
                       f"`vadlab cv --model {entry.family} --data SPEC` (cross-validation over videos).",
                       icon=":material/school:")


PROTOCOL_TABLE_COLUMNS = {
    "paper": st.column_config.TextColumn("", width="small"),
    "micro AUC": st.column_config.NumberColumn(format="%.4f"),
    "macro AUC": st.column_config.NumberColumn(format="%.4f"),
    "EER": st.column_config.NumberColumn(format="%.4f"),
}


def protocol_explorer(page: str, entry: CheckpointEntry, spec: str) -> None:
    """One checkpoint's micro / macro AUC and EER under every protocol of `protocol_grid`
    (`api.protocol_table`, from the cached scores: nothing re-scores; the paper's protocol first),
    and the ROC curves of any two of them overlaid."""
    rows = protocol_table(entry, spec)
    table = []
    for row in rows:
        p = row["protocol"]
        table.append({
            "paper": "paper" if p["paper"] else "",
            "protocol": p["description"],
            "pooling": p["pooling"] + (f" {p['patch']}" if p["pooling"] == "patch" else
                                       f" {p['topk']:g}" if p["pooling"] == "topk" else ""),
            "normalisation": p["normalize"],
            "smoothing σ": p["smooth_sigma"],
            "first frames": "dropped" if p["drop_undecidable"] else "kept",
            "micro AUC": row["micro_auc"],
            "macro AUC": row["macro_auc"],
            "EER": row["eer"],
        })
    st.dataframe(table, hide_index=True, width="stretch", column_config=PROTOCOL_TABLE_COLUMNS,
                 column_order=[*[c for c in table[0] if c != "protocol"], "protocol"] if table else None)
    spread = [r["micro_auc"] for r in rows if np.isfinite(r["micro_auc"])]
    if spread:
        st.caption(f"{entry.name}: micro AUC from {min(spread):.4f} to {max(spread):.4f} over {len(rows)} protocols, "
                   "from one scoring pass. A number without its protocol is not comparable.")
    protocols = {row["protocol"]["description"]: Protocol.from_dict(row["protocol"]) for row in rows}
    names = list(protocols)
    col_a, col_b = st.columns(2)
    first = col_a.selectbox("Protocol A", names, index=0, key=state.widget_key(page, "protocol_a"))
    second = col_b.selectbox("Protocol B", names, index=min(1, len(names) - 1), key=state.widget_key(page, "protocol_b"))
    chosen = {f"A: {first}": evaluate_dataset(entry, spec, protocols[first]),
              f"B: {second}": evaluate_dataset(entry, spec, protocols[second])}
    st.plotly_chart(plots.roc_figure(chosen, title=f"ROC of {entry.name} under two protocols"), width="stretch",
                    config={"displaylogo": False}, key=state.widget_key(page, "protocol_roc"))


def per_video_table(results: Mapping[str, EvalResult]) -> None:
    """AUC of every video (columns: checkpoints)."""
    names = sorted({v for r in results.values() for v in r.per_video_auc})
    rows = []
    for video_name in names:
        row: dict = {"video": video_name}
        for name, result in results.items():
            value = result.per_video_auc.get(video_name, float("nan"))
            row[name] = None if not np.isfinite(value) else round(value, 4)
        rows.append(row)
    import pandas as pd

    frame = pd.DataFrame(rows)
    columns = [c for c in frame.columns if c != "video"]
    st.dataframe(frame, hide_index=True, width="stretch", placeholder="n/a",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in columns})
    if frame[columns].isna().to_numpy().any():
        st.caption("n/a: a single-class video (all normal or all anomalous), where an AUC is undefined.")
