"""vadlab.plots: figures built from numpy carry exactly the data they claim to show."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from vadlab import plots
from vadlab.metrics import evaluate, find_events, threshold_metrics


def values(array_or_typed) -> np.ndarray:
    """A trace's x/y as numpy, whether plotly kept a list, an array or a base64 typed array."""
    if isinstance(array_or_typed, dict) and "bdata" in array_or_typed:
        return np.frombuffer(base64.b64decode(array_or_typed["bdata"]), dtype=np.dtype(array_or_typed["dtype"]))
    return np.asarray(array_or_typed)


def trace(fig, name_prefix: str):
    found = [t for t in fig.data if (t.name or "").startswith(name_prefix)]
    assert found, f"no trace named {name_prefix!r}; traces: {[t.name for t in fig.data]}"
    return found[0]


@pytest.fixture
def video_scores():
    rng = np.random.default_rng(0)
    labels = np.zeros(60, np.uint8)
    labels[20:35] = 1
    scores = 0.2 + 0.1 * rng.random(60) + 0.6 * labels  # anomalous frames score high
    scores[50] = 0.95  # one false alarm
    return scores, labels


def test_timeline_has_one_point_per_frame_and_marks_threshold_spans_and_current_frame(video_scores):
    scores, _ = video_scores
    fig = plots.timeline(scores, threshold=0.5, current_frame=7, fps=10.0)
    score = trace(fig, "score")
    assert len(score.y) == 60 and np.array_equal(np.asarray(score.x), np.arange(60))
    np.testing.assert_allclose(np.asarray(score.y), scores)
    shapes = fig.layout.shapes
    spans = [s for s in shapes if s.type == "rect"]
    expected = find_events(scores, 0.5)
    assert [(s.x0 + 0.5, s.x1 - 0.5) for s in spans] == [(e.start, e.end) for e in expected]
    lines = [s for s in shapes if s.type == "line"]
    assert any(s.y0 == s.y1 == 0.5 for s in lines), "threshold line missing"
    assert any(s.x0 == s.x1 == 7 for s in lines), "current-frame line missing"
    assert np.allclose(np.asarray(score.customdata), np.arange(60) / 10.0)  # hover time in seconds


def test_timeline_colours_every_frame_by_outcome_consistently_with_threshold_metrics(video_scores):
    scores, labels = video_scores
    fig = plots.timeline(scores, threshold=0.5, labels=labels)
    counts = threshold_metrics(scores, labels, 0.5)
    seen = []
    for key, name in plots.OUTCOME_NAMES.items():
        points = trace(fig, name)
        assert len(points.x) == counts[key]
        seen.extend(np.asarray(points.x).tolist())
    assert sorted(seen) == list(range(60))  # each frame in exactly one outcome
    assert counts["fp"] == 1 and 50 in np.asarray(trace(fig, "false positive").x)
    gt_band = [s for s in fig.layout.shapes if s.type == "rect" and s.y1 == 0.06]
    assert [(s.x0 + 0.5, s.x1 - 0.5) for s in gt_band] == [(20, 34)]


def test_timeline_rejects_labels_of_the_wrong_length(video_scores):
    scores, labels = video_scores
    with pytest.raises(ValueError, match="59 labels for 60 frames"):
        plots.timeline(scores, 0.5, labels=labels[:-1])


def test_spans_and_frame_outcomes():
    assert plots.spans(np.array([0, 1, 1, 0, 1], bool)) == [(1, 2), (4, 4)]
    assert plots.spans(np.zeros(3, bool)) == []
    outcomes = plots.frame_outcomes(np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 0, 1, 0]), 0.5)
    assert outcomes.tolist() == ["tp", "fp", "fn", "tn"]


def test_timelines_overlays_one_line_per_model_and_checks_lengths(video_scores):
    scores, labels = video_scores
    fig = plots.timelines({"a": scores, "b": scores[::-1]}, threshold=0.5, labels=labels, current_frame=3)
    assert [len(trace(fig, n).y) for n in ("a", "b")] == [60, 60]
    with pytest.raises(ValueError, match="same number of frames"):
        plots.timelines({"a": scores, "b": scores[:10]})


def test_roc_and_pr_figures_overlay_variants_and_mark_the_eer(video_scores):
    scores, labels = video_scores
    good = evaluate({"v": scores}, {"v": labels})
    noisy = evaluate({"v": np.random.default_rng(1).random(60)}, {"v": labels})
    fig = plots.roc_figure({"good": good, "noisy": noisy})
    curve = trace(fig, "good (AUC")
    np.testing.assert_allclose(values(curve.x), good.fpr)
    np.testing.assert_allclose(values(curve.y), good.tpr)
    assert f"{good.micro_auc:.3f}" in curve.name
    eer_marker = trace(fig, "good EER")
    assert tuple(eer_marker.x) == (good.eer,) and tuple(eer_marker.y) == pytest.approx((1 - good.eer,))
    assert trace(fig, "noisy (AUC")
    pr = plots.pr_figure({"good": good})
    pr_curve = trace(pr, "good (PR-AUC")
    np.testing.assert_allclose(values(pr_curve.x), good.recall)
    chance = trace(pr, "chance")
    assert chance.y[0] == pytest.approx(15 / 60)


def test_loss_figure_draws_each_loss_over_its_x_key():
    history = [{"epoch": 1, "g": 1.0, "d": 0.7, "val_loss": 0.5, "seconds": 1.0},
               {"epoch": 2, "g": 0.8, "d": 0.6, "val_loss": 0.4, "seconds": 2.0}]
    fig = plots.loss_figure(history, x_key="epoch")
    assert sorted(t.name for t in fig.data) == ["d", "g", "val_loss"]  # epoch and seconds are not losses
    assert list(trace(fig, "g").x) == [1, 2] and list(trace(fig, "g").y) == [1.0, 0.8]


def test_confusion_figure_places_counts_in_actual_by_predicted_cells():
    fig = plots.confusion_figure({"tp": 8, "fp": 2, "tn": 18, "fn": 4})
    heatmap = fig.data[0]
    np.testing.assert_allclose(np.asarray(heatmap.z), [[18 / 20, 2 / 20], [4 / 12, 8 / 12]])
    assert "<b>8</b>" in heatmap.text[1][1] and "<b>2</b>" in heatmap.text[0][1]
    with pytest.raises(ValueError, match="missing 'tn'"):
        plots.confusion_figure({"tp": 1, "fp": 1, "fn": 1})


def test_image_figure_accepts_rgb_grey_and_maps_and_rejects_others():
    assert plots.image_figure(np.zeros((4, 6, 3), np.uint8)).data[0].type == "image"
    assert np.asarray(plots.image_figure(np.zeros((4, 6), np.uint8)).data[0].z).shape == (4, 6, 3)
    assert plots.image_figure(np.random.rand(4, 6)).data[0].type == "heatmap"
    with pytest.raises(ValueError, match="expected uint8"):
        plots.image_figure(np.zeros((4, 6, 5), np.float32))
