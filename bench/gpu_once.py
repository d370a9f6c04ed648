"""One prepared GPU run: train the presets that fit a time budget, evaluate them, write checkpoints and
a table to one folder (never a test; its logic is tested on the CPU at a tiny scale).

    python bench/gpu_once.py --out $OUT --data folder:.data/ped2_videos --budget-minutes 8 --device cuda
    python bench/gpu_once.py --out /tmp/o --data synthetic:sample_videos --preset tiny --device cpu \\
        --families conv_ae --budget-minutes 1          # the CPU rehearsal (tests/test_gpu_once.py)

The budget covers everything: data preparation (decoding once per family at its resolution),
training, evaluation and writing. Each family gets an equal share of what is left after a fixed
reserve for evaluation; a family trains for its preset's epochs or until its share runs out
(`TrainConfig.max_seconds`; the table says which), the best epoch chosen on held-out normal frames
as always. Families are trained in the given order (most promising first), so a cut budget still
leaves the best ones. Writes OUT/<family>_<preset>.safetensors/.json (each < 16 MiB: float16 when
float32 would not fit), OUT/table.md and OUT/table.json, and OUT/log.txt.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import api  # noqa: E402
from vadlab import device as devices  # noqa: E402
from vadlab.registry import get_spec  # noqa: E402
from vadlab.train import TrainConfig  # noqa: E402

DEFAULT_FAMILIES = "ffp,valt_gan,conv_ae,svd_gan,st_dcgan,latent_gan"
MAX_BYTES = 16 * 2**20


def param_bytes(family: str, preset: str) -> int:
    from vadlab.registry import create_model

    return sum(t.numel() * t.element_size() for t in create_model(family, preset).state_dict().values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--data", required=True, help="a dataset spec with normal training and labelled test videos")
    p.add_argument("--families", default=DEFAULT_FAMILIES)
    p.add_argument("--preset", default="paper")
    p.add_argument("--device", default="auto")
    p.add_argument("--budget-minutes", type=float, default=8.0)
    p.add_argument("--eval-reserve", type=float, default=0.15, help="share of the budget kept for evaluation")
    args = p.parse_args(argv)
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "log.txt", "a")

    def say(msg: str) -> None:
        line = f"[{time.time() - t_start:6.1f}s] {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    dev = devices.resolve(args.device)
    say(f"device {devices.describe(dev)}; budget {args.budget_minutes} min; data {args.data}")
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    runnable = []
    for name in families:
        spec = get_spec(name)
        if spec.supervised:
            say(f"{name}: supervised, its honest figure is `vadlab cv`; skipped")
            continue
        if args.preset not in spec.presets:
            say(f"{name}: no preset {args.preset}; skipped")
            continue
        runnable.append(name)
    budget_s = args.budget_minutes * 60
    rows = []
    for i, name in enumerate(runnable):
        left = budget_s - (time.time() - t_start)
        share = left * (1 - args.eval_reserve) / (len(runnable) - i)
        if share < 10:
            say(f"{name}: {left:.0f} s left, not enough to train; stopping")
            break
        half = param_bytes(name, args.preset) > MAX_BYTES
        cfg = TrainConfig(max_seconds=share)
        say(f"{name}: training ({args.preset}) for at most {share:.0f} s" + (" (float16 weights)" if half else ""))
        try:
            loaded, result = api.train(name, args.data, out / f"{name}_{args.preset}", preset=args.preset,
                                       device=str(dev), train_config=cfg, half=half,
                                       command=f"python bench/gpu_once.py --families {name} --preset {args.preset}")
            m = loaded.metadata.get("metrics") or {}
            row = {"family": name, "preset": args.preset, "epochs_run": len(result.history),
                   "epochs_recipe": loaded.model.config.epochs, "stopped_by_budget": result.stopped_early,
                   "train_minutes": round(result.seconds / 60, 2), "micro_auc": m.get("micro_auc"),
                   "macro_auc": m.get("macro_auc"), "eer": m.get("eer"), "protocol": (m.get("protocol") or {}).get("short"),
                   "size_mb": round((out / f"{name}_{args.preset}.safetensors").stat().st_size / 2**20, 2)}
        except Exception as exc:  # keep going: the table says what failed
            row = {"family": name, "preset": args.preset, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        say(json.dumps(row))
        (out / "table.json").write_text(json.dumps(rows, indent=2))
    lines = ["| family | preset | micro AUC | macro AUC | EER | epochs (recipe) | stopped by budget | train min | MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | {r['preset']} | {r['error']} | | | | | | |")
            continue
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(f"| {r['family']} | {r['preset']} | {fmt(r['micro_auc'])} | {fmt(r['macro_auc'])} | {fmt(r['eer'])} | "
                     f"{r['epochs_run']} ({r['epochs_recipe']}) | {r['stopped_by_budget']} | {r['train_minutes']} | {r['size_mb']} |")
    protocol = next((r.get("protocol") for r in rows if r.get("protocol")), "frame-mean|minmax|s0|drop|micro")
    text = f"{args.data} on {devices.describe(dev)}; protocol {protocol}; {time.time() - t_start:.0f} s in all\n\n" + "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    say("done\n" + text)
    return 0 if rows and all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
