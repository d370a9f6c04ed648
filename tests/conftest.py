"""Shared fixtures: the repo root, the committed sample videos, the real datasets (when present)."""
from __future__ import annotations

import os
from pathlib import Path

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
