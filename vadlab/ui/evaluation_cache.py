"""Dataset scores and evaluations for the Evaluate and Compare pages: every labelled test video of a
dataset scored once per checkpoint, kept for every session of this server (`cache.result_store`) and
on disk between restarts (`vadlab.store`: the score files and their summaries, which the zoo table
shows), re-using the clips this session scored already; evaluations under any protocol are views of
those scores (`api.evaluate_scored`), so a protocol change never re-scores. One clip with its labels
is evaluated as a dataset of one video. A progress bar shows while scoring.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st

from vadlab import api, store, zoo
from vadlab.data.datasets import VideoDataset
from vadlab.data.video import probe_video
from vadlab.outputs import EvalResult, FrameScores
from vadlab.protocol import PAPER, Protocol
from vadlab.ui.cache import (MAX_SIDE, ClipSource, checkpoint_calibration, checkpoint_key, clip_scores_key, dataset,
                             dataset_identity, display_spec, load_model, max_frames, result_store, score)
from vadlab.zoo import CheckpointEntry


def checkpoint_digest(entry: CheckpointEntry) -> str:
    """`vadlab.store.checkpoint_digest` of a checkpoint as loaded here: its recorded weights digest
    (sha256), the scoring code's digest and the device kind."""
    meta = load_model(entry).metadata
    weights = str(meta.get("weights_sha256") or meta.get("digest") or checkpoint_key(entry))
    return store.checkpoint_digest(weights, entry.family, str(load_model(entry).device).split(":")[0])


def _cache_stem(entry: CheckpointEntry, ds: VideoDataset) -> Path:
    return store.cache_stem(checkpoint_digest(entry), store.dataset_digest(ds))


def _reusable_clip_scores(entry: CheckpointEntry, record, ds: VideoDataset, spec: str) -> Optional[FrameScores]:
    """Scores of a dataset video that a page of this session computed already (Score, Explain,
    Compare on the same clip with the same checkpoint), when its decoded frames are exactly those an
    evaluation decodes (no downscale, no cut: the app's limits did not apply)."""
    source = ClipSource.from_path(record.source, "dataset", name=record.name, fps=ds.fps, dataset=spec)
    hit = result_store().get(clip_scores_key(entry, source))
    if hit is None or len(hit) != (record.n_frames or -1):
        return None
    try:
        info = probe_video(record.source)
    except Exception:  # noqa: BLE001
        return None
    if max(info.width, info.height) > min(MAX_SIDE, 640) or info.n_frames > min(max_frames(), 3000):
        return None
    return hit


def _score_dataset(entry: CheckpointEntry, spec: str, ds: VideoDataset, keep_maps: bool) -> api.DatasetScores:
    """api.score_dataset, re-using the videos this session has scored already."""
    records = [r for r in ds.test if r.labels is not None]
    reused: dict[str, FrameScores] = {}
    for record in records:
        hit = _reusable_clip_scores(entry, record, ds, spec)
        if hit is not None:
            hit = hit if keep_maps else dataclasses.replace(hit, error_maps=None, outputs=None)
            reused[record.name] = dataclasses.replace(hit, labels=np.asarray(record.labels).astype(np.uint8))
    remaining = [r.name for r in records if r.name not in reused]
    scored = api.DatasetScores({}, {}, decode_seconds=0.0, score_seconds=0.0, n_frames=0)
    if remaining:
        loaded = load_model(entry)
        label = f"Scoring {display_spec(spec)} with {entry.name}"
        if reused:
            label += f" ({len(reused)} of {len(records)} videos scored already in this session)"
        bar = st.progress(0.0, text=f"{label}…")
        try:
            scored = api.score_dataset(loaded, ds, keep_maps=keep_maps, videos=remaining,
                                       progress=lambda f, name: bar.progress(min(f, 1.0), text=f"{label}: {name}"))
        finally:
            bar.empty()
    scores = {r.name: reused.get(r.name) or scored.scores[r.name] for r in records}
    labels = {name: fs.labels for name, fs in scores.items()}
    n_frames = sum(len(fs) for fs in scores.values())
    # frames/s is measured on the videos scored here; the reused ones count at the same rate
    rate = scored.n_frames / scored.score_seconds if scored.n_frames and scored.score_seconds > 0 else None
    return api.DatasetScores(scores, labels, decode_seconds=scored.decode_seconds,
                             score_seconds=n_frames / rate if rate else 0.0, n_frames=n_frames)


def dataset_scores(entry: CheckpointEntry, spec: str, keep_maps: bool = False) -> api.DatasetScores:
    """Scores of every labelled test video of a dataset (as api.score_dataset), computed once per
    checkpoint + dataset: kept for every session of this server, and on disk (without error maps)
    keyed by the checkpoint's and the dataset's digests, so an evaluation is scored once, even across
    restarts. Videos this session scored already (on Score, Explain, Compare) are not scored again.
    A progress bar shows while scoring."""
    ds = dataset(spec)
    key = ("dataset", checkpoint_key(entry), spec, dataset_identity(ds), keep_maps)
    hit = result_store().get(key)
    if hit is None and not keep_maps:  # scores with maps serve a request without them too
        hit = result_store().get(key[:-1] + (True,))
    if hit is not None:
        return hit
    stem = _cache_stem(entry, ds)
    if not keep_maps:
        hit = store.load_scores(stem)
        if hit is not None:
            return result_store().put(key, hit)
    scored = _score_dataset(entry, spec, ds, keep_maps)
    result_store().put(key, scored)
    try:
        result = api.evaluate_scored(ds, scored, protocol=PAPER, calibration=checkpoint_calibration(entry))
        summary = {"checkpoint": entry.name, "path": entry.path, "checkpoint_digest": checkpoint_digest(entry),
                   "weights_sha256": load_model(entry).metadata.get("weights_sha256"), "dataset_spec": spec,
                   "dataset": display_spec(spec), "dataset_kind": ds.name, "micro_auc": zoo.finite(result.micro_auc),
                   "macro_auc": zoo.finite(result.macro_auc), "protocol": PAPER.short(), "n_frames": scored.n_frames}
        store.save_scores(stem, scored, summary)
    except OSError:  # a read-only disk: the cache is an optimisation
        pass
    return scored


def has_dataset_scores(entry: CheckpointEntry, spec: str) -> bool:
    """Whether an evaluation of this checkpoint on this dataset can show at once (scores in this
    server's memory or on disk)."""
    try:
        ds = dataset(spec)
        key = ("dataset", checkpoint_key(entry), spec, dataset_identity(ds))
        if result_store().get(key + (False,)) is not None or result_store().get(key + (True,)) is not None:
            return True
        return _cache_stem(entry, ds).with_suffix(".npz").is_file()
    except Exception:  # noqa: BLE001 - the evaluation itself reports what is wrong
        return False


def evaluate_dataset(entry: CheckpointEntry, spec: str, protocol: Protocol = PAPER, pixel_level: bool = False) -> EvalResult:
    """Frame-level evaluation of a checkpoint on a dataset under a scoring protocol: the same numbers
    as `api.evaluate` / `vadlab eval` with the same protocol (the same scores through
    `api.evaluate_scored`), but the scores are cached, so changing the protocol does not re-score."""
    scored = dataset_scores(entry, spec, keep_maps=pixel_level)
    return api.evaluate_scored(dataset(spec), scored, pixel_level=pixel_level, protocol=protocol,
                               calibration=checkpoint_calibration(entry))


def protocol_table(entry: CheckpointEntry, spec: str) -> list[dict]:
    """`api.protocol_table` of a checkpoint on a dataset, from the cached scores (computed once)."""
    scored = dataset_scores(entry, spec)
    key = ("protocol_table", checkpoint_key(entry), spec, dataset_identity(dataset(spec)))
    return result_store().get_or_compute(key, lambda: api.protocol_table(load_model(entry), dataset(spec), scored=scored))


def clip_scores_and_labels(entry: CheckpointEntry, source: ClipSource,
                           labels: Optional[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({name: raw scores}, {name: labels}) of one clip, ready for `metrics.evaluate`.

    labels: (N,) 0/1 for the clip (an uploaded labels file); default: the source's own labels.
    Raises ValueError when there are none or their length differs from the decoded frame count."""
    scored = clip_dataset_scores(entry, source, labels)
    return {n: fs.scores for n, fs in scored.scores.items()}, dict(scored.labels)


def clip_dataset_scores(entry: CheckpointEntry, source: ClipSource, labels: Optional[np.ndarray] = None) -> api.DatasetScores:
    """One clip's cached scores with its ground truth, as a one-video DatasetScores (so a clip is
    evaluated under a protocol exactly as a dataset is).

    labels: (N,) 0/1 for the clip (an uploaded labels file); default: the source's own labels.
    Raises ValueError when there are none or their length differs from the decoded frame count."""
    frame_scores = score(entry, dataclasses.replace(source, labels=None))
    truth = labels if labels is not None else source.labels
    if truth is None:
        raise ValueError(f"{source.name}: no ground truth; upload a labels file (CSV/JSON/npy/.mat/.m)")
    truth = np.asarray(truth).astype(np.uint8).ravel()
    if len(truth) != len(frame_scores):
        raise ValueError(f"{source.name}: {len(truth)} labels but the video has {len(frame_scores)} decoded frames; "
                         "give one 0/1 label per frame")
    with_labels = dataclasses.replace(frame_scores, labels=truth)
    return api.DatasetScores({source.name: with_labels}, {source.name: truth}, decode_seconds=0.0, score_seconds=0.0,
                             n_frames=len(frame_scores))


def evaluate_clip(entry: CheckpointEntry, source: ClipSource, labels: Optional[np.ndarray] = None,
                  protocol: Protocol = PAPER) -> EvalResult:
    """Frame-level evaluation of one clip against its labels under a protocol (as a dataset of one
    video: `api.evaluate_scored`)."""
    scored = clip_dataset_scores(entry, source, labels)
    # no dataset: `evaluate_scored` reads it only for pixel-level AUC, which a clip does not offer
    return api.evaluate_scored(None, scored, protocol=protocol, calibration=checkpoint_calibration(entry))
