"""Latent GAN: the latent bank and its k-NN score, the ROI, augmentation and the variants: the default
"gan_lstm" (per-frame features -> LSTM over time -> a grid of per-cell codes), and the paper's
comparison "cnn" / "rnn" plus the first default "gan" (stacked frames, one code per window)."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from vadlab.models.latent_gan import (
    ADVERSARIAL_VARIANTS,
    LatentGAN,
    LatentGANConfig,
    RecurrentEncoder,
    StackedFrameEncoder,
    augment_window,
    knn_distance,
)
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


REPO = Path(__file__).resolve().parents[2]
OLD_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "latent_gan_synthetic"  # the old `gan` variant


def test_presets_default_to_the_per_frame_lstm_gan_and_keep_the_comparison_variants():
    spec = get_spec("latent_gan")
    assert spec.target == "window" and spec.score_kind == "latent_distance"
    presets = spec.presets
    for scale in ("paper", "cpu", "tiny"):
        default = presets[scale]
        assert default.variant == "gan_lstm" and default.latent_grid
        assert {presets[f"{scale}_{v}"].variant for v in ("cnn", "rnn", "gan_stacked")} == {"cnn", "rnn", "gan"}
        for v in ("cnn", "rnn", "gan_stacked"):  # the comparison presets are the first design's, unchanged
            assert not presets[f"{scale}_{v}"].latent_grid
    recipe = presets["ped2_cpu"]
    assert dataclasses.replace(recipe, epochs=presets["cpu"].epochs, train_stride=1, lr_schedule="constant",
                               warmup_steps=0) == presets["cpu"]  # the cpu model, plus a recipe
    assert (recipe.height, recipe.width, recipe.channels) == (64, 64, 1) and recipe.lr_schedule == "cosine"
    assert LatentGANConfig().variant == "gan" and not LatentGANConfig().latent_grid  # field defaults = the first design


@pytest.mark.parametrize("preset", ["tiny", "tiny_cnn", "tiny_rnn", "tiny_gan_stacked"])
def test_variants_build_train_and_score(preset):
    model = create_model("latent_gan", preset)
    optimizers = model.configure_optimizers()
    is_gan = model.config.variant in ADVERSARIAL_VARIANTS
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
    torch.testing.assert_close(score.detach(), out.score, rtol=1e-4, atol=1e-5)  # LSTM kernels with grad differ in rounding
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
    # after 2 steps the BN running statistics barely moved, so eval-mode codes of noise windows are
    # close together; what matters is that an unseen window is far more distant than a seen one
    assert bool((unseen.raw > 1e-4).all()) and bool((unseen.raw > 100 * seen.raw.max()).all())
    torch.testing.assert_close(seen.score, seen.raw)


@pytest.mark.parametrize("preset", ["tiny", "tiny_gan_stacked"])
def test_bank_is_subsampled_evenly_when_larger_than_bank_size(preset):
    model = _trained(preset, bank_size=5)
    batches = [_batch(model.config, seed=s) for s in range(1, 4)]  # 12 windows
    model.prepare_for_scoring(batches)
    c = model.config
    cells = (c.height // 16) * (c.width // 16)
    assert int(model.bank_count[0]) == 5
    assert model.bank.shape == ((5, cells, c.latent_dim) if c.latent_grid else (5, c.latent_dim))
    with torch.no_grad():
        codes = torch.cat([model.bank_entries(model.encode(b.clip)) for b in batches])  # (12, ...)
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


# ---- the default "gan_lstm": per-frame feature extractor -> temporal encoder -> a grid of codes ----------

def _encoder_model(**overrides) -> LatentGAN:
    torch.manual_seed(0)
    return create_model("latent_gan", "tiny", **overrides).eval()


def test_default_encoder_is_per_frame_features_then_an_lstm_over_time():
    model = _encoder_model()
    assert isinstance(model.encoder, RecurrentEncoder) and model.discriminator is not None
    batch = _batch(model.config, b=3)
    clip = batch.clip  # (B, C, T, H, W)
    with torch.no_grad():
        maps = model.encoder.frame_features(clip)  # (B, T, F, h, w)
        z = model.encode(clip)  # (B, D, h, w)
        c = model.config
        assert z.shape == (3, c.latent_dim, c.height // 16, c.width // 16)
        # the feature extractor sees one frame at a time: a frame's features are those of the frame alone
        for t in range(c.window):
            alone = model.encoder.convs(clip[:, :, t])  # (B, F, h, w)
            torch.testing.assert_close(maps[:, t], alone)
        changed = clip.clone()
        changed[:, :, 0] = torch.rand_like(changed[:, :, 0]) * 2 - 1  # only the first frame
        changed_maps = model.encoder.frame_features(changed)
        assert torch.equal(changed_maps[:, 1:], maps[:, 1:]) and not torch.allclose(changed_maps[:, 0], maps[:, 0])
        # ... and the temporal encoder combines them in order: any one frame, and the order, change z
        for t in range(c.window):
            one = clip.clone()
            one[:, :, t] = torch.rand_like(one[:, :, t]) * 2 - 1
            assert not torch.allclose(model.encode(one), z, atol=1e-6), f"frame {t} does not reach z"
        reversed_clip = clip.flip(2)  # same frames, reversed order: same per-frame features, other z
        torch.testing.assert_close(model.encoder.frame_features(reversed_clip), maps.flip(1))
        assert not torch.allclose(model.encode(reversed_clip), z, atol=1e-6)


def test_a_cells_code_depends_only_on_its_neighbourhood():
    model = _encoder_model(height=64, width=64)  # 4 x 4 cells of 16 x 16 pixels
    clip = _batch(model.config, b=2).clip
    changed = clip.clone()
    changed[..., :16, :16] = torch.rand_like(changed[..., :16, :16]) * 2 - 1  # the top-left cell, every frame
    with torch.no_grad():
        z, z_changed = model.encode(clip), model.encode(changed)  # (B, D, 4, 4)
    assert not torch.allclose(z_changed[:, :, 0, 0], z[:, :, 0, 0], atol=1e-6)
    # receptive field of a cell: 46 pixels from 16 * i - 15; cells 2 and 3 in either axis never see pixels 0..15
    torch.testing.assert_close(z_changed[:, :, 2:, :], z[:, :, 2:, :])
    torch.testing.assert_close(z_changed[:, :, :, 2:], z[:, :, :, 2:])


@pytest.mark.parametrize("standardize", [True, False])
def test_grid_score_is_the_mean_over_cells_of_the_distance_to_the_same_cells_bank(standardize):
    model = _trained(standardize_codes=standardize)
    model.prepare_for_scoring([_batch(model.config, seed=1), _batch(model.config, seed=2)])
    batch = _batch(model.config, seed=9)
    with torch.no_grad():
        entries = model.bank_entries(model.encode(batch.clip))  # (B, cells, D)
        bank = model.bank_codes  # (N, cells, D)
        if standardize:  # per cell and dimension, with the bank's own mean and (population) std
            mean, std = bank.mean(0), bank.std(0, unbiased=False)
            entries, bank = (entries - mean) / std, (bank - mean) / std
        expected = torch.stack([knn_distance(entries[:, j], bank[:, j], 1) for j in range(bank.shape[1])], 1)  # (B, cells)
        torch.testing.assert_close(model.cell_distances(model.encode(batch.clip)), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.score_clip(batch).raw, expected.mean(1), rtol=1e-4, atol=1e-5)
        # a cell is compared with its own position only: the bank holding window 0's cell-1 code at
        # cell 0 (only) does not make window 0's cell 1 a bank member
        raw = model.bank_entries(model.encode(batch.clip))
        model.bank[0, 0] = raw[0, 1]
        assert float(model.cell_distances(model.encode(batch.clip))[0, 1]) > 1e-4
        model.bank[0, 1] = raw[0, 1]  # at its own cell it is
        model.config = dataclasses.replace(model.config, standardize_codes=False)  # (exact zero needs raw codes)
        assert float(model.cell_distances(model.encode(batch.clip))[0, 1]) == 0.0


def test_grid_scores_only_the_cells_that_meet_the_roi():
    model = _encoder_model(height=64, width=64, roi=parse_roi("rect:0,0,0.25,0.25"))  # the top-left cell only
    assert model.scored_cells.tolist() == [True] + [False] * 15
    model.prepare_for_scoring([_batch(model.config, seed=1)])
    batch = _batch(model.config, seed=2)
    with torch.no_grad():
        cells = model.cell_distances(model.encode(batch.clip))  # (B, 16)
    torch.testing.assert_close(model.score_clip(batch).raw, cells[:, 0])


@pytest.mark.parametrize("preset", ["tiny", "tiny_gan_stacked"])
def test_codes_are_not_collapsed_after_training_steps(preset):
    """Distinct windows keep distinct, spread codes: no dimension of a cell is constant and the bank is
    not squeezed onto one direction (what the first default's global codes were on Ped2)."""
    model = _trained(preset, steps=20)
    batches = [_batch(model.config, b=8, seed=s) for s in range(40, 44)]  # 32 unseen noise windows
    model.prepare_for_scoring(batches)
    bank = model.bank_codes.float()  # (32, cells, D) or (32, D)
    bank = bank.view(bank.shape[0], -1, bank.shape[-1])  # (32, cells, D)
    spread = bank.std(0)  # (cells, D)
    assert bool((spread > 1e-3 * bank.abs().mean()).all()), spread.min()
    for j in range(bank.shape[1]):
        s = torch.linalg.svdvals(bank[:, j] - bank[:, j].mean(0))
        p = s**2 / (s**2).sum()
        effective_rank = float(torch.exp(-(p * torch.log(p + 1e-12)).sum()))
        assert effective_rank > 2.0, (j, effective_rank)
    pairwise = torch.cdist(bank.flatten(1), bank.flatten(1))
    off_diagonal = pairwise[~torch.eye(32, dtype=torch.bool)]
    assert float(off_diagonal.min()) > 0.1 * float(off_diagonal.mean())


# ---- the first default, variant "gan", still builds and loads ----------------------------------

def test_old_gan_variant_builds_with_its_first_architecture():
    model = create_model("latent_gan", "tiny_gan_stacked")
    assert model.config.variant == "gan" and not model.config.latent_grid
    assert isinstance(model.encoder, StackedFrameEncoder) and model.discriminator is not None
    assert model.bank.shape == (model.config.bank_size, model.config.latent_dim)
    assert isinstance(model.encoder.fc, torch.nn.Linear) and isinstance(model.decoder.fc, torch.nn.Linear)


@pytest.mark.skipif(not OLD_CHECKPOINT.with_suffix(".json").exists(), reason="shipped checkpoint not present")
def test_old_gan_checkpoint_fields_build_the_same_network_and_its_weights_load():
    meta = json.loads(OLD_CHECKPOINT.with_suffix(".json").read_text())
    fields = meta["config"]
    assert fields["variant"] == "gan" and "latent_grid" not in fields
    # the fields an old checkpoint lacks: the recipe fields and these three, whose defaults are the old design
    from vadlab.models.base import RECIPE_FIELDS

    lacking = {f.name for f in dataclasses.fields(LatentGANConfig)} - set(fields) - set(RECIPE_FIELDS)
    assert lacking == {"latent_grid", "standardize_codes", "motion_weight"}
    defaults = LatentGANConfig()
    assert (defaults.latent_grid, defaults.standardize_codes, defaults.motion_weight) == (False, False, 0.0)
    config = LatentGANConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    model = LatentGAN(config).eval()
    state = load_file(str(OLD_CHECKPOINT.with_suffix(".safetensors")))
    model.load_state_dict(state, strict=True)  # every tensor has its old name and shape
    assert int(model.bank_count[0]) > 0
    batch = _batch(config, b=2)
    out = model.score_clip(batch)
    assert torch.isfinite(out.score).all() and bool((out.score > 0).all())


@pytest.mark.parametrize("preset", ["tiny", "tiny_rnn"])
def test_motion_term_counts_only_when_weighted(preset):
    for weight in (0.0, 50.0):
        torch.manual_seed(0)
        model = create_model("latent_gan", preset, motion_weight=weight, augment=False)
        losses = model.train_step(_batch(model.config), model.configure_optimizers())
        assert ("motion" in losses) == bool(weight)
        if weight:
            assert math.isfinite(losses["motion"]) and losses["motion"] > 0


def test_widths_set_the_cell_size():
    model = create_model("latent_gan", "tiny", widths=[8, 16, 16]).eval()  # a list, as JSON / overrides give
    c = model.config
    assert c.widths == (8, 16, 16)  # stored as a tuple
    batch = _batch(c, b=2)
    assert model.encode(batch.clip).shape == (2, c.latent_dim, 4, 4)  # 32 / 2**3 = 4 cells a side
    model.prepare_for_scoring([batch])
    assert model.bank.shape == (c.bank_size, 16, c.latent_dim)
    assert model.reconstruct(batch.clip).shape == batch.clip.shape
    with pytest.raises(ValueError, match="divisible"):
        create_model("latent_gan", "tiny", height=36)
