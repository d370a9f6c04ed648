"""Training from the app: a background thread running `api.train`, polled by the Train page.

The thread never touches Streamlit: it puts `TrainEvent`s on a queue; the page (a fragment that
reruns every second) drains the queue with `TrainingJob.poll()` and draws progress, loss curves and
the sample reconstruction. Cancel sets a flag that `api.train` polls between steps (`should_stop`).

`TrainingJob.run()` does the same work in the caller's thread (the page's "run in the foreground"
option): the page blocks until training ends. Tests and scripts use it, because AppTest does not
wait for background threads or `run_every` fragments.
"""
from __future__ import annotations

import dataclasses
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, MutableMapping, Optional, Sequence

from vadlab import api
from vadlab.registry import get_spec, list_models
from vadlab.train import TrainConfig, TrainEvent, TrainingCancelled

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


def init_candidates(family: str, preset: str, folders: Sequence[tuple[Path, str]]) -> list[dict]:
    """Checkpoints a new (family, preset) run can start from (knowledge transfer, `--init-from`):
    same family and same preset, so every tensor fits. folders: (folder, origin) pairs, e.g. the
    shipped checkpoints then yours. Returns [{"path", "name", "origin", "data"}]."""
    rows = []
    for folder, origin in folders:
        if not Path(folder).is_dir():
            continue
        for row in api.list_checkpoints(folder):
            meta = row.get("metadata") or {}
            training = meta.get("training") or {}
            if meta.get("model") == family and training.get("preset") == preset:
                rows.append({"path": row["path"], "name": Path(row["path"]).name, "origin": origin,
                             "data": data_label(str(training.get("data") or "?"))})
    return rows


def data_label(spec: str) -> str:
    """A dataset spec in a few words: "your dataset lobby_cam" for a dataset of the user data
    folder, else KIND:FOLDER-NAME ("synthetic:sample_videos")."""
    from vadlab.ui import paths

    kind, sep, rest = spec.partition(":")
    if not sep:
        return spec
    folder = Path(rest)
    try:
        if kind == "folder" and folder.resolve().parent == paths.user_data_dir().resolve():
            return f"your dataset {folder.name}"
    except OSError:
        pass
    return f"{kind}:{folder.name or rest}"


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
    _events: "queue.Queue" = field(default_factory=queue.Queue, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: Optional[threading.Thread] = field(default=None, repr=False)

    # ---- running ------------------------------------------------------------------------------
    def _train(self) -> None:
        request = self.request
        # run mechanics only: the recipe (epochs, batch size, stride, schedule) is the preset's, with the
        # request's epochs as the one override, resolved by api.train exactly as for `vadlab train`
        config = TrainConfig(max_steps_per_epoch=request.max_steps_per_epoch)
        try:
            loaded, _ = api.train(request.family, request.data, request.out, preset=request.preset,
                                  epochs=request.epochs, device=request.device, train_config=config,
                                  on_event=self._events.put, should_stop=self._stop.is_set,
                                  evaluate_after=request.evaluate_after, init_from=request.init_from)
            self._events.put(("finished", dict(loaded.metadata.get("metrics") or {})))
        except TrainingCancelled as exc:
            self._events.put(("cancelled", str(exc)))
        except Exception as exc:  # noqa: BLE001 - reported on the page
            self._events.put(("failed", f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)))

    def start(self) -> "TrainingJob":
        """Train in a background (daemon) thread; call `poll()` to collect progress."""
        self.status, self.started = "running", time.time()
        self._thread = threading.Thread(target=self._train, name=f"vadlab-train-{self.request.out.name}", daemon=True)
        self._thread.start()
        return self

    def run(self, on_update: Optional[Callable[["TrainingJob"], None]] = None) -> "TrainingJob":
        """Train in this thread (blocking); `on_update(job)` is called after every event."""
        self.status, self.started = "running", time.time()
        worker = threading.Thread(target=self._train, daemon=True)
        worker.start()
        while worker.is_alive() or not self._events.empty():
            self.poll(timeout=0.2)
            if on_update is not None:
                on_update(self)
        self.poll()
        return self

    def cancel(self) -> None:
        """Ask the training loop to stop at the next step."""
        self._stop.set()

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def checkpoint(self) -> Path:
        return self.request.out

    # ---- collecting events -----------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> int:
        """Apply every queued event to the job's state; returns how many were applied."""
        applied = 0
        while True:
            try:
                item = self._events.get(timeout=timeout) if (timeout and applied == 0) else self._events.get_nowait()
            except queue.Empty:
                return applied
            applied += 1
            self._apply(item)

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
