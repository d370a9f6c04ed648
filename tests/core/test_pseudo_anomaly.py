"""Training against skip-frame pseudo-anomalies (Astrid et al., BMVC 2021): the batches are built
as specified, and the loss teaches a model not to reconstruct them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlab.data.clips import PseudoAnomalyWindows, WindowDataset, collate_windows, skip_frame_item, to_unit_range
from vadlab.registry import create_model
from vadlab.train import TrainConfig, fit


def _numbered_video(frames: int = 40) -> torch.Tensor:
    """uint8 (T, 1, 4, 4) whose frame k holds the value k everywhere: a frame says its own index."""
    return torch.arange(frames, dtype=torch.uint8).view(frames, 1, 1, 1).expand(frames, 1, 4, 4).contiguous()


def _frame_numbers(clip: torch.Tensor) -> list[int]:
    """(C, T, H, W) uint8 -> the frame index each of the T frames came from."""
    return [int(v) for v in clip[0, :, 0, 0]]


@pytest.mark.parametrize("target", ["window", "next"])
def test_skip_frame_item_really_skips_frames(target):
    video = _numbered_video(40)
    item = skip_frame_item(video, start=5, window=4, target=target, skip=3)
    assert item["pseudo"] is True
    assert _frame_numbers(item["clip"]) == [5, 8, 11, 14]  # the scene played 3x faster
    assert _frame_numbers(item["reference"]) == [5, 6, 7, 8]  # the normal window at the same place
    if target == "next":  # prediction: the scene continuing at normal speed after the last frame
        assert int(item["target"][0, 0, 0]) == 15 and item["frame_index"] == 15
    else:  # reconstruction: the scored frame is the fast window's last frame, as for any window
        assert int(item["target"][0, 0, 0]) == 14 and item["frame_index"] == 14


def test_skip_frame_item_moves_back_at_the_end_and_refuses_short_videos():
    video = _numbered_video(20)
    item = skip_frame_item(video, start=18, window=4, target="window", skip=5)  # needs 16 frames
    assert _frame_numbers(item["clip"]) == [4, 9, 14, 19]
    assert skip_frame_item(_numbered_video(10), start=0, window=4, target="window", skip=5) is None


def test_pseudo_anomaly_windows_draw_labels_and_reproducibility():
    base = WindowDataset([_numbered_video(60)], window=4, target="window", stride=1)
    none = PseudoAnomalyWindows(base, 0.0, (2, 3), seed=1)
    every = PseudoAnomalyWindows(base, 1.0, (2, 3), seed=1)
    assert not any(none[i]["pseudo"] for i in range(len(base)))
    for i in range(len(base)):
        normal = none[i]
        assert torch.equal(normal["reference"], normal["clip"])  # a normal window is its own reference
        fast = every[i]
        assert fast["pseudo"] is True
        steps = np.diff(_frame_numbers(fast["clip"]))
        assert len(set(steps)) == 1 and steps[0] in (2, 3)  # evenly skipped by a drawn skip
        assert np.all(np.diff(_frame_numbers(fast["reference"])) == 1)
    half = PseudoAnomalyWindows(base, 0.5, (2, 3, 4, 5), seed=7)
    draws = [half[i]["pseudo"] for i in range(len(base))]
    assert 0.25 < np.mean(draws) < 0.75
    again = PseudoAnomalyWindows(base, 0.5, (2, 3, 4, 5), seed=7)
    assert draws == [again[i]["pseudo"] for i in range(len(base))]  # same seed, same draw, any order
    assert draws != [PseudoAnomalyWindows(base, 0.5, (2, 3, 4, 5), seed=8)[i]["pseudo"] for i in range(len(base))]
    batch = collate_windows([half[i] for i in range(8)])
    assert batch.pseudo.tolist() == draws[:8]
    assert batch.reference.shape == batch.clip.shape  # (B, C, T, H, W)
    for b in range(8):  # normal rows: reference == clip; pseudo rows: the normal-speed window
        assert torch.equal(batch.reference[b], batch.clip[b]) != draws[b]
    with pytest.raises(ValueError, match="skips"):
        PseudoAnomalyWindows(base, 0.5, (1,), seed=0)
    with pytest.raises(ValueError, match="probability"):
        PseudoAnomalyWindows(base, 1.5, (2,), seed=0)


def _moving_square_video(frames: int, seed: int) -> torch.Tensor:
    """uint8 (T, 1, 32, 32): a bright square walking right at 1 px per frame over noise-free grey."""
    g = torch.Generator().manual_seed(seed)
    video = torch.full((frames, 1, 32, 32), 60, dtype=torch.uint8)
    y = int(torch.randint(4, 20, (1,), generator=g))
    for t in range(frames):
        x = (t + 3 * seed) % 24
        video[t, :, y:y + 8, x:x + 8] = 220
    return video


def _score_gap(model, videos) -> float:
    """mean score of skip-3 windows minus mean score of normal windows, on the given videos."""
    normal = WindowDataset(videos, model.config.window, "window", stride=1)
    fast = PseudoAnomalyWindows(normal, 1.0, (3,), seed=0)
    model.eval()
    scores = []
    for dataset in (normal, fast):
        batch = collate_windows([dataset[i] for i in range(len(dataset))])
        scores.append(float(model.score_clip(batch).score.mean()))
    return scores[1] - scores[0]


def test_pseudo_anomaly_loss_pushes_pseudo_anomalies_away_from_normal():
    """The same tiny conv_ae, the same seed and steps, trained with and without pseudo-anomalies: with
    them, held-out sped-up windows score further above the normal ones (the model learned not to
    reconstruct abnormal motion), and normal windows are still reconstructed (the loss did not
    blow up)."""
    videos = [_moving_square_video(40, s) for s in range(3)]
    held_out = [_moving_square_video(40, 5)]
    gaps = {}
    for probability in (0.0, 0.5):
        model = create_model("conv_ae", "tiny", height=32, width=32, window=4, pseudo_anomaly_prob=probability,
                             pseudo_anomaly_skips=(3,), lr=3e-3, epochs=4, batch_size=8)
        fit(model, videos, TrainConfig(seed=0, val_fraction=0.0), torch.device("cpu"), "window")
        gaps[probability] = _score_gap(model, held_out)
    assert gaps[0.5] > gaps[0.0] * 1.5 and gaps[0.5] > 0, gaps


def test_local_speedup_plays_one_region_faster_and_leaves_the_rest():
    from vadlab.data.clips import local_speedup

    video = torch.arange(30, dtype=torch.uint8).view(30, 1, 1, 1).expand(30, 1, 12, 12).contiguous()
    out = local_speedup(video, skip=3, seed=4)
    assert out.shape == (10, 1, 12, 12)
    fast = out == (torch.arange(10, dtype=torch.uint8) * 3).view(10, 1, 1, 1)
    normal = out == torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    assert bool((fast | normal).all())
    region = fast[5, 0]  # one 6 x 4 rectangle plays 3x faster, the rest at normal speed
    assert int(region.sum()) == 6 * 4 and bool(normal[5, 0][~region].all())
    assert torch.equal(local_speedup(video, 3, seed=4), out)  # the place depends on the seed only
