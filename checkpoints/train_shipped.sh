#!/usr/bin/env bash
# Reproduce the shipped checkpoints (CPU, a few minutes in all). Each is `vadlab train` on the
# committed synthetic samples; the metrics in each JSON are the samples' test split, computed once
# after training (the best epoch is chosen on held-out NORMAL training frames, never on test labels).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=synthetic:sample_videos
train() { python -m vadlab train --data "$DATA" --device cpu --quiet "$@"; }
train --model conv_ae    --preset tiny --epochs 20 --out checkpoints/conv_ae_synthetic
train --model ffp        --preset tiny --epochs 12 --out checkpoints/ffp_synthetic
train --model st_dcgan   --preset tiny --epochs 12 --out checkpoints/st_dcgan_synthetic
train --model valt_gan   --preset tiny --epochs 12 --out checkpoints/valt_gan_synthetic
train --model svd_gan    --preset tiny --epochs 12 --out checkpoints/svd_gan_synthetic
train --model latent_gan --preset tiny --epochs 12 --out checkpoints/latent_gan_synthetic
# supervised (S2): trained on the LABELLED test clips, so its stored metrics would be in-sample;
# none are stored. Honest figures: `vadlab cv --model lrcn_gan --data synthetic:sample_videos`.
train --model lrcn_gan   --preset tiny --epochs 12 --out checkpoints/lrcn_gan_synthetic
# Calibration for verdicts (metadata only; the weights are untouched): the unseen normal clips of
# the same scene that `vadlab samples` writes to sample_videos/calibration. Then the test-split
# metrics under the paper protocol (frame mean, per-video min-max, undecidable first frames dropped).
for name in conv_ae ffp st_dcgan valt_gan svd_gan latent_gan lrcn_gan; do
  python -m vadlab calibrate --checkpoint "checkpoints/${name}_synthetic" --data synthetic:sample_videos/calibration --frames all --device cpu
done
for name in conv_ae ffp st_dcgan valt_gan svd_gan latent_gan; do
  python -m vadlab eval --checkpoint "checkpoints/${name}_synthetic" --data "$DATA" --store --device cpu > /dev/null
done
