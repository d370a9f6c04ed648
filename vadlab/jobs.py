"""A training in its own process, so that concurrent trainings never share process-global state.

Torch's global random generator, its thread count (`torch.set_num_threads`), NumPy's and Python's
generators are per process. Two trainings in threads of one server (two users of the app, or one user
with two tabs) seed and re-seed the same generators and set the same thread count, so each changes
the other's weights. A `TrainingProcess` runs `api.train` in a fresh interpreter ("spawn": nothing
inherited but the arguments), sends its `TrainEvent`s back over a queue, and is cancelled through an
event that `api.train` polls between steps, exactly as the in-process loop was.

The process ends with exactly one final event, ("finished", metrics), ("cancelled", why) or
("failed", why); a process that dies without one (killed, out of memory) is reported by
`TrainingProcess.lost()` with its exit code, so a job never stays "running" forever.

A spawned child re-runs the parent's main script unless told otherwise (multiprocessing reads
`sys.modules["__main__"].__file__`), and under Streamlit `__main__` is the page script that last ran:
the child would execute a page in bare mode (seen: the Live page's script crashed every training
started after it). `TrainingProcess.start` therefore hides the main module while it starts the child.
"""
from __future__ import annotations

import multiprocessing
import sys
import threading
import types
from typing import Any, Optional

_CONTEXT = multiprocessing.get_context("spawn")
_START_LOCK = threading.Lock()  # one start at a time swaps the main module
_NO_MAIN = types.ModuleType("__main__")  # no __file__, no __spec__: the child runs no script


def _train(kwargs: dict[str, Any], events, stop) -> None:
    """The child's body: one `api.train` call, its events and its outcome on `events`."""
    from vadlab import api
    from vadlab.train import TrainingCancelled

    try:
        loaded, _ = api.train(**kwargs, on_event=events.put, should_stop=stop.is_set)
        events.put(("finished", dict(loaded.metadata.get("metrics") or {})))
    except TrainingCancelled as exc:
        events.put(("cancelled", str(exc)))
    except Exception as exc:  # noqa: BLE001 - sent to the page as one line
        events.put(("failed", str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"))


class TrainingProcess:
    """`api.train(**kwargs)` in a separate process; events are read with `get`."""

    def __init__(self, kwargs: dict[str, Any], name: str = "vadlab-train"):
        self._events = _CONTEXT.Queue()
        self._stop = _CONTEXT.Event()
        self._process = _CONTEXT.Process(target=_train, args=(kwargs, self._events, self._stop), name=name, daemon=True)

    def start(self) -> "TrainingProcess":
        """Start the child with no main script to re-run (see the module's docstring)."""
        with _START_LOCK:
            main = sys.modules.get("__main__")
            sys.modules["__main__"] = _NO_MAIN
            try:
                self._process.start()
            finally:
                if main is not None:
                    sys.modules["__main__"] = main
        return self

    def cancel(self) -> None:
        """Ask the training loop to stop at its next step (it then saves nothing and reports "cancelled")."""
        self._stop.set()

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def get(self, timeout: Optional[float] = None) -> object:
        """The next event (a `TrainEvent` or a final (kind, payload) pair); raises `queue.Empty`.

        Once `alive` is False every event the process sent is readable: a multiprocessing queue
        flushes its buffer before its process exits."""
        return self._events.get(timeout=timeout) if timeout else self._events.get_nowait()

    def lost(self) -> tuple[str, str]:
        """The outcome of a process that exited without sending one (killed, out of memory)."""
        return ("failed", f"the training process ended without a result (exit code {self._process.exitcode}); "
                          "it may have run out of memory or been killed")

    def join(self, timeout: Optional[float] = None) -> None:
        self._process.join(timeout)
