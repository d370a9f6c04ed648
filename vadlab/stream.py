"""Scoring is a stream: frames from a camera, a URL, a recording still being written or a file are
scored as they arrive, with calibrated verdicts and alert events as they happen, in bounded memory.

    source --(reader thread)--> FrameQueue --> WindowScorer --> smoothing --> verdict scale --> EventTracker
                                bounded;       a window is      causal, or    calibrated z, or   "opened" /
                                drops the      scored when      the offline   per-stream         "closed" with
                                oldest frame   full; batched    Gaussian with running            min length and
                                when behind    when queued      a fixed delay statistics         merge gap

`StreamJudge` is the synchronous part (frames in; `FrameVerdict`s and `EventUpdate`s out): a webcam
callback or a test drives it directly. `vadlab.live.LiveStream` adds the reader thread, the bounded
queue and its drop policy, and yields `StreamUpdate`s with running statistics (`StreamStats`);
`vadlab.export.EventClips` writes each event's clip. `score_file` runs a finished file of any
length through the same `WindowScorer` (what `vadlab score` uses).

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
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from scipy import stats

from vadlab.calibration import (DEFAULT_FAR, DEFAULT_MIN_LENGTH, DEFAULT_SMOOTH, SCALE_CALIBRATED, Calibration,
                                ScoreCalibration, format_far)
from vadlab.data.clips import to_model_frames
from vadlab.data.sources import SourceFrame
from vadlab.data.video import iter_video
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
