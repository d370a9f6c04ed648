"""Training throughput per family and preset, against the device's measured matmul peak (never a test).

    python bench/train_speed.py                                  # every family, presets tiny + ped2_cpu/cpu, 1 thread
    python bench/train_speed.py --families ffp conv_ae --presets ped2_cpu --threads 2
    python bench/train_speed.py --profile ffp --presets ped2_cpu # where one training step's time goes
    python bench/train_speed.py --device cuda --presets paper    # on a GPU: bf16 autocast, fused Adam, resident windows
    python bench/train_speed.py --families svd_gan --presets ped2_cpu --set svd_method=full   # a config override

Per family and preset: training samples/s of `train_step` at the preset's training size (its
`train_crop` when it crops), FLOPs per training sample (forward + backward of every network the step
runs, counted by torch.utils.flop_counter), the achieved GFLOP/s (TFLOP/s on CUDA) and its share of
the device's fp32 and bf16 matmul peaks (square matmuls timed on the same device: 1024 at the same
thread count on the CPU, 8192 on CUDA with TF32 off for fp32), and where a step's time goes:

  data     making the batch: on the CPU the host path the training loop uses (uint8 windows sliced
           from an in-memory video, `collate_windows`, the recipe's crop); on CUDA the device-resident
           path (`vadlab.data.device_windows.DeviceWindows`: one uint8 copy of the frames on the GPU);
  forward  everything in `train_step` that is not one of the others (networks, losses, zero_grad);
  backward inside `.backward()` / `torch.autograd.grad`;
  optimizer inside `optimizer.step()` (fused Adam on CUDA: `vadlab.optim.fused_optimizers`);
  sync     the host blocked in `.item()` / `float()` / `.tolist()` (on CUDA: waiting for the device).

On the CPU the phases are host perf_counter intervals; on CUDA, CUDA-event intervals on the stream
(what the device spent between the phase boundaries, idle gaps included) and, for sync, host time.
The step time is the wall-clock mean over --steps steps after --warmup steps (data not included, as
before; samples/s = batch / step time). On CUDA the step runs under bf16 autocast as the training
loop does (--no-amp: float32/TF32).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import device as devices  # noqa: E402
from vadlab.data.clips import WindowDataset, collate_windows  # noqa: E402
from vadlab.data.device_windows import DeviceWindows  # noqa: E402
from vadlab.optim import fused_optimizers  # noqa: E402
from vadlab.outputs import Batch  # noqa: E402
from vadlab.registry import create_model, get_spec, list_models  # noqa: E402
from vadlab.train import random_crop  # noqa: E402

PHASES = ("data", "forward", "backward", "optimizer", "sync")


def matmul_peak_gflops(threads: int, n: int = 1024, runs: int = 10, trials: int = 5,
                       device: torch.device = torch.device("cpu"), dtype: torch.dtype = torch.float32) -> float:
    """The best of `trials` timings of `runs` n x n matmuls in `dtype` on `device`, GFLOP/s (the best:
    other load only slows it). On CUDA fp32 is timed with TF32 off (the true fp32 peak)."""
    cuda = device.type == "cuda"
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for _ in range(3):
            a @ b
        best = 0.0
        for _ in range(trials):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(runs):
                    a @ b
                end.record()
                end.synchronize()
                seconds = start.elapsed_time(end) / 1000
            else:
                t = time.perf_counter()
                for _ in range(runs):
                    a @ b
                seconds = time.perf_counter() - t
            best = max(best, 2 * n**3 * runs / seconds / 1e9)
        return best
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


class PhaseClock:
    """Time per phase of training steps: host perf_counter on the CPU, CUDA events on CUDA.

    The phase in force changes at `switch`; `push`/`pop` enter and leave a nested phase (a backward
    inside the forward phase, ...). Host-blocked seconds in .item()/float()/.tolist() add up in
    `sync_seconds` on every device.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.totals: dict[str, float] = defaultdict(float)
        self.pending: list = []
        self.stack: list[str] = []
        self.phase = None
        self.mark = None
        self.sync_seconds = 0.0

    def _now(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def switch(self, phase) -> None:
        now = self._now()
        if self.phase is not None:
            if self.cuda:
                self.pending.append((self.phase, self.mark, now))
            else:
                self.totals[self.phase] += now - self.mark
        self.phase, self.mark = phase, now

    def push(self, phase: str) -> None:
        self.stack.append(self.phase)
        self.switch(phase)

    def pop(self) -> None:
        self.switch(self.stack.pop())

    def seconds(self) -> dict[str, float]:
        """Seconds per phase so far (waits for the device once, on CUDA)."""
        if self.cuda and self.pending:
            torch.cuda.synchronize()
            for phase, start, end in self.pending:
                self.totals[phase] += start.elapsed_time(end) / 1000
            self.pending = []
        out = dict(self.totals)
        out["sync"] = self.sync_seconds if self.cuda else out.get("sync", 0.0)
        return out


@contextlib.contextmanager
def phase_hooks(clock: PhaseClock):
    """Route backward, optimizer steps and host synchronisations through `clock` for the duration."""
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    originals = {"backward": torch.autograd.backward, "grad": torch.autograd.grad,
                 "item": torch.Tensor.item, "__float__": torch.Tensor.__float__, "tolist": torch.Tensor.tolist}

    def in_phase(phase, fn):
        def wrapped(*args, **kwargs):
            if clock.phase == phase:  # nested (float() calling item(), ...): counted once, outside
                return fn(*args, **kwargs)
            clock.push(phase)
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if phase == "sync":
                    clock.sync_seconds += time.perf_counter() - t
                clock.pop()
        return wrapped

    handles = [register_optimizer_step_pre_hook(lambda opt, args, kwargs: clock.push("optimizer")),
               register_optimizer_step_post_hook(lambda opt, args, kwargs: clock.pop())]
    torch.autograd.backward = in_phase("backward", originals["backward"])
    torch.autograd.grad = in_phase("backward", originals["grad"])
    torch.Tensor.item = in_phase("sync", originals["item"])
    torch.Tensor.__float__ = in_phase("sync", originals["__float__"])
    torch.Tensor.tolist = in_phase("sync", originals["tolist"])
    try:
        yield clock
    finally:
        for h in handles:
            h.remove()
        torch.autograd.backward, torch.autograd.grad = originals["backward"], originals["grad"]
        torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.tolist = originals["item"], originals["__float__"], originals["tolist"]


def train_batch(model, batch_size: int, device: torch.device = torch.device("cpu")) -> Batch:
    c = model.config
    side_h = c.train_crop or c.height
    side_w = c.train_crop or c.width
    clip = torch.rand(batch_size, c.channels, c.window, side_h, side_w, device=device) * 2 - 1  # (B, C, T, H, W)
    target = torch.rand(batch_size, c.channels, side_h, side_w, device=device) * 2 - 1  # (B, C, H, W)
    label = torch.randint(0, 2, (batch_size,), device=device).float()
    return Batch(clip=clip, target=target, label=label, frame_index=torch.arange(batch_size, device=device))


def batch_source(model, batch_size: int, device: torch.device, resident: bool | None = None):
    """A function i -> the i-th training batch of an in-memory 200-frame uint8 video, made as the
    training loop makes it on `device`: host collation, or (`resident`, default on CUDA) windows
    gathered from the frames held on the device."""
    c = model.config
    gen = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (200, c.channels, c.height, c.width), dtype=torch.uint8, generator=gen)  # (T, C, H, W)
    ds = WindowDataset([video], c.window, get_spec(model.family).target, stride=1)
    order = np.random.default_rng(0).permutation(len(ds))
    if resident is None:
        resident = device.type == "cuda"
    windows = DeviceWindows.from_dataset(ds, device) if resident else None

    def make(i: int) -> Batch:
        idx = [int(order[(i * batch_size + j) % len(ds)]) for j in range(batch_size)]
        batch = windows.batch(idx) if windows is not None else collate_windows([ds[j] for j in idx])
        if c.train_crop:
            batch = random_crop(batch, c.train_crop, gen)
        return batch
    return make


def data_seconds_per_step(model, batch_size: int, steps: int) -> float:
    """uint8 windows sliced from an in-memory video, collated to [-1, 1], cropped as the recipe does (host path)."""
    make = batch_source(model, batch_size, torch.device("cpu"))
    t = time.perf_counter()
    for i in range(steps):
        make(i)
    return (time.perf_counter() - t) / steps


def measure(name: str, preset: str, steps: int, warmup: int, device: torch.device = torch.device("cpu"),
            amp: bool = True, overrides: dict | None = None) -> dict:
    model = create_model(name, preset, **(overrides or {})).to(device)
    model.train()
    opts = fused_optimizers(model.configure_optimizers(), device)
    bs = model.config.batch_size
    cuda = device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda and amp else contextlib.nullcontext
    make = batch_source(model, bs, device)
    try:
        with FlopCounterMode(display=False) as counter, autocast():
            model.train_step(train_batch(model, bs, device), opts)
        flops_per_sample = counter.get_total_flops() / bs
    except RuntimeError:  # e.g. valt_gan's latent mining calls autograd.grad, which the counter cannot follow
        flops_per_sample = float("nan")
    for i in range(warmup):
        with autocast():
            model.train_step(make(i), opts)
    clock = PhaseClock(device)
    step_seconds = 0.0
    with phase_hooks(clock):
        for i in range(steps):
            clock.switch("data")
            batch = make(warmup + i)
            if cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            clock.switch("forward")
            with autocast():
                model.train_step(batch, opts)
            clock.switch(None)
            if cuda:
                torch.cuda.synchronize()
            step_seconds += time.perf_counter() - t
    split = {k: v / steps * 1000 for k, v in clock.seconds().items() if k in PHASES}
    step_s = step_seconds / steps
    return {"family": name, "preset": preset, "batch": bs, "step_ms": step_s * 1000, "samples_s": bs / step_s,
            "gflop_sample": flops_per_sample / 1e9, "gflops": flops_per_sample * bs / step_s / 1e9,
            "data_ms": split.get("data", 0.0), **{f"{k}_ms": split.get(k, 0.0) for k in PHASES if k != "data"}}


def profile(name: str, preset: str, steps: int, overrides: dict | None = None) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    model = create_model(name, preset, **(overrides or {}))
    model.train()
    opts = model.configure_optimizers()
    batch = train_batch(model, model.config.batch_size)
    model.train_step(batch, opts)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            model.train_step(batch, opts)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def parse_overrides(pairs: list[str]) -> dict:
    """["svd_method=full", "rank=4"] -> {"svd_method": "full", "rank": 4} (values read as JSON when they parse)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got '{pair}'")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="*", default=None)
    p.add_argument("--presets", nargs="*", default=["tiny", "ped2_cpu", "cpu"],
                   help="presets to time (a family without one is skipped; ped2_cpu falls back to cpu)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no-amp", action="store_true", help="CUDA: float32 (TF32) instead of bf16 autocast")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every family timed")
    p.add_argument("--profile", default=None, help="a family: print where its training step's time goes (CPU)")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    overrides = parse_overrides(args.set)
    if args.profile:
        for preset in args.presets:
            if preset in get_spec(args.profile).presets:
                print(f"== {args.profile} / {preset}")
                profile(args.profile, preset, args.steps, overrides)
                break
        return 0
    dev = devices.resolve(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = True
    n = 8192 if cuda else 1024
    peak32 = matmul_peak_gflops(args.threads, n=n, device=dev)
    peak16 = matmul_peak_gflops(args.threads, n=n, device=dev, dtype=torch.bfloat16, trials=3 if cuda else 2,
                                runs=10 if cuda else 2)
    torch.backends.cuda.matmul.allow_tf32 = cuda
    unit, scale = ("TFLOP/s", 1e3) if cuda else ("GFLOP/s", 1.0)
    print(f"torch {torch.__version__}, {devices.describe(dev)}; {args.threads} thread(s); matmul peak ({n}x{n}) "
          f"fp32 {peak32 / scale:.1f} {unit}, bf16 {peak16 / scale:.1f} {unit}"
          + ("; bf16 autocast, fused Adam, resident windows" if cuda and not args.no_amp else "")
          + (f"; overrides {overrides}" if overrides else ""))
    print(f"| family | preset | batch | step ms | samples/s | GFLOP/sample | {unit} | % of peak | data ms/step | "
          "% of bf16 peak | forward ms | backward ms | optimizer ms | sync ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in args.families or list_models():
        presets = get_spec(name).presets
        done = set()
        for preset in args.presets:
            chosen = preset if preset in presets else ("cpu" if preset == "ped2_cpu" and "cpu" in presets else None)
            if chosen is None or chosen in done:
                continue
            done.add(chosen)
            r = measure(name, chosen, args.steps, args.warmup, dev, amp=not args.no_amp, overrides=overrides)
            r.update(peak_fp32_gflops=peak32, peak_bf16_gflops=peak16, device=devices.describe(dev))
            rows.append(r)
            counted = r["gflop_sample"] == r["gflop_sample"]  # nan when the FLOP counter could not follow the step
            flops = (f"{r['gflop_sample']:.3f} | {r['gflops'] / scale:.1f} | {100 * r['gflops'] / peak32:.0f}%" if counted
                     else "n/a | n/a | n/a")
            share16 = f"{100 * r['gflops'] / peak16:.1f}%" if counted else "n/a"
            print(f"| {name} | {chosen} | {r['batch']} | {r['step_ms']:.1f} | {r['samples_s']:.1f} | {flops} | "
                  f"{r['data_ms']:.2f} | {share16} | {r['forward_ms']:.1f} | {r['backward_ms']:.1f} | "
                  f"{r['optimizer_ms']:.1f} | {r['sync_ms']:.2f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
