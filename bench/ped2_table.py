"""The README's Ped2 table, from the shipped checkpoints' own metadata (never a test).

    python bench/ped2_table.py checkpoints/*_ped2_cpu.json

Per checkpoint: the test metrics stored with their protocol (`vadlab eval --store` or the training
command's evaluation), the paper's Ped2 figure, how it was trained (preset, epochs run and kept,
training minutes and threads, training samples/s = steps x batch / training seconds) and its
scoring frames/s as measured at evaluation.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

PAPER = {"conv_ae": "90.0", "ffp": "95.4", "valt_gan": "97.2", "svd_gan": "76.98", "st_dcgan": "-", "latent_gan": "-"}


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    print("| family | micro AUC | macro AUC | EER | paper (Ped2) | preset | epochs run (kept) | train min | threads "
          "| train samples/s | scoring frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    protocols = set()
    for path in paths:
        meta = json.loads(path.read_text())
        m, t, c = meta.get("metrics") or {}, meta.get("training") or {}, meta.get("config") or {}
        protocols.add((m.get("protocol") or {}).get("short", "?"))
        seconds = t.get("seconds") or 0
        samples = (t.get("steps") or 0) * c.get("batch_size", 0) / seconds if seconds else float("nan")
        epochs = t.get("epochs_run", len(t.get("history", [])))
        f = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"| {meta['model']} | {f(m.get('micro_auc'))} | {f(m.get('macro_auc'))} | {f(m.get('eer'))} | "
              f"{PAPER.get(meta['model'], '-')} | {t.get('preset')} | {epochs} ({t.get('best_epoch')}) | "
              f"{seconds / 60:.1f} | {t.get('threads', 1)} | {samples:.1f} | {m.get('frames_per_second', float('nan')):.0f} |")
    print(f"\nprotocol: {', '.join(sorted(protocols))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
