"""`vadlab watch` end to end on loopback, with real components: FFmpeg (Debian's `ffmpeg`) serves a
synthetic anomalous clip as a live HTTP or UDP stream, or writes a recording that `watch --follow`
reads while it grows; a stream that dies and a URL that never answers end with one line of error.

Every test starts its own servers on 127.0.0.1 and stops them. Without an `ffmpeg` binary the
FFmpeg tests skip with a message (`.ci/run` installs it); the frame-folder test needs none.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vadlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "conv_ae_synthetic"
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg binary (apt-get install ffmpeg; .ci/run does): "
                                                        "the live-stream tests need it to serve streams")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def clip(samples_dir) -> Path:
    return samples_dir / "testing" / "test_01.mp4"


@pytest.fixture(scope="module")
def anomaly(samples_dir) -> tuple[int, int]:
    """First and last labelled anomalous frame of test_01."""
    labels = np.asarray(json.loads((samples_dir / "testing" / "labels.json").read_text())["test_01"])
    frames = np.flatnonzero(labels)
    return int(frames[0]), int(frames[-1])


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_watch(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vadlab", "watch", "--checkpoint", str(CHECKPOINT), "--device", "cpu",
                             "--status-every", "1", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def start_ffmpeg(*args: str) -> subprocess.Popen:
    return subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# re-encoded with a keyframe every 10 frames, as a camera does, so a receiver can start anywhere
ENCODE = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10"]


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, list[dict], str]:
    """(exit status, the JSON lines of stdout, stderr)."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, [json.loads(line) for line in out.splitlines() if line.strip()], err


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def wait_for_line(process: subprocess.Popen, text: str, timeout: float = 120) -> None:
    """Read the process's stderr until a line holds `text` (the lines read are lost)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stderr.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            raise AssertionError(f"watch exited with {process.returncode} before printing '{text}'")
    raise AssertionError(f"no '{text}' within {timeout} s")


def overlaps(event: dict, span: tuple[int, int]) -> bool:
    return event["start"] <= span[1] and event["end"] >= span[0]


def assert_one_line_error(err: str, *phrases: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], err
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


@needs_ffmpeg
def test_watch_an_http_stream_prints_its_anomaly_and_ends_cleanly(clip, anomaly, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.ts"
    # FFmpeg as the camera's HTTP server: it streams the clip (at twice its 10 fps) once a client connects
    server = start_ffmpeg("-readrate", "2", "-i", str(clip), *ENCODE, "-f", "mpegts", "-listen", "1", url)
    scores = tmp_path / "scores.jsonl"
    watch = start_watch("--source", url, "--timeout", "3", "--retries", "6", "--backoff", "0.25",
                        "--scores", str(scores))
    try:
        code, lines, err = finish(watch)
    finally:
        stop(watch, server)
    assert code == 0, err
    assert "Traceback" not in err and "status: " in err  # the live status line
    closed = [e for e in lines if e["event"] == "closed"]
    opened = [e for e in lines if e["event"] == "opened"]
    assert closed and len(opened) == len(closed), lines
    assert any(overlaps(e, anomaly) for e in closed), (closed, anomaly)
    assert all(e["scale"] == "calibrated" and e["source"] == url for e in closed)
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["ended"] == "the stream ended"
    assert summary["received"] == 120 and summary["judged"] + summary["dropped"] == 120
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert len(rows) == summary["judged"] and rows[-1]["frame"] == 119
    assert {"frame", "time_s", "score", "value", "threshold", "anomalous", "latency_ms"} <= set(rows[0])
    assert "summary: the stream ended; 120 frames in" in err


@needs_ffmpeg
def test_watch_a_udp_stream_that_dies_ends_with_one_line_error(clip):
    port = free_port(socket.SOCK_DGRAM)
    url = f"udp://127.0.0.1:{port}"
    watch = start_watch("--source", url, "--timeout", "2", "--retries", "1", "--backoff", "0.2")
    sender = None
    try:
        wait_for_line(watch, "watching")
        time.sleep(1.0)  # the reader binds the port
        sender = start_ffmpeg("-re", "-i", str(clip), *ENCODE, "-f", "mpegts", url)
        time.sleep(4.0)
        sender.kill()  # the camera dies mid-stream
        code, lines, err = finish(watch)
    finally:
        stop(watch, *(p for p in (sender,) if p is not None))
    assert code == 2, err
    line = assert_one_line_error(err, "StreamError", url, "stream lost after frame", "no data for 2 s",
                                 "1 reconnect attempt failed")
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["ended"] == "the stream failed" and summary["received"] > 0
    assert summary["reconnects"] == 1, line


def test_watch_a_url_that_never_answers_ends_with_one_line_error():
    """A server that accepts the connection and never says a word."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/live.ts"
        started = time.time()
        watch = start_watch("--source", url, "--timeout", "1", "--retries", "2", "--backoff", "0.2")
        try:
            code, lines, err = finish(watch)
        finally:
            stop(watch)
    assert code == 2, err
    assert_one_line_error(err, url, "no answer", "nothing within 1 s", "3 attempts")
    assert lines[-1]["received"] == 0 and time.time() - started < 60


@needs_ffmpeg
def test_watch_follows_a_recording_while_it_is_written(clip, anomaly, tmp_path):
    recording = tmp_path / "recording.ts"
    watch = start_watch("--source", str(recording), "--follow", "--timeout", "3")
    writer = None
    try:
        wait_for_line(watch, "watching")  # the file does not exist yet: watch waits for it
        writer = start_ffmpeg("-readrate", "2", "-i", str(clip), *ENCODE, "-flush_packets", "1", "-f", "mpegts",
                              str(recording))
        code, lines, err = finish(watch)
    finally:
        stop(watch, *(p for p in (writer,) if p is not None))
    assert code == 0, err
    summary = lines[-1]
    assert summary["ended"] == "the file stopped growing for 3 s", summary
    assert summary["received"] == 120 and summary["dropped"] == 0 and summary["judged"] == 120
    assert any(overlaps(e, anomaly) for e in lines if e["event"] == "closed"), lines


def test_watch_follows_a_folder_of_frames_as_they_land(clip, anomaly, tmp_path):
    """A recorder that writes one image per frame (each under a hidden name, then renamed)."""
    from PIL import Image

    from vadlab.data.video import read_video

    frames = read_video(clip).frames
    folder = tmp_path / "frames"
    folder.mkdir()

    def record() -> None:
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f".{i}.png")
            os.replace(folder / f".{i}.png", folder / f"{i}.png")
            time.sleep(0.02)

    watch = start_watch("--source", str(folder), "--follow", "--timeout", "2", "--clips", str(tmp_path / "clips"))
    recorder = threading.Thread(target=record)
    try:
        wait_for_line(watch, "watching")
        recorder.start()
        code, lines, err = finish(watch)
    finally:
        stop(watch)
        recorder.join()
    assert code == 0, err
    summary = lines[-1]
    assert summary["received"] == len(frames) == summary["judged"], summary
    closed = [e for e in lines if e["event"] == "closed"]
    assert any(overlaps(e, anomaly) for e in closed), lines
    clips = sorted((tmp_path / "clips").glob("event_*.mp4"))  # one annotated clip per event
    assert len(clips) == len(closed) and all(c.stat().st_size > 0 for c in clips)


def test_ctrl_c_ends_watch_cleanly_with_a_summary(clip):
    watch = start_watch("--source", str(clip), "--realtime")  # the file replayed at its 10 fps: 12 s
    try:
        wait_for_line(watch, "watching")
        time.sleep(3.0)
        watch.send_signal(signal.SIGINT)
        code, lines, err = finish(watch, timeout=60)
    finally:
        stop(watch)
    assert code == 0 and "Traceback" not in err, err
    summary = lines[-1]
    assert summary["ended"] == "stopped (Ctrl-C)" and 0 < summary["received"] < 120, summary
    assert "summary: stopped (Ctrl-C)" in err


def test_watch_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["watch", "--checkpoint", str(CHECKPOINT), "--source", str(tmp_path / "gone.mp4"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: FileNotFoundError: gone.mp4: no such file") and "--follow" in err
