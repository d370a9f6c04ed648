"""Shared fixtures: the repo root, the committed sample videos, the real datasets (when present)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

# Before torch (and its libgomp) load: OpenMP threads that wait sleep instead of spinning. With the
# default (active) policy a waiting thread spins on its core; when the other core is busy (a training,
# a served app, another CI job), torch's two threads keep preempting each other in every barrier:
# tests/core/test_pseudo_anomaly.py's loss test took 115 s beside a one-thread training, 9.8 s with
# OMP_WAIT_POLICY=PASSIVE (same machine, same minute). Subprocesses (the CLI, Streamlit servers) inherit it.
# (A pytest started with a plugin that imports torch, as a few tests do, keeps the default: that run is short.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_videos"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

# Two cores on CI: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not (SAMPLES / "testing" / "labels.json").exists():
        pytest.fail("sample_videos/ is missing: run `python -m vadlab samples --out sample_videos`")
    return SAMPLES


@pytest.fixture(scope="session")
def ped2_dir() -> Path:
    path = SHARED_DATASETS / "ped2"
    if not path.exists():
        pytest.skip(f"UCSD Ped2 not found at {path} (real-data tests need ../shared/datasets beside the repo)")
    return path


def _independent_micro_auc(checkpoint, data: str) -> float:
    """Micro frame AUC of a checkpoint under the paper protocol, recomputed outside
    `vadlab.metrics`: the frame scores of the frames a full window scored (the undecidable first
    frames dropped), per-video min-max (constant video -> zeros), concatenated, sklearn's AUC."""
    from sklearn.metrics import roc_auc_score

    from vadlab import api

    scored = api.score_dataset(api.load(checkpoint, device="cpu"), data)
    scores, labels = [], []
    for name in sorted(scored.scores):
        fs = scored.scores[name]
        keep = np.asarray(fs.scored, dtype=bool)
        s = np.asarray(fs.scores, dtype=np.float64)[keep]
        span = s.max() - s.min()
        scores.append((s - s.min()) / span if span > 0 else np.zeros_like(s))
        labels.append(np.asarray(scored.labels[name])[keep])
    return float(roc_auc_score(np.concatenate(labels), np.concatenate(scores)))


@pytest.fixture(scope="session")
def independent_micro_auc() -> Callable[..., float]:
    """`f(checkpoint, data_spec)`: the paper-protocol micro AUC recomputed with sklearn, to check
    the figures vadlab reports against."""
    return _independent_micro_auc
