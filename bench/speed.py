"""Decode and scoring throughput per family (never part of the test run).

    python bench/speed.py                       # every family, tiny preset, CPU
    python bench/speed.py --preset paper --device cuda --families ffp valt_gan

Per family: parameters, FLOPs per scored frame (torch.utils.flop_counter, forward of score_clip),
batch-1 latency (mean, std, worst case over --runs, after --warmup) as the papers report it, and
batched frames/s. CUDA timings are synchronised. Also: decode throughput of a sample video.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import device as devices  # noqa: E402
from vadlab.outputs import Batch  # noqa: E402
from vadlab.registry import create_model, get_spec, list_models  # noqa: E402
from vadlab.scoring import synchronize  # noqa: E402


def make_batch(model, n: int, device) -> Batch:
    c = model.config
    clip = torch.rand(n, c.channels, c.window, c.height, c.width, device=device) * 2 - 1  # (B, C, T, H, W)
    target = torch.rand(n, c.channels, c.height, c.width, device=device) * 2 - 1
    return Batch(clip=clip, target=target, label=torch.zeros(n, device=device), frame_index=torch.arange(n))


def flops_per_frame(model, device) -> float:
    batch = make_batch(model, 1, device)
    with FlopCounterMode(display=False) as counter:
        model.score_clip(batch)
    return counter.get_total_flops()


def latency(model, device, runs: int, warmup: int) -> tuple[float, float, float]:
    batch = make_batch(model, 1, device)
    for _ in range(warmup):
        model.score_clip(batch)
    times = []
    for _ in range(runs):
        synchronize(device)
        t = time.perf_counter()
        model.score_clip(batch)
        synchronize(device)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.mean(times), statistics.pstdev(times), max(times)


def batched_fps(model, device, batch_size: int, runs: int) -> float:
    batch = make_batch(model, batch_size, device)
    model.score_clip(batch)
    synchronize(device)
    t = time.perf_counter()
    for _ in range(runs):
        model.score_clip(batch)
    synchronize(device)
    return batch_size * runs / (time.perf_counter() - t)


def decode_fps(path: Path) -> tuple[float, int]:
    from vadlab.data.video import read_video

    t = time.perf_counter()
    v = read_video(path)
    return len(v.frames) / (time.perf_counter() - t), len(v.frames)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="*", default=None)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--device", default="auto")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--video", default=str(ROOT / "sample_videos" / "testing" / "test_01.mp4"))
    args = p.parse_args(argv)
    dev = devices.resolve(args.device)
    print(f"device: {devices.describe(dev)}  preset: {args.preset}  torch {torch.__version__}")
    if Path(args.video).exists():
        fps, n = decode_fps(Path(args.video))
        print(f"decode: {fps:.0f} frames/s ({n} frames of {args.video})")
    header = f"{'family':12s} {'params':>10s} {'GFLOP/frame':>12s} {'b1 mean ms':>11s} {'b1 std':>8s} {'b1 worst':>9s} {'batched fps':>12s} {'peak MB':>9s}"
    print(header)
    print("-" * len(header))
    for name in args.families or list_models():
        spec = get_spec(name)
        if args.preset not in spec.presets:
            print(f"{name:12s} (no preset {args.preset})")
            continue
        model = create_model(name, args.preset).to(dev).eval()
        model.prepare_for_scoring([make_batch(model, 4, dev)])
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        params = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            gflops = flops_per_frame(model, dev) / 1e9
            mean, std, worst = latency(model, dev, args.runs, args.warmup)
            fps = batched_fps(model, dev, args.batch_size, max(2, args.runs // 4))
        if dev.type == "cuda":
            peak = torch.cuda.max_memory_allocated(dev) / 2**20
        else:  # process high-water mark (RSS), not per-model
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:12s} {params:10,d} {gflops:12.3f} {mean:11.2f} {std:8.2f} {worst:9.2f} {fps:12.1f} {peak:9.0f}")
    if dev.type != "cuda":
        print("peak MB on CPU is the process's resident high-water mark so far, not one model's footprint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
