"""Calibrated verdicts: a normal clip of the trained scene raises no alert, an anomalous one does,
another camera's clip is called out of scene (a mostly anomalous clip of the trained scene is not); the threshold follows the target false-alarm rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vadlab import api
from vadlab.calibration import Calibration, ScoreCalibration, assess, fit_calibration
from vadlab.data.synthetic import generate_clip
from vadlab.outputs import FrameScores

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def conv_ae():
    loaded = api.load(ROOT / "checkpoints" / "conv_ae_synthetic", device="cpu")
    assert loaded.calibration is not None and loaded.calibration.count > 500
    return loaded


def _verdict(loaded, seed, scene_seed=0, anomalies=()):
    clip = generate_clip(seed, scene_seed=scene_seed, anomalies=anomalies)  # a clip no model has seen
    return clip, assess(api.score_video(loaded, clip.frames, name=str(seed)), loaded.calibration)


def test_fresh_normal_clips_raise_no_alert(conv_ae):
    for seed in (201, 202):
        _, verdict = _verdict(conv_ae, seed)
        assert verdict.calibrated and verdict.events == [] and not verdict.out_of_scene


def test_an_anomalous_clip_raises_an_alert_where_the_anomaly_is(conv_ae):
    clip, verdict = _verdict(conv_ae, 203, anomalies=("large_object",))
    assert verdict.events and any(clip.labels[e.start:e.end + 1].any() for e in verdict.events)
    # and its flagged frames are the anomalous ones
    assert clip.labels[verdict.flagged].mean() > 0.9


def test_another_camera_is_called_out_of_scene(conv_ae):
    _, verdict = _verdict(conv_ae, 204, scene_seed=7)
    assert verdict.out_of_scene and any("another scene or camera" in n for n in verdict.notes)


def test_a_mostly_anomalous_clip_of_the_trained_scene_is_not_another_scene(repo_root, samples_dir):
    """Ped2's test clip 04 alerts on most of its frames (a cart crosses), yet it is Ped2's camera: no
    out-of-scene note; a synthetic walkway clip scored by the same Ped2 model gets one."""
    from tests.conftest import SHARED_DATASETS

    clip_04 = SHARED_DATASETS / "ped2_videos" / "testing" / "04.mp4"
    if not clip_04.is_file():
        pytest.skip(f"Ped2 test clip 04 not found at {clip_04} (needs ../shared/datasets beside the repo)")
    ped2 = api.load(repo_root / "checkpoints" / "ffp_ped2_cpu", device="cpu")
    own = assess(api.score_video(ped2, clip_04), ped2.calibration)
    assert own.n_flagged > 0.5 * len(own.flagged)  # mostly anomalous: the old "share" check called it out of scene
    assert not own.out_of_scene and not any("another scene" in n for n in own.notes)
    other = assess(api.score_video(ped2, samples_dir / "testing" / "test_01.mp4"), ped2.calibration)
    assert other.out_of_scene and any("another scene or camera" in n for n in other.notes)
    assert other.describe()["out_of_scene"] and not own.describe()["out_of_scene"]


def test_old_calibrations_without_a_maximum_fall_back_to_the_floor():
    from vadlab.calibration import CALM_LIMIT_FLOOR, calm_limit

    cal = Calibration({"mean": ScoreCalibration("mean", "identity", 0.0, 1.0, 100, {"0.5": 0.0, "0.999": 3.0})},
                      data="x", frames=[], source="test")
    assert calm_limit(cal) == CALM_LIMIT_FLOOR
    calm = np.full(40, 5.0)  # every frame, the calmest too, far above normal
    assert assess(FrameScores("far", calm, calm, np.ones(40, bool), "psnr"), cal).out_of_scene
    mixed = np.concatenate([np.zeros(10), np.full(30, 5.0)])  # mostly alerting, but calm frames look normal
    assert not assess(FrameScores("mixed", mixed, mixed, np.ones(40, bool), "psnr"), cal).out_of_scene


def test_without_calibration_the_fallback_is_said():
    fs = FrameScores("clip", np.linspace(0, 1, 20), np.linspace(0, 1, 20), np.ones(20, bool), "mse")
    verdict = assess(fs, None)
    assert not verdict.calibrated and verdict.threshold == 0.5 and "no calibration" in verdict.notes[0]


def test_threshold_follows_the_false_alarm_rate_and_a_heavy_tail():
    normal = ScoreCalibration("mean", "identity", 0.0, 1.0, 1000,
                              {"0.5": 0.0, "0.9": 1.28, "0.99": 2.33, "0.999": 3.09, "1": 3.5})
    assert normal.threshold(1e-3) == pytest.approx(3.0902, abs=1e-3)  # Gaussian quantile
    assert normal.threshold(1e-2) < normal.threshold(1e-3) < normal.threshold(1e-4)
    heavy = ScoreCalibration("mean", "identity", 0.0, 1.0, 1000,
                             {"0.5": 0.0, "0.9": 1.0, "0.99": 4.0, "0.999": 7.0, "1": 9.0})
    assert heavy.threshold(1e-3) == pytest.approx(7.0)  # the empirical tail wins over the Gaussian


def test_fit_calibration_uses_only_decided_frames_and_records_them():
    rng = np.random.default_rng(0)
    clips = []
    for i in range(3):
        s = rng.normal(size=40)
        scored = np.ones(40, bool)
        scored[:4] = False
        s[:4] = 100.0  # undecidable frames copy a score; they must not enter the calibration
        clips.append(FrameScores(f"v{i}", s, s, scored, "psnr"))
    cal = fit_calibration(clips, "psnr", "synthetic:x", "test", frame_offsets={"v1": 10})
    assert cal.count == 3 * 36 and cal.frames[1] == {"video": "v1", "start": 14, "end": 49}
    assert abs(cal.scores["mean"].mean) < 0.5  # the 100s were left out
    assert Calibration.from_dict(cal.to_dict()).to_dict() == cal.to_dict()


def test_undecidable_first_frames_never_raise_an_alert_alone():
    s = np.zeros(30)
    s[:5] = 50.0  # the first window's high score, copied onto the frames before it
    scored = np.ones(30, bool)
    scored[:4] = False
    fs = FrameScores("clip", s, s, scored, "psnr")
    cal = ScoreCalibration("mean", "identity", 0.0, 1.0, 1000, {"0.5": 0.0, "1": 3.0})
    verdict = assess(fs, Calibration({"mean": cal}, "x", [], "test"), smooth_sigma=0.0, min_length=3)
    assert not verdict.flagged[:4].any() and verdict.events == []  # one decided frame above: shorter than 3


def _scores(values: np.ndarray, name: str) -> FrameScores:
    values = np.asarray(values, dtype=np.float64)
    return FrameScores(video=name, scores=values, raw=values, scored=np.ones(len(values), dtype=bool),
                       score_kind="psnr", pooled={"patch16": values * 1.0})


def test_the_verdict_rule_is_chosen_on_normal_clips_and_pseudo_anomalies_only():
    """choose_rule keeps the candidate that is silent on the normal clips and flags the most
    pseudo-anomalous frames; the rule then travels with the calibration and is the default of
    every verdict, each field overridable."""
    from vadlab.calibration import DEFAULT_RULE, VerdictRule, choose_rule

    rng = np.random.default_rng(0)
    normal = [_scores(rng.normal(0, 1, 300), f"n{i}") for i in range(4)]
    cal = fit_calibration(normal, "psnr", data="synthetic", source="test")
    # pseudo-anomalies: a moderate, noisy rise that smoothing makes visible
    pseudo = [_scores(rng.normal(2.6, 1, 100), f"p{i}") for i in range(3)]
    rule, candidates = choose_rule(cal, normal, pseudo, keys=("mean",), smoothings=(0.0, 3.0), fars=(1e-3, 1e-2))
    assert len(candidates) == 4
    silent = [c for c in candidates if c.normal_events == 0]
    assert rule.short == max(silent, key=lambda c: (c.pseudo_detection, -c.rule.far)).rule.short
    assert rule.smooth_sigma == 3.0 and "label-free" in rule.chosen_by
    assert sum(len(assess(fs, cal, rule=rule).events) for fs in normal) == 0
    # stored with the calibration, round-tripped, and the default of assess
    stored = Calibration.from_dict({**cal.to_dict(), "rule": rule.to_dict()})
    assert stored.verdict_rule == rule
    verdict = assess(pseudo[0], stored)
    assert verdict.rule.short == rule.short and verdict.describe()["verdict_rule"] == rule.short
    by_hand = assess(pseudo[0], stored, smooth_sigma=0.0)
    assert by_hand.rule.smooth_sigma == 0.0 and "set by hand" in by_hand.rule.chosen_by
    assert assess(pseudo[0], cal).rule.short == DEFAULT_RULE.short  # no rule stored: the defaults
    with pytest.raises(ValueError):
        VerdictRule(far=0.0)
