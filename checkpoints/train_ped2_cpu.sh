#!/usr/bin/env bash
# Reproduce the shipped UCSD Ped2 checkpoints (*_ped2_cpu) on a CPU: one thread per run, at most
# 12 minutes of training each (so the number of epochs run depends on the machine). Needs the Ped2
# frame folders at ../shared/datasets/ped2 (never committed). Trained on the 16 normal training clips;
# the best epoch is chosen on held-out NORMAL training frames; the metrics in each JSON are the test
# split, computed once after training. Two runs in parallel use both cores of a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
DATA=ped2:../shared/datasets/ped2
bench() { python bench/ped2.py --preset cpu --epochs 20 --stride 2 --max-minutes 12 --device cpu --out-dir runs/ped2_cpu --data "$DATA" "$@"; }
bench --model conv_ae,valt_gan,latent_gan --json runs/ped2_cpu/a.json &
bench --model st_dcgan,svd_gan --json runs/ped2_cpu/b.json &
wait
for name in conv_ae valt_gan latent_gan st_dcgan svd_gan; do
  cp "runs/ped2_cpu/${name}_ped2.safetensors" "checkpoints/${name}_ped2_cpu.safetensors"
  cp "runs/ped2_cpu/${name}_ped2.json" "checkpoints/${name}_ped2_cpu.json"
done
# ffp_ped2_cpu was the first Ped2 run (issue 2), made with the training command itself:
python -m vadlab train --model ffp --preset tiny --data "$DATA" --epochs 15 --stride 2 --device cpu \
    --quiet --out checkpoints/ffp_ped2_cpu
