"""VALT-GAN: IFGSM latent mining, the temporal-shift stream, the backbone ablation, training and scoring."""
from __future__ import annotations

import math

import pytest
import torch

from vadlab.models.layers import temporal_shift
from vadlab.models.valt_gan import TemporalStream, ValtGAN, ValtGANConfig, ifgsm_mine
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec


def _batch(config: ValtGANConfig, b: int = 4, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(b, config.channels, config.window, config.height, config.width, generator=g) * 2 - 1
    target = torch.rand(b, config.channels, config.height, config.width, generator=g) * 2 - 1
    return Batch(clip=clip, target=target, frame_index=torch.arange(b))


def _model(**overrides) -> ValtGAN:
    torch.manual_seed(0)
    return create_model("valt_gan", "tiny", **overrides)


def _realness(model: ValtGAN, z: torch.Tensor) -> float:
    """D's mean score (probability 'real') of the frame decoded from z."""
    with torch.no_grad():
        return float(torch.sigmoid(model.discriminator(model.decoder(z))).mean())


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_registered_as_next_frame_psnr_family():
    spec = get_spec("valt_gan")
    assert spec.target == "next" and spec.score_kind == "psnr"
    assert {"paper", "tiny"} <= set(spec.presets)
    paper = spec.presets["paper"]
    assert (paper.window, paper.height, paper.width, paper.widen, paper.mining_steps, paper.mining_stop) == (4, 160, 160, 4, 10, 0.9)
    assert paper.eps in (0.8, 0.08, 0.008) and paper.lr == 2e-4


def test_ifgsm_stays_in_eps_ball_and_raises_discriminator_score():
    model = _model().eval()
    batch = _batch(model.config)
    with torch.no_grad():
        z0 = model.encoder(batch.clip)
    eps = 0.08
    mined = ifgsm_mine(z0, model.decoder, model.discriminator, eps=eps, steps=10, stop_score=2.0)  # never stops early
    assert mined.shape == z0.shape and not mined.requires_grad
    assert float((mined - z0).abs().max()) <= eps + 1e-6  # inside the L-inf ball
    assert float((mined - z0).abs().max()) > eps / 2  # and it did move
    # our documented reading: mining makes the prediction look MORE real to D
    assert _realness(model, mined) > _realness(model, z0)


def test_ifgsm_does_not_touch_parameter_grads_or_batchnorm_statistics():
    model = _model().train()
    batch = _batch(model.config)
    z0 = model.encoder(batch.clip)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ifgsm_mine(z0, model.decoder, model.discriminator, eps=0.08, steps=5, stop_score=2.0)
    after = model.state_dict()
    for name in ("decoder", "discriminator"):
        for k, v in before.items():
            if k.startswith(name):
                assert torch.equal(v, after[k]), k  # running means / counts unchanged
        assert all(p.grad is None for p in getattr(model, name).parameters())


def test_ifgsm_stops_when_discriminator_score_passes_threshold():
    model = _model().eval()
    batch = _batch(model.config)
    with torch.no_grad():
        z0 = model.encoder(batch.clip)
    start_score = _realness(model, z0)
    calls = _count_calls(model.decoder)

    mined = ifgsm_mine(z0, model.decoder, model.discriminator, eps=0.08, steps=10, stop_score=start_score - 1e-4)
    assert calls[0] == 1  # D's score at z0 already passes: one look, no step
    assert torch.equal(mined, z0)

    calls[0] = 0
    ifgsm_mine(z0, model.decoder, model.discriminator, eps=0.08, steps=10, stop_score=2.0)
    assert calls[0] == 10  # unreachable threshold: all iterations


def test_latent_mining_false_skips_mining():
    mining = _model()
    plain = _model(latent_mining=False)
    batch = _batch(mining.config)
    mining_calls, plain_calls = _count_calls(mining.decoder), _count_calls(plain.decoder)
    out_mining = mining.train_step(batch, mining.configure_optimizers())
    out_plain = plain.train_step(batch, plain.configure_optimizers())
    assert plain_calls[0] == 1 and out_plain["latent_shift"] == 0.0
    assert mining_calls[0] == 1 + mining.config.mining_steps  # D starts far below 0.9: all steps run
    assert 0 < out_mining["latent_shift"] <= mining.config.eps + 1e-6


def test_temporal_shift_moves_the_intended_channels_by_one_step():
    # (B=1, C=8, T=3, 1, 1): channel c at time t holds 10*c + t, so every value names its origin
    x = (10 * torch.arange(8.0).view(1, 8, 1, 1, 1) + torch.arange(3.0).view(1, 1, 3, 1, 1)).expand(1, 8, 3, 1, 1)
    out = temporal_shift(x, shift_fraction=0.25)  # fold = 8 * 0.25 / 2 = 1 channel each way
    v = out[0, :, :, 0, 0]  # (C, T)
    assert v[0].tolist() == [1.0, 2.0, 0.0]  # channel 0: frame t takes frame t+1, the last is vacated
    assert v[1].tolist() == [0.0, 10.0, 11.0]  # channel 1: frame t takes frame t-1, the first is vacated
    torch.testing.assert_close(out[:, 2:], x[:, 2:])  # the other 6 channels stay where they were
    half = temporal_shift(x, shift_fraction=0.5)[0, :, :, 0, 0]  # fold = 2: channels 0-1 back, 2-3 forward
    assert half[:4].tolist() == [[1.0, 2.0, 0.0], [11.0, 12.0, 0.0], [0.0, 20.0, 21.0], [0.0, 30.0, 31.0]]
    assert torch.equal(half[4:], x[0, 4:, :, 0, 0])


def test_temporal_stream_is_order_aware_through_the_shift():
    model = _model().eval()
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, model.encoder.backbone.out_channels, model.config.window, 4, 4, generator=g)  # (B, F, T, h, w)
    reversed_feats = feats.flip(2)
    temporal = model.encoder.temporal
    with torch.no_grad():
        assert not torch.allclose(temporal(feats), temporal(reversed_feats), atol=1e-5)
        # the same weights without the shift: per-frame conv + mean over T ignores frame order,
        # so order-awareness comes from the temporal shift
        no_shift = TemporalStream(feats.shape[1], model.config.latent_channels, shift_fraction=0.0).eval()
        no_shift.load_state_dict(temporal.state_dict())
        torch.testing.assert_close(no_shift(feats), no_shift(reversed_feats), atol=1e-5, rtol=1e-5)
        # and the full encoder sees the difference too
        batch = _batch(model.config)
        assert not torch.allclose(model.encoder(batch.clip), model.encoder(batch.clip.flip(2)), atol=1e-5)


def test_resnet_backbone_has_fewer_parameters_than_wrn():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    for preset in ("tiny", "paper"):
        wrn = create_model("valt_gan", preset)
        resnet = create_model("valt_gan", preset, backbone="resnet")
        assert count(resnet.encoder.backbone) < count(wrn.encoder.backbone)
        assert resnet.encoder.backbone.out_channels * wrn.config.widen == wrn.encoder.backbone.out_channels


def test_invalid_config_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="backbone"):
        create_model("valt_gan", "tiny", backbone="vgg")
    with pytest.raises(ValueError, match="6N\\+4"):
        create_model("valt_gan", "tiny", depth=12)
    with pytest.raises(ValueError, match="divisible by 8"):
        create_model("valt_gan", "tiny", height=36)


def test_tiny_trains_its_generator_and_discriminator():
    # scoring shapes and range, raw = PSNR (dB) and score = -raw, a finite validation loss, anomaly_score =
    # score and its gradient: the shared family tests (tests/core/test_models_all.py, FamilyContract) check
    # them for every family
    model = _model()
    batch = _batch(model.config)
    optimizers = model.configure_optimizers()
    assert set(optimizers) == {"generator", "discriminator"}
    for _ in range(3):
        losses = model.train_step(batch, optimizers)
        assert all(math.isfinite(v) for v in losses.values()), losses


def test_score_is_higher_for_a_target_far_from_the_prediction():
    model = _model().eval()
    batch = _batch(model.config)
    with torch.no_grad():
        prediction = model.predict(batch.clip)
    close = model.score_clip(Batch(batch.clip, (prediction + 0.01).clamp(-1, 1)))
    far = model.score_clip(Batch(batch.clip, -prediction))
    assert bool((far.score > close.score).all())
