"""bench/train_speed.py's machinery on the CPU (the same code times CUDA with events): the per-phase
split sees data, forward, backward, optimizer and host synchronisation, the hooks it installs are
removed afterwards, and --set overrides reach the model. No timing is asserted."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("train_speed", ROOT / "bench" / "train_speed.py")
train_speed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_speed)


def test_measure_splits_a_step_into_phases_and_removes_its_hooks():
    originals = (torch.autograd.backward, torch.autograd.grad, torch.Tensor.item, torch.Tensor.__float__)
    row = train_speed.measure("conv_ae", "tiny", steps=2, warmup=1, device=torch.device("cpu"))
    assert (torch.autograd.backward, torch.autograd.grad, torch.Tensor.item, torch.Tensor.__float__) == originals
    for key in ("step_ms", "samples_s", "data_ms", "forward_ms", "backward_ms", "optimizer_ms", "sync_ms"):
        assert math.isfinite(row[key]) and row[key] >= 0, key
    assert row["forward_ms"] > 0 and row["backward_ms"] > 0 and row["optimizer_ms"] > 0 and row["data_ms"] > 0
    assert row["gflop_sample"] > 0


def test_phase_clock_nests_and_counts_float_once():
    clock = train_speed.PhaseClock(torch.device("cpu"))
    layer = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    with train_speed.phase_hooks(clock):
        clock.switch("forward")
        loss = layer(torch.ones(2, 3)).pow(2).mean()
        loss.backward()
        opt.step()
        value = float(loss)  # Tensor.__float__ -> item(): one sync interval
        clock.switch(None)
    seconds = clock.seconds()
    assert set(seconds) == {"forward", "backward", "optimizer", "sync"}
    assert all(v >= 0 for v in seconds.values()) and math.isfinite(value)
    assert seconds["sync"] == clock.totals["sync"]


def test_overrides_parse_as_json_or_text():
    assert train_speed.parse_overrides(["svd_method=full", "rank=4", "use_svd_loss=false"]) == {
        "svd_method": "full", "rank": 4, "use_svd_loss": False}
    row = train_speed.measure("svd_gan", "tiny", steps=1, warmup=0, overrides={"svd_method": "full", "batch_size": 2})
    assert row["batch"] == 2


def test_the_cuda_data_path_gives_the_host_batches():
    """On CUDA the bench feeds batches from device-resident windows; the same code on the CPU equals
    the host path batch for batch (crop included: both draw from the same seeded generator)."""
    from vadlab.registry import create_model

    for family, preset in (("svd_gan", "tiny"), ("ffp", "tiny")):
        model = create_model(family, preset)
        host = train_speed.batch_source(model, 3, torch.device("cpu"), resident=False)
        resident = train_speed.batch_source(model, 3, torch.device("cpu"), resident=True)
        for i in range(3):
            a, b = host(i), resident(i)
            assert torch.equal(a.clip, b.clip) and torch.equal(a.target, b.target)
            assert torch.equal(a.frame_index, b.frame_index)
