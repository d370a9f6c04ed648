"""The streaming scorer (`vadlab.stream`, `vadlab.scoring.WindowScorer`): the same scores as a
whole-clip pass, events as `find_events` finds them, verdicts equal to `vadlab score`'s with the
centered smoothing, running statistics without a calibration, the drop policy, and `vadlab score`
on a clip longer than any in-memory cap, with memory that does not grow with its length."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vadlab import api
from vadlab.data.video import FileSource, FrameSource, SourceFrame, iter_video, read_video
from vadlab.metrics import find_events, smooth_scores
from vadlab.scoring import score_frame_iter, score_frames
from vadlab.stream import (CausalSmoother, CenteredSmoother, EventClips, EventTracker, FrameQueue, LiveStream,
                           StreamJudge, StreamSettings, StreamSettingsError, score_file)

ROOT = Path(__file__).resolve().parents[1]
CONV_AE = ROOT / "checkpoints" / "conv_ae_synthetic"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads spin against each other and
    score several times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def loaded():
    return api.load(CONV_AE, device="cpu")


@pytest.fixture(scope="module")
def clip(samples_dir) -> Path:
    return samples_dir / "testing" / "test_01.mp4"


def test_event_tracker_is_find_events_online():
    rng = np.random.default_rng(0)
    for _ in range(200):
        values = rng.random(int(rng.integers(1, 50)))
        min_length, merge_gap = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        tracker = EventTracker(min_length, merge_gap)
        updates = [u for i, x in enumerate(values) for u in tracker.push(i, x, x >= 0.6)] + tracker.finish()
        offline = find_events(values, 0.6, min_length=min_length, merge_gap=merge_gap)
        assert [u.event for u in updates if u.kind == "closed"] == offline
        opened = [u for u in updates if u.kind == "opened"]
        assert [u.event.start for u in opened] == [e.start for e in offline]
        # an event opens the moment its run reaches min_length frames (merged gaps count), never later
        assert all(u.event.length == min_length for u in opened) if merge_gap == 0 else \
            all(u.event.length >= min_length for u in opened)


def test_centered_smoothing_is_the_offline_gaussian_and_causal_adds_no_delay():
    rng = np.random.default_rng(1)
    for sigma in (0.5, 1.0, 3.0):
        for n in (1, 2, 9, 40):
            values = rng.random(n)
            smoother = CenteredSmoother(sigma)
            out = [o for i, x in enumerate(values) for o in smoother.push(i, x)] + smoother.flush()
            assert [i for i, _ in out] == list(range(n))
            np.testing.assert_allclose([x for _, x in out], smooth_scores(values, sigma), rtol=0, atol=1e-12)
    causal = CausalSmoother(1.0)
    assert causal.push(0, 1.0) == [(0, 1.0)] and causal.push(1, 0.0)[0][1] == pytest.approx(np.exp(-1.0))


def test_streamed_scores_equal_the_whole_clip_pass(loaded, clip):
    """One scoring path: chunks of any size, batches of any size and the chunked file decoder
    give the scores a whole-clip pass gives."""
    video = read_video(clip)
    frames = api.model_frames(loaded.model, video)
    whole = score_frames(loaded.model, frames, "window", "mse", keep_maps=True)
    chunked = score_frame_iter(loaded.model, iter(frames.split(7)), "window", "mse", keep_maps=True)
    for field in ("scores", "raw", "scored", "error_maps", "outputs"):
        assert np.array_equal(getattr(whole, field), getattr(chunked, field)), field
    assert whole.pooled.keys() == chunked.pooled.keys() and all(
        np.array_equal(whole.pooled[k], chunked.pooled[k]) for k in whole.pooled)
    from_file = score_file(loaded, clip)  # what `vadlab score` uses
    assert np.array_equal(from_file.scores, whole.scores) and from_file.fps == video.info.fps
    small_batches = score_frames(loaded.model, frames, "window", "mse", batch_size=3, keep_maps=False)
    np.testing.assert_allclose(small_batches.scores, whole.scores, rtol=1e-5)
    info, chunks = iter_video(clip)
    assert sum(c.shape[0] for c in chunks) == video.n_frames == info.n_frames


def test_live_verdicts_with_centered_smoothing_equal_vadlab_score(loaded, clip):
    offline = api.verdict(loaded, score_file(loaded, clip))
    stream = LiveStream(loaded, FileSource(clip), StreamSettings(smoothing="centered", batch_size=5))
    verdicts, events = [], []
    for update in stream.run():
        verdicts += update.verdicts
        events += update.events
    assert stream.error is None and stream.drop_policy == "block"
    assert [v.index for v in verdicts] == list(range(len(offline.values)))
    np.testing.assert_allclose([v.value for v in verdicts], offline.values, rtol=0, atol=1e-9)
    assert [v.flagged for v in verdicts] == offline.flagged.tolist()
    assert [e.event for e in events if e.kind == "closed"] == offline.events and offline.events
    assert [v.scored for v in verdicts] == [i >= loaded.model.config.window - 1 for i in range(len(verdicts))]
    assert stream.judge.calibrated and stream.stats().dropped == 0


def test_without_calibration_running_statistics_say_so(loaded, clip):
    judge = StreamJudge(loaded, StreamSettings(warmup=20), fps=10.0, calibration=None)
    assert not judge.calibrated and "running statistics" in judge.notes[0]
    assert "running statistics" in judge.scale_description
    _, chunks = iter_video(clip)
    frames = [SourceFrame(i, image, time.monotonic()) for i, image in enumerate(np.concatenate(list(chunks)))]
    verdicts = []
    for start in range(0, len(frames), 8):
        verdicts += judge.push(frames[start:start + 8])[0]
    verdicts += judge.finish()[0]
    assert len(verdicts) == len(frames)
    assert not any(v.decided or v.flagged for v in verdicts[:20])  # the warm-up only learns
    assert all(v.decided for v in verdicts[21:])
    assert judge.threshold == pytest.approx(3.0902, abs=1e-3)  # Gaussian quantile for 1 in 1000


class _FastCamera(FrameSource):
    """A live source that hands over frames faster than any model scores them (a clip in memory,
    no pacing): the scorer must drop, not queue."""

    live = True

    def __init__(self, frames: np.ndarray):
        super().__init__("fast-camera")
        self.fps = 1000.0
        self.images = frames
        self.most_waiting = 0

    def frames(self):
        for i, image in enumerate(self.images):
            if self.closed:
                return
            yield SourceFrame(i, image, time.monotonic())


def test_a_live_source_that_outruns_the_scorer_drops_the_oldest_frames(loaded, clip):
    images = np.concatenate([read_video(clip).frames] * 3)  # 360 frames
    source = _FastCamera(images)
    stream = LiveStream(loaded, source, StreamSettings(queue_frames=4, batch_size=2))
    assert stream.drop_policy == "oldest"
    verdicts, waiting = [], []
    for update in stream.run():
        verdicts += update.verdicts
        waiting.append(update.stats.waiting)
    stats = stream.stats()
    assert stats.received == len(images) and stats.dropped > 0
    assert stats.dropped + len(verdicts) == len(images)  # every frame is either judged or counted as dropped
    assert max(waiting) <= 4
    indices = [v.index for v in verdicts]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)


def test_frame_queue_policies():
    queue = FrameQueue(2, drop_oldest=True)
    for i in range(5):
        queue.put(i)
    assert queue.take(10, 0.01) == [3, 4] and queue.dropped == 3 and queue.received == 5
    blocking = FrameQueue(1, drop_oldest=False)
    blocking.put(0)
    blocking.close()
    blocking.put(1)  # closed: returns at once instead of waiting
    assert blocking.take(5, 0.01) == [0] and blocking.finished


def test_settings_are_checked():
    with pytest.raises(StreamSettingsError, match="smoothing"):
        StreamSettings(smoothing="gaussian")
    with pytest.raises(StreamSettingsError, match="drop"):
        StreamSettings(drop="newest")


def test_event_clips_are_written_with_frames_before_and_after(loaded, clip, tmp_path):
    stream = LiveStream(loaded, FileSource(clip), StreamSettings(keep_frames=True, batch_size=4))
    clips = EventClips(tmp_path, fps=10.0, before_s=1.0, after_s=1.0)
    events = []
    for update in stream.run():
        clips.add(update.verdicts, update.events)
        events += [u.event for u in update.events if u.kind == "closed"]
    clips.flush()
    assert events and len(clips.written) == len(events)
    first = events[0]
    path = clips.written[0]
    assert path.name == f"event_{first.start:06d}-{first.end:06d}.mp4"
    written = read_video(path)
    assert written.n_frames == (first.end + 10) - (first.start - 10) + 1


def _write_long_clip(path: Path, n_frames: int) -> None:
    """An n_frames-long synthetic walkway clip, encoded frame by frame (never all in memory)."""
    import av

    from vadlab.data.synthetic import generate_clip

    base = generate_clip(seed=3, n_frames=200, anomalies=("fast_object",)).frames  # (200, 120, 160, 3)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(n_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(base[i % len(base)], format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


SCORE_WITH_PEAK_MEMORY = textwrap.dedent("""
    import resource, sys
    import torch
    torch.set_num_threads(1)
    from vadlab.cli import main
    code = main(sys.argv[1:])
    print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
    sys.exit(code)
""")


def _score_peak_rss(video: Path, out: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", SCORE_WITH_PEAK_MEMORY, "score", "--checkpoint", str(CONV_AE),
                           "--video", str(video), "--out", str(out), "--device", "cpu"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stderr.rsplit("peak_rss_kb ", 1)[1].split()[0])
    return peak, done.stderr


@pytest.mark.slow
def test_score_writes_every_row_of_a_long_clip_with_bounded_memory(tmp_path):
    """8000 frames (4x the app's cap; the CLI used to stop at 3000 without a word): every frame
    gets its row, and peak memory does not grow with the length (only the scores do: 8 bytes per
    frame and pooling)."""
    peaks = {}
    for n in (2000, 8000):
        video = tmp_path / f"long_{n}.mp4"
        _write_long_clip(video, n)
        out = tmp_path / f"long_{n}.csv"
        peaks[n], err = _score_peak_rss(video, out)
        rows = list(csv.DictReader(io.StringIO("\n".join(l for l in out.read_text().splitlines() if not l.startswith("#")))))
        assert len(rows) == n and int(rows[-1]["frame"]) == n - 1
        assert f"long_{n}: {n} frames" in err
    print(f"peak RSS: 2000 frames {peaks[2000] / 1024:.0f} MB, 8000 frames {peaks[8000] / 1024:.0f} MB")
    # 6000 more frames of 160x120 RGB would be 345 MB more; peaks vary by about +-50 MB from run to run
    # (decoder threads and their allocator arenas) whatever the length
    assert peaks[8000] - peaks[2000] < 100 * 1024, peaks
