"""ST-DCGAN — "Video Anomaly Detection using Generative Adversarial Network" (Anil, Varsha, Sugathri,
Aravind; IJSREM vol. 9 no. 4, ISSN 2582-3930, April 2025).

A spatio-temporal DCGAN trained on normal video. The generator reconstructs the whole window of T
frames; the discriminator tells real windows from reconstructed ones. Score: squared reconstruction
error of the window's LAST frame (the scored frame), averaged over pixels and channels (MSE, higher =
more anomalous); `error_map` is that per-pixel squared error averaged over channels.

Architecture (from the paper's abstract: "residual autoencoder ... two-stream deep convolutional
encoder that can realize both temporal and spatial data, and a decoder with multistage channel
attention"; 3D convolutions; transposed convolutions up, strided convolutions down):
  * Generator encoder, two streams of identical shape:
      appearance stream on the frames x                              (B, C, T, H, W)
      motion stream on the frame differences x[:, :, 1:] - x[:, :, :-1], with a zero difference
      prepended for the first frame                                  (B, C, T, H, W)
    each stream = len(widths) stages of [3x3x3 Conv3d stride (1,2,2) + BN + LeakyReLU, residual
    block of two 3x3x3 convolutions], halving H and W and keeping T. The streams are fused at the
    bottleneck by concatenation + 1x1x1 convolution -> (B, widths[-1], T, H/2**n, W/2**n).
  * Generator decoder: len(widths) stages of [ConvTranspose3d (3,4,4) stride (1,2,2) + BN + ReLU,
    residual block, squeeze-and-excitation channel attention (layers.ChannelAttention)] — the
    "multistage channel attention" — then a 3x3x3 convolution to C channels and tanh.
  * Discriminator: 3D convolutions with stride (1,2,2) (DCGAN: LeakyReLU 0.2, batch norm on all but
    the first layer) and a full-extent final convolution -> one real/fake logit per window.
Training alternates a discriminator step and a generator step per batch with the standard (BCE)
GAN loss, as the paper lists; Adam(lr 2e-4, betas (0.5, 0.999)) for both (DCGAN's settings). Each
step reports generator loss, discriminator loss, reconstruction loss and discriminator accuracy,
the quantities the paper logs per epoch.

Deviations from the paper, and why:
  * The paper gives no layer counts, widths, resolution or window length. Our `paper` preset:
    128x128 RGB (the paper's traffic CCTV is colour), windows of T=8 frames, widths 32-64-128.
  * Generator loss = BCE adversarial term + `reconstruction_weight` x L1(G(x), x) with weight 100
    (pix2pix's lambda, Isola et al. 2017). The paper names only the standard GAN loss, but a purely
    adversarial generator has no reason to reproduce ITS input, and the paper scores by the
    reconstruction error of the input ("structural comparability restrictions" in its conclusion).
  * "Residual autoencoder" is read as residual blocks inside every encoder and decoder stage, NOT as
    skip connections from encoder to decoder: skips across the bottleneck would let the generator
    copy anomalous content straight to its output and defeat reconstruction-error scoring.
  * The two streams are fused once, at the bottleneck (late fusion); the paper does not say where.
  * The discriminator ends with a full-extent convolution (DCGAN's last layer) and BCE-with-logits,
    which is the sigmoid + BCE of the paper computed stably (and in float32 under autocast).
  * Knowledge transfer (initialising from another dataset's checkpoint) is done generically by the
    training code (`--init-from`), not here.

Training against pseudo-anomalies (switchable: `pseudo_anomaly_prob`, `pseudo_anomaly_skips`; on in
`ped2_cpu`: p 0.2, skips 2-5). Not in the paper: the skip-frame pseudo-anomaly of Astrid et al.
("Learning Not to Reconstruct Anomalies", BMVC 2021): with probability p a training window is
replaced by the same place played s x faster, and the generator's reconstruction loss (and the
discriminator's "real" side) use the NORMAL-speed window that starts at the same frame
(`Batch.reconstruction_target`): the generator learns not to reconstruct abnormal motion. The
adversarial losses are unchanged. Measured effect (Ped2, seeds 0-2, paper protocol): the README's
Ped2 seed table and ablation (`bench/ped2_seeds.py --families st_dcgan --pseudo both`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from vadlab.models.base import BaseConfig, WindowReconstructor
from vadlab.models.layers import ChannelAttention, discriminator_bce, generator_bce
from vadlab.outputs import Batch
from vadlab.registry import register_model


@dataclass(frozen=True)
class StDcganConfig(BaseConfig):
    channels: int = 3
    height: int = 128
    width: int = 128
    window: int = 8
    lr: float = 2e-4  # generator Adam (DCGAN)
    lr_discriminator: float = 2e-4  # discriminator Adam (DCGAN)
    beta1: float = 0.5  # Adam beta1 for both networks (DCGAN)
    batch_size: int = 8
    widths: tuple[int, ...] = (32, 64, 128)  # channels per encoder stage (each stream); decoder mirrors
    disc_widths: tuple[int, ...] = (32, 64, 128)  # discriminator stages (each halves H and W)
    attention_reduction: int = 4  # squeeze-and-excitation bottleneck ratio
    reconstruction_weight: float = 100.0  # lambda of the L1 reconstruction term (pix2pix)
    adversarial_weight: float = 1.0


def motion_input(clip: torch.Tensor) -> torch.Tensor:
    """Frame differences fed to the motion stream: (B, C, T, H, W) -> (B, C, T, H, W).

    Frame t holds x[t] - x[t-1] (values in [-2, 2]); frame 0 holds zeros (no previous frame).
    """
    diff = clip[:, :, 1:] - clip[:, :, :-1]  # (B, C, T-1, H, W)
    return F.pad(diff, (0, 0, 0, 0, 1, 0))  # (B, C, T, H, W), zero difference prepended


class ResidualBlock3d(nn.Module):
    """Two 3x3x3 convolutions (BN) with an identity shortcut: act(x + F(x)). Shape-preserving."""

    def __init__(self, channels: int, act: Callable[[], nn.Module] = nn.ReLU):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm3d(channels), act(),
            nn.Conv3d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm3d(channels),
        )
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class EncoderStage(nn.Module):
    """Strided 3D convolution (H, W halved, T kept) + residual block: (B, in, T, H, W) -> (B, out, T, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, 3, stride=(1, 2, 2), padding=1, bias=False)
        self.norm = nn.BatchNorm3d(out_ch)
        self.act = nn.LeakyReLU(0.2)
        self.residual = ResidualBlock3d(out_ch, act=lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(self.act(self.norm(self.conv(x))))


class DecoderStage(nn.Module):
    """Transposed 3D convolution (H, W doubled, T kept) + residual block + SE channel attention:
    (B, in, T, H, W) -> (B, out, T, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int, reduction: int):
        super().__init__()
        self.up = nn.ConvTranspose3d(in_ch, out_ch, (3, 4, 4), stride=(1, 2, 2), padding=1, bias=False)
        self.norm = nn.BatchNorm3d(out_ch)
        self.act = nn.ReLU()
        self.residual = ResidualBlock3d(out_ch)
        self.attention = ChannelAttention(out_ch, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.residual(self.act(self.norm(self.up(x)))))


class TwoStreamGenerator(nn.Module):
    """Residual 3D autoencoder with an appearance + motion encoder and a channel-attention decoder.

    (B, C, T, H, W) in [-1, 1] -> (B, C, T, H, W) reconstruction in [-1, 1].
    """

    def __init__(self, channels: int, widths: tuple[int, ...], reduction: int):
        super().__init__()
        ins = (channels,) + tuple(widths[:-1])

        def stream() -> nn.Sequential:
            return nn.Sequential(*[EncoderStage(i, o) for i, o in zip(ins, widths)])

        self.appearance_stream = stream()
        self.motion_stream = stream()
        bottleneck = widths[-1]
        self.fuse = nn.Sequential(
            nn.Conv3d(2 * bottleneck, bottleneck, 1, bias=False), nn.BatchNorm3d(bottleneck), nn.LeakyReLU(0.2)
        )
        outs = tuple(reversed(widths[:-1])) + (widths[0],)  # e.g. 64, 32, 32 for widths 32-64-128
        dec_ins = (bottleneck,) + outs[:-1]
        self.decoder = nn.Sequential(*[DecoderStage(i, o, reduction) for i, o in zip(dec_ins, outs)])
        self.head = nn.Conv3d(outs[-1], channels, 3, padding=1)

    def encode(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> fused bottleneck (B, widths[-1], T, H/2**n, W/2**n)."""
        appearance = self.appearance_stream(clip)
        motion = self.motion_stream(motion_input(clip))
        return self.fuse(torch.cat([appearance, motion], dim=1))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.decoder(self.encode(clip))))  # (B, C, T, H, W)


class WindowDiscriminator(nn.Module):
    """DCGAN discriminator over a window: (B, C, T, H, W) -> (B,) real/fake logits."""

    def __init__(self, channels: int, widths: tuple[int, ...], window: int, height: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = channels
        for i, out_ch in enumerate(widths):
            layers.append(nn.Conv3d(in_ch, out_ch, (3, 4, 4), stride=(1, 2, 2), padding=1, bias=i == 0))
            if i > 0:  # DCGAN: no batch norm on the first layer
                layers.append(nn.BatchNorm3d(out_ch))
            layers.append(nn.LeakyReLU(0.2))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        n = len(widths)
        # full-extent convolution = one logit per window (DCGAN's last layer)
        self.classifier = nn.Conv3d(in_ch, 1, (window, height // 2**n, width // 2**n))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(clip)).flatten(1).squeeze(1)  # (B,)


class StDcgan(WindowReconstructor):
    """Spatio-temporal DCGAN: two-stream residual 3D autoencoder generator with channel attention."""

    config_class = StDcganConfig

    def __init__(self, config: StDcganConfig):
        super().__init__(config)
        c = config
        n = max(len(c.widths), len(c.disc_widths))
        if not c.widths or not c.disc_widths:
            raise ValueError("st_dcgan needs at least one generator and one discriminator stage (widths, disc_widths)")
        if c.height % 2**n or c.width % 2**n:
            raise ValueError(f"st_dcgan needs height and width divisible by {2**n}, got {c.height}x{c.width}")
        if c.window < 2:
            raise ValueError(f"st_dcgan needs a window of at least 2 frames (motion stream), got {c.window}")
        self.generator = TwoStreamGenerator(c.channels, tuple(c.widths), c.attention_reduction)
        self.discriminator = WindowDiscriminator(c.channels, tuple(c.disc_widths), c.window, c.height, c.width)

    def reconstruct(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, T, H, W) reconstruction in [-1, 1]."""
        return self.generator(clip)

    def configure_optimizers(self):
        c = self.config
        betas = (c.beta1, 0.999)
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_discriminator, betas=betas),
        }

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """No training phases: every epoch alternates D and G steps the same way."""

    def train_step(self, batch: Batch, optimizers) -> dict[str, float]:
        c = self.config
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        real = batch.reconstruction_target  # the input window, or for a pseudo-anomaly the normal window
        fake = self.generator(batch.clip)  # (B, C, T, H, W)

        # Discriminator: real windows -> 1, reconstructed windows -> 0 (standard GAN loss).
        d_real = self.discriminator(real)  # (B,) logits
        d_fake = self.discriminator(fake.detach())
        d_loss = discriminator_bce(d_real, d_fake)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with torch.no_grad():
            # fraction of real windows classified real and reconstructions classified fake
            d_accuracy = torch.cat([(d_real > 0), (d_fake < 0)]).float().mean()

        # Generator: fool D (fake labelled real) and reconstruct the input window.
        d_on_fake = self.discriminator(fake)
        adversarial = generator_bce(d_on_fake)
        reconstruction = (fake - real).abs().mean()
        g_loss = c.adversarial_weight * adversarial + c.reconstruction_weight * reconstruction
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {
            "g_loss": float(g_loss.detach()),
            "d_loss": float(d_loss.detach()),
            "reconstruction": float(reconstruction.detach()),
            "adversarial": float(adversarial.detach()),
            "d_accuracy": float(d_accuracy),
        }




register_model(
    "st_dcgan",
    presets={
        "paper": StDcganConfig(),
        "tiny": StDcganConfig(
            channels=1, height=64, width=64, window=4, widths=(4, 8, 8), disc_widths=(4, 8, 8),
            lr=1e-3, lr_discriminator=1e-3, batch_size=8,
        ),
        # One CPU thread, minutes per Ped2 run (64x64 grey; about 1 min per epoch at most): `bench/ped2.py --preset cpu`.
        "cpu": StDcganConfig(
            channels=1, height=64, width=64, window=4, widths=(8, 16, 16), disc_widths=(8, 16, 16),
            lr=1e-3, lr_discriminator=1e-3, batch_size=8,
        ),
        # The Ped2 CPU recipe (`vadlab train --model st_dcgan --preset ped2_cpu --threads 1 --data ped2:...`):
        # the `cpu` network, every second window, 8 epochs, cosine decay after a warm-up, the epoch kept
        # on the pseudo-anomaly AUC of held-out normal frames.
        "ped2_cpu": StDcganConfig(
            channels=1, height=64, width=64, window=4, widths=(8, 16, 16), disc_widths=(8, 16, 16),
            lr=1e-3, lr_discriminator=1e-3, batch_size=8, epochs=8, train_stride=2, lr_schedule="cosine",
            warmup_steps=100, model_selection="pseudo_anomaly", pseudo_anomaly_prob=0.2,
        ),
    },
    score_kind="mse",
    target="window",
    paper="Anil et al., Video Anomaly Detection using Generative Adversarial Network, IJSREM 9(4), 2025",
)(StDcgan)
