"""LRCN-GAN — "CCTV Image Sequence Generation and Modeling Method for Video Anomaly Detection Using
Generative Adversarial Network" (W. Shin and S.-B. Cho, IDEAL 2018, LNCS 11314; source paper S2,
`papers/002_*.txt`, whose extracted text carries no title: identified from its abstract). A GAN
whose discriminator is an LRCN (Donahue et al. 2015) is trained first; the discriminator's feature
extractor is then transferred to a VAD classifier fine-tuned on labelled windows (evaluated by
10-fold cross-validation on UCSD Ped1 against the same LRCN trained from scratch).

SUPERVISED family. What is scored: a window of T frames is classified normal / anomalous; the score
of the window's LAST frame is the softmax probability of the anomalous class (`score` = `raw` = that
probability, in [0, 1]). There is no reconstruction, so `output` and `error_map` are None.

Architecture (paper Tables 3 and 4):
  * Generator: z ~ N(0, I) -> Dense to (base, H/2, W/2) -> nearest up-sampling x2 -> Conv 3x3 ->
    Conv 3x3 -> Conv 1x1 with sigmoid to a C*T-channel block = T frames (batch norm on every layer
    but the last).
  * Discriminator = LRCN: time-distributed [Conv2D(16, 7x7) -> MaxPool 2 -> Conv2D(16, 5x5) ->
    MaxPool 2 -> Conv2D(16, 3x3) -> MaxPool 2] (valid padding, ReLU) -> dropout 0.5 ->
    LSTM(1024) -> dropout 0.5 -> Dense(256, ReLU) -> Dense(2) (softmax). Its FEATURE EXTRACTOR is
    the convolutions + LSTM (`LRCN.features`), its HEAD the two dense layers (`LRCN.head`).
  * Classifier: a second LRCN of the same architecture (`self.classifier`).

Training, two phases (the training loop calls `on_epoch_start(epoch, total_epochs)` each epoch):
  1. the first `gan_epoch_count(total_epochs)` epochs (about `gan_fraction` of them) train the GAN
     on the windows (labels unused). Discriminator classes: 0 = REAL window, 1 = GENERATED window.
     Also reported: `cosine_similarity` and `l2_distance` between each real window and a generated
     one (the paper's Fig. 3), `d_accuracy`.
  2. at the switch `transfer_discriminator_to_classifier()` copies the discriminator's feature
     extractor into the classifier (the classifier head stays freshly initialised) and the rest of
     the epochs fine-tune the classifier with cross-entropy on LABELLED windows (`batch.label`, 1 =
     anomalous: at least half of the window's frames are anomalous, the rule of
     `vadlab.data.clips.WindowDataset(labels=..., label_fraction=0.5)`). Classifier classes:
     0 = NORMAL, 1 = ANOMALOUS.
  `pretrain_gan=False` is the paper's "LRCN from scratch" baseline: no GAN (and no generator /
  discriminator are built), the whole classifier trains from random initialisation every epoch.

Class balance: the paper under-samples the majority class; the training loop does that every
epoch (`vadlab.data.clips.balanced_indices`); as a fallback for
unbalanced batches `train_step` weights each class by the inverse of its count in the batch, so
both classes contribute equally to the loss.

Deviations from the paper, and why:
  * Pixel range: our windows are in [-1, 1]; the generator's sigmoid output s is mapped to 2s - 1.
    Cosine similarity and L2 distance are computed on [0, 1] pixels ((x + 1) / 2), the paper's
    sigmoid range, pairing each real window of the batch with one generated window and averaging
    over the batch (the paper averages 30 random pairs).
  * Generator: the text says "two convolutional layers" after up-sampling, Table 3 lists three
    (3x3 x 100, 3x3 x 50, 1x1 x 10); we follow Table 3 (`generator_widths=(100, 50)` + the 1x1).
    Table 3's Dense of 1,092,000 units = 200 x 60 x 91, i.e. `generator_base=200` channels at half
    the 120 x 182 frame size. The noise size is not given: `z_dim=100`. Batch norm after the dense
    layer is per channel (BatchNorm2d after the reshape), not per unit: 1.09M per-unit statistics
    serve no purpose. The last conv outputs C*T channels, so RGB (C=3) blocks are possible too.
  * GAN loss: the discriminator minimises the 2-way cross-entropy (the minimax objective of Eq. 1
    written for a softmax head); the generator uses the NON-SATURATING form (maximise log D(G(z))
    instead of minimising log(1 - D(G(z)))), standard practice since Goodfellow et al. 2014 (same
    fixed point, usable gradients early on).
  * LSTM: PyTorch's `nn.LSTM` has no peephole terms (Eqs. 4-7 copy them from Graves); the Keras
    LSTM the paper's "TD" (TimeDistributed) layers point to has none either. The head reads the
    last hidden state (Keras `return_sequences=False`).
  * Fine-tuning: the paper fine-tunes "according to the left-most scenario in Table 2" (little new
    data, similar data -> "learn only the classifier"), so with `freeze_transferred_features=True`
    (both presets) phase 2 trains only the head; set it False to fine-tune the whole network.
  * Initialisation is not given (Keras would use Glorot): the LRCN's ReLU convolutions use He
    (Kaiming) init with zero bias, so the conv features keep their scale through the three stages;
    with PyTorch's default init they shrink ~3x per stage and a frozen, briefly pre-trained feature
    extractor barely depends on its input.
  * Optimisers are not given: Adam (lr 2e-4, beta1 0.5) for G and D, Adam `classifier_lr` for the
    classifier. The paper trains the GAN ~3000 steps then fine-tunes; we split EPOCHS by
    `gan_fraction` (at least one epoch of each phase when there are two or more epochs).
  * Frame size: 182 x 120 (W x H) as in the paper (valid convolutions + pooling give 12 x 20
    feature maps, Table 4); the generator needs even H and W.
  * Evaluation: the paper reports window classification (recall, precision, accuracy, F1 with
    10-fold CV); the lab scores every frame with the window that ends on it and adds frame AUC.
  * `validation_loss` is NaN during phase 1 (the classifier is not trained yet, so there is
    nothing to select on; the training loop skips NaN epochs when choosing the best epoch) and the
    class-balanced cross-entropy of the classifier in phase 2 (mean anomalous probability when the
    batch has no labels).
  * Frozen transfer (head-only fine-tuning): the transferred extractor is run in EVAL mode (no
    dropout) while the head trains, i.e. it is the fixed function it is at scoring time. Its
    dropout (0.5 before the LSTM) used to stay on, and after the GAN phase that noise swamped
    the features' window-to-window differences, so the head learnt nothing (constant prediction).
  * `head_batch_norm` (tiny preset only; the paper preset keeps Table 4's head): at tiny scale the
    weak generator loses at once (D accuracy ~1 from the 2nd epoch) and the discriminator's LSTM
    saturates (~90% of the hidden units at |h| > 0.95, window-to-window std ~0.01 against a mean
    magnitude ~0.9), so the head's input carries its information in a tiny offset it cannot use
    (cross-entropy stuck at log 2). A parameter-free BatchNorm1d in front of the head rescales it;
    measured on a training split: training-window AUC 0.41 -> 0.90 after the same phase 2.
  * `augment` (an option, off in every preset, as in the paper; `--set augment=true` turns it on):
    `augment_windows` flips each REAL training window horizontally (p = 0.5) and translates it by
    an integer shift up to `augment_shift` (0.25) of H and W, the SAME flip and shift for every frame
    of the window (its motion is kept, only its position changes), filling from outside by
    reflection (a constant -1 border would be a new cue). Applied in `train_step` to both phases
    (phase 1: only the real windows the discriminator sees; never at validation or scoring). Why:
    the LRCN flattens position-bound conv maps into its LSTM, and each anomalous synthetic clip
    holds one moving anomaly, so a held-out block of blocked k-fold CV shows objects at positions
    never seen in training; the training windows are fitted (~0.98 accuracy) but CV AUC was below
    0.5. Measured (`vadlab cv --folds 4 --epochs 12`, synthetic samples, pooled window AUC / F1):
    without -> with augmentation, LRCN from scratch 0.430 / 0.313 -> 0.525 / 0.439, GAN+LRCN
    0.412 / 0.269 -> 0.371 / 0.284. It is NOT enough: the frozen GAN features + head no longer fit
    the augmented training windows (accuracy ~0.49 after 12 epochs) and both stay near chance.
    Global max pooling of the conv maps (position-free LSTM input), tried with augmentation on the
    scratch LRCN, was worse (pooled AUC 0.39), so it was not kept. Because augmentation makes the
    paper's variant (GAN+LRCN) unable to fit its training windows, the presets leave it off.
    On real data the picture differs: UCSD Ped2 has 28 clips and anomalies (bikes, carts) all over
    the walkway, and blocked 10-fold CV without augmentation (`vadlab cv --folds 10 --epochs 10
    --stride 2 --data ped2:...`, tiny preset) gives GAN+LRCN pooled F1 0.695 / window AUC 0.840,
    stable over folds (F1 0.69 +- 0.11), vs LRCN from scratch 0.639 / 0.832, which collapses to one
    class in 3 of 10 folds (F1 0.55 +- 0.40): the synthetic failure is a small-data effect.
  * cuDNN's LSTM cannot back-propagate in eval mode; `anomaly_score` (what Captum attributes)
    disables cuDNN for its own forward pass when it needs gradients on CUDA (scoped, not global).
"""
from __future__ import annotations

import dataclasses
import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vadlab.models.base import AnomalyModel, BaseConfig
from vadlab.outputs import Batch, ClipOutput
from vadlab.registry import register_model

# class indices of the two 2-way heads
REAL, GENERATED = 0, 1  # discriminator
NORMAL, ANOMALOUS = 0, 1  # classifier
PHASE_GAN, PHASE_CLASSIFIER = 0, 1


@dataclass(frozen=True)
class LRCNGANConfig(BaseConfig):
    channels: int = 1
    height: int = 120
    width: int = 182
    window: int = 10
    lr: float = 2e-4  # generator and discriminator (Adam, beta1 0.5)
    batch_size: int = 16
    classifier_lr: float = 1e-4  # classifier fine-tuning / from-scratch training (Adam)
    # LRCN (discriminator and classifier), Table 4
    conv_filters: tuple[int, int, int] = (16, 16, 16)
    conv_kernels: tuple[int, int, int] = (7, 5, 3)
    lstm_hidden: int = 1024
    dense_hidden: int = 256
    dropout: float = 0.5
    # generator, Table 3
    z_dim: int = 100
    generator_base: int = 200  # channels of the dense output, at (H/2, W/2)
    generator_widths: tuple[int, ...] = (100, 50)  # the 3x3 convolutions before the final 1x1
    # phases
    pretrain_gan: bool = True  # False: the paper's "LRCN from scratch" baseline
    gan_fraction: float = 0.5  # share of the epochs spent training the GAN (phase 1)
    freeze_transferred_features: bool = True  # phase 2 trains only the head (paper, Table 2)
    # not in the paper: standardise the head's input (BatchNorm1d without affine parameters on the
    # LSTM's last hidden state); the tiny preset needs it, see "Deviations" in the module docstring
    head_batch_norm: bool = False
    # not in the paper: position-invariance augmentation of the REAL training windows (both phases):
    # a random horizontal flip and a random translation by up to `augment_shift` of H and W,
    # the same for every frame of a window (reflect padding); see "Deviations"
    augment: bool = False
    augment_shift: float = 0.25


def lrcn_feature_shape(config: LRCNGANConfig) -> tuple[int, int, int]:
    """(filters, h, w) of one frame after the three valid conv + 2x2 max-pool stages."""
    h, w = config.height, config.width
    for k in config.conv_kernels:
        h, w = (h - k + 1) // 2, (w - k + 1) // 2
    return config.conv_filters[-1], h, w


class LRCNFeatures(nn.Module):
    """The LRCN feature extractor: time-distributed convolutions, dropout, LSTM.

    (B, C, T, H, W) -> (B, lstm_hidden), the LSTM's last hidden state.
    """

    def __init__(self, config: LRCNGANConfig):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = config.channels
        for filters, kernel in zip(config.conv_filters, config.conv_kernels):
            layers += [nn.Conv2d(in_ch, filters, kernel), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            in_ch = filters
        self.convs = nn.Sequential(*layers)
        for module in self.convs:
            if isinstance(module, nn.Conv2d):  # He init for ReLU convs: features keep their scale
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        self.dropout = nn.Dropout(config.dropout)
        filters, h, w = lrcn_feature_shape(config)
        self.lstm = nn.LSTM(filters * h * w, config.lstm_hidden, batch_first=True)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = clip.shape
        frames = clip.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, C, H, W)
        maps = self.convs(frames)  # (B*T, F, h', w')
        sequence = self.dropout(maps.reshape(b, t, -1))  # (B, T, F*h'*w')
        hidden, _ = self.lstm(sequence)  # (B, T, lstm_hidden)
        return hidden[:, -1]  # (B, lstm_hidden)


class LRCN(nn.Module):
    """LRCN classifier (Donahue et al. 2015, as in S2 Table 4): (B, C, T, H, W) -> (B, 2) logits."""

    def __init__(self, config: LRCNGANConfig):
        super().__init__()
        self.features = LRCNFeatures(config)
        norm: list[nn.Module] = [nn.BatchNorm1d(config.lstm_hidden, affine=False)] if config.head_batch_norm else []
        self.head = nn.Sequential(
            *norm,
            nn.Dropout(config.dropout),
            nn.Linear(config.lstm_hidden, config.dense_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.dense_hidden, 2),
        )

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(clip))  # (B, 2)


class BlockGenerator(nn.Module):
    """Noise -> a block of T frames (S2 Table 3): (B, z_dim) -> (B, C, T, H, W) in [-1, 1]."""

    def __init__(self, config: LRCNGANConfig):
        super().__init__()
        c = config
        self.base = c.generator_base
        self.half = (c.height // 2, c.width // 2)
        self.block = (c.channels, c.window, c.height, c.width)
        self.dense = nn.Linear(c.z_dim, c.generator_base * self.half[0] * self.half[1])
        self.dense_norm = nn.BatchNorm2d(c.generator_base)
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")]
        in_ch = c.generator_base
        for width in c.generator_widths:
            layers += [nn.Conv2d(in_ch, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            in_ch = width
        layers += [nn.Conv2d(in_ch, c.channels * c.window, 1)]  # the last layer: no batch norm
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        x = self.dense(z).view(b, self.base, *self.half)  # (B, base, H/2, W/2)
        x = F.relu(self.dense_norm(x))
        x = self.convs(x)  # (B, C*T, H, W)
        block = 2.0 * torch.sigmoid(x) - 1.0  # sigmoid as in the paper, mapped to our [-1, 1]
        return block.view(b, *self.block)  # (B, C, T, H, W)


def augment_windows(clip: torch.Tensor, max_shift: float, flip: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Random horizontal flip (probability 0.5) and random translation of each window.

    clip: (B, C, T, H, W). Every window draws ONE flip and ONE integer shift (dy, dx), uniform in
    [-round(max_shift * H), +round(max_shift * H)] (resp. W), applied identically to all its T
    frames, so its motion is preserved and only its position changes. Pixels shifted in from outside
    the frame are filled by reflection (the scene continues instead of a constant border that could
    become a cue). Returns a new (B, C, T, H, W) tensor; `max_shift` is a fraction of the frame
    size in [0, 0.5). `generator` seeds the draws (default: torch's global RNG, seeded by training).
    """
    if not 0.0 <= max_shift < 0.5:
        raise ValueError(f"augment_shift must be a fraction of the frame size in [0, 0.5), got {max_shift}")
    b, c, t, h, w = clip.shape
    device = clip.device
    if flip:
        flips = torch.rand(b, generator=generator) < 0.5  # (B,)
        clip = torch.where(flips.to(device).view(b, 1, 1, 1, 1), clip.flip(-1), clip)
    sy, sx = min(round(max_shift * h), h - 1), min(round(max_shift * w), w - 1)
    if sy == 0 and sx == 0:
        return clip
    dy = torch.randint(-sy, sy + 1, (b,), generator=generator).tolist()
    dx = torch.randint(-sx, sx + 1, (b,), generator=generator).tolist()
    stacked = clip.reshape(b, c * t, h, w)  # (B, C*T, H, W): frames share the spatial shift
    padded = F.pad(stacked, (sx, sx, sy, sy), mode="reflect")  # (B, C*T, H+2sy, W+2sx)
    # output pixel (i, j) = input pixel (i - dy, j - dx): crop starting at (sy - dy, sx - dx)
    crops = [padded[i, :, sy - dy[i]: sy - dy[i] + h, sx - dx[i]: sx - dx[i] + w] for i in range(b)]
    return torch.stack(crops).reshape(b, c, t, h, w)  # (B, C, T, H, W)


def class_balanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (B, 2) logits against (B,) long labels, each class present in the batch
    weighted by the inverse of its count (= mean over classes of the per-class mean loss)."""
    counts = torch.bincount(labels, minlength=2).float()  # (2,)
    weight = torch.where(counts > 0, 1.0 / counts.clamp_min(1.0), torch.zeros_like(counts))
    return F.cross_entropy(logits.float(), labels, weight=weight)


class LRCNGAN(AnomalyModel):
    """GAN with an LRCN discriminator transferred to a supervised window classifier (S2)."""

    config_class = LRCNGANConfig

    def __init__(self, config: LRCNGANConfig):
        super().__init__(config)
        c = config
        if c.height % 2 or c.width % 2:
            raise ValueError(f"lrcn_gan needs even height and width (the generator up-samples x2), got {c.height}x{c.width}")
        if not (len(c.conv_filters) == len(c.conv_kernels) == 3):
            raise ValueError("lrcn_gan needs exactly three conv_filters and three conv_kernels (paper Table 4)")
        _, fh, fw = lrcn_feature_shape(c)
        if fh < 1 or fw < 1:
            raise ValueError(
                f"lrcn_gan: {c.height}x{c.width} frames are too small for valid convolutions with kernels "
                f"{c.conv_kernels} and three 2x2 poolings; use at least about 32x32"
            )
        if not 0.0 <= c.gan_fraction <= 1.0:
            raise ValueError(f"lrcn_gan: gan_fraction must be in [0, 1], got {c.gan_fraction}")
        if c.pretrain_gan:
            self.generator = BlockGenerator(c)
            self.discriminator = LRCN(c)
        self.classifier = LRCN(c)
        # Training state that must survive a checkpoint / resume (fixed shape scalars).
        self.register_buffer("phase", torch.tensor(PHASE_GAN if c.pretrain_gan else PHASE_CLASSIFIER, dtype=torch.long))
        self.register_buffer("transferred", torch.tensor(0, dtype=torch.long))

    # ---- phases ---------------------------------------------------------------------------
    def gan_epoch_count(self, total_epochs: int) -> int:
        """How many of `total_epochs` epochs train the GAN (phase 1); the rest fine-tune.

        round(gan_fraction * total_epochs), kept within [1, total_epochs - 1] when there are two or
        more epochs and 0 < gan_fraction < 1, so both phases happen; 0 without `pretrain_gan`.
        """
        c = self.config
        if not c.pretrain_gan or c.gan_fraction <= 0.0 or total_epochs <= 0:
            return 0
        if c.gan_fraction >= 1.0:
            return total_epochs
        if total_epochs < 2:
            return 0
        return min(max(round(c.gan_fraction * total_epochs), 1), total_epochs - 1)

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """Select the phase of `epoch` (0-based); at the first classifier epoch of a GAN-pretrained
        model, transfer the discriminator's feature extractor into the classifier (once: a resumed
        run that is already past the switch keeps its fine-tuned classifier)."""
        phase = PHASE_GAN if epoch < self.gan_epoch_count(total_epochs) else PHASE_CLASSIFIER
        if phase == PHASE_CLASSIFIER and self.config.pretrain_gan and not bool(self.transferred):
            self.transfer_discriminator_to_classifier()
        self.phase.fill_(phase)

    @property
    def phase_name(self) -> str:
        return "gan" if int(self.phase) == PHASE_GAN else "classifier"

    @torch.no_grad()
    def transfer_discriminator_to_classifier(self) -> None:
        """Copy the discriminator's feature extractor (convolutions + LSTM) into the classifier, in
        place (optimizers keep their parameter references). The classifier's head is NOT touched.
        Idempotent: calling it twice in a row leaves the same weights."""
        if not self.config.pretrain_gan:
            raise RuntimeError("lrcn_gan with pretrain_gan=False has no discriminator to transfer (LRCN-from-scratch baseline)")
        self.classifier.features.load_state_dict(self.discriminator.features.state_dict())
        self.transferred.fill_(1)

    def _features_frozen(self) -> bool:
        return self.config.pretrain_gan and self.config.freeze_transferred_features

    # ---- training -------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        optimizers = {"classifier": torch.optim.Adam(self.classifier.parameters(), lr=c.classifier_lr)}
        if c.pretrain_gan:
            optimizers["generator"] = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=(0.5, 0.999))
            optimizers["discriminator"] = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=(0.5, 0.999))
        return optimizers

    def train_step(self, batch: Batch, optimizers) -> dict[str, float]:
        if self.config.augment:
            clip = augment_windows(batch.clip, self.config.augment_shift)  # (B, C, T, H, W)
            batch = dataclasses.replace(batch, clip=clip, target=clip[:, :, -1])  # target: last frame
        if int(self.phase) == PHASE_GAN:
            return self._gan_step(batch, optimizers)
        return self._classifier_step(batch, optimizers)

    def _gan_step(self, batch: Batch, optimizers) -> dict[str, float]:
        real = batch.clip  # (B, C, T, H, W)
        b = real.shape[0]
        device = real.device
        real_class = torch.full((b,), REAL, dtype=torch.long, device=device)
        generated_class = torch.full((b,), GENERATED, dtype=torch.long, device=device)
        generated = self.generator(torch.randn(b, self.config.z_dim, device=device))  # (B, C, T, H, W)

        opt_d = optimizers["discriminator"]
        logits_real = self.discriminator(real)  # (B, 2)
        logits_generated = self.discriminator(generated.detach())
        d_loss = F.cross_entropy(logits_real.float(), real_class) + F.cross_entropy(logits_generated.float(), generated_class)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        opt_g = optimizers["generator"]
        g_loss = F.cross_entropy(self.discriminator(generated).float(), real_class)  # non-saturating
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

        with torch.no_grad():
            real01 = (real.float().flatten(1) + 1.0) / 2.0  # (B, C*T*H*W) in [0, 1]
            generated01 = (generated.float().flatten(1) + 1.0) / 2.0
            cosine = F.cosine_similarity(real01, generated01, dim=1).mean()
            l2 = (real01 - generated01).norm(dim=1).mean()
            correct = (logits_real.argmax(1) == REAL).float().sum() + (logits_generated.argmax(1) == GENERATED).float().sum()
        return {
            "d_loss": float(d_loss.detach()),
            "g_loss": float(g_loss.detach()),
            "d_accuracy": float(correct) / (2 * b),
            "cosine_similarity": float(cosine),
            "l2_distance": float(l2),
        }

    @staticmethod
    def _window_labels(batch: Batch) -> torch.Tensor:
        if batch.label is None:
            raise ValueError(
                "lrcn_gan is supervised: its classifier phase needs window labels (batch.label, 1 = anomalous); "
                "train it on labelled videos"
            )
        return (batch.label >= 0.5).long().view(-1)  # (B,)

    def _classifier_step(self, batch: Batch, optimizers) -> dict[str, float]:
        labels = self._window_labels(batch)
        opt = optimizers["classifier"]
        if self._features_frozen():
            # a frozen extractor is a fixed function: run it deterministically (eval mode, no
            # dropout), as at scoring time; its dropout noise would otherwise swamp the features
            extractor = self.classifier.features
            was_training = extractor.training
            extractor.eval()
            with torch.no_grad():
                features = extractor(batch.clip)  # (B, lstm_hidden)
            extractor.train(was_training)
            logits = self.classifier.head(features)  # (B, 2)
        else:
            logits = self.classifier(batch.clip)
        loss = class_balanced_cross_entropy(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return {"classification_loss": float(loss.detach()), "accuracy": float(accuracy)}

    @torch.no_grad()
    def validation_loss(self, batch: Batch) -> float:
        """NaN in phase 1 (no trained classifier yet); class-balanced cross-entropy of the classifier
        on labelled windows in phase 2, or the mean anomalous probability when there are no labels."""
        if int(self.phase) == PHASE_GAN:
            return math.nan
        logits = self.classifier(batch.clip)
        if batch.label is None:
            return float(torch.softmax(logits.float(), dim=1)[:, ANOMALOUS].mean())
        return float(class_balanced_cross_entropy(logits, self._window_labels(batch)))

    # ---- scoring --------------------------------------------------------------------------
    def anomaly_score(self, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B,) softmax probability that the window is anomalous (differentiable in `clip`)."""
        needs_cudnn_off = clip.is_cuda and torch.is_grad_enabled() and not self.training
        with torch.backends.cudnn.flags(enabled=False) if needs_cudnn_off else nullcontext():
            logits = self.classifier(clip)  # (B, 2)
        return torch.softmax(logits.float(), dim=1)[:, ANOMALOUS]

    @torch.no_grad()
    def score_clip(self, batch: Batch) -> ClipOutput:
        probability = self.anomaly_score(batch.clip, batch.target)  # (B,)
        return ClipOutput(score=probability, raw=probability, output=None, error_map=None)


register_model(
    "lrcn_gan",
    presets={
        "paper": LRCNGANConfig(),
        "tiny": LRCNGANConfig(
            height=64, width=64, window=4, lr=1e-3, classifier_lr=5e-3, batch_size=8,
            conv_filters=(8, 8, 8), lstm_hidden=32, dense_hidden=16,
            z_dim=16, generator_base=8, generator_widths=(8, 4), head_batch_norm=True,
        ),
    },
    score_kind="probability",
    target="window",
    paper="Shin & Cho, CCTV Image Sequence Generation and Modeling Method for Video Anomaly Detection Using GAN, IDEAL 2018",
    supervised=True,
)(LRCNGAN)
