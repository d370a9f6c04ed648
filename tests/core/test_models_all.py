"""Every registered family at its tiny preset: train a few steps -> save -> load -> score.

The tests grow with the registry: `FamilyContract` is the shared family test base (what every
family does, whatever its paper) and `TestEveryFamily` runs it over `registry.list_models()`, as
timm and anomalib do, so a family is covered the moment it is registered; no list to edit here.
Per-family files (`tests/core/test_<family>.py`) keep only what is particular to a family.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from vadlab import registry
from vadlab.checkpoint import load_checkpoint, save_checkpoint
from vadlab.models.layers import psnr
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec, list_models

EXPECTED = {"conv_ae", "ffp", "st_dcgan", "latent_gan", "lrcn_gan", "valt_gan", "svd_gan"}
ROOT = Path(__file__).resolve().parents[2]


def test_all_seven_families_are_registered():
    assert EXPECTED <= set(list_models())


def make_batch(model, batch_size: int = 4, seed: int = 0) -> Batch:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(batch_size, c.channels, c.window, c.height, c.width, generator=g) * 2 - 1  # (B, C, T, H, W)
    target = torch.rand(batch_size, c.channels, c.height, c.width, generator=g) * 2 - 1  # (B, C, H, W)
    label = torch.tensor([0.0, 1.0] * (batch_size // 2))
    return Batch(clip=clip, target=target, label=label, frame_index=torch.arange(batch_size))


def trained_tiny(family: str, steps: int = 2):
    """A tiny model of `family` after `steps` training steps (one per epoch, so two-phase families such
    as lrcn_gan run both phases), in eval mode and prepared for scoring."""
    torch.manual_seed(0)
    model = create_model(family, "tiny")
    optimizers = model.configure_optimizers()
    model.train()
    for epoch in range(steps):
        model.on_epoch_start(epoch, steps)
        losses = model.train_step(make_batch(model, seed=epoch), optimizers)
        assert losses and all(np.isfinite(v) for v in losses.values()), losses
    model.eval()
    model.prepare_for_scoring([make_batch(model, seed=5)])
    return model


class FamilyContract:
    """The shared family test base: what every registered family does at its tiny preset. A subclass
    provides the `family` fixture (a family name)."""

    def test_spec_is_consistent(self, family):
        spec = get_spec(family)
        assert spec.name == family and spec.model_class.family == family
        assert {"paper", "tiny"} <= set(spec.presets)  # the published size and one that trains in seconds
        assert all(isinstance(cfg, spec.config_class) for cfg in spec.presets.values())
        assert dataclasses.is_dataclass(spec.config_class) and spec.config_class.__dataclass_params__.frozen
        assert spec.target in ("window", "next") and spec.score_kind and spec.paper and spec.summary
        assert type(create_model(family, "tiny")) is spec.model_class

    def test_trains_saves_loads_and_scores(self, family, tmp_path):
        spec = get_spec(family)
        model = trained_tiny(family)
        batch = make_batch(model, seed=7)
        out = model.score_clip(batch)
        c = model.config
        assert out.score.shape == (4,) and out.raw.shape == (4,)
        assert torch.isfinite(out.score).all() and torch.isfinite(out.raw).all()
        if out.output is not None:
            assert out.output.shape == (4, c.channels, c.height, c.width)
            assert out.output.min() >= -1 and out.output.max() <= 1  # frames live in [-1, 1]
        if out.error_map is not None:
            assert out.error_map.shape == (4, c.height, c.width)
            assert (out.error_map >= 0).all()
        assert np.isfinite(model.validation_loss(batch))

        path = save_checkpoint(tmp_path / family, model, window=c.window, target=spec.target, score_kind=spec.score_kind)
        loaded, meta = load_checkpoint(path)
        assert meta["model"] == family and type(loaded) is type(model)
        assert loaded.config == model.config
        original, restored = model.state_dict(), loaded.state_dict()
        assert original.keys() == restored.keys()
        for key in original:
            assert torch.equal(original[key].cpu(), restored[key].cpu()), f"{family}: {key} did not round-trip bit-exactly"
        again = loaded.score_clip(batch)
        assert torch.equal(again.score, out.score)

    def test_anomaly_score_is_differentiable(self, family):
        """Captum attributes `anomaly_score`: it must give an input gradient of the clip's shape."""
        model = create_model(family, "tiny").eval()
        model.prepare_for_scoring([make_batch(model, seed=5)])  # e.g. latent_gan's bank of normal codes
        batch = make_batch(model, batch_size=2)
        clip = batch.clip.clone().requires_grad_(True)
        score = model.anomaly_score(clip, batch.target)
        assert score.shape == (2,)
        score.sum().backward()
        assert clip.grad is not None and clip.grad.shape == clip.shape
        assert torch.isfinite(clip.grad).all()

    def test_anomaly_score_is_the_score_it_explains(self, family):
        """What Captum attributes is the score the app shows: `anomaly_score` equals `score_clip`'s
        score, and its input gradient is not zero (the trained model depends on its input)."""
        model = trained_tiny(family)
        batch = make_batch(model, seed=7)
        out = model.score_clip(batch)
        clip = batch.clip.clone().requires_grad_(True)
        score = model.anomaly_score(clip, batch.target)
        torch.testing.assert_close(score.detach(), out.score, rtol=1e-4, atol=1e-4)
        score.sum().backward()
        assert clip.grad.abs().sum() > 0

    def test_score_kind_means_what_it_says(self, family):
        """"mse": the score is the error map's mean (raw = score); "psnr": raw is the PSNR (dB) of the
        output against the target and the score is its negative (higher = more anomalous)."""
        spec = get_spec(family)
        model = trained_tiny(family)
        batch = make_batch(model, seed=7)
        out = model.score_clip(batch)
        if spec.score_kind == "mse":
            torch.testing.assert_close(out.score, out.error_map.flatten(1).mean(1))
            torch.testing.assert_close(out.raw, out.score)
        elif spec.score_kind == "psnr":
            torch.testing.assert_close(out.raw, psnr(out.output, batch.target))
            torch.testing.assert_close(out.score, -out.raw)


class TestEveryFamily(FamilyContract):
    @pytest.fixture(params=list_models())
    def family(self, request) -> str:
        return request.param


def test_every_unsupervised_family_has_a_cpu_preset():
    """`bench/ped2.py --preset cpu` and the shipped `*_ped2_cpu` checkpoints rely on it."""
    assert {n for n in list_models() if "cpu" in get_spec(n).presets} >= {n for n in list_models() if not get_spec(n).supervised}


@pytest.mark.parametrize("name", sorted(n for n in list_models() if "cpu" in get_spec(n).presets))
def test_cpu_preset_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    model = create_model(name, "cpu")
    assert (model.config.height, model.config.width) == (64, 64)
    losses = model.train_step(make_batch(model, batch_size=2), model.configure_optimizers())
    assert all(np.isfinite(v) for v in losses.values()), losses


# ------------------------------------------------------------------- a family added by one file
THROWAWAY_FAMILY = '''
"""A one-layer 3-D convolutional autoencoder: a throwaway family, one file plus its registration."""
from dataclasses import dataclass

import torch
from torch import nn

from vadlab.models.base import BaseConfig, WindowReconstructor
from vadlab.registry import register_model


@dataclass(frozen=True)
class ThrowawayConfig(BaseConfig):
    hidden: int = 4


class ThrowawayAE(WindowReconstructor):
    """A throwaway 3-D convolutional autoencoder (registry test)."""

    config_class = ThrowawayConfig

    def __init__(self, config: ThrowawayConfig):
        super().__init__(config)
        self.encode = nn.Conv3d(config.channels, config.hidden, 3, padding=1)
        self.decode = nn.Conv3d(config.hidden, config.channels, 3, padding=1)

    def reconstruct(self, clip: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decode(torch.relu(self.encode(clip))))  # (B, C, T, H, W)

    def configure_optimizers(self):
        return {"autoencoder": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def train_step(self, batch, optimizers) -> dict:
        loss = (self.reconstruct(batch.clip) - batch.reconstruction_target).pow(2).mean()
        optimizers["autoencoder"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["autoencoder"].step()
        return {"reconstruction": float(loss.detach())}


register_model("throwaway_ae", presets={"paper": ThrowawayConfig(height=128, width=128), "tiny": ThrowawayConfig(height=32, width=32),
                                        "cpu": ThrowawayConfig()},
               score_kind="mse", target="window", paper="none (a test family)")(ThrowawayAE)
'''


@pytest.fixture()
def throwaway_family_file(tmp_path) -> Path:
    path = tmp_path / "throwaway_family.py"
    path.write_text(textwrap.dedent(THROWAWAY_FAMILY))
    return path


def test_a_family_registered_in_one_file_is_picked_up_by_the_generic_tests(throwaway_family_file, tmp_path):
    # in this process: registering the file's family makes it a family like the others; unregistered after
    module_spec = importlib.util.spec_from_file_location("throwaway_family", throwaway_family_file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
        assert "throwaway_ae" in list_models()
        TestEveryFamily().test_trains_saves_loads_and_scores("throwaway_ae", tmp_path)
    finally:
        registry._REGISTRY.pop("throwaway_ae", None)
    assert "throwaway_ae" not in list_models()

    # a fresh test run with the file loaded (as a plugin, before collection) and no other edit:
    # every generic test is collected for the new family and passes
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(throwaway_family_file.parent), str(ROOT),
                                                       os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "throwaway_family", "-p", "no:cacheprovider",
                          str(Path(__file__)), "-k", "throwaway_ae"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    generic = [name for name in dir(FamilyContract) if name.startswith("test_")]
    expected = len(generic) + 1  # and its cpu preset trains a step
    assert run.returncode == 0 and f"{expected} passed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
