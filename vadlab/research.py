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
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from vadlab import device as devices
from vadlab.data.clips import WindowDataset, collate_windows
from vadlab.data.datasets import load_dataset
from vadlab.files import atomic_write
from vadlab.metrics import auc_score, threshold_metrics
from vadlab.overrides import parse_grid, parse_overrides, recipe_overrides  # noqa: F401  (parse_grid: research's own name too)
from vadlab.registry import create_model, get_spec
from vadlab.train import TrainConfig, fit


# ------------------------------------------------------------------------------------------------
# sweep
# ------------------------------------------------------------------------------------------------
SELECTION_RULE = ("selection criterion: val_loss, lowest mean over seeds (the loss on the held-out tail of the "
                  "NORMAL training videos); test AUC and EER are reported, never used to select")
METRICS = ("val_loss", "micro_auc", "macro_auc", "eer")


@dataclasses.dataclass(frozen=True)
class SweepTrial:
    """One model a sweep trains: grid point `point` (its `params`) with training seed `seed`.

    Everything the trained numbers depend on is in the trial (with `train_config` the run
    mechanics), so the serial loop, a Ray Tune worker and a resumed sweep all train the same model
    from the same trial. `checkpoint` is where its model is saved."""

    family: str
    data: str
    preset: str
    epochs: int
    device: str
    point: int
    params: dict
    seed: int
    replicate: int  # 0 .. seeds-1
    checkpoint: str
    train_config: dict  # dataclasses.asdict(TrainConfig) with this trial's seed
    overrides: dict = dataclasses.field(default_factory=dict)  # config overrides of every trial (--stride)

    @property
    def name(self) -> str:
        return f"p{self.point:02d}_s{self.seed}"

    def identity(self) -> dict:
        """What a stored row must have been made from to be reused on resume (not the device)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("device", "checkpoint")}


def sweep_trials(family: str, data: str, grid: dict[str, list[Any]], preset: str = "tiny", epochs: int = 3,
                 device: str = "auto", out_dir: str | Path = "runs/sweep", train_config: Optional[TrainConfig] = None,
                 seeds: int = 1, overrides: Optional[dict] = None) -> list[SweepTrial]:
    """The trials of a sweep: every grid point x `seeds` seeds (train_config.seed, +1, ...), grid
    points in `itertools.product` order; `overrides` (config fields: `vadlab sweep --stride`'s
    train_stride) apply to every trial, over the grid point's values (as `--stride` always did).
    Raises ValueError for a field the family's config lacks."""
    spec = get_spec(family)
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    unknown = [k for k in grid if k not in fields and k != "epochs"]
    if unknown:
        raise ValueError(f"{family}: unknown config field(s) {', '.join(unknown)}; fields: {', '.join(sorted(fields))}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    cfg = train_config or TrainConfig()
    out_dir = Path(out_dir).absolute()  # a Ray worker runs in its own folder
    keys = list(grid)
    trials = []
    for point, values in enumerate(itertools.product(*(grid[k] for k in keys))):
        params = dict(zip(keys, values))
        for replicate in range(seeds):
            seed = cfg.seed + replicate
            # replicate 0 keeps the single-seed sweep's checkpoint name
            name = f"{family}_{point:02d}" + (f"_s{seed}" if replicate else "")
            trials.append(SweepTrial(family=family, data=data, preset=preset, epochs=int(params.get("epochs", epochs)),
                                     device=device, point=point, params=params, seed=seed, replicate=replicate,
                                     checkpoint=str(out_dir / name), overrides=dict(overrides or {}),
                                     train_config=dataclasses.asdict(dataclasses.replace(cfg, seed=seed))))
    return trials


def run_trial(trial: SweepTrial) -> dict:
    """Train one trial's model (saved at trial.checkpoint); its row {params..., seed, val_loss,
    micro_auc, macro_auc, eer, seconds}. The same trial gives the same numbers wherever it runs
    (same seed, same threads: `train_config["threads"]`)."""
    from vadlab import api

    overrides = {**{k: v for k, v in trial.params.items() if k != "epochs"}, **trial.overrides}
    loaded, result = api.train(trial.family, trial.data, trial.checkpoint, preset=trial.preset, epochs=trial.epochs,
                               device=trial.device, overrides=overrides, train_config=TrainConfig(**trial.train_config))
    m = loaded.metadata.get("metrics") or {}
    return {**trial.params, "seed": trial.seed, "val_loss": result.best_val_loss, "micro_auc": m.get("micro_auc"),
            "macro_auc": m.get("macro_auc"), "eer": m.get("eer"), "seconds": round(result.seconds, 1)}


def run_trial_fields(fields: dict) -> dict:
    """`run_trial` of the trial with these fields (what a Ray Tune worker runs: `scale.tune_sweep`)."""
    return run_trial(SweepTrial(**fields))


def failed_row(trial: SweepTrial, error: BaseException | str) -> dict:
    """The row of a trial that raised: its params, seed and the error (reported, never dropped)."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {**trial.params, "seed": trial.seed, "error": message.strip().splitlines()[-1] if message.strip() else "?"}


def _row_file(out_dir: Path, trial: SweepTrial) -> Path:
    return Path(trial.checkpoint).parent / "trials" / f"{trial.name}.json"


def stored_row(trial: SweepTrial) -> Optional[dict]:
    """The row a finished trial stored (resume), or None when it has not finished or was made
    from other settings. Failed trials are not stored: a re-run tries them again."""
    path = _row_file(Path(trial.checkpoint).parent, trial)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record["row"] if record.get("identity") == json.loads(json.dumps(trial.identity())) else None


def store_row(trial: SweepTrial, row: dict) -> None:
    """Record a finished trial's row next to its checkpoint (what a resumed sweep reads)."""
    path = _row_file(Path(trial.checkpoint).parent, trial)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"identity": trial.identity(), "row": row}, indent=1))


def sweep(family: str, data: str, grid: dict[str, list[Any]], preset: str = "tiny", epochs: int = 3,
          device: str = "auto", out_dir: str | Path = "runs/sweep", train_config: Optional[TrainConfig] = None,
          on_row=None, seeds: int = 1, resume: bool = False, ray_address: Optional[str] = None,
          use_ray: bool = False, cpus_per_trial: float = 1, gpus_per_trial: Optional[float] = None,
          ray_cpus: Optional[int] = None, overrides: Optional[dict] = None) -> list[dict]:
    """Train one model per grid point and seed; rows of {params..., seed, val_loss, micro_auc,
    macro_auc, eer, seconds} (a failed trial: {params..., seed, error}) in trial order.

    resume: reuse the rows of trials that already finished in `out_dir` with the same settings.
    use_ray: run the trials as Ray Tune trials (`vadlab.scale.tune_sweep`) on the cluster at
    `ray_address` (a new local one when None), each with `cpus_per_trial` CPUs / `gpus_per_trial`
    GPUs (None: one when the cluster has GPUs); the rows are the serial loop's (same trials, same
    seeds, same threads: same numbers)."""
    trials = sweep_trials(family, data, grid, preset, epochs, device, out_dir, train_config, seeds, overrides)
    rows: dict[str, dict] = {}
    todo = []
    for trial in trials:
        row = stored_row(trial) if resume else None
        if row is not None:
            rows[trial.name] = row
            if on_row:
                on_row(trial, row, True)
        else:
            todo.append(trial)
    if use_ray:
        from vadlab.scale import tune_sweep

        def finished(trial: SweepTrial, row: dict) -> None:
            rows[trial.name] = row
            if "error" not in row:
                store_row(trial, row)
            if on_row:
                on_row(trial, row, False)

        tune_sweep(todo, finished, run_trial_fields, failed_row, address=ray_address, cpus_per_trial=cpus_per_trial,
                   gpus_per_trial=gpus_per_trial, ray_cpus=ray_cpus)
    else:
        for trial in todo:
            try:
                row = run_trial(trial)
                store_row(trial, row)
            except Exception as exc:  # noqa: BLE001 - one failed trial is reported, the others still run
                row = failed_row(trial, exc)
            rows[trial.name] = row
            if on_row:
                on_row(trial, row, False)
    return [rows[t.name] for t in trials if t.name in rows]


def summarize(rows: Sequence[dict], grid_keys: Sequence[str]) -> list[dict]:
    """Per grid point (rows grouped by their `grid_keys` values, first-seen order): the params,
    `seeds` (finished), `failed`, and for each metric its mean and std over the finished seeds
    (`<metric>`, `<metric>_std`; std 0 for one seed, NaN when none finished)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(repr(row[k]) for k in grid_keys), []).append(row)
    table = []
    for members in groups.values():
        done = [r for r in members if "error" not in r]
        entry: dict[str, Any] = {k: members[0][k] for k in grid_keys}
        entry.update(seeds=len(done), failed=len(members) - len(done))
        for metric in METRICS:
            values = np.array([np.nan if r.get(metric) is None else r[metric] for r in done], dtype=float)
            entry[metric] = float(values.mean()) if len(values) else float("nan")
            entry[metric + "_std"] = float(values.std()) if len(values) else float("nan")
        table.append(entry)
    return table


def format_summary(table: Sequence[dict], grid_keys: Sequence[str]) -> str:
    """The sweep's result table: one line per grid point, mean ± std over seeds, the selected
    point (lowest mean val_loss) marked, and the selection rule stated."""
    finite = [i for i, e in enumerate(table) if np.isfinite(e["val_loss"])]
    chosen = min(finite, key=lambda i: table[i]["val_loss"]) if finite else None
    head = [*grid_keys, "seeds", *METRICS]
    lines = ["  ".join(f"{h:>20s}" for h in head)]
    for i, e in enumerate(table):
        cells = [repr(e[k]) for k in grid_keys] + [f"{e['seeds']}" + (f" ({e['failed']} failed)" if e["failed"] else "")]
        cells += [f"{e[m]:.4f} ± {e[m + '_std']:.4f}" for m in METRICS]
        lines.append("  ".join(f"{c:>20s}" for c in cells) + ("   <- selected" if i == chosen else ""))
    lines.append(SELECTION_RULE)
    return "\n".join(lines)


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
                   train_config: Optional[TrainConfig] = None, on_fold=None,
                   recipe: Optional[dict] = None) -> dict[str, dict]:
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
    cfg = dataclasses.replace(train_config or TrainConfig(seed=seed), val_fraction=0.0)
    recipe = {**(recipe or {}), "epochs": epochs}  # over every variant's overrides
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
            model = create_model(family, preset, **{**overrides, **recipe})
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
                 train_config: Optional[TrainConfig] = None, recipe: Optional[dict] = None) -> dict:
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
    model = create_model(family, preset, **{**(overrides or {}), **(recipe or {}), "epochs": epochs})
    train_ds = dataclasses.replace(ds, test=[r for r in ds.test if r not in held])
    videos, labels, _ = api.load_training_videos(train_ds, model, supervised=True)
    cfg = dataclasses.replace(train_config or TrainConfig(), seed=seed, val_fraction=0.0)
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
    """The run mechanics sweep and cv share (a time cap per trained model); `--stride` is a recipe override."""
    return TrainConfig(max_seconds=args.max_minutes * 60 if args.max_minutes else None)


def _cmd_sweep(args) -> int:
    grid = parse_grid(args.grid)
    use_ray = args.ray is not None
    print(f"sweep {args.model} over {', '.join(f'{k}={v}' for k, v in grid.items())}, {args.seeds} seed(s) each"
          + (f", as Ray Tune trials on {args.ray or 'a local Ray cluster'}" if use_ray else ", serially"), flush=True)
    print(SELECTION_RULE, flush=True)
    cfg = _train_config(args)
    threads = args.threads or (max(1, int(args.cpus_per_trial)) if use_ray else None)
    cfg = dataclasses.replace(cfg, seed=args.seed, threads=threads, max_steps_per_epoch=args.max_steps)

    def report(trial, row: dict, reused: bool) -> None:
        what = ("FAILED: " + row["error"]) if "error" in row else ", ".join(f"{k}={v}" for k, v in row.items())
        print(f"  {trial.name}{' (done before, reused)' if reused else ''}: {what}", flush=True)

    rows = sweep(args.model, args.data, grid, preset=args.preset, epochs=args.epochs, device=args.device,
                 out_dir=args.out_dir, train_config=cfg, on_row=report, seeds=args.seeds, resume=not args.fresh,
                 use_ray=use_ray, ray_address=args.ray or None, cpus_per_trial=args.cpus_per_trial,
                 overrides=recipe_overrides(stride=args.stride),
                 gpus_per_trial=args.gpus_per_trial, ray_cpus=args.ray_cpus)
    keys = list(grid)
    print()
    print(format_summary(summarize(rows, keys), keys))
    text = rows_to_csv(rows)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.csv, text)
    print(f"wrote {args.csv} (one row per trial)")
    failed = [r for r in rows if "error" in r]
    if failed:
        print(f"error: {len(failed)} of {len(rows)} trials failed (listed above; a re-run retries them, "
              f"reusing the finished ones)", file=sys.stderr)
        return 1
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
                           train_config=_train_config(args), recipe=recipe_overrides(stride=args.stride))
        print(json.dumps(res, indent=2))
        return 0
    common = parse_overrides(args.set)
    variants = {"GAN+LRCN": {**common, "pretrain_gan": True}, "LRCN (scratch)": {**common, "pretrain_gan": False}}
    res = cross_validate(args.model, args.data, folds=args.folds, preset=args.preset, epochs=args.epochs,
                         device=args.device, variants=variants, train_config=_train_config(args), on_fold=_print_fold,
                         recipe=recipe_overrides(stride=args.stride))
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
    s.add_argument("--seeds", type=int, default=1, help="trainings per grid point (seeds --seed, +1, ...): mean ± std")
    s.add_argument("--seed", type=int, default=0, help="the first training seed")
    s.add_argument("--max-steps", type=int, default=None, help="cap on optimizer steps per epoch (quick looks, tests)")
    s.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per trained model (default: torch's own serially, --cpus-per-trial with --ray)")
    s.add_argument("--fresh", action="store_true", help="retrain every trial (default: reuse trials that finished "
                   "in --out-dir with the same settings, so an interrupted sweep resumes)")
    s.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run each grid point x seed as a Ray Tune trial: on the cluster at ADDRESS "
                        "(e.g. 10.0.0.5:6379 or ray://host:10001), or a new local cluster when no ADDRESS")
    s.add_argument("--cpus-per-trial", type=float, default=1, help="--ray: CPUs each trial reserves (and its threads)")
    s.add_argument("--gpus-per-trial", type=float, default=None,
                   help="--ray: GPUs each trial reserves (0.5: two per GPU; default 1 when the cluster has GPUs "
                        "and --device is not cpu, else 0)")
    s.add_argument("--ray-cpus", type=int, default=None, help="--ray without ADDRESS: CPUs of the local cluster (default: all)")
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
