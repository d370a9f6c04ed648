"""Live over the network, end to end (never part of the test run): FFmpeg serves a clip as an HTTP
MPEG-TS stream at its own frame rate, as a camera's server would, and `vadlab watch` scores it, once
per number of busy loops running beside it (each a Python process spinning on one core).

    python bench/live_watch.py                                  # Ped2 test clip 04, conv_ae_ped2_cpu, 0 and 2 busy loops
    python bench/live_watch.py --checkpoint checkpoints/ffp_ped2_cpu --busy 0
    python bench/live_watch.py --busy 0 --loops 34 --timeout 900   # ~10 minutes: memory and events per pass

Per run: frames sent (the clip's frame count: FFmpeg sends every one) against frames in, judged,
dropped (the scorer was behind), skipped (between two drops, too few for a window) and lost (in
reconnects); the events watch reported against the labelled anomaly span (with --loops N the clip is
served N times back to back, so one event per pass is right); latency p50 / p99 / max (frame arrival
to verdict, from watch's summary); watch's resident memory (sampled every second: at its first
verdict, its maximum, at the end); the 1-minute load average at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
BUSY_LOOP = "while True: pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def frame_count(clip: Path) -> int:
    import av

    with av.open(str(clip)) as container:
        return sum(1 for _ in container.decode(video=0))


def labelled_span(labels_file: Path, name: str) -> tuple[int, int] | None:
    """First and last anomalous frame (0-based) of video `name` in a {"name": [0, 1, ...]} file."""
    if not labels_file.is_file():
        return None
    labels = np.asarray(json.loads(labels_file.read_text()).get(name, []))
    frames = np.flatnonzero(labels)
    return (int(frames[0]), int(frames[-1])) if len(frames) else None


def resident_mb(pid: int) -> float | None:
    """The resident memory of process `pid` in MB (Linux /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_once(clip: Path, checkpoint: Path, busy: int, timeout_s: float, loops: int = 1) -> dict:
    """One stream, `clip` served `loops` times back to back, watched to its end with `busy` busy
    loops beside it."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("no ffmpeg binary (apt-get install ffmpeg): it serves the stream")
    url = f"http://127.0.0.1:{free_port()}/live.ts"
    busy_loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(busy)]
    server = subprocess.Popen([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                               "-stream_loop", str(loops - 1), "-i", str(clip),
                               "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10",
                               "-f", "mpegts", "-listen", "1", url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    memory: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        try:
            # the stream is served once: its end is the end (--end-on-eof), not a reason to reconnect
            with open(out_path, "w") as out, open(err_path, "w") as err:
                watch = subprocess.Popen([sys.executable, "-m", "vadlab", "watch", "--checkpoint", str(checkpoint),
                                          "--source", url, "--device", "cpu", "--end-on-eof", "--timeout", "10",
                                          "--status-every", "0"], cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
                while watch.poll() is None:
                    if time.monotonic() - started > timeout_s:
                        watch.kill()
                        raise SystemExit(f"watch took longer than {timeout_s:.0f} s")
                    rss = resident_mb(watch.pid)
                    if rss is not None and out_path.stat().st_size:  # from its first verdict on
                        memory.append(rss)
                    time.sleep(1.0)
        finally:
            for process in [server, *busy_loops]:
                process.kill()
                process.wait(timeout=10)
        stdout, stderr = out_path.read_text(), err_path.read_text()
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if watch.returncode != 0 or not lines or lines[-1].get("event") != "summary":
        raise SystemExit(f"watch failed ({watch.returncode}): {stderr.strip()[-600:]}")
    summary = lines[-1]
    closed = [(e["start"], e["end"]) for e in lines if e.get("event") == "closed"]
    return {"busy": busy, "loops": loops, "summary": summary, "events": closed, "wall_s": time.monotonic() - started,
            "load_1min": os.getloadavg()[0], "rss_mb": {"first": memory[0], "max": max(memory), "end": memory[-1]}
            if memory else None}


def table(rows: list[dict], sent: int, span: tuple[int, int] | None) -> str:
    out = ["| busy loops | frames sent / in | judged | dropped | skipped | lost | events (frames) | latency p50 / "
           "p99 / max ms | memory MB first / max / end | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["summary"]
        events = ", ".join(f"{a}-{b}" for a, b in r["events"]) or "none"
        ms = "/".join("-" if s.get(k) is None else f"{s[k]:.0f}"
                      for k in ("latency_p50_ms", "latency_p99_ms", "latency_max_ms"))
        mem = "/".join(f"{r['rss_mb'][k]:.0f}" for k in ("first", "max", "end")) if r.get("rss_mb") else "-"
        if len(r["events"]) > 8:
            events = ", ".join(f"{a}-{b}" for a, b in r["events"][:4]) + f", ... ({len(r['events']) - 4} more)"
        out.append(f"| {r['busy']} | {sent} / {s['received']} | {s['judged']} | {s['dropped']} | {s['skipped']} | "
                   f"{s['lost']} | {len(r['events'])} ({events}) | {ms} | {mem} | {r['load_1min']:.1f} |")
    if span is not None:
        out.append(f"\nlabelled anomaly: frames {span[0]}-{span[1]} of each pass")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default=str(DATASETS / "ped2_videos" / "testing" / "04.mp4"))
    p.add_argument("--labels", default=str(DATASETS / "ped2" / "frame_labels.json"),
                   help='{"video": [0, 1, ...]} labels; the clip\'s stem names its entry')
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "conv_ae_ped2_cpu"))
    p.add_argument("--busy", type=int, nargs="*", default=[0, 2], help="busy loops beside watch, one run each")
    p.add_argument("--timeout", type=float, default=120.0, help="longest a run may take (s)")
    p.add_argument("--loops", type=int, default=1, help="serve the clip this many times back to back (one stream)")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    if args.loops < 1:
        p.error("--loops must be at least 1")
    clip = Path(args.clip)
    if not clip.is_file():
        raise SystemExit(f"{clip}: no such clip (the Ped2 videos live in ../shared/datasets/ped2_videos)")
    sent = frame_count(clip) * args.loops
    span = labelled_span(Path(args.labels), clip.stem)
    rows = []
    for busy in args.busy:
        row = run_once(clip, Path(args.checkpoint), busy, args.timeout, args.loops)
        rows.append(row)
        s = row["summary"]
        print(f"{busy} busy: {s['received']} of {sent} in, {s['dropped']} dropped, {len(row['events'])} event(s), "
              f"p99 {s['latency_p99_ms']} ms ({row['wall_s']:.0f} s)", file=sys.stderr)
    print(f"{clip.name}{f' x {args.loops}' if args.loops > 1 else ''} served by FFmpeg at its frame rate over HTTP to `vadlab watch` with "
          f"{Path(args.checkpoint).name}, 1 torch thread, cpu")
    print(table(rows, sent, span))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
