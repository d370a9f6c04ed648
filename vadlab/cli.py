"""`vadlab` / `python -m vadlab`: samples, train, score, watch, eval, models, info (and research tools).

Every command is a thin wrapper over `vadlab.api`; errors that a user can fix are printed as one
line (`error: ...`) with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence


def cmd_samples(args) -> int:
    from vadlab.data.synthetic import write_samples

    out = write_samples(args.out, seed=args.seed)
    print(f"wrote synthetic sample videos to {out}")
    if args.calibration_clips:
        from vadlab.data.synthetic import write_normal_clips

        cal = write_normal_clips(Path(args.out) / "calibration", seed=args.seed, n=args.calibration_clips)
        print(f"wrote {args.calibration_clips} unseen normal clips of the same scene to {cal}/training "
              "(calibration data: `vadlab calibrate --data synthetic:" + str(cal) + " --frames all`)")
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
    from vadlab.calibration import Calibration

    calibration = Calibration.from_metadata(meta)
    if calibration is None:
        print("verdicts:   no calibration (run `vadlab calibrate`)")
    else:
        print(f"calibrated: {calibration.count} normal frames ({calibration.source})")
        print(f"verdicts:   {calibration.verdict_rule.short}: {calibration.verdict_rule.describe()}")
    for k, v in (meta.get("extra") or {}).items():
        print(f"note:       {k} = {v}")
    print(f"created:    {meta.get('created')}  versions: {meta.get('versions')}")
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from vadlab import api
    from vadlab.overrides import parse_overrides, recipe_overrides
    from vadlab.train import TrainConfig

    cfg = TrainConfig(seed=args.seed, threads=args.threads, channels_last=args.channels_last,
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

    # --epochs / --batch-size / --stride override the preset's recipe, like --set (and after it)
    overrides = {**parse_overrides(args.set), **recipe_overrides(args.epochs, args.batch_size, args.stride)}
    loaded, result = api.train(args.model, args.data, args.out, preset=args.preset, overrides=overrides,
                               device=args.device, init_from=args.init_from,
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
    from vadlab.calibration import NO_CALIBRATION, format_far
    from vadlab.export import scores_to_csv
    from vadlab.stream import score_file

    if args.out and Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a folder; give a file name, e.g. {Path(args.out) / 'scores.csv'}")
    loaded = api.load(args.checkpoint, device=args.device)
    paths = [Path(args.video)]
    p = Path(args.video)
    if p.is_dir() and not _is_frame_folder(p):
        paths = sorted(x for x in p.iterdir() if x.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov", ".webm") or _is_frame_folder(x))
        if not paths:
            raise ValueError(f"{p}: no videos or frame folders found")
    calibration = loaded.calibration
    if args.normalize == "calibrated" and calibration is None:
        print(f"note: {NO_CALIBRATION}", file=sys.stderr)
    rows, scored, failed = [], [], []
    for path in paths:
        # the streaming path: decoded chunk by chunk, so a clip of any length is scored whole
        try:
            fs = score_file(loaded, path, batch_size=args.batch_size)
        except (ValueError, OSError) as exc:  # one bad clip of a folder: named, the others still scored
            if len(paths) == 1:
                raise
            failed.append(path.name)
            print(f"error: {path.name}: not scored: {exc}", file=sys.stderr)
            continue
        scored.append(path)
        v = api.verdict(loaded, fs, **rule_overrides(args), threshold=args.threshold, normalize=args.normalize)
        meta = {
            "checkpoint": str(loaded.path), "video": str(path), "fps": fs.fps,
            "protocol": {"pooling": v.rule.key, "normalize": "calibrated" if v.calibrated else
                         ("minmax" if args.normalize != "none" else "none"),
                         "smooth_sigma": v.rule.smooth_sigma, "min_length": v.rule.min_length,
                         "merge_gap": v.rule.merge_gap},
            "verdict": v.describe(),
            "verdict_rule": v.rule.describe(),
            "calibration": ({"source": calibration.source, "data": calibration.data, "frames": calibration.count,
                             "far": format_far(v.rule.far)} if v.calibrated else None),
        }
        rows.append(scores_to_csv(fs, normalized_scores=v.values, threshold=v.threshold, labels=fs.labels, meta=meta))
        scale = "calibrated" if v.calibrated else ("min-max" if args.normalize != "none" else "raw")
        print(f"{fs.video}: {len(fs)} frames, {v.n_flagged} above threshold {v.threshold:.3f} ({scale}), "
              f"{len(v.events)} alert event(s)", file=sys.stderr)
        for note in v.notes:
            if note != NO_CALIBRATION:
                print(f"  note: {note}", file=sys.stderr)
        for ev in v.events:
            print(f"  event frames {ev.start}-{ev.end} ({ev.start / fs.fps:.1f}s-{ev.end / fs.fps:.1f}s), "
                  f"peak {ev.peak_score:.3f} at frame {ev.peak_frame}", file=sys.stderr)
    if not rows:
        raise ValueError(f"{args.video}: none of its {len(paths)} videos could be scored ({', '.join(failed)})")
    text = "".join(rows)
    if len(paths) > 1:  # several videos: prefix each row with its video name
        text = _prefix_video_column(rows, [Path(x).stem for x in scored])
    if args.out:
        from vadlab.files import atomic_write

        atomic_write(args.out, text)  # a kill leaves the old file or the new one, never a truncated one
        print(f"wrote {args.out}" + (f" ({len(scored)} of {len(paths)} videos)" if failed else ""), file=sys.stderr)
    else:
        sys.stdout.write(text)
    if failed:
        print(f"error: {len(failed)} of {len(paths)} videos not scored: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _prefix_video_column(chunks: list[str], names: list[str]) -> str:
    """Per-video CSV texts (each with its `#` comment lines and header) -> one CSV with a leading
    `video` column; the comment lines come first, each prefixed with its video's name."""
    comments, header, body = [], None, []
    for chunk, name in zip(chunks, names):
        lines = chunk.splitlines()
        comments += [f"# {name} {line[2:]}" for line in lines if line.startswith("#")]
        data = [line for line in lines if not line.startswith("#")]
        header = header or "video," + data[0]
        body += [f"{name},{line}" for line in data[1:]]
    return "\n".join(comments + [header] + body) + "\n"


def _is_frame_folder(p: Path) -> bool:
    return p.is_dir() and any(x.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp") for x in p.iterdir())


class _StatusLine:
    """The live status line on stderr: redrawn in place on a terminal (every 0.5 s), else one line
    every `every` seconds (0: none)."""

    def __init__(self, every: float):
        self.tty = sys.stderr.isatty()
        self.every = 0.5 if self.tty else float(every)
        self.last = 0.0
        self.width = 0

    def show(self, stats, force: bool = False) -> None:
        import time

        now = time.monotonic()
        if self.every <= 0 or (not force and now - self.last < self.every):
            return
        self.last = now
        line = f"[{stats.elapsed_s:6.1f} s] {stats.line()}"
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            sys.stderr.write(f"status: {line}\n")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def cmd_watch(args) -> int:
    from vadlab import api
    from vadlab.calibration import format_far
    from vadlab.data.sources import open_source
    from vadlab.export import ScoresWriter
    from vadlab.export import EventClips
    from vadlab.live import LiveStream
    from vadlab.stream import StreamSettings, event_json

    loaded = api.load(args.checkpoint, device=args.device)
    rule = api.verdict_rule(loaded, **rule_overrides(args))
    settings = StreamSettings(key=rule.key, far=rule.far,
                              threshold=args.threshold, smooth_sigma=rule.smooth_sigma, smoothing=args.smoothing,
                              min_length=rule.min_length, merge_gap=rule.merge_gap, batch_size=args.batch_size,
                              queue_frames=args.queue, drop=args.drop, warmup=args.warmup,
                              keep_frames=bool(args.clips), use_calibration=not args.no_calibration)
    source = open_source(args.source, follow=args.follow, realtime=args.realtime, timeout=args.timeout,
                         backoff=args.backoff, end_on_eof=args.end_on_eof,
                         **({} if args.retries is None else {"retries": args.retries}))
    stream = LiveStream(loaded, source, settings)
    judge = stream.judge
    scale = "calibrated" if judge.calibrated else "running statistics"
    print(f"watching {args.source} with {loaded.name}: {scale} scale, threshold {judge.threshold:.3f}"
          + (f" (expects {format_far(rule.far)} false alarms per normal frame)" if args.threshold is None else "")
          + f", {settings.smoothing} smoothing sigma {settings.smooth_sigma:g}, events of >= {settings.min_length} "
          f"frames; {'drops the oldest waiting frame when behind' if stream.drop_policy == 'oldest' else 'no frame dropped'}",
          file=sys.stderr)
    for note in stream.notes:
        print(f"note: {note}", file=sys.stderr)
    notes_shown = len(stream.notes)
    meta = {"checkpoint": str(loaded.path), "source": args.source, "scale": judge.scale_description,
            "threshold": judge.threshold, "settings": {k: v for k, v in vars(settings).items() if k != "keep_frames"}}
    writer = ScoresWriter(args.scores, meta) if args.scores else None
    clips: Optional[EventClips] = None
    status = _StatusLine(args.status_every)
    ended = "the source ended"

    def emit(update) -> None:
        nonlocal clips
        for incident in update.incidents:  # the source was lost, is reconnecting, came back
            print(json.dumps({k: v for k, v in incident.items() if k != "at"}), flush=True)
        for event in update.events:
            print(event_json(event, args.source, judge), flush=True)
        if writer is not None:
            writer.write(update.verdicts)
        if args.clips:
            clips = clips or EventClips(args.clips, fps=judge.fps, before_s=args.clip_seconds, after_s=args.clip_seconds)
            for path in clips.add(update.verdicts, update.events, update.unjudged):
                print(f"event clip: {path}", file=sys.stderr)

    try:
        for update in stream.run():
            emit(update)
            status.show(update.stats)
            if args.max_frames and update.stats.received >= args.max_frames:
                ended = f"--max-frames {args.max_frames} reached"
                stream.stop()
    except KeyboardInterrupt:
        ended = "stopped (Ctrl-C)"
        emit(stream.finish())
    finally:
        status.clear()
        if writer is not None:
            writer.close()
    if clips is not None:
        for path in clips.flush():
            print(f"event clip: {path}", file=sys.stderr)
    stats = stream.stats()
    if stream.error is not None:
        ended = "the stream failed"
    elif source.note and ended == "the source ended":
        ended = source.note
    summary = {"event": "summary", "source": args.source, "ended": ended, **stats.to_dict(),
               "scale": "calibrated" if judge.calibrated else "running", "threshold": round(judge.threshold, 4)}
    print(json.dumps(summary), flush=True)
    latency = (f"latency p50 {stats.latency_p50_ms:.0f} ms, p99 {stats.latency_p99_ms:.0f} ms, max "
               f"{stats.latency_max_ms:.0f} ms" if stats.judged else "no verdict")
    missing = (f", {stats.skipped} skipped between gaps" if stats.skipped else "") + \
        (f", {stats.lost} lost in {stats.reconnects} reconnect attempt(s)" if stats.lost else "")
    print(f"summary: {ended}; {stats.received} frames in, {stats.judged} judged ({stats.scored} on a window of their "
          f"own), {stats.dropped} dropped{missing}, {stats.flagged} flagged, {stats.events} event(s); {latency}; "
          f"{stats.elapsed_s:.1f} s"
          + (f"; scores in {args.scores}" if args.scores else ""), file=sys.stderr)
    for note in stream.notes[notes_shown:]:
        print(f"note: {note}", file=sys.stderr)
    if stream.error is not None:
        raise stream.error
    return 0


def cmd_calibrate(args) -> int:
    from vadlab import api

    loaded = api.load(args.checkpoint, device=args.device)
    cal = api.calibrate(loaded, args.data, frames=args.frames)
    api.save_calibration(loaded.path, cal)
    c = cal.for_key("mean")
    rule = cal.verdict_rule
    print(f"calibrated {loaded.path} on {c.count} normal frames of {len(cal.frames)} videos ({cal.source}); "
          f"verdict rule: {rule.describe()}; alert threshold {cal.for_key(rule.key).threshold(rule.far):.2f} "
          f"(calibrated scale)" + ("; in-sample: these frames were trained on" if cal.in_sample else ""))
    return 0


def cmd_feedback(args) -> int:
    from vadlab import feedback
    from vadlab.data.video import read_video
    from vadlab.paths import user_data_dir
    from vadlab.userdata import UserData

    store = UserData(args.data_root or user_data_dir())
    if args.action == "log":
        for entry in feedback.log(store, args.dataset):
            print(json.dumps(entry, sort_keys=True))
        return 0
    if not (args.checkpoint and args.video and args.frames):
        raise ValueError("feedback false-alarm needs --checkpoint, --video and --frames START-END")
    try:
        start, end = (int(v) for v in args.frames.split("-"))
    except ValueError:
        raise ValueError(f"--frames {args.frames!r}: give START-END, 0-based frame numbers, e.g. 120-180") from None
    video = read_video(args.video, max_frames=end + args.context + 1, max_side=640)
    result = feedback.mark_false_alarm(store, args.dataset, args.checkpoint, video.frames, video.info.fps or 25.0,
                                       str(args.video), start, end, out=args.out, context=args.context,
                                       device=args.device)
    print(feedback.describe(result))
    return 0


def cmd_eval(args) -> int:
    from vadlab import api

    loaded = api.load(args.checkpoint, device=args.device)
    protocol = protocol_from_args(args)
    in_sample = loaded.in_sample_on
    warning = (f"IN-SAMPLE: {loaded.name} is supervised and was trained on the labelled videos of {in_sample}; "
               f"these figures are not a generalisation figure. Use `vadlab cv --model {loaded.spec.name} "
               "--data SPEC` for honest ones.") if in_sample else None
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    left_out = api.unlabelled_videos(args.data)
    if left_out:
        print(f"note: {len(left_out)} test video(s) have no labels and are left out of the evaluation: "
              f"{', '.join(left_out)}", file=sys.stderr)
    if args.protocols:
        rows = api.protocol_table(loaded, args.data, batch_size=args.batch_size)
        if args.json:
            print(json.dumps({"checkpoint": str(loaded.path), "data": args.data, "in_sample": bool(in_sample),
                              "rows": rows}, indent=2))
            return 0
        print(f"checkpoint: {args.checkpoint} ({loaded.spec.name})  data: {args.data}; one scoring pass, "
              f"{rows[0]['n_frames']} frames under the paper protocol")
        print(api.format_protocol_table(rows))
        return 0
    res = api.evaluate(loaded, args.data, batch_size=args.batch_size, pixel_level=args.pixel, protocol=protocol)
    summary = res.summary()
    if args.store:
        from vadlab.checkpoint import update_metadata

        update_metadata(loaded.path, metrics={"eval_data": args.data,
                                              **{k: v for k, v in summary.items() if k != "single_class_videos"}})
        print(f"stored these metrics in {loaded.path}.json", file=sys.stderr)
    if args.json:
        print(json.dumps({**summary, "in_sample": bool(in_sample), "unlabelled_videos": left_out,
                          **({"warning": warning} if warning else {})}, indent=2))
        return 0
    print(f"checkpoint: {args.checkpoint} ({loaded.spec.name})  data: {args.data}")
    print(f"protocol:   {protocol.describe()}")
    print(f"frames: {res.n_frames} ({res.n_anomalous} anomalous)")
    if warning:
        print("IN-SAMPLE (not a generalisation figure):")
    print(f"micro AUC  {res.micro_auc:.4f}")
    print(f"macro AUC  {res.macro_auc:.4f}" + (f"  (excluded single-class videos: {', '.join(res.single_class_videos)})" if res.single_class_videos else ""))
    print(f"EER        {res.eer:.4f}")
    print(f"PR-AUC     {res.pr_auc:.4f}")
    if res.pixel_auc is not None:
        print(f"pixel AUC  {res.pixel_auc:.4f}")
    print(f"scoring    {res.frames_per_second:.1f} frames/s on {loaded.device}")
    return 0


_RULE = "default: the checkpoint's verdict rule"
_NORMALIZE = {  # the scale a verdict (score) or a benchmark figure (eval) is read on
    "score": dict(default="calibrated", choices=["calibrated", "minmax", "none"],
                  help="verdict scale: calibrated against the checkpoint's normal data (default; falls back to "
                       "minmax, with a note, when it has no calibration), per-video min-max (the benchmark "
                       "protocol: every clip peaks at 1), or raw scores (needs --threshold)"),
    "eval": dict(default="minmax", choices=["minmax", "none", "calibrated", "zscore"],
                 help="per-video min-max (default: the papers' protocol), none, calibrated, zscore"),
}
_THRESHOLD = {
    "score": "alert threshold on the chosen scale (default: from the false-alarm rate when calibrated, 0.5 for minmax)",
    "watch": "alert threshold on the verdict scale",
}


def add_judging_flags(s: argparse.ArgumentParser, command: str) -> None:
    """The verdict / protocol flags of `score`, `watch` and `eval`, declared once.

    score and watch judge clips with the checkpoint's own verdict rule (stored with its calibration;
    `vadlab info` shows it): each flag given overrides one of its fields (`rule_overrides`). eval
    computes benchmark figures under a `Protocol` whose defaults are the papers' (`protocol_from_args`).
    watch also has its live scale's flags (running statistics before or instead of a calibration)."""
    if command in _NORMALIZE:
        s.add_argument("--normalize", **_NORMALIZE[command])
    if command == "eval":
        s.add_argument("--smooth", type=float, default=0.0, help="Gaussian smoothing sigma in frames (default 0)")
        s.add_argument("--pooling", default="mean", choices=["mean", "patch", "topk"],
                       help="frame score from the error map: the family's frame mean (default), max over patches, top-k pixels")
    else:
        s.add_argument("--far", type=float, default=None,
                       help=f"target false-alarm rate per normal frame for the calibrated threshold ({_RULE})")
        s.add_argument("--pooling", default=None, choices=["mean", "patch", "topk"], help=f"pooled score judged ({_RULE})")
        s.add_argument("--smooth", type=float, default=None, help=f"smoothing sigma in frames ({_RULE})")
        s.add_argument("--min-length", type=int, default=None, help=f"frames an alert event must last ({_RULE})")
        s.add_argument("--merge-gap", type=int, default=None, help=f"alerts this close are one event ({_RULE})")
        s.add_argument("--threshold", type=float, default=None, help=_THRESHOLD[command])
    if command == "watch":  # the live scale: running statistics until a calibration, or instead of it
        s.add_argument("--no-calibration", action="store_true",
                       help="use per-stream running statistics even when the checkpoint is calibrated")
        s.add_argument("--warmup", type=int, default=50, help="frames before the first verdict without a calibration")
    s.add_argument("--patch", type=int, default=16, help="patch side in model pixels (--pooling patch)")
    s.add_argument("--topk", type=float, default=0.01, help="fraction of pixels (--pooling topk)")


def rule_overrides(args: argparse.Namespace) -> dict:
    """The verdict-rule fields the `score` / `watch` flags set (None: the checkpoint's own), as
    `api.verdict` and `api.verdict_rule` take them."""
    from vadlab.protocol import pooling_key

    return {"far": args.far, "key": pooling_key(args.pooling, args.patch, args.topk) if args.pooling else None,
            "smooth_sigma": args.smooth, "min_length": args.min_length, "merge_gap": args.merge_gap}


def protocol_from_args(args: argparse.Namespace):
    """The `eval` flags as a `vadlab.protocol.Protocol`."""
    from vadlab.protocol import Protocol

    return Protocol(pooling=args.pooling, patch=args.patch, topk=args.topk, normalize=args.normalize,
                    smooth_sigma=args.smooth, drop_undecidable=not args.keep_undecidable)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vadlab", description="GAN-based video anomaly detection lab")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("samples", help="write synthetic sample videos + labels")
    s.add_argument("--out", default="sample_videos")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--calibration-clips", type=int, default=8,
                   help="also write this many unseen normal clips of the same scene to OUT/calibration (0: none)")
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
    s.add_argument("--batch-size", type=int, default=None, help="windows per training batch (default: the preset's)")
    s.add_argument("--stride", type=int, default=None, help="step between training windows (default: the preset's)")
    s.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    s.add_argument("--channels-last", action="store_true",
                   help="channels-last conv layout (about 9%% faster per ffp step on a 2-core Zen 3; float rounding differs, so the weights differ from a run without it)")
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
    add_judging_flags(s, "score")
    s.add_argument("--batch-size", type=int, default=32)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("watch", help="score a camera, a stream URL or a growing recording live; one JSON line per event")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--source", required=True,
                   help="a URL (rtsp://, rtmp://, http(s)://, udp://, tcp://, srt://), a camera (/dev/video0 or 0), "
                        "or a video file / frame folder")
    s.add_argument("--follow", action="store_true",
                   help="the file or frame folder is still being written: read new data as it lands, end once "
                        "nothing new arrives for --timeout s (files: .ts, .mkv, .flv)")
    s.add_argument("--realtime", action="store_true", help="replay a finished file at its own frame rate (as if live)")
    s.add_argument("--scores", default=None, metavar="FILE",
                   help="also write one row per frame, as it is judged (.csv, or JSON lines for .jsonl)")
    s.add_argument("--clips", default=None, metavar="DIR",
                   help="write an annotated mp4 per event (with --clip-seconds before and after) into DIR")
    s.add_argument("--clip-seconds", type=float, default=2.0)
    s.add_argument("--device", default="auto")
    add_judging_flags(s, "watch")
    s.add_argument("--smoothing", default="causal", choices=["causal", "centered"],
                   help="causal: exponential, no delay (live default); centered: the Gaussian of `vadlab score`, "
                        "exactly, each verdict round(4 sigma) frames later")
    s.add_argument("--batch-size", type=int, default=8, help="most windows scored at once when frames have queued")
    s.add_argument("--queue", type=int, default=16, help="most frames waiting for the scorer")
    s.add_argument("--drop", default="auto", choices=["auto", "oldest", "block"],
                   help="when the queue is full: drop the oldest waiting frame (auto: for live sources) or make "
                        "the reader wait (auto: for files)")
    s.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for a URL or camera to open or send data, or for a followed file to grow")
    s.add_argument("--retries", type=int, default=None,
                   help="reconnect attempts in a row for a URL or camera that stalls, breaks or ends (default 8)")
    s.add_argument("--backoff", type=float, default=0.5,
                   help="first wait between attempts, doubled each time up to 4 s (s)")
    s.add_argument("--end-on-eof", action="store_true",
                   help="a URL whose server ends the stream has ended (a finished file served over HTTP); by "
                        "default a live URL or camera that ends is reconnected")
    s.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    s.add_argument("--status-every", type=float, default=5.0,
                   help="seconds between status lines when stderr is not a terminal (0: none)")
    s.set_defaults(func=cmd_watch)

    s = sub.add_parser("calibrate", help="store a checkpoint's normal-data score distribution (for calibrated verdicts)")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", required=True, help="a dataset spec whose training/ videos are NORMAL footage")
    s.add_argument("--frames", default="auto", choices=["auto", "tail", "all"],
                   help="tail: the held-out tail of each video (the data the model trained on); all: whole videos "
                        "(normal footage it never saw); auto: tail when the checkpoint was trained on this data")
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_calibrate)

    s = sub.add_parser("feedback", help="'this is normal': keep a false alarm as normal footage of your dataset and "
                                        "recalibrate the checkpoint on it; or show the dataset's feedback log")
    s.add_argument("action", choices=["false-alarm", "log"])
    s.add_argument("--dataset", required=True, help="your dataset (a name in the user data folder) for this camera")
    s.add_argument("--checkpoint", help="the checkpoint that raised the alert (false-alarm)")
    s.add_argument("--video", help="the clip the alert was raised on (false-alarm)")
    s.add_argument("--frames", help="START-END: the alert's frames, 0-based, inclusive (false-alarm)")
    s.add_argument("--out", default=None, help="write the recalibrated checkpoint here (default: in place)")
    s.add_argument("--context", type=int, default=16, help="frames kept on each side of the alert")
    s.add_argument("--data-root", default=None, help="the user data folder (default: $VADLAB_USER_DATA or user_data/)")
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("eval", help="frame-level AUC/EER of a checkpoint on a dataset's test split")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--device", default="auto")
    add_judging_flags(s, "eval")
    s.add_argument("--keep-undecidable", action="store_true",
                   help="keep the first frames no full window covers (they copy the first score); dropped by default")
    s.add_argument("--protocols", action="store_true",
                   help="one scoring pass, then micro/macro AUC and EER under every protocol combination")
    s.add_argument("--store", action="store_true", help="store the metrics (with their protocol) in the checkpoint")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--pixel", action="store_true", help="also pixel-level AUC where masks exist")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("score-archive", help="score every video of a folder or glob: Parquet scores + events, resumable")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--videos", required=True, metavar="DIR_OR_GLOB", help="a folder (searched recursively) or a glob")
    s.add_argument("--out", required=True, metavar="DIR", help="scores/, events/, events.parquet, summary.json")
    s.add_argument("--device", default="auto")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads in this process (default: torch's choice; with --ray: --cpus-per-worker)")
    s.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="a Ray Data pipeline on the cluster at ADDRESS, or on a new local cluster when no ADDRESS "
                        "(default: in this process)")
    s.add_argument("--workers", type=int, default=1, help="--ray: scoring actors (one model each)")
    s.add_argument("--cpus-per-worker", type=float, default=1, help="--ray: CPUs each actor reserves (its threads)")
    s.add_argument("--gpus-per-worker", type=float, default=None,
                   help="--ray: GPUs each actor reserves (default 1 when the cluster has GPUs and --device is not cpu)")
    s.add_argument("--ray-cpus", type=int, default=None, help="--ray without ADDRESS: CPUs of the local cluster")
    s.set_defaults(func=cmd_score_archive)

    _add_research_commands(sub)
    return p


def cmd_score_archive(args) -> int:
    from vadlab.archive import score_archive

    def progress(kind: str, info: dict) -> None:
        where = f"[{info['index']}/{info['total']}] {Path(info['video']).name}"
        if kind == "failed":
            print(f"{where}: error: {info['error']} (listed; the others go on)", file=sys.stderr, flush=True)
        else:
            print(f"{where}: {info['frames']} frames ({info['seconds'] / 60:.1f} min), {info['events']} event(s)",
                  file=sys.stderr, flush=True)

    summary = score_archive(args.checkpoint, args.videos, args.out, device=args.device, batch_size=args.batch_size,
                            use_ray=args.ray is not None, ray_address=args.ray or None, workers=args.workers,
                            cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                            ray_cpus=args.ray_cpus, threads=args.threads, on_video=progress)
    print(summary.line())
    for video, error in summary.failed.items():
        print(f"  not scored: {video}: {error}")
    print(f"wrote {args.out}/ (scores/*.parquet, events.parquet, summary.json)")
    return 1 if summary.failed else 0


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
