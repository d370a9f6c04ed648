"""Live scoring speed: a real clip replayed at a fixed frame rate through each family's lightest
shipped checkpoint, as `vadlab watch` scores a camera (never part of the test run).

    python bench/live.py                              # every family, 25 fps, 20 s each, CPU, 1 thread
    python bench/live.py --fps 50 --seconds 10 --families conv_ae ffp --device cuda

Per family: the frame rate the source delivered and the rate verdicts came out (sustained
frames/s, over the whole run), end-to-end latency per frame from its arrival (decoded and handed
over by the reader) to its verdict (p50, p99, max, ms; the first window - 1 frames, which wait
once for the first full window, are left out), and frames dropped by the live drop policy
(`vadlab.live`: the oldest waiting frame goes when 16 wait). "keeps up": nothing dropped and
p99 under the frame budget's 100 ms target. The source decodes the clip (PyAV/decord) in its own
thread while the model scores, as in `watch`; the clip is looped to fill the run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import api  # noqa: E402
from vadlab.data.sources import FileSource  # noqa: E402
from vadlab.registry import list_models  # noqa: E402
from vadlab.live import LiveStream  # noqa: E402
from vadlab.stream import StreamSettings  # noqa: E402
from vadlab.zoo import lightest_checkpoints  # noqa: E402


def run_one(checkpoint: Path, clip: Path, fps: float, seconds: float, device: str, batch_size: int,
            queue: int) -> dict:
    loaded = api.load(checkpoint, device=device)
    n_frames = int(round(fps * seconds))
    source = FileSource(clip, realtime=True, loop=True, max_frames=n_frames, rate=fps)
    stream = LiveStream(loaded, source, StreamSettings(batch_size=batch_size, queue_frames=queue))
    latencies, first_arrival, last_decision, n_verdicts = [], None, None, 0
    for update in stream.run():
        for v in update.verdicts:
            if v.scored:  # the first window - 1 frames wait once for the first full window
                latencies.append(v.latency_s * 1000)
            first_arrival = v.arrival if first_arrival is None else min(first_arrival, v.arrival)
            last_decision = v.decided_at
            n_verdicts += 1
    if stream.error is not None:
        raise stream.error
    stats = stream.stats()
    span = (last_decision - first_arrival) if n_verdicts > 1 else float("nan")
    lat = np.asarray(latencies)
    c = loaded.model.config
    return {
        "family": loaded.spec.name, "checkpoint": checkpoint.name,
        "input": f"{c.channels}x{c.window}x{c.height}x{c.width}",
        "params": sum(p.numel() for p in loaded.model.parameters()),
        "target_fps": fps, "frames": stats.received,
        "fps_in": stats.received / span if span == span else float("nan"),
        "fps_scored": n_verdicts / span if span == span else float("nan"),
        "latency_p50_ms": float(np.percentile(lat, 50)), "latency_p99_ms": float(np.percentile(lat, 99)),
        "latency_max_ms": float(lat.max()), "dropped": stats.dropped,
        "keeps_up": stats.dropped == 0 and float(np.percentile(lat, 99)) < 100.0,
    }


def table(rows: list[dict]) -> str:
    lines = ["| family | checkpoint | input C x T x H x W | params | fps in | fps scored | latency p50 / p99 / max ms "
             "| dropped | keeps up | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['checkpoint']} | {r['input']} | {r['params']:,} | {r['fps_in']:.1f} | "
                     f"{r['fps_scored']:.1f} | {r['latency_p50_ms']:.1f} / {r['latency_p99_ms']:.1f} / "
                     f"{r['latency_max_ms']:.1f} | {r['dropped']} of {r['frames']} | "
                     f"{'yes' if r['keeps_up'] else 'no'} | {r.get('load_1min', float('nan')):.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default=str(ROOT / "sample_videos" / "testing" / "test_01.mp4"))
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    p.add_argument("--families", nargs="*", default=None, help="default: every registered family")
    p.add_argument("--pattern", default="*_synthetic.json", help="checkpoints considered (glob in --checkpoints)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second the clip is replayed at")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the reader decodes in its own thread)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--queue", type=int, default=16)
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    families = args.families or list_models()
    found = lightest_checkpoints(Path(args.checkpoints), families, args.pattern)
    missing = [f for f in families if f not in found]
    if missing:
        print(f"no shipped checkpoint for: {', '.join(missing)}", file=sys.stderr)
    rows = []
    for family, checkpoint in found.items():
        t = time.perf_counter()
        try:
            row = run_one(checkpoint, Path(args.clip), args.fps, args.seconds, args.device, args.batch_size, args.queue)
        except ValueError as exc:  # a checkpoint that does not load (e.g. an older config): say so, go on
            print(f"{family}: skipped, {exc}", file=sys.stderr)
            continue
        row["load_1min"] = round(os.getloadavg()[0], 2)  # other work on the machine shows in the tails
        rows.append(row)
        print(f"{family}: {row['fps_scored']:.1f} frames/s scored of {row['fps_in']:.1f} in, p99 "
              f"{row['latency_p99_ms']:.1f} ms, {row['dropped']} dropped ({time.perf_counter() - t:.0f} s)",
              file=sys.stderr)
    device = api.devices.describe(api.devices.resolve(args.device))
    print(f"clip {Path(args.clip).name} replayed at {args.fps:g} fps for {args.seconds:g} s per family; {device}, "
          f"{args.threads} torch thread(s); batch <= {args.batch_size} windows, queue <= {args.queue} frames")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
