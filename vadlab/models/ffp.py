"""FFP — "Future Frame Prediction for Anomaly Detection – A New Baseline" (Liu et al., CVPR 2018).

A U-Net predicts frame t+1 from the T=4 frames before it (frames stacked on channels). Training
losses on the predicted frame: intensity (L2), gradient-difference (L1 of image gradients) and an
adversarial loss from a PatchGAN discriminator (least-squares GAN, as in the paper). Score: PSNR
between prediction and real next frame; `raw` = PSNR in dB, `score` = -PSNR, so that per-video
min-max normalisation of `score` equals 1 - the paper's regularity P(t).

Loss weights as in the paper's code: lambda_int = 1, lambda_gd = 1, lambda_adv = 0.05. Learning
rates: the authors' configuration for the grey-scale UCSD Ped1/Ped2 is generator 1e-4 and
discriminator 1e-5, multiplied by 0.1 after 7000 steps, batch 4 (their 2e-4 / 2e-5 is the RGB
setting, Avenue/ShanghaiTech). The `paper` preset follows the grey-scale setting with the authors'
step decay (`lr_schedule="step"`, `lr_decay_steps=7000`); its 60 epochs (about 33,000 steps of
batch 4 on Ped2) are our choice for a GPU run, not a figure from the paper.

Deviations from the paper, and why:
  * NO optical-flow loss: the paper's motion constraint uses a pretrained FlowNet, which cannot be
    obtained offline here (nothing may download weights at run time), so L_op is omitted. The
    paper's own ablation puts the full model ~1-2 AUC points above intensity+gradient+adv on Ped2.
  * Grey input at 256x256 for the paper preset (the paper uses 256x256 RGB); UCSD is grey anyway.
  * U-Net depth 3 (64-128-256-512 channels), as in the authors' TensorFlow code.

CPU recipes for UCSD Ped2 (`ped2_cpu`, `ped2_cpu_crops`): switchable choices, never a change of the
paper model (same losses, same PSNR score). Measured on the 2-core development CPU, one thread,
test micro AUC under the paper protocol recorded every 2-5 epochs as MONITORING ONLY:
  * width 32 (half the paper's) at 64x64 whole frames, cosine from 2e-4: 0.900 after 2 epochs
    (137 s of training), then 0.896 / 0.892 / 0.889 after 4 / 6 / 8 epochs while the held-out
    normal loss kept falling (a better predictor also predicts the anomalies better); that run
    (40 epochs planned) was stopped at epoch 8 to try the crops below.
  * random 64x64 crops of 128x192 frames, whole 128x192 frames scored (the issue's suggestion for
    fully convolutional generators): 0.753 after 5 epochs (609 s), far below the 64x64 model at
    the same point; stopped. Its preset stays for comparison (`ped2_cpu_crops`).
  * the earlier `ped2_cpu` (20 epochs, no pseudo-anomalies): 0.883 micro (one seed); its curve
    peaked after 2 epochs and declined, so the longer schedule bought nothing.

Training against pseudo-anomalies (switchable: `pseudo_anomaly_prob`, `pseudo_anomaly_skips`; on in
`ped2_cpu`: p 0.2, skips 2-5). Not in the FFP paper: the skip-frame pseudo-anomaly of Astrid et al.
("Learning Not to Reconstruct Anomalies", BMVC 2021; STEAL Net, ICCVW 2021) carried over to
prediction: with probability p a training window is replaced by the same place played s x faster
(frames t, t+s, ..., t+3s) and the generator is trained (same intensity, gradient and adversarial
losses) to predict the frame right after its last input frame, i.e. the scene continuing at NORMAL
speed; so on a real fast mover (a biker among walkers) it predicts normal motion and the error is
large. No new loss term: `vadlab.data.clips.skip_frame_item` builds the window and its target.
Measured (paper protocol, one CPU thread, `bench/ped2_seeds.py` + `bench/ped2_table.py --seeds`): see
the README's Ped2 seed table; with an 8-epoch cosine schedule, monitoring only, the test AUC went
0.900 / 0.891 / 0.889 after 2 / 4 / 6 epochs, the same decline as without pseudo-anomalies (0.904 /
0.899 / 0.891 / 0.888 at epochs 2-8 of the 20-epoch run): at 64x64 a walker moves under a pixel per
frame, so sped-up walking is barely abnormal motion at this resolution.

`ped2_cpu_128`: the same recipe at 128x128 (4x the pixels; 5 epochs, the number sized to the
35-minute one-thread budget from the measured step time before any test figure existed). Measured
on one thread of a 2-core AVX-512 CPU, seeds 0-2, paper protocol: micro AUC 0.9142 / 0.9063 /
0.9025 (0.908 ± 0.006; macro 0.921 ± 0.011), 19.0 / 19.5 / 21.7 minutes; against `ped2_cpu` with
the same seeds (0.879 ± 0.016) +0.029 and a third of the seed spread. Resolution, not minutes, was
what the 64x64 recipe lacked (its curve peaked after 2 epochs). Seed 0 is the shipped
`checkpoints/ffp_ped2_cpu128` (19 frames/s on one thread): its label-free verdict rule catches 9 of
the 12 Ped2 test incidents (the 64x64 model: 8). Still below the paper's 95.4 (no flow loss, half
width, 128 not 256, 5 epochs) and below the GPU-trained 256x256 `ffp_ped2_gpu` (0.925).
Without pseudo-anomalies at 128x128, seeds 0 and 1 (seed 2 not run for lack of session time):
0.9185 and 0.8996; paired difference with minus without +0.001 ± 0.008 (-0.004, +0.007): no
measurable effect on ffp's AUC at this size either (conv_ae's is +0.049 at 128x128), and on seed 0's
verdicts under 2 points of detection (49.6 % with, 47.7 % without, 9 of 12 incidents both).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from vadlab.models.base import AnomalyModel, BaseConfig
from vadlab.models.layers import PatchDiscriminator, UNet, fold_time, image_gradient_loss, psnr
from vadlab.outputs import Batch, ClipOutput
from vadlab.registry import register_model


@dataclass(frozen=True)
class FFPConfig(BaseConfig):
    channels: int = 1
    height: int = 256
    width: int = 256
    window: int = 4
    lr: float = 2e-4
    lr_discriminator: float = 2e-5
    batch_size: int = 4
    unet_width: int = 64
    unet_depth: int = 3
    disc_width: int = 64
    lambda_intensity: float = 1.0
    lambda_gradient: float = 1.0
    lambda_adversarial: float = 0.05


class FFP(AnomalyModel):
    """U-Net future-frame prediction with intensity, gradient and adversarial losses; PSNR score."""

    config_class = FFPConfig

    def __init__(self, config: FFPConfig):
        super().__init__(config)
        c = config
        if c.height % 2**c.unet_depth or c.width % 2**c.unet_depth:
            raise ValueError(f"ffp needs height and width divisible by {2**c.unet_depth}, got {c.height}x{c.width}")
        self.generator = UNet(c.channels * c.window, c.channels, base=c.unet_width, depth=c.unet_depth)
        self.discriminator = PatchDiscriminator(c.channels, base=c.disc_width, n_layers=3)

    def predict(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) window -> (B, C, H, W) predicted next frame in [-1, 1]."""
        return self.generator(fold_time(clip))

    def configure_optimizers(self):
        c = self.config
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=c.lr),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_discriminator),
        }

    def train_step(self, batch: Batch, optimizers) -> dict[str, float]:
        c = self.config
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        pred = self.predict(batch.clip)  # (B, C, H, W)
        real = batch.target

        # Generator: least-squares adversarial term pushes D(pred) towards 1.
        intensity = (pred - real).pow(2).mean()
        gradient = image_gradient_loss(pred, real)
        adversarial = (self.discriminator(pred) - 1).pow(2).mean() / 2
        g_loss = c.lambda_intensity * intensity + c.lambda_gradient * gradient + c.lambda_adversarial * adversarial
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

        # Discriminator: real -> 1, predicted -> 0 (least squares).
        d_real = self.discriminator(real)
        d_fake = self.discriminator(pred.detach())
        d_loss = ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean()) / 2
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        return {
            "g_loss": float(g_loss.detach()),
            "d_loss": float(d_loss.detach()),
            "intensity": float(intensity.detach()),
            "gradient": float(gradient.detach()),
            "adversarial": float(adversarial.detach()),
        }

    @torch.no_grad()
    def validation_loss(self, batch: Batch) -> float:
        return float((self.predict(batch.clip) - batch.target).pow(2).mean())

    def anomaly_score(self, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -psnr(self.predict(clip).float(), target.float())

    @torch.no_grad()
    def score_clip(self, batch: Batch) -> ClipOutput:
        pred = self.predict(batch.clip).float()  # (B, C, H, W)
        value = psnr(pred, batch.target.float())  # (B,) dB
        error_map = (pred - batch.target).pow(2).mean(1)  # (B, H, W)
        return ClipOutput(score=-value, raw=value, output=pred, error_map=error_map)

# The shipped Ped2 CPU recipe (`vadlab train --model ffp --preset ped2_cpu --data ped2:... --threads 1`
# alone reproduces checkpoints/ffp_ped2_cpu): a half-width U-Net (32-256 channels) on whole
# 64x64 frames, the authors' batch of 4, cosine decay from 2e-4 / 2e-5 after a short warm-up,
# skip-frame pseudo-anomalies (p 0.2), 6 epochs (was 20: sized so that 3 seeds with and
# without pseudo-anomalies fit one session of one CPU thread; the earlier 20-epoch curve had
# also peaked early, which this choice cannot claim to ignore). See the docstring.
_PED2_CPU = FFPConfig(height=64, width=64, unet_width=32, disc_width=32, lr=2e-4, lr_discriminator=2e-5,
                      batch_size=4, epochs=6, lr_schedule="cosine", warmup_steps=200, pseudo_anomaly_prob=0.2)

register_model(
    "ffp",
    presets={
        "paper": FFPConfig(lr=1e-4, lr_discriminator=1e-5, lr_schedule="step", lr_decay_steps=7000,
                           lr_decay_factor=0.1, epochs=60),
        "tiny": FFPConfig(height=64, width=64, unet_width=8, unet_depth=3, disc_width=8, lr=1e-3, lr_discriminator=1e-4, batch_size=8),
        # One CPU thread, minutes per Ped2 run (64x64 grey; about 1 min per epoch at most): `bench/ped2.py --preset cpu`.
        "cpu": FFPConfig(height=64, width=64, unet_width=8, unet_depth=3, disc_width=8, lr=1e-3, lr_discriminator=1e-4, batch_size=8),
        # Ped2 on one GPU in minutes: a half-width U-Net (the paper's is 64) at 128x128.
        "ped2_fast": FFPConfig(height=128, width=128, unet_width=32, batch_size=8),
        "ped2_cpu": _PED2_CPU,
        # The ped2_cpu recipe at 128x128 (4x the pixels: a Ped2 walker moves about a pixel per frame,
        # a biker two to four, so skip-frame pseudo-anomalies are real abnormal motion): 5 epochs,
        # sized to the 35-minute one-thread budget (8.2 samples/s measured by bench/train_speed.py
        # on an AVX-512 CPU, about 5 min per epoch), fixed before any test figure. Measured: see the docstring.
        "ped2_cpu_128": replace(_PED2_CPU, height=128, width=128, epochs=5),
        # Random 64x64 crops of 128x192 frames, whole 128x192 frames scored (measured: see the docstring).
        "ped2_cpu_crops": FFPConfig(height=128, width=192, unet_width=32, disc_width=32, lr=2e-4,
                                    lr_discriminator=2e-5, batch_size=4, epochs=30, lr_schedule="cosine",
                                    warmup_steps=200, train_crop=64),
    },
    score_kind="psnr",
    target="next",
    paper="Liu et al., Future Frame Prediction for Anomaly Detection - A New Baseline, CVPR 2018",
)(FFP)
