"""Live sources (`vadlab.data.sources`): a real-time replay paced by its clock, the stream host
policy, the webcam's callback source. `vadlab watch` drives URLs, cameras and followed recordings
end to end in test_watch.py."""
from __future__ import annotations

import numpy as np
import pytest

from test_stream import clip  # noqa: F401  (the shared sample clip)
from vadlab.data.sources import FileSource


def test_a_realtime_replay_is_paced_by_its_clock_so_tests_never_wait(clip):
    """On a ManualClock a 12-s replay at 10 fps is handed over at once, each frame stamped with the
    time a real replay would hand it over: tests of live pacing need no wall clock."""
    from vadlab.data.sources import ManualClock

    clock = ManualClock(start=100.0)
    source = FileSource(clip, realtime=True, clock=clock)
    arrivals = [f.arrival for f in source.frames()]
    assert source.live and len(arrivals) == 120
    np.testing.assert_allclose(arrivals, 100.0 + np.arange(120) / 10.0, atol=1e-9)


def test_stream_host_policy_keeps_the_server_off_its_own_ports_and_network(monkeypatch):
    from vadlab.data.sources import StreamError, StreamHostPolicy

    served = StreamHostPolicy()  # the app bound to every interface, no VADLAB_STREAM_HOSTS
    for url in ("tcp://127.0.0.1:22", "udp://@:5000", "http://localhost:8501/", "rtsp://10.0.0.7/cam",
                "http://[::1]/", "rtsp://169.254.1.1/", "udp://0.0.0.0:9"):
        with pytest.raises(StreamError, match="loopback or private address.*VADLAB_STREAM_HOSTS"):
            served.check(url)
    assert served.check("rtsp://8.8.8.8/live") and served.check("udp://239.0.0.1:5000")  # public, multicast
    assert StreamHostPolicy(allow_private=True).check("tcp://127.0.0.1:22")  # served to localhost only
    monkeypatch.setenv("VADLAB_STREAM_HOSTS", "10.0.0.0/8, Cam.Example.Org")
    listed = StreamHostPolicy.from_environment(local_only_server=True)
    assert listed.allowed == ("10.0.0.0/8", "cam.example.org")
    assert listed.check("rtsp://10.20.30.40/s") and listed.check("rtsp://cam.example.org/s")
    for url in ("tcp://127.0.0.1:22", "http://8.8.8.8/"):  # a list is exact, even on localhost
        with pytest.raises(StreamError, match="not in the allowed stream hosts"):
            listed.check(url)


def test_the_webcam_source_counts_the_frames_it_has_to_let_go():
    """streamlit-webrtc's callback never waits: when 4 frames wait in the webcam source, the oldest
    goes, is counted as lost, and leaves a gap in the numbering (so no window spans it)."""
    from vadlab.data.sources import CallbackSource

    source = CallbackSource("webcam")
    for _ in range(6):
        source.put(np.zeros((8, 8, 3), dtype=np.uint8))
    frames = source.frames()
    assert source.lost == 2 and [next(frames).index for _ in range(4)] == [2, 3, 4, 5]
    source.close()


@pytest.mark.parametrize("how", ["truncated", "replaced"])
def test_a_followed_recording_truncated_or_replaced_ends_at_once_and_says_so(tmp_path, how):
    """`watch --follow` on a file that a recorder starts again: the reader must not carry on into the
    middle of the new recording (its demuxer would skip the new start) nor wait out the timeout."""
    import os

    from vadlab.data.sources import _GrowingReader

    class Following:
        closed = False

    path = tmp_path / "recording.ts"
    path.write_bytes(b"a" * 1000)
    reader = _GrowingReader(path, idle_timeout=600, source=Following())  # never reached: ends at once
    assert reader.read(4096) == b"a" * 1000
    if how == "truncated":
        path.write_bytes(b"b" * 10)  # cut in place (same inode), shorter than what was read
    else:
        (tmp_path / "new.ts").write_bytes(b"c" * 5000)
        os.replace(tmp_path / "new.ts", path)
    while reader.read(4096):
        pass
    assert reader.restarted == how and reader.ended
    reader.close()


def test_a_followed_recording_that_only_grows_is_read_to_its_end(tmp_path):
    from vadlab.data.sources import _GrowingReader

    class Following:
        closed = False

    path = tmp_path / "recording.ts"
    path.write_bytes(b"a" * 1000)
    source = Following()
    reader = _GrowingReader(path, idle_timeout=600, source=source)
    assert reader.read(4096) == b"a" * 1000
    with open(path, "ab") as recorder:
        recorder.write(b"a" * 500)
    assert reader.read(4096) == b"a" * 500 and reader.restarted is None
    source.closed = True  # the watcher stops
    assert reader.read(4096) == b"" and reader.restarted is None
    reader.close()
