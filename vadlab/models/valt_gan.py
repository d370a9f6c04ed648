"""VALT-GAN — "Video Anomaly Latent Training GAN (VALT GAN): Enhancing Anomaly Detection through
Latent Space Mining" (Sethi, Saini, Singh, Saurav, Tiwari, Singh, Chauhan; IIT Indore / CSIR-CEERI;
our copy of the text names no venue or year — c. 2023: it cites 2022 work and uses PyTorch 2.0).

Future-frame prediction: a generator G = G2(G1(x)) predicts frame t+1 from the window of frames
t-3..t, trained on normal video against a PatchGAN discriminator. Score: PSNR between the predicted
and the real next frame (`raw`, dB); `score` = -PSNR so that higher = more anomalous (per-video
min-max normalisation downstream turns it into 1 - P(t) of the paper's Eq. 8).

Architecture (paper Sec. III-B, Table I):
  * G1, encoder: a Wide-ResNet (Zagoruyko & Komodakis 2016; pre-activation basic blocks, depth
    6N+4, widening factor k = 4) applied to every frame, down to H/8 x W/8; then two streams:
    spatial = the T per-frame feature maps concatenated on channels -> 3x3 conv;
    temporal = temporal shift (TSM, `layers.temporal_shift`) of the (B, F, T, h, w) features ->
    per-frame 3x3 conv -> mean over T -> 1x1 conv. The two are summed: z0 (B, Cz, H/8, W/8).
  * Latent mining (IFGSM, Eq. 2-3), training only: z(t+1) = clip_{z0,eps}(z(t) + alpha*sign(grad_z J)),
    alpha = eps / steps, for at most `mining_steps` (10) iterations, stopping early once D's mean
    score (sigmoid of the patch logits) on G2(z) reaches `mining_stop` (0.9).
  * G2, decoder: three 2x2 stride-2 transposed convolutions (BN, LeakyReLU) back to H x W, then a
    1x1 convolution and tanh.
  * D: PatchGAN (`layers.PatchDiscriminator`) on the real / predicted next frame.
  * Loss: L_G = l2_weight * MSE + l1_weight * L1 + adv_weight * BCE(D(G(x)), real);
    L_D = BCE(D(real), real) + BCE(D(G(x)), fake) (halved). Adam, lr 2e-4.

Our reading of the latent-mining sign (the paper is inconsistent): Eq. 1 writes a min-max over a
"loss J", but Eq. 3 defines z* = argmin_{|z - z0| <= eps} log(1 - D(G2(z))), Sec. III-A says the
mining searches "latent codes that fool the discriminator into classifying generated samples as
real", and the stop rule "D's score passes 0.9" only makes sense if mining RAISES D's realness score.
So J = log D(G2(z)) (the discriminator's log-realness of the prediction) and mining is gradient
ASCENT on it, i.e. descent on the generator's non-saturating adversarial loss (AdvLatGAN-style
latent transformation that helps G keep pace with D). The generator is then trained on
G2(z0 + delta) with delta = z* - z0 held constant, so gradients still reach G1 through z0.

Deviations from the paper, and why:
  * Widths. Table I's WRN ends with 4096 channels per frame (2048 after the streams, decoder
    1024/512/256), which with 4 frames at 160x160 does not fit a lab budget. We keep the WRN
    structure and k = 4 with Zagoruyko's group widths (16, 32, 64)·k at depth 28 (WRN-28-4), a
    latent of 256 channels and decoder widths (256, 128, 64). All are config fields.
  * Backbone ablation: `backbone="resnet"` is the same network with widening factor 1 (a
    pre-activation ResNet), not the paper's ResNet-50 / SE-ResNeXt-50 (bottleneck blocks,
    ImageNet-pretrained); it isolates the effect of width, which is the paper's point.
  * Table I lists BN + LeakyReLU after the final 1x1 conv; we use tanh so the prediction lies in
    [-1, 1] like the target (necessary for a PSNR over [-1, 1]); the text also mentions ReLU in the
    decoder, Table I LeakyReLU — we follow Table I (LeakyReLU 0.2).
  * Loss weights: the paper sums L2 + L1 + L_adv unweighted with L1/L2 written as norms (sums over
    pixels), which makes the adversarial term tiny relative to the pixel terms. We use per-pixel
    means, so we weight the adversarial term 0.05 (as Liu et al. 2018 do for future-frame
    prediction) to keep a similar balance; `adv_weight=1.0` gives the literal unweighted sum of means.
    L2 is the mean squared error (not the root of the summed squares).
  * Mining is used in training only; scoring decodes z0 directly (deterministic, differentiable for
    attributions, and it does not pull anomalous frames toward what D finds realistic). During the
    mining iterations BatchNorm layers use batch statistics but do not update their running averages.
  * Adam betas (0.5, 0.999) (usual for GANs; the paper gives only the learning rate).
  * `paper` preset: 160x160, RGB (Table I), window 4, eps 0.08 (the middle of the paper's
    {0.8, 0.08, 0.008}; the paper reports 0.8 collapses and 0.008 is too weak), batch 8 (not given).

Training against pseudo-anomalies (switchable: `pseudo_anomaly_prob`, `pseudo_anomaly_skips`; on in
`ped2_cpu`: p 0.2, skips 2-5). Not in the paper: the skip-frame pseudo-anomaly of Astrid et al.
(BMVC 2021) carried over to prediction, as in `ffp`: a window played s x faster is trained to predict
the frame right after its last input frame (the scene continuing at normal speed), with the same
losses and latent mining. The shipped `valt_gan_ped2_cpu` predates it (one run, no pseudo-anomalies):
its 3-seed ablation did not fit this session's CPU budget (about 15 minutes a run).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator

import torch
from torch import nn
import torch.nn.functional as F

from vadlab.models.base import AnomalyModel, BaseConfig
from vadlab.models.layers import PatchDiscriminator, discriminator_bce, generator_bce, psnr, temporal_shift
from vadlab.outputs import Batch, ClipOutput
from vadlab.registry import register_model


@dataclass(frozen=True)
class ValtGANConfig(BaseConfig):
    channels: int = 3
    height: int = 160
    width: int = 160
    window: int = 4
    lr: float = 2e-4
    batch_size: int = 8
    backbone: str = "wrn"  # "wrn" (widening factor `widen`) or "resnet" (widening factor 1)
    widen: int = 4  # WRN widening factor k
    depth: int = 28  # WRN depth 6N+4: N basic blocks in each of the 3 groups
    stem_width: int = 16
    group_widths: tuple[int, int, int] = (16, 32, 64)  # multiplied by k; each group halves H and W
    latent_channels: int = 256  # Cz of z0 (B, Cz, H/8, W/8)
    decoder_widths: tuple[int, int, int] = (256, 128, 64)
    temporal_shift_fraction: float = 0.25  # fraction of channels shifted (half back, half forward); 0 = no shift
    disc_base: int = 64
    disc_layers: int = 3
    latent_mining: bool = True
    eps: float = 0.08  # L-inf radius of the mining ball (paper studies 0.8, 0.08, 0.008)
    mining_steps: int = 10
    mining_stop: float = 0.9  # stop mining once D's mean score on G2(z) reaches this
    l2_weight: float = 1.0
    l1_weight: float = 1.0
    adv_weight: float = 0.05

    @property
    def widening(self) -> int:
        """The widening factor actually used: `widen` for the WRN backbone, 1 for "resnet"."""
        return self.widen if self.backbone == "wrn" else 1


# ---- encoder G1 ---------------------------------------------------------------------------------

class WideBasicBlock(nn.Module):
    """Pre-activation wide residual block (Zagoruyko & Komodakis 2016): BN-ReLU-conv3x3-BN-ReLU-conv3x3,
    1x1 projection shortcut when the shape changes. (B, in_ch, H, W) -> (B, out_ch, H/stride, W/stride)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    """Wide-ResNet feature extractor: (N, C, H, W) -> (N, group_widths[-1]*k, H/8, W/8).

    Stem 3x3 conv, then three groups of (depth-4)/6 basic blocks, each group starting with stride 2,
    then BN-ReLU (the pre-activation network's final normalisation).
    """

    def __init__(self, in_ch: int, depth: int, widen: int, stem_width: int, group_widths: tuple[int, int, int]):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6N+4 with N >= 1 (10, 16, 22, 28, ...), got {depth}")
        blocks_per_group = (depth - 4) // 6
        self.stem = nn.Conv2d(in_ch, stem_width, 3, padding=1, bias=False)
        layers: list[nn.Module] = []
        ch = stem_width
        for width in group_widths:
            out = width * widen
            for i in range(blocks_per_group):
                layers.append(WideBasicBlock(ch, out, stride=2 if i == 0 else 1))
                ch = out
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(ch)
        self.out_channels = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.blocks(self.stem(x))))


class TemporalStream(nn.Module):
    """Temporal branch: TSM shift over T, per-frame 3x3 conv, mean over T, 1x1 conv.

    (B, F, T, h, w) -> (B, Cz, h, w). Without the shift every frame would be convolved on its own and
    the mean over T would ignore frame order; the shift mixes neighbouring frames' channels before
    the nonlinearity, which makes the stream order-aware.
    """

    def __init__(self, in_ch: int, out_ch: int, shift_fraction: float):
        super().__init__()
        self.shift_fraction = shift_fraction
        self.frame_conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2, inplace=True)
        )
        self.out = nn.Sequential(nn.Conv2d(out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.shift_fraction > 0:
            features = temporal_shift(features, self.shift_fraction)  # (B, F, T, h, w)
        b, f, t, h, w = features.shape
        frames = features.permute(0, 2, 1, 3, 4).reshape(b * t, f, h, w)  # (B*T, F, h, w)
        y = self.frame_conv(frames)  # (B*T, Cz, h, w)
        y = y.view(b, t, -1, h, w).mean(1)  # (B, Cz, h, w)
        return self.out(y)


class ValtEncoder(nn.Module):
    """G1: (B, C, T, H, W) -> z0 (B, Cz, H/8, W/8) = spatial stream + temporal stream."""

    def __init__(self, config: ValtGANConfig):
        super().__init__()
        c = config
        self.backbone = WideResNet(c.channels, c.depth, c.widening, c.stem_width, c.group_widths)
        feat = self.backbone.out_channels
        self.spatial = nn.Sequential(
            nn.Conv2d(feat * c.window, c.latent_channels, 3, padding=1, bias=False), nn.BatchNorm2d(c.latent_channels)
        )
        self.temporal = TemporalStream(feat, c.latent_channels, c.temporal_shift_fraction)

    def frame_features(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> per-frame backbone features (B, F, T, H/8, W/8)."""
        b, c, t, h, w = clip.shape
        frames = clip.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, C, H, W)
        feats = self.backbone(frames)  # (B*T, F, H/8, W/8)
        return feats.view(b, t, *feats.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, F, T, H/8, W/8)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        feats = self.frame_features(clip)  # (B, F, T, h, w)
        b, f, t, h, w = feats.shape
        spatial_in = feats.permute(0, 2, 1, 3, 4).reshape(b, t * f, h, w)  # (B, T*F, h, w) frames concatenated
        return self.spatial(spatial_in) + self.temporal(feats)  # (B, Cz, h, w)


class ValtDecoder(nn.Module):
    """G2: z (B, Cz, H/8, W/8) -> predicted frame (B, C, H, W) in [-1, 1]."""

    def __init__(self, config: ValtGANConfig):
        super().__init__()
        layers: list[nn.Module] = []
        ch = config.latent_channels
        for width in config.decoder_widths:  # three 2x2 stride-2 deconvolutions: H/8 -> H/4 -> H/2 -> H
            layers += [nn.ConvTranspose2d(ch, width, 2, stride=2, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True)]
            ch = width
        layers += [nn.Conv2d(ch, config.channels, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


# ---- latent mining ------------------------------------------------------------------------------

@contextmanager
def _batchnorm_stats_frozen(*modules: nn.Module) -> Iterator[None]:
    """Inside: BatchNorm layers in training mode still normalise with batch statistics but do not
    update their running averages (mining's extra forward passes must not skew them)."""
    changed = []
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats:
                m.track_running_stats = False
                changed.append(m)
    try:
        yield
    finally:
        for m in changed:
            m.track_running_stats = True


def ifgsm_mine(
    z0: torch.Tensor,
    decoder: nn.Module,
    discriminator: nn.Module,
    eps: float,
    steps: int,
    stop_score: float,
) -> torch.Tensor:
    """IFGSM latent mining (VALT-GAN Eq. 2-3): move z inside the L-inf ball of radius `eps` around z0
    toward codes whose decoded frame D finds MORE real.

    z(0) = z0; z(t+1) = clip_{z0, eps}(z(t) + alpha * sign(grad_z log sigmoid(D(G2(z(t)))))),
    alpha = eps / steps. Before each step D's mean score (sigmoid of the patch logits, over the batch)
    is checked; mining stops as soon as it is >= `stop_score`, or after `steps` steps.

    z0: (B, Cz, h, w) latent codes (detached inside). Returns the mined codes, same shape, detached.
    Parameter gradients are not touched (only d/dz is computed).
    """
    z0 = z0.detach()
    if eps <= 0 or steps <= 0:
        return z0
    alpha = eps / steps
    lower, upper = z0 - eps, z0 + eps
    z = z0.clone()
    with _batchnorm_stats_frozen(decoder, discriminator), torch.enable_grad():
        for _ in range(steps):
            z.requires_grad_(True)
            logits = discriminator(decoder(z)).float()  # (B, 1, h', w') patch logits
            if float(torch.sigmoid(logits.detach()).mean()) >= stop_score:
                break
            log_realness = F.logsigmoid(logits).mean()  # J = log D(G2(z)), to maximise
            (grad,) = torch.autograd.grad(log_realness, z)
            z = torch.minimum(torch.maximum(z.detach() + alpha * grad.sign(), lower), upper)
    return z.detach()


# ---- the family ---------------------------------------------------------------------------------

class ValtGAN(AnomalyModel):
    """VALT-GAN: two-stream WRN future-frame predictor with IFGSM latent mining; PSNR score (Sethi et al. 2023)."""

    config_class = ValtGANConfig

    def __init__(self, config: ValtGANConfig):
        super().__init__(config)
        c = config
        if c.backbone not in ("wrn", "resnet"):
            raise ValueError(f"valt_gan backbone must be 'wrn' or 'resnet', got {c.backbone!r}")
        if c.height % 8 or c.width % 8:
            raise ValueError(f"valt_gan needs height and width divisible by 8, got {c.height}x{c.width}")
        if c.eps < 0 or c.mining_steps < 0:
            raise ValueError(f"valt_gan eps and mining_steps must be >= 0, got eps={c.eps}, mining_steps={c.mining_steps}")
        if not 0 <= c.temporal_shift_fraction <= 1:
            raise ValueError(f"temporal_shift_fraction must be in [0, 1], got {c.temporal_shift_fraction}")
        self.encoder = ValtEncoder(c)
        self.decoder = ValtDecoder(c)
        self.discriminator = PatchDiscriminator(c.channels, base=c.disc_base, n_layers=c.disc_layers)

    def predict(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> predicted next frame (B, C, H, W) in [-1, 1] (no latent mining)."""
        return self.decoder(self.encoder(clip))

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """No per-epoch schedule: mining runs from the first step, as in the paper."""

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        generator_params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {
            "generator": torch.optim.Adam(generator_params, lr=self.config.lr, betas=(0.5, 0.999)),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=(0.5, 0.999)),
        }

    def _intensity_losses(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        diff = prediction.float() - target.float()
        return diff.pow(2).mean(), diff.abs().mean()

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        c = self.config
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        target = batch.target
        z0 = self.encoder(batch.clip)  # (B, Cz, H/8, W/8)
        if c.latent_mining:
            mined = ifgsm_mine(z0, self.decoder, self.discriminator, c.eps, c.mining_steps, c.mining_stop)
            shift = mined - z0.detach()
            z = z0 + shift  # the perturbation is a constant; gradients reach G1 through z0
        else:
            shift = torch.zeros_like(z0)
            z = z0
        prediction = self.decoder(z)  # (B, C, H, W)

        # discriminator: real next frames vs predictions
        d_real = self.discriminator(target).float()
        d_fake = self.discriminator(prediction.detach()).float()
        loss_d = 0.5 * discriminator_bce(d_real, d_fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        # generator: intensity (L2 + L1) + adversarial; D's grads from this pass are cleared next step
        d_pred = self.discriminator(prediction).float()
        adversarial = generator_bce(d_pred)
        l2, l1 = self._intensity_losses(prediction, target)
        loss_g = c.l2_weight * l2 + c.l1_weight * l1 + c.adv_weight * adversarial
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {
            "generator": float(loss_g.detach()),
            "discriminator": float(loss_d.detach()),
            "l2": float(l2.detach()),
            "l1": float(l1.detach()),
            "adversarial": float(adversarial.detach()),
            "d_real": float(torch.sigmoid(d_real.detach()).mean()),
            "d_fake": float(torch.sigmoid(d_fake.detach()).mean()),
            "latent_shift": float(shift.abs().amax()) if shift.numel() else 0.0,  # <= eps
        }

    @torch.no_grad()
    def validation_loss(self, batch: Batch) -> float:
        c = self.config
        l2, l1 = self._intensity_losses(self.predict(batch.clip), batch.target)
        return float(c.l2_weight * l2 + c.l1_weight * l1)

    def anomaly_score(self, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -psnr(self.predict(clip).float(), target.float())

    @torch.no_grad()
    def score_clip(self, batch: Batch) -> ClipOutput:
        prediction = self.predict(batch.clip).float()  # (B, C, H, W)
        target = batch.target.float()
        error_map = (prediction - target).pow(2).mean(1)  # (B, H, W)
        peak = psnr(prediction, target)  # (B,) dB
        return ClipOutput(score=-peak, raw=peak, output=prediction, error_map=error_map)


_TINY = ValtGANConfig(
    channels=1, height=32, width=32, window=4, lr=1e-3, batch_size=8, depth=10, widen=4, stem_width=4,
    group_widths=(2, 4, 4), latent_channels=16, decoder_widths=(16, 8, 8), disc_base=8, disc_layers=2,
)

register_model(
    "valt_gan",
    presets={
        "paper": ValtGANConfig(),
        "paper_resnet": ValtGANConfig(backbone="resnet"),
        "tiny": _TINY,
        # One CPU thread, minutes per Ped2 run (64x64 grey; about 1 min per epoch at most): `bench/ped2.py --preset cpu`.
        "cpu": replace(
            _TINY, height=64, width=64, stem_width=8, group_widths=(8, 16, 16), latent_channels=64,
            decoder_widths=(64, 32, 16), disc_base=16,
        ),
        # The Ped2 CPU recipe (checkpoints/valt_gan_ped2_cpu was made before pseudo-anomalies:
        # `vadlab train --model valt_gan --preset ped2_cpu --set pseudo_anomaly_prob=0 ...` reproduces it): WRN-10-4 with twice the cpu preset's
        # widths at 64x64 grey, the paper's IFGSM mining (10 steps, eps 0.08), batch 4, cosine decay
        # from 2e-4 after a warm-up, 8 epochs (about 25 minutes on one thread).
        "ped2_cpu": replace(
            _TINY, height=64, width=64, depth=10, widen=4, stem_width=16, group_widths=(8, 16, 32),
            latent_channels=64, decoder_widths=(64, 32, 16), disc_base=32, disc_layers=3, batch_size=4,
            lr=2e-4, epochs=8, lr_schedule="cosine", warmup_steps=200, model_selection="pseudo_anomaly",
            pseudo_anomaly_prob=0.2,
        ),
    },
    score_kind="psnr",
    target="next",
    paper="Sethi et al., Video Anomaly Latent Training GAN (VALT GAN): Enhancing Anomaly Detection through Latent Space Mining, 2023",
)(ValtGAN)
