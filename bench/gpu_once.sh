#!/usr/bin/env bash
# One call on a lent GPU (see the device tool): installs carried cp312 wheels when present, then
# trains the paper presets that fit the budget, evaluates them and writes the table + packed
# checkpoints to OUT (at most 8 files, each under 16 MiB: what the device machine sends back).
#   run(command="bash bench/gpu_once.sh $OUT", carry=[".data/ped2_videos", ".whl"], timeout_s=570)
# Prepare once here: mkdir -p .data && cp -r ../shared/datasets/ped2_videos .data/  (git-ignored)
# Afterwards, here: python bench/gpu_once.py --unpack <files_at> --into checkpoints/gpu
# The budget (minutes) counts from this script's start: the wheel install comes out of it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/gpu_once.sh OUT_DIR [DATA] [BUDGET_MINUTES]}
DATA=${2:-folder:.data/ped2_videos}
BUDGET=${3:-8}
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
LEFT=$(python3 -c "print(max(0.5, $BUDGET - $SECONDS / 60))")
python3 bench/gpu_once.py --out "$OUT" --data "$DATA" --budget-minutes "$LEFT" --device "${DEVICE:-cuda}" \
    --preset "${PRESET:-paper}" --families "${FAMILIES:-ffp,valt_gan,conv_ae,svd_gan,st_dcgan,latent_gan}"
