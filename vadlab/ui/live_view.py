"""The Live page's parts: a source (a stream URL, a shipped sample replayed as if live, or this
browser's own webcam through streamlit-webrtc), the session's stream scored in the background, and
the views of where it stands (current frame with its heatmap and verdict colour, a rolling
timeline, the alert banner, the events with their clips).

Scoring runs in a `vadlab.stream.LiveStream` on a thread of its own, which never calls Streamlit:
it writes what the page shows into a `LiveSession` under a lock, and the page draws a snapshot of
it every half second (`st.fragment(run_every=...)`). Webcam frames arrive in streamlit-webrtc's
callback thread, which hands them to the same stream through a `CallbackSource` and returns each
frame with the latest verdict drawn on it. A session the page stops looking at (the user left the
page or closed the tab) stops itself after `IDLE_STOP_S` seconds, so no stream runs for nobody.
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlparse

import numpy as np
import streamlit as st

from vadlab import export
from vadlab.calibration import DEFAULT_FAR, DEFAULT_SMOOTH, format_far
from vadlab.data.sources import CallbackSource, FileSource, FrameSource, StreamHostPolicy, open_source
from vadlab.stream import EventClips, FrameVerdict, LiveStream, StreamSettings, StreamStats
from vadlab.ui import state
from vadlab.ui.cache import CheckpointEntry, load_model
from vadlab.ui.errors import ERROR_ICON, user_errors
from vadlab.ui.widgets import FAR_CHOICES, alert_rules, sample_clips

PAGE = "live"
SESSION_KEY = state.widget_key(PAGE, "session")  # the browser session's LiveSession
WEBCAM_KEY = state.widget_key(PAGE, "webcam_feed")  # the webcam's CallbackSource holder
LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "rtp", "srt", "tcp")
IDLE_STOP_S = 30.0  # a session no page has drawn for this long stops
REFRESH_S = 0.5
SOURCE_KINDS = {"url": "Stream URL (RTSP, RTMP, HTTP, UDP, SRT)", "sample": "A shipped sample, replayed as if live",
                "webcam": "This browser's webcam"}


def webrtc_available() -> bool:
    """Whether streamlit-webrtc (and aiortc) can be imported: the webcam source needs them."""
    try:
        import streamlit_webrtc  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or a broken aiortc install
        return False
    return True


LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")


def served_to_localhost_only() -> bool:
    """Whether the app is bound to this machine's loopback only (`server.address`), so that only
    its own user can type a stream URL; Streamlit's default binds every interface."""
    return str(st.get_option("server.address") or "").strip().lower() in LOCAL_ADDRESSES


def check_stream_url(url: str) -> str:
    """A network stream URL typed in the app, or ValueError. Only network protocols: FFmpeg also
    reads `file:`, `concat:`, `pipe:` ... URLs, which would read the server's disk. Only hosts the
    `StreamHostPolicy` allows: VADLAB_STREAM_HOSTS, and no loopback or private address unless the
    app is served to localhost only (a browser user must not reach the server's own ports)."""
    url = url.strip()
    scheme = urlparse(url).scheme.lower()
    if not scheme or "://" not in url:
        raise ValueError(f"'{url}' is not a stream URL; give one like rtsp://camera.local/stream, "
                         "http://host:8080/live.ts or udp://@:5000")
    if scheme not in LIVE_SCHEMES:
        raise ValueError(f"{scheme}:// streams are not allowed here; use one of: "
                         + ", ".join(f"{s}://" for s in LIVE_SCHEMES))
    return StreamHostPolicy.from_environment(local_only_server=served_to_localhost_only()).check(url)


@dataclass(frozen=True)
class LiveSourceChoice:
    """What the user chose to watch: kind "url" (value = the URL), "sample" (value = the clip's
    path) or "webcam"; name is shown in captions and events."""

    kind: str
    value: str = ""
    name: str = ""


# --------------------------------------------------------------------------------------- session
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


def current_session() -> Optional[LiveSession]:
    return st.session_state.get(SESSION_KEY)


def _replace_session(session: Optional[LiveSession]) -> None:
    old = current_session()
    if old is not None and old is not session:
        old.stop()
    st.session_state[SESSION_KEY] = session


# ---------------------------------------------------------------------------------------- widgets
def live_source_picker(page: str = PAGE) -> Optional[LiveSourceChoice]:
    """The source to watch: a stream URL first (needs nothing but FFmpeg, through PyAV), a shipped
    sample replayed at its frame rate (a demo without a camera), or the browser's webcam (when
    streamlit-webrtc is installed)."""
    kinds = ["url", "sample"] + (["webcam"] if webrtc_available() else [])
    kind = st.radio("Source", kinds, format_func=SOURCE_KINDS.get, key=state.widget_key(page, "source_kind"),
                    horizontal=True)
    if not webrtc_available():
        st.caption("The webcam source needs `streamlit-webrtc` (`pip install streamlit-webrtc`).")
    if kind == "url":
        url = st.text_input("Stream URL", key=state.widget_key(page, "url"),
                            placeholder="rtsp://camera.local/stream · http://127.0.0.1:8080/live.ts · udp://@:5000",
                            help="Anything FFmpeg reads over the network. The stream is reconnected with backoff "
                                 "when it stalls, breaks or ends; a stream that never answers ends with a message. "
                                 "Loopback and private addresses are refused unless the lab is served to "
                                 "localhost only or VADLAB_STREAM_HOSTS lists them.")
        if not url.strip():
            st.info("Type the URL of a live stream, or choose a shipped sample to replay.")
            return None
        with user_errors("Stream URL"):
            return LiveSourceChoice("url", check_stream_url(url), url.strip())
    if kind == "sample":
        clips = sample_clips()
        if not clips:
            st.warning("The sample videos are missing: run `python -m vadlab samples --out sample_videos`.")
            return None
        name = st.selectbox("Sample clip", list(clips), key=state.widget_key(page, "sample"))
        return LiveSourceChoice("sample", str(clips[name]), name)
    return LiveSourceChoice("webcam", "", "webcam")


def live_settings(page: str = PAGE) -> tuple[StreamSettings, float]:
    """The verdict and alert rules of a live stream (as on the Score page: false-alarm rate,
    smoothing, minimum event length, merge gap) and the timeline's span in seconds."""
    col_far, col_smooth, col_history = st.columns(3)
    far = col_far.selectbox("Target false-alarm rate", list(FAR_CHOICES), index=FAR_CHOICES.index(DEFAULT_FAR),
                            format_func=lambda f: f"{format_far(f)} normal frames", key=state.widget_key(page, "far"),
                            help="Calibrated checkpoints: the threshold expects this many false alarms per normal "
                                 "frame. Without a calibration the stream's own running statistics are used.")
    smooth = col_smooth.slider("Smoothing σ (frames)", 0.0, 5.0, DEFAULT_SMOOTH, 0.5, key=state.widget_key(page, "smooth"),
                               help="Causal exponential smoothing (no delay). Unlike the Score page's Gaussian it "
                                    "cannot look ahead, so alerts may open a frame or two later.")
    history = col_history.slider("Timeline span (s)", 5, 120, 30, 5, key=state.widget_key(page, "history"))
    min_length, merge_gap = alert_rules(page)
    settings = StreamSettings(far=float(far), smooth_sigma=float(smooth), smoothing="causal", min_length=min_length,
                              merge_gap=merge_gap)
    return settings, float(history)


def _open_source(choice: LiveSourceChoice) -> FrameSource:
    """A live URL is reconnected with backoff when it stalls, breaks or ends (a live source does
    not end); a replayed sample ends."""
    if choice.kind == "url":
        return open_source(choice.value, timeout=5.0, backoff=0.5)
    if choice.kind == "sample":
        return FileSource(choice.value, realtime=True)
    raise ValueError(f"unknown live source '{choice.kind}'")


def live_controls(entry: CheckpointEntry, choice: LiveSourceChoice, settings: StreamSettings, history_s: float,
                  page: str = PAGE) -> Optional[LiveSession]:
    """Start / Stop for a URL or sample source (the webcam starts with its own button). Returns
    the session's LiveSession (running or finished), or None before the first start."""
    session = current_session()
    running = session is not None and session.snapshot().running
    col_start, col_stop, _ = st.columns([1, 1, 4])
    if col_start.button("Start", type="primary", key=state.widget_key(page, "start"), disabled=running,
                        icon=":material/play_arrow:"):
        with user_errors(f"Starting {choice.name}"):
            loaded = load_model(entry)
            session = LiveSession(loaded, _open_source(choice), settings, choice.name, entry.name, history_s,
                                  reopen=lambda: _open_source(choice))
            _replace_session(session)
            running = True
    if col_stop.button("Stop", key=state.widget_key(page, "stop"), disabled=not running, icon=":material/stop:"):
        session.stop("stopped with the Stop button")
        session.thread.join(timeout=5.0)
    return session


def webcam_controls(entry: CheckpointEntry, settings: StreamSettings, history_s: float,
                    page: str = PAGE) -> Optional[LiveSession]:
    """The browser's webcam through streamlit-webrtc: START in the component sends the camera to the
    server, where every frame goes to the live stream and comes back with the latest verdict drawn
    on it. Stopping the camera stops the stream."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    holder = st.session_state.setdefault(WEBCAM_KEY, _WebcamFeed())

    def callback(frame):  # streamlit-webrtc's thread: no st.* here
        import av

        image = frame.to_ndarray(format="rgb24")  # (H, W, 3)
        holder.put(image)
        return av.VideoFrame.from_ndarray(holder.draw(image), format="rgb24")

    ctx = webrtc_streamer(key=state.widget_key(page, "webcam"), mode=WebRtcMode.SENDRECV,
                          rtc_configuration={"iceServers": []},  # loopback / LAN: no public STUN server
                          media_stream_constraints={"video": True, "audio": False}, video_frame_callback=callback)
    session = current_session()
    playing = bool(ctx.state.playing)
    if playing and (session is None or not session.running or holder.source is None or holder.source.closed):
        with user_errors("Starting the webcam stream"):
            holder.source = CallbackSource("webcam")
            session = LiveSession(load_model(entry), holder.source, settings, "webcam", entry.name, history_s)
            holder.session = session
            _replace_session(session)
    elif not playing and session is not None and session.running and holder.source is not None:
        holder.source.close()
        session.stop("the camera was stopped")
    return session


class _WebcamFeed:
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


# ------------------------------------------------------------------------------------------ views
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


def _timeline_figure(snap: LiveSnapshot):
    import plotly.graph_objects as go

    if not snap.timeline:
        return None
    frames, seconds, values, flagged = (np.asarray(x) for x in zip(*snap.timeline))
    values = values.astype(np.float64)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=seconds, y=values, mode="lines", name="score", line=dict(color="#1f77b4", width=2),
                             customdata=frames, hovertemplate="frame %{customdata}<br>t = %{x:.2f} s<br>%{y:.2f}"
                                                               "<extra></extra>"))
    hot = flagged.astype(bool)
    if hot.any():
        fig.add_trace(go.Scatter(x=seconds[hot], y=values[hot], mode="markers", name="flagged",
                                 marker=dict(color="#d62728", size=6)))
    fig.add_hline(y=snap.threshold, line=dict(color="#444", width=1.5, dash="dash"),
                  annotation_text=f"threshold {snap.threshold:.2f}", annotation_position="top left")
    fig.update_layout(height=300, margin=dict(l=50, r=20, t=30, b=40), template="plotly_white", showlegend=False,
                      title=dict(text=f"Last {max(0.0, seconds[-1] - seconds[0]):.0f} s", x=0, font=dict(size=14)),
                      uirevision="live")
    fig.update_xaxes(title_text="time in the stream (s)")
    fig.update_yaxes(title_text="calibrated score (σ above normal)" if snap.calibrated else "score (σ above this stream)")
    return fig


def stream_banner(snap: LiveSnapshot) -> None:
    """Where the source stands when it is not simply live: reconnecting (with the attempt and why),
    or ended / failed with the reason, in a banner nobody can miss."""
    if snap.running:
        if snap.status:
            st.warning(f"**{snap.source}: the stream was lost** and is {snap.status}. Frames lost while it is away "
                       "are counted; events stay open across the gap.", icon=":material/sync_problem:")
        return
    if snap.error:
        st.error(f"**{snap.source}: the stream failed.** {snap.error}", icon=ERROR_ICON)
    elif snap.ended:
        st.warning(f"**{snap.source}: the stream is over**: {snap.ended}.", icon=":material/stop_circle:")


def live_alert(snap: LiveSnapshot) -> None:
    """The alert banner: an open event (red, with how long it has lasted), else the last event, else
    all clear; the notes (no calibration: running statistics) and where the stream stands."""
    for note in snap.notes:
        st.warning(note, icon=":material/rule:")
    stream_banner(snap)
    open_events = [e for e in snap.events if e["state"] == "open"]
    if open_events:
        e = open_events[0]
        st.error(f"**Anomaly alert** in {snap.source}: since {e['start_s']:.1f} s (frame {e['start']}), "
                 f"peak {e['peak']:.2f} at frame {e['peak_frame']}.", icon=":material/warning:")
    elif snap.events:
        e = snap.events[0]
        st.warning(f"Last anomaly in {snap.source}: {e['start_s']:.1f} s to {e['end_s']:.1f} s (frames "
                   f"{e['start']}-{e['end']}), peak {e['peak']:.2f}. {len(snap.events)} event(s) so far.",
                   icon=":material/history:")
    elif snap.stats.judged:
        st.success(f"No anomaly in {snap.source} so far ({snap.stats.judged} frames scored).",
                   icon=":material/check_circle:")


def live_status(snap: LiveSnapshot) -> None:
    """One line: the state, frames in / judged / dropped (and skipped, lost when any), the arrival
    rate (every frame that arrived, dropped ones too) and the latency."""
    s = snap.stats
    state_text = ("reconnecting" if snap.status else "live") if snap.running else \
        f"ended ({snap.ended})" if snap.ended else "stopped"
    missing = (f", skipped {s.skipped} (between gaps)" if s.skipped else "") + \
        (f", lost {s.lost} (while reconnecting)" if s.lost else "")
    st.caption(f"**{snap.source}** · {snap.model} · {state_text} · frames in {s.received}, scored {s.judged}, "
               f"dropped {s.dropped}{missing} · {s.fps_in:.1f} frames/s in · latency p50 {s.latency_p50_ms:.0f} ms, "
               f"p99 {s.latency_p99_ms:.0f} ms" if s.judged else
               f"**{snap.source}** · {snap.model} · {state_text} · waiting for frames…")


def live_frame(snap: LiveSnapshot) -> None:
    latest = snap.latest
    if latest is None or latest.image is None:
        st.info("The current frame shows here once the first window of frames is scored.")
        return
    verdict = ("**ANOMALOUS**" if latest.flagged else "normal") if latest.decided else "learning (no verdict yet)"
    value = f"{latest.value:.2f}" if math.isfinite(latest.value) else "-"
    st.image(overlay(latest.image, latest, snap.threshold, snap.map_scale),
             caption=f"frame {latest.index} ({latest.time_s:.1f} s): {verdict}, score {value} "
                     f"(threshold {snap.threshold:.2f})", width="stretch")


def live_events(snap: LiveSnapshot, page: str = PAGE) -> None:
    """The events so far (newest first), each closed one with its annotated clip to download."""
    if not snap.events:
        st.caption("No event yet. An event opens when a run of flagged frames reaches the minimum length, "
                   "and closes when the scores fall back.")
        return
    st.dataframe(snap.events, hide_index=True, width="stretch",
                 column_order=["state", "start", "end", "start_s", "end_s", "frames", "peak", "peak_frame"])
    for event in snap.events:  # one button per closed event, in the table's order, labelled with its span
        path = snap.clips.get((event["start"], event["end"]))
        if event["state"] == "closed" and path is not None and path.exists() and path.stat().st_size > 0:
            st.download_button(f"Clip of the event at frames {event['start']}-{event['end']}", path.read_bytes(),
                               file_name=path.name, mime="video/mp4",
                               key=state.widget_key(page, f"clip_{event['start']}_{event['end']}"),
                               icon=":material/download:")
    if snap.incidents:
        with st.expander(f"Source log ({len(snap.incidents)})"):
            st.dataframe([{k: v for k, v in i.items() if k not in ("source", "at")} for i in snap.incidents],
                         hide_index=True, width="stretch")


def _draw(snap: LiveSnapshot, page: str) -> None:
    live_status(snap)
    live_alert(snap)
    col_frame, col_chart = st.columns([2, 3], gap="large")
    with col_frame:
        live_frame(snap)
    with col_chart:
        fig = _timeline_figure(snap)
        if fig is not None:
            st.plotly_chart(fig, width="stretch", key=state.widget_key(page, "timeline"))
    st.subheader("Events")
    live_events(snap, page)


@st.fragment(run_every=REFRESH_S)
def _live_fragment(page: str) -> None:
    session = current_session()
    if session is None:
        return
    snap = session.snapshot()
    _draw(snap, page)
    if not snap.running and st.session_state.get(state.widget_key(page, "drawn_running")):
        st.session_state[state.widget_key(page, "drawn_running")] = False
        st.rerun()  # the whole page: Start comes back


def live_panel(page: str = PAGE) -> None:
    """Where the stream stands: refreshed every half second while it runs, final after."""
    session = current_session()
    if session is None:
        st.info("Choose a source and a model, then press **Start**.")
        return
    snap = session.snapshot()
    if snap.running:
        st.session_state[state.widget_key(page, "drawn_running")] = True
        _live_fragment(page)
        return
    if snap.can_reconnect and st.button("Reconnect", key=state.widget_key(page, "reconnect"), type="primary",
                                        icon=":material/refresh:", help="Open the same source again, with the same "
                                                                          "model and settings"):
        with user_errors(f"Reconnecting {snap.source}"):
            _replace_session(session.reconnected())
            st.rerun()
    _draw(snap, page)
