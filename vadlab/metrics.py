"""Frame- and pixel-level evaluation: scores + labels -> ROC / PR / AUC / EER, micro and macro.

numpy, scipy and scikit-learn only (this module never imports torch itself).

Conventions used throughout:
  * A score is a 1-D float array, one value per frame, HIGHER = MORE ANOMALOUS.
  * A label array is 1-D, one 0/1 (or bool) per frame, 1 = anomalous = the POSITIVE class.
  * A frame is flagged anomalous when `score >= threshold`.
  * Scores of a video are post-processed per video: optional Gaussian smoothing over time FIRST, then
    normalisation (min-max by default, as the papers do: "per-video min-max of the raw score"), so
    that min-max output stays exactly in [0, 1].
  * micro AUC: one ROC over all frames of all videos concatenated (what most papers report).
    macro AUC: mean of per-video AUCs over the videos that have both classes.
  * Undefined quantities (an AUC or EER on data with a single class) are `nan`, never an exception;
    malformed input (mismatched lengths, non-binary labels, non-finite scores) raises `ValueError`.
"""
from __future__ import annotations

import math
from typing import Literal, Mapping, Optional, Sequence

import numpy as np
from scipy import ndimage
from sklearn import metrics as sk_metrics

from vadlab.outputs import EvalResult, Event

Normalization = Literal["minmax", "zscore", "none"]
ThresholdCriterion = Literal["f1", "youden"]

__all__ = [
    "normalize_scores",
    "smooth_scores",
    "postprocess",
    "roc_curve",
    "pr_curve",
    "auc_score",
    "equal_error_rate",
    "threshold_metrics",
    "evaluate",
    "find_events",
    "pixel_auc",
    "best_threshold",
]


# --------------------------------------------------------------------------------------- validation
def _as_scores(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """`scores` as a 1-D finite float64 array, or ValueError naming `name`."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of per-frame scores, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name}: {bad} of {array.size} scores are NaN or infinite")
    return array


def _as_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """`labels` as a 1-D int8 array of 0/1, or ValueError naming `name`."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of per-frame 0/1 labels, got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(np.int8)
    if array.size and not np.all((array == 0) | (array == 1)):
        values = np.unique(array)[:5]
        raise ValueError(f"{name}: labels must be 0/1 (1 = anomalous), found values like {values.tolist()}")
    return array.astype(np.int8)


def _scores_and_labels(scores: np.ndarray, labels: np.ndarray, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    prefix = f"{name}: " if name else ""
    score_array = _as_scores(scores, f"{prefix}scores".rstrip())
    label_array = _as_labels(labels, f"{prefix}labels".rstrip())
    if score_array.shape[0] != label_array.shape[0]:
        raise ValueError(
            f"{prefix}{score_array.shape[0]} scores but {label_array.shape[0]} labels; "
            "need one label per scored frame"
        )
    return score_array, label_array


def _has_both_classes(labels: np.ndarray) -> bool:
    return bool(labels.size) and 0 < int(labels.sum()) < labels.size


# ---------------------------------------------------------------------------------- post-processing
def normalize_scores(scores: np.ndarray, method: Normalization = "minmax") -> np.ndarray:
    """Normalise the scores of ONE video.

    scores: (N,) per-frame scores. Returns a new (N,) float64 array:
      "minmax": (s - min) / (max - min), in [0, 1];
      "zscore": (s - mean) / std (population std);
      "none":   an unchanged float64 copy.
    A constant input (max == min, or std == 0) has no scale: it returns all zeros for "minmax" and
    "zscore" (the video carries no ranking information either way). An empty input returns empty.
    """
    array = _as_scores(scores)
    if method == "none":
        return array.copy()
    if method not in ("minmax", "zscore"):
        raise ValueError(f"unknown normalisation '{method}'; choose one of: minmax, zscore, none")
    if array.size == 0:
        return array.copy()
    if method == "minmax":
        low, high = float(array.min()), float(array.max())
        if high == low:
            return np.zeros_like(array)
        return (array - low) / (high - low)
    std = float(array.std())
    if std == 0.0:
        return np.zeros_like(array)
    return (array - float(array.mean())) / std


def smooth_scores(scores: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of one video's scores over time.

    scores: (N,) per-frame scores; sigma: standard deviation of the kernel in FRAMES (>= 0).
    Uses scipy.ndimage.gaussian_filter1d with mode="nearest" (edges repeat the end frames).
    sigma == 0 returns an unchanged float64 copy. Returns (N,) float64.
    """
    array = _as_scores(scores)
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"smoothing sigma must be a finite number of frames >= 0, got {sigma}")
    if sigma == 0 or array.size == 0:
        return array.copy()
    return ndimage.gaussian_filter1d(array, sigma=float(sigma), mode="nearest")


def postprocess(scores: np.ndarray, normalize: Normalization = "minmax", smooth_sigma: float = 0.0) -> np.ndarray:
    """Post-process one video's scores: Gaussian smoothing over time FIRST, then normalisation.

    The order matters: smoothing after min-max could not leave [0, 1], but it can shrink the range,
    so normalising last guarantees min-max output spans exactly [0, 1] (unless constant -> zeros).
    scores: (N,); smooth_sigma in frames (0 = none). Returns (N,) float64.
    """
    return normalize_scores(smooth_scores(scores, smooth_sigma), normalize)


# ------------------------------------------------------------------------------------ curves + AUC
def roc_curve(
    scores: np.ndarray, labels: np.ndarray, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve (thin wrapper over sklearn.metrics.roc_curve; anomalous = positive class).

    scores, labels: (N,). Returns (fpr, tpr, thresholds), each (K,), thresholds DECREASING; a point
    i means "flag frames with score >= thresholds[i]". thresholds[0] is +inf (nothing flagged, the
    (0, 0) point), as in scikit-learn. With a single class the curve is undefined: returns the
    trivial diagonal fpr = tpr = [0, 1], thresholds [inf, -inf] instead of scikit-learn's nan warning.
    """
    score_array, label_array = _scores_and_labels(scores, labels)
    if not _has_both_classes(label_array):
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([np.inf, -np.inf])
    fpr, tpr, thresholds = sk_metrics.roc_curve(label_array, score_array, drop_intermediate=drop_intermediate)
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds.astype(np.float64)


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve (thin wrapper over sklearn.metrics.precision_recall_curve).

    Anomalous frames are the positive class. scores, labels: (N,). Returns (precision, recall,
    thresholds) as scikit-learn does: precision and recall have K+1 entries, thresholds K
    (INCREASING); the last point is precision 1, recall 0 with no threshold. With no anomalous frame
    the curve is undefined: returns precision [1], recall [0] and no thresholds.
    """
    score_array, label_array = _scores_and_labels(scores, labels)
    if label_array.size == 0 or int(label_array.sum()) == 0:
        return np.array([1.0]), np.array([0.0]), np.zeros(0)
    precision, recall, thresholds = sk_metrics.precision_recall_curve(label_array, score_array)
    return precision.astype(np.float64), recall.astype(np.float64), thresholds.astype(np.float64)


def auc_score(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve, in [0, 1] (0.5 = chance; ties count one half, as Mann-Whitney U).

    scores, labels: (N,). Returns nan (never raises) when the labels hold a single class or are empty.
    """
    score_array, label_array = _scores_and_labels(scores, labels)
    if not _has_both_classes(label_array):
        return float("nan")
    return float(sk_metrics.roc_auc_score(label_array, score_array))


def _average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    if not _has_both_classes(labels):
        return float("nan")
    return float(sk_metrics.average_precision_score(labels, scores))


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Equal error rate (EER) and the threshold where it occurs.

    scores, labels: (N,). Returns (eer, threshold); both nan when the labels hold a single class.

    How: take the full ROC (every distinct score is a point, thresholds decreasing, starting at the
    (0, 0) point) and FNR = 1 - TPR. Along it, d = FPR - FNR rises monotonically from -1 to +1. Let
    i be the first point with d[i] >= 0. If d[i] == 0, EER = FPR[i] and the threshold is
    thresholds[i]. Otherwise the two rates cross on the segment (i-1, i): with
    t = -d[i-1] / (d[i] - d[i-1]), EER = FPR[i-1] + t * (FPR[i] - FPR[i-1]) (equal to the
    interpolated FNR there), and the threshold is interpolated the same way,
    thresholds[i-1] + t * (thresholds[i] - thresholds[i-1]); when thresholds[i-1] is the +inf of the
    (0, 0) point, thresholds[i] is used instead.
    """
    score_array, label_array = _scores_and_labels(scores, labels)
    if not _has_both_classes(label_array):
        return float("nan"), float("nan")
    fpr, tpr, thresholds = sk_metrics.roc_curve(label_array, score_array, drop_intermediate=False)
    fnr = 1.0 - tpr
    difference = fpr - fnr
    i = int(np.argmax(difference >= 0))  # exists: the last point has fpr = 1, fnr = 0
    if difference[i] == 0 or i == 0:
        return float(fpr[i]), float(thresholds[i])
    t = -difference[i - 1] / (difference[i] - difference[i - 1])
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    if np.isfinite(thresholds[i - 1]):
        threshold = thresholds[i - 1] + t * (thresholds[i] - thresholds[i - 1])
    else:
        threshold = thresholds[i]
    return float(eer), float(threshold)


def threshold_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Confusion counts and rates at one threshold (score >= threshold = flagged anomalous).

    scores, labels: (N,). Returns {tp, fp, tn, fn (ints), precision, recall, f1, accuracy, fpr,
    specificity (floats)}. A rate whose denominator is zero (e.g. precision with nothing flagged)
    is 0.0, not nan, so that tables and plots stay numeric.
    """
    score_array, label_array = _scores_and_labels(scores, labels)
    flagged = score_array >= threshold
    positive = label_array == 1
    tp = int(np.count_nonzero(flagged & positive))
    fp = int(np.count_nonzero(flagged & ~positive))
    fn = int(np.count_nonzero(~flagged & positive))
    tn = int(np.count_nonzero(~flagged & ~positive))

    def ratio(numerator: float, denominator: float) -> float:
        return float(numerator) / float(denominator) if denominator else 0.0

    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall),
        "accuracy": ratio(tp + tn, tp + fp + tn + fn),
        "fpr": ratio(fp, fp + tn),
        "specificity": ratio(tn, fp + tn),
    }


def best_threshold(scores: np.ndarray, labels: np.ndarray, criterion: ThresholdCriterion = "f1") -> tuple[float, float]:
    """FOR ILLUSTRATION ONLY: the threshold that maximises `criterion` ON THESE LABELS.

    WARNING: choosing a threshold with the test labels is optimistic; the resulting F1 / Youden J
    is NOT a fair test result. Use it to draw an example operating point in a figure, never to
    report a score. A deployable threshold must come from normal (training / validation) data.

    criterion: "f1" (max of 2PR / (P + R) over the PR curve) or "youden" (max of TPR - FPR over the
    ROC). scores, labels: (N,). Returns (threshold, criterion value at it); (nan, nan) when the labels
    hold a single class. Frames with score >= threshold are flagged.
    """
    score_array, label_array = _scores_and_labels(scores, labels)
    if criterion not in ("f1", "youden"):
        raise ValueError(f"unknown threshold criterion '{criterion}'; choose 'f1' or 'youden'")
    if not _has_both_classes(label_array):
        return float("nan"), float("nan")
    if criterion == "f1":
        precision, recall, thresholds = sk_metrics.precision_recall_curve(label_array, score_array)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        denominator = precision + recall
        f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        best = int(np.argmax(f1))
        return float(thresholds[best]), float(f1[best])
    fpr, tpr, thresholds = sk_metrics.roc_curve(label_array, score_array, drop_intermediate=False)
    youden = tpr[1:] - fpr[1:]  # skip the +inf threshold (nothing flagged)
    best = int(np.argmax(youden))
    return float(thresholds[1:][best]), float(youden[best])


# ------------------------------------------------------------------------------------------ events
def find_events(scores: np.ndarray, threshold: float, min_length: int = 1, merge_gap: int = 0) -> list[Event]:
    """Alerts: contiguous runs of frames with score >= threshold.

    scores: (N,) one video's scores. Runs separated by at most `merge_gap` below-threshold frames are
    merged into one event (the gap frames become part of it); then events shorter than `min_length`
    frames are dropped (so short runs can survive by merging). Each Event has inclusive start/end
    frame indices and the frame and score of its maximum (first one on ties).
    """
    array = _as_scores(scores)
    if min_length < 1:
        raise ValueError(f"min_length must be >= 1 frame, got {min_length}")
    if merge_gap < 0:
        raise ValueError(f"merge_gap must be >= 0 frames, got {merge_gap}")
    flagged = (array >= threshold).astype(np.int8)
    edges = np.diff(np.concatenate(([0], flagged, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1  # inclusive

    runs: list[list[int]] = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        if runs and start - runs[-1][1] - 1 <= merge_gap:
            runs[-1][1] = end
        else:
            runs.append([start, end])

    events = []
    for start, end in runs:
        if end - start + 1 < min_length:
            continue
        peak = start + int(np.argmax(array[start : end + 1]))
        events.append(Event(start=start, end=end, peak_frame=peak, peak_score=float(array[peak])))
    return events


# ------------------------------------------------------------------------------------- pixel level
def pixel_auc(
    error_maps: Sequence[np.ndarray],
    masks: Sequence[Optional[np.ndarray]],
    max_pixels: int = 2_000_000,
    seed: int = 0,
) -> float:
    """Pixel-level ROC AUC of error maps against ground-truth pixel masks.

    error_maps: one (N, h, w) array per video (any float dtype; higher = more anomalous).
    masks:      one (N, H, W) bool array per video (True = anomalous pixel), or None for a video
                without pixel ground truth (that video is skipped: only frames with masks count).
    Each error map is resized to its mask's size with scipy.ndimage.zoom (order=1, bilinear), one
    frame at a time. Every pixel of every frame is one sample of a single ROC over all videos
    (pixel-wise AUROC, as in anomalib; NOT the "40% of the region" pixel criterion of Mahadevan et
    al.). When there are more than `max_pixels` pixels in total, `max_pixels` of them are drawn
    uniformly at random without replacement (numpy Generator seeded with `seed`), so the result is
    reproducible and memory stays bounded. Returns nan when the sampled pixels hold a single class
    or no video has masks.
    """
    if len(error_maps) != len(masks):
        raise ValueError(f"pixel_auc: {len(error_maps)} error-map arrays but {len(masks)} mask arrays")
    pairs = []
    for index, (error_map, mask) in enumerate(zip(error_maps, masks)):
        if mask is None:
            continue
        error_map, mask = np.asarray(error_map), np.asarray(mask)
        if error_map.ndim != 3 or mask.ndim != 3:
            raise ValueError(
                f"pixel_auc: video {index}: expected (N, h, w) error maps and (N, H, W) masks, "
                f"got {error_map.shape} and {mask.shape}"
            )
        if error_map.shape[0] != mask.shape[0]:
            raise ValueError(
                f"pixel_auc: video {index}: {error_map.shape[0]} error maps but {mask.shape[0]} masks"
            )
        pairs.append((error_map, mask.astype(bool)))
    if not pairs:
        return float("nan")

    frame_pixels = [mask.shape[1] * mask.shape[2] for _, mask in pairs]
    video_pixels = np.array([mask.shape[0] * pixels for (_, mask), pixels in zip(pairs, frame_pixels)], dtype=np.int64)
    total = int(video_pixels.sum())
    if total > max_pixels:
        chosen = np.sort(np.random.default_rng(seed).choice(total, size=max_pixels, replace=False))
    else:
        chosen = None
    video_offsets = np.concatenate(([0], np.cumsum(video_pixels)))

    sampled_scores, sampled_labels = [], []
    for video, ((error_map, mask), pixels) in enumerate(zip(pairs, frame_pixels)):
        n_frames, height, width = mask.shape
        if chosen is not None:
            lo, hi = np.searchsorted(chosen, video_offsets[video : video + 2])
            local = chosen[lo:hi] - video_offsets[video]  # flat indices into this video's (N, H, W)
            frame_of = local // pixels
        for frame in range(n_frames):
            if chosen is not None:
                in_frame = local[frame_of == frame] - frame * pixels
                if in_frame.size == 0:
                    continue
            resized = _resize_map(error_map[frame], height, width)  # (H, W)
            if chosen is None:
                sampled_scores.append(resized.ravel())
                sampled_labels.append(mask[frame].ravel())
            else:
                sampled_scores.append(resized.ravel()[in_frame])
                sampled_labels.append(mask[frame].ravel()[in_frame])
    scores = np.concatenate(sampled_scores).astype(np.float64)
    labels = np.concatenate(sampled_labels).astype(np.int8)
    if not np.all(np.isfinite(scores)):
        raise ValueError("pixel_auc: error maps contain NaN or infinite values")
    if not _has_both_classes(labels):
        return float("nan")
    return float(sk_metrics.roc_auc_score(labels, scores))


def _resize_map(error_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w) -> (height, width) float32, bilinear (scipy.ndimage.zoom order=1)."""
    error_map = error_map.astype(np.float32)
    if error_map.shape == (height, width):
        return error_map
    zoom = (height / error_map.shape[0], width / error_map.shape[1])
    resized = ndimage.zoom(error_map, zoom, order=1)
    if resized.shape != (height, width):  # zoom rounds the output size; guard the rare off-by-one
        raise ValueError(f"pixel_auc: resizing {error_map.shape} to {(height, width)} gave {resized.shape}")
    return resized


# ------------------------------------------------------------------------------------- evaluation
def evaluate(
    scores: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    normalize: Normalization = "minmax",
    smooth_sigma: float = 0.0,
    error_maps: Optional[Mapping[str, np.ndarray]] = None,
    masks: Optional[Mapping[str, Optional[np.ndarray]]] = None,
    max_pixels: int = 2_000_000,
    frames_per_second: float = float("nan"),
) -> EvalResult:
    """Frame-level (and optionally pixel-level) evaluation of a set of videos.

    scores: video name -> (N,) raw per-frame scores; labels: video name -> (N,) 0/1 frame labels.
    Each video's scores are post-processed on their own (`postprocess`: smoothing, then
    `normalize`), then:
      micro_auc  ROC AUC over all frames of all videos concatenated;
      macro_auc  mean of per-video AUCs over videos with both classes (nan if none has both);
      per_video_auc  every video's AUC (nan for single-class videos, which are also listed in
                 single_class_videos and excluded from the macro mean);
      eer, eer_threshold  `equal_error_rate` on the concatenated post-processed scores;
      pr_auc     average precision, anomalous = positive;
      fpr/tpr/roc_thresholds and precision/recall: the micro curves (roc_thresholds[0] is +inf).
    Caveat of per-video min-max (as the papers do it): a video with a single class is stretched over
    [0, 1] too, so even a perfect score can give micro AUC < 1 when some videos are all-anomalous
    (Ped2 clips 08-11 are); macro AUC is immune. `normalize="none"` avoids it for comparable scores.
    Pixel level: when both `error_maps` (name -> (N, h, w)) and `masks` (name -> (N, H, W) bool,
    or None) are given, `pixel_auc` over the videos present in both. `frames_per_second` (model
    throughput, measured elsewhere) is passed through into the result.
    Raises ValueError when the two dicts name different videos, a video's scores and labels differ
    in length, or labels are not 0/1.
    """
    if set(scores) != set(labels):
        missing_labels = sorted(set(scores) - set(labels))
        missing_scores = sorted(set(labels) - set(scores))
        raise ValueError(
            "scores and labels must name the same videos; "
            f"videos with scores but no labels: {missing_labels}; with labels but no scores: {missing_scores}"
        )
    if not scores:
        raise ValueError("evaluate: no videos given")

    names = sorted(scores)
    processed, label_arrays = {}, {}
    for name in names:
        score_array, label_array = _scores_and_labels(scores[name], labels[name], name=f"video '{name}'")
        processed[name] = postprocess(score_array, normalize=normalize, smooth_sigma=smooth_sigma)
        label_arrays[name] = label_array

    per_video_auc = {name: auc_score(processed[name], label_arrays[name]) for name in names}
    single_class = [name for name in names if not _has_both_classes(label_arrays[name])]
    both_class_aucs = [per_video_auc[name] for name in names if name not in single_class]
    macro_auc = float(np.mean(both_class_aucs)) if both_class_aucs else float("nan")

    all_scores = np.concatenate([processed[name] for name in names])  # (sum N,)
    all_labels = np.concatenate([label_arrays[name] for name in names])  # (sum N,)
    fpr, tpr, roc_thresholds = roc_curve(all_scores, all_labels)
    precision, recall, _ = pr_curve(all_scores, all_labels)
    eer, eer_threshold = equal_error_rate(all_scores, all_labels)

    result_pixel_auc = None
    if error_maps is not None and masks is not None:
        shared = [name for name in names if name in error_maps and name in masks]
        for name in shared:
            n_maps = np.shape(error_maps[name])[0]
            if masks[name] is not None and (n_maps != len(masks[name]) or n_maps != len(label_arrays[name])):
                raise ValueError(
                    f"video '{name}': {n_maps} error maps, {len(masks[name])} masks and "
                    f"{len(label_arrays[name])} frame labels; need one of each per frame"
                )
        result_pixel_auc = pixel_auc(
            [error_maps[name] for name in shared], [masks[name] for name in shared], max_pixels=max_pixels
        )

    return EvalResult(
        micro_auc=auc_score(all_scores, all_labels),
        macro_auc=macro_auc,
        eer=eer,
        eer_threshold=eer_threshold,
        pr_auc=_average_precision(all_scores, all_labels),
        per_video_auc=per_video_auc,
        single_class_videos=single_class,
        n_frames=int(all_labels.size),
        n_anomalous=int(all_labels.sum()),
        fpr=fpr,
        tpr=tpr,
        roc_thresholds=roc_thresholds,
        precision=precision,
        recall=recall,
        frames_per_second=float(frames_per_second),
        pixel_auc=result_pixel_auc,
    )
