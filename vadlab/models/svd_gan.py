"""SVD-GAN — "SVD-GAN for Real-Time Unsupervised Video Anomaly Detection" (Samuel & Cuzzolin,
BMVC 2021; the text in papers/ is the anonymous submission #1295).

A GANomaly-like (Akcay et al., ACCV 2018) encoder-decoder-encoder generator with a spatio-temporal
encoder, trained on normal video with an extra SVD loss. Score: per-pixel squared error between the
window's LAST frame and its reconstruction, averaged over pixels and channels (MSE, higher = more
anomalous; the paper min-max normalises it per test sequence, which the evaluation code does).

Architecture (paper Sec. 3.4):
  * Encoder E, per frame: two depthwise-separable 5x5 stride-2 convolutions (layers.
    DepthwiseSeparableConv2d) + batch norm + tanh -> (B*T, conv_widths[1], H/4, W/4); then over the
    window's frames, 4 stacked 3x3 ConvLSTM layers (layers.ConvLSTM): `lstm_layers[0]` at H/4, a 2x2
    max-pool per frame, `lstm_layers[1]` at H/8 -> latent Z (B, latent_channels, T, H/8, W/8), i.e.
    the paper's n x 16 x 16 x 128 for 128x128 input.
  * Decoder, per frame: three 4x4 stride-2 transposed 2D convolutions, batch norm + tanh between
    them ("batch normalisation with tanh at the end of each layer"), tanh output -> (B, C, T, H, W).
  * E' = a second encoder of the same architecture on the reconstruction: Z' = E'(G(x)).
  * Discriminator: the encoder's architecture with LeakyReLU(0.2) instead of tanh, then a
    full-extent convolution per frame -> one real/fake logit per frame (sigmoid in the loss).
Losses:
  G: w_svd * SVD + w_adv * ADV + w_con * CONT + w_enc * ENCOD, with
     SVD   = mean over frames (B, C, T) of ||x_r - G(x)_r||_F (rank-r approximations, see `svd_loss`),
     ADV   = feature matching: mean squared difference of the batch-mean discriminator features
             (the encoder output) of x and G(x) (Salimans et al. 2016, as GANomaly),
     CONT  = mean |x - G(x)| (L1),
     ENCOD = mean (E(x) - E'(G(x)))^2 (L2).
  D: BCE(D(x), real) + BCE(D(G(x)), fake), halved (as GANomaly).
  G: Adam(lr 2e-4, betas (0.5, 0.999)); D: RMSprop(lr 5e-5), as in the paper. G step, then D step
  (GANomaly's order).

Deviations and choices, and why:
  * Latent size: the paper's two stride-2 convolutions give H/4 (32x32 at 128x128) but it states a
    16x16 latent after the ConvLSTMs, which are resolution-preserving; we put a 2x2 max-pool
    between the 2nd and 3rd ConvLSTM layer to reach the stated n x 16 x 16 x 128.
  * The paper also mentions depthwise-separable convolutions INSIDE the LSTM; we use the shared
    ConvLSTM block (full 3x3 gate convolutions). The depthwise-separable saving applies to the two
    spatial layers, as the paper's parameter discussion ("Layers 1 and 2") does.
  * The paper's overall loss (eq. 2) is an unweighted sum; we use GANomaly's weights (w_adv=1,
    w_con=50, w_enc=1) since the generator is GANomaly's, and w_svd=1: the per-frame Frobenius norm
    of a 128x128 frame is already ~128x the RMS pixel error, the same order as 50 x the L1 term.
  * Rank r is not given in the paper; `paper` preset r=10 of 128 (the "few dominant patterns").
  * Input: 128x128 RGB (the paper mentions separate R, G, B filters); window n=8 frames (not given).
  * SVD gradient: the loss is taken through the tangent space of rank-r matrices (singular
    vectors treated as constants: A_r = P_U A + A P_V - P_U A P_V), which equals the true gradient
    when the frame has rank r and drops terms of order sigma_{r+1}/sigma_r otherwise. torch's SVD
    backward divides by sigma_i^2 - sigma_j^2 and returns NaN for frames with repeated singular
    values (e.g. a constant or saturated reconstruction), which would poison training.
  * Top-r singular vectors without a full SVD (`svd_method="subspace"`, the default; "full" is the
    batched torch.linalg.svd of every frame, the reference): randomized subspace iteration (Halko,
    Martinsson & Tropp 2011) with a fixed seeded Gaussian start block of k = min(2r + 4, 32) columns,
    `svd_iterations` = 4 power iterations, orthonormalised through k x k eigh, then Rayleigh-Ritz, in
    float64. Only matmuls and batched k x k eigh (cuSOLVER's batched Jacobi for k <= 32), where a
    CUDA SVD of 128x128 frames loops over the batch (768 frames per paper-preset step: 2 x B 8 x C 3 x
    T 8). Measured agreement with "full": on 16 Ped2 frames at 128x128, r = 10: loss 2e-7 relative,
    gradient 4e-5 relative (Frobenius), rank-r approximations within 6e-5 (pixels in [-1, 1]); at
    64x64, r = 4: loss 5e-7, gradient 4e-6. Where sigma_{r+1}/sigma_r nears 1 (synthetic frames at
    0.99, uniform noise) the rank-r subspace is barely determined and the gradients differ by up to 1%
    (loss < 1e-4; tests/core/test_svd_gan.py states the tolerances); the tangent-space gradient itself is
    off by more there. Measured effect, one CPU thread (this machine, torch 2.13, best of 2-5 runs):
    SVD loss forward + backward at the paper preset's size (768 frames 128x128, r = 10) 1079 -> 614 ms,
    at ped2_cpu's (64 frames 64x64, r = 4) 34 -> 21 ms; whole step (`bench/train_speed.py --families
    svd_gan --presets tiny ped2_cpu --threads 1 [--set svd_method=full]`, best of two runs) ped2_cpu
    337.5 -> 325.6 ms, tiny 170.8 -> 174.2 ms: inside this shared machine's +-15% run-to-run noise.
    The SVD is NOT what holds the step back on the CPU: the paper-preset step takes ~120 s on one
    thread (0.07 samples/s), ~84% of it in the ConvLSTM gate convolutions (3x3, 256 -> 512 channels
    at 32x32 and 16x16, once per frame, in E, E' and D); the SVD was 0.7%. (Moving each layer's input
    convolution out of the time loop, one batched call over B*T, measured 33% SLOWER here, so the
    ConvLSTM is unchanged.) On the GPU the looped SVD is the suspect (< 11 samples/s measured);
    not measured here (no GPU lent).
  * Speed against the paper's "real-time" claim (the paper gives no figure; 25 frames/s taken as
    real time), scoring (`bench/speed.py`, one CPU thread, one scored frame per window): paper preset
    (128x128 RGB, 52 GFLOP per scored frame) 0.9 frames/s batched, 991 ms at batch 1: not real time
    on one CPU thread; ped2_cpu preset (64x64 grey, 0.11 GFLOP) 186 frames/s batched, 8.2 ms at batch
    1: real time on one thread.
  * The discriminator logit is taken with BCE-with-logits: the paper's sigmoid + BCE, stably.
  * Residual connections mentioned in the introduction are not specified anywhere; none are added.

Training against pseudo-anomalies (switchable: `pseudo_anomaly_prob`, `pseudo_anomaly_skips`; on in
`ped2_cpu`: p 0.2, skips 2-5; same as vadlab.models.st_dcgan's paragraph, deliberately: one recipe
for the two GAN reconstructors, each file read on its own). Not in the paper: the skip-frame pseudo-anomaly of Astrid et al.
("Learning Not to Reconstruct Anomalies", BMVC 2021): with probability p a training window is
replaced by the same place played s x faster, and the generator's reconstruction loss (and the
discriminator's "real" side) use the NORMAL-speed window that starts at the same frame
(`Batch.reconstruction_target`): the generator learns not to reconstruct abnormal motion. The
adversarial losses are unchanged. Measured effect (Ped2, seeds 0-2, paper protocol): the README's
Ped2 seed table and ablation (`bench/ped2_seeds.py --families svd_gan --pseudo both`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Optional, Union

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from vadlab.models.base import BaseConfig, WindowReconstructor
from vadlab.models.layers import ConvLSTM, DepthwiseSeparableConv2d, discriminator_bce
from vadlab.outputs import Batch
from vadlab.registry import register_model


@dataclass(frozen=True)
class SvdGanConfig(BaseConfig):
    channels: int = 3
    height: int = 128
    width: int = 128
    window: int = 8
    lr: float = 2e-4  # generator Adam
    beta1: float = 0.5  # generator Adam beta1 (GANomaly)
    lr_discriminator: float = 5e-5  # discriminator RMSprop, as in the paper
    batch_size: int = 8
    conv_widths: tuple[int, int] = (128, 128)  # the two depthwise-separable 5x5 stride-2 layers
    latent_channels: int = 128  # ConvLSTM hidden channels = latent channels
    lstm_layers: tuple[int, int] = (2, 2)  # ConvLSTM layers before / after the 2x2 pool (4 in all)
    decoder_widths: tuple[int, int] = (128, 64)  # transposed-conv channels at H/4 and H/2
    rank: int = 10  # r of the rank-r approximations in the SVD loss
    # How the SVD loss finds each frame's top-r singular vectors: "subspace" (randomized subspace
    # iteration, matmuls + small batched eigh; same loss as "full" to < 1e-5 relative on Ped2 frames,
    # see the module docstring) or "full" (batched torch.linalg.svd of every frame, the reference).
    svd_method: str = "subspace"
    svd_iterations: int = 4  # power iterations of the "subspace" method

    # added after svd_gan checkpoints were shipped; older checkpoints load with the defaults
    ADDED_FIELDS: ClassVar[tuple[str, ...]] = ("svd_method", "svd_iterations")
    use_svd_loss: bool = True  # the paper's ablation ("without SVD loss")
    w_svd: float = 1.0
    w_adv: float = 1.0
    w_con: float = 50.0
    w_enc: float = 1.0


# ------------------------------------------------------------------------------------------------
# SVD loss
# ------------------------------------------------------------------------------------------------
SVD_METHODS = ("full", "subspace")

# The fixed Gaussian start blocks of the subspace iteration, per (side, block, device): drawn once
# from their own generator (seed 0) on the CPU, so the loss is deterministic, identical on every
# device and never touches the global RNG (training reproducibility).
_START_BLOCKS: dict[tuple[int, int, str], torch.Tensor] = {}


def _start_block(n: int, k: int, device: torch.device) -> torch.Tensor:
    key = (n, k, str(device))
    if key not in _START_BLOCKS:
        block = torch.randn(n, k, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        _START_BLOCKS[key] = block.to(device)
    return _START_BLOCKS[key]  # (n, k) float64


def _orthonormal_columns(z: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis of the column space of every (n, k) matrix in z (..., n, k), float64.

    Symmetric orthogonalisation from the small k x k Gram matrix (Z^T Z = E diag(l) E^T,
    Q = Z E diag(l)^-1/2): batched small eigh + matmuls only, so it stays batched on CUDA (cuSOLVER's
    batched Jacobi eigh for k <= 32) where QR and SVD of large matrices loop over the batch. Directions
    with l < 1e-13 l_max (numerically absent: a rank-deficient frame, e.g. a constant one) become zero
    columns instead of noise."""
    gram = z.transpose(-2, -1) @ z  # (..., k, k)
    evals, evecs = torch.linalg.eigh(gram)  # ascending
    floor = evals[..., -1:].clamp_min(torch.finfo(z.dtype).tiny) * 1e-13  # (..., 1)
    inv_sqrt = torch.where(evals > floor, evals.clamp_min(torch.finfo(z.dtype).tiny).rsqrt(), torch.zeros_like(evals))
    return z @ (evecs * inv_sqrt.unsqueeze(-2))  # (..., n, k)


def _subspace_factors(a: torch.Tensor, r: int, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-r singular vectors of every (H, W) matrix of a (..., H, W) by randomized subspace
    iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4 + Rayleigh-Ritz), in float64.

    Block of k = min(2r + 4, H, W) columns (at most 32 while r <= 14, r + 4 above); `iterations` power iterations A (A^T Q), each followed by
    an orthonormalisation. The error of the i-th direction falls like (sigma_{k+1} / sigma_i)^(2q+1).
    Returns (u_r (..., H, r), vh_r (..., r, W)), float64; columns of frames whose rank is below r
    are zero (their rank-r approximation is the frame itself)."""
    h, w = a.shape[-2:]
    k = min(max(r + 4, min(2 * r + 4, 32)), h, w)  # <= 32 for r <= 28: cuSOLVER's batched eigh
    a64 = a.detach().to(torch.float64)  # (..., H, W)
    at64 = a64.transpose(-2, -1)  # (..., W, H)
    q = _orthonormal_columns(a64 @ _start_block(w, k, a.device))  # (..., H, k)
    for _ in range(iterations):
        q = _orthonormal_columns(a64 @ _orthonormal_columns(at64 @ q))  # (..., H, k)
    small = q.transpose(-2, -1) @ a64  # (..., k, W) = Q^T A
    evals, evecs = torch.linalg.eigh(small @ small.transpose(-2, -1))  # (..., k), (..., k, k) ascending
    evals, evecs = evals.flip(-1)[..., :r], evecs.flip(-1)[..., :r]  # the r largest: sigma^2, (..., k, r)
    sigma = evals.clamp_min(0).sqrt()  # (..., r)
    alive = sigma > sigma[..., :1] * 1e-7  # numerically non-zero singular values
    u_r = (q @ evecs) * alive.unsqueeze(-2)  # (..., H, r)
    inv_sigma = torch.where(alive, 1.0 / sigma.clamp_min(torch.finfo(sigma.dtype).tiny), torch.zeros_like(sigma))
    vh_r = (evecs.transpose(-2, -1) @ small) * inv_sigma.unsqueeze(-1)  # (..., r, W) = Sigma^-1 E^T Q^T A
    return u_r, vh_r


def rank_r_factors(a: torch.Tensor, r: int, method: str = "full", iterations: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-r left and right singular vectors of every (H, W) matrix of a float32 (..., H, W).

    method "full": batched torch.linalg.svd (exact; on CUDA cuSOLVER loops over the batch for
    matrices above 32x32). "subspace": randomized subspace iteration with `iterations` power
    iterations (`_subspace_factors`; matmuls and batched k x k eigh only). No gradient.
    Returns (u_r (..., H, r), vh_r (..., r, W)) in a's dtype.
    """
    with torch.no_grad():
        if method == "full":
            u, _, vh = torch.linalg.svd(a, full_matrices=False)  # (..., H, k), (..., k, W)
            return u[..., :r], vh[..., :r, :]
        if method == "subspace":
            u_r, vh_r = _subspace_factors(a, r, iterations)
            return u_r.to(a.dtype), vh_r.to(a.dtype)
    raise ValueError(f"unknown SVD method '{method}'; choose one of {', '.join(SVD_METHODS)}")


def rank_r_approximation(frames: Union[torch.Tensor, np.ndarray], r: int, method: str = "full",
                         iterations: int = 4) -> Union[torch.Tensor, np.ndarray]:
    """Optimal rank-r approximation (Eckart-Young) of every matrix in `frames`.

    frames: (..., H, W) tensor (any leading dims, e.g. (B, C, T, H, W)) or numpy array.
    Returns the same shape, float32 (numpy in, numpy out): sum of the r largest singular triplets
    sigma_i u_i v_i^T of each (H, W) matrix, computed in float32 (autocast off) from the singular
    vectors of `rank_r_factors` (`method` "full" = exact batched SVD, "subspace" = randomized
    subspace iteration, see SvdGanConfig.svd_method). Differentiable with respect to `frames`
    through the tangent space of rank-r matrices (singular vectors held constant), which stays
    finite where torch's SVD backward gives NaN (repeated singular values, e.g. constant frames);
    see the module docstring.
    """
    as_numpy = isinstance(frames, np.ndarray)
    x = torch.from_numpy(np.asarray(frames, dtype=np.float32)) if as_numpy else frames
    if x.ndim < 2:
        raise ValueError(f"rank_r_approximation needs (..., H, W) matrices, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if not 1 <= r <= min(h, w):
        raise ValueError(f"rank r must be in [1, min(H, W)] = [1, {min(h, w)}], got {r}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        a = x.float()  # (..., H, W)
        u_r, vh_r = rank_r_factors(a, r, method, iterations)  # (..., H, r), (..., r, W)
        left = u_r.transpose(-2, -1) @ a  # (..., r, W) = U_r^T A
        right = a @ vh_r.transpose(-2, -1)  # (..., H, r) = A V_r
        core = left @ vh_r.transpose(-2, -1)  # (..., r, r) = U_r^T A V_r = diag(sigma_1..r)
        # P_U A + A P_V - P_U A P_V: each term equals A_r in value
        approx = u_r @ left + right @ vh_r - u_r @ core @ vh_r  # (..., H, W)
    return approx.detach().numpy() if as_numpy else approx


def svd_loss(x: torch.Tensor, y: torch.Tensor, r: int, method: str = "full", iterations: int = 4) -> torch.Tensor:
    """SVD loss of the paper (eq. 1): mean over frames of || x_r - y_r ||_F.

    x, y: (..., H, W) with equal shapes, e.g. (B, C, T, H, W): every (H, W) matrix is one frame
    (one channel of one frame for RGB). x_r, y_r are their rank-r approximations
    (`rank_r_approximation` with `method` / `iterations`). Returns a scalar: the Frobenius norm of
    the difference per frame, averaged over all leading dims (frames of the window, channels and
    batch). Units: pixel values ([-1, 1] scale) x sqrt(pixels).
    """
    if x.shape != y.shape:
        raise ValueError(f"svd_loss needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    both = rank_r_approximation(torch.stack([x, y]), r, method, iterations)  # (2, ..., H, W), one batched call
    diff = both[0] - both[1]
    with torch.autocast(device_type=diff.device.type, enabled=False):
        return torch.linalg.matrix_norm(diff.float()).mean()  # Frobenius per frame, mean


# ------------------------------------------------------------------------------------------------
# networks
# ------------------------------------------------------------------------------------------------
class SpatioTemporalEncoder(nn.Module):
    """Depthwise-separable per-frame convolutions + stacked ConvLSTMs.

    (B, C, T, H, W) -> latent (B, latent_channels, T, H/8, W/8).
    """

    def __init__(self, c: SvdGanConfig, act: Callable[[], nn.Module]):
        super().__init__()
        w1, w2 = c.conv_widths
        self.spatial = nn.Sequential(
            DepthwiseSeparableConv2d(c.channels, w1, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(w1), act(),
            DepthwiseSeparableConv2d(w1, w2, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(w2), act(),
        )
        self.lstm_high = ConvLSTM(w2, c.latent_channels, num_layers=c.lstm_layers[0], kernel_size=3)
        self.lstm_low = ConvLSTM(c.latent_channels, c.latent_channels, num_layers=c.lstm_layers[1], kernel_size=3)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, ch, t, h, w = clip.shape
        frames = clip.permute(0, 2, 1, 3, 4).reshape(b * t, ch, h, w)  # (B*T, C, H, W)
        feats = self.spatial(frames)  # (B*T, w2, H/4, W/4)
        feats = feats.view(b, t, *feats.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, w2, T, H/4, W/4)
        feats = self.lstm_high(feats)  # (B, L, T, H/4, W/4)
        lat = feats.shape[1]
        pooled = F.max_pool2d(feats.permute(0, 2, 1, 3, 4).reshape(b * t, lat, h // 4, w // 4), 2)  # (B*T, L, H/8, W/8)
        pooled = pooled.view(b, t, lat, h // 8, w // 8).permute(0, 2, 1, 3, 4)  # (B, L, T, H/8, W/8)
        return self.lstm_low(pooled)  # (B, L, T, H/8, W/8)


class FrameDecoder(nn.Module):
    """Per-frame transposed 2D convolutions: latent (B, L, T, H/8, W/8) -> (B, C, T, H, W) in [-1, 1]."""

    def __init__(self, c: SvdGanConfig):
        super().__init__()
        d1, d2 = c.decoder_widths
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c.latent_channels, d1, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(d1), nn.Tanh(),
            nn.ConvTranspose2d(d1, d2, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(d2), nn.Tanh(),
            nn.ConvTranspose2d(d2, c.channels, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        b, l, t, h, w = latent.shape
        frames = self.net(latent.permute(0, 2, 1, 3, 4).reshape(b * t, l, h, w))  # (B*T, C, 8h, 8w)
        return frames.view(b, t, *frames.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, C, T, H, W)


class FrameDiscriminator(nn.Module):
    """The encoder's architecture (LeakyReLU) + a full-extent convolution per frame.

    (B, C, T, H, W) -> (logits (B, T), features (B, L, T, H/8, W/8)).
    """

    def __init__(self, c: SvdGanConfig):
        super().__init__()
        self.encoder = SpatioTemporalEncoder(c, act=lambda: nn.LeakyReLU(0.2))
        self.classifier = nn.Conv2d(c.latent_channels, 1, (c.height // 8, c.width // 8))

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(clip)  # (B, L, T, h, w)
        b, l, t, h, w = features.shape
        logits = self.classifier(features.permute(0, 2, 1, 3, 4).reshape(b * t, l, h, w))  # (B*T, 1, 1, 1)
        return logits.view(b, t), features


class SvdGan(WindowReconstructor):
    """GANomaly-style encoder-decoder-encoder with ConvLSTMs, depthwise convolutions and an SVD loss."""

    config_class = SvdGanConfig

    def __init__(self, config: SvdGanConfig):
        super().__init__(config)
        c = config
        if c.height % 8 or c.width % 8:
            raise ValueError(f"svd_gan needs height and width divisible by 8, got {c.height}x{c.width}")
        if not 1 <= c.rank <= min(c.height, c.width):
            raise ValueError(f"svd_gan rank must be in [1, {min(c.height, c.width)}], got {c.rank}")
        if c.svd_method not in SVD_METHODS:
            raise ValueError(f"svd_gan svd_method must be one of {', '.join(SVD_METHODS)}, got '{c.svd_method}'")
        if c.svd_iterations < 1:
            raise ValueError(f"svd_gan svd_iterations must be >= 1, got {c.svd_iterations}")
        if min(c.lstm_layers) < 1:
            raise ValueError(f"svd_gan needs at least one ConvLSTM layer on each side of the pool, got {c.lstm_layers}")
        self.encoder = SpatioTemporalEncoder(c, act=nn.Tanh)  # E
        self.decoder = FrameDecoder(c)  # G's decoder
        self.encoder2 = SpatioTemporalEncoder(c, act=nn.Tanh)  # E'
        self.discriminator = FrameDiscriminator(c)

    def forward_generator(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, C, T, H, W) -> (reconstruction (B, C, T, H, W), Z = E(x), Z' = E'(G(x)))."""
        latent = self.encoder(clip)
        recon = self.decoder(latent)
        return recon, latent, self.encoder2(recon)

    def reconstruct(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, T, H, W) reconstruction G(x) in [-1, 1]."""
        return self.decoder(self.encoder(clip))

    def generator_parameters(self):
        return [*self.encoder.parameters(), *self.decoder.parameters(), *self.encoder2.parameters()]

    def configure_optimizers(self):
        c = self.config
        return {
            "generator": torch.optim.Adam(self.generator_parameters(), lr=c.lr, betas=(c.beta1, 0.999)),
            "discriminator": torch.optim.RMSprop(self.discriminator.parameters(), lr=c.lr_discriminator),
        }

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """No training phases."""

    def generator_losses(self, clip: torch.Tensor, reference: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """The generator's loss terms on a window (B, C, T, H, W), as scalar tensors with graph.

        `reference` (B, C, T, H, W): what G(clip) should be (default: `clip`; for a skip-frame
        pseudo-anomaly, the normal window: `Batch.reconstruction_target`).
        Keys: "g_loss" (weighted total), "adversarial", "contextual", "encoder", and "svd" when
        `use_svd_loss`; "reconstruction" = G(x) itself (B, C, T, H, W), for the discriminator step.
        """
        c = self.config
        real = clip if reference is None else reference  # (B, C, T, H, W)
        recon, latent, latent2 = self.forward_generator(clip)
        with torch.no_grad():
            _, real_features = self.discriminator(real)
        _, fake_features = self.discriminator(recon)
        adversarial = (real_features.float().mean(0) - fake_features.float().mean(0)).pow(2).mean()
        contextual = (real.float() - recon.float()).abs().mean()
        encoder = (latent.float() - latent2.float()).pow(2).mean()
        g_loss = c.w_adv * adversarial + c.w_con * contextual + c.w_enc * encoder
        out = {"adversarial": adversarial, "contextual": contextual, "encoder": encoder}
        if c.use_svd_loss:
            svd = svd_loss(real, recon, c.rank, c.svd_method, c.svd_iterations)
            g_loss = g_loss + c.w_svd * svd
            out["svd"] = svd
        out["g_loss"] = g_loss
        out["reconstruction"] = recon
        return out

    def train_step(self, batch: Batch, optimizers) -> dict[str, float]:
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        real = batch.reconstruction_target  # the input window, or for a pseudo-anomaly the normal window
        losses = self.generator_losses(batch.clip, real)
        opt_g.zero_grad(set_to_none=True)
        losses["g_loss"].backward()
        opt_g.step()

        # Discriminator: real frames -> 1, reconstructed frames -> 0.
        d_real, _ = self.discriminator(real)  # (B, T) logits
        d_fake, _ = self.discriminator(losses["reconstruction"].detach())
        d_loss = 0.5 * discriminator_bce(d_real, d_fake)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with torch.no_grad():
            d_accuracy = torch.cat([(d_real > 0).flatten(), (d_fake < 0).flatten()]).float().mean()
        report = {k: float(v.detach()) for k, v in losses.items() if k != "reconstruction"}
        report["d_loss"] = float(d_loss.detach())
        report["d_accuracy"] = float(d_accuracy)
        return report




register_model(
    "svd_gan",
    presets={
        "paper": SvdGanConfig(),
        "tiny": SvdGanConfig(
            channels=1, height=64, width=64, window=4, conv_widths=(8, 8), latent_channels=8,
            lstm_layers=(2, 2), decoder_widths=(8, 8), rank=4, lr=1e-3, batch_size=8,
        ),
        # One CPU thread, minutes per Ped2 run (64x64 grey; about 1 min per epoch at most): `bench/ped2.py --preset cpu`.
        "cpu": SvdGanConfig(
            channels=1, height=64, width=64, window=4, conv_widths=(16, 16), latent_channels=16,
            lstm_layers=(2, 2), decoder_widths=(16, 16), rank=4, lr=1e-3, batch_size=8,
        ),
        # The Ped2 CPU recipe (`vadlab train --model svd_gan --preset ped2_cpu --threads 1 --data ped2:...`):
        # the `cpu` network, every second window, 10 epochs, cosine decay after a warm-up, the epoch kept
        # on the pseudo-anomaly AUC of held-out normal frames.
        "ped2_cpu": SvdGanConfig(
            channels=1, height=64, width=64, window=4, conv_widths=(16, 16), latent_channels=16,
            lstm_layers=(2, 2), decoder_widths=(16, 16), rank=4, lr=1e-3, batch_size=8, epochs=10, train_stride=2,
            lr_schedule="cosine", warmup_steps=100, model_selection="pseudo_anomaly", pseudo_anomaly_prob=0.2,
        ),
    },
    score_kind="mse",
    target="window",
    paper="Samuel & Cuzzolin, SVD-GAN for Real-Time Unsupervised Video Anomaly Detection, BMVC 2021",
)(SvdGan)
