"""Learning curves: test AUC against training minutes, one line per checkpoint (never a test).

    python bench/learning_curves.py checkpoints/*_ped2_cpu.json --out docs/learning_curves.png

Reads the `monitor_test_micro_auc` points that `vadlab train --monitor-test N` (or
`bench/ped2.py --monitor-every N`) stores in a checkpoint's training history: test AUC (paper
protocol) measured every N epochs, MONITORING ONLY (the best epoch is chosen on held-out normal
frames), against the training clock (monitoring time excluded). The chosen epoch is marked.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(meta: dict) -> tuple[list[float], list[float], tuple[float, float] | None]:
    training = meta.get("training") or {}
    points = [(h["train_seconds"] / 60, h["monitor_test_micro_auc"]) for h in training.get("history", [])
              if h.get("monitor_test_micro_auc") is not None]
    best = training.get("best_epoch")
    chosen = next(((h["train_seconds"] / 60, h["monitor_test_micro_auc"]) for h in training.get("history", [])
                   if h.get("epoch") == best and h.get("monitor_test_micro_auc") is not None), None)
    return [p[0] for p in points], [p[1] for p in points], chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoint .json files")
    p.add_argument("--out", default="docs/learning_curves.png")
    p.add_argument("--title", default="UCSD Ped2: test micro AUC while training on one CPU thread (monitoring only)")
    p.add_argument("--labels", nargs="*", default=None, help="one legend label per checkpoint (default: its name)")
    args = p.parse_args(argv)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    drawn = 0
    labels = args.labels or []
    for i, path in enumerate(args.checkpoints):
        meta = json.loads(Path(path).read_text())
        xs, ys, chosen = curve(meta)
        if not xs:
            print(f"{path}: no monitored points (train with --monitor-test N)", file=sys.stderr)
            continue
        label = labels[i] if i < len(labels) else f"{Path(path).stem} ({meta['training'].get('preset')})"
        line, = ax.plot(xs, ys, marker="o", label=label)
        if chosen:
            ax.scatter([chosen[0]], [chosen[1]], s=140, facecolors="none", edgecolors=line.get_color(), linewidths=2)
        drawn += 1
    ax.set_xlabel("training minutes (1 CPU thread, monitoring excluded)")
    ax.set_ylabel("test micro AUC (paper protocol)")
    ax.set_title(args.title, fontsize=10)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=8, loc="center right")
    ax.text(0.01, 0.02, "circled: the epoch kept (chosen on held-out NORMAL frames, never on these test figures)",
            transform=ax.transAxes, fontsize=7)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, bbox_inches="tight")
    print(f"wrote {args.out} ({drawn} curves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
