"""Archive scoring throughput: frames/s of `vadlab score-archive` in-process and on Ray Data with
1 and 2 scoring workers, over a synthetic archive of footage.

    python bench/archive.py                          # a 20-minute archive (10 clips of 2 min, 10 fps)
    python bench/archive.py --minutes 4 --workers 1 2 # shorter, when the machine is busy

The archive (walkway clips from `vadlab.data.synthetic`, 160x120, one anomaly in every other clip)
is generated once into --archive and reused. In-process scoring runs with one torch thread, as
each Ray worker does (on a busy machine, torch's default of one thread per core loses far more to
contention than it gains). The Ray cluster is local (`--ray-cpus`, default 2)
and started before the clock runs; each measurement includes starting its actors (one model
each) and writing the Parquet files, i.e. what a user waits for. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab.archive import score_archive  # noqa: E402
from vadlab.data.synthetic import ANOMALY_KINDS, generate_clip  # noqa: E402
from vadlab.data.writer import write_video  # noqa: E402


def make_archive(folder: Path, minutes: float, clip_minutes: float, fps: float) -> list[Path]:
    """Synthetic clips adding up to `minutes` of footage (made once; existing clips are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    n_clips = max(1, round(minutes / clip_minutes))
    frames = int(round(minutes * 60 * fps / n_clips))
    paths = []
    for i in range(n_clips):
        path = folder / f"cam{i % 3}_{i:03d}.mp4"
        if not path.exists():
            kinds = (ANOMALY_KINDS[i % len(ANOMALY_KINDS)],) if i % 2 else ()
            clip = generate_clip(100 + i, n_frames=frames, width=160, height=120, anomalies=kinds, fps=fps,
                                 scene_seed=i % 3)
            write_video(path, clip.frames, clip.fps)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "conv_ae_synthetic"))
    parser.add_argument("--minutes", type=float, default=20.0, help="footage in the archive")
    parser.add_argument("--clip-minutes", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--archive", default=None, help="where the clips are made (default runs/bench_archive/<minutes>min)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process baseline")
    args = parser.parse_args()

    folder = Path(args.archive or ROOT / "runs" / "bench_archive" / f"{args.minutes:g}min")
    paths = make_archive(folder, args.minutes, args.clip_minutes, args.fps)
    print(f"archive: {len(paths)} clips, {args.minutes:g} min of footage at {args.fps:g} fps in {folder}", flush=True)
    rows = []

    def measure(label: str, workers: int, **kwargs) -> None:
        out = Path(tempfile.mkdtemp(prefix="bench_archive_"))
        try:
            s = score_archive(args.checkpoint, folder, out, device="cpu", workers=workers, **kwargs)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        rows.append((label, workers, s))
        print(f"  {label}, {workers} worker(s): {s.line()}", flush=True)

    if not args.no_in_process:
        measure("in-process, 1 thread", 1, threads=1)  # like for like: each Ray worker has 1 thread
    if args.workers:
        import ray

        ray.init(address="local", num_cpus=args.ray_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
        try:
            for workers in args.workers:
                measure(f"Ray Data ({args.ray_cpus} CPUs)", workers, use_ray=True, cpus_per_worker=1)
        finally:
            ray.shutdown()
    print(f"\n| engine | workers | videos | footage | frames | seconds | frames/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, workers, s in rows:
        print(f"| {label} | {workers} | {s.scored} | {s.hours * 60:.1f} min | {s.frames} | {s.seconds:.1f} | "
              f"{s.frames_per_second:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
