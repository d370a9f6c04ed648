"""Presenter mode of the Score page: a view for a projector.

Full width, no chrome (the sidebar and Streamlit's header hidden, the page's controls folded into
one expander), a big one-line verdict, and one player: the clip at a sensible size (an integer
upscale of its frames, never stretched to the screen's width), beside a few big controls (play,
heatmap overlay, loop) and a live readout of the frame's score and verdict, above a timeline that
follows playback (a playhead; a click on it or the frame slider under the video seeks). Everything
is operated with the mouse. The CSV and the annotated mp4 stay one click away in the top row.

The player is one self-contained HTML document (`player_html`: the annotated and the plain clip as
H.264 data URLs, the scores as JSON, a few lines of script), so playback and the timeline stay in
step in the browser without a round trip to the server per frame.
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from typing import Optional

import numpy as np
import streamlit as st

from vadlab.data.video import Video
from vadlab.data.writer import write_video
from vadlab.ui import state
from vadlab.ui.cache import result_store
from vadlab.ui.verdict_view import Flagged

MAX_VIDEO_HEIGHT = 600  # px: verdict + video + slider + timeline fit a 1920 x 1080 screen without scrolling
MAX_VIDEO_WIDTH = 1200
TIMELINE_HEIGHT = 150

CHROME_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarCollapseButton"],
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
[data-testid="stMainBlockContainer"], .block-container { padding-top: 0.6rem !important; padding-bottom: 0.6rem !important;
  padding-left: 1.5rem !important; padding-right: 1.5rem !important; max-width: 100% !important; }
[data-testid="stMain"] { margin-left: 0 !important; }
</style>
"""


def presenter_chrome() -> None:
    """Hide the sidebar and Streamlit's header and use the full width (presenter mode only: the CSS
    goes with the element, so leaving presenter mode brings them back)."""
    st.markdown(CHROME_CSS, unsafe_allow_html=True)


def display_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) in CSS px to show frames of `height` x `width` at: the largest integer
    upscale that fits MAX_VIDEO_HEIGHT x MAX_VIDEO_WIDTH (crisp, never stretched), or a downscale
    of large frames to fit."""
    factor = min(MAX_VIDEO_HEIGHT / height, MAX_VIDEO_WIDTH / width)
    factor = float(np.floor(factor)) if factor >= 1 else factor
    return int(round(height * factor)), int(round(width * factor))


def _encode(frames: np.ndarray, fps: float) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="vadlab_plain_")
    os.close(fd)
    try:
        write_video(path, frames, fps=fps)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def plain_video(video: Video, flagged: Flagged) -> bytes:
    """The clip itself as an H.264 mp4 (what the player shows with the heatmap overlay off)."""
    return result_store().get_or_compute(("plain_video", flagged.key),
                                         lambda: _encode(np.asarray(video.frames), flagged.fps))


def headline(flagged: Flagged, name: str, model: Optional[str]) -> tuple[str, str, bool]:
    """(verdict line, detail line, alert?) in words a room can read."""
    if flagged.events:
        first = flagged.events[0]
        events = len(flagged.events)
        line = (f"Anomaly: {events} event{'s' if events != 1 else ''}, the first at {first.start / flagged.fps:.1f} s "
                f"(frame {first.start})")
    else:
        line = "No anomaly in this clip"
    detail = f"{name} · scored by {model or 'the model'} · {flagged.n_anomalous} of {flagged.n_frames} frames flagged"
    counts = flagged.counts()
    if counts is not None:
        detail += f" · against the ground truth: precision {counts['precision']:.2f}, recall {counts['recall']:.2f}, F1 {counts['f1']:.2f}"
    return line, detail, bool(flagged.events)


def headline_html(line: str, detail: str, alert: bool) -> str:
    """The verdict and detail lines as HTML. Both carry user-controlled names (the clip's file name,
    the checkpoint's), so every part is escaped here: the only HTML in the result is ours."""
    colour = "#c62828" if alert else "#2e7d32"
    return (f'<div class="vad-verdict" id="vad-headline" style="font-size:2.6rem;font-weight:700;line-height:1.15;'
            f'color:{colour};margin:0">{html.escape(line)}</div>'
            f'<div class="vad-sub" style="font-size:1.15rem;color:#444;margin:0.15rem 0 0.2rem 0">{html.escape(detail)}</div>')


def script_json(data: object) -> str:
    """JSON safe inside a <script> element: no "<" (so no "</script>" or "<!--") survives as markup."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def player_html(annotated: bytes, plain: bytes, flagged: Flagged, size: tuple[int, int], start: int = 0) -> str:
    """The player document: video (annotated or plain), controls, live readout, frame slider and
    the timeline (scores, threshold, alert events, ground truth, playhead), paused at frame `start`."""
    height, width = size
    values = np.asarray(flagged.normalized, dtype=np.float64)
    data = {
        "start": int(min(max(start, 0), len(values) - 1)),
        "fps": flagged.fps,
        "values": [round(float(v), 5) for v in values],
        "threshold": float(flagged.threshold),
        "frame": [int(size[0]), int(size[1])],  # the largest display size (fits 1920 x 1080); `fit` shrinks it
        "timeline": TIMELINE_HEIGHT,
        "unit": " σ" if flagged.calibrated else "",  # one label with Score and Explain (`export.format_score`)
        "events": [[e.start, e.end] for e in flagged.events],
        "labels": None if flagged.labels is None else [int(v) for v in flagged.labels],
        "annotated": "data:video/mp4;base64," + base64.b64encode(annotated).decode("ascii"),
        "plain": "data:video/mp4;base64," + base64.b64encode(plain).decode("ascii"),
    }
    return (PLAYER_TEMPLATE.replace("__WIDTH__", str(width)).replace("__HEIGHT__", str(height))
            .replace("__TIMELINE__", str(TIMELINE_HEIGHT)).replace("__DATA__", script_json(data)))


def player_height(size: tuple[int, int]) -> int:
    """The iframe height the player needs (video, slider, timeline, time axis)."""
    return size[0] + TIMELINE_HEIGHT + 70


def presenter_view(video: Video, flagged: Flagged, name: str, model: Optional[str], annotated: bytes,
                   start: Optional[int] = None) -> None:
    """The verdict in big letters, then the player, paused at frame `start` (default: where the
    first alert starts). `annotated`: the annotated mp4 (rendered by the caller, which also offers
    it for download)."""
    if start is None:
        start = flagged.events[0].start if flagged.events else 0
    line, detail, alert = headline(flagged, name, model)
    st.markdown(headline_html(line, detail, alert), unsafe_allow_html=True)
    if flagged.notes:  # never silently: out of scene, no calibration (one line here; in full on the page)
        st.caption("⚠ " + " · ".join(note.split(":")[0] if len(note) > 120 else note for note in flagged.notes))
    size = display_size(*video.frames.shape[1:3])
    st.iframe(player_html(annotated, plain_video(video, flagged), flagged, size, start), height=player_height(size))


def presenter_toggle(page: str, column=None) -> bool:
    """The presenter-mode switch (kept in the working context, so it survives page changes)."""
    return bool((column or st).toggle("Presenter mode", help="The clip large with its timeline following playback, "
                                      "the verdict in big letters, no sidebar: for a projector.",
                                      **state.bind(state.widget_key(page, "presenter"), "presenter", False)))


PLAYER_TEMPLATE = r"""<!doctype html>
<html><head><meta charset="utf-8">
<style>
  html, body { margin: 0; padding: 0; font-family: "Source Sans Pro", "Segoe UI", sans-serif; color: #262730; }
  #vad-top { display: flex; gap: 28px; align-items: flex-start; justify-content: center; }
  #vad-video { background: #000; border-radius: 6px; display: block; }
  #vad-side { display: flex; flex-direction: column; gap: 14px; width: 300px; padding-top: 4px; }
  #vad-play { font-size: 26px; padding: 10px 18px; border-radius: 8px; border: 1px solid #bbb; background: #f0f2f6; cursor: pointer; }
  #vad-play:hover { background: #e4e7ee; }
  .vad-check { font-size: 20px; cursor: pointer; user-select: none; }
  .vad-check input { width: 20px; height: 20px; vertical-align: middle; }
  #vad-status { font-size: 22px; }
  #vad-frame-verdict { font-size: 34px; font-weight: 700; }
  #vad-frame-verdict.alert { color: #c62828; } #vad-frame-verdict.clear { color: #2e7d32; }
  #vad-frame { width: 100%; margin: 8px 0 2px 0; }
  #vad-timeline { display: block; width: 100%; cursor: pointer; background: #fafafa; border: 1px solid #e6e6e6; border-radius: 4px; }
  #vad-axis { display: flex; justify-content: space-between; font-size: 14px; color: #555; }
  .vad-key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: -1px; }
</style></head>
<body>
<div id="vad-top">
  <video id="vad-video" width="__WIDTH__" height="__HEIGHT__" playsinline muted preload="auto"></video>
  <div id="vad-side">
    <button id="vad-play" type="button">&#9654; Play</button>
    <label class="vad-check"><input type="checkbox" id="vad-heatmap" checked> Heatmap overlay</label>
    <label class="vad-check"><input type="checkbox" id="vad-loop" checked> Loop</label>
    <div id="vad-status">frame 0</div>
    <div id="vad-frame-verdict">&nbsp;</div>
    <div id="vad-score"></div>
  </div>
</div>
<input type="range" id="vad-frame" min="0" value="0" step="1" aria-label="Frame">
<svg id="vad-timeline" viewBox="0 0 1000 100" preserveAspectRatio="none" height="__TIMELINE__"></svg>
<div id="vad-axis"><span id="vad-t0">0 s</span>
  <span><span class="vad-key" style="background:rgba(214,39,40,.35)"></span>alert
  <span class="vad-key" style="background:#e69f00"></span>ground truth
  <span class="vad-key" style="border-top:2px dashed #555;height:0"></span>threshold</span>
  <span id="vad-t1"></span></div>
<script>
const D = __DATA__;
const n = D.values.length, fps = D.fps;
const video = document.getElementById("vad-video"), slider = document.getElementById("vad-frame");
const svg = document.getElementById("vad-timeline"), NS = "http://www.w3.org/2000/svg";
const lo = Math.min(...D.values, D.threshold), hi = Math.max(...D.values, D.threshold);
const X = i => (n > 1 ? i / (n - 1) : 0) * 1000, Y = v => 92 - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * 84;
function el(tag, attrs) { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); svg.appendChild(e); return e; }
const half = n > 1 ? 500 / (n - 1) : 500;
for (const [a, b] of D.events) el("rect", {x: X(a) - half, y: 0, width: X(b) - X(a) + 2 * half, height: 100, fill: "rgba(214,39,40,0.22)"});
if (D.labels) { let s = -1; for (let i = 0; i <= n; i++) { const on = i < n && D.labels[i];
  if (on && s < 0) s = i; if (!on && s >= 0) { el("rect", {x: X(s) - half, y: 94, width: X(i - 1) - X(s) + 2 * half, height: 6, fill: "#e69f00"}); s = -1; } } }
el("line", {x1: 0, x2: 1000, y1: Y(D.threshold), y2: Y(D.threshold), stroke: "#555", "stroke-dasharray": "6 4", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke"});
el("polyline", {points: D.values.map((v, i) => X(i) + "," + Y(v)).join(" "), fill: "none", stroke: "#1f77b4", "stroke-width": 2, "vector-effect": "non-scaling-stroke"});
const head = el("line", {id: "vad-playhead", x1: 0, x2: 0, y1: 0, y2: 100, stroke: "#111", "stroke-width": 2.5, "vector-effect": "non-scaling-stroke"});
slider.max = Math.max(n - 1, 0);
document.getElementById("vad-t1").textContent = (n / fps).toFixed(1) + " s";
let shown = -1;
function frameAt(t) { return Math.max(0, Math.min(n - 1, Math.floor(t * fps + 1e-4))); }
function show(i) {
  if (i === shown) return; shown = i;
  head.setAttribute("x1", X(i)); head.setAttribute("x2", X(i)); slider.value = i;
  const flagged = D.values[i] >= D.threshold;
  document.getElementById("vad-status").textContent = "frame " + i + " · " + (i / fps).toFixed(1) + " s";
  const verdict = document.getElementById("vad-frame-verdict");
  verdict.textContent = flagged ? "ANOMALOUS" : "normal"; verdict.className = flagged ? "alert" : "clear";
  document.getElementById("vad-score").textContent = "score " + D.values[i].toFixed(D.unit ? 2 : 3) + D.unit + " (threshold " + D.threshold.toFixed(D.unit ? 2 : 3) + D.unit + ")"
    + (D.labels ? " · ground truth: " + (D.labels[i] ? "anomalous" : "normal") : "");
}
function seek(i) { i = Math.max(0, Math.min(n - 1, i)); try { video.currentTime = (i + 0.5) / fps; } catch (e) {} show(i); }
function tick() { if (!video.paused) show(frameAt(video.currentTime)); requestAnimationFrame(tick); }
video.src = D.annotated; video.loop = true;
video.addEventListener("seeked", () => show(frameAt(video.currentTime)));
video.addEventListener("play", () => { document.getElementById("vad-play").innerHTML = "&#10074;&#10074; Pause"; });
video.addEventListener("pause", () => { document.getElementById("vad-play").innerHTML = "&#9654; Play"; });
document.getElementById("vad-play").addEventListener("click", () => { video.paused ? video.play() : video.pause(); });
document.getElementById("vad-loop").addEventListener("change", e => { video.loop = e.target.checked; });
document.getElementById("vad-heatmap").addEventListener("change", e => {
  const t = video.currentTime, playing = !video.paused;
  video.src = e.target.checked ? D.annotated : D.plain;
  video.addEventListener("loadedmetadata", () => { video.currentTime = t; if (playing) video.play(); }, {once: true});
});
slider.addEventListener("input", () => { video.pause(); seek(parseInt(slider.value)); });
svg.addEventListener("click", e => { const r = svg.getBoundingClientRect(); seek(Math.round((e.clientX - r.left) / r.width * (n - 1))); });
video.addEventListener("loadedmetadata", () => seek(D.start), {once: true});
show(D.start); requestAnimationFrame(tick);
// Fit the browser window (a 1280 x 720 projector too): the video at the largest integer upscale (or a
// downscale) that leaves the slider, the timeline and its axis on screen; the frame's own height follows.
function fit() {
  let frame = null, room = 0;
  try { frame = window.frameElement; room = window.parent.innerHeight - frame.getBoundingClientRect().top - 12; }
  catch (e) { return; }
  if (!frame || room <= 0) return;
  svg.setAttribute("height", room < 700 ? Math.min(D.timeline, 100) : D.timeline);
  const below = document.getElementById("vad-axis").getBoundingClientRect().bottom - slider.getBoundingClientRect().top + 12;
  const side = document.getElementById("vad-side");
  const maxH = Math.min(D.frame[0], room - below), maxW = Math.min(D.frame[1], document.body.clientWidth - side.offsetWidth - 28);
  let f = Math.min(maxH / D.frame[0], maxW / D.frame[1]);
  const native = video.videoWidth ? [video.videoHeight, video.videoWidth] : null;
  if (native) {  // crisp: an integer multiple of the clip's own size when one fits
    const up = Math.min(maxH / native[0], maxW / native[1]);
    video.width = Math.round(native[1] * (up >= 1 ? Math.floor(up) : up)); video.height = Math.round(native[0] * (up >= 1 ? Math.floor(up) : up));
  } else {
    f = Math.max(Math.min(f, 1), 0.1);
    video.width = Math.round(D.frame[1] * f); video.height = Math.round(D.frame[0] * f);
  }
  const height = Math.ceil(document.getElementById("vad-axis").getBoundingClientRect().bottom + 4) + "px";
  frame.style.height = height;
  if (frame.parentElement) {  // Streamlit's box keeps the first height else
    for (const k of ["height", "min-height", "max-height", "flex-basis"]) frame.parentElement.style.setProperty(k, height, "important");
  }
}
fit(); video.addEventListener("loadedmetadata", fit);
try { window.parent.addEventListener("resize", fit); } catch (e) {}
setTimeout(fit, 300);
</script>
</body></html>
"""
