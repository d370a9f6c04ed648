"""`vadlab watch` end to end on loopback, with real components: FFmpeg (Debian's `ffmpeg`) serves a
synthetic anomalous clip as a live HTTP or UDP stream, or writes a recording that `watch --follow`
reads while it grows; a stream that dies and a URL that never answers end with one line of error.

Every test starts its own servers on 127.0.0.1 and stops them. Without an `ffmpeg` binary the
FFmpeg tests skip with a message (`.ci/run` installs it); the frame-folder tests need none.
No test waits on the wall clock: each step waits for what watch prints (a status line, an event,
a reconnect), so a loaded machine makes them slower, never different.
"""
from __future__ import annotations

import json
import os
import queue
import re
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

ROOT = Path(__file__).resolve().parents[2]
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


class Lines:
    """A process's stdout and stderr read line by line in threads, so a test can wait for what it
    prints on either without blocking on the other."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        for name in ("stdout", "stderr"):
            threading.Thread(target=self._pump, args=(getattr(process, name), name), daemon=True).start()

    def _pump(self, pipe, name: str) -> None:
        for line in pipe:
            self.lines.put((name, line))
        self.lines.put((name, None))

    def wait_for(self, test, timeout: float = 120) -> str:
        """The first line (from now on) for which test(line) holds."""
        deadline = time.monotonic() + timeout
        ended = 0
        while ended < 2:
            try:
                _, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"nothing matched within {timeout} s; last lines: {self.seen[-5:]}") from None
            if line is None:
                ended += 1
                continue
            self.seen.append(line)
            if test(line):
                return line
        raise AssertionError(f"watch exited with {self.process.wait()} first; last lines: {self.seen[-8:]}")

    def rest(self, timeout: float = 120) -> tuple[int, list[dict], str]:
        """Wait for the process to end: (exit status, every JSON line it printed, all of stderr)."""
        code = self.process.wait(timeout=timeout)
        ended = 0
        while ended < 2:
            _, line = self.lines.get(timeout=timeout)
            if line is None:
                ended += 1
            else:
                self.seen.append(line)
        return (code, [json.loads(l) for l in self.seen if l.startswith("{")],
                "".join(l for l in self.seen if not l.startswith("{")))


def received(line: str) -> int:
    """Frames in, from a status line ("status: [ 1.0 s] in 23 (...) ..."), else -1."""
    found = re.search(r"^status: \[[ 0-9.]+ s\] in (\d+) ", line)
    return int(found.group(1)) if found else -1


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
                        "--scores", str(scores), "--end-on-eof")  # the clip is served once: its end is the end
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
    lines = Lines(watch)
    sender = None
    try:
        lines.wait_for(lambda line: "watching" in line)
        sender = start_ffmpeg("-re", "-i", str(clip), *ENCODE, "-f", "mpegts", url)
        lines.wait_for(lambda line: received(line) >= 10)
        sender.kill()  # the camera dies mid-stream
        code, lines, err = lines.rest()
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
        watch = start_watch("--source", url, "--timeout", "1", "--retries", "2", "--backoff", "0.2")
        try:
            code, lines, err = finish(watch)
        finally:
            stop(watch)
    assert code == 2, err
    assert_one_line_error(err, url, "no answer", "nothing within 1 s", "3 attempts")
    assert lines[-1]["received"] == 0


@needs_ffmpeg
def test_watch_follows_a_recording_while_it_is_written(clip, anomaly, tmp_path):
    recording = tmp_path / "recording.ts"
    watch = start_watch("--source", str(recording), "--follow", "--timeout", "3")
    lines = Lines(watch)
    writer = None
    try:
        lines.wait_for(lambda line: "watching" in line)  # the file does not exist yet: watch waits for it
        writer = start_ffmpeg("-readrate", "2", "-i", str(clip), *ENCODE, "-flush_packets", "1", "-f", "mpegts",
                              str(recording))
        code, lines, err = lines.rest()
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

    # however slowly the recorder writes on a loaded machine, watch waits for more (--timeout 600)
    # and ends on Ctrl-C once it has judged every frame
    watch = start_watch("--source", str(folder), "--follow", "--timeout", "600", "--clips", str(tmp_path / "clips"))
    lines = Lines(watch)
    recorder = threading.Thread(target=record)
    try:
        lines.wait_for(lambda line: "watching" in line)
        recorder.start()
        lines.wait_for(lambda line: f"judged {len(frames)} (" in line)
        watch.send_signal(signal.SIGINT)
        code, lines, err = lines.rest()
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


def test_ctrl_c_ends_watch_cleanly_with_a_summary(clip, tmp_path):
    """A recording that stops growing for longer than the test lasts (its 12 first frames, then
    nothing within --timeout): watch can only end by Ctrl-C, sent once it has every frame."""
    from PIL import Image

    from vadlab.data.video import read_video

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(read_video(clip).frames[:12]):
        Image.fromarray(frame).save(folder / f"{i}.png")
    watch = start_watch("--source", str(folder), "--follow", "--timeout", "600")
    lines = Lines(watch)
    try:
        lines.wait_for(lambda line: received(line) == 12)
        watch.send_signal(signal.SIGINT)
        code, lines, err = lines.rest(timeout=60)
    finally:
        stop(watch)
    assert code == 0 and "Traceback" not in err, err
    summary = lines[-1]
    assert summary["ended"] == "stopped (Ctrl-C)" and summary["received"] == 12, summary
    assert "summary: stopped (Ctrl-C)" in err


def test_watch_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["watch", "--checkpoint", str(CHECKPOINT), "--source", str(tmp_path / "gone.mp4"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: FileNotFoundError: gone.mp4: no such file") and "--follow" in err


@needs_ffmpeg
def test_a_live_server_that_goes_away_and_comes_back_is_reconnected_and_scored(clip, tmp_path):
    """FFmpeg's HTTP server (the camera) is stopped mid-stream, which the client sees as a clean end
    of stream, and started again: watch logs the loss and the reconnect, counts the frames lost
    while the server was away, keeps numbering frames on the stream's clock and scores what
    comes after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.ts"

    def serve() -> subprocess.Popen:
        return start_ffmpeg("-readrate", "2", "-i", str(clip), *ENCODE, "-f", "mpegts", "-listen", "1", url)

    scores = tmp_path / "scores.jsonl"
    server = serve()
    watch = start_watch("--source", url, "--timeout", "3", "--backoff", "0.25", "--scores", str(scores))
    lines = Lines(watch)
    try:
        lines.wait_for(lambda line: received(line) >= 20)
        server.terminate()  # the server goes away mid-stream
        server.wait(timeout=10)
        lost = json.loads(lines.wait_for(lambda line: '"event": "lost"' in line))
        server = serve()  # and comes back
        back = json.loads(lines.wait_for(lambda line: '"event": "reconnected"' in line))
        lines.wait_for(lambda line: '"event": "lost"' in line)  # the second server played the clip to its end
        watch.send_signal(signal.SIGINT)
        code, printed, err = lines.rest()
    finally:
        stop(watch, server)
    assert code == 0 and "Traceback" not in err, err
    assert lost["source"] == url and lost["after_frame"] >= 19 and back["lost_frames"] >= 1
    assert back["next_frame"] == lost["after_frame"] + 1 + back["lost_frames"]
    summary = printed[-1]
    assert summary["reconnects"] >= 1 and summary["lost"] >= back["lost_frames"], summary
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    frames = [r["frame"] for r in rows]
    assert frames == sorted(frames) and back["next_frame"] in frames and lost["after_frame"] in frames
    assert not set(range(lost["after_frame"] + 1, back["next_frame"])) & set(frames)  # never arrived: no row
    after = [r for r in rows if r["frame"] >= back["next_frame"]]
    assert len(after) >= 60 and after[0]["gap"] == back["lost_frames"], after[:2]  # the second run was scored
