"""Training throughput per family and preset, against the machine's measured matmul peak (never a test).

    python bench/train_speed.py                                  # every family, presets tiny + ped2_cpu/cpu, 1 thread
    python bench/train_speed.py --families ffp conv_ae --presets ped2_cpu --threads 2
    python bench/train_speed.py --profile ffp --presets ped2_cpu # where one training step's time goes

Per family and preset: training samples/s of `train_step` on random batches at the preset's
training size (its `train_crop` when it crops), FLOPs per training sample (forward + backward of
every network the step runs, counted by torch.utils.flop_counter), the achieved GFLOP/s and its
share of the machine's fp32 matmul peak (a 1024x1024 matmul timed at the same thread count).
Also the data side of a step (uint8 window slicing + collation + crop) on its own, so per-step
Python overhead shows. Every figure is a mean over --steps steps after --warmup steps.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab.data.clips import WindowDataset, collate_windows  # noqa: E402
from vadlab.outputs import Batch  # noqa: E402
from vadlab.registry import create_model, get_spec, list_models  # noqa: E402
from vadlab.train import random_crop  # noqa: E402


def matmul_peak_gflops(threads: int, n: int = 1024, runs: int = 10, trials: int = 5) -> float:
    """The best of `trials` timings of `runs` fp32 n x n matmuls (the best: other load only slows it)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(trials):
        t = time.perf_counter()
        for _ in range(runs):
            a @ b
        best = max(best, 2 * n**3 * runs / (time.perf_counter() - t) / 1e9)
    return best


def train_batch(model, batch_size: int) -> Batch:
    c = model.config
    side_h = c.train_crop or c.height
    side_w = c.train_crop or c.width
    clip = torch.rand(batch_size, c.channels, c.window, side_h, side_w) * 2 - 1  # (B, C, T, H, W)
    target = torch.rand(batch_size, c.channels, side_h, side_w) * 2 - 1  # (B, C, H, W)
    label = torch.randint(0, 2, (batch_size,)).float()
    return Batch(clip=clip, target=target, label=label, frame_index=torch.arange(batch_size))


def data_seconds_per_step(model, batch_size: int, steps: int) -> float:
    """uint8 windows sliced from an in-memory video, collated to [-1, 1], cropped as the recipe does."""
    c = model.config
    video = torch.randint(0, 256, (200, c.channels, c.height, c.width), dtype=torch.uint8)  # (T, C, H, W)
    ds = WindowDataset([video], c.window, get_spec(model.family).target, stride=1)
    gen = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for i in range(steps):
        batch = collate_windows([ds[(i * batch_size + j) % len(ds)] for j in range(batch_size)])
        if c.train_crop:
            batch = random_crop(batch, c.train_crop, gen)
    return (time.perf_counter() - t) / steps


def measure(name: str, preset: str, steps: int, warmup: int) -> dict:
    model = create_model(name, preset)
    model.train()
    opts = model.configure_optimizers()
    bs = model.config.batch_size
    batch = train_batch(model, bs)
    try:
        with FlopCounterMode(display=False) as counter:
            model.train_step(batch, opts)
        flops_per_sample = counter.get_total_flops() / bs
    except RuntimeError:  # e.g. valt_gan's latent mining calls autograd.grad, which the counter cannot follow
        flops_per_sample = float("nan")
    for _ in range(warmup):
        model.train_step(batch, opts)
    t = time.perf_counter()
    for _ in range(steps):
        model.train_step(batch, opts)
    step_s = (time.perf_counter() - t) / steps
    return {"family": name, "preset": preset, "batch": bs, "step_ms": step_s * 1000, "samples_s": bs / step_s,
            "gflop_sample": flops_per_sample / 1e9, "gflops": flops_per_sample * bs / step_s / 1e9,
            "data_ms": data_seconds_per_step(model, bs, max(5, steps)) * 1000}


def profile(name: str, preset: str, steps: int) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    model = create_model(name, preset)
    model.train()
    opts = model.configure_optimizers()
    batch = train_batch(model, model.config.batch_size)
    model.train_step(batch, opts)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            model.train_step(batch, opts)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="*", default=None)
    p.add_argument("--presets", nargs="*", default=["tiny", "ped2_cpu", "cpu"],
                   help="presets to time (a family without one is skipped; ped2_cpu falls back to cpu)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--profile", default=None, help="a family: print where its training step's time goes")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.profile:
        for preset in args.presets:
            if preset in get_spec(args.profile).presets:
                print(f"== {args.profile} / {preset}")
                profile(args.profile, preset, args.steps)
                break
        return 0
    peak = matmul_peak_gflops(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); fp32 matmul peak {peak:.1f} GFLOP/s (1024x1024)")
    print("| family | preset | batch | step ms | samples/s | GFLOP/sample | GFLOP/s | % of peak | data ms/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.families or list_models():
        presets = get_spec(name).presets
        done = set()
        for preset in args.presets:
            chosen = preset if preset in presets else ("cpu" if preset == "ped2_cpu" and "cpu" in presets else None)
            if chosen is None or chosen in done:
                continue
            done.add(chosen)
            r = measure(name, chosen, args.steps, args.warmup)
            counted = r["gflop_sample"] == r["gflop_sample"]  # nan when the FLOP counter could not follow the step
            flops = (f"{r['gflop_sample']:.3f} | {r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}%" if counted
                     else "n/a | n/a | n/a")
            print(f"| {name} | {chosen} | {r['batch']} | {r['step_ms']:.1f} | {r['samples_s']:.1f} | {flops} | "
                  f"{r['data_ms']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
