#!/usr/bin/env bash
# Reproduce the shipped UCSD Ped2 checkpoints (*_ped2_cpu) on a CPU: one thread per run, at most
# 12 minutes of training each (so the number of epochs run depends on the machine). Needs the Ped2
# frame folders at ../shared/datasets/ped2 (never committed). Trained on the 16 normal training clips;
# the best epoch is chosen on held-out NORMAL training frames; the metrics in each JSON are the test
# split, computed once after training. About 45 minutes; every run is seeded, so the families can
# also be run as separate commands in parallel (`--model st_dcgan`, ...) with the same results.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
DATA=ped2:../shared/datasets/ped2
python bench/ped2.py --model st_dcgan,svd_gan,conv_ae,valt_gan,latent_gan --preset cpu --epochs 20 --stride 2 \
    --max-minutes 12 --device cpu --data "$DATA" --out-dir runs/ped2_cpu --json runs/ped2_cpu/bench.json
for name in conv_ae valt_gan latent_gan st_dcgan svd_gan; do
  cp "runs/ped2_cpu/${name}_ped2.safetensors" "checkpoints/${name}_ped2_cpu.safetensors"
  cp "runs/ped2_cpu/${name}_ped2.json" "checkpoints/${name}_ped2_cpu.json"
done
# ffp_ped2_cpu was the first Ped2 run (issue 2), made with the training command itself:
python -m vadlab train --model ffp --preset tiny --data "$DATA" --epochs 15 --stride 2 --device cpu \
    --quiet --out checkpoints/ffp_ped2_cpu
