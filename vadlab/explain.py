"""Explanations of a frame's anomaly score: error heatmaps, SVD rank-r approximations, Captum attributions.

What is explained is the model's differentiable `anomaly_score(clip, target)` (higher = more
anomalous) of ONE scored frame: the window of T frames that scores it (`window_for_frame`, aligned
exactly as `vadlab.scoring.score_frames` aligns it) and the frame it is judged on.

  * `error_heatmap`   the per-pixel error map blended on the frame (what the score averages);
  * `svd_explorer`    the frame and its reconstruction / prediction at rank r, their spectra and the
                      difference of the two rank-r approximations (what SVD-GAN's loss sees);
  * `attribute`       Captum attributions of the score to the input window's pixels (Integrated
                      Gradients, Saliency, Occlusion, GradientShap), summed over channels -> (T, H, W).

Everything returns numpy arrays (their figures are in `vadlab.plots`); no Streamlit. Window tensors are
(1, C, T, H, W) float in [-1, 1], targets (1, C, H, W), as everywhere in vadlab.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from vadlab.data.clips import to_uint8, to_unit_range
from vadlab.export import apply_colormap

if TYPE_CHECKING:  # api imports train, models...; explain only needs the LoadedModel shape
    from vadlab.api import LoadedModel
    from vadlab.outputs import FrameScores

Method = Literal["integrated_gradients", "saliency", "occlusion", "gradient_shap"]
METHODS: tuple[str, ...] = ("integrated_gradients", "saliency", "occlusion", "gradient_shap")
METHOD_LABELS = {
    "integrated_gradients": "Integrated Gradients",
    "saliency": "Saliency",
    "occlusion": "Occlusion",
    "gradient_shap": "GradientShap",
}
# Fast on CPU for the tiny models (64x64, T=4): each well under 2 s.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"n_steps": 16, "baseline": "black"},
    "saliency": {},
    "occlusion": {"window": 16, "stride": 8, "baseline": "black"},
    "gradient_shap": {"n_samples": 8, "stdevs": 0.1, "seed": 0},
}
BASELINES = ("black", "mean")
# Upper bounds on the work (and memory: Captum holds every step's gradients) one attribution may
# ask for; the defaults above are far below them.
MAX_PARAMS = {"n_steps": 256, "n_samples": 64}
MAX_OCCLUSION_PASSES = 4096  # forward passes of one occlusion: frames x positions


# ------------------------------------------------------------------------------------------------
# windows
# ------------------------------------------------------------------------------------------------
def window_span(n_frames: int, window: int, target: str, frame_index: int) -> tuple[int, int]:
    """(first window frame, scored frame) of the window that scores `frame_index`.

    target "window": the window of T frames ENDING at the frame; "next": the T frames BEFORE it.
    Frames before the first scored frame (the first T-1, or T for "next") take the first window,
    as `FrameScores` gives them the first scored frame's value.
    Raises IndexError for a frame outside the video, ValueError for a video shorter than a window.
    """
    if target not in ("window", "next"):
        raise ValueError(f"target must be 'window' or 'next', got {target!r}")
    span = window + (1 if target == "next" else 0)
    if n_frames < span:
        raise ValueError(f"video has {n_frames} frame(s); this model needs at least {span} to score one")
    if not 0 <= frame_index < n_frames:
        raise IndexError(f"frame {frame_index} is outside the video (0..{n_frames - 1})")
    scored = max(frame_index, span - 1)
    start = scored - window + 1 if target == "window" else scored - window
    return start, scored


def window_for_frame(
    loaded: "LoadedModel", frames: Union[torch.Tensor, np.ndarray], frame_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input window and target of the frame `frame_index`, as the model scores it.

    frames: uint8 (N, C, H, W) at the model's resolution (`vadlab.api.model_frames`).
    Returns (clip (1, C, T, H, W) float in [-1, 1], target (1, C, H, W) float in [-1, 1]) on the
    model's device. Clamped at the start of the video (see `window_span`).
    """
    frames_t = torch.as_tensor(frames)
    cfg = loaded.model.config
    if frames_t.dtype != torch.uint8 or frames_t.ndim != 4 or tuple(frames_t.shape[1:]) != (cfg.channels, cfg.height, cfg.width):
        raise ValueError(
            f"frames must be uint8 (N, {cfg.channels}, {cfg.height}, {cfg.width}) at the model's resolution, "
            f"got {tuple(frames_t.shape)} {frames_t.dtype}; convert with vadlab.api.model_frames"
        )
    start, scored = window_span(int(frames_t.shape[0]), cfg.window, loaded.spec.target, frame_index)
    clip = frames_t[start : start + cfg.window].permute(1, 0, 2, 3)[None]  # (1, C, T, H, W)
    target = frames_t[scored][None]  # (1, C, H, W)
    device = loaded.model.device
    return to_unit_range(clip).to(device), to_unit_range(target).to(device)


def clip_to_rgb(clip: torch.Tensor) -> np.ndarray:
    """(1, C, T, H, W) float [-1, 1] window -> uint8 (T, H, W, 3) RGB frames (grey repeated)."""
    frames = to_uint8(clip.detach()[0].float()).permute(1, 2, 3, 0).cpu().numpy()  # (T, H, W, C)
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames[..., :3]


def frames_rgb(frames: Union[np.ndarray, torch.Tensor], n: int) -> np.ndarray:
    """A window's n frames as uint8 (n, H, W, 3) RGB: from uint8 (T, H, W[, C]) or (T, C, H, W), or the
    (1, C, T, H, W) float clip."""
    if isinstance(frames, torch.Tensor):
        if frames.is_floating_point() and frames.ndim == 5:
            return clip_to_rgb(frames)
        frames = frames.cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[1] in (1, 3) and frames.shape[-1] not in (1, 3):
        frames = frames.transpose(0, 2, 3, 1)  # (T, C, H, W) -> (T, H, W, C)
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[0] != n or frames.dtype != np.uint8:
        raise ValueError(f"frames must be {n} uint8 frames (T, H, W[, C]), got {frames.shape} {frames.dtype}")
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


# ------------------------------------------------------------------------------------------------
# error heatmaps
# ------------------------------------------------------------------------------------------------
def as_rgb(frame: np.ndarray) -> np.ndarray:
    """A uint8 frame (H, W) or (H, W, 1|3) as (H, W, 3) RGB."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        return np.repeat(frame[..., None], 3, axis=-1)
    if frame.ndim == 3 and frame.shape[-1] in (1, 3):
        return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame
    raise ValueError(f"frame must be (H, W) or (H, W, 3) uint8, got {frame.shape}")


def resize_map(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w) float map -> (height, width) float32, bilinear."""
    x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]  # (1, 1, h, w)
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x[0, 0].numpy()


def output_image(frame_scores: "FrameScores", index: int, size: tuple[int, int]) -> Optional[np.ndarray]:
    """The model's reconstruction / prediction of frame `index` as uint8 (H, W, 3) at `size` (H, W)."""
    from PIL import Image

    if frame_scores.outputs is None:
        return None
    output = np.asarray(frame_scores.outputs[index])  # (C, h, w)
    image = np.transpose(output, (1, 2, 0))  # (h, w, C)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)  # (h, w, 3)
    return np.asarray(Image.fromarray(image[..., :3]).resize((size[1], size[0]), Image.BILINEAR))


def error_heatmap(error_map: np.ndarray, frame: np.ndarray, alpha: float = 0.5, scale: Optional[float] = None) -> np.ndarray:
    """Blend an error / attribution map on a frame.

    error_map: (h, w) float >= 0 at any resolution (resized bilinearly to the frame's).
    frame: (H, W, 3) or (H, W) uint8. alpha: weight of the heatmap (0 = frame only, 1 = map only).
    scale: the value drawn as the hottest colour (default: the map's max), so several maps can
    share one scale. Returns (H, W, 3) uint8 (inferno colormap).
    """
    rgb = as_rgb(frame)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    error_map = np.nan_to_num(np.asarray(error_map, dtype=np.float32))
    if error_map.ndim != 2:
        raise ValueError(f"error_map must be (h, w), got {error_map.shape}")
    values = resize_map(np.abs(error_map), rgb.shape[0], rgb.shape[1])  # (H, W)
    top = float(values.max()) if scale is None else float(scale)
    normalised = values / top if top > 0 else np.zeros_like(values)
    heat = apply_colormap(normalised).astype(np.float32)  # (H, W, 3)
    out = (1.0 - alpha) * rgb.astype(np.float32) + alpha * heat
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# SVD explorer
# ------------------------------------------------------------------------------------------------
def _as_matrix(frame: np.ndarray, what: str = "frame") -> np.ndarray:
    m = np.asarray(frame, dtype=np.float64)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"{what} must be one (H, W) grey frame, got shape {np.shape(frame)}")
    return m


def svd_spectrum(frame: np.ndarray) -> np.ndarray:
    """Singular values (min(H, W),) of an (H, W) frame, largest first."""
    return np.linalg.svd(_as_matrix(frame), compute_uv=False)


def cumulative_energy(singular_values: np.ndarray) -> np.ndarray:
    """Fraction of the squared Frobenius norm in the first k singular values, k = 1..len(s).

    Ends at 1 (all zeros for a zero matrix)."""
    energy = np.asarray(singular_values, dtype=np.float64) ** 2
    total = energy.sum()
    return np.cumsum(energy) / total if total > 0 else np.zeros_like(energy)


def rank_r(frame: np.ndarray, r: int) -> np.ndarray:
    """Best rank-r approximation (Eckart-Young) of an (H, W) frame, float32 (H, W).

    Uses SVD-GAN's own `rank_r_approximation` (the exact operator of its loss) when available."""
    m = _as_matrix(frame)
    if not 1 <= r <= min(m.shape):
        raise ValueError(f"rank r must be in [1, min(H, W)] = [1, {min(m.shape)}], got {r}")
    try:
        from vadlab.models.svd_gan import rank_r_approximation
    except ImportError:  # the SVD-GAN family is optional; numpy's SVD gives the same matrix
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        return ((u[:, :r] * s[:r]) @ vh[:r]).astype(np.float32)
    return np.asarray(rank_r_approximation(m.astype(np.float32), r), dtype=np.float32)


def svd_explorer(frame: np.ndarray, reconstruction: np.ndarray, r: int) -> dict[str, Any]:
    """The frame and its reconstruction / prediction at rank r, and what SVD-GAN's loss compares.

    frame, reconstruction: (H, W) float, same shape. To match the SVD loss exactly pass them in the
    model's range [-1, 1] (rank-r approximation is not shift-invariant).
    Returns {"r", "frame_r", "reconstruction_r", "difference" (frame_r - reconstruction_r),
    "difference_norm" (its Frobenius norm, the loss of this frame), "frame_spectrum",
    "reconstruction_spectrum", "frame_energy", "reconstruction_energy" (cumulative, ending at 1),
    "frame_energy_at_r", "reconstruction_energy_at_r"}.
    """
    a, b = _as_matrix(frame), _as_matrix(reconstruction, "reconstruction")
    if a.shape != b.shape:
        raise ValueError(f"frame {a.shape} and reconstruction {b.shape} must have the same shape")
    frame_r, recon_r = rank_r(a, r), rank_r(b, r)
    s_a, s_b = svd_spectrum(a), svd_spectrum(b)
    e_a, e_b = cumulative_energy(s_a), cumulative_energy(s_b)
    difference = frame_r - recon_r
    return {
        "r": int(r),
        "frame_r": frame_r,
        "reconstruction_r": recon_r,
        "difference": difference,
        "difference_norm": float(np.linalg.norm(difference)),
        "frame_spectrum": s_a,
        "reconstruction_spectrum": s_b,
        "frame_energy": e_a,
        "reconstruction_energy": e_b,
        "frame_energy_at_r": float(e_a[r - 1]),
        "reconstruction_energy_at_r": float(e_b[r - 1]),
    }


# ------------------------------------------------------------------------------------------------
# Captum attributions
# ------------------------------------------------------------------------------------------------
@dataclass
class Attribution:
    """Attribution of one frame's anomaly score to the pixels of its input window.

    maps:      (T, H, W) float32, |attribution| summed over channels, one map per window frame.
    spatial:   (H, W) float32, `maps` summed over time.
    per_frame: (T,) float32, total |attribution| of each window frame (how much each frame matters).
    seconds:   wall-clock runtime of the attribution.
    method:    one of METHODS; params: the effective parameters (defaults filled in).
    score:     the anomaly score being explained (model units, higher = more anomalous).
    """

    maps: np.ndarray
    spatial: np.ndarray
    per_frame: np.ndarray
    seconds: float
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    score: float = float("nan")


def _baseline(clip: torch.Tensor, kind: str) -> torch.Tensor:
    """'black' = -1 everywhere; 'mean' = the window's mean frame repeated over time."""
    clip = clip.detach()
    if kind == "black":
        return torch.full_like(clip, -1.0)
    if kind == "mean":
        return clip.mean(dim=2, keepdim=True).expand_as(clip).contiguous()  # (1, C, T, H, W)
    raise ValueError(f"baseline must be one of {BASELINES}, got {kind!r}")


def check_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` merged over the method's defaults; ValueError naming an unknown method/parameter or a bad value."""
    if method not in DEFAULT_PARAMS:
        raise ValueError(f"unknown attribution method {method!r}; choose one of: {', '.join(METHODS)}")
    unknown = sorted(set(params) - set(DEFAULT_PARAMS[method]))
    if unknown:
        allowed = ", ".join(DEFAULT_PARAMS[method]) or "none"
        raise ValueError(f"{method}: unknown parameter(s) {unknown}; allowed: {allowed}")
    merged = {**DEFAULT_PARAMS[method], **params}
    for key in ("n_steps", "window", "stride", "n_samples"):
        if key in merged and (not isinstance(merged[key], (int, np.integer)) or merged[key] < 1):
            raise ValueError(f"{method}: {key} must be a positive integer, got {merged[key]!r}")
        if key in MAX_PARAMS and merged.get(key, 0) > MAX_PARAMS[key]:
            raise ValueError(f"{method}: {key} must be at most {MAX_PARAMS[key]}, got {merged[key]} (the limit on the "
                             "work of one attribution)")
    if "stdevs" in merged and not float(merged["stdevs"]) >= 0:
        raise ValueError(f"{method}: stdevs must be >= 0, got {merged['stdevs']!r}")
    return merged


def _check_occlusion_work(params: dict[str, Any], cfg: Any) -> None:
    """Refuse an occlusion whose window and stride need more than MAX_OCCLUSION_PASSES forward passes."""
    positions = [max(0, side - int(params["window"])) // int(params["stride"]) + 1 for side in (cfg.height, cfg.width)]
    passes = cfg.window * positions[0] * positions[1]
    if passes > MAX_OCCLUSION_PASSES:
        raise ValueError(f"occlusion: window {params['window']} with stride {params['stride']} needs {passes} forward "
                         f"passes, over the limit of {MAX_OCCLUSION_PASSES}; use a larger stride")


def attribute(loaded: "LoadedModel", clip: torch.Tensor, target: torch.Tensor, method: Method = "saliency", **params: Any) -> Attribution:
    """Captum attribution of `loaded.model.anomaly_score(clip, target)` to the pixels of `clip`.

    clip: (1, C, T, H, W) float in [-1, 1]; target: (1, C, H, W) (see `window_for_frame`).
    method and its params (defaults in DEFAULT_PARAMS):
      integrated_gradients  n_steps, baseline ("black" = -1 everywhere, or "mean" = the window's mean frame)
      saliency              none (|d score / d pixel|)
      occlusion             window (k, occludes C x 1 x k x k patches of one frame), stride, baseline
      gradient_shap         n_samples, stdevs (input noise, [-1, 1] units), seed; baselines are a
                            black, a mid-grey and the mean-frame clip
    The model is put in eval mode (batch norm uses its running statistics).
    """
    merged = check_params(method, params)
    from captum.attr import GradientShap, IntegratedGradients, Occlusion, Saliency

    model = loaded.model
    cfg = model.config
    expected = (1, cfg.channels, cfg.window, cfg.height, cfg.width)
    if tuple(clip.shape) != expected or tuple(target.shape) != (1, cfg.channels, cfg.height, cfg.width):
        raise ValueError(
            f"clip must be {expected} and target (1, {cfg.channels}, {cfg.height}, {cfg.width}); "
            f"got {tuple(clip.shape)} and {tuple(target.shape)} (use window_for_frame)"
        )
    if method == "occlusion":
        _check_occlusion_work(merged, cfg)
    model.eval()
    device = model.device
    clip = clip.detach().to(device).float().requires_grad_(method != "occlusion")
    target = target.detach().to(device).float()

    def forward(x: torch.Tensor) -> torch.Tensor:
        # Captum evaluates several perturbed windows per call: one target for all of them.
        return model.anomaly_score(x, target.expand(x.shape[0], -1, -1, -1))  # (B,)

    started = time.perf_counter()
    with torch.enable_grad():
        if method == "integrated_gradients":
            attributions = IntegratedGradients(forward).attribute(
                clip, baselines=_baseline(clip, merged["baseline"]), n_steps=int(merged["n_steps"]),
                internal_batch_size=min(int(merged["n_steps"]), 16))
        elif method == "saliency":
            attributions = Saliency(forward).attribute(clip, abs=True)
        elif method == "occlusion":
            k = min(int(merged["window"]), cfg.height, cfg.width)
            s = int(merged["stride"])
            attributions = Occlusion(forward).attribute(
                clip, sliding_window_shapes=(cfg.channels, 1, k, k), strides=(cfg.channels, 1, s, s),
                baselines=-1.0 if merged["baseline"] == "black" else _baseline(clip, merged["baseline"]),
                perturbations_per_eval=16)
        else:  # gradient_shap
            baselines = torch.cat([_baseline(clip, "black"), torch.zeros_like(clip), _baseline(clip, "mean")])  # (3, C, T, H, W)
            # Captum draws its noise from torch's global RNG and its baseline picks and interpolation
            # points from numpy's: seed both for reproducible maps, then give the caller back its
            # random state untouched.
            numpy_state = np.random.get_state()
            try:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(int(merged["seed"]))
                    np.random.seed(int(merged["seed"]))
                    attributions = GradientShap(forward).attribute(
                        clip, baselines=baselines, n_samples=int(merged["n_samples"]), stdevs=float(merged["stdevs"]))
            finally:
                np.random.set_state(numpy_state)
        with torch.no_grad():
            score = float(forward(clip)[0])
    seconds = time.perf_counter() - started
    maps = attributions.detach()[0].float().abs().sum(0).cpu().numpy().astype(np.float32)  # (T, H, W)
    return Attribution(maps=maps, spatial=maps.sum(0), per_frame=maps.reshape(maps.shape[0], -1).sum(1),
                       seconds=seconds, method=method, params=merged, score=score)


@dataclass
class FrameExplanation:
    """Everything the Explain page shows about one frame (numpy only).

    frame_index: the frame asked for; scored_frame: the frame the window actually scores (equal
    unless clamped at the start); window_start: first frame of the window.
    window_rgb: (T, H, W, 3) uint8 window frames; target_rgb: (H, W, 3) uint8 scored frame.
    """

    frame_index: int
    scored_frame: int
    window_start: int
    window_rgb: np.ndarray
    target_rgb: np.ndarray
    attribution: Attribution


def explain_frame(loaded: "LoadedModel", frames: Union[torch.Tensor, np.ndarray], frame_index: int,
                  method: Method = "saliency", **params: Any) -> FrameExplanation:
    """`window_for_frame` + `attribute` for one frame; frames: uint8 (N, C, H, W) at model resolution."""
    cfg = loaded.model.config
    start, scored = window_span(int(frames.shape[0]), cfg.window, loaded.spec.target, frame_index)
    clip, target = window_for_frame(loaded, frames, frame_index)
    attr = attribute(loaded, clip, target, method, **params)
    target_rgb = clip_to_rgb(target[:, :, None])[0]  # (H, W, 3)
    return FrameExplanation(frame_index, scored, start, clip_to_rgb(clip), target_rgb, attr)


def explain_video_frame(loaded: "LoadedModel", video_frames: np.ndarray, frame_index: int,
                        method: Method = "saliency", **params: Any) -> FrameExplanation:
    """`explain_frame` from decoded video frames: uint8 (N, H, W, 3) at any resolution.

    Only the frames of the window (and its target) are converted to the model's resolution."""
    from vadlab.data.clips import to_model_frames

    cfg = loaded.model.config
    start, scored = window_span(len(video_frames), cfg.window, loaded.spec.target, frame_index)
    span = to_model_frames(np.asarray(video_frames[start : scored + 1]), cfg.channels, cfg.height, cfg.width)  # (S, C, H, W)
    clip, target = window_for_frame(loaded, span, scored - start)
    attr = attribute(loaded, clip, target, method, **params)
    return FrameExplanation(frame_index, scored, start, clip_to_rgb(clip), clip_to_rgb(target[:, :, None])[0], attr)


def svd_for_frame(loaded: "LoadedModel", video_frames: np.ndarray, scores: "FrameScores", frame_index: int,
                  r: int) -> dict[str, Any]:
    """`svd_explorer` of a scored frame and the model's reconstruction / prediction of it.

    video_frames: decoded uint8 (N, H, W, 3); scores: the video's `FrameScores` with `outputs`
    (scored with keep_maps=True). Both frames are taken at the model's resolution, grey (channel
    mean for RGB models), in [-1, 1] as the SVD loss sees them. Adds "frame_index" (the scored
    frame), "frame_uint8" and "reconstruction_uint8" ((h, w) uint8) to the explorer's dict.
    Raises ValueError when the family produces no image (nothing to compare)."""
    from vadlab.data.clips import to_model_frames

    if scores.outputs is None:
        raise ValueError(f"{loaded.name}: this model produces no reconstruction or prediction to compare "
                         "(or the scores were computed without keep_maps)")
    cfg = loaded.model.config
    _, scored = window_span(len(video_frames), cfg.window, loaded.spec.target, frame_index)
    frame = to_model_frames(np.asarray(video_frames[scored : scored + 1]), cfg.channels, cfg.height, cfg.width)[0]  # (C, H, W)
    frame_grey = frame.float().mean(0).numpy()  # (H, W) in 0..255
    output_grey = scores.outputs[scored].astype(np.float32).mean(0)  # (H, W) in 0..255
    result = svd_explorer(frame_grey / 127.5 - 1.0, output_grey / 127.5 - 1.0, r)
    result.update(frame_index=scored, frame_uint8=np.rint(frame_grey).astype(np.uint8),
                  reconstruction_uint8=np.rint(output_grey).astype(np.uint8))
    return result
