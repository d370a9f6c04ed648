"""Scoring is a stream: frames from a camera, a URL, a recording still being written or a file are
scored as they arrive, with calibrated verdicts and alert events as they happen, in bounded memory.

    source --(reader thread)--> FrameQueue --> WindowScorer --> smoothing --> verdict scale --> EventTracker
                                bounded;       a window is      causal, or    calibrated z, or   "opened" /
                                drops the      scored when      the offline   per-stream         "closed" with
                                oldest frame   full; batched    Gaussian with running            min length and
                                when behind    when queued      a fixed delay statistics         merge gap

`StreamJudge` is the synchronous part (frames in; `FrameVerdict`s and `EventUpdate`s out): a webcam
callback or a test drives it directly. `LiveStream` adds the reader thread, the bounded queue and
its drop policy, and yields `StreamUpdate`s with running statistics (`StreamStats`). `score_file`
runs a finished file of any length through the same `WindowScorer` (what `vadlab score` uses).

Verdicts, as `vadlab score` makes them (`vadlab.calibration.assess`):
  * with the checkpoint's calibration: z = (f(score) - mean) / std over its held-out normal frames
    (f = log for MSE scores), alert threshold for a target false-alarm rate `far` (or a given one);
  * without one: per-stream running statistics, and every output says so: z against the mean and
    std of f(score) over this stream's frames so far (Welford, O(1) memory; frames flagged anomalous
    are not added, so an alert does not raise its own baseline); no verdict for the first `warmup`
    frames; threshold the Gaussian quantile for `far`. Offline `vadlab score` falls back to per-video
    min-max instead, which needs the whole clip; the two fallbacks differ.

Smoothing over time (sigma in frames, as `vadlab score --smooth`), before the scale:
  * "causal" (live): exponential smoothing y_t = a x_t + (1 - a) y_(t-1), a = 1 - exp(-1 / sigma). It
    uses no future frame, so it adds no delay. The offline Gaussian (`metrics.smooth_scores`) also
    looks sigma frames ahead: the causal curve lags a rising score by about sigma frames, peaks lower
    on a short spike and decays after it, so an event may open a frame or two later (and close later)
    than `vadlab score` says.
  * "centered": the offline Gaussian itself (truncated at 4 sigma, edge frames repeated), so verdicts
    and events equal `vadlab score`'s; each verdict waits for the round(4 sigma) frames after it (4
    frames at sigma 1: 160 ms at 25 fps). For files and replays, where that delay costs nothing.

Events follow `metrics.find_events`: runs of frames at or above the threshold, merged across gaps of
at most `merge_gap` frames, at least `min_length` frames long. "opened" is emitted when a run reaches
`min_length` frames (the alert: min_length - 1 frames after its first frame), "closed" once
merge_gap + 1 frames below the threshold follow it, or when the stream ends.

Drop policy: a live source does not wait for the scorer. At most `queue_frames` frames wait; when
another arrives, the OLDEST waiting frame is dropped (counted in `dropped`, never scored, its number
skipped), so verdicts stay current instead of falling further behind. A window then spans the gap
(it holds the last frames kept). A finished file read as fast as it decodes never drops: its reader
waits for the scorer ("block").

Latency is measured per frame from its arrival (decoded and handed over by the reader) to its
verdict; network and decoder delays before arrival are not included.
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
from scipy import stats

from vadlab.calibration import (DEFAULT_FAR, DEFAULT_MIN_LENGTH, DEFAULT_SMOOTH, SCALE_CALIBRATED, Calibration,
                                ScoreCalibration, format_far)
from vadlab.data.clips import to_model_frames
from vadlab.data.video import FrameSource, SourceFrame, StreamError, VideoDecodeError, iter_video
from vadlab.outputs import Event, FrameScores
from vadlab.protocol import POOLED_KINDS
from vadlab.scoring import WindowScorer, WindowScores, score_frame_iter

SMOOTHINGS = ("causal", "centered")
DROP_POLICIES = ("auto", "oldest", "block")
SCALE_RUNNING = ("per-stream running statistics: standard deviations above this stream's own frames so far "
                 "(the checkpoint has no calibration; no verdict for the first {warmup} frames; a long anomaly "
                 "early in the stream weakens later alerts)")
NO_CALIBRATION_LIVE = ("this checkpoint has no calibration: verdicts use this stream's running statistics (no verdict "
                       "for the first {warmup} frames); run `vadlab calibrate --checkpoint CK --data SPEC` for "
                       "calibrated ones")


class StreamSettingsError(ValueError):
    """Stream settings that cannot work (an unknown smoothing, a batch of 0 frames, ...)."""


@dataclass(frozen=True)
class StreamSettings:
    """How a stream is judged and how the scorer keeps up.

    key: the pooled score the verdict reads ("mean", "patch16", "topk0.01"; `vadlab.protocol`).
    far / threshold: target false-alarm rate per normal frame, or an explicit threshold on the
    verdict scale. smooth_sigma (frames) and smoothing ("causal" | "centered"): see the module
    docstring. min_length / merge_gap (frames): event rules, as `vadlab score`.
    batch_size: most windows scored at once (when frames have queued). queue_frames: most frames
    waiting for the scorer; drop: "oldest" (drop the oldest waiting frame when full), "block" (the
    reader waits) or "auto" (oldest for live sources, block for files read as fast as they decode).
    warmup: frames before the first verdict without a calibration. keep_frames: attach each frame's
    image and error map to its FrameVerdict (for displays and event clips; the consumer decides
    what to keep). use_calibration: False to use running statistics even when calibrated.
    """

    key: str = "mean"
    far: float = DEFAULT_FAR
    threshold: Optional[float] = None
    smooth_sigma: float = DEFAULT_SMOOTH
    smoothing: str = "causal"
    min_length: int = DEFAULT_MIN_LENGTH
    merge_gap: int = 0
    batch_size: int = 8
    queue_frames: int = 16
    drop: str = "auto"
    warmup: int = 50
    keep_frames: bool = False
    use_calibration: bool = True

    def __post_init__(self) -> None:
        if self.smoothing not in SMOOTHINGS:
            raise StreamSettingsError(f"unknown smoothing '{self.smoothing}'; choose {' or '.join(SMOOTHINGS)}")
        if self.drop not in DROP_POLICIES:
            raise StreamSettingsError(f"unknown drop policy '{self.drop}'; choose one of {', '.join(DROP_POLICIES)}")
        if not (math.isfinite(self.smooth_sigma) and self.smooth_sigma >= 0):
            raise StreamSettingsError(f"smoothing sigma must be >= 0 frames, got {self.smooth_sigma}")
        if not 0 < self.far < 1:
            raise StreamSettingsError(f"false-alarm rate must be in (0, 1), got {self.far}")
        if self.min_length < 1 or self.merge_gap < 0:
            raise StreamSettingsError(f"min_length must be >= 1 and merge_gap >= 0 frames, got {self.min_length}, "
                                      f"{self.merge_gap}")
        if self.batch_size < 1 or self.queue_frames < 1:
            raise StreamSettingsError(f"batch_size and queue_frames must be >= 1, got {self.batch_size}, "
                                      f"{self.queue_frames}")
        if self.warmup < 2:
            raise StreamSettingsError(f"warmup must be >= 2 frames, got {self.warmup}")


# ------------------------------------------------------------------------------------- smoothing
class CausalSmoother:
    """Exponential smoothing with time constant sigma frames (no delay); sigma 0 = none."""

    delay = 0

    def __init__(self, sigma: float):
        self.alpha = 1.0 if sigma <= 0 else 1.0 - math.exp(-1.0 / sigma)
        self.state: Optional[float] = None

    def push(self, item: Any, value: float) -> list[tuple[Any, float]]:
        self.state = value if self.state is None else self.alpha * value + (1.0 - self.alpha) * self.state
        return [(item, self.state)]

    def flush(self) -> list[tuple[Any, float]]:
        return []


class CenteredSmoother:
    """The offline Gaussian (`scipy.ndimage.gaussian_filter1d`, mode "nearest", truncate 4) computed
    with a delay of `delay` = int(4 sigma + 0.5) values: a value comes out once the `delay` values
    after it are in (or the stream ends, when the last value is repeated)."""

    def __init__(self, sigma: float):
        self.delay = int(4.0 * sigma + 0.5) if sigma > 0 else 0
        x = np.arange(-self.delay, self.delay + 1, dtype=np.float64)
        kernel = np.exp(-0.5 / sigma**2 * x**2) if sigma > 0 else np.ones(1)
        self.kernel = kernel / kernel.sum()
        self.values: deque[float] = deque(maxlen=2 * self.delay + 1)  # the newest values
        self.items: deque[Any] = deque()  # items whose value is not out yet
        self.count = 0  # values pushed

    def _value(self, position: int, last: int) -> float:
        """The smoothed value at `position` (0-based) when values up to `last` are known."""
        first_kept = self.count - len(self.values)
        idx = np.clip(np.arange(position - self.delay, position + self.delay + 1), 0, last) - first_kept
        window = np.asarray(self.values, dtype=np.float64)[idx]
        return float(np.dot(self.kernel, window))

    def push(self, item: Any, value: float) -> list[tuple[Any, float]]:
        self.values.append(float(value))
        self.items.append(item)
        self.count += 1
        position = self.count - 1 - self.delay
        if position < 0:
            return []
        return [(self.items.popleft(), self._value(position, self.count - 1))]

    def flush(self) -> list[tuple[Any, float]]:
        out = []
        position = self.count - len(self.items)
        while self.items:
            out.append((self.items.popleft(), self._value(position, self.count - 1)))
            position += 1
        return out


# ---------------------------------------------------------------------------------- verdict scale
class CalibratedScale:
    """The checkpoint's calibration: z against its normal frames, threshold for `far`."""

    calibrated = True

    def __init__(self, calibration: ScoreCalibration, far: float, threshold: Optional[float] = None):
        self.calibration = calibration
        self.threshold = float(threshold) if threshold is not None else calibration.threshold(far)
        self.description = SCALE_CALIBRATED.format(far=format_far(far))

    def judge(self, value: float) -> tuple[float, bool]:
        return float(self.calibration.z(np.asarray([value]))[0]), True

    def learn(self, value: float, flagged: bool) -> None:
        pass


class RunningScale:
    """Per-stream running statistics (no calibration): z of f(score) against the mean and std of
    this stream's unflagged frames so far (Welford), after `warmup` frames."""

    calibrated = False

    def __init__(self, score_kind: str, far: float, threshold: Optional[float] = None, warmup: int = 50):
        self.log = score_kind == "mse"
        self.threshold = float(threshold) if threshold is not None else float(stats.norm.isf(far))
        self.warmup = int(warmup)
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.description = SCALE_RUNNING.format(warmup=warmup)

    def _f(self, value: float) -> float:
        return math.log(max(value, 1e-12)) if self.log else float(value)

    def judge(self, value: float) -> tuple[float, bool]:
        if self.count < 2:
            return float("nan"), False
        std = max(math.sqrt(self.m2 / self.count), 1e-6)
        return (self._f(value) - self.mean) / std, self.count >= self.warmup

    def learn(self, value: float, flagged: bool) -> None:
        if flagged:
            return
        x = self._f(value)
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)


# ----------------------------------------------------------------------------------------- events
@dataclass
class EventUpdate:
    """An alert event opened or closed. `event` frames are the source's frame numbers (inclusive);
    an opened event's `end` and peak are those so far. `at`: time.monotonic() of the verdict that
    opened or closed it."""

    kind: str  # "opened" | "closed"
    event: Event
    fps: float
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        out = {"event": self.kind, "start": e.start, "start_s": round(e.start / self.fps, 3),
               "peak_frame": e.peak_frame, "peak": round(float(e.peak_score), 4)}
        if self.kind == "closed":
            out.update(end=e.end, end_s=round(e.end / self.fps, 3), frames=e.length)
        return out


class EventTracker:
    """Online `metrics.find_events`: feed (frame, value, flagged) in frame order; get "opened" when a
    run reaches min_length frames and "closed" when it can no longer grow. Fed the same values,
    the closed events equal find_events' events."""

    def __init__(self, min_length: int = DEFAULT_MIN_LENGTH, merge_gap: int = 0, fps: float = 25.0):
        self.min_length, self.merge_gap, self.fps = int(min_length), int(merge_gap), fps
        self.current: Optional[Event] = None
        self.opened = False
        self.closed: list[Event] = []

    def push(self, index: int, value: float, flagged: bool, at: float = 0.0) -> list[EventUpdate]:
        out = []
        cur = self.current
        if flagged:
            if cur is not None and index - cur.end - 1 <= self.merge_gap:
                cur.end = index
                if value > cur.peak_score:
                    cur.peak_frame, cur.peak_score = index, float(value)
            else:
                out += self._finalise(at)
                cur = self.current = Event(start=index, end=index, peak_frame=index, peak_score=float(value))
                self.opened = False
            if not self.opened and cur.length >= self.min_length:
                self.opened = True
                out.append(EventUpdate("opened", Event(cur.start, cur.end, cur.peak_frame, cur.peak_score), self.fps, at))
        elif cur is not None and index - cur.end > self.merge_gap:
            out += self._finalise(at)
        return out

    def _finalise(self, at: float) -> list[EventUpdate]:
        cur, self.current = self.current, None
        if cur is None or not self.opened:
            return []
        self.opened = False
        self.closed.append(cur)
        return [EventUpdate("closed", cur, self.fps, at)]

    def finish(self, at: float = 0.0) -> list[EventUpdate]:
        """Close the open event (the stream ended)."""
        return self._finalise(at)


# ------------------------------------------------------------------------------------------ judge
@dataclass
class FrameVerdict:
    """One frame's verdict.

    index: the source's frame number; time_s: index / fps (the source's clock, s).
    arrival / decided_at: time.monotonic() when the frame arrived and when its verdict was made.
    score: the family's own score (unsmoothed); pooled: the verdict key's score (unsmoothed).
    value: on the verdict scale, after smoothing (nan before a verdict is possible); flagged:
    value >= threshold; decided: False during the running-statistics warm-up; scored: False for
    the first frames of a stream, which copy the first window's score (as in `FrameScores`).
    image: uint8 (H, W, 3) and error_map: float16 (h, w) at model resolution, when keep_frames.
    """

    index: int
    time_s: float
    arrival: float
    decided_at: float
    score: float
    pooled: float
    value: float
    threshold: float
    flagged: bool
    decided: bool
    scored: bool
    image: Optional[np.ndarray] = field(default=None, repr=False)
    error_map: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def latency_s(self) -> float:
        return self.decided_at - self.arrival

    def row(self) -> dict[str, Any]:
        """The per-frame record of `vadlab watch --scores` (CSV columns / JSONL keys)."""
        value = None if not math.isfinite(self.value) else round(self.value, 6)
        return {"frame": self.index, "time_s": round(self.time_s, 4), "score": self.score, "value": value,
                "threshold": round(self.threshold, 6), "anomalous": int(self.flagged), "decided": int(self.decided),
                "scored": int(self.scored), "latency_ms": round(1000 * self.latency_s, 2)}


class StreamJudge:
    """Frames in, verdicts and events out, synchronously, with bounded memory.

    loaded: a `vadlab.api.LoadedModel`. calibration: default the checkpoint's own (None, or
    settings.use_calibration False: running statistics). fps: the source's frame rate (frame
    times and event times; may be set later, before the first frame). `push` takes frames in
    arrival order and returns what became decided; `finish` flushes at the end of the stream.
    """

    def __init__(self, loaded: Any, settings: StreamSettings = StreamSettings(), fps: float = 25.0,
                 calibration: Calibration | None | str = "checkpoint"):
        self.settings = settings
        self.model = loaded.model
        self.spec = loaded.spec
        self.fps = float(fps or 25.0)
        if calibration == "checkpoint":
            calibration = loaded.calibration
        if settings.key != "mean" and self.spec.score_kind not in POOLED_KINDS:
            raise StreamSettingsError(f"pooling '{settings.key}' needs error maps; {self.spec.name} scores "
                                      f"{self.spec.score_kind}: use the frame mean")
        self.notes: list[str] = []
        if calibration is not None and settings.use_calibration:
            self.scale: CalibratedScale | RunningScale = CalibratedScale(calibration.for_key(settings.key), settings.far,
                                                                         settings.threshold)
            if calibration.in_sample:
                self.notes.append("calibrated on frames the model also trained on: expect more alarms than the "
                                  "target rate")
        else:
            self.scale = RunningScale(self.spec.score_kind, settings.far, settings.threshold, settings.warmup)
            self.notes.append(NO_CALIBRATION_LIVE.format(warmup=settings.warmup))
        self.smoother = (CausalSmoother(settings.smooth_sigma) if settings.smoothing == "causal"
                         else CenteredSmoother(settings.smooth_sigma))
        self.tracker = EventTracker(settings.min_length, settings.merge_gap, self.fps)
        self.scorer = WindowScorer(self.model, self.spec.target, self.spec.score_kind, batch_size=settings.batch_size,
                                   keep_maps=settings.keep_frames)
        c = self.model.config
        self._size = (c.channels, c.height, c.width)
        self._arrived: dict[int, tuple[float, Optional[np.ndarray]]] = {}  # frame -> (arrival, image) until judged
        self._scored: dict[int, tuple[float, float, bool, Optional[np.ndarray]]] = {}  # frame -> scores until smoothed
        self._first_scored = False
        self._finished = False
        self.frames_in = 0
        self.judged = 0
        self.flagged = 0

    @property
    def calibrated(self) -> bool:
        return self.scale.calibrated

    @property
    def threshold(self) -> float:
        return self.scale.threshold

    @property
    def span(self) -> int:
        return self.scorer.span

    def set_fps(self, fps: Optional[float]) -> None:
        if fps:
            self.fps = self.tracker.fps = float(fps)

    def push(self, frames: Sequence[SourceFrame]) -> tuple[list[FrameVerdict], list[EventUpdate]]:
        """Add frames (in arrival order); score every full window (batched); return the verdicts and
        events that became decided."""
        verdicts: list[FrameVerdict] = []
        events: list[EventUpdate] = []
        if not frames:
            return verdicts, events
        model_frames = self._model_frames(frames)  # (n, C, H, W) uint8
        for frame, model_frame in zip(frames, model_frames):
            self._arrived[frame.index] = (frame.arrival, frame.image if self.settings.keep_frames else None)
            self.scorer.push(model_frame, frame.index)
            self.frames_in += 1
            if self.scorer.pending == self.scorer.batch_size:
                self._windows(self.scorer.score_pending(), verdicts, events)
        if self.scorer.pending:
            self._windows(self.scorer.score_pending(), verdicts, events)
        return verdicts, events

    def _model_frames(self, frames: Sequence[SourceFrame]):
        c, h, w = self._size
        shapes = {f.image.shape for f in frames}
        if len(shapes) == 1:
            return to_model_frames(np.stack([f.image for f in frames]), c, h, w)
        return [to_model_frames(f.image[None], c, h, w)[0] for f in frames]  # a reconnect changed the size

    def _windows(self, ws: WindowScores, verdicts: list, events: list) -> None:
        pooled = ws.score_for(self.settings.key)
        for j, index in enumerate(ws.frame_index.tolist()):
            error_map = None if ws.error_maps is None else ws.error_maps[j]
            if not self._first_scored:  # frames before the first full window copy its score
                self._first_scored = True
                for early in sorted(i for i in self._arrived if i < index):
                    self._smooth(early, float(ws.score[j]), float(pooled[j]), False, error_map, verdicts, events)
            self._smooth(index, float(ws.score[j]), float(pooled[j]), True, error_map, verdicts, events)

    def _smooth(self, index: int, score: float, pooled: float, scored: bool, error_map, verdicts, events) -> None:
        self._scored[index] = (score, pooled, scored, error_map)
        for i, smoothed in self.smoother.push(index, pooled):
            self._decide(i, smoothed, verdicts, events)

    def _decide(self, index: int, smoothed: float, verdicts: list, events: list) -> None:
        arrival, image = self._arrived.pop(index)
        score, pooled, scored, error_map = self._scored.pop(index)
        value, decided = self.scale.judge(smoothed)
        flagged = bool(decided and value >= self.scale.threshold)
        self.scale.learn(smoothed, flagged)
        now = time.monotonic()
        events += self.tracker.push(index, value, flagged, now)
        self.judged += 1
        self.flagged += int(flagged)
        verdicts.append(FrameVerdict(index=index, time_s=index / self.fps, arrival=arrival, decided_at=now, score=score,
                                     pooled=pooled, value=value, threshold=self.scale.threshold, flagged=flagged,
                                     decided=decided, scored=scored, image=image, error_map=error_map))

    def finish(self) -> tuple[list[FrameVerdict], list[EventUpdate]]:
        """The stream ended: decide the frames the smoothing still holds, close the open event.
        Frames that never filled a window (a stream shorter than the model's span) get no verdict."""
        verdicts: list[FrameVerdict] = []
        events: list[EventUpdate] = []
        if self._finished:
            return verdicts, events
        self._finished = True
        if self.scorer.pending:
            self._windows(self.scorer.score_pending(), verdicts, events)
        for i, smoothed in self.smoother.flush():
            self._decide(i, smoothed, verdicts, events)
        events += self.tracker.finish(time.monotonic())
        if not self._first_scored and self.frames_in:
            self.notes.append(f"the stream ended after {self.frames_in} frame(s), before the model's first full "
                              f"window ({self.span} frames): no verdict")
        self._arrived.clear()
        return verdicts, events

    @property
    def scale_description(self) -> str:
        return self.scale.description


# -------------------------------------------------------------------------------- queue + threads
class FrameQueue:
    """A bounded queue of frames between the reader and the scorer.

    drop_oldest: when `capacity` frames wait and another arrives, the oldest waiting one is dropped
    (counted in `dropped`); otherwise the reader waits (`put` blocks) until there is room."""

    def __init__(self, capacity: int, drop_oldest: bool):
        self.capacity = int(capacity)
        self.drop_oldest = drop_oldest
        self._items: deque = deque()
        self._cond = threading.Condition()
        self.closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            while not self.drop_oldest and len(self._items) >= self.capacity and not self.closed:
                self._cond.wait(0.1)
            if self.closed:
                return
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.received += 1
            self._cond.notify_all()

    def take(self, max_items: int, timeout: float) -> list:
        """Up to max_items waiting frames, oldest first; waits up to `timeout` s for the first."""
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            out = [self._items.popleft() for _ in range(min(max_items, len(self._items)))]
            self._cond.notify_all()
            return out

    def close(self) -> None:
        """No more frames will be put (waiting ones can still be taken)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        return len(self._items)

    @property
    def finished(self) -> bool:
        return self.closed and not self._items


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


@dataclass
class StreamStats:
    """Where a stream stands. Rates are over the last ~64 frames (frames/s); latencies (arrival to
    verdict) in ms over the last 4096 window-scored frames (max: over all of them; the first
    span - 1 frames of a stream, which wait once for the first full window, are left out)."""

    received: int = 0
    dropped: int = 0
    judged: int = 0
    flagged: int = 0
    events: int = 0
    waiting: int = 0
    reconnects: int = 0
    elapsed_s: float = 0.0
    fps_in: float = float("nan")
    fps_scored: float = float("nan")
    latency_p50_ms: float = float("nan")
    latency_p99_ms: float = float("nan")
    latency_max_ms: float = float("nan")

    def line(self) -> str:
        """The live status line."""
        def rate(x: float) -> str:
            return f"{x:.1f}/s" if math.isfinite(x) else "-"

        def ms(x: float) -> str:
            return f"{x:.0f}" if math.isfinite(x) else "-"

        return (f"in {self.received} ({rate(self.fps_in)}) | scored {self.judged} ({rate(self.fps_scored)}) | "
                f"dropped {self.dropped} | latency p50 {ms(self.latency_p50_ms)} p99 {ms(self.latency_p99_ms)} "
                f"max {ms(self.latency_max_ms)} ms | flagged {self.flagged} | events {self.events}")

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            return round(x, 2) if isinstance(x, float) and math.isfinite(x) else (None if isinstance(x, float) else x)

        return {k: clean(v) for k, v in self.__dict__.items()}


@dataclass
class StreamUpdate:
    """What one pass of the scoring loop produced: verdicts and events (possibly none) and stats."""

    verdicts: list[FrameVerdict]
    events: list[EventUpdate]
    stats: StreamStats


class LiveStream:
    """A source scored live: a reader thread, a bounded queue with its drop policy, and the scoring
    loop (`run`, in the caller's thread, so Ctrl-C reaches it).

        stream = LiveStream(loaded, open_source("udp://127.0.0.1:5000"), StreamSettings())
        for update in stream.run():
            for ev in update.events: print(ev.to_dict())
        if stream.error: raise stream.error

    `run` ends when the source ends, fails (`error` holds the StreamError; the frames judged until
    then and the open event's close come first) or `stop()` is called (from any thread).
    """

    def __init__(self, loaded: Any, source: FrameSource, settings: StreamSettings = StreamSettings(),
                 calibration: Calibration | None | str = "checkpoint"):
        self.source = source
        self.settings = settings
        self.judge = StreamJudge(loaded, settings, fps=source.fps or 25.0, calibration=calibration)
        drop = settings.drop if settings.drop != "auto" else ("oldest" if source.live else "block")
        self.drop_policy = drop
        self.queue = FrameQueue(settings.queue_frames, drop_oldest=drop == "oldest")
        self.judge.scorer.warm_up()
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._reader: Optional[threading.Thread] = None
        self._arrivals: deque[float] = deque(maxlen=64)
        self._decisions: deque[float] = deque(maxlen=64)
        self._latencies: deque[float] = deque(maxlen=4096)
        self._latency_max = float("nan")
        self._events = 0
        self._started = 0.0

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                if self._stop.is_set():
                    break
                self.queue.put(frame)
        except (StreamError, VideoDecodeError, FileNotFoundError) as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - a source bug still ends in one line, not a dead thread
            self.error = StreamError(f"{self.source.name}: {type(exc).__name__}: {exc}")
        finally:
            self.queue.close()

    def stop(self) -> None:
        """End the stream from any thread: the reader stops, `run` finishes what was taken."""
        self._stop.set()
        self.source.close()
        self.queue.close()

    def stats(self) -> StreamStats:
        def rate(times: deque) -> float:
            return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")

        lat = list(self._latencies)
        return StreamStats(
            received=self.queue.received, dropped=self.queue.dropped, judged=self.judge.judged,
            flagged=self.judge.flagged, events=self._events, waiting=self.queue.waiting,
            reconnects=int(getattr(self.source, "reconnects", 0)),
            elapsed_s=time.monotonic() - self._started if self._started else 0.0,
            fps_in=rate(self._arrivals), fps_scored=rate(self._decisions),
            latency_p50_ms=1000 * _percentile(lat, 50), latency_p99_ms=1000 * _percentile(lat, 99),
            latency_max_ms=1000 * self._latency_max,
        )

    def _account(self, frames: Sequence[SourceFrame], verdicts: Sequence[FrameVerdict],
                 events: Sequence[EventUpdate]) -> None:
        self._arrivals.extend(f.arrival for f in frames)
        for v in verdicts:
            self._decisions.append(v.decided_at)
            if not v.scored:  # the first frames wait for the first full window: once, not a rate
                continue
            self._latencies.append(v.latency_s)
            if not self._latency_max >= v.latency_s:  # nan-safe max
                self._latency_max = v.latency_s
        self._events += sum(e.kind == "opened" for e in events)

    def run(self, tick: float = 0.5) -> Iterator[StreamUpdate]:
        """Score until the source ends; yields after every scored batch and at least every `tick` s
        (so a status line stays live while nothing arrives)."""
        self._started = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="vadlab-reader", daemon=True)
        self._reader.start()
        try:
            while not self._stop.is_set():
                frames = self.queue.take(self.settings.batch_size, timeout=tick)
                if frames:
                    self.judge.set_fps(self.source.fps)
                    verdicts, events = self.judge.push(frames)
                    self._account(frames, verdicts, events)
                    yield StreamUpdate(verdicts, events, self.stats())
                elif self.queue.finished:
                    break
                else:
                    yield StreamUpdate([], [], self.stats())
            yield self.finish()
        finally:
            self.stop()
            if self._reader is not None:
                self._reader.join(timeout=1.0)

    def finish(self) -> StreamUpdate:
        """Decide what the smoothing holds and close the open event (idempotent; after Ctrl-C too)."""
        verdicts, events = self.judge.finish()
        self._account([], verdicts, events)
        return StreamUpdate(verdicts, events, self.stats())

    @property
    def notes(self) -> list[str]:
        return self.judge.notes


# ------------------------------------------------------------------------------------- event clips
class EventClips:
    """Writes one annotated mp4 per alert event: from `before_s` seconds before its first frame to
    `after_s` seconds after its last, with the heatmap and the verdict drawn on every frame
    (`vadlab.export.annotate_frames`). An event that opens while the previous clip is still
    recording its tail joins that clip.

    Feed it every update's verdicts (made with StreamSettings.keep_frames, so they carry images)
    and events. Memory: a ring of the last before_s x fps frames, plus the clip being recorded (at
    most before + `max_s` seconds + after; a longer event's clip keeps its first max_s seconds)."""

    def __init__(self, folder: str | Path, fps: float, before_s: float = 2.0, after_s: float = 2.0,
                 max_s: float = 60.0, prefix: str = "event"):
        self.folder = Path(folder)
        self.fps = float(fps or 25.0)
        self.before = max(0, round(before_s * self.fps))
        self.after = max(0, round(after_s * self.fps))
        self.max_frames = max(1, round(max_s * self.fps))
        self.prefix = prefix
        self.ring: deque[FrameVerdict] = deque(maxlen=self.before + 64)  # event frames before its alert too
        self.recording: list[FrameVerdict] = []
        self.first: Optional[int] = None  # first frame of the clip's first event
        self.closing: Optional[Event] = None  # the last event, once closed: the clip ends `after` frames later
        self.written: list[Path] = []
        self._workers: list[threading.Thread] = []

    def add(self, verdicts: Sequence[FrameVerdict], events: Sequence[EventUpdate]) -> list[Path]:
        """Returns the clips this call wrote."""
        written: list[Path] = []
        opened = {e.event.end: e.event.start for e in events if e.kind == "opened"}  # alert frame -> first frame
        for v in verdicts:
            if self.first is None:
                self.ring.append(v)
            elif len(self.recording) < self.before + self.max_frames + self.after:
                self.recording.append(v)
            if v.index in opened:
                if self.first is None:
                    self.first = opened[v.index]
                    self.recording = [r for r in self.ring if r.index >= self.first - self.before]
                    self.ring.clear()
                self.closing = None  # a new event while recording a tail: the clip goes on
            if self.closing is not None and v.index >= self.closing.end + self.after:
                written.append(self._write())
        for e in events:
            if e.kind == "closed" and self.first is not None:
                self.closing = e.event
                if self.recording and self.recording[-1].index >= e.event.end + self.after:
                    written.append(self._write())
        return written

    def flush(self) -> list[Path]:
        """The stream ended: write the clip being recorded, and wait for every clip to be written."""
        out = [self._write()] if self.first is not None and self.recording else []
        for worker in self._workers:
            worker.join()
        self._workers = []
        return out

    def _write(self) -> Path:
        """Hand the clip to a writer thread (annotating and encoding take longer than a frame's
        budget, and the scoring loop must not wait); returns the path it will have."""
        end = self.closing.end if self.closing is not None else self.recording[-1].index
        frames = [v for v in self.recording if v.image is not None
                  and self.first - self.before <= v.index <= end + self.after]
        path = self.folder / f"{self.prefix}_{self.first:06d}-{end:06d}.mp4"
        worker = threading.Thread(target=self._encode, args=(frames, path), name="vadlab-event-clip", daemon=True)
        worker.start()
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        self.written.append(path)
        self.recording, self.first, self.closing = [], None, None
        return path

    def _encode(self, frames: list[FrameVerdict], path: Path) -> None:
        from vadlab import export
        from vadlab.data.video import write_video

        images = np.stack([v.image for v in frames])  # (T, H, W, 3)
        threshold = frames[-1].threshold
        values = np.nan_to_num(np.asarray([v.value for v in frames], dtype=np.float64), nan=threshold - 1.0)
        low, high = min(float(values.min()), threshold), max(float(values.max()), threshold)
        span = max(high - low, 1e-9)  # the score bar is drawn on [0, 1]: one affine map, same verdicts
        maps = None
        if all(v.error_map is not None for v in frames):
            maps = np.stack([v.error_map.astype(np.float32) for v in frames])  # (T, h, w)
        annotated = export.annotate_frames(images, (values - low) / span, (threshold - low) / span, maps)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_video(path, annotated, fps=self.fps)


# ---------------------------------------------------------------------------------------- files
def score_file(loaded: Any, path: str | Path, batch_size: int = 32, keep_maps: bool = False,
               name: Optional[str] = None, max_side: Optional[int] = 640,
               progress: Optional[Callable[[float], None]] = None) -> FrameScores:
    """Score every frame of a video file or frame folder of any length, decoding it chunk by chunk
    (`vadlab.data.video.iter_video`) through the streaming scorer: the frames are never all in
    memory (the scores are: 8 bytes per frame and pooling). The same scores as
    `api.score_video(loaded, path, keep_maps=keep_maps)` on a clip that fits its frame cap; with
    keep_maps the maps grow with the clip (for clips that are displayed anyway).
    name: the video's name in the result (default: the file's stem)."""
    info, chunks = iter_video(path, max_side)
    c = loaded.model.config
    frames = (to_model_frames(chunk, c.channels, c.height, c.width) for chunk in chunks)  # (n, C, H, W) chunks
    return score_frame_iter(loaded.model, frames, loaded.spec.target, loaded.spec.score_kind,
                            name=name or Path(str(path)).stem, fps=info.fps or 25.0, batch_size=batch_size,
                            keep_maps=keep_maps, progress=progress, n_frames=info.n_frames)


def event_json(update: EventUpdate, source: str, judge: StreamJudge) -> str:
    """One JSON line for an event (what `vadlab watch` prints)."""
    return json.dumps({**update.to_dict(), "source": source, "threshold": round(judge.threshold, 4),
                       "scale": "calibrated" if judge.calibrated else "running"})
