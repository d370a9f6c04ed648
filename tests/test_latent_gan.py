"""Latent GAN: the latent bank and its k-NN score, the ROI, augmentation and the three variants."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from vadlab.models.latent_gan import LatentGAN, LatentGANConfig, augment_window, knn_distance
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec
from vadlab.roi import ROIError, parse_roi


def _batch(config: LatentGANConfig, b: int = 4, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(b, config.channels, config.window, config.height, config.width, generator=g) * 2 - 1
    return Batch(clip=clip, target=clip[:, :, -1].clone(), frame_index=torch.arange(b))


def _trained(preset: str = "tiny", steps: int = 2, **overrides) -> LatentGAN:
    torch.manual_seed(0)
    model = create_model("latent_gan", preset, **overrides)
    optimizers = model.configure_optimizers()
    for i in range(steps):
        model.train_step(_batch(model.config, seed=100 + i), optimizers)
    return model.eval()


def test_presets_cover_the_three_variants():
    spec = get_spec("latent_gan")
    assert spec.target == "window" and spec.score_kind == "latent_distance"
    variants = {name: cfg.variant for name, cfg in spec.presets.items()}
    for scale in ("paper", "cpu", "tiny"):
        assert {variants[scale], variants[f"{scale}_cnn"], variants[f"{scale}_rnn"]} == {"gan", "cnn", "rnn"}
        assert variants[scale] == "gan"


@pytest.mark.parametrize("preset", ["tiny", "tiny_cnn", "tiny_rnn"])
def test_variants_build_train_and_score(preset):
    model = create_model("latent_gan", preset)
    optimizers = model.configure_optimizers()
    is_gan = model.config.variant == "gan"
    assert (model.discriminator is not None) == is_gan
    assert set(optimizers) == ({"generator", "discriminator"} if is_gan else {"autoencoder"})
    batch = _batch(model.config)
    for _ in range(2):
        losses = model.train_step(batch, optimizers)
        assert all(math.isfinite(v) for v in losses.values()), losses
    assert ("discriminator" in losses) == is_gan
    model.eval()
    model.prepare_for_scoring([_batch(model.config, seed=1)])
    out = model.score_clip(batch)
    c = model.config
    assert out.score.shape == (4,) and torch.isfinite(out.score).all() and bool((out.score > 0).all())
    assert out.output.shape == (4, c.channels, c.height, c.width)
    assert out.error_map.shape == (4, c.height, c.width) and bool((out.error_map >= 0).all())
    assert math.isfinite(model.validation_loss(batch))
    clip = batch.clip.clone().requires_grad_(True)  # the Captum path is differentiable
    score = model.anomaly_score(clip, batch.target)
    torch.testing.assert_close(score.detach(), out.score)
    score.sum().backward()
    assert torch.isfinite(clip.grad).all() and clip.grad.abs().sum() > 0


def test_training_window_has_zero_distance_to_the_bank():
    model = _trained()
    train_batches = [_batch(model.config, seed=1), _batch(model.config, seed=2)]
    model.prepare_for_scoring(iter(train_batches))  # a generator, as vadlab.train passes
    assert int(model.bank_count[0]) == 8
    seen = model.score_clip(train_batches[1])
    assert torch.allclose(seen.raw, torch.zeros(4), atol=1e-5)
    unseen = model.score_clip(_batch(model.config, seed=3))
    assert bool((unseen.raw > 1e-3).all())
    torch.testing.assert_close(seen.score, seen.raw)


def test_bank_is_subsampled_evenly_when_larger_than_bank_size():
    model = _trained(bank_size=5)
    batches = [_batch(model.config, seed=s) for s in range(1, 4)]  # 12 windows
    model.prepare_for_scoring(batches)
    assert int(model.bank_count[0]) == 5 and model.bank.shape == (5, model.config.latent_dim)
    with torch.no_grad():
        codes = torch.cat([model.encode(b.clip) for b in batches])  # (12, D)
    torch.testing.assert_close(model.bank, codes[[0, 3, 6, 8, 11]])  # round(linspace(0, 11, 5))


def test_bank_survives_a_safetensors_round_trip(tmp_path):
    model = _trained()
    model.prepare_for_scoring([_batch(model.config, seed=1)])
    batch = _batch(model.config, seed=5)
    expected = model.score_clip(batch)
    path = tmp_path / "latent.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    fresh = create_model("latent_gan", "tiny").eval()
    assert int(fresh.bank_count[0]) == 0
    fresh.load_state_dict(load_file(str(path)))
    got = fresh.score_clip(batch)
    assert torch.equal(got.score, expected.score) and torch.equal(got.error_map, expected.error_map)


def test_scoring_without_a_bank_is_nan_or_an_actionable_error():
    model = create_model("latent_gan", "tiny").eval()
    batch = _batch(model.config)
    with pytest.raises(RuntimeError, match="prepare_for_scoring"):
        model.anomaly_score(batch.clip, batch.target)
    out = model.score_clip(batch)  # the training loop's preview: images yes, distance undefined
    assert torch.isnan(out.score).all() and torch.isfinite(out.error_map).all() and out.output is not None


def test_knn_distance_is_the_mean_over_the_k_nearest_and_differentiable_at_zero():
    bank = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    codes = torch.tensor([[0.0, 0.0]], requires_grad=True)
    assert float(knn_distance(codes.detach(), bank, k=1)) == 0.0
    assert float(knn_distance(codes.detach(), bank, k=2)) == pytest.approx(2.5)  # (0 + 5) / 2
    assert float(knn_distance(codes.detach(), bank, k=10)) == pytest.approx(5.0)  # k capped at the bank size
    knn_distance(codes, bank, k=1).sum().backward()
    assert torch.isfinite(codes.grad).all()


def test_roi_zeroes_the_error_map_outside_and_ignores_pixels_there():
    roi = parse_roi("rect:0,0,0.5,1")  # left half of the frame
    model = _trained(roi=roi)
    model.prepare_for_scoring([_batch(model.config, seed=1)])
    half = model.config.width // 2
    batch = _batch(model.config, seed=7)
    out = model.score_clip(batch)
    assert bool((out.error_map[..., half:] == 0).all()) and bool((out.error_map[..., :half] > 0).any())
    assert bool((out.output[..., half:] == -1).all())

    changed_outside = batch.clip.clone()
    changed_outside[..., half:] = torch.rand_like(changed_outside[..., half:])
    out_outside = model.score_clip(Batch(changed_outside, changed_outside[:, :, -1].clone()))
    assert torch.equal(out_outside.score, out.score)  # pixels outside the ROI do not count
    assert torch.equal(out_outside.error_map, out.error_map)

    changed_inside = batch.clip.clone()
    changed_inside[..., :half] = torch.rand_like(changed_inside[..., :half])
    out_inside = model.score_clip(Batch(changed_inside, changed_inside[:, :, -1].clone()))
    assert not torch.allclose(out_inside.score, out.score)


def test_roi_config_accepts_json_lists_and_rejects_bad_polygons():
    cfg = LatentGANConfig(roi=[[[0, 0], [1, 0], [1, 1]]])  # what a JSON checkpoint gives
    assert cfg.roi == (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),)
    assert LatentGANConfig(roi="rect:0,0,0.5,1").roi == parse_roi("rect:0,0,0.5,1")  # the text form too
    with pytest.raises(ROIError, match="outside"):
        LatentGANConfig(roi=(((0, 0), (2, 0), (1, 1)),))
    with pytest.raises(ROIError, match="3 points"):
        LatentGANConfig(roi=(((0, 0), (1, 1)),))


def test_augmentation_flips_every_frame_of_a_window_together():
    g = torch.Generator().manual_seed(0)
    clip = torch.rand(32, 1, 4, 8, 8, generator=g) * 2 - 1  # distinct frames, asymmetric content
    out = augment_window(clip, flip_prob=0.5, brightness=0.0, contrast=0.0, generator=torch.Generator().manual_seed(1))
    flipped = [torch.equal(out[i], clip[i].flip(-1)) for i in range(32)]
    kept = [torch.equal(out[i], clip[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept))  # each window: all frames flipped or none
    assert any(flipped) and any(kept)


def test_augmentation_jitter_is_the_same_for_every_frame_of_a_window():
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(16, 1, 1, 8, 8, generator=g) * 1.6 - 0.8
    clip = frame.expand(-1, -1, 4, -1, -1).contiguous()  # (B, C, T, H, W), 4 identical frames
    out = augment_window(clip, flip_prob=0.5, brightness=0.2, contrast=0.2, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, out[:, :, :1].expand_as(out))  # frames of a window stay identical
    assert not torch.allclose(out, clip) and float(out.abs().max()) <= 1.0


def test_train_step_augments_only_when_configured():
    for augment in (True, False):
        model = create_model("latent_gan", "tiny", augment=augment)
        optimizers = model.configure_optimizers()
        batch = _batch(model.config)
        state = torch.get_rng_state()
        model.train_step(batch, optimizers)
        # the only randomness in a latent_gan train step is the augmentation draw
        assert (not torch.equal(state, torch.get_rng_state())) == augment
