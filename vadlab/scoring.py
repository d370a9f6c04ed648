"""Model outputs -> per-frame scores of a whole video.

Every window (stride 1) scores one frame: its last frame for reconstruction families, the frame
after it for prediction families. Frames before the first scored frame take the first score
(`FrameScores.scored` marks them), so there is exactly one score per frame.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from vadlab.data.clips import WindowDataset, collate_windows, to_uint8
from vadlab.models.base import AnomalyModel
from vadlab.outputs import FrameScores
from vadlab.protocol import pooled_scores


class VideoTooShortError(ValueError):
    pass


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
    """Score every frame of one video.

    frames: uint8 (N, C, H, W) at the model's resolution (see `vadlab.data.clips.to_model_frames`).
    roi_mask: optional (H, W) bool; error maps are zeroed outside it (scores are the model's own).
    Returns FrameScores with error maps (float16) and outputs (uint8) at model resolution when
    `keep_maps`, and the patch / top-k poolings of the error maps (`vadlab.protocol`) always.
    """
    window = model.config.window
    n = int(frames.shape[0])
    span = window + (1 if target == "next" else 0)
    if n < span:
        raise VideoTooShortError(
            f"{name}: {n} frame(s), but this model needs at least {span} "
            f"({window}-frame window{' + the predicted frame' if target == 'next' else ''})"
        )
    device = model.device
    model.eval()
    dataset = WindowDataset([frames], window, target, stride=1)
    scores = np.zeros(n, dtype=np.float64)
    raw = np.zeros(n, dtype=np.float64)
    scored = np.zeros(n, dtype=bool)
    c, h, w = model.config.channels, model.config.height, model.config.width
    error_maps = np.zeros((n, h, w), dtype=np.float16) if keep_maps else None
    outputs = np.zeros((n, c, h, w), dtype=np.uint8) if keep_maps else None
    pooled: dict[str, np.ndarray] = {}
    have_output = have_map = False
    roi_t = None if roi_mask is None else torch.as_tensor(roi_mask, dtype=torch.float32, device=device)
    done = 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_windows):
        idx = batch.frame_index.numpy()
        batch = batch.to(device)
        out = model.score_clip(batch)
        scores[idx] = out.score.float().cpu().numpy()
        raw[idx] = out.raw.float().cpu().numpy()
        scored[idx] = True
        for key, values in pooled_scores(out.error_map, score_kind).items():
            pooled.setdefault(key, np.zeros(n, dtype=np.float64))[idx] = values.cpu().numpy()
        if keep_maps:
            if out.error_map is not None:
                em = out.error_map.float()
                if roi_t is not None:
                    em = em * roi_t
                error_maps[idx] = em.cpu().numpy().astype(np.float16)
                have_map = True
            if out.output is not None:
                outputs[idx] = to_uint8(out.output.float()).cpu().numpy()
                have_output = True
        done += len(idx)
        if progress is not None:
            progress(done / len(dataset))
    first = int(np.argmax(scored))
    scores[:first] = scores[first]
    raw[:first] = raw[first]
    for values in pooled.values():
        values[:first] = values[first]
    if keep_maps:
        error_maps[:first] = error_maps[first]
        outputs[:first] = outputs[first]
    return FrameScores(
        video=name,
        scores=scores,
        raw=raw,
        scored=scored,
        score_kind=score_kind,
        error_maps=error_maps if have_map else None,
        outputs=outputs if have_output else None,
        fps=fps,
        pooled=pooled,
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
