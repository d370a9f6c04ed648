"""Calibrated verdicts: how unusual is a frame's score compared with NORMAL frames the model never
trained on?

Per-video min-max (the papers' benchmark protocol) stretches every clip to peak at 1.0, so it
cannot say whether one clip holds an anomaly: a normal clip alarms as loudly as an anomalous one.
A calibration is the distribution of a checkpoint's scores on held-out normal frames (by default
the held-out tail of each normal training video, which training never fits; never test labels),
stored in the checkpoint's metadata. A frame's calibrated score is

    z = (f(score) - mean) / std        f = log for mean-squared-error scores, identity otherwise

i.e. "how many standard deviations above the normal frames' scores". The alert threshold for a
target false-alarm rate `far` (e.g. 1 in 1000 normal frames) is the larger of the Gaussian
quantile Phi^-1(1 - far) and the empirical (1 - far) quantile of the calibration frames, so a
heavy tail in the normal scores raises the threshold rather than the alarm count.

`assess` turns one clip's scores into a verdict: calibrated scores, threshold, flagged frames,
alert events, and whether the clip looks far outside the model's normal (another scene or camera).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from scipy import stats

from vadlab.metrics import find_events, smooth_scores
from vadlab.outputs import Event, FrameScores

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.995, 0.999, 1.0)
DEFAULT_FAR = 1e-3  # one false alarm per 1000 normal frames
DEFAULT_MIN_LENGTH = 3  # frames an alert must last (a verdict, not a single noisy frame)
DEFAULT_SMOOTH = 1.0  # frames of Gaussian smoothing before the verdict
OUT_OF_SCENE_FRACTION = 0.5  # more than half the clip above the threshold: not this model's normal


class CalibrationError(ValueError):
    """No usable calibration (too few normal frames, a key the checkpoint was not calibrated for)."""


def _transform_name(score_kind: str) -> str:
    return "log" if score_kind == "mse" else "identity"


def _forward(values: np.ndarray, transform: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.log(np.clip(values, 1e-12, None)) if transform == "log" else values


@dataclass
class ScoreCalibration:
    """The normal-data distribution of one pooled score ("mean", "patch16", ...)."""

    key: str
    transform: str  # "log" | "identity": f applied before mean / std
    mean: float
    std: float
    count: int
    quantiles: dict[str, float]  # of the calibrated z of the calibration frames, "0.5" ... "1.0" (max)

    def z(self, scores: np.ndarray) -> np.ndarray:
        """Raw scores (N,) -> calibrated scores (N,): standard deviations above normal."""
        return (_forward(scores, self.transform) - self.mean) / self.std

    def threshold(self, far: float = DEFAULT_FAR) -> float:
        """The calibrated alert threshold for a target false-alarm rate per normal frame."""
        if not 0 < far < 1:
            raise CalibrationError(f"false-alarm rate must be in (0, 1), got {far}")
        gaussian = float(stats.norm.isf(far))
        qs = sorted((float(k), v) for k, v in self.quantiles.items())
        levels = np.array([q for q, _ in qs])
        values = np.array([v for _, v in qs])
        empirical = float(np.interp(1.0 - far, levels, values))
        return max(gaussian, empirical)

    def tail_probability(self, z: np.ndarray) -> np.ndarray:
        """The Gaussian tail probability of calibrated scores: the expected share of normal frames
        scoring at least this high."""
        return stats.norm.sf(np.asarray(z, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        return {"transform": self.transform, "mean": self.mean, "std": self.std, "count": self.count,
                "quantiles": self.quantiles}

    @classmethod
    def from_dict(cls, key: str, d: Mapping[str, Any]) -> "ScoreCalibration":
        return cls(key=key, transform=d["transform"], mean=float(d["mean"]), std=float(d["std"]),
                   count=int(d["count"]), quantiles={str(k): float(v) for k, v in d["quantiles"].items()})


@dataclass
class Calibration:
    """A checkpoint's calibration: one `ScoreCalibration` per pooled score, and where it came from."""

    scores: dict[str, ScoreCalibration]
    data: str  # the dataset spec the frames came from
    frames: list[dict]  # [{"video", "start", "end"}] the calibration frames (0-based, inclusive)
    source: str  # "held-out tail of each normal training video" | "normal videos the model never trained on" | ...
    in_sample: bool = False  # True when the frames were also training frames (optimistic)

    @property
    def count(self) -> int:
        return self.scores["mean"].count if "mean" in self.scores else 0

    def for_key(self, key: str = "mean") -> ScoreCalibration:
        if key not in self.scores:
            raise CalibrationError(f"this checkpoint is calibrated for {', '.join(self.scores)}, not '{key}'; "
                                   "run `vadlab calibrate` again")
        return self.scores[key]

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "data": self.data, "source": self.source, "in_sample": self.in_sample,
                "frames": self.frames, "scores": {k: v.to_dict() for k, v in self.scores.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        return cls(scores={k: ScoreCalibration.from_dict(k, v) for k, v in d["scores"].items()}, data=d.get("data", ""),
                   frames=list(d.get("frames", [])), source=d.get("source", ""), in_sample=bool(d.get("in_sample", False)))

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Optional["Calibration"]:
        d = (metadata or {}).get("calibration")
        return cls.from_dict(d) if d else None


def fit_calibration(frame_scores: Sequence[FrameScores], score_kind: str, data: str, source: str,
                    frame_offsets: Optional[Mapping[str, int]] = None, in_sample: bool = False,
                    min_frames: int = 20) -> Calibration:
    """Fit a calibration on scored NORMAL videos (only frames a full window scored count).

    frame_offsets: video -> index of the scored clip's first frame in its source video (a held-out
    tail starts mid-video), recorded so the calibration says exactly which frames it used.
    """
    pools: dict[str, list[np.ndarray]] = {}
    frames = []
    for fs in frame_scores:
        keep = np.asarray(fs.scored, dtype=bool)
        if not keep.any():
            continue
        offset = int((frame_offsets or {}).get(fs.video, 0))
        idx = np.flatnonzero(keep)
        frames.append({"video": fs.video, "start": offset + int(idx[0]), "end": offset + int(idx[-1])})
        for key in ["mean", *fs.pooled]:
            pools.setdefault(key, []).append(np.asarray(fs.score_for(key))[keep])
    n = sum(len(a) for a in pools.get("mean", []))
    if n < min_frames:
        raise CalibrationError(f"only {n} normal frames to calibrate on (need at least {min_frames}); "
                               "give more or longer normal videos")
    transform = _transform_name(score_kind)
    out = {}
    for key, parts in pools.items():
        values = _forward(np.concatenate(parts), transform)
        mean, std = float(values.mean()), float(values.std())
        std = std if std > 0 else 1e-6
        z = (values - mean) / std
        out[key] = ScoreCalibration(key=key, transform=transform, mean=mean, std=std, count=int(values.size),
                                    quantiles={f"{q:g}": float(np.quantile(z, q)) for q in QUANTILES})
    return Calibration(scores=out, data=data, frames=frames, source=source, in_sample=in_sample)


@dataclass
class Verdict:
    """One clip judged against a calibration (or, without one, against per-video min-max)."""

    values: np.ndarray  # (N,) the scores the threshold applies to (calibrated z, or min-max in [0, 1])
    threshold: float
    flagged: np.ndarray  # (N,) bool
    events: list[Event]
    calibrated: bool
    scale: str  # one sentence: what `values` mean
    far: Optional[float] = None
    out_of_scene: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def n_flagged(self) -> int:
        return int(self.flagged.sum())

    def describe(self) -> dict[str, Any]:
        """What CSV headers and downloads record."""
        return {"calibrated": self.calibrated, "threshold": self.threshold, "far": self.far, "scale": self.scale,
                "events": len(self.events), "flagged_frames": self.n_flagged, "out_of_scene": self.out_of_scene}


SCALE_CALIBRATED = ("calibrated score: standard deviations above this model's held-out normal frames "
                    "(0 = a typical normal frame; the threshold expects {far} false alarms per normal frame)")
SCALE_MINMAX = ("per-video min-max: 0 = this clip's lowest score, 1 = its highest; every clip reaches 1, "
                "so a threshold on it is not a verdict (no calibration in this checkpoint)")
SCALE_ZSCORE = ("per-video z-score: standard deviations above this clip's own mean score; it ranks frames within "
                "the clip, not against normal footage")
NO_CALIBRATION = ("this checkpoint has no calibration: alerts use per-video min-max, so even a normal clip "
                  "raises some; run `vadlab calibrate --checkpoint CK --data SPEC` to add one")


def format_far(far: float) -> str:
    return f"1 in {round(1 / far):,}" if far > 0 and abs(1 / far - round(1 / far)) < 1e-6 else f"{far:g}"


def assess(fs: FrameScores, calibration: Optional[Calibration], far: float = DEFAULT_FAR, key: str = "mean",
           smooth_sigma: float = DEFAULT_SMOOTH, min_length: int = DEFAULT_MIN_LENGTH, merge_gap: int = 0,
           threshold: Optional[float] = None, normalize: str = "calibrated") -> Verdict:
    """Judge one clip.

    normalize "calibrated" (the default verdict): calibrated scores, the threshold for `far` (or
    `threshold`, on the calibrated scale), alert events of at least `min_length` frames; without a
    calibration it falls back to per-video min-max at 0.5, with a note saying so (never silently).
    "minmax": the benchmark scale (every clip peaks at 1), threshold default 0.5. "zscore": per-video
    z-score, threshold default 2. "none": raw scores, `threshold` required.
    """
    from vadlab.metrics import normalize_scores

    raw = smooth_scores(fs.score_for(key), smooth_sigma)
    notes: list[str] = []
    calibrated = False
    if normalize == "calibrated" and calibration is not None:
        cal = calibration.for_key(key)
        values = cal.z(raw)
        thr = float(threshold) if threshold is not None else cal.threshold(far)
        scale = SCALE_CALIBRATED.format(far=format_far(far))
        calibrated = True
        if calibration.in_sample:
            notes.append("calibrated on frames the model also trained on: expect more alarms than the target rate")
    elif normalize in ("calibrated", "minmax"):
        values = normalize_scores(raw, "minmax")
        thr = float(threshold) if threshold is not None else 0.5
        scale = SCALE_MINMAX
        if normalize == "calibrated":
            notes.append(NO_CALIBRATION)
    elif normalize == "zscore":
        values = normalize_scores(raw, "zscore")
        thr = float(threshold) if threshold is not None else 2.0
        scale = SCALE_ZSCORE
    elif normalize == "none":
        if threshold is None:
            raise CalibrationError("raw scores (normalize 'none') need an explicit threshold")
        values, thr, scale = raw, float(threshold), f"raw {fs.score_kind} scores, not normalised"
    else:
        raise CalibrationError(f"unknown verdict scale '{normalize}'; choose calibrated, minmax, zscore or none")
    # the first frames no full window covers copy the first score: they never raise an alert alone
    decided = np.asarray(fs.scored, dtype=bool)
    flagged = (values >= thr) & decided
    below = min(float(np.min(values)), thr) - 1.0
    events = find_events(np.where(decided, values, below), thr, min_length=min_length, merge_gap=merge_gap)
    share = float(flagged[decided].mean()) if decided.any() else 0.0
    out_of_scene = calibrated and share > OUT_OF_SCENE_FRACTION
    if out_of_scene:
        notes.append(f"{share:.0%} of this clip's frames are above the threshold: it looks far outside what this "
                     "model learned as normal (another scene or camera?). Train on normal footage of this scene "
                     "(Train page, or `vadlab train --data folder:...`) before trusting its alerts.")
    return Verdict(values=values, threshold=thr, flagged=flagged, events=events, calibrated=calibrated, scale=scale,
                   far=far if calibrated else None, out_of_scene=out_of_scene, notes=notes)
