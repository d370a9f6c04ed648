"""Tests for vadlab.metrics: hand-computed cases, agreement with scikit-learn, real Ped2 labels."""
from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from vadlab import metrics
from vadlab.outputs import EvalResult, Event

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


# ------------------------------------------------------------------------------------------- AUC
def test_auc_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=500)
    scores = rng.normal(size=500) + 0.7 * labels  # informative but imperfect
    scores[:50] = np.round(scores[:50], 1)  # include some ties
    expected = roc_auc_score(labels, scores)
    assert 0.6 < expected < 0.95
    assert metrics.auc_score(scores, labels) == pytest.approx(expected, abs=1e-12)


def test_perfect_separation_gives_auc_one_and_eer_zero():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1])
    assert metrics.auc_score(scores, labels) == 1.0
    eer, threshold = metrics.equal_error_rate(scores, labels)
    assert eer == 0.0
    # at the EER threshold every anomalous frame is flagged and no normal one is
    counts = metrics.threshold_metrics(scores, labels, threshold)
    assert (counts["fp"], counts["fn"]) == (0, 0)


def test_reversed_scores_give_auc_zero():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    labels = np.array([0, 0, 0, 1, 1])
    assert metrics.auc_score(scores, labels) == 0.0


def test_all_ties_give_auc_half():
    assert metrics.auc_score(np.full(6, 3.0), np.array([0, 1, 0, 1, 1, 0])) == 0.5


def test_auc_with_ties_equals_mann_whitney_pair_count():
    scores = np.array([0.2, 0.5, 0.5, 0.9, 0.5, 0.1, 0.9])
    labels = np.array([0, 0, 1, 1, 1, 0, 0])
    positives, negatives = scores[labels == 1], scores[labels == 0]
    # each (anomalous, normal) pair: 1 if the anomalous frame scores higher, 1/2 if tied
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(positives, negatives))
    # by hand: positives {0.5, 0.9, 0.5}, negatives {0.2, 0.5, 0.1, 0.9}
    #   0.5 vs: 1 + 0.5 + 1 + 0 = 2.5 (twice), 0.9 vs: 1 + 1 + 1 + 0.5 = 3.5  -> 8.5 of 12 pairs
    assert wins == 8.5
    assert metrics.auc_score(scores, labels) == pytest.approx(8.5 / 12)


def test_auc_is_nan_for_a_single_class_and_does_not_raise():
    assert np.isnan(metrics.auc_score(np.array([0.1, 0.5]), np.array([1, 1])))
    assert np.isnan(metrics.auc_score(np.zeros(0), np.zeros(0)))
    eer, threshold = metrics.equal_error_rate(np.array([0.1, 0.5]), np.array([0, 0]))
    assert np.isnan(eer) and np.isnan(threshold)


def test_curves_are_thin_wrappers_with_expected_endpoints():
    scores = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    labels = np.array([1, 0, 1, 0, 0])
    fpr, tpr, thresholds = metrics.roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.isinf(thresholds[0]) and np.all(np.diff(thresholds) < 0)
    precision, recall, pr_thresholds = metrics.pr_curve(scores, labels)
    assert precision.shape == recall.shape == (pr_thresholds.size + 1,)
    assert (precision[-1], recall[-1]) == (1.0, 0.0)


def test_non_binary_labels_and_nan_scores_are_rejected():
    with pytest.raises(ValueError, match="0/1"):
        metrics.auc_score(np.array([0.1, 0.2]), np.array([0, 2]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.auc_score(np.array([0.1, np.nan]), np.array([0, 1]))


# ------------------------------------------------------------------------------------------- EER
def test_eer_interpolates_where_fpr_and_fnr_cross_between_roc_points():
    # sorted by score: 0.9 A, 0.7 N, 0.5 A, 0.3 N, 0.1 N   (2 anomalous, 3 normal)
    scores = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    labels = np.array([1, 0, 1, 0, 0])
    # threshold 0.7: FPR = 1/3, FNR = 1/2 (FPR < FNR); threshold 0.5: FPR = 1/3, FNR = 0 (FPR > FNR)
    # d = FPR - FNR goes -1/6 -> +1/3, so t = (1/6) / (1/3 + 1/6) = 1/3 along the segment:
    #   FPR = 1/3 + t * 0 = 1/3, FNR = 1/2 + t * (0 - 1/2) = 1/3, threshold = 0.7 + t * (0.5 - 0.7)
    eer, threshold = metrics.equal_error_rate(scores, labels)
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.7 - 0.2 / 3)


def test_eer_exactly_on_a_roc_point():
    # sorted: 0.5 A, 0.4 N, 0.3 A, 0.1 N -> at threshold 0.4: FPR = 1/2, FNR = 1/2
    eer, threshold = metrics.equal_error_rate(np.array([0.5, 0.4, 0.3, 0.1]), np.array([1, 0, 1, 0]))
    assert eer == pytest.approx(0.5)
    assert threshold == pytest.approx(0.4)


# ----------------------------------------------------------------------------- threshold metrics
def test_threshold_metrics_counts_and_rates():
    scores = np.array([0.9, 0.8, 0.6, 0.4, 0.3, 0.1])
    labels = np.array([1, 0, 1, 1, 0, 0])
    result = metrics.threshold_metrics(scores, labels, threshold=0.6)  # >= 0.6 flagged: 0.9, 0.8, 0.6
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (2, 1, 2, 1)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 / 3)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["fpr"] == pytest.approx(1 / 3)
    assert result["specificity"] == pytest.approx(2 / 3)


def test_threshold_metrics_zero_division_gives_zero():
    result = metrics.threshold_metrics(np.array([0.1, 0.2]), np.array([0, 0]), threshold=1.0)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (0, 0, 2, 0)
    assert result["precision"] == result["recall"] == result["f1"] == 0.0
    assert result["specificity"] == 1.0


def test_best_threshold_f1_and_youden_on_hand_example():
    scores = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    labels = np.array([1, 0, 1, 0, 0])
    # >= 0.5 flags {0.9, 0.7, 0.5}: P = 2/3, R = 1 -> F1 = 0.8 (>= 0.9 gives 2/3); Youden 1 - 1/3
    assert metrics.best_threshold(scores, labels, "f1") == pytest.approx((0.5, 0.8))
    assert metrics.best_threshold(scores, labels, "youden") == pytest.approx((0.5, 2 / 3))
    with pytest.raises(ValueError, match="criterion"):
        metrics.best_threshold(scores, labels, "accuracy")


# ------------------------------------------------------------------------------ post-processing
def test_minmax_normalisation_is_per_video_and_constant_gives_zeros():
    assert np.allclose(metrics.normalize_scores(np.array([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0])
    assert np.array_equal(metrics.normalize_scores(np.full(4, 7.0)), np.zeros(4))
    z = metrics.normalize_scores(np.array([1.0, 2.0, 3.0, 4.0]), "zscore")
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="normalisation"):
        metrics.normalize_scores(np.ones(3), "rank")


def test_per_video_minmax_changes_micro_auc_as_expected():
    # video b's scores sit on a higher scale; per-video min-max puts both on [0, 1]
    scores = {"a": np.array([0.0, 1.0, 2.0, 3.0]), "b": np.array([10.0, 11.0, 12.0, 13.0])}
    labels = {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 0, 1, 1])}
    raw = metrics.evaluate(scores, labels, normalize="none")
    normalised = metrics.evaluate(scores, labels, normalize="minmax")
    assert normalised.micro_auc == 1.0  # each video separates perfectly and now shares a scale
    # raw: b's normal frames (10, 11) beat a's anomalous frames (2, 3): 4 lost of 16 pairs
    assert raw.micro_auc == pytest.approx(12 / 16)
    assert raw.macro_auc == normalised.macro_auc == 1.0


def test_smoothing_then_minmax_stays_in_unit_range():
    spike = np.zeros(21)
    spike[10] = 5.0
    smoothed = metrics.smooth_scores(spike, sigma=2.0)
    assert smoothed[10] < 5.0 and smoothed[9] > 0.0 and smoothed.sum() == pytest.approx(5.0, rel=1e-3)
    assert np.array_equal(metrics.smooth_scores(spike, 0.0), spike)
    processed = metrics.postprocess(spike, normalize="minmax", smooth_sigma=2.0)
    assert processed.min() == 0.0 and processed.max() == 1.0 and int(np.argmax(processed)) == 10
    with pytest.raises(ValueError, match="sigma"):
        metrics.smooth_scores(spike, -1.0)


# ------------------------------------------------------------------------------------- evaluate
def test_macro_auc_excludes_and_reports_single_class_video():
    scores = {
        "mixed": np.array([0.1, 0.2, 0.9, 0.8]),  # perfect
        "reversed": np.array([0.9, 0.8, 0.1, 0.2]),  # AUC 0
        "all_normal": np.array([0.3, 0.5, 0.4]),
    }
    labels = {
        "mixed": np.array([0, 0, 1, 1]),
        "reversed": np.array([0, 0, 1, 1]),
        "all_normal": np.array([0, 0, 0]),
    }
    result = metrics.evaluate(scores, labels, normalize="none")
    assert isinstance(result, EvalResult)
    assert result.single_class_videos == ["all_normal"]
    assert np.isnan(result.per_video_auc["all_normal"])
    assert result.per_video_auc["mixed"] == 1.0 and result.per_video_auc["reversed"] == 0.0
    assert result.macro_auc == pytest.approx(0.5)
    all_scores = np.concatenate([scores[k] for k in sorted(scores)])
    all_labels = np.concatenate([labels[k] for k in sorted(labels)])
    assert result.micro_auc == pytest.approx(roc_auc_score(all_labels, all_scores))
    assert result.pr_auc == pytest.approx(average_precision_score(all_labels, all_scores))
    assert (result.n_frames, result.n_anomalous) == (11, 4)
    assert result.fpr.shape == result.tpr.shape == result.roc_thresholds.shape
    assert result.summary()["single_class_videos"] == ["all_normal"]


def test_macro_auc_is_nan_when_no_video_has_both_classes():
    result = metrics.evaluate({"a": np.array([0.1, 0.9]), "b": np.array([0.3, 0.2])},
                              {"a": np.array([0, 0]), "b": np.array([1, 1])}, normalize="none")
    assert np.isnan(result.macro_auc)
    assert result.single_class_videos == ["a", "b"]
    assert result.micro_auc == pytest.approx(0.5)  # a's 0.1 < 0.2 < 0.3 < a's 0.9: 2 of 4 pairs


def test_evaluate_rejects_mismatched_lengths_and_keys():
    with pytest.raises(ValueError, match=r"video 'v1'.*3 scores but 4 labels"):
        metrics.evaluate({"v1": np.zeros(3)}, {"v1": np.array([0, 1, 0, 1])})
    with pytest.raises(ValueError, match=r"same videos.*\['extra'\]"):
        metrics.evaluate({"v1": np.zeros(2), "extra": np.zeros(2)}, {"v1": np.array([0, 1])})


# --------------------------------------------------------------------------------------- events
def test_find_events_merges_gaps_then_drops_short_runs():
    scores = np.array([0, 0.6, 0.9, 0, 0.7, 0, 0, 0.8, 0, 0, 0, 0.6, 0.95, 0.7, 0], dtype=float)
    # runs >= 0.5: [1, 2], [4], [7], [11, 13]
    assert metrics.find_events(scores, 0.5) == [
        Event(1, 2, 2, 0.9), Event(4, 4, 4, 0.7), Event(7, 7, 7, 0.8), Event(11, 13, 12, 0.95)
    ]
    # gap of 1 merges [1, 2] + [4]; [7] is 2 frames away (kept apart); then runs < 2 frames dropped
    events = metrics.find_events(scores, 0.5, min_length=2, merge_gap=1)
    assert events == [Event(1, 4, 2, 0.9), Event(11, 13, 12, 0.95)]
    assert [event.length for event in events] == [4, 3]
    # gap of 2 chains [1, 2] + [4] + [7] into one event
    assert metrics.find_events(scores, 0.5, min_length=5, merge_gap=2) == [Event(1, 7, 2, 0.9)]
    assert metrics.find_events(scores, 1.0) == []


# ---------------------------------------------------------------------------------- pixel level
def test_pixel_auc_of_a_perfect_map_is_one_even_when_resized_and_subsampled():
    masks = np.zeros((3, 8, 8), dtype=bool)  # (N, H, W)
    masks[0, 0:4, 0:4] = True
    masks[2, 4:8, 2:6] = True
    error_maps = masks.astype(np.float32)  # same size: perfect
    assert metrics.pixel_auc([error_maps], [masks]) == 1.0
    # a (4, 4) map of 2x2 blocks upsampled to (8, 8): anomalous blocks stay the highest values
    small = np.zeros((3, 4, 4), dtype=np.float32)
    small[0, 0:2, 0:2] = 1.0
    small[2, 2:4, 1:3] = 1.0
    blocky = np.kron(small, np.ones((1, 2, 2), dtype=np.float32))
    assert metrics.pixel_auc([blocky], [masks], max_pixels=50, seed=1) == 1.0
    assert metrics.pixel_auc([1.0 - error_maps, error_maps], [None, masks]) == 1.0  # None video skipped
    with pytest.raises(ValueError, match="3 error maps but 2 masks"):
        metrics.pixel_auc([error_maps], [masks[:2]])


def test_pixel_auc_subsampling_is_reproducible_and_close_to_full():
    rng = np.random.default_rng(3)
    masks = rng.random((4, 16, 16)) < 0.2
    error_maps = masks + rng.normal(scale=0.8, size=masks.shape)
    full = metrics.pixel_auc([error_maps], [masks])
    assert full == pytest.approx(roc_auc_score(masks.ravel(), error_maps.ravel()))
    first = metrics.pixel_auc([error_maps], [masks], max_pixels=500, seed=7)
    assert first == metrics.pixel_auc([error_maps], [masks], max_pixels=500, seed=7)
    assert first == pytest.approx(full, abs=0.07)


def test_evaluate_reports_pixel_auc_when_maps_and_masks_given():
    masks = np.zeros((4, 6, 6), dtype=bool)
    masks[2:, 1:3, 1:3] = True
    result = metrics.evaluate({"v": np.array([0.1, 0.2, 0.8, 0.9])}, {"v": np.array([0, 0, 1, 1])},
                              error_maps={"v": masks.astype(np.float16)}, masks={"v": masks})
    assert result.pixel_auc == 1.0 and result.summary()["pixel_auc"] == 1.0
    assert metrics.evaluate({"v": np.array([0.1, 0.9])}, {"v": np.array([0, 1])}).pixel_auc is None


# ------------------------------------------------------------------------------------- real Ped2
def test_ped2_labels_counts_and_single_class_videos():
    label_file = DATASETS / "ped2" / "frame_labels.json"
    if not label_file.exists():
        pytest.skip(f"Ped2 frame labels not found at {label_file} (../shared/datasets is absent)")
    labels = {name: np.array(values) for name, values in json.loads(label_file.read_text()).items()}
    rng = np.random.default_rng(0)
    # an oracle score (label + small noise) must score perfectly on every frame
    scores = {name: values + 0.1 * rng.random(values.size) for name, values in labels.items()}
    result = metrics.evaluate(scores, labels, normalize="none")
    assert (result.n_frames, result.n_anomalous) == (2010, 1648)
    assert result.single_class_videos == ["08", "09", "10", "11"]  # entirely anomalous clips
    assert result.micro_auc == 1.0 and result.macro_auc == 1.0
    assert len(result.per_video_auc) == 12
    # per-video min-max stretches the all-anomalous clips over [0, 1], so their lowest frames fall
    # below other clips' normal frames: micro AUC drops even for an oracle, macro does not
    normalised = metrics.evaluate(scores, labels, normalize="minmax")
    assert normalised.macro_auc == 1.0
    assert 0.9 < normalised.micro_auc < 1.0
