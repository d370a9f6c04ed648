"""Latent GAN — "Enhancing Anomaly Detection in Video Frames and Images using a Novel Deep Learning
Algorithm with Optimized Hyperparameters" (Tank & Patel, Journal of Information Systems Engineering
and Management 10(26s), 2025).

An encoder E maps a window of T frames to a low-dimensional latent code z = E(x), trained inside a
GAN; the anomaly score is the distance of z to the codes of the NORMAL training windows:
score = mean Euclidean distance from z to its k nearest neighbours in a bank of training codes
(`raw` = that distance, in latent units; higher = more anomalous). The bank is built once after
training (`prepare_for_scoring`) and stored as a fixed-size buffer (`bank`, `bank_count`), so the
state_dict alone is the whole model. The paper's pipeline steps are kept: data augmentation,
region-of-interest (ROI) masking, feature extraction (encoder), GAN training, distance scoring.

Our choice of GAN (the paper names none; it says "encoders within the GAN framework"): a GANomaly-
style adversarial autoencoder (Akcay et al. 2018) without the second encoder, because the score is
the latent kNN distance and needs only E:
  * E: the window's frames stacked on channels (B, C*T, H, W) -> four 4x4 stride-2 convolutions
    (LeakyReLU, BN) to H/16 x W/16 -> linear -> z (B, latent_dim);
  * decoder G: linear -> four 4x4 stride-2 transposed convolutions (BN, ReLU) -> tanh, the whole
    window (B, C, T, H, W);
  * D: PatchGAN (`layers.PatchDiscriminator`) on the stacked window, real vs reconstructed;
  * L_G = reconstruction_weight * L1(x, G(E(x))) + adv_weight * BCE(D(G(E(x))), real) (GANomaly's
    weights 50 / 1, with the non-saturating BCE instead of feature matching, simpler and stable at
    this size); L_D = BCE(D(x), real) + BCE(D(G(E(x))), fake) (halved). Adam (0.5, 0.999).

The paper's CNN / RNN / GAN comparison is the `variant` field:
  * "gan": the above; "cnn": the same encoder and decoder trained as a plain autoencoder (L1, no D);
  * "rnn": per-frame CNN features (same conv stack on each frame) -> LSTM over time -> last hidden
    state -> linear -> z; same decoder, trained as an autoencoder.

ROI (`roi`: polygons in normalised [0, 1] coordinates, see `vadlab.roi`; () = whole frame): pixels
outside the ROI are set to -1 (black, as if the mask multiplied the 8-bit frame) BEFORE encoding, the
reconstruction loss counts only pixels inside, D sees masked windows, the error map is zero outside
and `output` is -1 outside. Hence the score does not depend on pixels outside the ROI.

Augmentation (`augment`, training only, per window, the same for all its frames): horizontal flip
with probability `flip_prob`, contrast gain in [1 - contrast, 1 + contrast] around mid-grey (0 in
[-1, 1] units) and brightness offset in [-brightness, +brightness] ([-1, 1] units), then clamped to
[-1, 1]. Augmentation happens before the ROI mask, because the ROI is fixed in camera coordinates.

Bank: codes of all training windows (eval mode, no augmentation); when there are more than
`bank_size`, `bank_size` of them evenly spaced over the training order are kept (indices
round(linspace(0, N - 1, bank_size))), which is deterministic and covers every video. k = 1 by
default: consecutive training windows (stride 1) are near duplicates, so k > 1 mostly averages over
temporal neighbours of the same moment; k = 1 also makes a training window's distance exactly 0.

Deviations from the paper, and why:
  * The paper specifies no architecture, GAN type, window length, latent size or hyper-parameters;
    all of the above are our choices (stated). It works per image; we encode a window of T = 4
    frames so that motion counts (T = 1 gives the per-image model).
  * Only ROI zones given as polygons / mask images are supported (the paper also mentions
    per-person regions, which needs a detector).
  * The paper's "alert message" step belongs to the app, not the model.
  * `validation_loss` is the L1 reconstruction error inside the ROI: the bank does not exist during
    training, so the distance score cannot select epochs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
from torch import nn

from vadlab.models.base import AnomalyModel, BaseConfig
from vadlab.models.layers import PatchDiscriminator, discriminator_bce, fold_time, generator_bce
from vadlab.outputs import Batch, ClipOutput
from vadlab.registry import register_model
from vadlab.roi import normalize_polygons, roi_mask

VARIANTS = ("gan", "cnn", "rnn")


@dataclass(frozen=True)
class LatentGANConfig(BaseConfig):
    channels: int = 1
    height: int = 224  # the paper's Algorithm 1 resizes to 224 x 224
    width: int = 224
    window: int = 4
    lr: float = 2e-4
    batch_size: int = 16
    variant: str = "gan"  # "gan" (adversarial), "cnn" (plain autoencoder), "rnn" (CNN + LSTM encoder)
    latent_dim: int = 128
    widths: tuple[int, int, int, int] = (64, 128, 256, 256)  # encoder convolutions, each halves H and W
    rnn_hidden: int = 256  # per-frame feature size and LSTM hidden size ("rnn")
    disc_base: int = 64
    disc_layers: int = 3
    reconstruction_weight: float = 50.0  # GANomaly w_con
    adv_weight: float = 1.0  # GANomaly w_adv
    k_neighbors: int = 1
    bank_size: int = 4096  # Ped2 has ~2500 training windows: all are kept
    augment: bool = True
    flip_prob: float = 0.5
    brightness: float = 0.1  # max |offset|, [-1, 1] units
    contrast: float = 0.1  # gain in [1 - contrast, 1 + contrast]
    roi: tuple[tuple[tuple[float, float], ...], ...] = ()  # polygons of (x, y) in [0, 1] (or ROI text); () = whole frame

    def __post_init__(self) -> None:
        # JSON gives nested lists; validate the polygons and store them as tuples (hashable, comparable)
        object.__setattr__(self, "roi", normalize_polygons(self.roi))


# ---- networks -----------------------------------------------------------------------------------

def _conv_stack(in_ch: int, widths: tuple[int, ...]) -> nn.Sequential:
    """4x4 stride-2 convolutions: (N, in_ch, H, W) -> (N, widths[-1], H/2**len, W/2**len)."""
    layers: list[nn.Module] = []
    ch = in_ch
    for i, width in enumerate(widths):
        layers.append(nn.Conv2d(ch, width, 4, stride=2, padding=1, bias=i == 0))
        if i > 0:  # DCGAN: no BN on the first layer
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        ch = width
    return nn.Sequential(*layers)


class StackedFrameEncoder(nn.Module):
    """"gan" / "cnn" encoder: (B, C, T, H, W) -> z (B, latent_dim) from the frames stacked on channels."""

    def __init__(self, config: LatentGANConfig):
        super().__init__()
        c = config
        self.convs = _conv_stack(c.channels * c.window, c.widths)
        self.fc = nn.Linear(c.widths[-1] * (c.height // 16) * (c.width // 16), c.latent_dim)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        feats = self.convs(fold_time(clip))  # (B, w, H/16, W/16)
        return self.fc(feats.flatten(1))  # (B, latent_dim)


class RecurrentEncoder(nn.Module):
    """"rnn" encoder: per-frame CNN features -> LSTM over T -> last hidden state -> z (B, latent_dim)."""

    def __init__(self, config: LatentGANConfig):
        super().__init__()
        c = config
        self.convs = _conv_stack(c.channels, c.widths)
        self.frame_fc = nn.Sequential(
            nn.Linear(c.widths[-1] * (c.height // 16) * (c.width // 16), c.rnn_hidden), nn.LeakyReLU(0.2, inplace=True)
        )
        self.lstm = nn.LSTM(c.rnn_hidden, c.rnn_hidden, batch_first=True)
        self.fc = nn.Linear(c.rnn_hidden, c.latent_dim)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = clip.shape
        frames = clip.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, C, H, W)
        feats = self.frame_fc(self.convs(frames).flatten(1))  # (B*T, hidden)
        outputs, _ = self.lstm(feats.view(b, t, -1))  # (B, T, hidden)
        return self.fc(outputs[:, -1])  # (B, latent_dim)


class WindowDecoder(nn.Module):
    """z (B, latent_dim) -> reconstructed window (B, C, T, H, W) in [-1, 1]."""

    def __init__(self, config: LatentGANConfig):
        super().__init__()
        c = config
        self.config = c
        self.start = (c.widths[-1], c.height // 16, c.width // 16)
        self.fc = nn.Linear(c.latent_dim, c.widths[-1] * (c.height // 16) * (c.width // 16))
        layers: list[nn.Module] = [nn.BatchNorm2d(c.widths[-1]), nn.ReLU(inplace=True)]
        chans = list(reversed(c.widths))  # e.g. 256, 256, 128, 64
        for ch_in, ch_out in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(ch_in, ch_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(ch_out), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(chans[-1], c.channels * c.window, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        c = self.config
        stacked = self.net(self.fc(z).view(b, *self.start))  # (B, T*C, H, W)
        return stacked.view(b, c.window, c.channels, c.height, c.width).permute(0, 2, 1, 3, 4)  # (B, C, T, H, W)


# ---- augmentation and distances -----------------------------------------------------------------

def augment_window(
    clip: torch.Tensor,
    flip_prob: float = 0.5,
    brightness: float = 0.1,
    contrast: float = 0.1,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Random per-window augmentation, identical for every frame of a window.

    clip: (B, C, T, H, W) in [-1, 1]. Each window is flipped horizontally with probability
    `flip_prob`, multiplied by a gain in [1 - contrast, 1 + contrast] (around mid-grey, 0) and
    shifted by an offset in [-brightness, brightness], then clamped to [-1, 1]. Returns a new tensor.
    """
    b = clip.shape[0]
    draw = lambda: torch.rand(b, device=clip.device, generator=generator)  # noqa: E731
    flip = (draw() < flip_prob).view(b, 1, 1, 1, 1)
    gain = (1.0 + (draw() * 2 - 1) * contrast).view(b, 1, 1, 1, 1).to(clip.dtype)
    offset = ((draw() * 2 - 1) * brightness).view(b, 1, 1, 1, 1).to(clip.dtype)
    out = torch.where(flip, clip.flip(-1), clip)  # (B, C, T, H, W), whole window flipped or not
    return (out * gain + offset).clamp(-1.0, 1.0)


def knn_distance(codes: torch.Tensor, bank: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Mean Euclidean distance from each code to its k nearest bank codes.

    codes: (B, D); bank: (N, D), N >= 1 (k is capped at N). Returns (B,) float32, exactly 0 for a code
    that is in the bank, differentiable with finite gradients everywhere. Distances are computed as
    explicit differences (not the |a|^2 + |b|^2 - 2ab expansion) so that they are exact.
    """
    if bank.shape[0] == 0:
        raise ValueError("knn_distance: the bank is empty")
    codes = codes.float()
    bank = bank.float()
    squared = torch.cat(
        [(codes[:, None, :] - part[None]).pow(2).sum(-1) for part in bank.split(chunk)], dim=1
    )  # (B, N)
    nearest = squared.topk(min(k, bank.shape[0]), dim=1, largest=False).values  # (B, k)
    tiny = 1e-12  # keeps d sqrt / d x finite at 0; subtracted back so a bank member scores 0
    return ((nearest + tiny).sqrt() - tiny**0.5).clamp_min(0.0).mean(1)


# ---- the family ---------------------------------------------------------------------------------

class LatentGAN(AnomalyModel):
    """Encoder GAN with a latent k-NN distance score to a bank of normal codes (Tank & Patel 2025)."""

    config_class = LatentGANConfig

    def __init__(self, config: LatentGANConfig):
        super().__init__(config)
        c = config
        if c.variant not in VARIANTS:
            raise ValueError(f"latent_gan variant must be one of {VARIANTS}, got {c.variant!r}")
        if c.height % 16 or c.width % 16:
            raise ValueError(f"latent_gan needs height and width divisible by 16, got {c.height}x{c.width}")
        if c.k_neighbors < 1 or c.bank_size < 1:
            raise ValueError(f"latent_gan needs k_neighbors >= 1 and bank_size >= 1, got {c.k_neighbors}, {c.bank_size}")
        self.encoder = RecurrentEncoder(c) if c.variant == "rnn" else StackedFrameEncoder(c)
        self.decoder = WindowDecoder(c)
        self.discriminator = (
            PatchDiscriminator(c.channels * c.window, base=c.disc_base, n_layers=c.disc_layers) if c.variant == "gan" else None
        )
        self.register_buffer("bank", torch.zeros(c.bank_size, c.latent_dim))
        self.register_buffer("bank_count", torch.zeros(1, dtype=torch.long))
        mask = torch.from_numpy(roi_mask(c.roi, c.height, c.width))  # (H, W) bool
        self.register_buffer("inside_roi", mask.view(1, 1, 1, c.height, c.width), persistent=False)  # (1, 1, 1, H, W)

    # ---- pieces ---------------------------------------------------------------------------
    def mask_roi(self, clip: torch.Tensor) -> torch.Tensor:
        """Set pixels outside the ROI to -1. (B, C, T, H, W) or (B, C, H, W) -> same shape."""
        if not self.config.roi:
            return clip
        mask = self.inside_roi if clip.ndim == 5 else self.inside_roi[:, :, 0]
        return torch.where(mask, clip, torch.full((), -1.0, dtype=clip.dtype, device=clip.device))

    def encode(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) in [-1, 1] -> latent codes (B, latent_dim) (ROI applied here)."""
        return self.encoder(self.mask_roi(clip))

    def reconstruct(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> reconstruction of the ROI-masked window (B, C, T, H, W)."""
        return self.decoder(self.encode(clip))

    def _reconstruction_loss(self, reconstruction: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        error = (reconstruction.float() - masked.float()).abs()  # (B, C, T, H, W)
        if not self.config.roi:
            return error.mean()
        inside = self.inside_roi.expand_as(error)
        return error[inside].mean()

    @property
    def bank_codes(self) -> torch.Tensor:
        """The filled part of the bank, (bank_count, latent_dim)."""
        return self.bank[: int(self.bank_count[0])]

    # ---- training -------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """No per-epoch schedule."""

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        autoencoder = list(self.encoder.parameters()) + list(self.decoder.parameters())
        if self.discriminator is None:
            return {"autoencoder": torch.optim.Adam(autoencoder, lr=c.lr)}
        return {
            "generator": torch.optim.Adam(autoencoder, lr=c.lr, betas=(0.5, 0.999)),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=(0.5, 0.999)),
        }

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        c = self.config
        clip = batch.clip
        if c.augment:
            clip = augment_window(clip, c.flip_prob, c.brightness, c.contrast)
        masked = self.mask_roi(clip)  # (B, C, T, H, W)
        reconstruction = self.mask_roi(self.decoder(self.encoder(masked)))  # (B, C, T, H, W)
        rec_loss = self._reconstruction_loss(reconstruction, masked)
        if self.discriminator is None:
            opt = optimizers["autoencoder"]
            opt.zero_grad(set_to_none=True)
            rec_loss.backward()
            opt.step()
            return {"reconstruction": float(rec_loss.detach())}

        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        d_real = self.discriminator(fold_time(masked)).float()
        d_fake = self.discriminator(fold_time(reconstruction.detach())).float()
        loss_d = 0.5 * discriminator_bce(d_real, d_fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        d_pred = self.discriminator(fold_time(reconstruction)).float()  # D's grads here are cleared next step
        adversarial = generator_bce(d_pred)
        loss_g = c.reconstruction_weight * rec_loss + c.adv_weight * adversarial
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {
            "generator": float(loss_g.detach()),
            "discriminator": float(loss_d.detach()),
            "reconstruction": float(rec_loss.detach()),
            "adversarial": float(adversarial.detach()),
            "d_real": float(torch.sigmoid(d_real.detach()).mean()),
            "d_fake": float(torch.sigmoid(d_fake.detach()).mean()),
        }

    @torch.no_grad()
    def validation_loss(self, batch: Batch) -> float:
        masked = self.mask_roi(batch.clip)
        return float(self._reconstruction_loss(self.decoder(self.encoder(masked)), masked))

    @torch.no_grad()
    def prepare_for_scoring(self, batches: Iterable[Batch]) -> None:
        """Fill the latent bank with the codes of the normal training windows (eval mode, no
        augmentation); keeps `bank_size` evenly spaced ones when there are more."""
        was_training = self.training
        self.eval()
        try:
            codes = [self.encode(b.clip.to(self.bank.device)).float() for b in batches]
        finally:
            self.train(was_training)
        if not codes:
            raise ValueError("latent_gan.prepare_for_scoring got no batches: pass the normal training windows")
        all_codes = torch.cat(codes)  # (N, latent_dim)
        n = all_codes.shape[0]
        if n > self.config.bank_size:
            keep = torch.linspace(0, n - 1, self.config.bank_size, device=all_codes.device).round().long()
            all_codes = all_codes[keep]  # (bank_size, latent_dim)
        self.bank.zero_()
        self.bank[: all_codes.shape[0]] = all_codes.to(self.bank.dtype)
        self.bank_count.fill_(all_codes.shape[0])

    # ---- scoring --------------------------------------------------------------------------
    def _distance(self, codes: torch.Tensor) -> torch.Tensor:
        if int(self.bank_count[0]) == 0:
            raise RuntimeError(
                "latent_gan: the latent bank is empty; call model.prepare_for_scoring(training batches) after "
                "training (vadlab.train does this) before scoring"
            )
        return knn_distance(codes, self.bank_codes, self.config.k_neighbors)

    def anomaly_score(self, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._distance(self.encode(clip))  # target is the window's last frame, already in clip

    @torch.no_grad()
    def score_clip(self, batch: Batch) -> ClipOutput:
        """Score = k-NN latent distance to the bank. Before `prepare_for_scoring` (e.g. the training
        loop's per-epoch preview) the distance is undefined and `score`/`raw` are NaN, while `output`
        and `error_map` are real; `anomaly_score` raises instead."""
        codes = self.encode(batch.clip)  # (B, latent_dim)
        if int(self.bank_count[0]) == 0:
            distance = torch.full((codes.shape[0],), float("nan"), device=codes.device)
        else:
            distance = self._distance(codes)  # (B,)
        last = self.mask_roi(self.decoder(codes)[:, :, -1].float())  # (B, C, H, W) reconstruction of the scored frame
        error_map = (last - self.mask_roi(batch.target.float())).pow(2).mean(1)  # (B, H, W)
        if self.config.roi:
            error_map = error_map * self.inside_roi[0, 0]  # (B, H, W), zero outside the ROI
        return ClipOutput(score=distance, raw=distance, output=last, error_map=error_map)


_TINY = LatentGANConfig(
    height=32, width=32, window=4, lr=1e-3, batch_size=8, latent_dim=16, widths=(8, 16, 16, 16), rnn_hidden=32,
    disc_base=8, disc_layers=2, bank_size=256,
)
_CPU = dataclasses.replace(
    _TINY, height=64, width=64, latent_dim=64, widths=(16, 32, 64, 64), rnn_hidden=64, disc_base=16, bank_size=2048,
)

register_model(
    "latent_gan",
    presets={
        "paper": LatentGANConfig(),
        "paper_cnn": LatentGANConfig(variant="cnn"),
        "paper_rnn": LatentGANConfig(variant="rnn"),
        "tiny": _TINY,
        "tiny_cnn": dataclasses.replace(_TINY, variant="cnn"),
        "tiny_rnn": dataclasses.replace(_TINY, variant="rnn"),
        # One CPU thread, minutes per Ped2 run (64x64 grey; about 1 min per epoch at most): `bench/ped2.py --preset cpu`.
        "cpu": _CPU,
        "cpu_cnn": dataclasses.replace(_CPU, variant="cnn"),
        "cpu_rnn": dataclasses.replace(_CPU, variant="rnn"),
    },
    score_kind="latent_distance",
    target="window",
    paper="Tank & Patel, Enhancing Anomaly Detection in Video Frames and Images using a Novel Deep Learning "
    "Algorithm with Optimized Hyperparameters, JISEM 2025",
)(LatentGAN)
