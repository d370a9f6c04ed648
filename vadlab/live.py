"""The threaded live session: a source scored as its frames arrive, in the background.

    source --(reader thread)--> FrameQueue --> StreamJudge (vadlab.stream) --> StreamUpdate
                                bounded; drops    windows, smoothing,          verdicts, events,
                                the oldest frame  scale, events                stats, incidents
                                when behind

`LiveStream` scores a `FrameSource` (`vadlab.data.sources`) with a `StreamJudge`: a reader thread,
the bounded queue and its drop policy, running statistics (`StreamStats`), and the source's
reconnects and losses handed on as incidents (`vadlab watch` and `bench/live.py` drive it in their
own thread). `LiveSession` runs one in a thread of its own for the Live page and keeps what the
page draws under a lock (`LiveSnapshot`: the newest verdict, a rolling timeline, the events and
their clips); a session nobody has looked at for `IDLE_STOP_S` seconds stops itself. Nothing here
calls Streamlit (`vadlab.ui.live_view` draws it).

Drop policy: a live source does not wait for the scorer. At most `queue_frames` frames wait; when
another arrives, the OLDEST waiting frame is dropped (counted in `dropped`, never scored, its number
skipped), so verdicts stay current instead of falling further behind. A finished file read as fast
as it decodes never drops: its reader waits for the scorer ("block").
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence
from urllib.parse import urlparse

import numpy as np

from vadlab import export
from vadlab.calibration import Calibration
from vadlab.data.sources import (CallbackSource, FileSource, FrameSource, SourceFrame, StreamError, StreamHostPolicy,
                                 open_source)
from vadlab.data.video import VideoDecodeError
from vadlab.export import EventClips
from vadlab.stream import EventUpdate, FrameVerdict, StreamJudge, StreamSettings, StreamSettingsError

DROPPED_KEPT = 256  # dropped frames kept (with keep_frames) until the next update hands them on: for event clips
IDLE_STOP_S = 30.0  # a session no page has drawn for this long stops
LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "rtp", "srt", "tcp")


# ----------------------------------------------------------------------------------- sources
def check_stream_url(url: str, local_only_server: bool) -> str:
    """A network stream URL typed in the app, or ValueError. Only network protocols: FFmpeg also
    reads `file:`, `concat:`, `pipe:` ... URLs, which would read the server's disk. Only hosts the
    `StreamHostPolicy` allows: VADLAB_STREAM_HOSTS, and no loopback or private address unless the
    app is served to localhost only (`local_only_server`: a browser user must not reach the
    server's own ports)."""
    url = url.strip()
    scheme = urlparse(url).scheme.lower()
    if not scheme or "://" not in url:
        raise ValueError(f"'{url}' is not a stream URL; give one like rtsp://camera.local/stream, "
                         "http://host:8080/live.ts or udp://@:5000")
    if scheme not in LIVE_SCHEMES:
        raise ValueError(f"{scheme}:// streams are not allowed here; use one of: "
                         + ", ".join(f"{s}://" for s in LIVE_SCHEMES))
    return StreamHostPolicy.from_environment(local_only_server=local_only_server).check(url)


@dataclass(frozen=True)
class LiveSourceChoice:
    """What the user chose to watch: kind "url" (value = the URL), "sample" (value = the clip's
    path) or "webcam"; name is shown in captions and events."""

    kind: str
    value: str = ""
    name: str = ""


def open_live_source(choice: LiveSourceChoice) -> FrameSource:
    """A live URL is reconnected with backoff when it stalls, breaks or ends (a live source does
    not end); a replayed sample ends."""
    if choice.kind == "url":
        return open_source(choice.value, timeout=5.0, backoff=0.5)
    if choice.kind == "sample":
        return FileSource(choice.value, realtime=True)
    raise ValueError(f"unknown live source '{choice.kind}'")


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


# --------------------------------------------------------------------------- the Live page's session
@dataclass
class LiveSnapshot:
    """What the page draws, copied under the session's lock.

    latest: the newest verdict with its image and error map; timeline: (frame, time_s, value,
    flagged) of the last `history_s` seconds; events: dicts, newest first (state "open" or
    "closed"); clips: closed event (start, end) -> annotated mp4 path. status: what the source is
    doing when it delivers nothing (reconnecting ...); incidents: the source's log (lost,
    reconnecting, reconnected), newest last; can_reconnect: the source can be opened again."""

    running: bool
    latest: Optional[FrameVerdict]
    timeline: list[tuple[int, float, float, bool]]
    events: list[dict]
    clips: dict[tuple[int, int], Path]
    stats: StreamStats
    threshold: float
    calibrated: bool
    scale: str
    notes: list[str]
    error: Optional[str]
    ended: Optional[str]
    map_scale: float
    source: str
    model: str
    fps: float
    status: str = ""
    incidents: list[dict] = dataclasses.field(default_factory=list)
    can_reconnect: bool = False


class LiveSession:
    """One stream scored in the background for one browser session.

    The worker thread runs `LiveStream.run()` and keeps, under `lock`: the newest verdict (image
    and error map included), the last `history_s` seconds of verdicts for the timeline, the events
    and their clips (`EventClips`, in a temporary folder of the session). `snapshot()` copies that
    for a page run; `stop()` ends it from any thread. reopen: opens the same source again (for the
    Reconnect button; None for a webcam, which reconnects by itself)."""

    def __init__(self, loaded: Any, source: FrameSource, settings: StreamSettings, name: str, model: str,
                 history_s: float = 30.0, clips_dir: Optional[Path] = None,
                 reopen: Optional[Callable[[], FrameSource]] = None):
        self.lock = threading.Lock()
        self.loaded, self.settings, self.reopen = loaded, settings, reopen
        self.stream = LiveStream(loaded, source, dataclasses.replace(settings, keep_frames=True))
        self.source = source
        self.incidents: deque[dict] = deque(maxlen=50)
        self.stop_reason: Optional[str] = None
        self.name, self.model = name, model
        self.history_s = float(history_s)
        self.timeline: deque[tuple[int, float, float, bool]] = deque(maxlen=20_000)
        self.latest: Optional[FrameVerdict] = None
        self.events: dict[int, dict] = {}  # start frame -> event row
        self.clips_dir = Path(clips_dir or tempfile.mkdtemp(prefix="vadlab_live_"))
        self.clips: Optional[EventClips] = None
        self.clip_paths: dict[tuple[int, int], Path] = {}
        self.stats = StreamStats()
        self.error: Optional[str] = None
        self.ended: Optional[str] = None
        self.running = True
        self.map_scale = 0.0
        self.last_seen = time.monotonic()
        self.thread = threading.Thread(target=self._work, name="vadlab-live", daemon=True)
        self.thread.start()

    # -- worker thread (never calls Streamlit) --
    def _work(self) -> None:
        reason = None
        try:
            for update in self.stream.run():
                self._apply(update.verdicts, update.events, update.stats, update.unjudged, update.incidents)
                if time.monotonic() - self.last_seen > IDLE_STOP_S:
                    reason = "stopped: the page was left"
                    self.stream.stop()
            if self.clips is not None:
                self._apply([], [], self.stream.stats(), written=self.clips.flush())
        except Exception as exc:  # noqa: BLE001 - shown on the page as one line, never lost in a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            with self.lock:
                if self.stream.error is not None and self.error is None:
                    self.error = str(self.stream.error)
                self.ended = reason or self.stop_reason or self.ended or (
                    "the stream failed" if self.error else (self.source.note or "the stream ended"))
                self.stats = self.stream.stats()
                self.running = False

    def _apply(self, verdicts, events, stats: StreamStats, unjudged=(), incidents=(), written=()) -> None:
        judge = self.stream.judge
        if self.clips is None and verdicts:
            self.clips = EventClips(self.clips_dir, fps=judge.fps, before_s=2.0, after_s=2.0)
        written = list(written) + (self.clips.add(verdicts, events, unjudged) if self.clips is not None else [])
        with self.lock:
            self.incidents.extend(incidents)
            for v in verdicts:
                self.timeline.append((v.index, v.time_s, v.value, v.flagged))
                if v.error_map is not None:
                    top = float(np.percentile(v.error_map.astype(np.float32), 99.5))
                    self.map_scale = max(top, 0.98 * self.map_scale)  # a slowly decaying maximum: steady colours
            if verdicts:
                self.latest = verdicts[-1]
                newest = verdicts[-1].time_s
                while self.timeline and self.timeline[0][1] < newest - self.history_s:
                    self.timeline.popleft()
            for update in events:
                e = update.event
                self.events[e.start] = {"state": "open" if update.kind == "opened" else "closed", "start": e.start,
                                        "end": e.end, "start_s": round(e.start / judge.fps, 2),
                                        "end_s": round(e.end / judge.fps, 2), "frames": e.length,
                                        "peak": round(float(e.peak_score), 3), "peak_frame": e.peak_frame}
            for path in written:
                start, end = (int(x) for x in path.stem.split("_")[-1].split("-"))
                self.clip_paths[(start, end)] = path
            self.stats = stats

    # -- any thread --
    def stop(self, reason: Optional[str] = None) -> None:
        """End the stream; `reason` is what the page then says (default: how the source ended)."""
        if reason and self.stop_reason is None:
            self.stop_reason = reason
        self.stream.stop()

    def reconnected(self) -> "LiveSession":
        """A new session on the same source, model and settings (the Reconnect button)."""
        if self.reopen is None:
            raise ValueError(f"{self.name} cannot be reopened from here")
        self.stop()
        return LiveSession(self.loaded, self.reopen(), self.settings, self.name, self.model, self.history_s,
                           reopen=self.reopen)

    def snapshot(self) -> LiveSnapshot:
        """A copy of the state for one page run (and a sign the page still looks)."""
        self.last_seen = time.monotonic()
        judge = self.stream.judge
        with self.lock:
            return LiveSnapshot(
                running=self.running, latest=self.latest, timeline=list(self.timeline),
                events=sorted(self.events.values(), key=lambda r: -r["start"]), clips=dict(self.clip_paths),
                stats=self.stats, threshold=judge.threshold, calibrated=judge.calibrated,
                scale=judge.scale_description, notes=list(judge.notes), error=self.error, ended=self.ended,
                map_scale=self.map_scale, source=self.name, model=self.model, fps=judge.fps,
                status=self.source.status if self.running else "", incidents=list(self.incidents),
                can_reconnect=self.reopen is not None)


class WebcamFeed:
    """Between streamlit-webrtc's callback thread and the session: where frames go, and the
    latest verdict to draw on the frames sent back."""

    def __init__(self) -> None:
        self.source: Optional[CallbackSource] = None
        self.session: Optional[LiveSession] = None

    def put(self, image: np.ndarray) -> None:
        source = self.source
        if source is not None and not source.closed:
            source.put(image)

    def draw(self, image: np.ndarray) -> np.ndarray:
        session = self.session
        if session is None:
            return image
        with session.lock:
            latest, scale, threshold = session.latest, session.map_scale, session.stream.judge.threshold
        if latest is None:
            return image
        return overlay(image, latest, threshold, scale)


def overlay(image: np.ndarray, verdict: FrameVerdict, threshold: float, map_scale: float) -> np.ndarray:
    """`image` (H, W, 3) with the verdict drawn on it (`export.annotate_frames`): the error heatmap
    (resized to the image), a red (anomalous) or green border, and a score bar whose tick is the
    threshold, full at twice the threshold. The webcam draws its newest verdict on the frame that
    just arrived; the page draws each verdict on its own frame."""
    maps = None if verdict.error_map is None else verdict.error_map.astype(np.float32)[None]  # (1, h, w)
    value = verdict.value if math.isfinite(verdict.value) else 0.0
    bar = float(np.clip(value / (2.0 * threshold), 0.0, 1.0)) if threshold > 0 else float(verdict.flagged)
    bar = max(bar, 0.5) if verdict.flagged else min(bar, 0.5 - 1e-6)  # the border says the verdict, exactly
    return export.annotate_frames(np.asarray(image)[None], np.asarray([bar]), 0.5, maps, map_scale=map_scale or None,
                                  show_text=False)[0]
