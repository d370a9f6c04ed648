"""Exports: H.264 videos (PyAV), annotated videos (heatmap, verdict border, score bar), one annotated
clip per event of a live stream (`EventClips`) and per-frame scores as CSV / JSON.

Everything takes and returns numpy; frames are uint8 (T, H, W, 3) RGB.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from vadlab.data.writer import check_frames, write_video
from vadlab.outputs import FrameScores
from vadlab.files import commit

if TYPE_CHECKING:
    from vadlab.data.sources import SourceFrame
    from vadlab.stream import EventUpdate, FrameVerdict

ANOMALOUS_RGB = (230, 32, 32)
NORMAL_RGB = (40, 200, 70)
CONTOUR_RGB = (255, 0, 0)
LABEL_RGB = (255, 170, 0)

# Inferno-like colormap anchors (position, R, G, B), interpolated linearly.
_COLORMAP_ANCHORS = np.array(
    [
        (0.00, 0, 0, 4),
        (0.15, 40, 11, 84),
        (0.30, 101, 21, 110),
        (0.45, 159, 42, 99),
        (0.60, 212, 72, 66),
        (0.75, 245, 125, 21),
        (0.90, 250, 193, 39),
        (1.00, 252, 255, 164),
    ],
    dtype=np.float64,
)


def apply_colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (..., 3) with an inferno-like colormap."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    anchors = _COLORMAP_ANCHORS
    channels = [np.interp(v, anchors[:, 0], anchors[:, c]) for c in (1, 2, 3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def _resize_maps(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, h, w) float -> (T, height, width) float32, bilinear (torch)."""
    x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]  # (T, 1, h, w)
    if x.shape[-2:] == (height, width):
        return x[:, 0].numpy()
    out = [F.interpolate(chunk, size=(height, width), mode="bilinear", align_corners=False) for chunk in x.split(64)]
    return torch.cat(out)[:, 0].numpy()  # (T, height, width)


def _outline(region: np.ndarray) -> np.ndarray:
    """(H, W) bool -> pixels of `region` with a 4-neighbour outside it (a 1-px inner contour)."""
    padded = np.pad(region, 1, mode="constant", constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return region & ~interior


def annotate_frames(
    frames: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    error_maps: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    *,
    map_scale: Optional[float] = None,
    heatmap_alpha: float = 0.6,
    contour_level: float = 0.5,
    show_text: bool = True,
    text_values: Optional[np.ndarray] = None,
    calibrated: bool = False,
) -> np.ndarray:
    """Draw each frame's verdict onto a copy of `frames`.

    frames:     (T, H, W, 3) uint8 RGB.
    scores:     (T,) normalised anomaly scores in [0, 1] (higher = more anomalous).
    threshold:  a frame is anomalous when score >= threshold.
    error_maps: optional (T, h, w) float per-pixel evidence at any resolution (resized bilinearly to
                H x W). Maps are normalised by `map_scale` (default: the 99.5th percentile over the
                whole video, so a clip's hottest pixels reach 1) and drawn as an inferno heatmap,
                alpha-blended where the normalised map is above 0.25 (up to `heatmap_alpha`); on
                anomalous frames, regions where it is >= `contour_level` get a red outline.
    labels:     optional (T,) 0/1 ground truth, drawn as an orange tick above the score bar.
    Every frame gets a border (red = anomalous, green = normal) and a score bar along the bottom
    with a white tick at the threshold; `show_text` adds "frame N  5.07 σ": `text_values` (T,), the
    scores as the app shows them (`format_score`; calibrated: σ above normal), default `scores`.
    Returns (T, H, W, 3) uint8.
    """
    frames = check_frames(frames)
    n, height, width, _ = frames.shape
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n,):
        raise ValueError(f"scores must be ({n},) to match {n} frames, got {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must be ({n},) to match {n} frames, got {labels.shape}")
    out = frames.astype(np.float32)  # (T, H, W, 3)
    anomalous = scores >= threshold

    if error_maps is not None:
        error_maps = np.asarray(error_maps, dtype=np.float32)
        if error_maps.ndim != 3 or error_maps.shape[0] != n:
            raise ValueError(f"error_maps must be (T={n}, h, w), got {error_maps.shape}")
        maps = _resize_maps(np.nan_to_num(error_maps), height, width)  # (T, H, W)
        scale = float(np.percentile(maps, 99.5)) if map_scale is None else float(map_scale)
        normalised = np.clip(maps / max(scale, 1e-12), 0.0, 1.0)
        alpha = heatmap_alpha * np.clip((normalised - 0.25) / 0.75, 0.0, 1.0)[..., None]  # (T, H, W, 1)
        out = out * (1.0 - alpha) + apply_colormap(normalised).astype(np.float32) * alpha
        for i in np.flatnonzero(anomalous):
            contour = _outline(normalised[i] >= contour_level)
            out[i][contour] = CONTOUR_RGB

    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    border = max(2, round(min(height, width) / 60))
    bar_h = max(2, border)
    inner_left, inner_right = border, width - border
    for i in range(n):
        colour = ANOMALOUS_RGB if anomalous[i] else NORMAL_RGB
        frame = out[i]
        frame[:border] = colour
        frame[-border:] = colour
        frame[:, :border] = colour
        frame[:, -border:] = colour
        # Score bar: dark track (one dark row above the border, so the fill never merges with
        # it), filled to the score, white tick at the threshold.
        frame[height - border - bar_h - 1 : height - border, inner_left:inner_right] = (20, 20, 20)
        y1 = height - border - 1
        y0 = y1 - bar_h
        span = inner_right - inner_left
        fill = int(round(float(np.clip(scores[i], 0.0, 1.0)) * span))
        frame[y0:y1, inner_left : inner_left + fill] = colour
        tick = inner_left + int(round(float(np.clip(threshold, 0.0, 1.0)) * (span - 1)))
        frame[y0 - 1 : y1, tick] = (255, 255, 255)
        if labels is not None and labels[i]:
            frame[y0 - bar_h - 1 : y0 - 1, inner_left : inner_left + max(3, span // 8)] = LABEL_RGB
    if show_text:
        shown = scores if text_values is None else np.asarray(text_values, dtype=np.float64)
        if shown.shape != (n,):
            raise ValueError(f"text_values must be ({n},) to match {n} frames, got {shown.shape}")
        _draw_text(out, shown, border, calibrated)
    return out


def format_score(value: float, calibrated: bool) -> str:
    """One score label everywhere (Score, Explain, presenter mode, burned-in video labels): "5.07 σ"
    on the calibrated scale (standard deviations above the model's normal frames), "0.734" on the
    others (per-video min-max / z-score, raw)."""
    return f"{float(value):.2f} σ" if calibrated else f"{float(value):.3f}"


def bar_scale(values: np.ndarray, threshold: float, scale: str) -> tuple[np.ndarray, float]:
    """(values, threshold) mapped into [0, 1] for the score bar of `annotate_frames`, which is drawn
    on [0, 1]: values on the "minmax" scale as they are; other scales by one affine map over the
    clip's values and the threshold (monotone, so exactly the same frames are flagged)."""
    values, threshold = np.asarray(values, dtype=np.float64), float(threshold)
    if scale == "minmax":
        return values, threshold
    low, high = min(float(values.min()), threshold), max(float(values.max()), threshold)
    if high <= low:
        return np.zeros_like(values), 0.0
    return (values - low) / (high - low), (threshold - low) / (high - low)


def fps_text(fps: float, assumed: bool) -> str:
    """"10 fps", or "25 fps (assumed: frame images carry no rate)"."""
    return f"{fps:g} fps" + (" (assumed: frame images carry no frame rate)" if assumed else "")


def thumbnail_url(frame: np.ndarray, width: int = 120) -> str:
    """A PNG data URL of a uint8 (H, W, 3) frame shrunk to `width` px (for image columns of tables)."""
    import base64

    from PIL import Image

    image = Image.fromarray(np.asarray(frame))
    height = max(1, round(image.height * width / image.width))
    buffer = io.BytesIO()
    image.resize((width, height), Image.BILINEAR).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label_font():
    """A font that has σ (DejaVu Sans, where installed), else PIL's default with σ spelled "sd"."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", 11), "σ"
    except OSError:
        return ImageFont.load_default(), "sd"


def _draw_text(frames: np.ndarray, scores: np.ndarray, border: int, calibrated: bool = False) -> None:
    """Write "frame N  5.07 σ" (`format_score`) in the top-left corner of each frame, in place."""
    from PIL import Image, ImageDraw

    font, sigma = _label_font()
    for i in range(frames.shape[0]):
        image = Image.fromarray(frames[i])
        draw = ImageDraw.Draw(image)
        text = f"frame {i}  {format_score(scores[i], calibrated).replace('σ', sigma)}"
        left, top, right, bottom = draw.textbbox((border + 2, border + 1), text, font=font)
        if right >= frames.shape[2] - border or bottom >= frames.shape[1] - border:
            return  # frames too small for text; the bar and border carry the information
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0))
        draw.text((border + 2, border + 1), text, fill=(255, 255, 255), font=font)
        frames[i] = np.asarray(image)


def write_annotated_video(
    path: Union[str, Path],
    frames: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    error_maps: Optional[np.ndarray] = None,
    fps: float = 10.0,
    labels: Optional[np.ndarray] = None,
    crf: int = 20,
    text_values: Optional[np.ndarray] = None,
    calibrated: bool = False,
) -> Path:
    """`annotate_frames` then `write_video`; returns the path written."""
    annotated = annotate_frames(frames, scores, threshold, error_maps, labels, text_values=text_values,
                                calibrated=calibrated)
    return write_video(path, annotated, fps, crf=crf)


# ---------------------------------------------------------------------------------------------
# Event clips (live streams)
# ---------------------------------------------------------------------------------------------
class EventClips:
    """Writes one annotated mp4 per alert event, named by the event's frame span as the events
    table shows it (`event_000054-000057.mp4`: its first and last flagged frame), in the order the
    events close: every frame that arrived from `before_s` seconds before the event's first frame
    to `after_s` seconds after its last, frames that got no verdict (dropped while the scorer was
    behind, or skipped between gaps) included and drawn with a grey border and no score, so a clip
    plays at the source's pace. Events close together get overlapping clips, one each.

    Feed it every update's verdicts (made with StreamSettings.keep_frames, so they carry images),
    events and unjudged frames. Memory: a ring of frames from the last before_s + ~2.5 s, plus the
    frames of the clips being recorded (at most before + `max_s` + after seconds each: a longer
    event's clip keeps its first max_s seconds)."""

    UNJUDGED_RGB = (128, 128, 128)

    def __init__(self, folder: str | Path, fps: float, before_s: float = 2.0, after_s: float = 2.0,
                 max_s: float = 60.0, prefix: str = "event"):
        self.folder = Path(folder)
        self.fps = float(fps or 25.0)
        self.before = max(0, round(before_s * self.fps))
        self.after = max(0, round(after_s * self.fps))
        self.max_frames = max(1, round(max_s * self.fps))
        self.prefix = prefix
        self.ring = self.before + 64  # frame numbers kept behind the newest, for an event's pre-roll
        self.frames: dict[int, tuple[np.ndarray, Optional[FrameVerdict]]] = {}  # frame -> (image, verdict)
        self.pending: list[list] = []  # [start, end or None (open)] of events whose clip is not written yet
        self.newest = -1  # the newest frame number seen
        self.judged_to = -1  # the newest frame number with a verdict (verdicts come in order)
        self.written: list[Path] = []
        self._workers: list[threading.Thread] = []

    def add(self, verdicts: Sequence[FrameVerdict], events: Sequence[EventUpdate],
            unjudged: Sequence[SourceFrame] = ()) -> list[Path]:
        """Returns the clips this call wrote (handed to a writer thread; `flush` waits for them)."""
        for v in verdicts:
            if v.image is not None:
                self.frames[v.index] = (v.image, v)
            self.newest = max(self.newest, v.index)
            self.judged_to = max(self.judged_to, v.index)
        for f in unjudged:
            if f.image is not None and f.index not in self.frames:
                self.frames[f.index] = (f.image, None)
            self.newest = max(self.newest, f.index)
        for e in events:
            if e.kind == "opened":
                self.pending.append([e.event.start, None])
            else:
                for clip in self.pending:
                    if clip[0] == e.event.start and clip[1] is None:
                        clip[1] = e.event.end
                        break
                else:  # closed without an open seen (fed from the middle of a stream)
                    self.pending.append([e.event.start, e.event.end])
        written = []
        # a clip is complete once a verdict beyond its post-roll exists: every frame up to there has
        # arrived (verdicts come after their arrival) and has its verdict or never will
        while self.pending and self.pending[0][1] is not None and \
                self.judged_to >= min(self.pending[0][1], self.pending[0][0] + self.max_frames) + self.after:
            written.append(self._write(*self.pending.pop(0)))
        self._prune()
        return written

    def _last_frame(self, start: int, end: Optional[int]) -> float:
        """The last frame number a clip of the event [start, end] holds (end None: still open)."""
        longest = start + self.max_frames + self.after
        return longest if end is None else min(end + self.after, longest)

    def _prune(self) -> None:
        """Keep the pre-roll ring and what pending clips still need."""
        keep_from = self.newest - self.ring
        def needed(i: int) -> bool:
            return i >= keep_from or any(start - self.before <= i <= self._last_frame(start, end)
                                         for start, end in self.pending)
        for i in [i for i in self.frames if not needed(i)]:
            del self.frames[i]

    def flush(self) -> list[Path]:
        """The stream ended: write the clips still recording (an open event ends at the last frame
        judged), and wait for every clip to be written."""
        out = [self._write(start, end if end is not None else max(start, self.judged_to))
               for start, end in self.pending]
        self.pending = []
        for worker in self._workers:
            worker.join()
        self._workers = []
        return out

    def _write(self, start: int, end: int) -> Path:
        """Hand the clip of the event [start, end] to a writer thread (annotating and encoding
        take longer than a frame's budget, and the scoring loop must not wait); returns its path."""
        last = self._last_frame(start, end)
        frames = [(i, *self.frames[i]) for i in sorted(self.frames) if start - self.before <= i <= last]
        path = self.folder / f"{self.prefix}_{start:06d}-{end:06d}.mp4"
        self.written.append(path)
        if frames:
            worker = threading.Thread(target=self._encode, args=(frames, path), name="vadlab-event-clip", daemon=True)
            worker.start()
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        return path

    def _encode(self, frames: list[tuple[int, np.ndarray, Optional[FrameVerdict]]], path: Path) -> None:
        shape = frames[0][1].shape
        frames = [f for f in frames if f[1].shape == shape]  # a reconnect may change the size: keep the first
        images = np.stack([image for _, image, _ in frames])  # (T, H, W, 3)
        verdicts = [v for _, _, v in frames]
        judged = [v for v in verdicts if v is not None]
        threshold = judged[-1].threshold if judged else 0.0
        values = np.asarray([v.value if v is not None else np.nan for v in verdicts], dtype=np.float64)
        values = np.nan_to_num(values, nan=threshold - 1.0)
        low, high = min(float(values.min()), threshold), max(float(values.max()), threshold)
        span = max(high - low, 1e-9)  # the score bar is drawn on [0, 1]: one affine map, same verdicts
        maps = None
        if judged and all(v.error_map is not None for v in judged):
            blank = np.zeros_like(judged[0].error_map, dtype=np.float32)
            maps = np.stack([v.error_map.astype(np.float32) if v is not None else blank for v in verdicts])  # (T, h, w)
        annotated = annotate_frames(images, (values - low) / span, (threshold - low) / span, maps)
        border = max(2, round(min(shape[0], shape[1]) / 60))
        for k, v in enumerate(verdicts):
            if v is None:  # no verdict: the frame as it arrived, a grey border, no score
                annotated[k] = images[k]
                annotated[k, :border], annotated[k, -border:] = self.UNJUDGED_RGB, self.UNJUDGED_RGB
                annotated[k, :, :border], annotated[k, :, -border:] = self.UNJUDGED_RGB, self.UNJUDGED_RGB
        self.folder.mkdir(parents=True, exist_ok=True)
        # written beside its name and renamed when complete: a clip that exists is whole (the page
        # offers it for download as soon as it appears; a killed process leaves no half clip)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.part.mp4")
        try:
            write_video(partial, annotated, fps=self.fps)
            commit(partial, path)
        finally:
            partial.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Scores as CSV / JSON
# ---------------------------------------------------------------------------------------------

ScoresLike = Union[FrameScores, Mapping[str, Any]]
SCORE_COLUMNS = ("frame", "time_s", "score", "normalized_score", "raw", "scored", "anomalous")


def min_max_normalize(scores: np.ndarray) -> np.ndarray:
    """(N,) scores -> (N,) in [0, 1] by the video's own min and max (all zeros if constant)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores.copy()
    low, high = float(np.min(scores)), float(np.max(scores))
    return np.zeros_like(scores) if high - low <= 0 else (scores - low) / (high - low)


def score_rows(
    frame_scores: ScoresLike,
    normalized_scores: Optional[np.ndarray] = None,
    threshold: Optional[float] = None,
    labels: Optional[np.ndarray] = None,
) -> list[dict[str, Any]]:
    """One dict per frame with keys SCORE_COLUMNS (+ "label" when labels are known).

    frame_scores: a `FrameScores`, or a mapping with "scores" (required) and optional "raw",
                  "scored", "fps", "labels" arrays/values.
    normalized_scores: (N,) in [0, 1]; default: the video's min-max normalised scores.
    threshold: on the normalised score; "anomalous" is None when no threshold is given.
    labels: (N,) 0/1; default: `frame_scores.labels` when present.
    time_s = frame / fps (seconds).
    """
    if isinstance(frame_scores, FrameScores):
        scores, raw, scored = frame_scores.scores, frame_scores.raw, frame_scores.scored
        fps, known_labels = frame_scores.fps, frame_scores.labels
    elif isinstance(frame_scores, Mapping):
        if "scores" not in frame_scores:
            raise ValueError(f"a scores mapping needs a 'scores' array; got keys {sorted(frame_scores)}")
        scores = frame_scores["scores"]
        raw = frame_scores.get("raw", scores)
        scored = frame_scores.get("scored")
        fps = frame_scores.get("fps", 25.0)
        known_labels = frame_scores.get("labels")
    else:
        raise TypeError(f"expected FrameScores or a mapping, got {type(frame_scores).__name__}")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = scores.shape[0]
    raw = np.asarray(raw, dtype=np.float64).reshape(-1)
    scored = np.ones(n, bool) if scored is None else np.asarray(scored, dtype=bool).reshape(-1)
    normalized = min_max_normalize(scores) if normalized_scores is None else np.asarray(normalized_scores, np.float64).reshape(-1)
    labels = known_labels if labels is None else labels
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    for what, arr in (("raw", raw), ("scored", scored), ("normalized_scores", normalized), ("labels", labels)):
        if arr is not None and arr.shape[0] != n:
            raise ValueError(f"{what} has {arr.shape[0]} values but there are {n} frame scores")
    if not (fps and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if threshold is not None and not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    rows = []
    for i in range(n):
        row = {
            "frame": i,
            "time_s": round(i / float(fps), 6),
            "score": float(scores[i]),
            "normalized_score": float(normalized[i]),
            "raw": float(raw[i]),
            "scored": bool(scored[i]),
            "anomalous": None if threshold is None else bool(normalized[i] >= threshold),
        }
        if labels is not None:
            row["label"] = int(labels[i])
        rows.append(row)
    return rows


def csv_comment_lines(meta: Optional[Mapping[str, Any]]) -> str:
    """`# key: value` lines saying how a CSV's numbers were made (strings as they are, anything else
    as sorted JSON, each on one line); `pandas.read_csv(..., comment="#")` skips them."""
    lines = []
    for key, value in (meta or {}).items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        lines.append(f"# {key}: {' '.join(str(text).split())}\n")
    return "".join(lines)


def scores_to_csv(
    frame_scores: ScoresLike,
    normalized_scores: Optional[np.ndarray] = None,
    threshold: Optional[float] = None,
    labels: Optional[np.ndarray] = None,
    meta: Optional[Mapping[str, Any]] = None,
) -> str:
    """CSV text with header `frame,time_s,score,normalized_score,raw,scored,anomalous[,label]`.

    Booleans are written 1/0; `anomalous` is empty when no threshold is given. See `score_rows`.
    meta: how the numbers were made (checkpoint, protocol, calibration, threshold...), written first
    as `# key: value` comment lines (`pandas.read_csv(..., comment="#")` skips them).
    """
    rows = score_rows(frame_scores, normalized_scores, threshold, labels)
    columns = list(SCORE_COLUMNS) + (["label"] if rows and "label" in rows[0] else [])
    buffer = io.StringIO()
    buffer.write(csv_comment_lines(meta))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "score": repr(row["score"]),
                "normalized_score": repr(row["normalized_score"]),
                "raw": repr(row["raw"]),
                "scored": int(row["scored"]),
                "anomalous": "" if row["anomalous"] is None else int(row["anomalous"]),
            }
        )
    return buffer.getvalue()


def scores_to_json(
    frame_scores: ScoresLike,
    normalized_scores: Optional[np.ndarray] = None,
    threshold: Optional[float] = None,
    labels: Optional[np.ndarray] = None,
    meta: Optional[Mapping[str, Any]] = None,
) -> str:
    """JSON text: {"video", "score_kind", "fps", "threshold", "columns", "frames": [row, ...]} (+ "meta":
    how the numbers were made, when given).

    Rows are `score_rows` dicts (booleans as true/false, `anomalous` null without a threshold).
    Non-finite scores are written as null (JSON has no NaN).
    """
    rows = score_rows(frame_scores, normalized_scores, threshold, labels)
    for row in rows:
        for key in ("score", "normalized_score", "raw"):
            if not math.isfinite(row[key]):
                row[key] = None
    is_fs = isinstance(frame_scores, FrameScores)
    document = {
        "video": frame_scores.video if is_fs else frame_scores.get("video"),
        "score_kind": frame_scores.score_kind if is_fs else frame_scores.get("score_kind"),
        "fps": float(frame_scores.fps if is_fs else frame_scores.get("fps", 25.0)),
        "threshold": threshold,
        "columns": list(SCORE_COLUMNS) + (["label"] if rows and "label" in rows[0] else []),
        **({"meta": json.loads(json.dumps(dict(meta), default=str))} if meta else {}),
        "frames": rows,
    }
    return json.dumps(document, allow_nan=False)


class ScoresWriter:
    """`vadlab watch --scores FILE`: one row per judged frame, written as it comes (CSV with `# key:
    value` comment lines first, or JSON lines when FILE ends in .jsonl / .ndjson).

    Nothing is opened until the first row: an existing FILE survives a source that never opens.
    The rows go to a temporary file beside FILE, which replaces FILE once the first rows are in it
    (the later rows are appended to the same file, so FILE grows as frames are judged)."""

    COLUMNS = ("frame", "time_s", "score", "value", "threshold", "anomalous", "decided", "scored", "gap", "latency_ms")

    def __init__(self, path: str, meta: dict):
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"--scores {path} is a folder; give a file name, e.g. {self.path / 'scores.csv'}")
        self.jsonl = self.path.suffix.lower() in (".jsonl", ".ndjson")
        self.meta = meta
        self.handle = None
        self._tmp: Optional[Path] = None

    def _open(self) -> None:
        from vadlab.files import temporary_name

        tmp = temporary_name(self.path)
        self.handle = open(tmp, "x")
        if not self.jsonl:
            self.handle.write(csv_comment_lines(self.meta))
            self.handle.write(",".join(self.COLUMNS) + "\n")
        self._tmp = tmp

    def write(self, verdicts) -> None:
        verdicts = list(verdicts)
        if not verdicts:
            return
        if self.handle is None:
            self._open()
        for v in verdicts:
            row = v.row()
            if self.jsonl:
                self.handle.write(json.dumps(row) + "\n")
            else:
                self.handle.write(",".join("" if row[c] is None else str(row[c]) for c in self.COLUMNS) + "\n")
        self.handle.flush()
        if self._tmp is not None:  # the first rows are in: now the file replaces FILE
            from vadlab.files import commit

            commit(self._tmp, self.path)
            self._tmp = None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
