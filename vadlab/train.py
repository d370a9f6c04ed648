"""One training loop for every model family.

- device chosen once (`vadlab.device.resolve`), bf16 autocast on CUDA (no loss scaling needed);
- seeded (python, numpy, torch, data order);
- progress as `TrainEvent`s (the CLI turns them into tqdm, the app into live curves);
- validation on a held-out tail of each NORMAL training video; the best epoch is chosen on that
  validation loss, or (recipe field `model_selection="pseudo_anomaly"`) on the AUC of those normal
  windows against the same frames played faster (a pseudo-anomaly made of normal data); never on
  test labels;
- resume from a training-state file (weights + optimizer state + epoch) written each epoch
  (`vadlab.trainstate`);
- multi-GPU / multi-process data parallelism when launched with `torchrun` (DDP semantics: every
  rank holds a replica, gradients are all-reduced before each optimizer step, data is sharded).
  Implemented by wrapping the family's optimizers, so every family's `train_step` works unchanged.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset

from vadlab.data.clips import PseudoAnomalyWindows, WindowDataset, balanced_indices, collate_windows, to_uint8
from vadlab.data.device_windows import DeviceWindows, fits_on_device
from vadlab.optim import fused_optimizers
from vadlab.models.base import AnomalyModel, lr_factor
from vadlab.outputs import Batch
from vadlab.trainstate import has_train_state, load_train_state, save_train_state


@dataclass
class TrainConfig:
    """How a run is carried out, never what is learned: seed, threads, workers, AMP, budget, the
    validation share. The recipe (epochs, batch size, window stride, schedule) is the model's config
    (`BaseConfig`, a preset with overrides), so a checkpoint records each of its numbers once."""

    threads: Optional[int] = None  # CPU threads for torch (None: torch's default)
    channels_last: bool = False  # 2-D conv weights in channels-last layout (ffp ped2_cpu step: -9% time on this CPU)
    val_fraction: float = 0.1  # tail of each training video held out for validation (0 = none)
    seed: int = 0
    amp: bool = True  # bf16 autocast, CUDA only
    num_workers: int = 0
    max_steps_per_epoch: Optional[int] = None
    max_seconds: Optional[float] = None  # training-time budget, checked between steps: an epoch cut short
    #   still ends with validation and model selection, and the history/checkpoint say it was cut
    balance_classes: bool = True  # supervised families: under-sample the majority class each epoch
    resident_windows: Optional[bool] = None  # frames kept on the device, batches gathered there
    #   (`vadlab.data.device_windows`); None = on CUDA when the frames fit. Same batches as the host path.
    fused_optimizers: Optional[bool] = None  # Adam/AdamW as fused kernels (`vadlab.optim`); None = on CUDA


@dataclass
class TrainEvent:
    kind: str  # "start" | "step" | "epoch" | "done"
    epoch: int = 0
    step: int = 0
    total_steps: int = 0
    losses: dict = field(default_factory=dict)
    val_loss: float = float("nan")
    best_epoch: int = -1
    seconds: float = 0.0
    message: str = ""
    sample: Optional[dict] = None  # {"input": uint8 (H,W,C), "output": uint8 (H,W,C)} at epoch ends

    @property
    def progress(self) -> float:
        return 0.0 if not self.total_steps else min(1.0, self.step / self.total_steps)


@dataclass
class TrainResult:
    history: list[dict]
    best_epoch: int
    best_val_loss: float
    seconds: float
    steps: int
    device: str
    stopped_early: bool = False


class TrainingCancelled(RuntimeError):
    pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ------------------------------------------------------------------------------------------------
# distributed helpers
# ------------------------------------------------------------------------------------------------
def distributed_env() -> tuple[int, int]:
    """(rank, world_size) from torchrun's environment; (0, 1) when not distributed."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device: torch.device) -> bool:
    """Initialise the process group when launched by torchrun. Returns True when distributed."""
    rank, world = distributed_env()
    if world <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


class AllReduceOptimizer:
    """Wraps an optimizer so that `step()` first averages the gradients of its parameters over all
    ranks (what DistributedDataParallel does, but independent of the model's forward structure, so
    GAN families with several networks and several steps per batch work unchanged)."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.world = dist.get_world_size()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    # keep collectives aligned across ranks: a missing grad counts as zero
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad.div_(self.world)
        return self.optimizer.step(closure)

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state)

    @property
    def param_groups(self):
        return self.optimizer.param_groups


def _broadcast_model(model: torch.nn.Module) -> None:
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def split_train_val(
    videos: Sequence[torch.Tensor], val_fraction: float, min_frames: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hold out the last `val_fraction` of every video (contiguous, so overlapping windows do not
    leak between the splits). Videos too short to split go to training whole."""
    train, val = [], []
    for v in videos:
        n = int(v.shape[0])
        n_val = int(round(n * val_fraction))
        if val_fraction <= 0 or n_val < min_frames or n - n_val < min_frames:
            train.append(v)
            continue
        train.append(v[: n - n_val])
        val.append(v[n - n_val :])
    return train, val


# ------------------------------------------------------------------------------------------------
# the loop, step by step: windows, optimizers (and resume), batches, one epoch, validation and
# model selection, finish. `fit` reads as the list of those steps.
# ------------------------------------------------------------------------------------------------
@dataclass
class TrainingWindows:
    """A run's data: the training windows, the validation windows (None without a split) and the
    held-out video tails they come from (the pseudo-anomaly selection plays those faster)."""

    train: WindowDataset
    val: Optional[WindowDataset]
    val_videos: list


def training_windows(videos: Sequence[torch.Tensor], labels: Optional[Sequence[np.ndarray]], val_fraction: float,
                     window: int, target: str, stride: int) -> TrainingWindows:
    """Split every video into a training head and a held-out tail (`split_train_val`; supervised
    families split their frame labels with the frames) and cut both into windows."""
    span = window + (1 if target == "next" else 0)
    if labels is not None:
        # supervised: split labels with the frames
        train_v, val_v, train_l, val_l = [], [], [], []
        for v, l in zip(videos, labels):
            tv, vv = split_train_val([v], val_fraction, span)
            train_v += tv
            train_l.append(np.asarray(l)[: tv[0].shape[0]])
            if vv:
                val_v += vv
                val_l.append(np.asarray(l)[tv[0].shape[0]:])
        train_set = WindowDataset(train_v, window, target, stride, labels=train_l)
        val_set = WindowDataset(val_v, window, target, stride, labels=val_l) if val_v else None
    else:
        train_v, val_v = split_train_val(videos, val_fraction, span)
        train_set = WindowDataset(train_v, window, target, stride)
        val_set = WindowDataset(val_v, window, target, stride) if val_v else None
    if len(train_set) == 0:
        raise ValueError(
            f"no training windows: every training video is shorter than {span} frames "
            f"(window {window}{' + 1 predicted frame' if target == 'next' else ''})"
        )
    return TrainingWindows(train=train_set, val=val_set, val_videos=val_v)


def _place_model(model: AnomalyModel, config: TrainConfig, device: torch.device, distributed: bool) -> None:
    """The model on its device (channels-last when asked; rank 0's weights on every rank)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    if distributed:
        _broadcast_model(model)


def _optimizers_and_progress(model: AnomalyModel, config: TrainConfig, device: torch.device, distributed: bool,
                             state_path: Optional[Path], resume: bool) -> tuple[dict, int, list, dict]:
    """The family's optimizers (fused on CUDA; gradient-averaging under torchrun) and where the run
    starts: (optimizers, first epoch, history so far, best so far), from the resume state when asked."""
    optimizers = fused_optimizers(model.configure_optimizers(), device, config.fused_optimizers)
    start_epoch, history = 0, []
    best: dict = {"epoch": -1, "loss": math.inf, "state": None}
    if resume and state_path is not None and has_train_state(Path(state_path)):
        start_epoch, history, best = load_train_state(Path(state_path), model, optimizers)
        model.to(device)
    if distributed:
        optimizers = {k: AllReduceOptimizer(v) for k, v in optimizers.items()}
    return optimizers, start_epoch, history, best


class EpochBatches:
    """The training batches of every epoch, in that epoch's order: a seeded permutation (class-balanced
    for supervised families), sharded across ranks; windows replaced by skip-frame pseudo-anomalies
    with the recipe's probability; gathered on the device when the frames live there, else loaded and
    collated on the host. The same batches either way."""

    def __init__(self, train_set: WindowDataset, config: TrainConfig, model_config, device: torch.device,
                 batch_size: int, supervised: bool, rank: int, world: int):
        self.train_set, self.config, self.model_config = train_set, config, model_config
        self.device, self.batch_size, self.rank, self.world = device, batch_size, rank, world
        self.train_labels = None
        if supervised:
            self.train_labels = np.array([train_set.window_label(i) for i in range(len(train_set))])
        self.pseudo_probability = float(getattr(model_config, "pseudo_anomaly_prob", 0.0) or 0.0)
        self.resident = None  # the frames on the device, windows gathered there (no DataLoader, no host copies)
        if (config.resident_windows if config.resident_windows is not None else device.type == "cuda") \
                and fits_on_device(train_set.videos, device):
            self.resident = DeviceWindows.from_dataset(train_set, device)

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's window indices for `epoch`, in order."""
        idx = np.arange(len(self.train_set))
        if self.train_labels is not None and self.config.balance_classes:
            idx = balanced_indices(self.train_labels, seed=self.config.seed + epoch)
        perm = np.random.default_rng(self.config.seed * 1000 + epoch).permutation(idx)
        return perm[self.rank::self.world]  # shard across ranks (identical permutation everywhere)

    def windows(self, epoch: int):
        """The training windows of an epoch: with the recipe's pseudo-anomaly probability, a window
        is replaced by a skip-frame pseudo-anomaly, drawn anew each epoch (reproducibly)."""
        if self.pseudo_probability <= 0:
            return self.train_set
        return PseudoAnomalyWindows(self.train_set, self.pseudo_probability, self.model_config.pseudo_anomaly_skips,
                                    seed=self.config.seed * 1000 + epoch + 104729)

    def steps_per_epoch(self) -> int:
        steps = math.ceil(len(self.indices(0)) / self.batch_size)
        if self.config.max_steps_per_epoch:
            steps = min(steps, self.config.max_steps_per_epoch)
        return steps

    def __call__(self, epoch: int):
        """The epoch's batches, in its order: gathered on the device, or loaded and collated on the host."""
        order = self.indices(epoch)
        windows = self.windows(epoch)
        if self.resident is not None:
            for i in range(0, len(order), self.batch_size):
                yield self.resident.batch(order[i:i + self.batch_size], windows)
            return
        yield from DataLoader(Subset(windows, order.tolist()), batch_size=self.batch_size, shuffle=False,
                              collate_fn=collate_windows, num_workers=self.config.num_workers, drop_last=False,
                              pin_memory=self.device.type == "cuda")


class TrainingClock:
    """Seconds since the run started, and training seconds (monitoring excluded), against the budget."""

    def __init__(self, max_seconds: Optional[float], distributed: bool, device: torch.device):
        self.max_seconds, self.distributed, self.device = max_seconds, distributed, device
        self.t0 = time.time()
        self.monitor_seconds = 0.0

    def seconds(self) -> float:
        return time.time() - self.t0

    def train_seconds(self) -> float:
        return time.time() - self.t0 - self.monitor_seconds

    def over_budget(self) -> bool:
        """True once the training time (monitoring excluded) passes `max_seconds`. Under torchrun
        every rank must agree, so rank 0 decides and broadcasts."""
        if self.max_seconds is None:
            return False
        over = time.time() - self.t0 - self.monitor_seconds > self.max_seconds
        if self.distributed:
            flag = torch.tensor([1.0 if over else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
            dist.broadcast(flag, src=0)
            over = bool(flag.item())
        return over


@dataclass
class _Run:
    """What every step of one `fit` call shares."""

    model: AnomalyModel
    optimizers: dict
    config: TrainConfig
    device: torch.device
    target: str
    batch_size: int
    batches: EpochBatches
    steps_per_epoch: int
    total_steps: int
    clock: TrainingClock
    emit: Callable[[TrainEvent], None]
    rank: int
    distributed: bool
    step: int = 0
    base_lrs: dict = field(default_factory=dict)
    crop: int = 0
    crop_rng: Optional[torch.Generator] = None

    @property
    def use_amp(self) -> bool:
        return self.config.amp and self.device.type == "cuda"


def _train_epoch(run: _Run, epoch: int, should_stop: Optional[Callable[[], bool]]) -> tuple[dict, int, bool]:
    """One pass over the epoch's batches (fewer when `max_steps_per_epoch` or the budget cuts it).
    Returns (mean loss per name, batches run, whether the budget cut the epoch)."""
    model, config, cfg_model = run.model, run.config, run.model.config
    model.train()
    model.on_epoch_start(epoch, cfg_model.epochs)
    sums: dict[str, float] = {}
    n_batches = 0
    epoch_cut = False
    for i, batch in enumerate(run.batches(epoch)):
        if config.max_steps_per_epoch and i >= config.max_steps_per_epoch:
            break
        if should_stop is not None and should_stop():
            raise TrainingCancelled(f"training cancelled at epoch {epoch + 1}, step {run.step}")
        set_learning_rates(run.optimizers, run.base_lrs, lr_factor(cfg_model, run.step, run.total_steps))
        if run.crop:
            batch = random_crop(batch, run.crop, run.crop_rng)
        batch = batch.to(run.device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=run.use_amp):
            losses = model.train_step(batch, run.optimizers)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n_batches += 1
        run.step += 1
        if run.rank == 0:
            run.emit(TrainEvent("step", epoch=epoch, step=run.step, total_steps=run.total_steps, losses=losses,
                                seconds=run.clock.seconds()))
        if run.clock.over_budget() and i + 1 < run.steps_per_epoch:
            epoch_cut = True  # the rest of this epoch is not run
            break
    return {k: v / max(1, n_batches) for k, v in sums.items()}, n_batches, epoch_cut


def _validate_and_select(run: _Run, data: TrainingWindows, epoch: int, best: dict) -> tuple[float, float, dict]:
    """The epoch's validation loss (and pseudo-anomaly AUC when the recipe selects on it) and the best
    epoch so far. Returns (val_loss, pseudo-anomaly AUC or nan, best)."""
    model, cfg_model = run.model, run.model.config
    val_loss = evaluate_loss(model, data.val, run.batch_size, run.device, run.use_amp) if data.val is not None else float("nan")
    # policy: lowest validation loss on held-out NORMAL frames (or the highest pseudo-anomaly
    # AUC on them, when the recipe asks); without a validation split the last epoch is kept.
    # Test labels are never looked at.
    pseudo = float("nan")
    if getattr(cfg_model, "model_selection", "val_loss") == "pseudo_anomaly" and data.val_videos:
        pseudo = pseudo_anomaly_auc(model, data.val_videos, run.target, cfg_model.pseudo_skip, run.batch_size, run.device)
    if not math.isnan(pseudo):
        improved = -pseudo < best["loss"]  # best["loss"] holds -AUC under this policy
        criterion = -pseudo
    else:
        improved = not math.isnan(val_loss) and val_loss < best["loss"]
        criterion = val_loss
    if improved or data.val is None:
        best = {"epoch": epoch, "loss": criterion if improved else best["loss"],
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    return val_loss, pseudo, best


def _run_monitor(run: _Run, data: TrainingWindows, monitor: Callable[[AnomalyModel], dict]) -> dict:
    """`monitor(model)` after an epoch, off the training clock, on a model prepared for scoring."""
    t_monitor = time.time()
    model = run.model
    model.eval()
    with torch.no_grad():  # e.g. latent_gan's bank of normal codes: scoring needs it (rebuilt at the end)
        model.prepare_for_scoring(b.to(run.device) for b in DataLoader(
            data.train, batch_size=run.batch_size, shuffle=False, collate_fn=collate_windows))
    values = monitor(model)
    model.train()
    run.clock.monitor_seconds += time.time() - t_monitor
    return values


def _finish(run: _Run, data: TrainingWindows, history: list, best: dict, stopped_early: bool) -> TrainResult:
    """The best epoch's weights back in the model, prepared for scoring (e.g. latent bank built), and the result."""
    model, device = run.model, run.device
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.to(device)
    model.eval()
    prepare_loader = DataLoader(data.train, batch_size=run.batch_size, shuffle=False, collate_fn=collate_windows)
    with torch.no_grad():
        model.prepare_for_scoring(b.to(device) for b in prepare_loader)
    seconds = run.clock.train_seconds()
    if run.rank == 0:
        run.emit(TrainEvent("done", epoch=model.config.epochs, step=run.step, total_steps=run.total_steps,
                            best_epoch=best["epoch"] + 1, val_loss=best["loss"], seconds=seconds))
    # under the pseudo-anomaly policy best["loss"] holds -AUC: report the kept epoch's validation loss
    best_val = next((float(h["val_loss"]) for h in history
                     if h["epoch"] == best["epoch"] + 1 and "pseudo_anomaly_auc" in h), float(best["loss"]))
    return TrainResult(history=history, best_epoch=best["epoch"] + 1, best_val_loss=best_val,
                       seconds=seconds, steps=run.step, device=str(device), stopped_early=stopped_early)


def fit(
    model: AnomalyModel,
    videos: Sequence[torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    target: str,
    labels: Optional[Sequence[np.ndarray]] = None,
    on_event: Optional[Callable[[TrainEvent], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    state_path: Optional[Path] = None,
    resume: bool = False,
    monitor: Optional[Callable[[AnomalyModel], dict]] = None,
) -> TrainResult:
    """Train `model` on windows of `videos` (uint8 (T, C, H, W) tensors at model resolution), with
    the recipe of its config (epochs, batch size, window stride, schedule) and `config`'s mechanics.

    target: "window" or "next" (the family's spec). labels: per-frame 0/1 arrays for supervised
    families. Returns the history; the model ends holding the BEST epoch's weights (lowest
    validation loss on held-out normal frames) and is prepared for scoring (e.g. latent bank built).
    `should_stop()` is polled between steps (the app's cancel button) and raises TrainingCancelled.
    `monitor(model)`, when given, runs after every epoch and its dict joins that epoch's history
    record (e.g. test AUC for a learning curve: MONITORING ONLY, the best epoch is still chosen on
    the validation loss). Its time is excluded from the training clock (`train_seconds`) and it
    changes no weight: the same run with or without it ends with identical weights.
    """
    distributed = init_distributed(device)
    rank, world = distributed_env()
    seed_everything(config.seed)
    _place_model(model, config, device, distributed)
    cfg_model = model.config  # the recipe: epochs, batch size, window stride, schedule
    epochs, batch_size, stride = cfg_model.epochs, cfg_model.batch_size, cfg_model.train_stride
    if config.threads:
        torch.set_num_threads(config.threads)
    data = training_windows(videos, labels, config.val_fraction, cfg_model.window, target, stride)
    optimizers, start_epoch, history, best = _optimizers_and_progress(model, config, device, distributed,
                                                                      state_path, resume)
    batches = EpochBatches(data.train, config, cfg_model, device, batch_size, labels is not None, rank, world)
    steps_per_epoch = batches.steps_per_epoch()
    run = _Run(model=model, optimizers=optimizers, config=config, device=device, target=target, batch_size=batch_size,
               batches=batches, steps_per_epoch=steps_per_epoch, total_steps=steps_per_epoch * epochs,
               clock=TrainingClock(config.max_seconds, distributed, device), emit=on_event or (lambda e: None),
               rank=rank, distributed=distributed, step=start_epoch * steps_per_epoch,
               base_lrs={name: [g["lr"] for g in opt.param_groups] for name, opt in optimizers.items()},
               crop=int(getattr(cfg_model, "train_crop", 0) or 0),
               crop_rng=torch.Generator().manual_seed(config.seed + 7919))
    if rank == 0:
        run.emit(TrainEvent("start", epoch=start_epoch, step=run.step, total_steps=run.total_steps,
                            message=f"{len(data.train)} training windows, {len(data.val) if data.val else 0} "
                                    f"validation windows, device {device}"))
    stopped_early = False
    sample_batch = collate_windows([data.val[len(data.val) // 2]]) if data.val is not None and len(data.val) else None

    for epoch in range(start_epoch, epochs):
        epoch_losses, n_batches, epoch_cut = _train_epoch(run, epoch, should_stop)
        stopped_early = stopped_early or epoch_cut
        val_loss, pseudo, best = _validate_and_select(run, data, epoch, best)
        record = {"epoch": epoch + 1, **epoch_losses, "val_loss": val_loss, "seconds": run.clock.seconds(),
                  "train_seconds": run.clock.train_seconds(), "steps": run.step}
        if epoch_cut:
            record["cut_by_budget"] = True
            record["epoch_steps"] = n_batches
        if not math.isnan(pseudo):
            record["pseudo_anomaly_auc"] = pseudo
        if monitor is not None and rank == 0:
            record.update(_run_monitor(run, data, monitor))
        history.append(record)
        if rank == 0:
            sample = _sample_images(model, sample_batch, device) if sample_batch is not None else None
            run.emit(TrainEvent("epoch", epoch=epoch, step=run.step, total_steps=run.total_steps, losses=epoch_losses,
                                val_loss=val_loss, best_epoch=best["epoch"] + 1, seconds=run.clock.seconds(),
                                sample=sample))
            if state_path is not None:
                save_train_state(Path(state_path), model, optimizers if not distributed else
                                 {k: v.optimizer for k, v in optimizers.items()}, epoch, history, best)
        if epoch_cut or (run.clock.over_budget() and epoch + 1 < epochs):
            stopped_early = True
            break

    return _finish(run, data, history, best, stopped_early)


def skip_windows(videos: Sequence[torch.Tensor], window: int, target: str, skip: int) -> list[dict]:
    """Windows whose frames are `skip` apart (the clip played `skip` x faster), as WindowDataset
    items: uint8 clip (C, T, H, W), target (C, H, W). For "next" targets the predicted frame is
    `skip` after the window's last frame too."""
    items = []
    span = (window - 1) * skip + 1 + (skip if target == "next" else 0)
    for video in videos:
        for start in range(0, int(video.shape[0]) - span + 1):
            idx = [start + skip * i for i in range(window)]
            tgt = idx[-1] + skip if target == "next" else idx[-1]
            items.append({"clip": video[idx].permute(1, 0, 2, 3), "target": video[tgt], "frame_index": tgt})
    return items


@torch.no_grad()
def pseudo_anomaly_auc(model: AnomalyModel, videos: Sequence[torch.Tensor], target: str, skip: int,
                       batch_size: int, device: torch.device) -> float:
    """ROC AUC of the model's scores on held-out NORMAL windows (negatives) against the same videos'
    windows with frames `skip` apart (positives: unusually fast motion, made from normal data only).
    nan when the family cannot score during training (e.g. a latent bank built after training)."""
    from vadlab.metrics import auc_score

    was_training = model.training
    model.eval()
    window = model.config.window
    normal = WindowDataset(list(videos), window, target, stride=1)
    fast = skip_windows(videos, window, target, skip)
    scores: list[np.ndarray] = []
    for items in ([normal[i] for i in range(len(normal))], fast):
        out = []
        for i in range(0, len(items), batch_size):
            batch = collate_windows(items[i:i + batch_size]).to(device)
            out.append(model.score_clip(batch).score.float().cpu().numpy())
        scores.append(np.concatenate(out) if out else np.zeros(0))
    model.train(was_training)
    values = np.concatenate(scores)
    if len(scores[0]) == 0 or len(scores[1]) == 0 or not np.all(np.isfinite(values)):
        return float("nan")
    labels = np.concatenate([np.zeros(len(scores[0])), np.ones(len(scores[1]))])
    return float(auc_score(values, labels))


def set_learning_rates(optimizers: dict, base_lrs: dict, factor: float) -> None:
    """Every param group's lr = its initial lr x `factor` (the recipe's schedule at this step)."""
    for name, opt in optimizers.items():
        for group, base in zip(opt.param_groups, base_lrs[name]):
            group["lr"] = base * factor


def random_crop(batch: Batch, size: int, generator: torch.Generator) -> Batch:
    """One random `size` x `size` crop per window, at the same place in every frame of the window
    and in its target: (B, C, T, H, W) -> (B, C, T, size, size), (B, C, H, W) -> (B, C, size, size).
    For fully convolutional families, which then score whole frames."""
    h, w = batch.clip.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"train_crop={size} is larger than the {h}x{w} training frames")
    b = batch.clip.shape[0]
    ys = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    xs = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    clip = torch.stack([batch.clip[i, ..., y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])
    target = torch.stack([batch.target[i, ..., y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])
    reference = None
    if batch.reference is not None:  # (B, C, T, size, size), cropped like the clip
        reference = torch.stack([batch.reference[i, ..., y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])
    return dataclasses.replace(batch, clip=clip, target=target, reference=reference)


@torch.no_grad()
def evaluate_loss(model: AnomalyModel, dataset: WindowDataset, batch_size: int, device: torch.device, use_amp: bool) -> float:
    """Mean `validation_loss` over a dataset (eval mode; training mode restored after)."""
    if dataset is None or len(dataset) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_windows):
        batch = batch.to(device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            total += model.validation_loss(batch) * batch.clip.shape[0]
        n += batch.clip.shape[0]
    model.train(was_training)
    return total / max(1, n)


@torch.no_grad()
def _sample_images(model: AnomalyModel, batch: Batch, device: torch.device) -> Optional[dict]:
    was_training = model.training
    model.eval()
    out = model.score_clip(batch.to(device))
    model.train(was_training)
    if out.output is None:
        return None
    return {
        "input": to_uint8(batch.target[0]).permute(1, 2, 0).cpu().numpy(),  # (H, W, C)
        "output": to_uint8(out.output[0].float()).permute(1, 2, 0).cpu().numpy(),
    }
