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
alert events, and whether the clip looks far outside the model's normal (another scene or camera:
`calm_level`, judged on the clip's calmest frames, never on how many frames alert).
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
CALM_QUANTILE = 0.05  # a clip's calm level: the calibrated frame score its calmest 5% of frames stay below
CALM_LIMIT_FLOOR = 2.0  # σ: a tiny calibration's maximum is no limit below this
CALM_LIMIT_QUANTILE = "1"  # out of scene when even that calm level is above every calibration (normal) frame


class CalibrationError(ValueError):
    """No usable calibration (too few normal frames, a key the checkpoint was not calibrated for)."""


@dataclass(frozen=True)
class VerdictRule:
    """How one clip's scores become alerts, as one recorded value (shared by `vadlab score`,
    `vadlab watch`, the Score, Live and Explain pages and the notebook).

    key          the pooled score judged ("mean" = the family's frame score, "patch16", "topk0.01": see
                 `vadlab.protocol`);
    far          the target false-alarm rate per normal frame that sets the calibrated threshold;
    smooth_sigma Gaussian smoothing over time before the threshold, in frames;
    min_length   frames an alert must last; merge_gap: alerts closer than this many frames are one event;
    chosen_by    how the values were chosen ("defaults", or the label-free selection of
                 `vadlab.verdict_rule.choose_rule`: normal footage and pseudo-anomalies, never test labels).
    A checkpoint stores its rule in its calibration; without one, `DEFAULT_RULE` applies.
    """

    key: str = "mean"
    far: float = DEFAULT_FAR
    smooth_sigma: float = DEFAULT_SMOOTH
    min_length: int = DEFAULT_MIN_LENGTH
    merge_gap: int = 0
    chosen_by: str = "defaults"

    def __post_init__(self) -> None:
        if not 0 < float(self.far) < 1:
            raise CalibrationError(f"false-alarm rate must be in (0, 1), got {self.far}")
        if not np.isfinite(self.smooth_sigma) or self.smooth_sigma < 0:
            raise CalibrationError(f"smoothing must be >= 0 frames, got {self.smooth_sigma}")
        if int(self.min_length) < 1 or int(self.merge_gap) < 0:
            raise CalibrationError(f"alerts need min_length >= 1 and merge_gap >= 0, got {self.min_length}, {self.merge_gap}")

    @property
    def short(self) -> str:
        """e.g. "mean|far0.01|s3|min3|gap0"."""
        return f"{self.key}|far{self.far:g}|s{self.smooth_sigma:g}|min{self.min_length}|gap{self.merge_gap}"

    def describe(self) -> str:
        return (f"{self.key} score, threshold for {format_far(self.far)} false alarms per normal frame, smoothing "
                f"σ {self.smooth_sigma:g} frames, alerts of {self.min_length}+ frames"
                + (f" merged across gaps of {self.merge_gap}" if self.merge_gap else "") + f" ({self.chosen_by})")

    def with_overrides(self, **values: Any) -> "VerdictRule":
        """This rule with the given fields replaced; None values keep the rule's own."""
        import dataclasses

        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        return dataclasses.replace(self, **given, chosen_by=f"{self.chosen_by}; set by hand: "
                                   + ", ".join(f"{k}={v}" for k, v in sorted(given.items())))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "far": float(self.far), "smooth_sigma": float(self.smooth_sigma),
                "min_length": int(self.min_length), "merge_gap": int(self.merge_gap), "chosen_by": self.chosen_by,
                "short": self.short}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VerdictRule":
        try:
            return cls(key=str(d.get("key", "mean")), far=float(d.get("far", DEFAULT_FAR)),
                       smooth_sigma=float(d.get("smooth_sigma", DEFAULT_SMOOTH)),
                       min_length=int(d.get("min_length", DEFAULT_MIN_LENGTH)), merge_gap=int(d.get("merge_gap", 0)),
                       chosen_by=str(d.get("chosen_by", "defaults")))
        except (TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError(f"the checkpoint's verdict rule is malformed: {exc}") from None


DEFAULT_RULE = VerdictRule()


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
    rule: Optional[VerdictRule] = None  # the checkpoint's verdict rule (None: DEFAULT_RULE)

    @property
    def verdict_rule(self) -> VerdictRule:
        return self.rule or DEFAULT_RULE

    @property
    def count(self) -> int:
        return self.scores["mean"].count if "mean" in self.scores else 0

    def for_key(self, key: str = "mean") -> ScoreCalibration:
        if key not in self.scores:
            raise CalibrationError(f"this checkpoint is calibrated for {', '.join(self.scores)}, not '{key}'; "
                                   "run `vadlab calibrate` again")
        return self.scores[key]

    def to_dict(self) -> dict[str, Any]:
        out = {"version": 1, "data": self.data, "source": self.source, "in_sample": self.in_sample,
               "frames": self.frames, "scores": {k: v.to_dict() for k, v in self.scores.items()}}
        if self.rule is not None:
            out["rule"] = self.rule.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        return cls(scores={k: ScoreCalibration.from_dict(k, v) for k, v in d["scores"].items()}, data=d.get("data", ""),
                   frames=list(d.get("frames", [])), source=d.get("source", ""), in_sample=bool(d.get("in_sample", False)),
                   rule=VerdictRule.from_dict(d["rule"]) if d.get("rule") else None)

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
    rule: Optional[VerdictRule] = None  # the rule that made this verdict

    @property
    def n_flagged(self) -> int:
        return int(self.flagged.sum())

    def describe(self) -> dict[str, Any]:
        """What CSV headers and downloads record."""
        out = {"calibrated": self.calibrated, "threshold": self.threshold, "far": self.far, "scale": self.scale,
               "events": len(self.events), "flagged_frames": self.n_flagged, "out_of_scene": self.out_of_scene}
        if self.rule is not None:
            out["verdict_rule"] = self.rule.short
        return out


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


def assess(fs: FrameScores, calibration: Optional[Calibration], far: Optional[float] = None, key: Optional[str] = None,
           smooth_sigma: Optional[float] = None, min_length: Optional[int] = None, merge_gap: Optional[int] = None,
           threshold: Optional[float] = None, normalize: str = "calibrated", rule: Optional[VerdictRule] = None) -> Verdict:
    """Judge one clip.

    The verdict rule is `rule`, else the calibration's (the checkpoint's own, chosen on normal
    footage and pseudo-anomalies), else `DEFAULT_RULE`; `far`, `key`, `smooth_sigma`, `min_length`
    and `merge_gap`, when given, override its fields (the Verdict records the rule that ran).

    normalize "calibrated" (the default verdict): calibrated scores, the threshold for `far` (or
    `threshold`, on the calibrated scale), alert events of at least `min_length` frames; without a
    calibration it falls back to per-video min-max at 0.5, with a note saying so (never silently).
    "minmax": the benchmark scale (every clip peaks at 1), threshold default 0.5. "zscore": per-video
    z-score, threshold default 2. "none": raw scores, `threshold` required.
    """
    from vadlab.metrics import normalize_scores

    base = rule or (calibration.verdict_rule if calibration is not None else DEFAULT_RULE)
    if base.key != "mean" and key is None and base.key not in (fs.pooled or {}):
        base = base.with_overrides(key="mean")  # e.g. a family without error maps: its own score
    rule = base.with_overrides(far=far, key=key, smooth_sigma=smooth_sigma, min_length=min_length, merge_gap=merge_gap)
    far, key, smooth_sigma = rule.far, rule.key, rule.smooth_sigma
    min_length, merge_gap = rule.min_length, rule.merge_gap
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
    out_of_scene = False
    if calibrated:
        calm, limit = calm_level(fs, calibration), calm_limit(calibration)
        out_of_scene = calm is not None and calm > limit
        if out_of_scene:
            share = float(flagged[decided].mean()) if decided.any() else 0.0
            notes.append(f"this clip looks far outside what this model learned as normal (another scene or camera?): "
                         f"even its calmest frames score {calm:.1f} σ, above {limit:.1f} σ, the highest of this "
                         f"model's normal frames ({share:.0%} of its frames alert). Train on normal footage of this "
                         "scene (Train page, or `vadlab train --data folder:...`) before trusting its alerts.")
    return Verdict(values=values, threshold=thr, flagged=flagged, events=events, calibrated=calibrated, scale=scale,
                   far=far if calibrated else None, out_of_scene=out_of_scene, notes=notes, rule=rule)


@dataclass(frozen=True)
class VerdictSettings:
    """How one clip's scores become a verdict, as the app's verdict controls return it: the scale and
    the overrides of the checkpoint's verdict rule (`vadlab score`'s --normalize --far --smooth
    --min-length --merge-gap; None: the rule's own)."""

    normalize: str = "calibrated"
    far: Optional[float] = None  # None (and below): each checkpoint's own verdict rule
    smooth_sigma: Optional[float] = None
    min_length: Optional[int] = None
    merge_gap: Optional[int] = None

    @property
    def by_hand(self) -> bool:
        return any(v is not None for v in (self.far, self.smooth_sigma, self.min_length, self.merge_gap))

    def flag_args(self) -> dict:
        """The keyword arguments of `assess` (and `ui.flag`) these settings fix (None: the model's rule)."""
        return {"normalize": self.normalize, "far": self.far, "smooth_sigma": self.smooth_sigma,
                "min_length": self.min_length, "merge_gap": self.merge_gap}


def verdict_scale(normalize: str, calibration: Optional[Calibration]) -> str:
    """The scale a verdict is drawn on: "calibrated" only when asked for and the checkpoint has a
    calibration (else it falls back to "minmax"), otherwise the chosen normalisation."""
    if normalize == "calibrated":
        return "calibrated" if calibration is not None else "minmax"
    return normalize


def default_threshold(values: np.ndarray, normalize: str, calibration: Optional[Calibration] = None,
                      far: Optional[float] = None, key: Optional[str] = None) -> float:
    """The alert threshold before anyone moves the slider: the calibrated threshold of pooled score
    `key` for `far` (None: the checkpoint's verdict rule's), 0.5 on min-max (and on the fallback), 2
    on a per-video z-score, mid-range on raw scores."""
    scale = verdict_scale(normalize, calibration)
    if scale == "calibrated":
        rule = calibration.verdict_rule
        return float(calibration.for_key(key or rule.key).threshold(far if far is not None else rule.far))
    if scale == "minmax":
        return 0.5
    if scale == "zscore":
        return 2.0
    values = np.asarray(values, dtype=np.float64)
    return float((values.min() + values.max()) / 2) if values.size else 0.5


def calm_level(fs: FrameScores, calibration: Calibration) -> Optional[float]:
    """How unusual a clip's CALMEST frames are: the `CALM_QUANTILE` quantile of its calibrated frame
    scores (the family's own score, unsmoothed, decided frames only), in σ above normal; None
    without decided frames.

    Why this tells another scene from a mostly-anomalous clip: an anomaly of the trained scene
    (a cart crossing for most of the clip) leaves some calm frames that score like normal ones
    (near 0 σ), whereas another scene or camera is unusual everywhere, in its calmest frames too.
    How many frames alert cannot tell the two apart; the calm frames can. The whole-frame score is
    used, not a patch maximum, since a scene change shifts the whole frame's error."""
    decided = np.asarray(fs.scored, dtype=bool)
    if not decided.any():
        return None
    z = calibration.for_key("mean").z(np.asarray(fs.scores)[decided])
    return float(np.quantile(z, CALM_QUANTILE))


def calm_limit(calibration: Calibration) -> float:
    """The calm level above which a clip is out of scene: the highest calibrated score of the
    calibration frames themselves (their "1" quantile, stored with every calibration), and at least
    `CALM_LIMIT_FLOOR` σ. Measured on `ffp_ped2_cpu`: Ped2's own test clips have calm levels of
    -0.0 to 1.9 σ (limit 2.7 σ), the synthetic walkway clips 3.1 to 3.9 σ."""
    stored = calibration.for_key("mean").quantiles.get(CALM_LIMIT_QUANTILE)
    return max(float(stored) if stored is not None else CALM_LIMIT_FLOOR, CALM_LIMIT_FLOOR)


# ------------------------------------------------------------------------------------------------
# choosing a checkpoint's verdict rule without test labels
# ------------------------------------------------------------------------------------------------
RULE_KEYS = ("mean", "patch16")  # the family's own score, or the largest 16x16-patch error
RULE_SMOOTHINGS = (1.0, 2.0, 3.0, 4.0, 5.0)  # frames
RULE_FARS = (1e-3, 3e-3, 1e-2)  # target false alarms per normal frame


@dataclass
class RuleCandidate:
    """One candidate verdict rule and what it did on normal footage and on pseudo-anomalies."""

    rule: VerdictRule
    normal_events: int  # alert events on the normal footage (every one is false)
    pseudo_detection: float  # share of the pseudo-anomalous frames flagged

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.short, "normal_events": self.normal_events, "pseudo_detection": self.pseudo_detection}


def choose_rule(calibration: Calibration, normal: Sequence[FrameScores], pseudo: Sequence[FrameScores],
                keys: Sequence[str] = RULE_KEYS, smoothings: Sequence[float] = RULE_SMOOTHINGS,
                fars: Sequence[float] = RULE_FARS, min_length: int = DEFAULT_MIN_LENGTH,
                description: str = "") -> tuple[VerdictRule, list[RuleCandidate]]:
    """The verdict rule of a checkpoint, chosen on normal footage and pseudo-anomalies only.

    normal: scored NORMAL clips (e.g. the normal training videos: every alert there is false);
    pseudo: scored pseudo-anomalous clips made from normal footage (e.g. the same videos played
    faster, `vadlab.data.clips.skip_frame_item`'s motion anomaly), every frame counted as anomalous.
    Every candidate (pooled score x smoothing x false-alarm rate, alerts of `min_length` frames) is
    judged with `assess` against `calibration`; the rule kept raises NO alert event on the normal
    clips and flags the largest share of pseudo-anomalous frames (ties: the stricter false-alarm
    rate, less smoothing, the family's own score). When no candidate is silent on the normal clips,
    the strictest candidate is kept and `chosen_by` says so. Test labels are never an input.
    Returns the rule and every candidate's figures (recorded with the calibration).
    """
    keys = [k for k in keys if k in calibration.scores]
    candidates: list[RuleCandidate] = []
    for key in keys:
        for sigma in smoothings:
            for far in fars:
                rule = VerdictRule(key=key, far=far, smooth_sigma=sigma, min_length=min_length)
                events = sum(len(assess(fs, calibration, rule=rule).events) for fs in normal)
                flagged = decided = 0
                for fs in pseudo:
                    v = assess(fs, calibration, rule=rule)
                    mask = np.asarray(fs.scored, dtype=bool)
                    flagged += int((v.flagged & mask).sum())
                    decided += int(mask.sum())
                candidates.append(RuleCandidate(rule, events, flagged / max(decided, 1)))
    if not candidates:
        return DEFAULT_RULE, []
    silent = [c for c in candidates if c.normal_events == 0]
    order = lambda c: (-c.pseudo_detection, c.rule.far, c.rule.smooth_sigma, keys.index(c.rule.key))  # noqa: E731
    if silent:
        best = min(silent, key=order)
        how = (f"label-free: silent on {len(normal)} normal clips, flags {best.pseudo_detection:.0%} of the frames of "
               f"{description or 'the pseudo-anomalous clips'}; best of {len(candidates)} candidates")
    else:
        best = min(candidates, key=lambda c: (c.normal_events, c.rule.far, -c.rule.smooth_sigma))
        how = f"label-free: no candidate was silent on the normal clips; the one with the fewest false events ({best.normal_events})"
    import dataclasses

    return dataclasses.replace(best.rule, chosen_by=how), candidates
