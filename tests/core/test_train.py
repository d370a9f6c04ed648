"""The training loop: a real learning test, resume, best-epoch policy, distributed data parallel."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from vadlab import api
from vadlab.registry import create_model
from vadlab.train import TrainConfig, fit, split_train_val


def test_conv_ae_learns_synthetic_anomalies(samples_dir, tmp_path):
    """conv_ae, tiny preset, trained on the committed normal clips on CPU, must separate the
    anomalous test frames: frame-level micro AUC >= 0.90 (a real learning test)."""
    loaded, result = api.train("conv_ae", f"synthetic:{samples_dir}", tmp_path / "conv_ae", preset="tiny",
                               epochs=6, device="cpu", train_config=TrainConfig(seed=0))
    metrics = loaded.metadata["metrics"]
    assert metrics["micro_auc"] >= 0.90, metrics
    # the history is real: the reconstruction loss went down
    losses = [h["reconstruction"] for h in result.history]
    assert losses[-1] < losses[0]
    # and `eval` on the saved checkpoint reproduces the number stored at training time
    res = api.evaluate(api.load(tmp_path / "conv_ae", device="cpu"), f"synthetic:{samples_dir}")
    assert res.micro_auc == pytest.approx(metrics["micro_auc"], abs=1e-9)


def test_the_same_train_command_gives_the_same_weights(samples_dir, tmp_path):
    """Seeding covers the initial weights: two runs of one command, whatever ran before them in the
    process, give bit-identical checkpoints (so every figure in the README can be re-made)."""
    cfg = TrainConfig(seed=3, max_steps_per_epoch=2)
    weights = []
    for run in ("a", "b"):
        torch.rand(7)  # a different global RNG state before each run
        loaded, _ = api.train("valt_gan", f"synthetic:{samples_dir}", tmp_path / run, preset="tiny", epochs=1,
                              device="cpu", train_config=cfg, evaluate_after=False)
        weights.append(loaded.model.state_dict())
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def _videos(n=2, frames=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 255, (frames, 1, 64, 64), dtype=torch.uint8, generator=g) for _ in range(n)]


def test_validation_split_holds_out_video_tails():
    videos = _videos(2, 40)
    train, val = split_train_val(videos, 0.25, min_frames=5)
    assert [v.shape[0] for v in train] == [30, 30] and [v.shape[0] for v in val] == [10, 10]
    assert torch.equal(val[0], videos[0][30:])


def _snapshot_each_epoch(model, events: list) -> "callable":
    """An `on_event` callback that records every event and, at each epoch end, a copy of the
    model's state dict as it is right then (that epoch's weights)."""
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def on_event(event) -> None:
        events.append(event)
        if event.kind == "epoch":
            snapshots[event.epoch + 1] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    on_event.snapshots = snapshots
    return on_event


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_best_epoch_is_chosen_on_validation_loss_and_restored(tmp_path):
    model = create_model("conv_ae", "tiny", epochs=3)
    events = []
    on_event = _snapshot_each_epoch(model, events)
    result = fit(model, _videos(), TrainConfig(val_fraction=0.25, max_steps_per_epoch=2),
                 torch.device("cpu"), "window", on_event=on_event)
    val = [h["val_loss"] for h in result.history]
    assert result.best_epoch == int(np.argmin(val)) + 1
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 3
    # the model ends holding exactly the weights it had at the end of the best epoch
    assert _same_weights(model.state_dict(), on_event.snapshots[result.best_epoch])


def test_best_epoch_restored_when_it_is_not_the_last(tmp_path):
    """Validation losses scripted to 0.5, 0.2, 0.9: epoch 2 is the best and epoch 3 (the last)
    is worse, so `fit` must put epoch 2's weights back; keeping the last weights fails this."""
    model = create_model("conv_ae", "tiny", epochs=3)
    scripted = [0.5, 0.2, 0.9]
    current = {"epoch": -1}
    on_epoch_start = model.on_epoch_start

    def record_epoch(epoch: int, total_epochs: int) -> None:
        current["epoch"] = epoch
        on_epoch_start(epoch, total_epochs)

    model.on_epoch_start = record_epoch  # instance attributes: fit calls these two
    model.validation_loss = lambda batch: scripted[current["epoch"]]
    events = []
    on_event = _snapshot_each_epoch(model, events)
    result = fit(model, _videos(), TrainConfig(val_fraction=0.25, max_steps_per_epoch=2),
                 torch.device("cpu"), "window", on_event=on_event)
    assert [h["val_loss"] for h in result.history] == pytest.approx(scripted)
    assert result.best_epoch == 2 and result.best_val_loss == pytest.approx(0.2)
    assert [e.best_epoch for e in events if e.kind == "epoch"] == [1, 2, 2]
    best, last = on_event.snapshots[2], on_event.snapshots[3]
    assert not _same_weights(best, last)  # epoch 3 trained: its weights differ from epoch 2's
    assert _same_weights(model.state_dict(), best)
    assert not _same_weights(model.state_dict(), last)


def test_resume_continues_from_saved_state(tmp_path):
    state = tmp_path / "run.trainstate"
    m1 = create_model("conv_ae", "tiny", epochs=2)
    fit(m1, _videos(), TrainConfig(max_steps_per_epoch=1), torch.device("cpu"), "window", state_path=state)
    assert Path(str(state) + ".json").exists()
    m2 = create_model("conv_ae", "tiny", epochs=3)
    res = fit(m2, _videos(), TrainConfig(max_steps_per_epoch=1), torch.device("cpu"), "window",
              state_path=state, resume=True)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]  # epochs 1-2 came from the state file


def test_cancel_raises():
    from vadlab.train import TrainingCancelled

    with pytest.raises(TrainingCancelled):
        fit(create_model("conv_ae", "tiny", epochs=1), _videos(), TrainConfig(), torch.device("cpu"), "window",
            should_stop=lambda: True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.manual_seed(rank)  # different init per rank: the loop must broadcast rank 0's weights
    model = create_model("conv_ae", "tiny", epochs=1, batch_size=4)
    fit(model, _videos(2, 24), TrainConfig(val_fraction=0.0, max_steps_per_epoch=3),
        torch.device("cpu"), "window")
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.save(flat, Path(out_dir) / f"rank{rank}.pt")  # test-internal file, written by the test itself
    torch.distributed.destroy_process_group()


def test_ddp_two_processes_on_cpu_keep_replicas_identical(tmp_path, monkeypatch):
    """2 processes, gloo backend: after training, both replicas hold identical weights."""
    import types

    # spawned children re-run the parent's __main__ file; after an AppTest that is a page script,
    # so give them a bare __main__ (the worker itself is imported from this module)
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert torch.equal(a, b)


def test_torchrun_runs_the_same_train_command(samples_dir, tmp_path):
    """`torchrun --nproc_per_node 2 -m vadlab train ...` is the multi-GPU command; on CPU it uses gloo."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "vadlab", "train", "--model", "conv_ae", "--preset", "tiny", "--data", f"synthetic:{samples_dir}",
           "--epochs", "1", "--max-steps", "2", "--out", str(out), "--device", "cpu", "--no-eval", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["model"] == "conv_ae" and meta["training"]["steps"] == 2


def test_init_from_copies_weights_and_refuses_mismatches(tmp_path):
    """Knowledge transfer (`--init-from`): same family and shapes -> every tensor copied; else a clear error."""
    from vadlab.checkpoint import save_checkpoint

    source = create_model("st_dcgan", "tiny", epochs=1)
    fit(source, _videos(), TrainConfig(max_steps_per_epoch=1), torch.device("cpu"), "window")
    save_checkpoint(tmp_path / "src", source, window=4, target="window", score_kind="mse")

    target = create_model("st_dcgan", "tiny")
    copied = api.init_from_checkpoint(target, tmp_path / "src")
    assert set(copied) == set(source.state_dict())
    for k, v in source.state_dict().items():
        assert torch.equal(v, target.state_dict()[k])

    with pytest.raises(ValueError, match="shapes do not match"):
        api.init_from_checkpoint(create_model("st_dcgan", "tiny", widths=(8, 8, 8)), tmp_path / "src")
    with pytest.raises(ValueError, match="cannot initialise"):
        api.init_from_checkpoint(create_model("conv_ae", "tiny"), tmp_path / "src")


def test_a_budget_shorter_than_one_epoch_stops_inside_it_with_a_selected_calibrated_checkpoint(samples_dir, tmp_path):
    """`max_seconds` is checked between steps: a zero budget stops after the first step of the first
    epoch, and the run still validates, selects, calibrates and saves, saying it was cut."""
    loaded, result = api.train("conv_ae", f"synthetic:{samples_dir}", tmp_path / "cut", preset="tiny", epochs=3,
                               device="cpu", train_config=TrainConfig(seed=0, max_seconds=0.0), evaluate_after=False)
    assert result.stopped_early and result.steps == 1 and result.best_epoch == 1
    assert len(result.history) == 1
    record = result.history[0]
    assert record["cut_by_budget"] is True and record["epoch_steps"] == 1 and np.isfinite(record["val_loss"])
    assert loaded.metadata["training"]["stopped_early"] is True
    assert loaded.metadata.get("calibration"), "the cut run is calibrated like any other"
    reloaded = api.load(tmp_path / "cut", device="cpu")
    assert reloaded.metadata["training"]["stopped_early"] is True


def test_a_resume_state_is_never_torn_and_names_its_tensors(tmp_path):
    """Each epoch's tensors go to their own file and the JSON, written last, names it with its
    sha256: a run killed after writing new tensors but before the JSON resumes from the previous
    complete epoch (never trains an epoch twice on mixed state), and tampered tensors are refused."""
    from vadlab.trainstate import TrainStateError, save_train_state

    state = tmp_path / "run.trainstate"
    m1 = create_model("conv_ae", "tiny", epochs=2)
    fit(m1, _videos(), TrainConfig(max_steps_per_epoch=1), torch.device("cpu"), "window", state_path=state)
    meta = json.loads(Path(str(state) + ".json").read_text())
    assert meta["epoch"] == 1 and meta["tensors"] == "run.trainstate.e0001.safetensors"
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == ["run.trainstate.e0001.safetensors"]
    # a kill between the new tensors and the new JSON: a stray e0002 file, the JSON still at epoch 1
    stray = create_model("conv_ae", "tiny")
    save_train_state(tmp_path / "other.trainstate", stray, stray.configure_optimizers(), 2, [], {})
    (tmp_path / "other.trainstate.e0002.safetensors").rename(tmp_path / "run.trainstate.e0002.safetensors")
    m2 = create_model("conv_ae", "tiny", epochs=3)
    res = fit(m2, _videos(), TrainConfig(max_steps_per_epoch=1), torch.device("cpu"), "window",
              state_path=state, resume=True)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]  # resumed after epoch 2 of 3 (0-based 1), once
    # tampered tensors: refused, naming the file
    tensors = tmp_path / json.loads(Path(str(state) + ".json").read_text())["tensors"]
    tensors.write_bytes(tensors.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(TrainStateError, match=tensors.name):
        fit(create_model("conv_ae", "tiny", epochs=4), _videos(), TrainConfig(max_steps_per_epoch=1),
            torch.device("cpu"), "window", state_path=state, resume=True)


def test_device_resident_windows_train_exactly_as_the_host_path():
    """The CUDA data path (frames resident on the device, windows gathered there) run on the CPU:
    the same seed gives bit-identical weights to the DataLoader path, pseudo-anomalies included; the
    fused Adam (also CUDA's default) trains too."""
    weights = []
    for resident in (False, True):
        torch.manual_seed(0)  # the same initial weights
        model = create_model("conv_ae", "tiny", pseudo_anomaly_prob=0.5, epochs=2)
        fit(model, _videos(3, 30), TrainConfig(seed=1, resident_windows=resident, fused_optimizers=False),
            torch.device("cpu"), "window")
        weights.append(model.state_dict())
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
    fused = create_model("conv_ae", "tiny", epochs=2)
    result = fit(fused, _videos(3, 30), TrainConfig(seed=1, resident_windows=True, fused_optimizers=True),
                 torch.device("cpu"), "window")
    assert result.history[-1]["reconstruction"] < result.history[0]["reconstruction"]
    assert fused.configure_optimizers  # the model itself is untouched by the optimizer choice
