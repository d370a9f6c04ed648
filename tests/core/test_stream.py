"""The streaming scorer (`vadlab.stream`, `vadlab.scoring.WindowScorer`): the same scores as a
whole-clip pass, events as `find_events` finds them, verdicts equal to `vadlab score`'s with the
centered smoothing, running statistics without a calibration, gaps, and `vadlab score` on a clip
longer than any in-memory cap, with memory that does not grow with its length. The threaded live
session's tests are in test_live.py, the sources' in test_sources.py, event clips' in test_export.py."""
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
from vadlab.data.sources import FileSource, SourceFrame
from vadlab.data.video import iter_video, read_video
from vadlab.live import LiveStream
from vadlab.metrics import find_events, smooth_scores
from vadlab.scoring import score_frame_iter, score_frames
from vadlab.stream import (CausalSmoother, CenteredSmoother, EventTracker, StreamJudge, StreamSettings,
                           StreamSettingsError, score_file)

ROOT = Path(__file__).resolve().parents[2]
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


def test_settings_are_checked():
    with pytest.raises(StreamSettingsError, match="smoothing"):
        StreamSettings(smoothing="gaussian")
    with pytest.raises(StreamSettingsError, match="drop"):
        StreamSettings(drop="newest")


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


# ------------------------------------------------------------------------------ gaps (issue 21)
def _frames_of(clip: Path, skip: set[int] = frozenset()) -> list[SourceFrame]:
    """The clip's frames as a live source hands them over, with the frame numbers in `skip` missing
    (dropped or lost: the numbering keeps the source's clock)."""
    images = read_video(clip).frames
    return [SourceFrame(i, image, float(i)) for i, image in enumerate(images) if i not in skip]


def _judge_all(judge: StreamJudge, frames: list[SourceFrame], chunk: int = 8) -> tuple[list, list]:
    verdicts, events = [], []
    for start in range(0, len(frames), chunk):
        v, e = judge.push(frames[start:start + chunk])
        verdicts += v
        events += e
    v, e = judge.finish()
    return verdicts + v, events + e


def test_a_gap_restarts_the_window_no_score_spike_and_one_event_across_it(loaded, clip):
    """Frames 60-69 (inside the anomaly) and 100-104 (normal) never arrive. No window spans a gap:
    every frame scored on a window of its own has the very score the whole-clip pass gives it, the
    first frames after a gap copy the first full window after it (as at the start of a clip), and
    the anomaly stays one event across its gap."""
    offline = score_file(loaded, clip).scores
    span = loaded.model.config.window  # conv_ae: the window's last frame is scored
    gaps = set(range(60, 70)) | set(range(100, 105))
    judge = StreamJudge(loaded, StreamSettings(threshold=1.0, batch_size=4), fps=10.0)
    verdicts, events = _judge_all(judge, _frames_of(clip, gaps))
    assert [v.index for v in verdicts] == [i for i in range(len(offline)) if i not in gaps]
    own = [v for v in verdicts if v.scored]
    np.testing.assert_allclose([v.score for v in own], offline[[v.index for v in own]], rtol=1e-5)
    for first, missing in ((70, 10), (105, 5)):  # after a gap: wait for span consecutive frames, copy that window
        after = [v for v in verdicts if first <= v.index < first + span - 1]
        assert not any(v.scored for v in after) and [v.gap for v in after] == [missing] + [0] * (span - 2)
        np.testing.assert_allclose([v.score for v in after], offline[first + span - 1], rtol=1e-5)
    assert max(v.score for v in verdicts if 70 <= v.index < 80) <= offline[60:80].max() * (1 + 1e-5)
    closed = [e.event for e in events if e.kind == "closed"]
    assert len(closed) == 1 and closed[0].start < 60 and closed[0].end > 69, closed
    assert judge.gaps == 2 and judge.skipped == 0 and judge.judged == len(offline) - len(gaps)


def test_frames_between_two_gaps_too_few_for_a_window_are_skipped_and_counted(loaded, clip):
    window = loaded.model.config.window
    gaps = set(range(40, 50)) | set(range(50 + window - 1, 60))  # frames 50 .. 50 + window - 2 stand alone
    judge = StreamJudge(loaded, StreamSettings(keep_frames=True), fps=10.0)
    verdicts, _ = _judge_all(judge, _frames_of(clip, gaps))
    alone = list(range(50, 50 + window - 1))
    assert judge.skipped == len(alone) and not {v.index for v in verdicts} & set(alone)
    skipped = judge.take_unjudged()
    assert [f.index for f in skipped] == alone and all(f.image is not None for f in skipped)
    assert judge.judged + judge.skipped == 120 - len(gaps)


def test_event_tracker_counts_judged_frames_so_a_gap_neither_ends_nor_opens_an_event():
    tracker = EventTracker(min_length=3, merge_gap=0)
    updates = []
    for index in (10, 11, 40, 41, 42):  # frames 12-39 were never judged
        updates += tracker.push(index, 5.0, True)
    updates += tracker.push(43, 0.0, False)
    assert [(u.kind, u.event.start, u.event.end) for u in updates] == [("opened", 10, 40), ("closed", 10, 42)]
    short = EventTracker(min_length=3)
    assert short.push(0, 5.0, True) == [] and short.push(50, 5.0, True) == []  # 2 judged frames: not yet an event
