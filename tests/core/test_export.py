"""Exports: H.264 videos decoded back with PyAV, annotation colours, scores CSV / JSON round trips,
event clips of a live stream (one per event, frames before and after, dropped frames included)."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from test_stream import _frames_of, clip, loaded, one_thread  # noqa: F401  (the shared model, clip, one thread)
from vadlab.data.sources import FileSource
from vadlab.data.video import read_video
from vadlab.export import (
    ANOMALOUS_RGB,
    CONTOUR_RGB,
    NORMAL_RGB,
    SCORE_COLUMNS,
    EventClips,
    annotate_frames,
    apply_colormap,
    format_score,
    scores_to_csv,
    scores_to_json,
    write_annotated_video,
    write_video,
)
from vadlab.live import LiveStream
from vadlab.outputs import FrameScores
from vadlab.stream import StreamJudge, StreamSettings

av = pytest.importorskip("av")


def decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])  # (T, H, W, 3)


def gradient_frames(n: int, height: int, width: int) -> np.ndarray:
    """Smooth grey ramps that move a little per frame (easy for H.264, so errors stay small)."""
    yy, xx = np.mgrid[0:height, 0:width]
    frames = [(40 + 3 * t + 150 * (xx / width) + 20 * (yy / height)) for t in range(n)]
    return np.repeat(np.stack(frames).astype(np.uint8)[..., None], 3, axis=-1)


def test_write_video_decodes_back_with_the_same_frames(tmp_path):
    frames = gradient_frames(8, 32, 48)
    path = write_video(tmp_path / "sub" / "clip.mp4", frames, fps=10.0)
    assert path.is_file() and path.suffix == ".mp4"
    decoded = decode(path)
    assert decoded.shape == (8, 32, 48, 3)
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 3
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(10.0)


def test_write_video_pads_odd_sizes_by_edge_replication(tmp_path):
    frames = gradient_frames(5, 31, 45)
    frames[:, :, -1] = 230  # a bright last column, so the padded column is recognisable
    decoded = decode(write_video(tmp_path / "odd.mp4", frames, fps=7.5))
    assert decoded.shape == (5, 32, 46, 3)
    assert np.abs(decoded[:, :31, :45].astype(int) - frames.astype(int)).mean() < 4
    assert decoded[:, :31, 45].mean() > 200  # the padding repeats the last column


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((0, 16, 16, 3), np.uint8), "empty"),
        (np.zeros((2, 16, 16), np.uint8), r"\(T, H, W, 3\)"),
        (np.zeros((2, 16, 16, 3), np.float32), "uint8"),
    ],
)
def test_write_video_rejects_bad_input_with_a_clear_message(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / "bad.mp4", frames, fps=10.0)
    assert not (tmp_path / "bad.mp4").exists()


def test_border_is_red_on_anomalous_frames_and_green_on_normal_ones():
    frames = np.full((2, 60, 80, 3), 128, np.uint8)
    out = annotate_frames(frames, np.array([0.9, 0.1]), threshold=0.5, show_text=False)
    assert out.shape == frames.shape and out.dtype == np.uint8
    for y, x in [(0, 0), (30, 0), (30, 79), (59, 40)]:
        assert tuple(out[0, y, x]) == ANOMALOUS_RGB
        assert tuple(out[1, y, x]) == NORMAL_RGB
    assert tuple(out[0, 30, 40]) == (128, 128, 128)  # the picture itself is untouched
    assert np.array_equal(frames, np.full_like(frames, 128))  # and the input is not modified


def test_heatmap_and_contour_follow_the_error_map():
    frames = np.full((2, 64, 64, 3), 100, np.uint8)
    error_maps = np.zeros((2, 16, 16), np.float32)  # model resolution, 4x smaller than the frames
    error_maps[:, 6:10, 6:10] = 1.0  # a hot square in the middle of both frames
    out = annotate_frames(frames, np.array([0.8, 0.2]), 0.5, error_maps, show_text=False)
    centre, corner = out[:, 32, 32].astype(int), out[:, 12, 50].astype(int)
    assert (centre[:, 0] > 150).all() and (centre != 100).any(axis=1).all()  # hot: bright, coloured
    assert (corner == 100).all()  # cold: unchanged
    is_contour = np.all(out == np.array(CONTOUR_RGB, np.uint8), axis=-1)[:, 8:56, 8:56]  # inside the border
    assert is_contour[0].sum() > 20  # anomalous frame: a red outline around the hot region
    assert is_contour[1].sum() == 0  # normal frame: none
    ys, xs = np.nonzero(is_contour[0])
    assert 16 <= ys.min() + 8 and ys.max() + 8 <= 48 and 16 <= xs.min() + 8 and xs.max() + 8 <= 48


def test_colormap_runs_dark_to_bright():
    colours = apply_colormap(np.linspace(0, 1, 11)).astype(float)  # (11, 3)
    luminance = colours @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luminance) > 0) and luminance[0] < 10 and luminance[-1] > 230


def test_annotate_rejects_mismatched_scores():
    with pytest.raises(ValueError, match="scores must be"):
        annotate_frames(np.zeros((3, 8, 8, 3), np.uint8), np.zeros(2), 0.5)


def test_the_burned_in_label_shows_the_score_the_app_shows():
    """The label writes `text_values` (the calibrated score), not the bar's [0, 1] position."""
    assert format_score(5.0712, True) == "5.07 σ" and format_score(0.73412, False) == "0.734"
    frames = gradient_frames(1, 96, 160)
    at_five = annotate_frames(frames, np.array([1.0]), 0.5, text_values=np.array([5.07]), calibrated=True)
    at_one = annotate_frames(frames, np.array([1.0]), 0.5, text_values=np.array([1.00]), calibrated=True)
    plain = annotate_frames(frames, np.array([1.0]), 0.5)  # default: the bar's value, 1.00
    assert not np.array_equal(at_five[:, :20], at_one[:, :20])  # the label differs, the rest is the same
    assert np.array_equal(at_five[:, 30:], at_one[:, 30:]) and not np.array_equal(plain[:, :20], at_five[:, :20])
    with pytest.raises(ValueError, match="text_values"):
        annotate_frames(frames, np.array([1.0]), 0.5, text_values=np.array([1.0, 2.0]))


def test_write_annotated_video(tmp_path):
    frames = gradient_frames(6, 48, 64)
    scores = np.linspace(0, 1, 6)
    path = write_annotated_video(tmp_path / "annotated.mp4", frames, scores, 0.5,
                                 error_maps=np.random.default_rng(0).random((6, 12, 16)), fps=10.0)
    decoded = decode(path)
    assert decoded.shape == (6, 48, 64, 3)
    left_border = decoded[:, 24, 0].astype(int)  # (T, 3)
    assert (left_border[-1, 0] > 150) and (left_border[-1, 1] < 100)  # last frame (score 1): red
    assert (left_border[0, 1] > 150) and (left_border[0, 0] < 100)  # first frame (score 0): green


def frame_scores(n: int = 5) -> FrameScores:
    scores = np.array([0.1, 0.4, 0.25, 0.9, 0.3])[:n]
    return FrameScores(video="clip.mp4", scores=scores, raw=-scores * 10, scored=np.arange(n) >= 2,
                       score_kind="psnr", fps=10.0)


def test_scores_csv_round_trip():
    fs = frame_scores()
    normalized = (fs.scores - fs.scores.min()) / np.ptp(fs.scores)
    text = scores_to_csv(fs, normalized_scores=normalized, threshold=0.5, labels=np.array([0, 0, 1, 1, 0]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(SCORE_COLUMNS) + ["label"]
    assert len(rows) == 5
    assert [int(r["frame"]) for r in rows] == list(range(5))
    assert [float(r["time_s"]) for r in rows] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert np.array_equal([float(r["score"]) for r in rows], fs.scores)  # exact round trip
    assert np.array_equal([float(r["raw"]) for r in rows], fs.raw)
    assert np.array_equal([float(r["normalized_score"]) for r in rows], normalized)
    assert [int(r["scored"]) for r in rows] == [0, 0, 1, 1, 1]
    assert [int(r["anomalous"]) for r in rows] == [int(v >= 0.5) for v in normalized]
    assert [int(r["label"]) for r in rows] == [0, 0, 1, 1, 0]


def test_scores_csv_without_threshold_or_labels_and_from_a_mapping():
    rows = list(csv.DictReader(io.StringIO(scores_to_csv({"scores": [2.0, 4.0, 3.0], "fps": 4.0}))))
    assert list(rows[0]) == list(SCORE_COLUMNS)
    assert [r["anomalous"] for r in rows] == ["", "", ""]
    assert [float(r["normalized_score"]) for r in rows] == [0.0, 1.0, 0.5]  # min-max by default
    assert [float(r["time_s"]) for r in rows] == [0.0, 0.25, 0.5]
    with pytest.raises(ValueError, match="3 frame scores"):
        scores_to_csv({"scores": [1.0, 2.0, 3.0], "raw": [1.0]})


def test_scores_json():
    fs = frame_scores()
    document = json.loads(scores_to_json(fs, threshold=0.5))
    assert document["video"] == "clip.mp4" and document["score_kind"] == "psnr" and document["fps"] == 10.0
    assert document["threshold"] == 0.5 and document["columns"] == list(SCORE_COLUMNS)
    assert len(document["frames"]) == 5
    assert [f["anomalous"] for f in document["frames"]] == [False, False, False, True, False]
    assert document["frames"][3]["score"] == 0.9 and document["frames"][3]["scored"] is True
    assert json.loads(scores_to_json(fs))["frames"][0]["anomalous"] is None


# ---- event clips of a live stream ---------------------------------------------------------------
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


def test_event_clips_one_per_event_named_as_the_table_with_every_frame_dropped_ones_included(loaded, clip, tmp_path):
    """Frames 64-67 are dropped (the queue hands them on without a verdict): each event still gets
    its own clip, named by its frame span as the events table shows it, written in order, holding
    every frame from 1 s before to 1 s after (the dropped ones drawn without a verdict)."""
    frames = _frames_of(clip)
    dropped = [f for f in frames if 64 <= f.index <= 67]
    judge = StreamJudge(loaded, StreamSettings(threshold=2.0, keep_frames=True, batch_size=4), fps=10.0)
    clips = EventClips(tmp_path, fps=10.0, before_s=1.0, after_s=1.0)
    closed = []
    kept = [f for f in frames if f not in dropped]
    for start in range(0, len(kept), 8):
        chunk = kept[start:start + 8]
        verdicts, events = judge.push(chunk)
        unjudged = [f for f in dropped if f.index < chunk[-1].index] if chunk[0].index <= 68 <= chunk[-1].index else []
        clips.add(verdicts, events, unjudged)
        closed += [u.event for u in events if u.kind == "closed"]
    verdicts, events = judge.finish()
    clips.add(verdicts, events)
    closed += [u.event for u in events if u.kind == "closed"]
    clips.flush()
    assert len(closed) >= 2, closed  # two events, close together: overlapping clips, one each
    assert [p.name for p in clips.written] == [f"event_{e.start:06d}-{e.end:06d}.mp4" for e in closed]
    assert sorted(tmp_path.iterdir()) == sorted(clips.written)  # written whole, then renamed: no partial file left
    for event, path in zip(closed, clips.written):
        first, last = max(0, event.start - 10), min(119, event.end + 10)
        assert read_video(path).n_frames == last - first + 1, (event, path)


def test_a_video_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """write_video encodes to a hidden temporary file and renames it: an encoder that dies midway
    leaves the previous file and no temporary."""
    import av
    import numpy as np

    from vadlab.data.video import read_video
    from vadlab.data.writer import write_video

    frames = np.zeros((6, 32, 48, 3), np.uint8)
    path = write_video(tmp_path / "clip.mp4", frames, fps=10)
    before = path.read_bytes()
    assert read_video(path).frames.shape[0] == 6

    real_open = av.open

    def dying_open(*args, **kwargs):
        real_open(*args, **kwargs).close()  # the output file exists (its header written), then the encoder dies
        raise OSError("disk gone")

    monkeypatch.setattr(av, "open", dying_open)
    with pytest.raises(OSError, match="disk gone"):
        write_video(path, frames + 255, fps=10)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
