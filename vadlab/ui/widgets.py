"""Widget groups the pages share: the sidebar, checkpoint pickers, the video source picker, the
dataset picker, the verdict controls (scale, false-alarm rate, smoothing, alert rules), the
evaluation protocol and the threshold. Each returns plain values (entries, a ClipSource, a dataset
spec, VerdictSettings, a Protocol), never widgets."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st

from vadlab import device as devices
from vadlab.calibration import DEFAULT_FAR, DEFAULT_MIN_LENGTH, DEFAULT_SMOOTH, Calibration, format_far
from vadlab.data.datasets import KNOWN_KINDS
from vadlab.data.video import VIDEO_EXTENSIONS
from vadlab.protocol import DEFAULT_POOLINGS, Protocol
from vadlab.ui import paths, state
from vadlab.ui.cache import CheckpointEntry, ClipSource, dataset, display_spec, list_checkpoints, samples_spec, usable_checkpoints
from vadlab.ui.errors import user_errors

UPLOAD_TYPES = [e.lstrip(".") for e in VIDEO_EXTENSIONS] + ["zip"]
DATASET_KINDS = [k for k in KNOWN_KINDS if k != "synthetic"]


# -------------------------------------------------------------------------------------- sidebar
def device_choices() -> list[str]:
    """"auto", "cpu" and every CUDA device present."""
    import torch

    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def device_description(name: Optional[str] = None) -> str:
    """The device a name resolves to, in words ("CPU (2 threads)", "NVIDIA H100 (cuda:0)")."""
    try:
        return devices.describe(devices.resolve(name or str(st.session_state.get(state.DEVICE, "auto"))))
    except ValueError as exc:
        return f"unavailable ({exc})"


def sidebar() -> None:
    """The shared sidebar: device in use (selectable) and the size of the model zoo."""
    with st.sidebar:
        st.selectbox("Device", device_choices(), key=state.DEVICE,
                     help="Where models run. 'auto' uses a GPU when there is one, else the CPU.")
        st.caption(f"In use: **{device_description()}**")
        entries = list_checkpoints()
        valid = sum(e.error is None for e in entries)
        st.caption(f"Model zoo: **{valid} checkpoint{'s' if valid != 1 else ''}**"
                   + (f" ({len(entries) - valid} invalid)" if valid != len(entries) else ""))


# ---------------------------------------------------------------------------------- checkpoints
def _no_checkpoints() -> None:
    st.warning(
        "No checkpoints found. Train one on the **Train** page, or from a terminal: "
        "`python -m vadlab train --model conv_ae --preset tiny --data synthetic:sample_videos "
        "--epochs 5 --out checkpoints/user/conv_ae_tiny`."
    )
    st.stop()


def checkpoint_picker(page: str, label: str = "Checkpoint") -> CheckpointEntry:
    """One checkpoint from the zoo (stops the page with a hint when the zoo is empty)."""
    entries = {e.path: e for e in usable_checkpoints()}
    if not entries:
        _no_checkpoints()
    path = st.selectbox(label, list(entries), format_func=lambda p: entries[p].label, key=state.widget_key(page, "checkpoint"))
    return entries[path]


def checkpoints_picker(page: str, label: str = "Checkpoints", default_count: int = 1, max_count: int = 6) -> list[CheckpointEntry]:
    """One or more checkpoints from the zoo; the first `default_count` are preselected."""
    entries = {e.path: e for e in usable_checkpoints()}
    if not entries:
        _no_checkpoints()
    chosen = st.multiselect(label, list(entries), default=list(entries)[:default_count], max_selections=max_count,
                            format_func=lambda p: entries[p].label, key=state.widget_key(page, "checkpoints"))
    return [entries[p] for p in chosen]


# ------------------------------------------------------------------------------------- datasets
def _default_dataset_folder() -> str:
    for root in paths.data_roots():
        for name in ("ped2", "ped2_videos"):
            if (root / name).is_dir():
                return str(root / name)
        return str(root)
    return ""


def dataset_folder_picker(page: str) -> Optional[str]:
    """A dataset spec `KIND:PATH` for a folder typed by the user, confined to the allowed roots.

    Returns None while no folder is typed (with a hint), and when the folder is outside the roots or
    holds no dataset of that layout (with the error shown in place)."""
    roots = paths.roots()
    col_kind, col_path = st.columns([1, 3])
    kind = col_kind.selectbox("Layout", DATASET_KINDS, key=state.widget_key(page, "dataset_kind"),
                              help="ped2/ped1: Liu et al. frame folders; ucsd: the original UCSD layout; "
                                   "folder: training/ and testing/ folders of videos with labels.json")
    folder = col_path.text_input("Dataset folder", value=_default_dataset_folder(), key=state.widget_key(page, "dataset_folder"),
                                 help="Must lie inside: " + ", ".join(paths.display_path(r) for r in roots.readable))
    if not folder.strip():
        st.info("Type a dataset folder (inside " + ", ".join(str(r) for r in roots.data or [roots.samples]) + ").")
        return None
    spec = None
    with user_errors(stop=False):  # the message shows here; the rest of the page still runs
        resolved = paths.confine(folder)
        dataset(f"{kind}:{resolved}")  # validate now: a clear error here beats one deep in scoring
        spec = f"{kind}:{resolved}"
    return spec


def dataset_picker(page: str, allow_folder: bool = True) -> Optional[str]:
    """Shipped samples or a dataset folder: returns a dataset spec."""
    options = ["Shipped sample videos"] + (["A dataset folder"] if allow_folder else [])
    choice = st.radio("Data", options, horizontal=True, key=state.widget_key(page, "data_choice"))
    if choice == options[0]:
        spec = samples_spec()
        if not (paths.sample_videos_dir() / "testing").is_dir():
            st.warning("The sample videos are missing: run `python -m vadlab samples --out sample_videos`.")
            st.stop()
        st.caption(f"Dataset: `{display_spec(spec)}`")
        return spec
    # own keys: a page may also show a video source picker with its own dataset folder
    return dataset_folder_picker(state.widget_key(page, "data"))


# --------------------------------------------------------------------------------- video source
def _sample_labels() -> dict[str, list[int]]:
    labels_file = paths.sample_videos_dir() / "testing" / "labels.json"
    if not labels_file.is_file():
        return {}
    return json.loads(labels_file.read_text())


def sample_clips() -> dict[str, Path]:
    """The shipped sample videos: "testing/test_01" -> path (test clips first)."""
    out: dict[str, Path] = {}
    for split in ("testing", "training"):
        folder = paths.sample_videos_dir() / split
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix.lower() in VIDEO_EXTENSIONS:
                    out[f"{split}/{p.stem}"] = p
    return out


def sample_source(name: Optional[str] = None) -> Optional[ClipSource]:
    """A shipped sample clip (the first test clip by default) with its labels, or None if absent."""
    clips = sample_clips()
    if not clips:
        return None
    key = name if name in clips else next(iter(clips))
    path = clips[key]
    labels = _sample_labels().get(path.stem) if key.startswith("testing/") else None
    return ClipSource.from_path(path, "sample", labels=None if labels is None else np.asarray(labels, np.uint8))


def video_source_picker(page: str) -> Optional[ClipSource]:
    """Where the video comes from: a shipped sample, an upload, or a clip of a dataset folder.

    Returns a ClipSource, or None while nothing is chosen yet (e.g. no upload)."""
    choice = st.radio("Video", ["Shipped sample", "Upload", "Dataset clip"], horizontal=True,
                      key=state.widget_key(page, "source"),
                      help="Samples are synthetic walkway clips with known anomalies (ground truth shown).")
    if choice == "Shipped sample":
        clips = sample_clips()
        if not clips:
            st.warning("No sample videos: run `python -m vadlab samples --out sample_videos`.")
            return None
        name = st.selectbox("Sample clip", list(clips), key=state.widget_key(page, "sample"))
        return sample_source(name)
    if choice == "Upload":
        upload = st.file_uploader(
            "Video file (mp4, avi, mov, mkv, webm) or a .zip of frame images", type=UPLOAD_TYPES,
            key=state.widget_key(page, "upload"),
            help=f"Decoded within bounded memory: frames are shrunk to at most {_limits()}.",
        )
        if upload is None:
            st.info("Upload a video to score it.")
            return None
        return ClipSource.from_upload(upload.name, upload.getvalue())
    spec = dataset_folder_picker(page)
    if spec is None:
        return None
    ds = dataset(spec)
    records = {f"testing/{r.name}": r for r in ds.test}
    records.update({f"training/{r.name}": r for r in ds.train})
    if not records:
        st.warning(f"{display_spec(spec)}: no videos.")
        return None
    name = st.selectbox("Clip", list(records), key=state.widget_key(page, "dataset_clip"))
    record = records[name]
    return ClipSource.from_path(record.source, "dataset", labels=record.labels, name=record.name)


def _limits() -> str:
    from vadlab.ui.cache import MAX_FRAMES, MAX_SIDE

    return f"{MAX_SIDE} px on the longer side and {MAX_FRAMES} frames"


# ----------------------------------------------------------------------- verdicts and protocols
FAR_CHOICES = (1e-2, 1e-3, 1e-4)  # target false-alarm rates per normal frame offered for verdicts
VERDICT_SCALES = {
    "calibrated": "calibrated: against this model's normal frames (the verdict)",
    "minmax": "per-video min-max: the benchmark protocol, every clip peaks at 1",
    "zscore": "per-video z-score: standard deviations above this clip's own mean",
    "none": "none: the raw scores",
}
PROTOCOL_NORMALIZATIONS = {
    "minmax": "per-video min-max (the papers')",
    "none": "none (raw scores)",
    "calibrated": "calibrated on normal data",
    "zscore": "per-video z-score",
}
POOLING_LABELS = {"mean": "frame mean (the family's score)", "patch": "max over patches", "topk": "mean of the top 1% of pixels"}
PATCH_SIZES = tuple(patch for kind, patch, _ in DEFAULT_POOLINGS if kind == "patch")  # computed in every scoring pass


@dataclass(frozen=True)
class VerdictSettings:
    """How one clip's scores become a verdict (what `verdict_controls` returns; `vadlab score`'s
    --normalize --far --smooth --min-length --merge-gap)."""

    normalize: str = "calibrated"
    far: float = DEFAULT_FAR
    smooth_sigma: float = DEFAULT_SMOOTH
    min_length: int = DEFAULT_MIN_LENGTH
    merge_gap: int = 0

    def flag_args(self) -> dict:
        """The keyword arguments of `verdict_view.flag` these settings fix."""
        return {"normalize": self.normalize, "far": self.far, "smooth_sigma": self.smooth_sigma,
                "min_length": self.min_length, "merge_gap": self.merge_gap}


def verdict_controls(page: str) -> VerdictSettings:
    """The verdict's scale (calibrated by default), the target false-alarm rate that sets the
    calibrated threshold, smoothing and the alert rules. Returns VerdictSettings."""
    col_scale, col_far = st.columns(2)
    normalize = col_scale.selectbox(
        "Score scale", list(VERDICT_SCALES), format_func=VERDICT_SCALES.get, key=state.widget_key(page, "normalize"),
        help="calibrated: how unusual a frame is compared with normal frames this model never trained on, so a "
             "threshold means the same on every clip. Per-video min-max stretches every clip to peak at 1: fine "
             "for benchmarks, but even a normal clip then raises alerts.",
    )
    far = col_far.selectbox(
        "Target false-alarm rate", list(FAR_CHOICES), index=FAR_CHOICES.index(DEFAULT_FAR),
        format_func=lambda f: f"{format_far(f)} normal frames", key=state.widget_key(page, "far"),
        disabled=normalize != "calibrated",
        help="The calibrated threshold expects this many false alarms per normal frame.",
    )
    with st.expander("Smoothing and alert rules"):
        col_smooth, col_length, col_gap = st.columns(3)
        smooth = col_smooth.slider("Smoothing σ (frames)", 0.0, 10.0, DEFAULT_SMOOTH, 0.5, key=state.widget_key(page, "smooth"),
                                   help="Gaussian smoothing over time, applied before the scale.")
        min_length, merge_gap = _alert_rule_inputs(page, col_length, col_gap)
    return VerdictSettings(normalize=normalize, far=float(far), smooth_sigma=float(smooth), min_length=min_length,
                           merge_gap=merge_gap)


def protocol_controls(page: str, expanded: bool = True) -> Protocol:
    """The scoring protocol of an evaluation (`vadlab eval --pooling --patch --normalize --smooth
    --keep-undecidable`); the defaults are the papers' protocol. Returns a Protocol."""
    def key(name: str) -> str:
        return state.widget_key(page, f"protocol.{name}")

    with st.expander("Scoring protocol", expanded=expanded):
        col_pool, col_norm, col_frames = st.columns(3)
        pooling = col_pool.selectbox("Pooling", list(POOLING_LABELS), format_func=POOLING_LABELS.get, key=key("pooling"),
                                     help="How a frame's error map becomes one score. Patch and top-k catch small "
                                          "anomalous objects a frame mean averages away (families with error maps).")
        patch = col_pool.selectbox("Patch size (model pixels)", list(PATCH_SIZES), index=len(PATCH_SIZES) - 1,
                                   key=key("patch"), disabled=pooling != "patch")
        normalize = col_norm.selectbox("Normalisation", list(PROTOCOL_NORMALIZATIONS), format_func=PROTOCOL_NORMALIZATIONS.get,
                                       key=key("normalize"),
                                       help="Per-video min-max is the papers' protocol; calibrated needs a calibrated checkpoint.")
        smooth = col_norm.slider("Smoothing σ (frames)", 0.0, 10.0, 0.0, 0.5, key=key("smooth"),
                                 help="Gaussian smoothing of each video's scores over time, before normalisation.")
        drop = col_frames.checkbox("Drop undecidable first frames", value=True, key=key("drop_undecidable"),
                                   help="The first frames of a video no full window covers have no score of their own "
                                        "(they copy the first one); FFP's evaluation drops them.")
    return Protocol(pooling=pooling, patch=int(patch), normalize=normalize, smooth_sigma=float(smooth),
                    drop_undecidable=bool(drop))


def verdict_scale(normalize: str, calibration: Optional[Calibration]) -> str:
    """The scale a verdict is drawn on: "calibrated" only when asked for and the checkpoint has a
    calibration (else it falls back to "minmax"), otherwise the chosen normalisation."""
    if normalize == "calibrated":
        return "calibrated" if calibration is not None else "minmax"
    return normalize


def default_threshold(values: np.ndarray, normalize: str, calibration: Optional[Calibration] = None,
                      far: float = DEFAULT_FAR) -> float:
    """The alert threshold before anyone moves the slider: the calibrated threshold for `far`, 0.5
    on min-max (and on the fallback), 2 on a per-video z-score, mid-range on raw scores."""
    scale = verdict_scale(normalize, calibration)
    if scale == "calibrated":
        return float(calibration.for_key("mean").threshold(far))
    if scale == "minmax":
        return 0.5
    if scale == "zscore":
        return 2.0
    values = np.asarray(values, dtype=np.float64)
    return float((values.min() + values.max()) / 2) if values.size else 0.5


def threshold_slider(page: str, values: np.ndarray, normalize: str, calibration: Optional[Calibration] = None,
                     far: float = DEFAULT_FAR) -> float:
    """The alert threshold on the verdict's scale (frames with value >= threshold are flagged).

    values: (N,) the scores on that scale (to size the range). On the calibrated scale the default
    is the checkpoint's threshold for the target false-alarm rate `far`, and the range covers the
    values, 0 and the threshold; on min-max it is [0, 1] from 0.5. Moving it never re-scores."""
    scale = verdict_scale(normalize, calibration)
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    default = default_threshold(values, normalize, calibration, far)
    if scale == "minmax":
        low, high, step = 0.0, 1.0, 0.01
    else:
        low = float(np.floor(min(values.min(), default) * 10) / 10) if values.size else 0.0
        high = float(np.ceil(max(values.max(), default) * 10) / 10) if values.size else 1.0
        if scale == "calibrated":
            # whole standard deviations, 0 (a typical normal frame) and room above the threshold in
            # view: a little smoothing does not move the range (and so reset the slider)
            low, high = min(float(np.floor(low)), 0.0), max(float(np.ceil(high)), float(np.ceil(default)) + 1.0)
        high = max(high, low + 0.1)
        step = float(10 ** np.floor(np.log10((high - low) / 100)))  # about 100 to 1000 steps
    default = float(np.clip(default, low, high))
    # the key changes with the range and the default: a new clip, model or false-alarm rate starts
    # again from its own default instead of keeping a value from another scale
    name = "threshold" if scale == "minmax" else f"threshold_{scale}_{low:g}_{high:g}_{default:.6g}"
    return float(st.slider("Threshold", low, high, default, step, key=state.widget_key(page, name),
                           help="A frame is flagged anomalous when its score is at or above the threshold."
                                + (f" Default: the calibrated threshold for {format_far(far)} false alarms per "
                                   "normal frame." if scale == "calibrated" else "")))


def labels_upload(page: str, source: ClipSource, n_frames: int) -> Optional[np.ndarray]:
    """An optional uploaded labels file for a clip (CSV/JSON/npy/.mat/.m, via
    `datasets.load_labels_any`). Returns (N,) 0/1 labels, or None when nothing is uploaded.

    Files holding several videos (.mat `gt`, .m, JSON dicts) are matched to the clip by name, else
    the user picks the entry. Wrong lengths raise DatasetError (shown by `user_errors`)."""
    from vadlab.data.datasets import load_labels_any

    upload = st.file_uploader(
        "Labels file (optional when the clip has ground truth)", type=["csv", "txt", "json", "npy", "mat", "m"],
        key=state.widget_key(page, "labels_upload"),
        help="One 0/1 per frame (1 = anomalous): CSV/TXT lines or a 'label' column, a JSON list or "
             '{"video": [...]}, a .npy array, a .mat `gt` cell of [start; end] ranges, or UCSD .m lines.',
    )
    if upload is None:
        return None
    with user_errors(f"Labels file {upload.name}"):
        entries = load_labels_any(upload.getvalue(), name=upload.name)
        if len(entries) == 1:
            key = next(iter(entries))
        elif source.name in entries:
            key = source.name
        else:
            key = st.selectbox("Which video of the labels file is this clip?", list(entries),
                               key=state.widget_key(page, "labels_entry"))
        labels = entries[key]
        if len(labels) < n_frames and upload.name.lower().endswith((".mat", ".m")):
            # range formats end at the last anomalous frame: the remaining frames are normal
            labels = np.concatenate([labels, np.zeros(n_frames - len(labels), np.uint8)])
        if len(labels) != n_frames:
            raise ValueError(f"{upload.name}: {len(labels)} labels but the clip has {n_frames} decoded frames; "
                             "give one 0/1 label per frame")
    return labels


def _alert_rule_inputs(page: str, col_length, col_gap) -> tuple[int, int]:
    min_length = col_length.number_input("Minimum event length (frames)", 1, 1000, DEFAULT_MIN_LENGTH,
                                         key=state.widget_key(page, "min_length"),
                                         help="Shorter runs of flagged frames raise no alert (a verdict, not one noisy frame).")
    merge_gap = col_gap.number_input("Merge events closer than (frames)", 0, 1000, 0, key=state.widget_key(page, "merge_gap"))
    return int(min_length), int(merge_gap)


def alert_rules(page: str) -> tuple[int, int]:
    """Event rules, as `vadlab score --min-length --merge-gap`: runs of flagged frames separated by
    at most `merge_gap` frames merge into one event; events shorter than `min_length` (default 3
    frames) are dropped."""
    with st.expander("Alert rules"):
        col_length, col_gap = st.columns(2)
        return _alert_rule_inputs(page, col_length, col_gap)
