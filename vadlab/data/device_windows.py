"""Training windows gathered on the device: every frame of a run held once as uint8 where the model is.

The host path (`WindowDataset` + `collate_windows` in a DataLoader) slices each window on the CPU,
stacks the items, converts to float and copies the float batch to the device: per step that is
B Python item calls, a float copy 4x the size of the uint8 frames, and a host-to-device transfer of
it. Here the frames of all training videos are copied to the device ONCE, as one uint8 tensor
(N_frames, C, H, W) with per-video offsets (Ped2's training split at 256x256 grey: ~170 MB); a batch
is then one gather (index_select) of (B, T) frame numbers and the [-1, 1] normalisation, both on
the device. The only per-step host work is working out those frame numbers (numpy, B x T integers)
and one small non-blocking copy of them; nothing waits for the device. Meant for CUDA: on the CPU
(where it runs the same code, and the tests run it) it is no faster than the host path (one thread,
ms per batch host / here: 64x64 grey T 4 B 8: 0.19 / 0.23; 128x128 RGB T 8 B 8: 8.9 / 7.3; 256x256
grey T 4 B 4: 1.0 / 1.4), so the training loop keeps the host path there.

It gives exactly the batches of the host path for the same window indices (clip, target,
frame_index, label, and for `PseudoAnomalyWindows` sources reference and pseudo: same values, dtypes
and shapes; tests/core/test_device_windows.py): the frame numbers are taken from the host classes
themselves, run over "videos" whose pixels are their own frame numbers, so the window rules
(stride, target frame, skip-frame pseudo-anomalies and their draws) live in one place, clips.py.

    windows = DeviceWindows.from_dataset(train_set, device)        # once per run
    batch = windows.batch(order[i * B:(i + 1) * B], epoch_source)  # per step; == collate_windows(...).to(device)
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch

from vadlab.data.clips import PseudoAnomalyWindows, WindowDataset, to_unit_range
from vadlab.outputs import Batch


def frames_bytes(videos: Sequence[torch.Tensor]) -> int:
    """Bytes of the uint8 frames of `videos` (each (T_i, C, H, W)) once resident."""
    return sum(int(v.numel()) * v.element_size() for v in videos)


def fits_on_device(videos: Sequence[torch.Tensor], device: torch.device, max_fraction: float = 0.25) -> bool:
    """True when the frames of `videos` take at most `max_fraction` of the device's FREE memory now
    (CUDA: torch.cuda.mem_get_info), leaving the rest to the model, activations and optimizer state.
    Always True on the CPU, where the frames already live in host memory."""
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return frames_bytes(videos) <= max_fraction * free


class DeviceWindows:
    """The windows of a `WindowDataset`, gathered on `device` from one resident uint8 frame tensor.

    frames: (N_frames, C, H, W) uint8 on the device, the dataset's videos one after another
            (video v starts at `offsets[v]`).
    Window i of the dataset is frames[starts[i] : starts[i] + T] and its target frames[targets[i]].
    """

    def __init__(self, dataset: WindowDataset, device: Union[str, torch.device]):
        self.dataset = dataset
        self.device = torch.device(device)
        videos = dataset.videos
        if not videos:
            raise ValueError("DeviceWindows needs at least one video")
        lengths = [int(v.shape[0]) for v in videos]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)  # (V,)
        shape = tuple(videos[0].shape[1:])  # (C, H, W)
        for v in videos:
            if v.dtype != torch.uint8 or tuple(v.shape[1:]) != shape:
                raise ValueError(f"DeviceWindows needs uint8 videos of one frame shape (T, {shape}), "
                                 f"got {tuple(v.shape)} {v.dtype}")
        self.frames = torch.empty((sum(lengths), *shape), dtype=torch.uint8, device=self.device)  # (N, C, H, W)
        for offset, video in zip(self.offsets, videos):
            self.frames[int(offset):int(offset) + video.shape[0]].copy_(video)
        index = dataset.index
        self.starts = np.array([self.offsets[w.video] + w.start for w in index], dtype=np.int64)  # (N_windows,)
        self.targets = np.array([self.offsets[w.video] + w.target for w in index], dtype=np.int64)  # (N_windows,)
        self.frame_index = np.array([w.target for w in index], dtype=np.int64)  # (N_windows,) within its video
        self.labels = (np.array([dataset.window_label(i) for i in range(len(index))], dtype=np.float32)
                       if dataset.labels is not None else None)
        # The same windows over "videos" whose single pixel is the frame's number in `frames`: the host
        # classes run on these give the frame numbers of any item (e.g. a skip-frame pseudo-anomaly).
        numbered = [torch.arange(int(o), int(o) + n, dtype=torch.int64).view(n, 1, 1, 1)
                    for o, n in zip(self.offsets, lengths)]
        self._numbered = WindowDataset(numbered, dataset.window, dataset.target, stride=1)
        self._numbered.index = index  # the dataset's own windows, whatever stride made them
        self._numbered.labels = dataset.labels
        self._numbered.label_fraction = dataset.label_fraction
        self._window_offsets = np.arange(dataset.window, dtype=np.int64)  # (T,)

    @classmethod
    def from_dataset(cls, dataset: WindowDataset, device: Union[str, torch.device]) -> "DeviceWindows":
        """Copy the frames of `dataset` (the run's training windows) to `device` once."""
        return cls(dataset, device)

    def __len__(self) -> int:
        return len(self.starts)

    def _numbered_items(self, indices: np.ndarray, source: PseudoAnomalyWindows) -> list[dict]:
        if source.base is not self.dataset:
            raise ValueError("the PseudoAnomalyWindows source must wrap the dataset these DeviceWindows were made from")
        mirror = PseudoAnomalyWindows(self._numbered, source.probability, source.skips, source.seed)
        return [mirror[int(i)] for i in indices]

    def _gather(self, ids: torch.Tensor) -> torch.Tensor:
        """frames[ids] for frame numbers ids (...) -> (..., C, H, W) uint8. index_select on the
        flattened numbers: on the CPU 16x faster than advanced indexing (measured, 256x256 frames)."""
        return self.frames.index_select(0, ids.reshape(-1)).view(*ids.shape, *self.frames.shape[1:])

    def batch(self, indices: Union[Sequence[int], np.ndarray],
              source: Optional[Union[WindowDataset, PseudoAnomalyWindows]] = None) -> Batch:
        """The batch of windows `indices` (host integers, e.g. a slice of the epoch's permutation), on
        the device: equal to `collate_windows([source[i] for i in indices]).to(device)`.

        source: what the host path would index: None or the dataset itself (plain windows), or the
        epoch's `PseudoAnomalyWindows` over it (its draws, per (seed, index), are reproduced exactly).
        Returns Batch(clip (B, C, T, H, W) float32 in [-1, 1], target (B, C, H, W), frame_index (B,)
        int64, label (B,) float32 or None, reference (B, C, T, H, W) or None, pseudo (B,) bool or None),
        every tensor on the device.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)  # (B,)
        if idx.size == 0:
            raise ValueError("DeviceWindows.batch needs at least one window index")
        pseudo = None
        reference_ids = None
        if isinstance(source, PseudoAnomalyWindows):
            items = self._numbered_items(idx, source)
            numbered = collate_numbers(items)
            clip_ids, target_ids, frame_index = numbered["clip"], numbered["target"], numbered["frame_index"]
            pseudo = numbered["pseudo"]  # (B,) bool, host
            if pseudo.any():  # as collate_windows: a batch without pseudo-anomalies is its own reference
                reference_ids = numbered["reference"]
        elif source is None or source is self.dataset:
            clip_ids = self.starts[idx, None] + self._window_offsets  # (B, T)
            target_ids = self.targets[idx]  # (B,)
            frame_index = self.frame_index[idx]  # (B,)
        else:
            raise ValueError("source must be the DeviceWindows' dataset or a PseudoAnomalyWindows over it")
        b, t = clip_ids.shape
        parts = [clip_ids, target_ids[:, None], frame_index[:, None]] + ([reference_ids] if reference_ids is not None else [])
        packed = torch.from_numpy(np.concatenate(parts, axis=1))  # (B, T + 2 [+ T]) one host array
        on_device = packed.to(self.device, non_blocking=True)  # one small copy, no wait
        clip = self._gather(on_device[:, :t])  # (B, T, C, H, W) uint8
        clip = to_unit_range(clip.permute(0, 2, 1, 3, 4).contiguous())  # (B, C, T, H, W)
        target = to_unit_range(self._gather(on_device[:, t]))  # (B, C, H, W)
        reference = None
        if reference_ids is not None:
            reference = to_unit_range(self._gather(on_device[:, t + 2:]).permute(0, 2, 1, 3, 4).contiguous())  # (B, C, T, H, W)
        label = None
        if self.labels is not None:
            label = torch.from_numpy(self.labels[idx]).to(self.device, non_blocking=True)  # (B,)
        pseudo_t = None if pseudo is None else torch.from_numpy(pseudo).to(self.device, non_blocking=True)
        return Batch(clip=clip, target=target, label=label, frame_index=on_device[:, t + 1].clone(),
                     reference=reference, pseudo=pseudo_t)


def collate_numbers(items: list[dict]) -> dict[str, np.ndarray]:
    """Items of the frame-numbered mirror dataset -> frame numbers: "clip" (B, T), "target" (B,),
    "frame_index" (B,), "reference" (B, T) and "pseudo" (B,) bool. `collate_windows` would turn the
    same items into [-1, 1] floats; here the numbers themselves are wanted."""
    return {
        "clip": np.stack([it["clip"].reshape(-1).numpy() for it in items]),  # (B, T): (1, T, 1, 1) each
        "target": np.array([int(it["target"].reshape(-1)[0]) for it in items], dtype=np.int64),
        "frame_index": np.array([int(it["frame_index"]) for it in items], dtype=np.int64),
        "reference": np.stack([it["reference"].reshape(-1).numpy() for it in items]),
        "pseudo": np.array([bool(it["pseudo"]) for it in items]),
    }


__all__ = ["DeviceWindows", "collate_numbers", "fits_on_device", "frames_bytes"]
