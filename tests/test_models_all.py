"""Every registered family at its tiny preset: train a few steps -> save -> load -> score.

New families are covered the moment they are registered.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlab.checkpoint import load_checkpoint, save_checkpoint
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec, list_models

EXPECTED = {"conv_ae", "ffp", "st_dcgan", "latent_gan", "lrcn_gan", "valt_gan", "svd_gan"}


def test_all_seven_families_are_registered():
    assert EXPECTED <= set(list_models())


def make_batch(model, batch_size: int = 4, seed: int = 0) -> Batch:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(batch_size, c.channels, c.window, c.height, c.width, generator=g) * 2 - 1  # (B, C, T, H, W)
    target = torch.rand(batch_size, c.channels, c.height, c.width, generator=g) * 2 - 1  # (B, C, H, W)
    label = torch.tensor([0.0, 1.0] * (batch_size // 2))
    return Batch(clip=clip, target=target, label=label, frame_index=torch.arange(batch_size))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_family_trains_saves_loads_and_scores(name, tmp_path):
    torch.manual_seed(0)
    spec = get_spec(name)
    model = create_model(name, "tiny")
    optimizers = model.configure_optimizers()
    model.train()
    for epoch in range(2):
        model.on_epoch_start(epoch, 2)  # lets two-phase families (lrcn_gan) run both phases
        losses = model.train_step(make_batch(model, seed=epoch), optimizers)
        assert losses and all(np.isfinite(v) for v in losses.values()), losses
    model.eval()
    model.prepare_for_scoring([make_batch(model, seed=5)])

    batch = make_batch(model, seed=7)
    out = model.score_clip(batch)
    c = model.config
    assert out.score.shape == (4,) and out.raw.shape == (4,)
    assert torch.isfinite(out.score).all() and torch.isfinite(out.raw).all()
    if out.output is not None:
        assert out.output.shape == (4, c.channels, c.height, c.width)
    if out.error_map is not None:
        assert out.error_map.shape == (4, c.height, c.width)
        assert (out.error_map >= 0).all()

    path = save_checkpoint(tmp_path / name, model, window=c.window, target=spec.target, score_kind=spec.score_kind)
    loaded, meta = load_checkpoint(path)
    assert meta["model"] == name and type(loaded) is type(model)
    assert loaded.config == model.config
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key].cpu(), restored[key].cpu()), f"{name}: {key} did not round-trip bit-exactly"
    again = loaded.score_clip(batch)
    assert torch.equal(again.score, out.score)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_anomaly_score_is_differentiable(name):
    """Captum attributes `anomaly_score`: it must give an input gradient of the clip's shape."""
    model = create_model(name, "tiny").eval()
    model.prepare_for_scoring([make_batch(model, seed=5)])  # e.g. latent_gan's bank of normal codes
    batch = make_batch(model, batch_size=2)
    clip = batch.clip.clone().requires_grad_(True)
    score = model.anomaly_score(clip, batch.target)
    assert score.shape == (2,)
    score.sum().backward()
    assert clip.grad is not None and clip.grad.shape == clip.shape
    assert torch.isfinite(clip.grad).all()


CPU_PRESET_FAMILIES = sorted(n for n in EXPECTED if "cpu" in get_spec(n).presets)


def test_every_unsupervised_family_has_a_cpu_preset():
    """`bench/ped2.py --preset cpu` and the shipped `*_ped2_cpu` checkpoints rely on it."""
    assert set(CPU_PRESET_FAMILIES) == {n for n in EXPECTED if not get_spec(n).supervised}


@pytest.mark.parametrize("name", CPU_PRESET_FAMILIES)
def test_cpu_preset_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    model = create_model(name, "cpu")
    assert (model.config.height, model.config.width) == (64, 64)
    losses = model.train_step(make_batch(model, batch_size=2), model.configure_optimizers())
    assert all(np.isfinite(v) for v in losses.values()), losses
