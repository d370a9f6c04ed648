"""The README's Ped2 tables, from checkpoints' own metadata (never a test).

    python bench/ped2_table.py checkpoints/*_ped2_cpu.json          # one row per shipped checkpoint
    python bench/ped2_table.py --seeds runs/seeds/*.json             # mean ± std over seeds (bench/ped2_seeds.py)

With --seeds, runs are grouped by family, preset and whether they trained against pseudo-anomalies;
each group gives the mean ± std (sample std, ddof=1) of micro / macro AUC and EER over its seeds, under
the protocol stored with the metrics (the paper protocol unless a row says otherwise), and the ablation
(with minus without pseudo-anomalies, same seeds).

Per checkpoint: the test metrics stored with their protocol (`vadlab eval --store` or the training
command's evaluation), the paper's Ped2 figure, how it was trained (preset, epochs run and kept,
training minutes and threads, training samples/s = steps x batch / training seconds) and its
scoring frames/s as measured at evaluation.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

PAPER = {"conv_ae": "90.0", "ffp": "95.4", "valt_gan": "97.2", "svd_gan": "76.98", "st_dcgan": "-", "latent_gan": "-"}


def _mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.4f} (1 seed)"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def seeds_table(paths: list[Path]) -> int:
    """Mean ± std over seeds per (family, preset, pseudo-anomalies on/off), then the ablation."""
    groups: dict[tuple, dict] = {}
    protocols = set()
    for path in paths:
        meta = json.loads(path.read_text())
        m, t, c = meta.get("metrics") or {}, meta.get("training") or {}, meta.get("config") or {}
        if m.get("micro_auc") is None:
            continue
        protocols.add((m.get("protocol") or {}).get("short", "?"))
        pseudo = float(c.get("pseudo_anomaly_prob", 0.0) or 0.0) > 0
        g = groups.setdefault((meta["model"], t.get("preset"), pseudo), {"micro": [], "macro": [], "eer": [], "min": [],
                                                                        "seeds": []})
        g["micro"].append(m["micro_auc"])
        g["macro"].append(m["macro_auc"])
        g["eer"].append(m["eer"])
        g["min"].append((t.get("seconds") or 0) / 60)
        g["seeds"].append((t.get("train_config") or {}).get("seed"))
    print("| family | preset | pseudo-anomalies | seeds | micro AUC | macro AUC | EER | train min (mean) | paper (Ped2) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (family, preset, pseudo), g in sorted(groups.items(), key=lambda kv: -statistics.mean(kv[1]["micro"])):
        print(f"| {family} | {preset} | {'yes' if pseudo else 'no'} | {','.join(str(s) for s in sorted(g['seeds']))} | "
              f"{_mean_std(g['micro'])} | {_mean_std(g['macro'])} | {_mean_std(g['eer'])} | "
              f"{statistics.mean(g['min']):.1f} | {PAPER.get(family, '-')} |")
    print("\nAblation (same seeds): micro AUC with minus without pseudo-anomalies")
    print("| family | preset | with | without | difference |")
    print("|---|---|---|---|---|")
    for (family, preset, pseudo), g in sorted(groups.items()):
        other = groups.get((family, preset, False))
        if not pseudo or other is None:
            continue
        common = sorted(set(g["seeds"]) & set(other["seeds"]))
        on = [v for s, v in zip(g["seeds"], g["micro"]) if s in common]
        off = [v for s, v in zip(other["seeds"], other["micro"]) if s in common]
        paired = [g["micro"][g["seeds"].index(s)] - other["micro"][other["seeds"].index(s)] for s in common]
        print(f"| {family} | {preset} | {_mean_std(on)} | {_mean_std(off)} | "
              f"{_mean_std(paired) if paired else 'n/a'} (seeds {','.join(map(str, common))}) |")
    print(f"\nprotocol: {', '.join(sorted(protocols))}")
    return 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", action="store_true", help="the given files are seed runs: mean ± std per group")
    p.add_argument("files", nargs="+", type=Path, help="checkpoint JSON files")
    args = p.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        p.error(f"no such checkpoint JSON: {', '.join(missing)}")
    if args.seeds:
        return seeds_table(args.files)
    paths = args.files
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
