"""Train and evaluate families on UCSD Ped2 and print one table (never part of the test run).

    python bench/ped2.py --model ffp,conv_ae --preset ped2_cpu --threads 1 --monitor-every 5   # the CPU recipes
    python bench/ped2.py --model ffp --preset ped2_fast --epochs 20 --device cuda
    python bench/ped2.py --all --preset paper --device cuda           # the GPU run of issue 3
    python bench/ped2.py --all --preset cpu --epochs 20 --stride 2 --max-minutes 12 --device cpu  # CPU scale
    python bench/ped2.py --model conv_ae,ffp --preset tiny --epochs 2      # a few families, quickly

Data: --data (default ../shared/datasets/ped2, the frame folders; `folder:` paths work too, e.g.
folder:../shared/datasets/ped2_videos). Training uses the 16 normal training clips only; the best
epoch is chosen on held-out training frames; the test split is used once, for the table.
Columns: micro / macro frame AUC (per-video min-max normalised scores, as the papers), EER,
the paper's Ped2 figure, training minutes, scoring frames/s (batch 1 and batched), peak memory.
Each checkpoint is saved with its test metrics in its metadata (reported there, never used to select).
A family without the requested preset runs at `tiny` (the table says which preset ran); --epochs
defaults to the preset's own (a preset is a complete recipe).
Learning curves: with --monitor-every N the test split is evaluated every N epochs (paper protocol,
MONITORING ONLY: the best epoch is still chosen on held-out normal frames, and the monitoring time
is excluded from the training minutes); the curve is stored in each checkpoint's history and
`bench/learning_curves.py` draws it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import api  # noqa: E402
from vadlab import device as devices  # noqa: E402
from vadlab.overrides import recipe_overrides  # noqa: E402
from vadlab.registry import get_spec, list_models  # noqa: E402
from vadlab.train import TrainConfig  # noqa: E402

PAPER_PED2_AUC = {"conv_ae": 90.0, "ffp": 95.4, "valt_gan": 97.2, "svd_gan": 76.98}
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "ped2"


def run_one(name: str, args, dev) -> dict:
    spec = get_spec(name)
    preset = next(p for p in (args.preset, "cpu" if args.preset == "ped2_cpu" else None, "tiny") if p in spec.presets)
    if spec.supervised:  # trained on labelled test videos: its honest figures come from k-fold CV
        return {"family": name, "preset": preset, "note": f"supervised: `vadlab cv --model {name} --folds 10 --data {args.data}`"}
    out = Path(args.out_dir) / f"{name}_ped2"
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    cfg = TrainConfig(max_seconds=args.max_minutes * 60 if args.max_minutes else None, threads=args.threads,
                      max_steps_per_epoch=args.max_steps, num_workers=args.workers)
    loaded, result = api.train(name, args.data, out, preset=preset, epochs=args.epochs, device=str(dev),
                               overrides=recipe_overrides(stride=args.stride),
                               train_config=cfg, evaluate_after=True, half=args.half,
                               monitor_test=args.monitor_every, command=" ".join(["python", *sys.argv]))
    train_min = result.seconds / 60  # the training clock (monitoring excluded)
    row = {"family": name, "preset": preset, "epochs_run": len(result.history), "train_minutes": round(train_min, 2),
           "threads": torch.get_num_threads(),
           "curve": [{"minutes": h["train_seconds"] / 60, "micro_auc": h["monitor_test_micro_auc"]}
                     for h in result.history if "monitor_test_micro_auc" in h]}
    res = api.evaluate(loaded, args.data, batch_size=args.batch_size)  # again, timed on its own
    b1 = api.evaluate(loaded, args.data, batch_size=1) if args.batch1 else None
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20
    row.update({
        "micro_auc": round(res.micro_auc, 4), "macro_auc": round(res.macro_auc, 4), "eer": round(res.eer, 4),
        "paper_auc": PAPER_PED2_AUC.get(name), "fps_batched": round(res.frames_per_second, 1),
        "fps_batch1": round(b1.frames_per_second, 1) if b1 else None, "peak_mb": round(peak),
        "checkpoint": str(out),
    })
    return row


def print_table(rows: list[dict], device: str) -> None:
    print(f"\nUCSD Ped2, frame level, per-video min-max; device {device}")
    print("| family | preset | micro AUC | macro AUC | EER | paper | train min | fps b1 | fps batched | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "micro_auc" not in r:
            print(f"| {r['family']} | {r['preset']} | {r.get('note', r.get('error', ''))} | | | | {r.get('train_minutes', '')} | | | |")
            continue
        print(f"| {r['family']} | {r['preset']} | {r['micro_auc']:.4f} | {r['macro_auc']:.4f} | {r['eer']:.4f} | "
              f"{r['paper_auc'] or '-'} | {r['train_minutes']} | {r['fps_batch1'] or '-'} | {r['fps_batched']} | {r['peak_mb']} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="a family, or several separated by commas")
    g.add_argument("--all", action="store_true")
    p.add_argument("--preset", default="paper")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's epochs")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--monitor-every", type=int, default=0, help="test AUC every N epochs (learning curve; monitoring only)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None)
    p.add_argument("--out-dir", default=str(ROOT / "runs" / "bench"))
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--stride", type=int, default=None, help="default: the preset's train_stride")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--batch1", action="store_true", help="also time batch-1 scoring (slow)")
    p.add_argument("--half", action="store_true")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    if args.data is None:
        if not DEFAULT_DATA.exists():
            print(f"skip: UCSD Ped2 not found at {DEFAULT_DATA}; pass --data ped2:PATH", file=sys.stderr)
            return 0
        args.data = f"ped2:{os.path.relpath(DEFAULT_DATA)}"  # relative: checkpoints record no machine's paths
    dev = devices.resolve(args.device)
    names = list_models() if args.all else [n.strip() for n in args.model.split(",") if n.strip()]
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        p.error(f"unknown families {unknown}; known: {', '.join(list_models())}")
    rows = []
    for name in names:
        print(f"== {name}", flush=True)
        try:
            rows.append(run_one(name, args, dev))
        except Exception as exc:  # keep the table going; the failure is reported in it
            rows.append({"family": name, "preset": args.preset, "error": f"{type(exc).__name__}: {exc}"})
        print_table(rows, devices.describe(dev))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
