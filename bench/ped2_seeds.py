"""Train Ped2 recipes over several seeds, with and without pseudo-anomalies (never a test).

    python bench/ped2_seeds.py --families ffp conv_ae --seeds 0 1 2 --pseudo both --out runs/seeds
    python bench/ped2_table.py --seeds runs/seeds/*.json          # mean ± std per family and setting

Each run is exactly `vadlab train --model M --preset P --data ped2:... --threads 1 --seed S
--set pseudo_anomaly_prob=X --out OUT/M_pa{on,off}_sS` (the recipe's own probability for "on",
0 for "off"), one after the other, on one CPU thread; a run whose checkpoint JSON exists is skipped,
so an interrupted sweep resumes. The kept epoch is chosen on held-out NORMAL frames; the test split
is evaluated once at the end of each run (paper protocol) and stored in the checkpoint's metadata.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab.registry import get_spec  # noqa: E402

DEFAULT_DATA = f"ped2:{ROOT.parent / 'shared' / 'datasets' / 'ped2'}"


def run_name(family: str, pseudo: bool, seed: int) -> str:
    return f"{family}_pa{'on' if pseudo else 'off'}_s{seed}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--pseudo", choices=["on", "off", "both"], default="both")
    p.add_argument("--preset", default="ped2_cpu")
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/seeds")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = p.parse_args(argv)
    data_path = Path(args.data.split(":", 1)[-1])
    if not data_path.exists():
        print(f"skip: Ped2 not found at {data_path}", file=sys.stderr)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.pseudo]
    for family in args.families:
        recipe = get_spec(family).config(args.preset)
        probability = float(getattr(recipe, "pseudo_anomaly_prob", 0.0))
        for seed in args.seeds:
            for pseudo in settings:
                if pseudo and probability <= 0:
                    print(f"{family}: the {args.preset} recipe trains without pseudo-anomalies; 'on' skipped")
                    continue
                name = run_name(family, pseudo, seed)
                if (out / f"{name}.json").exists():
                    print(f"{name}: done before, skipped")
                    continue
                cmd = [sys.executable, "-m", "vadlab", "train", "--model", family, "--preset", args.preset,
                       "--data", args.data, "--threads", str(args.threads), "--device", "cpu", "--quiet",
                       "--seed", str(seed), "--set", f"pseudo_anomaly_prob={probability if pseudo else 0.0}",
                       "--out", str(out / name)]
                print(" ".join(cmd), flush=True)
                if args.dry_run:
                    continue
                t0 = time.time()
                rc = subprocess.call(cmd, cwd=ROOT)
                print(f"{name}: exit {rc} after {(time.time() - t0) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
