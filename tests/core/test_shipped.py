"""The shipped checkpoints: each one loads, and the test metrics in its metadata are reproduced.

The README and the app's model zoo quote the AUC stored in each checkpoint's JSON. This test scores
the same test split again and checks that it gives the same figures, so a stored number can never
drift away from the weights beside it. Ped2 checkpoints are re-evaluated only when the UCSD Ped2
data is beside the repo (`../shared/datasets/ped2`); otherwise they skip with a message.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from vadlab import api
from vadlab.checkpoint import read_metadata
from vadlab.protocol import Protocol

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.with_suffix("") for p in (ROOT / "checkpoints").glob("*.safetensors"))
WITH_METRICS = [p for p in SHIPPED if read_metadata(p).get("metrics", {}).get("micro_auc") is not None]


def _data_spec(eval_data: str) -> tuple[str, Path]:
    """'kind:relative/path' (relative to the repo root, as the training command ran) -> spec, path."""
    kind, _, path = eval_data.partition(":")
    resolved = (ROOT / path).resolve()
    return f"{kind}:{resolved}", resolved


def test_there_are_shipped_checkpoints_for_every_family():
    from vadlab.registry import list_models

    families = {read_metadata(p)["model"] for p in SHIPPED}
    assert set(list_models()) <= families


@pytest.mark.parametrize("stem", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoint_loads_on_cpu(stem):
    loaded = api.load(stem, device="cpu")
    assert loaded.metadata["model"] == loaded.model.family
    assert not Path(str(stem) + ".trainstate.json").exists()


@pytest.mark.parametrize("stem", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoint_is_calibrated_on_normal_frames(stem):
    cal = api.load(stem, device="cpu").calibration
    assert cal is not None, f"{stem.name}: no calibration (run `vadlab calibrate`)"
    assert cal.count >= 100 and cal.frames and not cal.in_sample
    assert cal.for_key("mean").threshold(1e-3) >= 3.09  # never below the Gaussian quantile


@pytest.mark.parametrize("stem", WITH_METRICS, ids=lambda p: p.name)
def test_stored_metrics_are_reproduced(stem):
    meta = read_metadata(stem)
    stored = meta["metrics"]
    assert stored.get("protocol"), f"{stem.name}: its metrics do not say under which protocol they were made"
    protocol = Protocol.from_dict(stored["protocol"])
    spec, path = _data_spec(stored["eval_data"])
    if not path.exists():
        pytest.skip(f"{stem.name} was evaluated on {stored['eval_data']}, which is not here ({path})")
    result = api.evaluate(api.load(stem, device="cpu"), spec, protocol=protocol)
    for key in ("micro_auc", "macro_auc", "eer"):
        if stored.get(key) is None:
            continue
        assert math.isclose(getattr(result, key), stored[key], abs_tol=2e-3), (
            f"{stem.name}: {key} is {getattr(result, key):.4f} now, the checkpoint says {stored[key]:.4f}")
