"""The Live page's parts: a source (a stream URL, a shipped sample replayed as if live, or this
browser's own webcam through streamlit-webrtc), the session's stream scored in the background, and
the views of where it stands (current frame with its heatmap and verdict colour, a rolling
timeline, the alert banner, the events with their clips).

Scoring runs in a `vadlab.live.LiveSession` on a thread of its own, which never calls Streamlit:
it keeps what the page shows under a lock, and the page draws a snapshot of it every half second
(`st.fragment(run_every=...)`). Webcam frames arrive in streamlit-webrtc's callback thread, which
hands them to the same stream through a `CallbackSource` and returns each frame with the latest
verdict drawn on it (`vadlab.live.WebcamFeed`). A session the page stops looking at (the user left
the page or closed the tab) stops itself after `vadlab.live.IDLE_STOP_S` seconds, so no stream
runs for nobody.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import streamlit as st

from vadlab.calibration import DEFAULT_FAR, DEFAULT_SMOOTH, format_far
from vadlab.data.sources import CallbackSource
from vadlab.live import (LiveSession, LiveSnapshot, LiveSourceChoice, WebcamFeed, check_stream_url, open_live_source,
                         overlay)
from vadlab.stream import StreamSettings
from vadlab.ui import state
from vadlab.ui.cache import load_model
from vadlab.ui.errors import ERROR_ICON, user_errors
from vadlab.ui.source_picker import sample_clips
from vadlab.ui.widgets import FAR_CHOICES, alert_rules
from vadlab.zoo import CheckpointEntry

PAGE = "live"
SESSION_KEY = state.widget_key(PAGE, "session")  # the browser session's LiveSession
WEBCAM_KEY = state.widget_key(PAGE, "webcam_feed")  # the webcam's CallbackSource holder
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
            return LiveSourceChoice("url", check_stream_url(url, served_to_localhost_only()), url.strip())
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
            session = LiveSession(loaded, open_live_source(choice), settings, choice.name, entry.name, history_s,
                                  reopen=lambda: open_live_source(choice))
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

    holder = st.session_state.setdefault(WEBCAM_KEY, WebcamFeed())

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


# ------------------------------------------------------------------------------------------ views
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
