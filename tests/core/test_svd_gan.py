"""svd_gan: the SVD loss and rank-r approximations against numpy, the use_svd_loss ablation, the
depthwise-separable encoder, the optimizers the paper prescribes, and a few tiny train steps."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vadlab.models.layers import DepthwiseSeparableConv2d
from vadlab.models.svd_gan import SVD_METHODS, SvdGan, rank_r_approximation, svd_loss
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec


def _numpy_rank_r(a: np.ndarray, r: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    return (u[:, :r] * s[:r]) @ vt[:r]


def _walkway_clip(b: int, c: int, t: int, h: int, w: int) -> torch.Tensor:
    """Smooth background with a square moving one pixel per frame, in [-1, 1]."""
    ys = torch.linspace(-0.6, 0.2, h).view(h, 1).expand(h, w)
    clip = ys.expand(b, c, t, h, w).clone()
    for i in range(b):
        for f in range(t):
            clip[i, :, f, 24:34, 10 + 3 * i + f : 20 + 3 * i + f] = 0.9
    return clip


def _batch(model: SvdGan, b: int = 4) -> Batch:
    c = model.config
    clip = _walkway_clip(b, c.channels, c.window, c.height, c.width)
    return Batch(clip=clip, target=clip[:, :, -1], label=None, frame_index=torch.arange(b))


@pytest.fixture()
def model() -> SvdGan:
    torch.manual_seed(0)
    return create_model("svd_gan", "tiny")


def test_svd_loss_equals_numpy_frobenius_distance_of_rank_r_approximations():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2, 1, 3, 12, 10)).astype(np.float32)  # (B, C, T, H, W)
    y = rng.uniform(-1, 1, size=(2, 1, 3, 12, 10)).astype(np.float32)
    r = 3
    expected = np.mean([
        np.linalg.norm(_numpy_rank_r(x[b, c, t], r) - _numpy_rank_r(y[b, c, t], r), "fro")
        for b in range(2) for c in range(1) for t in range(3)
    ])
    got = svd_loss(torch.from_numpy(x), torch.from_numpy(y), r)
    assert got.ndim == 0
    assert float(got) == pytest.approx(expected, abs=1e-4, rel=1e-4)


def test_rank_r_approximation_matches_numpy_has_rank_r_and_full_rank_is_identity():
    rng = np.random.default_rng(1)
    frames = rng.uniform(-1, 1, size=(3, 16, 12)).astype(np.float32)
    approx = rank_r_approximation(torch.from_numpy(frames), 4)
    assert approx.shape == frames.shape and approx.dtype == torch.float32
    for f in range(3):
        np.testing.assert_allclose(approx[f].numpy(), _numpy_rank_r(frames[f], 4), atol=1e-4)
        assert np.linalg.matrix_rank(approx[f].numpy().astype(np.float64), tol=1e-4) == 4
    full = rank_r_approximation(torch.from_numpy(frames), 12)  # min(H, W) = 12
    np.testing.assert_allclose(full.numpy(), frames, atol=1e-4)
    # numpy in, numpy out (the Explain page's convenience)
    as_np = rank_r_approximation(frames, 2)
    assert isinstance(as_np, np.ndarray) and np.linalg.matrix_rank(as_np[0].astype(np.float64), tol=1e-4) == 2
    with pytest.raises(ValueError, match="rank r"):
        rank_r_approximation(torch.from_numpy(frames), 13)
    with pytest.raises(ValueError, match="rank r"):
        rank_r_approximation(torch.from_numpy(frames), 0)


def test_svd_loss_gradient_is_exact_on_rank_r_frames_and_finite_on_constant_frames():
    torch.manual_seed(0)
    r = 3
    x = torch.randn(4, 12, 10)
    y_exact = (torch.randn(4, 12, r) @ torch.randn(4, r, 10)).requires_grad_(True)  # rank-r frames
    y_ours = y_exact.detach().clone().requires_grad_(True)
    u, s, vh = torch.linalg.svd(y_exact, full_matrices=False)
    y_r = (u[..., :r] * s[..., None, :r]) @ vh[..., :r, :]
    torch.linalg.matrix_norm(rank_r_approximation(x, r) - y_r).mean().backward()  # torch's SVD autograd
    svd_loss(x, y_ours, r).backward()
    torch.testing.assert_close(y_ours.grad, y_exact.grad, atol=1e-5, rtol=1e-4)
    # a saturated (constant) reconstruction: repeated zero singular values
    constant = torch.full((4, 12, 10), -1.0, requires_grad=True)
    svd_loss(x, constant, r).backward()
    assert torch.isfinite(constant.grad).all() and constant.grad.abs().sum() > 0


def test_svd_loss_is_float32_under_autocast():
    x, y = torch.rand(2, 1, 2, 16, 16), torch.rand(2, 1, 2, 16, 16)
    reference = svd_loss(x, y, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_amp = svd_loss(x.bfloat16(), y.bfloat16(), 4)
    assert under_amp.dtype == torch.float32
    assert float(under_amp) == pytest.approx(float(reference), rel=2e-2)


def test_without_svd_loss_no_svd_term_and_generator_gradient_differs():
    torch.manual_seed(0)
    with_svd = create_model("svd_gan", "tiny")
    without = create_model("svd_gan", "tiny", use_svd_loss=False)
    without.load_state_dict(with_svd.state_dict())
    clip = _walkway_clip(2, 1, 4, 64, 64)

    def decoder_grad(m: SvdGan) -> tuple[dict, torch.Tensor]:
        m.train()
        losses = m.generator_losses(clip)
        m.zero_grad()
        losses["g_loss"].backward()
        return losses, m.decoder.net[-2].weight.grad.clone()  # last transposed convolution

    losses_on, grad_on = decoder_grad(with_svd)
    losses_off, grad_off = decoder_grad(without)
    assert losses_on["svd"] > 0 and "svd" not in losses_off
    torch.testing.assert_close(losses_on["contextual"], losses_off["contextual"])  # same weights, same G(x)
    torch.testing.assert_close(losses_on["g_loss"] - with_svd.config.w_svd * losses_on["svd"], losses_off["g_loss"])
    assert not torch.allclose(grad_on, grad_off)
    report = without.train_step(Batch(clip=clip, target=clip[:, :, -1]), without.configure_optimizers())
    assert "svd" not in report and math.isfinite(report["g_loss"])


def test_encoder_uses_depthwise_separable_convolutions_with_fewer_parameters(model):
    layers = [m for m in model.encoder.spatial if isinstance(m, DepthwiseSeparableConv2d)]
    assert len(layers) == 2
    for layer in layers:
        dw = layer.depthwise
        assert dw.kernel_size == (5, 5) and dw.stride == (2, 2) and dw.groups == dw.in_channels
        full = nn.Conv2d(dw.in_channels, layer.pointwise.out_channels, 5, stride=2, padding=2, bias=False)
        assert sum(p.numel() for p in layer.parameters()) < sum(p.numel() for p in full.parameters())
    # the paper-size layer: 128 -> 128 channels, 5x5
    paper_layer = DepthwiseSeparableConv2d(128, 128, 5, stride=2, padding=2, bias=False)
    assert sum(p.numel() for p in paper_layer.parameters()) < 128 * 128 * 25 / 10


def test_latent_shape_and_encoder_decoder_encoder(model):
    c = model.config
    clip = _batch(model, b=2).clip
    recon, latent, latent2 = model.forward_generator(clip)
    assert recon.shape == clip.shape
    assert latent.shape == (2, c.latent_channels, c.window, c.height // 8, c.width // 8)
    assert latent2.shape == latent.shape
    assert isinstance(model.encoder2, type(model.encoder)) and model.encoder2 is not model.encoder
    paper = get_spec("svd_gan").config("paper")
    assert (paper.latent_channels, paper.height // 8, paper.width // 8) == (128, 16, 16)  # n x 16 x 16 x 128
    assert sum(paper.lstm_layers) == 4


def test_optimizers_are_adam_for_generator_and_rmsprop_5e5_for_discriminator(model):
    opts = model.configure_optimizers()
    assert isinstance(opts["generator"], torch.optim.Adam)
    assert opts["generator"].param_groups[0]["betas"] == (0.5, 0.999)
    assert isinstance(opts["discriminator"], torch.optim.RMSprop)
    assert opts["discriminator"].param_groups[0]["lr"] == 5e-5
    d_params = {id(p) for p in model.discriminator.parameters()}
    g_params = {id(p) for g in opts["generator"].param_groups for p in g["params"]}
    assert not d_params & g_params
    assert len(g_params) + len(d_params) == len(list(model.parameters()))
    assert get_spec("svd_gan").config("paper").lr_discriminator == 5e-5


def test_tiny_train_steps_report_the_papers_losses_and_the_context_improves(model):
    # scoring shapes, score = error map mean, raw = score, anomaly_score = score and its gradient: the
    # shared family tests (tests/core/test_models_all.py, FamilyContract) check them for every family
    batch = _batch(model)
    optimizers = model.configure_optimizers()
    model.train()
    history = [model.train_step(batch, optimizers) for _ in range(4)]
    for losses in history:
        assert {"g_loss", "d_loss", "svd", "adversarial", "contextual", "encoder", "d_accuracy"} <= set(losses)
        assert all(math.isfinite(v) for v in losses.values())
        assert 0.0 <= losses["d_accuracy"] <= 1.0
    assert history[-1]["contextual"] < history[0]["contextual"]


def _structured_frames(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """(n, h, w) frames like video: a smooth vertical gradient, a few bright rectangles, mild noise."""
    gen = torch.Generator().manual_seed(seed)
    ys = torch.linspace(-0.8, 0.3, h).view(h, 1).expand(h, w)
    frames = ys.expand(n, h, w).clone()
    for i in range(n):
        for _ in range(3):
            y0, x0 = (int(v) for v in torch.randint(0, min(h, w) - 12, (2,), generator=gen))
            frames[i, y0:y0 + 10, x0:x0 + 6] = float(torch.rand(1, generator=gen)) * 1.6 - 0.6
    return (frames + 0.03 * torch.randn(n, h, w, generator=gen)).clamp(-1, 1)


@pytest.mark.parametrize("side,r,grad_tol", [(32, 4, 1e-3), (64, 10, 1e-2)])
def test_subspace_svd_loss_matches_the_full_svd_in_value_and_gradient(side, r, grad_tol):
    """The fast path (randomized subspace iteration, the default) against the full SVD on
    video-like frames: the loss within 1e-4 relative, its gradient within `grad_tol` relative
    (Frobenius; these frames have sigma_{r+1}/sigma_r up to 0.99 at r = 10, where the rank-r subspace is
    barely determined: on Ped2 frames the gradients agree to 5e-5), rank-r approximations to 5e-3."""
    x = _structured_frames(6, side, side, seed=1).view(2, 1, 3, side, side)  # (B, C, T, H, W)
    y_full = (0.8 * x + 0.15 * _structured_frames(6, side, side, seed=2).view_as(x)).requires_grad_(True)
    y_fast = y_full.detach().clone().requires_grad_(True)
    full = svd_loss(x, y_full, r, "full")
    fast = svd_loss(x, y_fast, r, "subspace", 4)
    assert float(fast.detach()) == pytest.approx(float(full.detach()), rel=1e-4)
    full.backward()
    fast.backward()
    assert torch.isfinite(y_fast.grad).all() and y_fast.grad.abs().sum() > 0
    assert float((y_fast.grad - y_full.grad).norm() / y_full.grad.norm()) < grad_tol
    np.testing.assert_allclose(rank_r_approximation(x, r, "subspace").numpy(), rank_r_approximation(x, r).numpy(), atol=5e-3)


def test_subspace_method_is_exact_on_low_rank_frames_finite_on_constant_ones_and_float32_under_autocast():
    torch.manual_seed(0)
    low_rank = torch.randn(3, 20, 3) @ torch.randn(3, 3, 16)  # (3, 20, 16) rank 3 < r = 5
    np.testing.assert_allclose(rank_r_approximation(low_rank, 5, "subspace").numpy(), low_rank.numpy(), atol=1e-4)
    x = torch.randn(4, 12, 10)
    constant = torch.full((4, 12, 10), -1.0, requires_grad=True)  # repeated zero singular values
    loss = svd_loss(x, constant, 3, "subspace")
    loss.backward()
    assert math.isfinite(float(loss)) and torch.isfinite(constant.grad).all() and constant.grad.abs().sum() > 0
    assert float(loss) == pytest.approx(float(svd_loss(x, constant.detach(), 3, "full")), rel=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_amp = svd_loss(x.bfloat16(), constant.detach().bfloat16(), 3, "subspace")
    assert under_amp.dtype == torch.float32
    # deterministic, and the global RNG is left alone (training reproducibility)
    state = torch.get_rng_state()
    assert float(svd_loss(x, constant.detach(), 3, "subspace")) == float(loss)
    assert torch.equal(torch.get_rng_state(), state)


def test_model_uses_its_configured_svd_method(model):
    assert model.config.svd_method == "subspace" and "full" in SVD_METHODS
    full = create_model("svd_gan", "tiny", svd_method="full")
    full.load_state_dict(model.state_dict())
    clip = _walkway_clip(2, 1, 4, 64, 64)
    model.train(), full.train()
    fast_losses, full_losses = model.generator_losses(clip), full.generator_losses(clip)
    assert float(fast_losses["svd"]) == pytest.approx(float(full_losses["svd"]), rel=1e-4)
    with pytest.raises(ValueError, match="svd_method"):
        create_model("svd_gan", "tiny", svd_method="lanczos")
    with pytest.raises(ValueError, match="svd_iterations"):
        create_model("svd_gan", "tiny", svd_iterations=0)


def test_config_checks():
    with pytest.raises(ValueError, match="divisible by 8"):
        create_model("svd_gan", "tiny", height=60)
    with pytest.raises(ValueError, match="rank"):
        create_model("svd_gan", "tiny", rank=65)
