"""The shared vocabulary: what models, scoring, metrics and the app pass to each other.

Everything here is plain numpy (or small tensors for a batch) so that the app, the CLI and notebooks
can use the results without touching torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:  # plain numpy users (metrics, plots) need not import torch
    import torch


@dataclass
class Batch:
    """One training / scoring batch of windows.

    clip:   (B, C, T, H, W) float in [-1, 1], the input window of T frames.
    target: (B, C, H, W) the frame the model is judged on: the last frame of the window for
            reconstruction families, the frame after the window for prediction families.
    label:  (B,) float 0/1 window labels (only supervised families use them in training), or None.
    frame_index: (B,) index in its video of the scored (target) frame, or None.
    reference: (B, C, T, H, W) what a reconstruction of `clip` should be, or None (= `clip` itself).
            Training against pseudo-anomalies (`vadlab.data.clips.PseudoAnomalyWindows`) sets it:
            a normal window is its own reference, a skip-frame pseudo-anomaly's reference is the
            normal window that starts at the same frame (Astrid et al., BMVC 2021).
    pseudo: (B,) bool, True where the window is a pseudo-anomaly, or None (no pseudo-anomalies).
    """

    clip: torch.Tensor
    target: torch.Tensor
    label: Optional[torch.Tensor] = None
    frame_index: Optional[torch.Tensor] = None
    reference: Optional[torch.Tensor] = None
    pseudo: Optional[torch.Tensor] = None

    @property
    def reconstruction_target(self) -> "torch.Tensor":
        """(B, C, T, H, W): what reconstruction families are trained to output for `clip`."""
        return self.clip if self.reference is None else self.reference

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.clip), move(self.target), move(self.label), move(self.frame_index),
                     move(self.reference), move(self.pseudo))


@dataclass
class ClipOutput:
    """What a model says about a batch of windows (one scored frame per window).

    score:     (B,) anomaly score of the scored frame; HIGHER = MORE ANOMALOUS, whatever the family
               (PSNR families return -PSNR; see `raw` for the value in the paper's units).
    raw:       (B,) the family's native quantity (MSE, PSNR in dB, latent distance, probability).
    output:    (B, C, H, W) reconstruction / prediction of the scored frame in [-1, 1], or None for
               families that produce no image (e.g. a classifier).
    error_map: (B, H, W) per-pixel anomaly evidence for the scored frame (>= 0), or None.
    """

    score: torch.Tensor
    raw: torch.Tensor
    output: Optional[torch.Tensor] = None
    error_map: Optional[torch.Tensor] = None


@dataclass
class FrameScores:
    """Per-frame scores of one video.

    scores:  (N,) float64 anomaly score per frame, higher = more anomalous (unnormalised).
    raw:     (N,) the family's native quantity per frame.
    scored:  (N,) bool, True where a window actually scored this frame. Frames before the first
             full window (the first T-1 frames, or T for prediction families) take the first scored
             frame's value so that every frame has a score; `scored` says which ones those are.
    error_maps: (N, h, w) float16 error maps at model resolution, or None when not kept.
    outputs: (N, C, h, w) uint8 reconstructions / predictions at model resolution, or None.
    pooled:  other poolings of the error maps from the same pass, key -> (N,) float64 scores
             ("patch16", "topk0.01": see `vadlab.protocol`); empty for families without error maps.
    fps_assumed: True when `fps` is a default, not read from the container or the dataset.
    """

    video: str
    scores: np.ndarray
    raw: np.ndarray
    scored: np.ndarray
    score_kind: str
    error_maps: Optional[np.ndarray] = None
    outputs: Optional[np.ndarray] = None
    fps: float = 25.0
    labels: Optional[np.ndarray] = None
    pooled: dict = field(default_factory=dict)
    fps_assumed: bool = False

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def score_for(self, key: str = "mean") -> np.ndarray:
        """(N,) scores of a pooling key ("mean" = the family's own score)."""
        if key == "mean":
            return self.scores
        if key not in self.pooled:
            have = ", ".join(["mean", *self.pooled]) or "mean"
            raise KeyError(f"{self.video}: no '{key}' scores (this family/scoring pass has: {have})")
        return self.pooled[key]


@dataclass
class Event:
    """A contiguous run of anomalous frames (an alert)."""

    start: int  # first frame index (inclusive)
    end: int  # last frame index (inclusive)
    peak_frame: int
    peak_score: float

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class EvalResult:
    """Frame-level evaluation of a set of videos.

    micro_auc: ROC AUC over all frames of all videos concatenated.
    macro_auc: mean of per-video ROC AUCs over the videos that have both classes (nan if none).
    """

    micro_auc: float
    macro_auc: float
    eer: float
    eer_threshold: float
    pr_auc: float
    per_video_auc: dict[str, float]
    single_class_videos: list[str]
    n_frames: int
    n_anomalous: int
    fpr: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    tpr: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    roc_thresholds: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    precision: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    recall: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    frames_per_second: float = float("nan")
    pixel_auc: Optional[float] = None
    protocol: Optional[dict] = None  # `vadlab.protocol.Protocol.to_dict()` of the numbers above

    def summary(self) -> dict[str, float]:
        """The headline numbers as a flat dict (the CLI's --json keys)."""
        out = {
            "protocol": self.protocol,
            "micro_auc": self.micro_auc,
            "macro_auc": self.macro_auc,
            "eer": self.eer,
            "pr_auc": self.pr_auc,
            "frames_per_second": self.frames_per_second,
            "n_frames": self.n_frames,
            "n_anomalous": self.n_anomalous,
            "single_class_videos": list(self.single_class_videos),
        }
        if self.pixel_auc is not None:
            out["pixel_auc"] = self.pixel_auc
        return out
