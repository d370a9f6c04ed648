"""The Live page: with AppTest (no browser) against a real stream that FFmpeg serves on loopback, and
in a real Chromium whose fake camera plays an anomalous clip into streamlit-webrtc.

The AppTest needs Debian's `ffmpeg`; the browser test needs /usr/bin/chromium, Playwright and
streamlit-webrtc. Each skips with a message when what it needs is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, streamlit_server  # the shared browser helpers

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "app_pages" / "live.py"
FFMPEG = shutil.which("ffmpeg")

@pytest.fixture(scope="module")
def anomaly(samples_dir) -> tuple[int, int]:
    labels = np.flatnonzero(json.loads((samples_dir / "testing" / "labels.json").read_text())["test_01"])
    return int(labels[0]), int(labels[-1])


def choose_model(at: AppTest, name: str = "conv_ae_synthetic") -> None:
    picker = at.selectbox(key="live.checkpoint")
    picker.select_index(next(i for i, label in enumerate(picker.options) if label.startswith(name))).run()


def test_live_page_refuses_urls_that_read_the_servers_disk():
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    at.text_input(key="live.url").input("file:///etc/passwd").run()
    assert any("file:// streams are not allowed" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "live.start"]  # the page stops before Start


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:22", "udp://@:5000", "http://[::1]:8501/", "rtsp://10.0.0.7/cam"])
def test_live_page_served_to_others_refuses_loopback_and_private_hosts(url, monkeypatch):
    """Streamlit binds every interface by default: a browser user must not make the server connect
    to its own ports or the private network, unless VADLAB_STREAM_HOSTS allows the host."""
    monkeypatch.delenv("VADLAB_STREAM_HOSTS", raising=False)
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    at.text_input(key="live.url").input(url).run()
    assert any("loopback or private address" in e.value and "VADLAB_STREAM_HOSTS" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert not [b for b in at.button if b.key == "live.start"]
    monkeypatch.setenv("VADLAB_STREAM_HOSTS", "127.0.0.1,::1,10.0.0.0/8,192.168.1.20")
    at.run()
    if url.startswith("udp://@"):  # no host at all: only "*" or serving to localhost allows it
        assert any("not in the allowed stream hosts" in e.value for e in at.error)
    else:
        assert not at.error and [b for b in at.button if b.key == "live.start"], [e.value for e in at.error]


def serve(clip: Path, url: str) -> subprocess.Popen:
    """FFmpeg as a camera's HTTP server: the clip at twice its 10 fps, once a client connects."""
    return subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-readrate", "2", "-i", str(clip),
                             "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10",
                             "-f", "mpegts", "-listen", "1", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def poll(at: AppTest, done, timeout: float = 90) -> list[str]:
    """Rerun the page until done(status caption) holds; the captions seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        status = next((c.value for c in at.caption if " · " in c.value and "frames" in c.value), "")
        seen.append(status)
        if done(status):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"the page never got there; captions: {seen[-3:]}")


@pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg binary (apt-get install ffmpeg): it serves the live stream")
def test_live_page_scores_a_stream_url_as_it_plays_and_reconnects_it(samples_dir, anomaly, monkeypatch):
    """The stream plays and is scored; when its server goes away the page says it is reconnecting
    (a live source does not end); Stop says so; the Reconnect button opens it again."""
    monkeypatch.setenv("VADLAB_STREAM_HOSTS", "127.0.0.1")  # the test's own FFmpeg server, on loopback
    clip = samples_dir / "testing" / "test_01.mp4"
    url = f"http://127.0.0.1:{free_port()}/live.ts"
    server = serve(clip, url)
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    try:
        choose_model(at)
        at.text_input(key="live.url").input(url).run()
        at.button(key="live.start").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        seen = poll(at, lambda status: "frames in 120" in status and "reconnecting" in status)
        # while it played, the page showed the frames it was scoring, more of them on each refresh
        counts = [int(s.split("scored ")[1].split(",")[0]) for s in seen if "scored " in s]
        assert len(set(counts)) >= 2, seen
        assert any("the stream was lost" in w.value for w in at.warning)  # the banner says why nothing comes
        assert at.get("image") and at.get("plotly_chart")  # current frame with its heatmap, rolling timeline
        assert any("Last anomaly" in w.value or "Anomaly alert" in w.value for w in list(at.warning) + list(at.error))
        events = at.dataframe[0].value
        closed = events[events["state"] == "closed"]
        assert any(s <= anomaly[1] and e >= anomaly[0] for s, e in zip(closed["start"], closed["end"])), events
        at.button(key="live.stop").click().run()
        status = poll(at, lambda status: "ended" in status)[-1]
        assert "ended (stopped with the Stop button)" in status and "frames in 120" in status, status
        assert any("the stream is over" in w.value and "Stop button" in w.value for w in at.warning)
        clips = [b.label for b in at.get("download_button")]  # one per closed event, in the table's order
        events = at.dataframe[0].value
        assert clips == [f"Clip of the event at frames {s}-{e}" for s, e in zip(events["start"], events["end"])], \
            (clips, events)
        server.wait(timeout=30)
        server = serve(clip, url)  # the camera is back: Reconnect opens it again
        at.button(key="live.reconnect").click().run()
        poll(at, lambda status: "live" in status and "frames in " in status and "frames in 0," not in status)
    finally:
        if at.button(key="live.stop") and not at.button(key="live.stop").disabled:
            at.button(key="live.stop").click().run()
        server.kill()
        server.wait(timeout=10)


# ------------------------------------------------------------------------------------- real browser
def write_y4m(path: Path, frames: np.ndarray, fps: int) -> Path:
    """uint8 RGB frames (T, H, W, 3), H and W even -> a YUV4MPEG2 4:2:0 file (Chromium's fake camera
    plays it in a loop). Full-range BT.601 (JPEG) YCbCr, chroma averaged over 2x2 blocks."""
    from PIL import Image

    t, h, w, _ = frames.shape
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            ycc = np.asarray(Image.fromarray(frame).convert("YCbCr"), dtype=np.float32)  # (H, W, 3)
            chroma = ycc[:, :, 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))  # (H/2, W/2, 2)
            fh.write(b"FRAME\n")
            fh.write(ycc[:, :, 0].round().astype(np.uint8).tobytes())
            fh.write(chroma[:, :, 0].round().astype(np.uint8).tobytes())
            fh.write(chroma[:, :, 1].round().astype(np.uint8).tobytes())
    return path


@pytest.fixture
def live_server(tmp_path, samples_dir):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); the browser test never downloads one")
    pytest.importorskip("playwright.sync_api", reason="the Playwright Python package is not installed")
    pytest.importorskip("streamlit_webrtc", reason="streamlit-webrtc is not installed (pip install streamlit-webrtc)")
    checkpoints = tmp_path / "checkpoints"  # one model in the zoo: the picker's default
    checkpoints.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(ROOT / "checkpoints" / f"conv_ae_synthetic{suffix}", checkpoints)
    with streamlit_server(tmp_path, samples_dir, checkpoints, OMP_NUM_THREADS="1") as url:
        yield url


@pytest.mark.browser
def test_live_page_watches_the_browsers_fake_camera_and_alerts(live_server, samples_dir, tmp_path):
    """Chromium's fake camera plays the anomalous test clip (looped); the Live page receives it over
    WebRTC, the timeline grows and the alert banner appears when the anomaly plays."""
    from playwright.sync_api import expect, sync_playwright

    from vadlab.data.video import read_video

    camera = write_y4m(tmp_path / "camera.y4m", read_video(samples_dir / "testing" / "test_01.mp4").frames, fps=10)
    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={camera}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            page.goto(f"{live_server}/live")
            expect(page.get_by_role("heading", name="Live")).to_be_visible()
            page.get_by_text("This browser's webcam").click()
            start = page.frame_locator("iframe[title*='streamlit_webrtc']").get_by_role("button", name="START")
            start.click()
            status = page.get_by_text("frames in").first
            expect(status).to_be_visible()
            first = int(status.inner_text().split("frames in ")[1].split(",")[0])
            expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the rolling timeline
            expect(page.get_by_text("Anomaly alert").or_(page.get_by_text("Last anomaly")).first).to_be_visible()
            later = int(page.get_by_text("frames in").first.inner_text().split("frames in ")[1].split(",")[0])
            assert later > first
            page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
            if os.environ.get("VADLAB_UPDATE_SCREENSHOTS") == "1":
                (ROOT / "docs").mkdir(exist_ok=True)
                page.screenshot(path=str(ROOT / "docs" / "live.png"))
            page.frame_locator("iframe[title*='streamlit_webrtc']").get_by_role("button", name="STOP").click()
        finally:
            browser.close()
