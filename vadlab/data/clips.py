"""Frames -> model-resolution tensors -> windows of T frames `(B, C, T, H, W)`.

Videos are converted ONCE to the model's resolution and channel count and kept as uint8
(T, C, H, W) tensors (a Ped2 training split at 128x128 grey is ~40 MB), then windows are sliced
on the fly. Pixel values go to [-1, 1] only when a batch is formed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vadlab.outputs import Batch


def to_model_frames(frames: np.ndarray | torch.Tensor, channels: int, height: int, width: int) -> torch.Tensor:
    """uint8 frames (T, H0, W0, C0) -> uint8 tensor (T, channels, height, width).

    Grey <- RGB uses ITU-R BT.601 luma; RGB <- grey repeats the channel. Resizing uses torch
    (area interpolation when shrinking, bilinear when enlarging), never the decoder.
    """
    t = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, torch.Tensor) else frames
    if t.dtype != torch.uint8 or t.ndim != 4:
        raise ValueError(f"expected uint8 frames (T, H, W, C), got {tuple(t.shape)} {t.dtype}")
    x = t.permute(0, 3, 1, 2).float()  # (T, C0, H0, W0)
    c0 = x.shape[1]
    if channels == 1 and c0 >= 3:
        x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])  # (T, 1, H0, W0)
    elif channels == 1 and c0 == 1:
        pass
    elif channels == 3 and c0 == 1:
        x = x.expand(-1, 3, -1, -1)
    elif channels == 3 and c0 >= 3:
        x = x[:, :3]
    else:
        raise ValueError(f"cannot convert {c0}-channel frames to {channels} channels")
    if x.shape[-2:] != (height, width):
        shrinking = x.shape[-2] >= height and x.shape[-1] >= width
        chunks = []
        for chunk in x.split(64):  # bound the float working set for long videos
            if shrinking:
                chunks.append(F.interpolate(chunk, size=(height, width), mode="area"))
            else:
                chunks.append(F.interpolate(chunk, size=(height, width), mode="bilinear", align_corners=False))
        x = torch.cat(chunks)  # (T, C, height, width)
    return x.round().clamp(0, 255).to(torch.uint8).contiguous()


def to_unit_range(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [-1, 1]."""
    return x_uint8.float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8."""
    return x.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


@dataclass
class WindowIndex:
    video: int  # index into the videos list
    start: int  # first frame of the window
    target: int  # index of the scored frame


def window_indices(n_frames: int, window: int, target: Literal["window", "next"], stride: int = 1) -> list[tuple[int, int]]:
    """(start, scored_frame) pairs of every window in a video of `n_frames` frames."""
    span = window + (1 if target == "next" else 0)
    if n_frames < span:
        return []
    out = []
    for start in range(0, n_frames - span + 1, stride):
        out.append((start, start + window - 1 if target == "window" else start + window))
    return out


class WindowDataset(Dataset):
    """Windows over a list of model-resolution videos.

    videos: list of uint8 tensors (T_i, C, H, W) (from `to_model_frames`).
    labels: optional list of (T_i,) 0/1 arrays; a window's label is 1 when at least
            `label_fraction` of its frames (window frames + target) are anomalous.
    """

    def __init__(
        self,
        videos: Sequence[torch.Tensor],
        window: int,
        target: Literal["window", "next"],
        stride: int = 1,
        labels: Optional[Sequence[np.ndarray]] = None,
        label_fraction: float = 0.5,
    ):
        self.videos = list(videos)
        self.window = window
        self.target = target
        self.labels = None if labels is None else [np.asarray(l).astype(np.float32) for l in labels]
        self.label_fraction = label_fraction
        self.index: list[WindowIndex] = []
        for vi, video in enumerate(self.videos):
            for start, tgt in window_indices(int(video.shape[0]), window, target, stride):
                self.index.append(WindowIndex(vi, start, tgt))

    def __len__(self) -> int:
        return len(self.index)

    def window_label(self, i: int) -> float:
        w = self.index[i]
        assert self.labels is not None
        frames = self.labels[w.video][w.start : w.target + 1]
        return float(frames.mean() >= self.label_fraction)

    def __getitem__(self, i: int) -> dict:
        w = self.index[i]
        video = self.videos[w.video]
        clip = video[w.start : w.start + self.window]  # (T, C, H, W) uint8
        item = {
            "clip": clip.permute(1, 0, 2, 3),  # (C, T, H, W)
            "target": video[w.target],  # (C, H, W)
            "frame_index": w.target,
        }
        if self.labels is not None:
            item["label"] = self.window_label(i)
        return item


def collate_windows(items: list[dict]) -> Batch:
    """DataLoader collate_fn: uint8 items -> a float `Batch` in [-1, 1]. Items from
    `PseudoAnomalyWindows` also carry "reference" (C, T, H, W) and "pseudo" (bool)."""
    clip = to_unit_range(torch.stack([it["clip"] for it in items]))  # (B, C, T, H, W)
    target = to_unit_range(torch.stack([it["target"] for it in items]))  # (B, C, H, W)
    frame_index = torch.tensor([it["frame_index"] for it in items])
    label = torch.tensor([it["label"] for it in items], dtype=torch.float32) if "label" in items[0] else None
    reference = pseudo = None
    if "pseudo" in items[0]:
        pseudo = torch.tensor([bool(it["pseudo"]) for it in items])  # (B,)
        if bool(pseudo.any()):  # a batch without pseudo-anomalies is its own reference
            reference = to_unit_range(torch.stack([it["reference"] for it in items]))  # (B, C, T, H, W)
    return Batch(clip=clip, target=target, label=label, frame_index=frame_index, reference=reference, pseudo=pseudo)


def skip_frame_item(video: torch.Tensor, start: int, window: int, target: Literal["window", "next"],
                    skip: int) -> Optional[dict]:
    """A skip-frame pseudo-anomaly (Astrid et al., "Learning Not to Reconstruct Anomalies", BMVC 2021;
    STEAL Net, ICCVW 2021): the window of frames start, start+skip, ..., start+(T-1)*skip, i.e. the
    scene played `skip` x faster, an abnormal motion made from normal footage only.

    Returns a WindowDataset-like item: "clip" (C, T, H, W) the fast window; "reference" (C, T, H, W)
    the NORMAL window that starts at the same frame (what reconstruction families are trained to
    output instead: they learn not to reconstruct the anomaly); "target" (C, H, W): for "window"
    families the fast window's last frame (the scored frame, as for any window), for "next"
    (prediction) families the frame right after the fast window's last frame, i.e. the scene
    continuing at normal speed (what they are trained to predict instead); "pseudo": True.
    The window is moved back when it runs past the video's end; None when the video is too short.
    """
    n = int(video.shape[0])
    span = (window - 1) * skip + 1 + (1 if target == "next" else 0)
    if n < max(span, window):
        return None
    start = min(start, n - span)
    idx = [start + skip * j for j in range(window)]
    reference = video[start:start + window]  # (T, C, H, W) normal speed
    tgt = idx[-1] + 1 if target == "next" else idx[-1]
    return {"clip": video[idx].permute(1, 0, 2, 3), "reference": reference.permute(1, 0, 2, 3),
            "target": video[tgt], "frame_index": tgt, "pseudo": True}


def local_speedup(video: torch.Tensor, skip: int, seed: int) -> torch.Tensor:
    """A local motion pseudo-anomaly made from normal footage only: (T, C, H, W) uint8 -> (T // skip,
    C, H, W), the video at normal speed except one rectangle (half the height, a third of the width,
    at a place drawn from `seed`) where the scene plays `skip` x faster. Whatever moves there moves
    too fast (and is cut at the rectangle's edge), as a biker among walkers would; the rest of the
    frame is untouched. Used to choose verdict rules without test labels."""
    n = int(video.shape[0]) // skip
    h, w = int(video.shape[-2]), int(video.shape[-1])
    rh, rw = max(1, h // 2), max(1, w // 3)
    rng = np.random.default_rng(seed)
    y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    out = video[:n].clone()  # (n, C, H, W)
    out[:, :, y:y + rh, x:x + rw] = video[::skip][:n, :, y:y + rh, x:x + rw]
    return out


class PseudoAnomalyWindows(Dataset):
    """A `WindowDataset` in which each window is replaced, with probability `probability`, by a
    skip-frame pseudo-anomaly from the same place (`skip_frame_item`, skip drawn from `skips`).

    The draw of item i depends only on (seed, i), so a run is reproducible whatever the loader
    order or worker count; the training loop passes a new seed each epoch. Normal items carry
    "reference" = their own clip and "pseudo" = False.
    """

    def __init__(self, base: WindowDataset, probability: float, skips: Sequence[int], seed: int):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"pseudo-anomaly probability must be in [0, 1], got {probability}")
        if not skips or any(int(s) < 2 for s in skips):
            raise ValueError(f"pseudo-anomaly skips must be integers >= 2, got {tuple(skips)}")
        self.base = base
        self.probability = float(probability)
        self.skips = tuple(int(s) for s in skips)
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        item = self.base[i]
        rng = np.random.default_rng([self.seed, int(i)])
        if rng.random() < self.probability:
            w = self.base.index[i]
            skip = self.skips[int(rng.integers(len(self.skips)))]
            fast = skip_frame_item(self.base.videos[w.video], w.start, self.base.window, self.base.target, skip)
            if fast is not None:
                if "label" in item:
                    fast["label"] = item["label"]
                return fast
        return {**item, "reference": item["clip"], "pseudo": False}


def balanced_indices(labels: np.ndarray, seed: int) -> np.ndarray:
    """Under-sample the majority class (S2's balancing) of 0/1 window labels.

    labels: (N,) 0/1 (values >= 0.5 count as anomalous). Returns the sorted indices of every
    minority-class window plus as many majority-class windows drawn without replacement with
    `np.random.default_rng(seed)`, so both classes have the same count. When one class is absent
    there is nothing to balance against and all indices are returned.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"balanced_indices expects a 1-D array of window labels, got shape {labels.shape}")
    if labels.size and not np.all(np.isin(labels, (0, 1))):
        raise ValueError("balanced_indices expects 0/1 window labels; threshold soft labels first")
    positive = np.flatnonzero(labels >= 0.5)
    negative = np.flatnonzero(labels < 0.5)
    if len(positive) == 0 or len(negative) == 0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    count = min(len(positive), len(negative))
    keep = np.concatenate([rng.choice(positive, count, replace=False), rng.choice(negative, count, replace=False)])
    return np.sort(keep)
