"""Model outputs -> per-frame scores, one frame at a time: the one scoring path of vadlab.

Every window (stride 1) scores one frame: its last frame for reconstruction families, the frame
after it for prediction families. In both cases the scored frame is the NEWEST frame of the
window's span, so a frame can be scored the moment it arrives.

`WindowScorer` is the engine: frames go in one by one (`push`), a window is ready as soon as the
model's span of frames is in, and every ready window is scored in one batch (`score_pending`), so a
caller scores one window at a time when it keeps up and batches when frames have queued. It holds
at most span - 1 + batch_size frames, whatever the stream's length. `score_frame_iter` drives it
over any iterable of frames (a decoded file chunk by chunk, a camera) and `score_frames` over a
video already in memory; live sources add verdicts and events on top (`vadlab.stream`).

Frames before the first scored frame take the first score (`FrameScores.scored` marks them), so
there is exactly one score per frame.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import numpy as np
import torch

from vadlab.data.clips import to_uint8, to_unit_range
from vadlab.models.base import AnomalyModel
from vadlab.outputs import Batch, FrameScores
from vadlab.protocol import pooled_scores


class VideoTooShortError(ValueError):
    pass


@dataclass
class WindowScores:
    """The scores of a batch of B windows, one scored frame each.

    frame_index: (B,) int64 index of each scored frame (the caller's numbering).
    score, raw:  (B,) float64 (see `ClipOutput`); pooled: key -> (B,) float64 (`vadlab.protocol`).
    error_maps:  (B, h, w) float16 at model resolution (zeroed outside the ROI), or None.
    outputs:     (B, C, h, w) uint8 reconstructions / predictions, or None.
    """

    frame_index: np.ndarray
    score: np.ndarray
    raw: np.ndarray
    pooled: dict[str, np.ndarray] = field(default_factory=dict)
    error_maps: Optional[np.ndarray] = None
    outputs: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])

    def score_for(self, key: str = "mean") -> np.ndarray:
        """(B,) scores of a pooling key ("mean" = the family's own score)."""
        if key == "mean":
            return self.score
        if key not in self.pooled:
            have = ", ".join(["mean", *self.pooled])
            raise KeyError(f"no '{key}' scores for this family (it has: {have})")
        return self.pooled[key]


class WindowScorer:
    """Score a stream of model-resolution frames window by window, with bounded memory.

    model: a loaded family in eval mode on its device; target "window" | "next"; score_kind as the
    family's registry spec. batch_size: the most windows scored at once. keep_maps: also return
    error maps (float16) and outputs (uint8) per window. roi_mask: optional (H, W) bool at model
    resolution; error maps are zeroed outside it (scores are the model's own).

    Frames are uint8 (C, H, W) tensors at the model's resolution (`to_model_frames`); `index` is the
    caller's frame number. A window is the last `window` frames pushed, whatever their numbers:
    after a gap (frames dropped or lost), call `restart()` so that no window spans it.
    """

    def __init__(self, model: AnomalyModel, target: str, score_kind: str, batch_size: int = 32,
                 keep_maps: bool = False, roi_mask: Optional[np.ndarray] = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.target = target
        self.score_kind = score_kind
        self.window = int(model.config.window)
        self.span = self.window + (1 if target == "next" else 0)
        self.batch_size = int(batch_size)
        self.keep_maps = keep_maps
        self.roi = None if roi_mask is None else torch.as_tensor(roi_mask, dtype=torch.float32, device=model.device)
        # the last span - 1 frames of context plus the frames whose windows wait to be scored
        self._frames: deque[tuple[int, torch.Tensor]] = deque(maxlen=self.span - 1 + self.batch_size)
        self._pending = 0
        self.frames_in = 0
        model.eval()

    @property
    def pending(self) -> int:
        """Windows that are full and not yet scored (at most batch_size)."""
        return self._pending

    def push(self, frame: torch.Tensor, index: int) -> None:
        """Add one frame (uint8 (C, H, W)); raises RuntimeError when batch_size windows already wait
        (score them first: memory stays bounded)."""
        if self._pending >= self.batch_size:
            raise RuntimeError(f"{self._pending} windows wait to be scored; call score_pending() first")
        self._frames.append((int(index), frame))
        self.frames_in += 1
        if self.frames_in >= self.span:
            self._pending += 1

    def restart(self) -> None:
        """Forget the context (after a gap in the frame numbers): the next window is made only of
        frames pushed from now on. Windows still pending are discarded: score them first."""
        self._frames.clear()
        self.frames_in = 0
        self._pending = 0

    @torch.no_grad()
    def warm_up(self) -> None:
        """Score one all-grey window and forget it: the first call of a model is slow (allocations,
        kernel selection), and a live stream should not charge that to its first frame."""
        c, h, w = self.model.config.channels, self.model.config.height, self.model.config.width
        clip = torch.zeros(1, c, self.window, h, w, device=self.model.device)
        self.model.score_clip(Batch(clip=clip, target=torch.zeros(1, c, h, w, device=self.model.device),
                                    frame_index=torch.zeros(1, dtype=torch.long)))

    @torch.no_grad()
    def score_pending(self) -> Optional[WindowScores]:
        """Score every full window not yet scored, in one batch. None when none is ready."""
        if self._pending == 0:
            return None
        frames = list(self._frames)
        last = len(frames)
        ends = range(last - self._pending, last)  # positions of the scored (newest) frame of each window
        clip = torch.stack([torch.stack([f for _, f in frames[e - self.span + 1 : e - self.span + 1 + self.window]])
                            .permute(1, 0, 2, 3) for e in ends])  # (B, C, T, H, W) uint8
        target = torch.stack([frames[e][1] for e in ends])  # (B, C, H, W) uint8
        index = torch.tensor([frames[e][0] for e in ends])
        batch = Batch(clip=to_unit_range(clip), target=to_unit_range(target), frame_index=index).to(self.model.device)
        out = self.model.score_clip(batch)
        result = WindowScores(
            frame_index=index.numpy().astype(np.int64),
            score=out.score.float().cpu().numpy().astype(np.float64),
            raw=out.raw.float().cpu().numpy().astype(np.float64),
            pooled={k: v.cpu().numpy().astype(np.float64) for k, v in pooled_scores(out.error_map, self.score_kind).items()},
        )
        if self.keep_maps:
            if out.error_map is not None:
                em = out.error_map.float()  # (B, h, w)
                if self.roi is not None:
                    em = em * self.roi
                result.error_maps = em.cpu().numpy().astype(np.float16)
            if out.output is not None:
                result.outputs = to_uint8(out.output.float()).cpu().numpy()  # (B, C, h, w)
        # keep only the context the next window needs
        for _ in range(len(self._frames) - (self.span - 1)):
            self._frames.popleft()
        self._pending = 0
        return result


class _FrameScoresBuilder:
    """Collects the WindowScores of a stream into the arrays of one FrameScores."""

    def __init__(self, keep_maps: bool):
        self.keep_maps = keep_maps
        self.parts: list[WindowScores] = []

    def add(self, ws: WindowScores) -> None:
        self.parts.append(ws)

    def build(self, n: int, model: AnomalyModel, name: str, score_kind: str, fps: float) -> FrameScores:
        scores = np.zeros(n, dtype=np.float64)
        raw = np.zeros(n, dtype=np.float64)
        scored = np.zeros(n, dtype=bool)
        c, h, w = model.config.channels, model.config.height, model.config.width
        error_maps = np.zeros((n, h, w), dtype=np.float16) if self.keep_maps else None
        outputs = np.zeros((n, c, h, w), dtype=np.uint8) if self.keep_maps else None
        pooled: dict[str, np.ndarray] = {}
        have_map = have_output = False
        while self.parts:  # consume the parts as they are copied: peak memory is one copy
            ws = self.parts.pop(0)
            idx = ws.frame_index
            scores[idx] = ws.score
            raw[idx] = ws.raw
            scored[idx] = True
            for key, values in ws.pooled.items():
                pooled.setdefault(key, np.zeros(n, dtype=np.float64))[idx] = values
            if self.keep_maps:
                if ws.error_maps is not None:
                    error_maps[idx] = ws.error_maps
                    have_map = True
                if ws.outputs is not None:
                    outputs[idx] = ws.outputs
                    have_output = True
        first = int(np.argmax(scored))
        scores[:first] = scores[first]
        raw[:first] = raw[first]
        for values in pooled.values():
            values[:first] = values[first]
        if self.keep_maps:
            error_maps[:first] = error_maps[first]
            outputs[:first] = outputs[first]
        return FrameScores(video=name, scores=scores, raw=raw, scored=scored, score_kind=score_kind,
                           error_maps=error_maps if have_map else None, outputs=outputs if have_output else None,
                           fps=fps, pooled=pooled)


def _too_short(name: str, n: int, span: int, window: int, target: str) -> VideoTooShortError:
    return VideoTooShortError(
        f"{name}: {n} frame(s), but this model needs at least {span} "
        f"({window}-frame window{' + the predicted frame' if target == 'next' else ''})"
    )


def score_frame_iter(
    model: AnomalyModel,
    frames: Iterable[torch.Tensor],
    target: str,
    score_kind: str,
    name: str = "video",
    fps: float = 25.0,
    batch_size: int = 32,
    keep_maps: bool = False,
    roi_mask: Optional[np.ndarray] = None,
    progress: Optional[Callable[[float], None]] = None,
    n_frames: Optional[int] = None,
) -> FrameScores:
    """Score every frame of a stream of frames that ends (a file decoded chunk by chunk).

    frames: an iterable of uint8 (C, H, W) frames, or of uint8 (n, C, H, W) chunks, at the model's
    resolution. Memory: the scorer holds span - 1 + batch_size frames; the result holds the scores
    of every frame (8 bytes per frame and pooling), plus maps and outputs when `keep_maps` (then it
    grows with the video: keep_maps is for clips the caller would hold in memory anyway).
    n_frames: the frame count when known (progress is reported against it).
    Windows are scored in batches of exactly `batch_size` (the last one smaller), so the scores do
    not depend on how the frames were chunked.
    """
    scorer = WindowScorer(model, target, score_kind, batch_size=batch_size, keep_maps=keep_maps, roi_mask=roi_mask)
    builder = _FrameScoresBuilder(keep_maps)
    n = 0
    total_windows = None if n_frames is None else max(1, n_frames - scorer.span + 1)
    done = 0
    for item in frames:
        chunk = item if item.ndim == 4 else item[None]  # (n, C, H, W)
        for frame in chunk:
            scorer.push(frame, n)
            n += 1
            if scorer.pending == batch_size:
                ws = scorer.score_pending()
                builder.add(ws)
                done += len(ws)
                if progress is not None and total_windows:
                    progress(min(1.0, done / total_windows))
    if n < scorer.span:
        raise _too_short(name, n, scorer.span, scorer.window, target)
    if scorer.pending:
        ws = scorer.score_pending()
        builder.add(ws)
        done += len(ws)
        if progress is not None and total_windows:
            progress(min(1.0, done / total_windows))
    return builder.build(n, model, name, score_kind, fps)


@torch.no_grad()
def score_frames(
    model: AnomalyModel,
    frames: torch.Tensor,
    target: str,
    score_kind: str,
    name: str = "video",
    fps: float = 25.0,
    batch_size: int = 32,
    keep_maps: bool = True,
    roi_mask: Optional[np.ndarray] = None,
    progress: Optional[Callable[[float], None]] = None,
) -> FrameScores:
    """Score every frame of one video (in memory) through the streaming path (`score_frame_iter`).

    frames: uint8 (N, C, H, W) at the model's resolution (see `vadlab.data.clips.to_model_frames`).
    roi_mask: optional (H, W) bool; error maps are zeroed outside it (scores are the model's own).
    Returns FrameScores with error maps (float16) and outputs (uint8) at model resolution when
    `keep_maps`, and the patch / top-k poolings of the error maps (`vadlab.protocol`) always.
    """
    window = model.config.window
    n = int(frames.shape[0])
    span = window + (1 if target == "next" else 0)
    if n < span:
        raise _too_short(name, n, span, window, target)
    return score_frame_iter(model, iter(frames), target, score_kind, name=name, fps=fps, batch_size=batch_size,
                            keep_maps=keep_maps, roi_mask=roi_mask, progress=progress, n_frames=n)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
