"""Research tools the papers use: hyper-parameter / ablation sweeps and k-fold cross-validation.

    vadlab sweep --model svd_gan --data synthetic:sample_videos --grid use_svd_loss=true,false rank=4,8
    vadlab cv --model lrcn_gan --folds 10 --data ped2:../shared/datasets/ped2

Sweep: trains one model per grid point (fields of the family's config, or `epochs`), reports the
validation loss on held-out NORMAL training frames (the selection criterion) next to the test
AUC (reported, not used to select: choosing the row with the best test AUC is selection on the
test set, and the table says so).

Cross-validation (supervised families, S2): BLOCKED k-fold over the labelled videos: every video is
cut into k contiguous blocks and fold i tests on block i of every video, training on the rest with
`window` frames purged on each side of the test block, so that overlapping windows never leak
between train and test (a plain shuffled window-level k-fold, as the paper appears to use, would
put near-identical windows on both sides). GAN-pretrained LRCN and LRCN from scratch are trained
on the same folds.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from vadlab import device as devices
from vadlab.data.clips import WindowDataset, collate_windows
from vadlab.data.datasets import load_dataset
from vadlab.files import atomic_write
from vadlab.metrics import auc_score, threshold_metrics
from vadlab.registry import create_model, get_spec
from vadlab.train import TrainConfig, fit


# ------------------------------------------------------------------------------------------------
# sweep
# ------------------------------------------------------------------------------------------------
def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """["lr=1e-4,2e-4", "use_svd_loss=true,false"] -> {"lr": [1e-4, 2e-4], "use_svd_loss": [True, False]}."""
    from vadlab.cli import _parse_value

    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got '{item}'")
        key, values = item.split("=", 1)
        grid[key.strip()] = [_parse_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def sweep(family: str, data: str, grid: dict[str, list[Any]], preset: str = "tiny", epochs: int = 3,
          device: str = "auto", out_dir: str | Path = "runs/sweep", train_config: Optional[TrainConfig] = None,
          on_row=None) -> list[dict]:
    """Train one model per grid point; rows of {params..., val_loss, micro_auc, macro_auc, eer, seconds}."""
    from vadlab import api

    spec = get_spec(family)
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    unknown = [k for k in grid if k not in fields and k != "epochs"]
    if unknown:
        raise ValueError(f"{family}: unknown config field(s) {', '.join(unknown)}; fields: {', '.join(sorted(fields))}")
    keys = list(grid)
    rows = []
    out_dir = Path(out_dir)
    for i, values in enumerate(itertools.product(*(grid[k] for k in keys))):
        params = dict(zip(keys, values))
        overrides = {k: v for k, v in params.items() if k != "epochs"}
        n_epochs = int(params.get("epochs", epochs))
        loaded, result = api.train(family, data, out_dir / f"{family}_{i:02d}", preset=preset, epochs=n_epochs,
                                   device=device, overrides=overrides, train_config=train_config)
        m = loaded.metadata.get("metrics") or {}
        row = {**params, "val_loss": result.best_val_loss, "micro_auc": m.get("micro_auc"),
               "macro_auc": m.get("macro_auc"), "eer": m.get("eer"), "seconds": round(result.seconds, 1)}
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# cross-validation
# ------------------------------------------------------------------------------------------------
def blocked_folds(n_frames: int, folds: int, purge: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For one video: per fold, (train frame ranges as a list of (start, stop), test (start, stop)).

    Returned as arrays [[start, stop), ...]; the test block is contiguous; `purge` frames on each
    side of it are in neither set."""
    edges = np.linspace(0, n_frames, folds + 1).round().astype(int)
    out = []
    for i in range(folds):
        a, b = int(edges[i]), int(edges[i + 1])
        train = [(0, max(0, a - purge)), (min(n_frames, b + purge), n_frames)]
        out.append((np.array([t for t in train if t[1] > t[0]]).reshape(-1, 2), np.array([a, b])))
    return out


def fold_failure(history: Sequence[dict], stopped_early: bool, epochs: int) -> Optional[str]:
    """Why a cross-validation fold's trained model must not be counted, or None when it may.

    A fold fails when its training stopped at the time cap (`TrainResult.stopped_early`: fewer
    epochs than asked, so it is not the model the other folds are) or when no epoch trained the
    classifier head (lrcn_gan's GAN phase logs `cosine_similarity`, its classifier phase logs
    `classification_loss`: without a classifier epoch the head is still at its random init and
    its predictions say nothing about the method).
    """
    classifier_epochs = sum(1 for h in history if "classification_loss" in h)
    if classifier_epochs == 0:
        if stopped_early:
            return (f"time cap reached before the classifier head was trained "
                    f"({len(history)} of {epochs} epochs run, all in the GAN phase)")
        return f"the classifier head was never trained (all {len(history)} epochs were GAN-phase epochs)"
    if stopped_early:
        return (f"time cap reached after {len(history)} of {epochs} epochs "
                f"({classifier_epochs} classifier epoch{'s' if classifier_epochs != 1 else ''})")
    return None


@torch.no_grad()
def _window_predictions(model, videos, labels, window: int, device) -> tuple[np.ndarray, np.ndarray]:
    ds = WindowDataset(videos, window, "window", stride=1, labels=labels)
    if len(ds) == 0:
        return np.zeros(0), np.zeros(0)
    probs, ys = [], []
    model.eval()
    for batch in torch.utils.data.DataLoader(ds, batch_size=64, collate_fn=collate_windows):
        out = model.score_clip(batch.to(device))
        probs.append(out.raw.float().cpu().numpy())
        ys.append(batch.label.numpy())
    return np.concatenate(probs), np.concatenate(ys)


def cross_validate(family: str, data: str, folds: int = 10, preset: str = "tiny", epochs: int = 5,
                   device: str = "auto", variants: Optional[dict[str, dict]] = None, seed: int = 0,
                   train_config: Optional[TrainConfig] = None, on_fold=None) -> dict[str, dict]:
    """Blocked k-fold CV of a supervised family on a dataset's labelled videos.

    variants: name -> config overrides; default for lrcn_gan: {"GAN+LRCN": {"pretrain_gan": True},
    "LRCN (scratch)": {"pretrain_gan": False}}. Returns per variant the mean and std over folds of
    recall, precision, accuracy, F1 (window level, probability >= 0.5 = anomalous) and the
    per-fold rows, plus the last epoch's GAN-phase cosine similarity / L2 when the family logs them.

    A fold whose training hit the time cap (`train_config.max_seconds`) or never trained the
    classifier head (`fold_failure`) is not evaluated: its row is {"fold", "failed": reason,
    "epochs_run", ...}, and it is left out of the mean, the std and the pooled figures; the
    summary counts the folds used (`folds_used`) and failed (`folds_failed`).
    """
    from vadlab import api

    spec = get_spec(family)
    if not spec.supervised:
        raise ValueError(f"cross-validation is for supervised families; '{family}' is trained on normal video only")
    dev = devices.resolve(device)
    variants = variants or {"GAN+LRCN": {"pretrain_gan": True}, "LRCN (scratch)": {"pretrain_gan": False}}
    ds = load_dataset(data)
    probe = create_model(family, preset)
    videos, labels, _ = api.load_training_videos(ds, probe, supervised=True)
    window = probe.config.window
    cfg = train_config or TrainConfig(seed=seed)
    cfg = dataclasses.replace(cfg, epochs=epochs, val_fraction=0.0)
    results: dict[str, dict] = {}
    for vname, overrides in variants.items():
        fold_rows = []
        pooled_probs: list[np.ndarray] = []
        pooled_labels: list[np.ndarray] = []
        for k in range(folds):
            tr_v, tr_l, te_v, te_l = [], [], [], []
            for v, l in zip(videos, labels):
                train_ranges, (a, b) = blocked_folds(int(v.shape[0]), folds, purge=window)[k]
                for s, e in train_ranges:
                    tr_v.append(v[s:e]); tr_l.append(l[s:e])  # noqa: E702
                te_v.append(v[a:b]); te_l.append(l[a:b])  # noqa: E702
            torch.manual_seed(seed + k)
            model = create_model(family, preset, **overrides)
            res = fit(model, tr_v, dataclasses.replace(cfg, seed=seed + k), dev, spec.target, labels=tr_l)
            gan_epochs = [h for h in res.history if "cosine_similarity" in h]
            gan_stats = {}
            if gan_epochs:
                gan_stats = {"cosine_similarity": gan_epochs[-1]["cosine_similarity"],
                             "l2_distance": gan_epochs[-1].get("l2_distance")}
            failure = fold_failure(res.history, res.stopped_early, epochs)
            if failure is not None:
                row = {"fold": k + 1, "failed": failure, "epochs_run": len(res.history), **gan_stats}
            else:
                probs, ys = _window_predictions(model, te_v, te_l, window, dev)
                if len(ys) == 0:
                    continue
                pooled_probs.append(probs)
                pooled_labels.append(ys)
                m = threshold_metrics(probs, ys, 0.5)
                row = {"fold": k + 1, "recall": m["recall"], "precision": m["precision"], "accuracy": m["accuracy"],
                       "f1": m["f1"], "test_windows": int(len(ys)), "anomalous_windows": int(ys.sum()),
                       "epochs_run": len(res.history), **gan_stats}
            fold_rows.append(row)
            if on_fold:
                on_fold(vname, row)
        used = [r for r in fold_rows if "failed" not in r]
        summary: dict[str, Any] = {"folds_used": len(used), "folds_failed": len(fold_rows) - len(used)}
        for key in ("recall", "precision", "accuracy", "f1"):
            vals = np.array([r[key] for r in used], dtype=float)
            summary[key] = float(vals.mean()) if len(vals) else float("nan")
            summary[key + "_std"] = float(vals.std()) if len(vals) else float("nan")
        # pooled over folds: every window is tested exactly once, so this is the whole-data figure
        # (per-fold figures are degenerate when a test block holds one class only)
        if pooled_labels:
            probs_all, labels_all = np.concatenate(pooled_probs), np.concatenate(pooled_labels)
            pm = threshold_metrics(probs_all, labels_all, 0.5)
            summary.update({f"pooled_{k}": float(pm[k]) for k in ("recall", "precision", "accuracy", "f1")})
            summary["pooled_auc"] = auc_score(probs_all, labels_all)
        results[vname] = {"summary": summary, "folds": fold_rows, "overrides": overrides}
    return results


def holdout_kind(family: str, data: str, kind: str, preset: str = "tiny", epochs: int = 5,
                 device: str = "auto", overrides: Optional[dict] = None, seed: int = 0,
                 train_config: Optional[TrainConfig] = None) -> dict:
    """Robustness (S2): train a supervised family on labelled videos WITHOUT anomaly `kind` and
    report window accuracy / recall on the videos that contain it. Needs the synthetic layout's
    `testing/kinds.json` ({video: [kinds]})."""
    from vadlab import api

    spec = get_spec(family)
    ds = load_dataset(data)
    kinds_file = Path(ds.root) / "testing" / "kinds.json"
    if not kinds_file.exists():
        raise ValueError(f"{data}: no testing/kinds.json, so anomaly kinds are unknown (synthetic data has them)")
    kinds = json.loads(kinds_file.read_text())
    held = [r for r in ds.test if kind in kinds.get(r.name, [])]
    if not held:
        raise ValueError(f"no test video contains anomaly kind '{kind}'; kinds: {sorted({k for v in kinds.values() for k in v})}")
    dev = devices.resolve(device)
    torch.manual_seed(seed)
    model = create_model(family, preset, **(overrides or {}))
    train_ds = dataclasses.replace(ds, test=[r for r in ds.test if r not in held])
    videos, labels, _ = api.load_training_videos(train_ds, model, supervised=True)
    cfg = dataclasses.replace(train_config or TrainConfig(), epochs=epochs, seed=seed, val_fraction=0.0)
    fit(model, videos, cfg, dev, spec.target, labels=labels)
    test_held = dataclasses.replace(ds, train=[], test=held)
    hv, hl, _ = api.load_training_videos(test_held, model, supervised=True)
    probs, ys = _window_predictions(model, hv, hl, model.config.window, dev)
    m = threshold_metrics(probs, ys, 0.5)
    return {"held_out_kind": kind, "videos": [r.name for r in held], "accuracy": m["accuracy"],
            "recall": m["recall"], "precision": m["precision"], "f1": m["f1"], "windows": int(len(ys))}


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------
def _train_config(args) -> TrainConfig:
    """The training-loop options sweep and cv share (window stride, a time cap per trained model)."""
    return TrainConfig(stride=args.stride, max_seconds=args.max_minutes * 60 if args.max_minutes else None)


def _cmd_sweep(args) -> int:
    grid = parse_grid(args.grid)
    print(f"sweep {args.model} over {', '.join(f'{k}={v}' for k, v in grid.items())} "
          f"(selection criterion: val_loss on held-out normal training frames; test AUC is reported only)")
    rows = sweep(args.model, args.data, grid, preset=args.preset, epochs=args.epochs, device=args.device,
                 out_dir=args.out_dir, train_config=_train_config(args), on_row=lambda r: print("  " + ", ".join(f"{k}={v}" for k, v in r.items()), flush=True))
    text = rows_to_csv(rows)
    print(text)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.csv, text)
    print(f"wrote {args.csv}")
    return 0


def _print_fold(variant: str, row: dict) -> None:
    """One line per cross-validation fold as it finishes (a failed fold says why)."""
    if "failed" in row:
        print(f"  {variant} fold {row['fold']}: FAILED, {row['failed']} (left out of the figures)", flush=True)
        return
    print(f"  {variant} fold {row['fold']}: recall {row['recall']:.3f} precision {row['precision']:.3f} "
          f"accuracy {row['accuracy']:.3f} F1 {row['f1']:.3f}", flush=True)


def _cmd_cv(args) -> int:
    if args.holdout_kind:
        res = holdout_kind(args.model, args.data, args.holdout_kind, preset=args.preset, epochs=args.epochs, device=args.device,
                           train_config=_train_config(args))
        print(json.dumps(res, indent=2))
        return 0
    from vadlab.cli import _parse_overrides

    common = _parse_overrides(args.set)
    variants = {"GAN+LRCN": {**common, "pretrain_gan": True}, "LRCN (scratch)": {**common, "pretrain_gan": False}}
    res = cross_validate(args.model, args.data, folds=args.folds, preset=args.preset, epochs=args.epochs,
                         device=args.device, variants=variants, train_config=_train_config(args), on_fold=_print_fold)
    print(f"\n{args.folds}-fold blocked cross-validation, window level, threshold 0.5")
    print(f"{'variant':16s} {'recall':>14s} {'precision':>14s} {'accuracy':>14s} {'F1':>14s}")
    for name, r in res.items():
        s = r["summary"]
        print(f"{name:16s} " + " ".join(f"{s[k]:.3f} ± {s[k + '_std']:.3f}".rjust(14) for k in ("recall", "precision", "accuracy", "f1"))
              + (f"   over {s['folds_used']} folds ({s['folds_failed']} failed, see below)" if s["folds_failed"] else ""))
    any_failed = any(r["summary"]["folds_failed"] for r in res.values())
    print("pooled over the folds used (each of their windows tested once):" if any_failed
          else "pooled over folds (every window tested once):")
    for name, r in res.items():
        s = r["summary"]
        if not s["folds_used"]:
            print(f"{name:16s} no fold could be used")
        elif "pooled_f1" in s:
            print(f"{name:16s} " + " ".join(f"{s['pooled_' + k]:.3f}".rjust(14) for k in ("recall", "precision", "accuracy", "f1"))
                  + f"   window AUC {s['pooled_auc']:.3f}")
    for name, r in res.items():
        failed = [row for row in r["folds"] if "failed" in row]
        if failed:
            print(f"{name}: {len(failed)} of {len(r['folds'])} folds FAILED and are left out of every figure above:")
            for row in failed:
                print(f"  fold {row['fold']}: {row['failed']}")
    if args.json:
        atomic_write(args.json, json.dumps(res, indent=2))
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("sweep", help="train a grid of settings; table of validation loss and test AUC")
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2")
    s.add_argument("--preset", default="tiny")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--device", default="auto")
    s.add_argument("--out-dir", default="runs/sweep")
    s.add_argument("--csv", default="runs/sweep/sweep.csv")
    _add_loop_options(s)
    s.set_defaults(func=_cmd_sweep)

    s = sub.add_parser("cv", help="k-fold cross-validation of a supervised family (lrcn_gan)")
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--folds", type=int, default=10)
    s.add_argument("--preset", default="tiny")
    s.add_argument("--epochs", type=int, default=5)
    s.add_argument("--device", default="auto")
    s.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every variant")
    s.add_argument("--holdout-kind", default=None, help="robustness: hold this synthetic anomaly kind out of training")
    s.add_argument("--json", default=None)
    _add_loop_options(s)
    s.set_defaults(func=_cmd_cv)


def _add_loop_options(s) -> None:
    s.add_argument("--stride", type=int, default=1, help="step between training windows")
    s.add_argument("--max-minutes", type=float, default=None, help="per trained model: stop after the epoch that passes this time")
