"""Verdicts on one clip, what the Score and Compare pages, presenter mode and the Home demo show:
scores on the verdict's scale (calibrated against the checkpoint's normal frames by default, or
per-video min-max when it has no calibration, visibly), one threshold slider for the models on a
clip, the alert banner with its one-sentence scale and its notes, and the CSV header that records
how the numbers were made.

Post-processing only: the scores come from `vadlab.ui.cache`; a threshold, false-alarm rate or
smoothing change never re-scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import streamlit as st

from vadlab import export
from vadlab.calibration import (NO_CALIBRATION, Calibration, VerdictRule, VerdictSettings, assess, default_threshold,
                                format_far)
from vadlab.metrics import smooth_scores, threshold_metrics
from vadlab.outputs import Event, FrameScores
from vadlab.ui.cache import ClipSource, checkpoint_calibration, scores_key
from vadlab.ui.widgets import threshold_slider
from vadlab.zoo import CheckpointEntry

SCALE_MINMAX_CHOSEN = ("per-video min-max (the benchmark protocol): 0 = this clip's lowest score, 1 = its highest; "
                       "every clip peaks at 1, so even a normal clip crosses a threshold on it")
AXIS_TITLES = {"calibrated": "calibrated score (σ above normal)", "minmax": "score (min-max per video)",
               "zscore": "score (z-score per video)", "none": "raw score"}


@dataclass(frozen=True)
class Flagged:
    """One video's verdict: its scores on the verdict's scale, flagged at a threshold (what every
    view draws).

    key: identity of the scores (checkpoint + clip), for caches of derived images and videos.
    normalized: (N,) the scores the threshold applies to, after smoothing: calibrated z-scores
    ("calibrated"), or per-video "minmax" / "zscore", or raw ("none"), exactly as `vadlab score`
    computes them; events: the alerts (runs of at least `min_length` flagged frames).
    normalize: the scale actually used ("minmax" when a calibrated verdict fell back).
    scale: one sentence saying what the values mean; notes: what the user must know (no
    calibration: the fallback; a clip far outside the model's normal).
    """

    key: str
    frame_scores: FrameScores
    normalized: np.ndarray
    threshold: float
    normalize: str
    smooth_sigma: float
    events: tuple[Event, ...]
    scale: str = ""
    notes: tuple[str, ...] = ()
    calibrated: bool = False
    far: Optional[float] = None
    out_of_scene: bool = False
    min_length: int = 1
    merge_gap: int = 0
    calibration: Optional[Calibration] = field(default=None, repr=False, compare=False)
    rule: Optional[VerdictRule] = field(default=None, compare=False)  # the verdict rule that ran

    @property
    def n_frames(self) -> int:
        return int(self.normalized.shape[0])

    @property
    def decided(self) -> np.ndarray:
        """(N,) bool: frames a full window scored (the first ones copy its score and never raise an
        alert alone, as in `vadlab score`)."""
        scored = self.frame_scores.scored
        return np.ones(self.n_frames, bool) if scored is None else np.asarray(scored, dtype=bool)

    @property
    def flagged(self) -> np.ndarray:
        return (self.normalized >= self.threshold) & self.decided

    @property
    def n_anomalous(self) -> int:
        return int(np.count_nonzero(self.flagged))

    @property
    def labels(self) -> Optional[np.ndarray]:
        return self.frame_scores.labels

    @property
    def fps(self) -> float:
        return float(self.frame_scores.fps or 25.0)

    @property
    def axis_title(self) -> str:
        return AXIS_TITLES.get(self.normalize, "score")

    def score_text(self, index: int, raw: bool = False) -> str:
        """Frame `index`'s score as every view labels it (`export.format_score`: "5.07 σ" when
        calibrated); `raw` adds the family's own raw score beside it ("(raw psnr -38.41)")."""
        text = export.format_score(self.normalized[index], self.calibrated)
        if raw and self.normalize != "none":
            text += f" (raw {self.frame_scores.score_kind} {float(self.frame_scores.scores[index]):.4g})"
        return text

    @property
    def scene_note(self) -> Optional[str]:
        """The note of a clip far outside the model's normal (`assess` adds it last), or None."""
        return self.notes[-1] if self.out_of_scene and self.notes else None

    @property
    def threshold_is_default(self) -> bool:
        """Whether the threshold is the scale's default (the calibrated one for `far`, or 0.5 on
        min-max), rather than one moved by hand."""
        if self.calibration is not None and self.far is not None:
            key = self.rule.key if self.rule is not None else "mean"
            return bool(np.isclose(self.threshold, self.calibration.for_key(key).threshold(self.far)))
        return self.normalize == "minmax" and self.threshold == 0.5

    def counts(self) -> Optional[dict]:
        """TP/FP/FN/TN, precision, recall, F1 at the threshold when ground truth is known."""
        if self.labels is None:
            return None
        below = min(float(np.min(self.normalized)), self.threshold) - 1.0  # undecided frames are never flagged
        return threshold_metrics(np.where(self.decided, self.normalized, below), self.labels, self.threshold)


def flag(frame_scores: FrameScores, key: str, normalize: str = "calibrated", smooth_sigma: Optional[float] = None,
         threshold: Optional[float] = None, min_length: Optional[int] = None, merge_gap: Optional[int] = None, *,
         calibration: Optional[Calibration] = None, far: Optional[float] = None) -> Flagged:
    """One video's verdict, as `vadlab score --normalize --far --smooth --threshold --min-length`:
    the checkpoint's verdict rule (in its calibration), with every non-None argument overriding it.

    normalize "calibrated" (the default): `vadlab.calibration.assess` against the checkpoint's
    calibration, threshold (when None) the calibrated one for the false-alarm rate `far`; without a
    calibration it falls back to per-video min-max at 0.5 and says so in `notes`. "minmax" /
    "zscore" / "none": `assess` on that scale. threshold None: the scale's default
    (`calibration.default_threshold`)."""
    if normalize == "none" and threshold is None:
        threshold = default_threshold(smooth_scores(frame_scores.scores, smooth_sigma or 0.0), "none")
    verdict = assess(frame_scores, calibration, far=far, smooth_sigma=smooth_sigma, min_length=min_length,
                     merge_gap=merge_gap, threshold=threshold, normalize=normalize)
    rule = verdict.rule
    smooth_sigma, min_length, merge_gap = rule.smooth_sigma, rule.min_length, rule.merge_gap
    used = "calibrated" if verdict.calibrated else (normalize if normalize in ("none", "zscore") else "minmax")
    scale = SCALE_MINMAX_CHOSEN if normalize == "minmax" else verdict.scale
    return Flagged(key, frame_scores, verdict.values, float(verdict.threshold), used, float(smooth_sigma),
                   tuple(verdict.events), scale=scale, notes=tuple(verdict.notes), calibrated=verdict.calibrated,
                   far=verdict.far, out_of_scene=verdict.out_of_scene, min_length=int(min_length),
                   merge_gap=int(merge_gap), calibration=calibration if verdict.calibrated else None, rule=rule)


def clip_verdicts(page: str, scores: Mapping[str, FrameScores], entries: Mapping[str, CheckpointEntry],
                  source: ClipSource, settings: VerdictSettings, detail: Optional[str] = None) -> dict[str, Flagged]:
    """Every model's verdict on one clip, with ONE threshold slider on their shared scale.

    Calibrated scores share one scale (standard deviations above each model's own normal frames),
    so the slider applies to every calibrated model; its default is the calibrated threshold of
    `detail` (else the first calibrated model) for the chosen false-alarm rate. A model without a
    calibration is flagged at min-max 0.5 instead, with its note. On min-max, z-score or raw scores
    the slider applies to every model."""
    calibrations = {name: checkpoint_calibration(entry) for name, entry in entries.items()}
    keys = {name: scores_key(entry, source) for name, entry in entries.items()}
    previews = {name: flag(scores[name], keys[name], calibration=calibrations[name], **settings.flag_args())
                for name in entries}
    calibrated = [name for name in entries if previews[name].calibrated]
    if calibrated:
        lead = detail if detail in calibrated else calibrated[0]
        shown = np.concatenate([previews[name].normalized for name in calibrated])
        lead_rule = previews[lead].rule
        threshold = threshold_slider(page, shown, "calibrated", calibrations[lead], lead_rule.far, lead_rule.key)
        if len(calibrated) > 1:
            st.caption(f"One threshold for every calibrated model (one shared scale); its default is {lead}'s "
                       f"calibrated threshold for {format_far(lead_rule.far)} false alarms per normal frame.")
    else:
        lead = detail if detail in entries else next(iter(entries))
        threshold = threshold_slider(page, previews[lead].normalized, previews[lead].normalize)
    return {name: (flag(scores[name], keys[name], threshold=threshold, calibration=calibrations[name], **settings.flag_args())
                   if not calibrated or name in calibrated else previews[name])
            for name in entries}


# ------------------------------------------------------------------------------------------ alerts
def anomalous_frames_text(flagged: Flagged) -> str:
    """'N anomalous frames of M (p %) at threshold t' (the browser test reads this line)."""
    n = flagged.n_anomalous
    share = n / flagged.n_frames if flagged.n_frames else 0.0
    return (f"**{n} anomalous frame{'s' if n != 1 else ''}** of {flagged.n_frames} ({share:.0%}) "
            f"at threshold {flagged.threshold:.2f}, in {len(flagged.events)} event{'s' if len(flagged.events) != 1 else ''}")


def verdict_notes(flagged: Flagged, model: Optional[str] = None) -> None:
    """What the user must know before trusting a verdict, never silently: a clip far outside the
    model's normal (prominent, first), then the fallback of a checkpoint without calibration and
    any other note."""
    note_warnings(flagged.notes, flagged.scene_note, flagged.threshold, model)


def note_warnings(notes: Sequence[str], scene_note: Optional[str], threshold: float, model: Optional[str] = None) -> None:
    """A verdict's notes as st.warning: the out-of-scene note first, then the others (the fallback
    of a checkpoint without calibration names its threshold)."""
    who = f"**{model}**: " if model else ""
    if scene_note:
        st.warning(f"{who}**Outside this model's normal.** {scene_note}", icon=":material/travel_explore:")
    for note in notes:
        if note == scene_note:
            continue
        if note == NO_CALIBRATION:
            st.warning(f"{who}**Fallback to per-video min-max** (threshold {threshold:.2f}): {note}.",
                       icon=":material/rule:")
        else:
            st.warning(f"{who}{note}", icon=":material/info:")


def models_notes(flagged_by_model: Mapping[str, Flagged], skip: Sequence[str] = ()) -> None:
    """`verdict_notes` of several models on one clip, each naming its model."""
    for name, flagged in flagged_by_model.items():
        if name not in skip:
            verdict_notes(flagged, name)


def alert_banner(flagged: Flagged, name: str, model: Optional[str] = None) -> None:
    """The verdict: its notes first (out of scene, no calibration), then an alert when the clip
    crosses the threshold (st.error) or a green all-clear, the one sentence that says what the
    scores mean, and the counts."""
    verdict_notes(flagged, model)
    if flagged.events:
        first = flagged.events[0]
        peak = max(flagged.events, key=lambda e: e.peak_score)
        st.error(
            f"**Anomaly alert** in {name}: {len(flagged.events)} event(s); the first starts at "
            f"{first.start / flagged.fps:.1f} s (frame {first.start}), the strongest peaks at "
            f"{peak.peak_score:.2f} (frame {peak.peak_frame}).",
            icon=":material/warning:",
        )
    else:
        run = "no frame" if flagged.min_length <= 1 else f"no run of {flagged.min_length} or more frames"
        st.success(f"No anomaly in {name}: {run} reaches the threshold {flagged.threshold:.2f}.",
                   icon=":material/check_circle:")
    if flagged.scale:
        st.caption(f"{flagged.scale[0].upper()}{flagged.scale[1:]}.")
    st.markdown(anomalous_frames_text(flagged))
    counts = flagged.counts()
    if counts is not None:
        st.caption(
            f"Against the ground truth: {counts['tp']} true positives, {counts['fp']} false positives, "
            f"{counts['fn']} false negatives, {counts['tn']} true negatives; precision {counts['precision']:.2f}, "
            f"recall {counts['recall']:.2f}, F1 {counts['f1']:.2f}."
        )


# ------------------------------------------------------------------------------------- downloads meta
def verdict_meta(flagged: Flagged, checkpoint: Optional[str] = None) -> dict:
    """How a verdict's numbers were made, for the `# key: value` header of the scores CSV (the
    same sections as `vadlab score --out`): checkpoint, protocol, verdict, calibration."""
    cal = flagged.calibration
    meta = {
        "checkpoint": checkpoint,
        "video": flagged.frame_scores.video,
        "fps": flagged.fps,
        "protocol": {"pooling": flagged.rule.key if flagged.rule else "mean", "normalize": flagged.normalize,
                     "smooth_sigma": flagged.smooth_sigma, "min_length": flagged.min_length, "merge_gap": flagged.merge_gap},
        "verdict": {"calibrated": flagged.calibrated, "threshold": flagged.threshold,
                    "threshold_from": "the scale's default" if flagged.threshold_is_default else "set by hand",
                    "far": flagged.far, "scale": flagged.scale, "events": len(flagged.events),
                    "flagged_frames": flagged.n_anomalous, "out_of_scene": flagged.out_of_scene},
        "calibration": ({"source": cal.source, "data": cal.data, "frames": cal.count, "far": format_far(flagged.far)}
                        if cal is not None and flagged.far is not None else None),
    }
    if flagged.rule is not None:
        meta["verdict_rule"] = flagged.rule.describe()
    if cal is None:
        meta["calibration_note"] = ("no calibration: " + NO_CALIBRATION if NO_CALIBRATION in flagged.notes
                                    else f"no calibration used (scale chosen: {flagged.normalize})")
    if flagged.notes:
        meta["notes"] = list(flagged.notes)
    return meta
