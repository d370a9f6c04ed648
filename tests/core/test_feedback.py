""""This is normal" feedback: a false alarm becomes normal footage of the user's dataset (with where
it came from, in the feedback log) and the checkpoint, recalibrated on it, no longer raises it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vadlab import api, feedback
from vadlab.data.synthetic import generate_clip
from vadlab.userdata import UserData

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def false_alarm(tmp_path):
    """A normal clip of another walkway (nothing anomalous in it) on which conv_ae_synthetic alerts."""
    shipped = ROOT / "checkpoints" / "conv_ae_synthetic"
    if not shipped.with_suffix(".safetensors").exists():
        pytest.skip("no shipped conv_ae_synthetic checkpoint")
    clip = generate_clip(301, n_frames=60, scene_seed=7)  # normal footage of a camera the model never saw
    loaded = api.load(shipped, device="cpu")
    verdict = api.verdict(loaded, api.score_video(loaded, clip.frames, name="cam"))
    assert verdict.events and not clip.labels.any()  # every alert here is false
    return shipped, clip, verdict.events[0]


def test_a_marked_false_alarm_is_kept_as_normal_footage_and_disappears_after_recalibration(tmp_path, false_alarm):
    shipped, clip, event = false_alarm
    store = UserData(tmp_path / "user_data")
    out = tmp_path / "user_checkpoints" / "conv_ae_synthetic_cam"
    result = feedback.mark_false_alarm(store, "cam", shipped, clip.frames, 10.0, "cam.mp4", event.start, event.end,
                                       out=out, context=30)
    # the frames are kept, with where they came from
    kept = store.info("cam").split("training")
    assert [c.name for c in kept] == [result.clip.name] and result.clip.name.startswith("fa_cam_")
    (entry,) = feedback.log(store, "cam")
    assert entry["source"] == "cam.mp4" and entry["frames"] == [event.start, event.end] and entry["kind"] == "false_alarm"
    assert entry["recalibrated"] == str(out) and entry["threshold_after"] == pytest.approx(result.threshold_after)
    # the shipped checkpoint is untouched; the copy carries the new calibration (on the dataset's frames)
    assert api.load(shipped, device="cpu").calibration.data != store.spec("cam")
    recalibrated = api.load(out, device="cpu")
    assert recalibrated.calibration.data == store.spec("cam") and recalibrated.calibration.count == result.normal_frames
    # the alert is gone on the clip it came from
    again = api.verdict(recalibrated, api.score_video(recalibrated, clip.frames, name="cam"))
    assert not any(e.start <= event.end and event.start <= e.end for e in again.events)
    assert "σ" in feedback.describe(result) and "cam" in feedback.describe(result)


def test_frames_outside_the_clip_are_refused(tmp_path):
    from vadlab.userdata import UserDataError

    frames = np.zeros((10, 32, 32, 3), np.uint8)
    with pytest.raises(UserDataError, match="not inside the clip's 10 frames"):
        feedback.keep_as_normal(UserData(tmp_path), "cam", frames, 10.0, "x.mp4", 5, 12)


def test_the_cli_marks_a_false_alarm_and_shows_the_log(tmp_path, false_alarm):
    from vadlab.cli import main
    from vadlab.data.writer import write_video

    shipped, clip, event = false_alarm
    video = write_video(tmp_path / "cam.mp4", clip.frames, fps=10.0, crf=18)
    out = tmp_path / "ck" / "cam_conv_ae"
    root = tmp_path / "user_data"
    assert main(["feedback", "false-alarm", "--dataset", "cam", "--checkpoint", str(shipped), "--video", str(video),
                 "--frames", f"{event.start}-{event.end}", "--out", str(out), "--data-root", str(root)]) == 0
    assert api.load(out, device="cpu").calibration.data == UserData(root).spec("cam")
    assert [e["source"] for e in feedback.log(UserData(root), "cam")] == [str(video)]
    assert main(["feedback", "false-alarm", "--dataset", "cam", "--checkpoint", str(shipped), "--video", str(video),
                 "--frames", "ten", "--data-root", str(root)]) == 2  # a clear error, nothing written
