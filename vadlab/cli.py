"""`vadlab` / `python -m vadlab`: samples, train, score, eval, models, info (and research tools).

Every command is a thin wrapper over `vadlab.api`; errors that a user can fix are printed as one
line (`error: ...`) with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Optional, Sequence


def _parse_scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _parse_value(text: str) -> Any:
    """'3' -> 3, '1e-4' -> 0.0001, 'true' -> True, '32,16,8' -> (32, 16, 8); anything else stays a
    string (so 'rect:0,0,0.5,1' reaches the config's own parser whole)."""
    if "," in text:
        parts = [_parse_scalar(t.strip()) for t in text.split(",")]
        if all(not isinstance(p, str) for p in parts):
            return tuple(parts)
        return text
    return _parse_scalar(text)


def _parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = _parse_value(v.strip())
    return out


def cmd_samples(args) -> int:
    from vadlab.data.synthetic import write_samples

    out = write_samples(args.out, seed=args.seed)
    print(f"wrote synthetic sample videos to {out}")
    return 0


def cmd_models(args) -> int:
    from vadlab.registry import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        kind = ("supervised" if spec.supervised else "prediction" if spec.target == "next"
                else "latent distance" if spec.score_kind == "latent_distance" else "reconstruction")
        print(f"{name:12s} {kind:15s} score={spec.score_kind:16s} presets={','.join(spec.presets)}")
        print(f"{'':12s} {spec.paper}")
    return 0


def cmd_info(args) -> int:
    from vadlab.checkpoint import read_metadata

    meta = read_metadata(args.checkpoint)
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    inp = meta["input"]
    print(f"model:      {meta['model']}  (score: {meta['score_kind']}, target: {meta['target']})")
    print(f"input:      {inp['channels']} x {inp['window']} x {inp['height']} x {inp['width']} (C x T x H x W)")
    tr = meta.get("training") or {}
    if tr:
        print(f"trained on: {tr.get('data')} ({tr.get('videos')} videos, {tr.get('frames')} frames, fingerprint {tr.get('data_fingerprint')})")
        print(f"training:   {tr.get('preset')} preset, best epoch {tr.get('best_epoch')}, {tr.get('seconds')} s on {tr.get('device')}")
    for k, v in (meta.get("metrics") or {}).items():
        print(f"metric:     {k} = {v}")
    print(f"created:    {meta.get('created')}  versions: {meta.get('versions')}")
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from vadlab import api
    from vadlab.train import TrainConfig

    cfg = TrainConfig(batch_size=args.batch_size, seed=args.seed, stride=args.stride, threads=args.threads,
                      max_steps_per_epoch=args.max_steps, max_seconds=args.max_minutes * 60 if args.max_minutes else None,
                      num_workers=args.workers)
    bar: dict[str, Optional[tqdm]] = {"bar": None}

    def on_event(ev):
        if ev.kind == "start":
            print(ev.message, file=sys.stderr)
            bar["bar"] = tqdm(total=ev.total_steps, initial=ev.step, unit="step", disable=args.quiet)
        elif ev.kind == "step" and bar["bar"] is not None:
            bar["bar"].update(1)
            bar["bar"].set_postfix({k: f"{v:.4f}" for k, v in list(ev.losses.items())[:3]})
        elif ev.kind == "epoch":
            losses = " ".join(f"{k}={v:.4f}" for k, v in ev.losses.items())
            msg = f"epoch {ev.epoch + 1}: {losses} val_loss={ev.val_loss:.5f} best_epoch={ev.best_epoch}"
            (bar["bar"].write if bar["bar"] is not None else print)(msg)
        elif ev.kind == "done" and bar["bar"] is not None:
            bar["bar"].close()

    loaded, result = api.train(args.model, args.data, args.out, preset=args.preset, epochs=args.epochs,
                               device=args.device, init_from=args.init_from, overrides=_parse_overrides(args.set),
                               train_config=cfg, on_event=on_event, half=args.half, resume=args.resume,
                               evaluate_after=not args.no_eval, command=shlex.join(["vadlab"] + sys.argv[1:]),
                               monitor_test=args.monitor_test)
    from vadlab.train import distributed_env

    if distributed_env()[0] == 0:
        m = loaded.metadata.get("metrics") or {}
        summary = ", ".join(f"{k} {m[k]:.4f}" for k in ("micro_auc", "macro_auc", "eer") if isinstance(m.get(k), float))
        print(f"saved {Path(args.out).with_suffix('')}.safetensors/.json in {result.seconds:.1f} s"
              + (f"; test split: {summary}" if summary else ""))
    return 0


def cmd_score(args) -> int:
    from vadlab import api
    from vadlab.export import scores_to_csv
    from vadlab.metrics import find_events, postprocess

    loaded = api.load(args.checkpoint, device=args.device)
    paths = [Path(args.video)]
    p = Path(args.video)
    if p.is_dir() and not _is_frame_folder(p):
        paths = sorted(x for x in p.iterdir() if x.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov", ".webm") or _is_frame_folder(x))
        if not paths:
            raise ValueError(f"{p}: no videos or frame folders found")
    rows = []
    for path in paths:
        fs = api.score_video(loaded, path, keep_maps=False)
        norm = postprocess(fs.scores, normalize=args.normalize, smooth_sigma=args.smooth)
        events = find_events(norm, args.threshold, min_length=args.min_length, merge_gap=args.merge_gap)
        rows.append(scores_to_csv(fs, normalized_scores=norm, threshold=args.threshold, labels=fs.labels))
        print(f"{fs.video}: {len(fs)} frames, {int((norm >= args.threshold).sum())} above threshold {args.threshold}, "
              f"{len(events)} event(s)", file=sys.stderr)
        for ev in events:
            print(f"  event frames {ev.start}-{ev.end} ({ev.start / fs.fps:.1f}s-{ev.end / fs.fps:.1f}s), "
                  f"peak {ev.peak_score:.3f} at frame {ev.peak_frame}", file=sys.stderr)
    text = "".join(rows)
    if len(paths) > 1:  # several videos: prefix each row with its video name
        text = _prefix_video_column(rows, [Path(x).stem for x in paths])
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _prefix_video_column(chunks: list[str], names: list[str]) -> str:
    """Per-video CSV texts (each with its header) -> one CSV with a leading `video` column."""
    out = ["video," + chunks[0].splitlines()[0]]
    for chunk, name in zip(chunks, names):
        out += [f"{name},{line}" for line in chunk.splitlines()[1:]]
    return "\n".join(out) + "\n"


def _is_frame_folder(p: Path) -> bool:
    return p.is_dir() and any(x.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp") for x in p.iterdir())


def cmd_eval(args) -> int:
    from vadlab import api

    loaded = api.load(args.checkpoint, device=args.device)
    res = api.evaluate(loaded, args.data, normalize=args.normalize, smooth_sigma=args.smooth,
                       batch_size=args.batch_size, pixel_level=args.pixel)
    summary = res.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"checkpoint: {args.checkpoint} ({loaded.spec.name})  data: {args.data}")
    print(f"frames: {res.n_frames} ({res.n_anomalous} anomalous)  normalisation: {args.normalize}, smoothing sigma {args.smooth}")
    print(f"micro AUC  {res.micro_auc:.4f}")
    print(f"macro AUC  {res.macro_auc:.4f}" + (f"  (excluded single-class videos: {', '.join(res.single_class_videos)})" if res.single_class_videos else ""))
    print(f"EER        {res.eer:.4f}")
    print(f"PR-AUC     {res.pr_auc:.4f}")
    if res.pixel_auc is not None:
        print(f"pixel AUC  {res.pixel_auc:.4f}")
    print(f"scoring    {res.frames_per_second:.1f} frames/s on {loaded.device}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vadlab", description="GAN-based video anomaly detection lab")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("samples", help="write synthetic sample videos + labels")
    s.add_argument("--out", default="sample_videos")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_samples)

    s = sub.add_parser("models", help="list registered model families and presets")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("info", help="show a checkpoint's metadata")
    s.add_argument("checkpoint")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train a model family on a dataset")
    s.add_argument("--model", required=True)
    s.add_argument("--preset", default="tiny")
    s.add_argument("--data", required=True, help="synthetic:DIR, ped2:PATH, ped1:PATH, ucsd:PATH, avenue:PATH, shanghaitech:PATH, folder:PATH")
    s.add_argument("--epochs", type=int, default=None, help="default: the preset's epochs (its recipe)")
    s.add_argument("--out", required=True)
    s.add_argument("--device", default="auto")
    s.add_argument("--init-from", default=None, help="checkpoint to fine-tune from (knowledge transfer)")
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--stride", type=int, default=None, help="step between training windows (default: the preset's)")
    s.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-steps", type=int, default=None, help="cap on steps per epoch")
    s.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch that passes this time")
    s.add_argument("--workers", type=int, default=0)
    s.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config fields")
    s.add_argument("--half", action="store_true", help="store weights as float16")
    s.add_argument("--resume", action="store_true", help="resume an interrupted run of the same --out")
    s.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation after training")
    s.add_argument("--monitor-test", type=int, default=0, metavar="N",
                   help="learning curve: test AUC after every N epochs, recorded in the history (monitoring only; "
                        "the best epoch is still chosen on held-out normal frames; the weights are the same)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("score", help="score a video (or a folder of videos); one CSV row per frame")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--video", required=True)
    s.add_argument("--out", default=None)
    s.add_argument("--device", default="auto")
    s.add_argument("--normalize", default="minmax", choices=["minmax", "zscore", "none"])
    s.add_argument("--smooth", type=float, default=0.0)
    s.add_argument("--threshold", type=float, default=0.5)
    s.add_argument("--min-length", type=int, default=1)
    s.add_argument("--merge-gap", type=int, default=0)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("eval", help="frame-level AUC/EER of a checkpoint on a dataset's test split")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--device", default="auto")
    s.add_argument("--normalize", default="minmax", choices=["minmax", "zscore", "none"])
    s.add_argument("--smooth", type=float, default=0.0)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--pixel", action="store_true", help="also pixel-level AUC where masks exist")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    _add_research_commands(sub)
    return p


def _add_research_commands(sub) -> None:
    """sweep / cv live in vadlab.research when present."""
    try:
        from vadlab import research
    except ImportError:
        return
    research.add_commands(sub)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
