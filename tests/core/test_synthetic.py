"""Synthetic walkway videos: determinism, ground truth, the sample layout, visibility of anomalies."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vadlab.data.synthetic import ANOMALY_KINDS, SyntheticClip, generate_clip, write_samples


@pytest.fixture(scope="module")
def anomalous_clips() -> dict[str, SyntheticClip]:
    """One default-length clip per anomaly kind, all from one scene (as `write_samples` makes them)."""
    return {kind: generate_clip(100 + i, anomalies=(kind,), scene_seed=0) for i, kind in enumerate(ANOMALY_KINDS)}


def test_clip_shapes_dtypes_and_grey_content():
    clip = generate_clip(1, n_frames=6, width=96, height=72)
    assert clip.frames.shape == (6, 72, 96, 3) and clip.frames.dtype == np.uint8
    assert clip.labels.shape == (6,) and clip.labels.dtype == np.uint8
    assert clip.masks.shape == (6, 72, 96) and clip.masks.dtype == bool
    assert np.array_equal(clip.frames[..., 0], clip.frames[..., 1])
    assert np.array_equal(clip.frames[..., 0], clip.frames[..., 2])
    assert clip.fps == 10.0 and clip.anomaly_kinds == [] and len(clip) == 6
    # a normal clip has no anomalous frame and no anomalous pixel
    assert clip.labels.sum() == 0 and not clip.masks.any() and clip.anomalous_span is None
    # a real-looking scene: a spread of grey levels, not a flat image
    assert clip.frames[0].std() > 15


def test_generation_is_deterministic_for_a_seed():
    a = generate_clip(7, n_frames=10, anomalies=("large_object",))
    b = generate_clip(7, n_frames=10, anomalies=("large_object",))
    c = generate_clip(8, n_frames=10, anomalies=("large_object",))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)


def test_clips_with_one_scene_seed_share_the_background():
    a = generate_clip(1, n_frames=2, scene_seed=5)
    b = generate_clip(2, n_frames=2, scene_seed=5)
    other_scene = generate_clip(2, n_frames=2, scene_seed=6)
    def median_difference(x, y):
        return float(np.median(np.abs(x.frames[0].astype(int) - y.frames[0].astype(int))))
    # same camera: pixels differ by sensor noise (and where people walk); another camera: everywhere
    assert median_difference(a, b) <= 3
    assert median_difference(b, other_scene) >= 6


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_anomaly_is_one_contiguous_span_in_the_middle(anomalous_clips, kind):
    clip = anomalous_clips[kind]
    assert clip.anomaly_kinds == [kind]
    assert np.array_equal(clip.labels, clip.masks.any(axis=(1, 2)).astype(np.uint8))
    first, last = clip.anomalous_span
    assert clip.labels[first : last + 1].all(), "anomalous frames must be one contiguous run"
    assert first >= 10 and last <= len(clip) - 10, "normal frames before and after the anomaly"
    assert 0.35 <= clip.labels.mean() <= 0.7


def test_anomalies_look_and_move_as_described(anomalous_clips):
    areas = {k: c.masks.sum(axis=(1, 2))[c.labels == 1] for k, c in anomalous_clips.items()}
    person_area = np.median(areas["wrong_direction"])
    assert 40 <= person_area <= 160  # a ~6x14 px figure at 160x120
    assert np.median(areas["large_object"]) > 4 * person_area  # a cart is several people big

    def centroids(clip):
        idx = np.flatnonzero(clip.labels)
        ys, xs = [], []
        for t in idx:
            yy, xx = np.nonzero(clip.masks[t])
            ys.append(yy.mean())
            xs.append(xx.mean())
        return np.array(xs), np.array(ys)

    # the lawn crosser starts walking across the frame (x), perpendicular to the walkway (y)
    xs, ys = centroids(anomalous_clips["wrong_direction"])
    assert abs(xs[25] - xs[5]) > 3 * abs(ys[25] - ys[5]) and abs(xs[25] - xs[5]) > 10
    # the cart drives along the walkway faster than anyone walks (> 1.2 px/frame)
    xs, ys = centroids(anomalous_clips["large_object"])
    assert np.abs(np.diff(ys[5:-5])).mean() > 1.2 and np.ptp(xs[5:-5]) < 3
    # the erratic person changes direction often: the vertical step flips sign many times
    xs, ys = centroids(anomalous_clips["erratic"])
    flips = np.sum(np.diff(np.sign(np.diff(ys))) != 0)
    assert flips >= 8


def test_anomalies_stand_out_from_normal_frames_against_the_background(anomalous_clips):
    """Foreground energy against a background estimated from normal clips of the same scene:
    anomalous frames carry clearly more of it (what a model of normality can learn to see)."""
    normal = generate_clip(1, n_frames=30, scene_seed=0).frames[..., 0].astype(np.float32)
    background = np.median(normal, axis=0)  # (H, W)
    from sklearn.metrics import roc_auc_score

    scores, labels = [], []
    for clip in anomalous_clips.values():
        residual = np.abs(clip.frames[..., 0].astype(np.float32) - background)  # (T, H, W)
        energy = (residual**2).mean(axis=(1, 2))
        scores.append((energy - energy.min()) / (np.ptp(energy) + 1e-9))
        labels.append(clip.labels)
    assert roc_auc_score(np.concatenate(labels), np.concatenate(scores)) > 0.85


def test_unknown_anomaly_kind_is_rejected_with_the_valid_kinds():
    with pytest.raises(ValueError, match="fast_object"):
        generate_clip(0, n_frames=4, anomalies=("meteor",))
    with pytest.raises(ValueError, match="unknown anomaly"):
        generate_clip(0, n_frames=4, anomalies="erratic")  # a string, not a sequence of kinds
    with pytest.raises(ValueError, match="n_frames"):
        generate_clip(0, n_frames=0)


def test_write_samples_layout_labels_masks_and_videos(tmp_path):
    import av

    out = write_samples(tmp_path / "samples", seed=3, n_train=1, n_test=4, n_frames=40)
    assert (out / "training" / "train_01.mp4").is_file()
    assert (out / "README.md").read_text().count("seed=3") >= 1
    labels = json.loads((out / "testing" / "labels.json").read_text())
    kinds = json.loads((out / "testing" / "kinds.json").read_text())
    assert sorted(labels) == sorted(kinds) == ["test_01", "test_02", "test_03", "test_04"]
    assert sorted(k for v in kinds.values() for k in v) == sorted(ANOMALY_KINDS)
    for stem, frame_labels in labels.items():
        assert len(frame_labels) == 40 and set(frame_labels) <= {0, 1} and 0 < sum(frame_labels) < 40
        masks = np.load(out / "testing" / "masks" / f"{stem}.npz")["masks"]
        assert masks.shape == (40, 120, 160) and masks.dtype == bool
        assert np.array_equal(masks.any(axis=(1, 2)).astype(int), np.array(frame_labels))
        with av.open(str(out / "testing" / f"{stem}.mp4")) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == 40 and frames[0].shape == (120, 160, 3)
    # the written clips are the generated ones (same seed -> same pixels, up to H.264 loss)
    again = generate_clip(3 * 1000 + 501, n_frames=40, anomalies=(kinds["test_01"][0],), scene_seed=3)
    with av.open(str(out / "testing" / "test_01.mp4")) as container:
        decoded = next(iter(container.decode(video=0))).to_ndarray(format="rgb24")
    assert np.abs(decoded.astype(int) - again.frames[0].astype(int)).mean() < 4
