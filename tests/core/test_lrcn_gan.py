"""lrcn_gan (S2): LRCN discriminator, GAN pre-training, transfer to a supervised classifier."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from vadlab.data.clips import WindowDataset, balanced_indices
from vadlab.models.lrcn_gan import (
    LRCNGAN,
    augment_windows,
    class_balanced_cross_entropy,
    lrcn_feature_shape,
)
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec

B, C, T, H, W = 4, 1, 4, 64, 64


def random_batch(label=(0.0, 1.0, 0.0, 1.0), seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(B, C, T, H, W, generator=g) * 2 - 1
    lab = None if label is None else torch.tensor(label, dtype=torch.float32)
    return Batch(clip=clip, target=clip[:, :, -1], label=lab, frame_index=torch.arange(B))


TOY = 32  # toy windows are 32x32 (the smallest the LRCN's valid convolutions take) to stay fast


def bright_dark_batch(n: int, seed: int) -> Batch:
    """Separable toy windows: anomalous = bright (values around +0.6), normal = dark (around -0.6)."""
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % 2
    level = torch.where(label == 1, 0.6, -0.6).view(n, 1, 1, 1, 1)
    clip = (level + 0.3 * (torch.rand(n, C, T, TOY, TOY, generator=g) * 2 - 1)).clamp(-1, 1)
    return Batch(clip=clip, target=clip[:, :, -1], label=label.float(), frame_index=torch.arange(n))


def gan_steps(model: LRCNGAN, optimizers, steps: int = 2) -> dict:
    out = {}
    for i in range(steps):
        out = model.train_step(random_batch(label=None, seed=i), optimizers)
    return out


# ---- the LRCN architecture of the paper (Table 4) and the generator (Table 3) --------------------
def test_paper_preset_has_the_papers_lrcn_and_generator():
    with torch.device("meta"):  # the paper generator's dense layer alone has 109M weights
        model = create_model("lrcn_gan", "paper")
    for lrcn in (model.discriminator, model.classifier):
        convs = [m for m in lrcn.features.convs if isinstance(m, nn.Conv2d)]
        assert [c.out_channels for c in convs] == [16, 16, 16]
        assert [c.kernel_size for c in convs] == [(7, 7), (5, 5), (3, 3)]
        assert all(c.padding == (0, 0) for c in convs)  # "Valid"
        kinds = [type(m) for m in lrcn.features.convs]
        assert kinds == [nn.Conv2d, nn.ReLU, nn.MaxPool2d] * 3
        assert all(m.kernel_size == 2 for m in lrcn.features.convs if isinstance(m, nn.MaxPool2d))
        assert lrcn.features.dropout.p == 0.5
        assert lrcn.features.lstm.hidden_size == 1024 and lrcn.features.lstm.num_layers == 1
        assert lrcn.features.lstm.input_size == 16 * 12 * 20  # Table 4: 12 x 20 x 16 after pooling
        head = list(lrcn.head)
        assert isinstance(head[0], nn.Dropout) and head[0].p == 0.5
        assert (head[1].in_features, head[1].out_features) == (1024, 256) and isinstance(head[2], nn.ReLU)
        assert (head[3].in_features, head[3].out_features) == (256, 2)
    # time-distributed convs on a 10-frame 182x120 window give Table 4's 12 x 20 maps
    frames = torch.empty(10, 1, 120, 182, device="meta")
    assert tuple(model.discriminator.features.convs(frames).shape) == (10, 16, 12, 20)
    assert lrcn_feature_shape(model.config) == (16, 12, 20)
    # generator: Dense 1,092,000 = 200 x 60 x 91; batch norm everywhere but the last conv
    gen = model.generator
    assert gen.dense.out_features == 1_092_000
    convs = [m for m in gen.convs if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (3, 3), (1, 1)]
    assert convs[-1].out_channels == 10
    assert isinstance(gen.convs[-1], nn.Conv2d)  # nothing (no batch norm) after the last conv
    assert sum(isinstance(m, nn.BatchNorm2d) for m in gen.modules()) == 3
    # classifier and discriminator have the same architecture
    assert {k: v.shape for k, v in model.classifier.state_dict().items()} == {
        k: v.shape for k, v in model.discriminator.state_dict().items()
    }
    spec = get_spec("lrcn_gan")
    assert spec.supervised and spec.score_kind == "probability" and spec.target == "window"


def test_generator_makes_windows_in_data_range():
    model = create_model("lrcn_gan", "tiny")
    block = model.generator(torch.randn(3, model.config.z_dim))
    assert block.shape == (3, C, T, H, W)
    assert block.min() >= -1 and block.max() <= 1


# ---- transfer ------------------------------------------------------------------------------------
def test_transfer_copies_the_feature_extractor_and_not_the_head():
    model = create_model("lrcn_gan", "tiny")
    optimizers = model.configure_optimizers()
    gan_steps(model, optimizers)
    disc_features = model.discriminator.features.state_dict()
    cls_features = model.classifier.features.state_dict()
    assert not all(torch.equal(disc_features[k], cls_features[k]) for k in disc_features)  # differ before
    head_before = {k: v.clone() for k, v in model.classifier.head.state_dict().items()}

    model.transfer_discriminator_to_classifier()
    cls_features = model.classifier.features.state_dict()
    assert set(cls_features) == set(disc_features) and len(cls_features) > 0
    for name, tensor in disc_features.items():
        assert torch.equal(cls_features[name], tensor), name
    head_after = model.classifier.head.state_dict()
    disc_head = model.discriminator.head.state_dict()
    for name in head_before:
        assert torch.equal(head_after[name], head_before[name]), name  # head untouched ...
        assert not torch.equal(head_after[name], disc_head[name]), name  # ... and not the discriminator's
    assert int(model.transferred) == 1
    model.transfer_discriminator_to_classifier()  # idempotent
    for name, tensor in model.classifier.state_dict().items():
        expected = disc_features[name[len("features."):]] if name.startswith("features.") else head_before[name[len("head."):]]
        assert torch.equal(tensor, expected)


def test_phase_switch_transfers_once_and_survives_a_checkpoint(tmp_path):
    model = create_model("lrcn_gan", "tiny", freeze_transferred_features=False)
    optimizers = model.configure_optimizers()
    assert [model.gan_epoch_count(n) for n in (1, 2, 4, 5)] == [0, 1, 2, 2]
    model.on_epoch_start(0, 4)
    assert model.phase_name == "gan" and int(model.transferred) == 0
    gan_steps(model, optimizers)
    model.on_epoch_start(2, 4)  # first classifier epoch: automatic transfer
    assert model.phase_name == "classifier" and int(model.transferred) == 1
    losses = model.train_step(random_batch(), optimizers)
    assert set(losses) == {"classification_loss", "accuracy"}
    fine_tuned = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    # the whole classifier learned (features not frozen here), so it differs from the discriminator now
    assert not torch.equal(fine_tuned["features.lstm.weight_ih_l0"], model.discriminator.features.lstm.weight_ih_l0)

    # resume in a fresh process: the `transferred` flag travels in the state dict, no second copy
    path = tmp_path / "state.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    resumed = create_model("lrcn_gan", "tiny", freeze_transferred_features=False)
    resumed.load_state_dict(load_file(str(path)))
    resumed.on_epoch_start(3, 4)
    for name, tensor in resumed.classifier.state_dict().items():
        assert torch.equal(tensor, fine_tuned[name]), name


def test_frozen_transfer_fine_tunes_only_the_head():
    model = create_model("lrcn_gan", "tiny")  # freeze_transferred_features=True (paper: Table 2)
    optimizers = model.configure_optimizers()
    gan_steps(model, optimizers)
    model.on_epoch_start(1, 2)
    head_before = {k: v.clone() for k, v in model.classifier.head.state_dict().items()}
    for i in range(3):
        model.train_step(random_batch(seed=10 + i), optimizers)
    for name, tensor in model.discriminator.features.state_dict().items():
        assert torch.equal(model.classifier.features.state_dict()[name], tensor), name
    first_linear = next(i for i, m in enumerate(model.classifier.head) if isinstance(m, nn.Linear))
    key = f"{first_linear}.weight"
    assert not torch.equal(model.classifier.head.state_dict()[key], head_before[key])


def test_lrcn_from_scratch_baseline_has_no_gan_phase():
    model = create_model("lrcn_gan", "tiny", pretrain_gan=False)
    assert not hasattr(model, "generator") and not hasattr(model, "discriminator")
    assert list(model.configure_optimizers()) == ["classifier"]
    model.on_epoch_start(0, 4)
    assert model.phase_name == "classifier" and model.gan_epoch_count(4) == 0
    before = model.classifier.features.lstm.weight_ih_l0.clone()
    model.train_step(random_batch(), model.configure_optimizers())
    assert not torch.equal(before, model.classifier.features.lstm.weight_ih_l0)  # whole LRCN trains
    with pytest.raises(RuntimeError, match="no discriminator"):
        model.transfer_discriminator_to_classifier()


# ---- labels and class balance ------------------------------------------------------------------
def test_window_label_is_anomalous_when_at_least_half_its_frames_are():
    frame_labels = np.array([0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1])
    video = torch.zeros(len(frame_labels), 1, 8, 8, dtype=torch.uint8)
    windows = WindowDataset([video], window=4, target="window", labels=[frame_labels])
    # windows 0-3: 1/4, 1-4: 2/4, 2-5: 2/4, 3-6: 2/4, 4-7: 1/4, 5-8: 1/4, 6-9: 2/4, 7-10: 3/4
    assert [windows.window_label(i) for i in range(len(windows))] == [0, 1, 1, 1, 0, 0, 1, 1]
    assert windows[1]["label"] == 1.0 and windows[0]["label"] == 0.0


def test_balanced_indices_under_samples_the_majority():
    labels = np.array([0] * 30 + [1] * 7 + [0] * 5 + [1] * 2)
    idx = balanced_indices(labels, seed=3)
    assert (labels[idx] == 1).sum() == (labels[idx] == 0).sum() == 9
    assert set(np.flatnonzero(labels == 1)) <= set(idx)  # every minority window kept
    assert np.all(np.diff(idx) > 0)  # sorted, no repeats
    assert np.array_equal(idx, balanced_indices(labels, seed=3))
    assert not np.array_equal(idx, balanced_indices(labels, seed=4))
    assert np.array_equal(balanced_indices(np.zeros(5), seed=0), np.arange(5))  # one class: nothing to balance
    with pytest.raises(ValueError, match="0/1"):
        balanced_indices(np.array([0.0, 0.3, 1.0]), seed=0)


def test_per_batch_class_weighting_gives_each_class_equal_weight():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 2, generator=g)
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1])
    per_window = F.cross_entropy(logits, labels, reduction="none")
    expected = 0.5 * (per_window[labels == 0].mean() + per_window[labels == 1].mean())
    assert torch.allclose(class_balanced_cross_entropy(logits, labels), expected)
    assert not torch.allclose(class_balanced_cross_entropy(logits, labels), per_window.mean())
    only_normal = torch.zeros(7, dtype=torch.long)
    assert torch.allclose(class_balanced_cross_entropy(logits, only_normal), F.cross_entropy(logits, only_normal))


# ---- training phases ---------------------------------------------------------------------------
def test_gan_phase_step_trains_g_and_d_and_reports_similarity():
    model = create_model("lrcn_gan", "tiny")
    optimizers = model.configure_optimizers()
    model.on_epoch_start(0, 2)
    gen_before = model.generator.dense.weight.clone()
    disc_before = model.discriminator.features.lstm.weight_ih_l0.clone()
    cls_before = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    losses = gan_steps(model, optimizers, steps=3)
    assert set(losses) == {"d_loss", "g_loss", "d_accuracy", "cosine_similarity", "l2_distance"}
    assert all(math.isfinite(v) for v in losses.values())
    assert -1.0 <= losses["cosine_similarity"] <= 1.0 and losses["l2_distance"] > 0
    assert 0.0 <= losses["d_accuracy"] <= 1.0
    assert not torch.equal(gen_before, model.generator.dense.weight)
    assert not torch.equal(disc_before, model.discriminator.features.lstm.weight_ih_l0)
    for name, tensor in model.classifier.state_dict().items():  # phase 1 leaves the classifier alone
        assert torch.equal(tensor, cls_before[name]), name
    assert math.isnan(model.validation_loss(random_batch()))  # nothing to select on yet


def test_classifier_phase_needs_labels():
    model = create_model("lrcn_gan", "tiny", pretrain_gan=False)
    with pytest.raises(ValueError, match="window labels"):
        model.train_step(random_batch(label=None), model.configure_optimizers())


def fine_tune_on_bright_vs_dark(model: LRCNGAN, steps: int) -> tuple[float, float, torch.Tensor, Batch]:
    """Phase 1 (3 GAN steps, when pre-training), switch, `steps` classifier steps; returns the
    held-out class-balanced cross-entropy before and after, and the held-out scores."""
    optimizers = model.configure_optimizers()
    model.on_epoch_start(0, 2)
    if model.phase_name == "gan":
        for i in range(3):
            model.train_step(bright_dark_batch(8, seed=1000 + i), optimizers)
    model.on_epoch_start(1, 2)
    held_out = bright_dark_batch(16, seed=99)
    model.eval()
    before = model.validation_loss(held_out)
    model.train()
    for step in range(steps):
        model.train_step(bright_dark_batch(8, seed=step), optimizers)
    model.eval()
    return before, model.validation_loss(held_out), model.score_clip(held_out).score, held_out


def test_fine_tuning_after_transfer_learns_bright_vs_dark_windows():
    torch.manual_seed(0)
    model = create_model("lrcn_gan", "tiny", height=TOY, width=TOY)  # transferred features frozen: only the head learns
    before, after, probability, held_out = fine_tune_on_bright_vs_dark(model, steps=60)
    assert after < 0.75 * before, (before, after)
    assert probability[held_out.label == 1].min() > probability[held_out.label == 0].max()


def test_lrcn_from_scratch_learns_bright_vs_dark_windows():
    torch.manual_seed(0)
    model = create_model("lrcn_gan", "tiny", height=TOY, width=TOY, pretrain_gan=False)
    before, after, probability, held_out = fine_tune_on_bright_vs_dark(model, steps=40)
    assert after < 0.5 * before, (before, after)
    assert probability[held_out.label == 1].min() > probability[held_out.label == 0].max()


# ---- scoring -----------------------------------------------------------------------------------
def test_scores_are_anomalous_class_probabilities():
    model = create_model("lrcn_gan", "tiny")
    optimizers = model.configure_optimizers()
    gan_steps(model, optimizers)
    model.on_epoch_start(1, 2)
    model.train_step(random_batch(), optimizers)
    model.eval()
    batch = random_batch()
    out = model.score_clip(batch)
    assert out.score.shape == (B,) and torch.equal(out.score, out.raw)
    assert torch.all((out.score >= 0) & (out.score <= 1)) and torch.isfinite(out.score).all()
    assert out.output is None and out.error_map is None
    logits = model.classifier(batch.clip)
    assert torch.allclose(out.score, torch.softmax(logits, 1)[:, 1])
    assert math.isfinite(model.validation_loss(batch))
    clip = batch.clip.clone().requires_grad_(True)
    model.anomaly_score(clip, batch.target).sum().backward()  # what Captum attributes
    assert clip.grad is not None and torch.isfinite(clip.grad).all() and clip.grad.abs().sum() > 0


def test_rejects_frames_too_small_for_the_lrcn():
    with pytest.raises(ValueError, match="too small"):
        create_model("lrcn_gan", "tiny", height=16, width=16)
    with pytest.raises(ValueError, match="even"):
        create_model("lrcn_gan", "tiny", height=63)


def test_frozen_extractor_runs_without_dropout_and_tiny_head_standardises():
    model = create_model("lrcn_gan", "tiny", augment=False)  # the same windows must stay the same
    assert isinstance(model.classifier.head[0], torch.nn.BatchNorm1d)  # tiny only
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in create_model("lrcn_gan", "paper").classifier.head)
    model.on_epoch_start(1, 2)  # phase 2, features transferred and frozen
    model.train()
    clip = torch.rand(4, 1, 4, 64, 64) * 2 - 1
    batch = Batch(clip=clip, target=clip, label=torch.tensor([0.0, 1.0, 0.0, 1.0]))
    seen = []
    handle = model.classifier.head.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    model.train_step(batch, model.configure_optimizers())
    model.train_step(batch, model.configure_optimizers())
    handle.remove()
    # deterministic extractor: the same windows give the same features (no dropout noise)
    assert torch.allclose(seen[0], seen[1])
    assert model.classifier.features.training  # its mode is restored
    with torch.no_grad():
        model.classifier.features.eval()
        assert torch.allclose(seen[0], model.classifier.features(clip))


# ---- position-invariance augmentation (not in the paper) -----------------------------------------
def test_augmentation_moves_each_window_as_a_whole():
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(6, C, 1, TOY, TOY, generator=g) * 2 - 1
    clip = frame.expand(6, C, T, TOY, TOY).contiguous()  # 6 windows of T identical frames
    changed = False
    for seed in range(3):
        out = augment_windows(clip, 0.25, generator=torch.Generator().manual_seed(seed))
        assert out.shape == clip.shape
        assert torch.equal(out, out[:, :, :1].expand_as(out))  # the same flip + shift for every frame
        assert out.min() >= clip.min() and out.max() <= clip.max()  # reflected pixels, no constant fill
        changed |= not torch.equal(out, clip)
    assert changed  # some windows were flipped / shifted
    # a pure shift keeps the content: output column j is input column j - dx (|dx| <= 8 = 25% of 32)
    ramp = torch.arange(TOY, dtype=torch.float32).expand(1, 1, T, TOY, TOY).contiguous()
    out = augment_windows(ramp, 0.25, flip=False, generator=torch.Generator().manual_seed(1))
    rows = out[0, 0, 0]  # (H, W)
    dx = int(ramp[0, 0, 0, 0, TOY // 2] - rows[0, TOY // 2])
    assert torch.equal(rows[:, 8:-8], ramp[0, 0, 0, :, 8 - dx:TOY - 8 - dx])
    with pytest.raises(ValueError, match="augment_shift"):
        augment_windows(clip, 0.6)


def test_train_step_augments_only_when_configured():
    seen = []
    for augment in (False, True):
        model = create_model("lrcn_gan", "tiny", pretrain_gan=False, augment=augment, dropout=0.0)
        model.train()
        handle = model.classifier.features.convs.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
        torch.manual_seed(0)
        model.train_step(random_batch(), model.configure_optimizers())
        handle.remove()
    clip = random_batch().clip.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)  # (B*T, C, H, W)
    assert torch.equal(seen[0], clip)
    assert not torch.equal(seen[1], clip)
