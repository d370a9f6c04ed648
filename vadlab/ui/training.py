"""Training from the app: `api.train` in its own process (`vadlab.jobs`), polled by the Train page.

The training process never touches Streamlit: it sends `TrainEvent`s over a queue; the page (a
fragment that reruns every second) drains it with `TrainingJob.poll()` and draws progress, loss
curves and the sample reconstruction. Cancel sets an event that `api.train` polls between steps
(`should_stop`). A process per training (not a thread) keeps process-global state (torch's seeds
and thread count) apart, so two trainings at once in one server never change each other's weights.

`TrainingJob.run()` blocks the caller until training ends (the page's "run in the foreground"
option). Tests and scripts use it, because AppTest does not wait for `run_every` fragments.
"""
from __future__ import annotations

import dataclasses
import queue
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, MutableMapping, Optional

from vadlab.jobs import TrainingProcess
from vadlab.registry import get_spec, list_models
from vadlab.train import TrainConfig, TrainEvent

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def model_families() -> list[str]:
    """Registered model families (`registry.list_models`)."""
    return list_models()


def family_presets(family: str) -> list[str]:
    """The presets of a family ("tiny" first when present: it trains in seconds on a CPU)."""
    presets = list(get_spec(family).presets)
    return sorted(presets, key=lambda p: (p != "tiny", p))


def family_summary(family: str) -> str:
    """One line on a family: its paper and what it scores."""
    spec = get_spec(family)
    kind = "supervised" if spec.supervised else ("prediction" if spec.target == "next" else "reconstruction")
    return f"{spec.summary} — {kind}, score: {spec.score_kind}. {spec.paper}"


def preset_epochs(family: str, preset: str) -> int:
    """The epochs of a preset's own recipe (its config's `epochs`, what `vadlab train` runs without
    `--epochs`): the Train page starts from it."""
    return int(get_spec(family).config(preset).epochs)


def follow_preset_epochs(remembered: MutableMapping, family: str, preset: str, key: str = "train.epochs") -> None:
    """Put the preset's epochs in the Epochs input (`remembered[key]`) whenever the family or preset
    changes, so the page starts from the recipe; an edit of the number stays while they do not."""
    chosen = f"{family}/{preset}"
    if remembered.get(f"{key}.preset") != chosen or key not in remembered:
        remembered[key] = preset_epochs(family, preset)
        remembered[f"{key}.preset"] = chosen


def default_checkpoint_name(family: str, preset: str, remembered: MutableMapping) -> str:
    """A fresh default name for a run, "conv_ae_tiny_20261204_171530_3fa2" (the second and a random
    tag: two runs started in the same minute, or by two users at once, never share a name). Kept
    in `remembered` (the session) per family and preset, so it stays put while the page reruns."""
    key = f"train.default_name.{family}.{preset}"
    if key not in remembered:
        remembered[key] = f"{family}_{preset}_{datetime.now():%Y%m%d_%H%M%S}_{secrets.token_hex(2)}"
    return str(remembered[key])


def checkpoint_name_error(name: str) -> Optional[str]:
    """Why a checkpoint name is not allowed (None when it is): letters, digits, '_', '-', '.'; no
    path separators, so a name can never point outside the user checkpoint folder."""
    if not NAME_PATTERN.match(name or ""):
        return (f"'{name}': a checkpoint name is 1-80 letters, digits, '_', '-' or '.', starting with a "
                "letter or digit (no '/' or spaces)")
    return None


@dataclass(frozen=True)
class TrainRequest:
    """What the Train page asks for."""

    family: str
    preset: str
    data: str  # dataset spec, e.g. "synthetic:/path/to/sample_videos"
    out: Path  # checkpoint stem (no suffix) under the user checkpoint folder
    epochs: Optional[int] = None  # None: the preset's own epochs (its recipe), as `vadlab train` without --epochs
    max_steps_per_epoch: Optional[int] = None
    device: str = "auto"
    evaluate_after: bool = True
    init_from: Optional[str] = None  # checkpoint stem to start from (knowledge transfer), else scratch

    @property
    def recipe_epochs(self) -> int:
        """The epochs this run trains: the request's, else the preset's own."""
        return self.epochs if self.epochs is not None else preset_epochs(self.family, self.preset)


@dataclass
class TrainingJob:
    """One training run and everything the page shows about it."""

    request: TrainRequest
    status: str = "pending"  # pending | running | done | cancelled | failed
    message: str = ""
    progress: float = 0.0
    step: int = 0
    total_steps: int = 0
    epoch_history: list = field(default_factory=list)  # one {epoch, losses..., val_loss} per epoch
    step_history: list = field(default_factory=list)  # one {step, losses...} per step
    sample: Optional[dict] = None  # {"input": (H, W, C) uint8, "output": (H, W, C) uint8}
    metrics: dict = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    _process: Optional[TrainingProcess] = field(default=None, repr=False)

    # ---- running ------------------------------------------------------------------------------
    def _launch(self) -> None:
        request = self.request
        # run mechanics only: the recipe (epochs, batch size, stride, schedule) is the preset's, with the
        # request's epochs as the one override, resolved by api.train exactly as for `vadlab train`
        config = TrainConfig(max_steps_per_epoch=request.max_steps_per_epoch)
        kwargs = dict(family=request.family, data=request.data, out=request.out, preset=request.preset,
                      epochs=request.epochs, device=request.device, train_config=config,
                      evaluate_after=request.evaluate_after, init_from=request.init_from)
        self.status, self.started = "running", time.time()
        self._process = TrainingProcess(kwargs, name=f"vadlab-train-{request.out.name}").start()

    def start(self) -> "TrainingJob":
        """Train in a background process; call `poll()` to collect progress."""
        self._launch()
        return self

    def run(self, on_update: Optional[Callable[["TrainingJob"], None]] = None) -> "TrainingJob":
        """Train and wait for the end (blocking); `on_update(job)` is called after every batch of events."""
        self._launch()
        while self.running:
            self.poll(timeout=0.2)
            if on_update is not None:
                on_update(self)
        self._process.join(timeout=10)
        return self

    def cancel(self) -> None:
        """Ask the training loop to stop at the next step."""
        if self._process is not None:
            self._process.cancel()

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def checkpoint(self) -> Path:
        return self.request.out

    # ---- collecting events -----------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> int:
        """Apply every event the training has sent to the job's state; returns how many were applied.

        A training process that died without sending its outcome makes the job "failed" (with its
        exit code), so a job never stays "running" after its process is gone."""
        applied = 0
        while self._process is not None:
            was_alive = self._process.alive  # read BEFORE draining: a dead process's events are all readable
            try:
                item = self._process.get(timeout=timeout if (timeout and applied == 0) else None)
            except queue.Empty:
                if not was_alive and self.running:
                    self._apply(self._process.lost())
                    applied += 1
                return applied
            applied += 1
            self._apply(item)
        return applied

    def _apply(self, item: object) -> None:
        if isinstance(item, TrainEvent):
            self.step, self.total_steps = item.step, item.total_steps
            self.progress = item.progress
            if item.kind == "start":
                self.message = item.message
            elif item.kind == "step":
                self.step_history.append({"step": item.step, **item.losses})
            elif item.kind == "epoch":
                self.epoch_history.append({"epoch": item.epoch + 1, **item.losses, "val_loss": item.val_loss})
                if item.sample is not None:
                    self.sample = item.sample
                self.message = f"epoch {item.epoch + 1} of {self.request.recipe_epochs} done (best so far: epoch {item.best_epoch})"
            elif item.kind == "done":
                self.progress = 1.0
                self.message = "training done; evaluating and saving the checkpoint…"
            return
        kind, payload = item  # type: ignore[misc]
        self.finished = time.time()
        if kind == "finished":
            self.status, self.metrics, self.progress = "done", payload, 1.0
            self.message = f"saved {self.request.out.name}"
        elif kind == "cancelled":
            self.status, self.message = "cancelled", payload
        else:
            self.status, self.message = "failed", payload


def new_job(request: TrainRequest) -> TrainingJob:
    """A job for a request (not started)."""
    return TrainingJob(request=dataclasses.replace(request, out=Path(request.out)))
