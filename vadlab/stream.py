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
merge_gap + 1 frames below the threshold follow it, or when the stream ends. Only judged frames
count: frames that never arrived or were never judged (dropped, lost in a reconnect) neither end
an event nor lengthen it, so a drop inside an event does not split it.

Drop policy: a live source does not wait for the scorer. At most `queue_frames` frames wait; when
another arrives, the OLDEST waiting frame is dropped (counted in `dropped`, never scored, its number
skipped), so verdicts stay current instead of falling further behind. A finished file read as fast
as it decodes never drops: its reader waits for the scorer ("block").

Gaps: a window is only ever made of consecutive frames. When frame numbers jump (frames dropped
here, or lost by the source in a reconnect), the scorer restarts its window from the frames after
the gap, as at the start of a stream: the first window - 1 frames after a gap copy the score of
the first full window after it (`FrameVerdict.scored` False, `gap` the frames missing before it),
and frames between two gaps too few to fill a window get no verdict (counted in `skipped`). So a
gap never shows up as a burst of motion (a window that spans it would see objects jump), and
every frame is accounted for: received = judged + dropped + skipped (+ those still waiting).

Latency is measured per frame from its arrival (decoded and handed over by the reader) to its
verdict; network and decoder delays before arrival are not included.
"""
from __future__ import annotations

import json
import math
import os
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
from vadlab.data.sources import FrameSource, SourceFrame, StreamError
from vadlab.data.video import VideoDecodeError, iter_video
from vadlab.files import commit
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


DROPPED_KEPT = 256  # dropped frames kept (with keep_frames) until the next update hands them on: for event clips


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
    """Online `metrics.find_events`: feed (frame, value, flagged) of the judged frames in frame
    order; get "opened" when a run reaches min_length judged frames and "closed" when it can no
    longer grow. Fed the same values, the closed events equal find_events' events.

    Frame numbers that are skipped (frames dropped or lost: never judged) count for nothing: they
    neither end an event (merge_gap counts judged frames below the threshold) nor make it long
    enough to open; the event's start and end are still the source's frame numbers."""

    def __init__(self, min_length: int = DEFAULT_MIN_LENGTH, merge_gap: int = 0, fps: float = 25.0):
        self.min_length, self.merge_gap, self.fps = int(min_length), int(merge_gap), fps
        self.current: Optional[Event] = None
        self.opened = False
        self.quiet = 0  # judged frames below the threshold since the current event's last flagged frame
        self.judged_in_event = 0  # judged frames from the current event's first to its last flagged frame
        self.closed: list[Event] = []

    def push(self, index: int, value: float, flagged: bool, at: float = 0.0) -> list[EventUpdate]:
        out = []
        cur = self.current
        if flagged:
            if cur is not None and self.quiet <= self.merge_gap:
                cur.end = index
                self.judged_in_event += self.quiet + 1
                if value > cur.peak_score:
                    cur.peak_frame, cur.peak_score = index, float(value)
            else:
                out += self._finalise(at)
                cur = self.current = Event(start=index, end=index, peak_frame=index, peak_score=float(value))
                self.opened = False
                self.judged_in_event = 1
            self.quiet = 0
            if not self.opened and self.judged_in_event >= self.min_length:
                self.opened = True
                out.append(EventUpdate("opened", Event(cur.start, cur.end, cur.peak_frame, cur.peak_score), self.fps, at))
        elif cur is not None:
            self.quiet += 1
            if self.quiet > self.merge_gap:
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
    the first frames of a stream or after a gap, which copy the score of the first full window
    after it (as in `FrameScores`). gap: frames missing right before this one (dropped, or lost by
    the source; 0 almost always). startup: one of the stream's first frames, which wait once for
    the first full window (left out of latency figures).
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
    gap: int = 0
    startup: bool = False
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
                "scored": int(self.scored), "gap": self.gap, "latency_ms": round(1000 * self.latency_s, 2)}


class StreamJudge:
    """Frames in, verdicts and events out, synchronously, with bounded memory.

    loaded: a `vadlab.api.LoadedModel`. calibration: default the checkpoint's own (None, or
    settings.use_calibration False: running statistics). fps: the source's frame rate (frame
    times and event times; may be set later, before the first frame). `push` takes frames in
    arrival order and returns what became decided; `finish` flushes at the end of the stream.
    Frame numbers that jump (a gap) restart the window (see the module docstring); the frames a
    gap leaves too few to fill a window are handed back in `unjudged` (with their images when
    keep_frames) and counted in `skipped`.
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
        self._segment: list[int] = []  # frames since the last gap that no window has scored yet
        self._segment_scored = False  # a full window since the last gap (or the start)
        self._last_index: Optional[int] = None
        self._gaps: dict[int, int] = {}  # first frame after a gap -> frames missing before it
        self.first_window: Optional[int] = None  # the stream's first frame scored by a full window
        self._finished = False
        self.unjudged: list[SourceFrame] = []  # frames skipped since the caller last took them
        self.frames_in = 0
        self.judged = 0
        self.windows = 0  # frames judged on a window of their own (the others copy one)
        self.flagged = 0
        self.skipped = 0
        self.gaps = 0

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
            if self._last_index is not None and frame.index != self._last_index + 1:
                self._gap(frame.index, verdicts, events)
            self._last_index = frame.index
            self._arrived[frame.index] = (frame.arrival, frame.image if self.settings.keep_frames else None)
            self._segment.append(frame.index)
            self.scorer.push(model_frame, frame.index)
            self.frames_in += 1
            if self.scorer.pending == self.scorer.batch_size:
                self._windows(self.scorer.score_pending(), verdicts, events)
        if self.scorer.pending:
            self._windows(self.scorer.score_pending(), verdicts, events)
        return verdicts, events

    def _gap(self, index: int, verdicts: list, events: list) -> None:
        """Frame numbers jumped to `index`: score what is full, skip what never will be, and start
        the next window from `index` (no window holds frames from both sides of a gap)."""
        if index <= self._last_index:
            raise StreamSettingsError(f"frame {index} arrived after frame {self._last_index}: frames must come in "
                                      "order")
        if self.scorer.pending:
            self._windows(self.scorer.score_pending(), verdicts, events)
        self._skip_segment()
        self.scorer.restart()
        self._segment_scored = False
        self._gaps[index] = index - self._last_index - 1
        self.gaps += 1

    def _skip_segment(self) -> None:
        """The frames since the last gap that no window will ever score (too few before the next
        gap or the end): no verdict; handed back in `unjudged`, counted in `skipped`."""
        for i in self._segment:
            arrival, image = self._arrived.pop(i)
            self.unjudged.append(SourceFrame(i, image, arrival))
            self._gaps.pop(i, None)
        self.skipped += len(self._segment)
        self._segment = []

    def take_unjudged(self) -> list[SourceFrame]:
        """The frames skipped since the last call (oldest first)."""
        out, self.unjudged = self.unjudged, []
        return out

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
            if not self._segment_scored:  # frames before the first full window of a segment copy its score
                self._segment_scored = True
                if self.first_window is None:
                    self.first_window = index
                for early in self._segment:
                    if early < index:
                        self._smooth(early, float(ws.score[j]), float(pooled[j]), False, error_map, verdicts, events)
            self._segment = []
            self.windows += 1
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
        startup = not scored and self.first_window is not None and index < self.first_window
        verdicts.append(FrameVerdict(index=index, time_s=index / self.fps, arrival=arrival, decided_at=now, score=score,
                                     pooled=pooled, value=value, threshold=self.scale.threshold, flagged=flagged,
                                     decided=decided, scored=scored, gap=self._gaps.pop(index, 0), startup=startup,
                                     image=image, error_map=error_map))

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
        self._skip_segment()
        for i, smoothed in self.smoother.flush():
            self._decide(i, smoothed, verdicts, events)
        events += self.tracker.finish(time.monotonic())
        if self.first_window is None and self.frames_in:
            self.notes.append(f"the stream ended after {self.frames_in} frame(s), before the model's first full "
                              f"window ({self.span} consecutive frames): no verdict")
        self._arrived.clear()
        return verdicts, events

    @property
    def scale_description(self) -> str:
        return self.scale.description


# -------------------------------------------------------------------------------- queue + threads
class FrameQueue:
    """A bounded queue of frames between the reader and the scorer.

    drop_oldest: when `capacity` frames wait and another arrives, the oldest waiting one is dropped
    (counted in `dropped`; the last `keep_dropped` of them wait in `take_dropped()` for whoever
    still wants their images, e.g. event clips); otherwise the reader waits (`put` blocks) until
    there is room. `arrivals` holds the times of the last 64 puts, dropped frames included."""

    def __init__(self, capacity: int, drop_oldest: bool, keep_dropped: int = 0):
        self.capacity = int(capacity)
        self.drop_oldest = drop_oldest
        self._items: deque = deque()
        self._dropped_items: deque = deque(maxlen=max(1, int(keep_dropped)))
        self.keep_dropped = int(keep_dropped)
        self._cond = threading.Condition()
        self.closed = False
        self.received = 0
        self.dropped = 0
        self.arrivals: deque[float] = deque(maxlen=64)

    def put(self, item: Any) -> None:
        with self._cond:
            while not self.drop_oldest and len(self._items) >= self.capacity and not self.closed:
                self._cond.wait(0.1)
            if self.closed:
                return
            if len(self._items) >= self.capacity:
                dropped = self._items.popleft()
                self.dropped += 1
                if self.keep_dropped:
                    self._dropped_items.append(dropped)
            self._items.append(item)
            self.received += 1
            self.arrivals.append(time.monotonic())
            self._cond.notify_all()

    def take_dropped(self) -> list:
        """The dropped items kept since the last call (oldest first)."""
        with self._cond:
            out = list(self._dropped_items)
            self._dropped_items.clear()
            return out

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
    """Where a stream stands. received: frames that arrived from the source; dropped: of those,
    frames the drop policy dropped (the scorer was behind); skipped: frames between two gaps too
    few to fill a window (no verdict); judged: frames with a verdict (scored: on a window of their
    own; the others copy the first window after the start or a gap); lost: frames the source
    produced that never arrived (estimated across reconnects); gaps: jumps in the frame numbers
    after which the window restarted. received = judged + dropped + skipped + waiting (+ the few in
    the scorer's hands). reconnects: attempts to reconnect the source.
    Rates are over the last ~64 frames (frames/s; fps_in counts every arrival, dropped ones too);
    latencies (arrival to verdict) in ms over the last 4096 judged frames (max: over all of them;
    the first span - 1 frames of a stream, which wait once for the first full window, are left out)."""

    received: int = 0
    dropped: int = 0
    judged: int = 0
    scored: int = 0
    skipped: int = 0
    lost: int = 0
    gaps: int = 0
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

        missing = (f" | skipped {self.skipped}" if self.skipped else "") + (f" | lost {self.lost}" if self.lost else "")
        return (f"in {self.received} ({rate(self.fps_in)}) | judged {self.judged} ({rate(self.fps_scored)}) | "
                f"dropped {self.dropped}{missing} | latency p50 {ms(self.latency_p50_ms)} p99 {ms(self.latency_p99_ms)} "
                f"max {ms(self.latency_max_ms)} ms | flagged {self.flagged} | events {self.events}")

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            return round(x, 2) if isinstance(x, float) and math.isfinite(x) else (None if isinstance(x, float) else x)

        return {k: clean(v) for k, v in self.__dict__.items()}


@dataclass
class StreamUpdate:
    """What one pass of the scoring loop produced: verdicts and events (possibly none) and stats.
    unjudged: frames that arrived and will get no verdict (dropped, or skipped between gaps), with
    their images when keep_frames (the last few only: for event clips). incidents: what happened
    to the source (lost, reconnecting, reconnected: `FrameSource.incidents`), in order."""

    verdicts: list[FrameVerdict]
    events: list[EventUpdate]
    stats: StreamStats
    unjudged: list[SourceFrame] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)


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
        if drop == "oldest" and settings.queue_frames < self.judge.span:
            raise StreamSettingsError(f"a queue of {settings.queue_frames} frames cannot hold one window of "
                                      f"{loaded.spec.name} ({self.judge.span} frames): after a drop nothing could "
                                      f"be scored; use a queue of at least {self.judge.span} frames")
        self.queue = FrameQueue(settings.queue_frames, drop_oldest=drop == "oldest",
                                keep_dropped=DROPPED_KEPT if settings.keep_frames else 0)
        self._incidents_seen = 0
        self.judge.scorer.warm_up()
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._reader: Optional[threading.Thread] = None
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
        def rate(times: Sequence[float]) -> float:
            return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")

        lat = list(self._latencies)
        return StreamStats(
            received=self.queue.received, dropped=self.queue.dropped, judged=self.judge.judged,
            scored=self.judge.windows, skipped=self.judge.skipped, lost=int(self.source.lost), gaps=self.judge.gaps,
            flagged=self.judge.flagged, events=self._events, waiting=self.queue.waiting,
            reconnects=int(getattr(self.source, "reconnects", 0)),
            elapsed_s=time.monotonic() - self._started if self._started else 0.0,
            fps_in=rate(list(self.queue.arrivals)), fps_scored=rate(self._decisions),
            latency_p50_ms=1000 * _percentile(lat, 50), latency_p99_ms=1000 * _percentile(lat, 99),
            latency_max_ms=1000 * self._latency_max,
        )

    def _account(self, verdicts: Sequence[FrameVerdict], events: Sequence[EventUpdate]) -> None:
        for v in verdicts:
            self._decisions.append(v.decided_at)
            if v.startup:  # the first frames wait for the first full window: once, not a rate
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
                # a batch of windows and, after a drop, the frames its first window needs: a segment
                # between two drops is then always long enough to be scored
                frames = self.queue.take(self.settings.batch_size + self.judge.span - 1, timeout=tick)
                if frames:
                    self.judge.set_fps(self.source.fps)
                    verdicts, events = self.judge.push(frames)
                    self._account(verdicts, events)
                    yield self._update(verdicts, events)
                elif self.queue.finished:
                    break
                else:
                    yield self._update([], [])
            yield self.finish()
        finally:
            self.stop()
            if self._reader is not None:
                self._reader.join(timeout=1.0)

    def finish(self) -> StreamUpdate:
        """Decide what the smoothing holds and close the open event (idempotent; after Ctrl-C too)."""
        verdicts, events = self.judge.finish()
        self._account(verdicts, events)
        return self._update(verdicts, events)

    def _update(self, verdicts: list[FrameVerdict], events: list[EventUpdate]) -> StreamUpdate:
        unjudged = sorted(self.queue.take_dropped() + self.judge.take_unjudged(), key=lambda f: f.index)
        incidents = self.source.incidents[self._incidents_seen:]
        self._incidents_seen += len(incidents)
        return StreamUpdate(verdicts, events, self.stats(), unjudged, incidents)

    @property
    def notes(self) -> list[str]:
        return self.judge.notes


# ------------------------------------------------------------------------------------- event clips
class EventClips:
    """Writes one annotated mp4 per alert event, named by the event's frame span as the events
    table shows it (`event_000054-000057.mp4`: its first and last flagged frame), in the order the
    events close: every frame that arrived from `before_s` seconds before the event's first frame
    to `after_s` seconds after its last, frames that got no verdict (dropped while the scorer was
    behind, or skipped between gaps) included and drawn with a grey border and no score, so a clip
    plays at the source's pace. Events close together get overlapping clips, one each.

    Feed it every update's verdicts (made with StreamSettings.keep_frames, so they carry images),
    events and unjudged frames. Memory: a ring of frames from the last before_s + ~2.5 s, plus the
    frames of the clips being recorded (at most before + `max_s` + after seconds each: a longer
    event's clip keeps its first max_s seconds)."""

    UNJUDGED_RGB = (128, 128, 128)

    def __init__(self, folder: str | Path, fps: float, before_s: float = 2.0, after_s: float = 2.0,
                 max_s: float = 60.0, prefix: str = "event"):
        self.folder = Path(folder)
        self.fps = float(fps or 25.0)
        self.before = max(0, round(before_s * self.fps))
        self.after = max(0, round(after_s * self.fps))
        self.max_frames = max(1, round(max_s * self.fps))
        self.prefix = prefix
        self.ring = self.before + 64  # frame numbers kept behind the newest, for an event's pre-roll
        self.frames: dict[int, tuple[np.ndarray, Optional[FrameVerdict]]] = {}  # frame -> (image, verdict)
        self.pending: list[list] = []  # [start, end or None (open)] of events whose clip is not written yet
        self.newest = -1  # the newest frame number seen
        self.judged_to = -1  # the newest frame number with a verdict (verdicts come in order)
        self.written: list[Path] = []
        self._workers: list[threading.Thread] = []

    def add(self, verdicts: Sequence[FrameVerdict], events: Sequence[EventUpdate],
            unjudged: Sequence[SourceFrame] = ()) -> list[Path]:
        """Returns the clips this call wrote (handed to a writer thread; `flush` waits for them)."""
        for v in verdicts:
            if v.image is not None:
                self.frames[v.index] = (v.image, v)
            self.newest = max(self.newest, v.index)
            self.judged_to = max(self.judged_to, v.index)
        for f in unjudged:
            if f.image is not None and f.index not in self.frames:
                self.frames[f.index] = (f.image, None)
            self.newest = max(self.newest, f.index)
        for e in events:
            if e.kind == "opened":
                self.pending.append([e.event.start, None])
            else:
                for clip in self.pending:
                    if clip[0] == e.event.start and clip[1] is None:
                        clip[1] = e.event.end
                        break
                else:  # closed without an open seen (fed from the middle of a stream)
                    self.pending.append([e.event.start, e.event.end])
        written = []
        # a clip is complete once a verdict beyond its post-roll exists: every frame up to there has
        # arrived (verdicts come after their arrival) and has its verdict or never will
        while self.pending and self.pending[0][1] is not None and \
                self.judged_to >= min(self.pending[0][1], self.pending[0][0] + self.max_frames) + self.after:
            written.append(self._write(*self.pending.pop(0)))
        self._prune()
        return written

    def _last_frame(self, start: int, end: Optional[int]) -> float:
        """The last frame number a clip of the event [start, end] holds (end None: still open)."""
        longest = start + self.max_frames + self.after
        return longest if end is None else min(end + self.after, longest)

    def _prune(self) -> None:
        """Keep the pre-roll ring and what pending clips still need."""
        keep_from = self.newest - self.ring
        def needed(i: int) -> bool:
            return i >= keep_from or any(start - self.before <= i <= self._last_frame(start, end)
                                         for start, end in self.pending)
        for i in [i for i in self.frames if not needed(i)]:
            del self.frames[i]

    def flush(self) -> list[Path]:
        """The stream ended: write the clips still recording (an open event ends at the last frame
        judged), and wait for every clip to be written."""
        out = [self._write(start, end if end is not None else max(start, self.judged_to))
               for start, end in self.pending]
        self.pending = []
        for worker in self._workers:
            worker.join()
        self._workers = []
        return out

    def _write(self, start: int, end: int) -> Path:
        """Hand the clip of the event [start, end] to a writer thread (annotating and encoding
        take longer than a frame's budget, and the scoring loop must not wait); returns its path."""
        last = self._last_frame(start, end)
        frames = [(i, *self.frames[i]) for i in sorted(self.frames) if start - self.before <= i <= last]
        path = self.folder / f"{self.prefix}_{start:06d}-{end:06d}.mp4"
        self.written.append(path)
        if frames:
            worker = threading.Thread(target=self._encode, args=(frames, path), name="vadlab-event-clip", daemon=True)
            worker.start()
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        return path

    def _encode(self, frames: list[tuple[int, np.ndarray, Optional[FrameVerdict]]], path: Path) -> None:
        from vadlab import export
        from vadlab.data.video import write_video

        shape = frames[0][1].shape
        frames = [f for f in frames if f[1].shape == shape]  # a reconnect may change the size: keep the first
        images = np.stack([image for _, image, _ in frames])  # (T, H, W, 3)
        verdicts = [v for _, _, v in frames]
        judged = [v for v in verdicts if v is not None]
        threshold = judged[-1].threshold if judged else 0.0
        values = np.asarray([v.value if v is not None else np.nan for v in verdicts], dtype=np.float64)
        values = np.nan_to_num(values, nan=threshold - 1.0)
        low, high = min(float(values.min()), threshold), max(float(values.max()), threshold)
        span = max(high - low, 1e-9)  # the score bar is drawn on [0, 1]: one affine map, same verdicts
        maps = None
        if judged and all(v.error_map is not None for v in judged):
            blank = np.zeros_like(judged[0].error_map, dtype=np.float32)
            maps = np.stack([v.error_map.astype(np.float32) if v is not None else blank for v in verdicts])  # (T, h, w)
        annotated = export.annotate_frames(images, (values - low) / span, (threshold - low) / span, maps)
        border = max(2, round(min(shape[0], shape[1]) / 60))
        for k, v in enumerate(verdicts):
            if v is None:  # no verdict: the frame as it arrived, a grey border, no score
                annotated[k] = images[k]
                annotated[k, :border], annotated[k, -border:] = self.UNJUDGED_RGB, self.UNJUDGED_RGB
                annotated[k, :, :border], annotated[k, :, -border:] = self.UNJUDGED_RGB, self.UNJUDGED_RGB
        self.folder.mkdir(parents=True, exist_ok=True)
        # written beside its name and renamed when complete: a clip that exists is whole (the page
        # offers it for download as soon as it appears; a killed process leaves no half clip)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.part.mp4")
        try:
            write_video(partial, annotated, fps=self.fps)
            commit(partial, path)
        finally:
            partial.unlink(missing_ok=True)


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
