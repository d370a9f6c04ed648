"""vadlab.data.device_windows: the device-resident window path gives exactly the host path's batches
(WindowDataset + collate_windows) for the same indices, plain and with skip-frame pseudo-anomalies,
for reconstruction ("window") and prediction ("next") targets, strides and labels. Run on the CPU
(device="cpu": the same code as on CUDA, where only the tensors' home differs)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlab.data.clips import PseudoAnomalyWindows, WindowDataset, collate_windows
from vadlab.data.device_windows import DeviceWindows, fits_on_device, frames_bytes
from vadlab.outputs import Batch


def _videos(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (n, 2, 6, 5), dtype=torch.uint8, generator=gen) for n in (9, 14, 6)]  # (T_i, C, H, W)


def _assert_same(device_batch: Batch, host_batch: Batch) -> None:
    for name in ("clip", "target", "frame_index", "label", "reference", "pseudo"):
        got, want = getattr(device_batch, name), getattr(host_batch, name)
        if want is None:
            assert got is None, name
            continue
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert torch.equal(got.cpu(), want), name
    assert device_batch.clip.is_contiguous()


@pytest.mark.parametrize("target,stride", [("window", 1), ("next", 1), ("window", 2), ("next", 3)])
def test_plain_windows_equal_the_host_path(target, stride):
    videos = _videos()
    labels = [np.random.default_rng(i).integers(0, 2, int(v.shape[0])) for i, v in enumerate(videos)]
    dataset = WindowDataset(videos, window=4, target=target, stride=stride, labels=labels)
    windows = DeviceWindows.from_dataset(dataset, "cpu")
    assert len(windows) == len(dataset) and windows.frames.shape == (29, 2, 6, 5)
    order = np.random.default_rng(1).permutation(len(dataset))
    for chunk in np.array_split(order, 3):
        host = collate_windows([dataset[int(i)] for i in chunk])
        _assert_same(windows.batch(chunk), host)
        _assert_same(windows.batch(chunk, dataset), host)


@pytest.mark.parametrize("target", ["window", "next"])
def test_pseudo_anomaly_windows_equal_the_host_path(target):
    dataset = WindowDataset(_videos(1), window=3, target=target, stride=1)
    windows = DeviceWindows.from_dataset(dataset, "cpu")
    for seed, probability in ((5, 0.5), (6, 1.0), (7, 0.0)):
        source = PseudoAnomalyWindows(dataset, probability, skips=(2, 3), seed=seed)
        order = np.random.default_rng(seed).permutation(len(dataset))
        pseudo_seen = False
        for chunk in np.array_split(order, 4):
            host = collate_windows([source[int(i)] for i in chunk])
            got = windows.batch(chunk, source)
            _assert_same(got, host)
            pseudo_seen |= bool(host.pseudo.any())
        assert pseudo_seen == (probability > 0)


def test_checks_and_memory_rule():
    videos = _videos()
    dataset = WindowDataset(videos, window=4, target="window")
    windows = DeviceWindows(dataset, "cpu")
    with pytest.raises(ValueError, match="at least one window"):
        windows.batch([])
    other = WindowDataset(videos, window=4, target="window")
    with pytest.raises(ValueError, match="PseudoAnomalyWindows source must wrap"):
        windows.batch([0], PseudoAnomalyWindows(other, 0.5, (2,), seed=0))
    with pytest.raises(ValueError, match="source must be"):
        windows.batch([0], other)
    with pytest.raises(ValueError, match="uint8"):
        DeviceWindows(WindowDataset([videos[0].float()], 4, "window"), "cpu")
    assert frames_bytes(videos) == 29 * 2 * 6 * 5
    assert fits_on_device(videos, torch.device("cpu"))
