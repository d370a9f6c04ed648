"""st_dcgan: the two-stream (appearance + motion) generator, multistage channel attention, the
alternating GAN step with its discriminator accuracy, and scoring at the tiny preset."""
from __future__ import annotations

import math

import pytest
import torch

from vadlab.models.layers import ChannelAttention
from vadlab.models.st_dcgan import StDcgan, motion_input
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec


def _moving_square_clip(b: int, c: int, t: int, h: int, w: int) -> torch.Tensor:
    """A bright square moving right one pixel per frame over a dark background, in [-1, 1]."""
    clip = torch.full((b, c, t, h, w), -0.8)
    for i in range(b):
        for f in range(t):
            x0 = 8 + 2 * i + f
            clip[i, :, f, 20:30, x0 : x0 + 10] = 0.9
    return clip


def _batch(model: StDcgan, b: int = 4) -> Batch:
    c = model.config
    clip = _moving_square_clip(b, c.channels, c.window, c.height, c.width)
    return Batch(clip=clip, target=clip[:, :, -1], label=None, frame_index=torch.arange(b))


@pytest.fixture()
def model() -> StDcgan:
    torch.manual_seed(0)
    return create_model("st_dcgan", "tiny")


def _capture_input(module: torch.nn.Module, run) -> torch.Tensor:
    seen = []
    handle = module.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach().clone()))
    try:
        run()
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0]


def test_motion_stream_receives_frame_differences(model):
    clip = torch.rand(2, 1, model.config.window, 64, 64) * 2 - 1
    first_motion_conv = model.generator.motion_stream[0].conv
    first_appearance_conv = model.generator.appearance_stream[0].conv
    seen_motion = _capture_input(first_motion_conv, lambda: model.reconstruct(clip))
    seen_appearance = _capture_input(first_appearance_conv, lambda: model.reconstruct(clip))
    assert seen_motion.shape == clip.shape
    torch.testing.assert_close(seen_motion[:, :, 1:], clip[:, :, 1:] - clip[:, :, :-1])
    assert torch.all(seen_motion[:, :, 0] == 0)  # no previous frame for frame 0
    torch.testing.assert_close(seen_appearance, clip)  # the appearance stream sees the frames


def test_static_clip_gives_all_zero_motion_input(model):
    frame = torch.rand(2, 1, 1, 64, 64) * 2 - 1
    static = frame.expand(-1, -1, model.config.window, -1, -1).contiguous()
    assert torch.count_nonzero(motion_input(static)) == 0
    seen = _capture_input(model.generator.motion_stream[0].conv, lambda: model.reconstruct(static))
    assert torch.count_nonzero(seen) == 0
    # ... while a moving clip does feed the motion stream
    assert torch.count_nonzero(motion_input(_moving_square_clip(1, 1, 4, 64, 64))) > 0


def test_channel_attention_after_every_decoder_stage_reweights_channels(model):
    model.eval()
    attentions = [m for m in model.generator.decoder.modules() if isinstance(m, ChannelAttention)]
    assert len(attentions) == len(model.config.widths) == len(model.generator.decoder)
    records = []
    handles = [a.register_forward_hook(lambda mod, args, out: records.append((args[0].detach(), out.detach())))
               for a in attentions]
    with torch.no_grad():
        model.reconstruct(_batch(model).clip)
    for h in handles:
        h.remove()
    assert len(records) == len(attentions)
    for inp, out in records:
        assert inp.ndim == 5  # (B, C, T, H, W): attention over 3D feature maps
        assert not torch.allclose(inp, out)  # it changes the activations
        mask = inp.abs() > 1e-6
        ratio = torch.where(mask, out / inp.where(mask, torch.ones_like(inp)), torch.nan)  # (B, C, T, H, W)
        per_channel = ratio.flatten(2).nanmean(-1)  # (B, C) the SE gate per sample and channel
        spread = (ratio.flatten(2) - per_channel.unsqueeze(-1)).abs().nan_to_num(0.0).amax()
        assert spread < 1e-4  # one multiplicative weight per (sample, channel): a CHANNEL gate
        assert torch.all((per_channel > 0) & (per_channel < 1))  # sigmoid weights
        assert per_channel.std() > 1e-4  # channels are weighted differently


def test_train_steps_report_gan_losses_and_accuracy_and_reconstruction_improves(model):
    batch = _batch(model)
    optimizers = model.configure_optimizers()
    assert set(optimizers) == {"generator", "discriminator"}
    model.train()
    history = [model.train_step(batch, optimizers) for _ in range(6)]
    for losses in history:
        assert {"g_loss", "d_loss", "reconstruction", "d_accuracy"} <= set(losses)
        assert all(math.isfinite(v) for v in losses.values())
        assert 0.0 <= losses["d_accuracy"] <= 1.0
        # accuracy counts windows: a multiple of 1 / (2 * batch size)
        assert abs(losses["d_accuracy"] * 8 - round(losses["d_accuracy"] * 8)) < 1e-6
    assert history[-1]["reconstruction"] < history[0]["reconstruction"]


def test_discriminator_accuracy_is_fraction_of_correct_decisions(model):
    # A discriminator that calls everything real is right on every real window and wrong on every
    # reconstruction: accuracy exactly 1/2.
    with torch.no_grad():
        model.discriminator.classifier.bias.fill_(1e4)
    losses = model.train_step(_batch(model), model.configure_optimizers())
    assert losses["d_accuracy"] == pytest.approx(0.5)


def test_score_is_the_last_frames_reconstruction_error_and_validation_the_whole_windows(model):
    # shapes, range, score = error map mean, anomaly_score = score and its gradient: the shared family
    # tests (tests/core/test_models_all.py, FamilyContract) check them for every family
    batch = _batch(model, b=3)
    model.eval()
    out = model.score_clip(batch)
    # the score is the MSE of the LAST frame's reconstruction, recomputed here from `reconstruct`
    with torch.no_grad():
        reconstruction = model.reconstruct(batch.clip)  # (B, C, T, H, W)
    last = reconstruction[:, :, -1]
    torch.testing.assert_close(out.output, last)
    torch.testing.assert_close(out.score, ((last - batch.target) ** 2).mean(dim=(1, 2, 3)))
    torch.testing.assert_close(out.error_map, ((last - batch.target) ** 2).mean(dim=1))
    # the validation loss is the MSE over the WHOLE window (every frame, every sample)
    whole_window = float(((reconstruction - batch.clip) ** 2).mean())
    assert model.validation_loss(batch) == pytest.approx(whole_window, rel=1e-5)


def test_score_is_zero_for_a_perfect_reconstruction_and_the_mse_of_a_corruption(model):
    """With the generator replaced by the identity, an unchanged scored frame scores exactly 0 and
    a frame with a 0.5 offset on a 16 x 16 patch scores 0.25 x 256 / (64 x 64): the score is the
    squared error against the target, averaged over pixels and channels."""
    model.eval()
    model.generator.forward = lambda clip: clip  # a perfect reconstructor
    batch = _batch(model, b=2)
    assert torch.all(model.score_clip(batch).score == 0)
    assert model.validation_loss(batch) == 0
    corrupted_target = batch.target.clone()
    corrupted_target[1, :, 40:56, 40:56] += 0.5
    corrupted = Batch(clip=batch.clip, target=corrupted_target, label=None, frame_index=batch.frame_index)
    out = model.score_clip(corrupted)
    c = model.config
    expected = 0.25 * 16 * 16 / (c.height * c.width)
    assert out.score[0].item() == 0.0 and out.score[1].item() == pytest.approx(expected, rel=1e-6)
    assert out.error_map[1, 40:56, 40:56].eq(0.25).all() and out.error_map[1].sum().item() == pytest.approx(64.0)


def test_registry_and_config_checks():
    spec = get_spec("st_dcgan")
    assert spec.score_kind == "mse" and spec.target == "window" and not spec.supervised
    paper = spec.config("paper")
    assert paper.channels == 3 and paper.height == 128 and paper.reconstruction_weight == 100.0
    with pytest.raises(ValueError, match="divisible by 8"):
        create_model("st_dcgan", "tiny", height=60)
    with pytest.raises(ValueError, match="at least 2 frames"):
        create_model("st_dcgan", "tiny", window=1)
