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
from vadlab import paths, zoo
from vadlab.calibration import DEFAULT_FAR, DEFAULT_MIN_LENGTH, DEFAULT_SMOOTH, Calibration, format_far
from vadlab.data.datasets import KNOWN_KINDS
from vadlab.data.video import VIDEO_EXTENSIONS
from vadlab.protocol import DEFAULT_POOLINGS, Protocol
from vadlab.ui import state
from vadlab.ui.cache import (ClipSource, best_checkpoints, clip_frame_size, data_frame_size, dataset, decode, display_spec,
                             rank_checkpoints, samples_spec)
from vadlab.zoo import CheckpointEntry
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
        entries = zoo.list_checkpoints()
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


def _zoo_help(entries: dict[str, CheckpointEntry]) -> str:
    return "Every checkpoint of the zoo:\n\n" + "\n".join(f"- {e.description}" for e in entries.values())


def _fit_note(page: str, chosen: list[CheckpointEntry], clip: Optional[ClipSource], dataset_spec: Optional[str],
              auto: bool, reason: str, best: list[CheckpointEntry]) -> None:
    """Under a model picker: why the lab chose the model (automatic choice), or, when the user's
    choice was trained elsewhere and a model of this clip's dataset or scene exists, a hint with a
    button that switches to it."""
    if not chosen or (clip is None and dataset_spec is None):
        return
    what = "this clip" if clip is not None else "this dataset"
    if auto:
        st.caption(f"Chosen for {what}: {reason}")
        return
    if not best or best[0].path == chosen[0].path:
        return
    size = clip_frame_size(clip) if clip is not None else data_frame_size(dataset_spec)
    ranked = rank_checkpoints([chosen[0], best[0]], dataset_spec or (clip.dataset if clip else None),
                              clip.path if clip else None, size, what)
    mine = next(m for m in ranked if m.entry.path == chosen[0].path)
    theirs = next(m for m in ranked if m.entry.path == best[0].path)
    if theirs.tier < mine.tier:
        col_note, col_button = st.columns([3, 1], vertical_alignment="center")
        col_note.caption(f"{chosen[0].name} was trained on {chosen[0].trained_on}; {best[0].name} fits {what} better: "
                         f"{theirs.reason}.")
        if col_button.button(f"Use {best[0].name}", key=state.widget_key(page, "use_fitting_model")):
            state.remember("models", (best[0].path,))
            state.remember("detail", best[0].path)
            st.rerun()


def _chosen_models(entries: dict[str, CheckpointEntry]) -> Optional[list[str]]:
    """The models of the working context that are still in the zoo (None: chosen for the clip)."""
    models = state.recall("models")
    if models is None:
        return None
    return [p for p in models if p in entries]


def _store_models(paths_chosen, page: str = "") -> None:
    state.remember("models", tuple(paths_chosen or ()))
    state.remember("models_by", page)
    if paths_chosen and state.recall("detail") not in paths_chosen:
        state.remember("detail", paths_chosen[0])


def _store_model(path) -> None:
    models = state.recall("models")
    if models is None or path not in models:
        state.remember("models", (path,))
    state.remember("detail", path)


def checkpoint_picker(page: str, label: str = "Checkpoint", clip: Optional[ClipSource] = None,
                      dataset_spec: Optional[str] = None) -> CheckpointEntry:
    """One checkpoint from the zoo (stops the page with a hint when the zoo is empty). It starts from
    the working context's model (the one shown in detail on Score), else the model that fits the
    clip (or dataset) best, and says why."""
    entries = {e.path: e for e in zoo.usable_checkpoints()}
    if not entries:
        _no_checkpoints()
    chosen = _chosen_models(entries)
    best, reason = best_checkpoints(dataset_spec, clip)
    detail = state.recall("detail")
    if chosen:
        value = detail if detail in chosen else chosen[0]
    else:
        value = best[0].path if best else next(iter(entries))
    key = state.widget_key(page, "checkpoint")
    st.session_state[key] = value
    path = st.selectbox(label, list(entries), format_func=lambda p: entries[p].label, key=key,
                        on_change=lambda: _store_model(st.session_state[key]), help=_zoo_help(entries))
    _fit_note(page, [entries[path]], clip, dataset_spec, not chosen, reason, best)
    return entries[path]


def checkpoints_picker(page: str, label: str = "Checkpoints", default_count: int = 1, max_count: int = 6,
                       clip: Optional[ClipSource] = None, dataset_spec: Optional[str] = None) -> list[CheckpointEntry]:
    """One or more checkpoints from the zoo. They start from the working context's models (what
    the user chose on any page), else the `default_count` models that fit the clip (or dataset)
    best; the page says why it chose them."""
    entries = {e.path: e for e in zoo.usable_checkpoints()}
    if not entries:
        _no_checkpoints()
    chosen = _chosen_models(entries)
    best, reason = best_checkpoints(dataset_spec, clip, count=default_count)
    if chosen is not None:
        value = chosen[:max_count]
        if value and len(value) < default_count and state.recall("models_by") != page:
            # Compare, coming from a page with one model: that model, then the next best fits
            value += [e.path for e in best_checkpoints(dataset_spec, clip, count=default_count + 1)[0]
                      if e.path not in value][: default_count - len(value)]
    else:
        value = [e.path for e in best] or list(entries)[:default_count]
    key = state.widget_key(page, "checkpoints")
    st.session_state[key] = value
    picked = st.multiselect(label, list(entries), max_selections=max_count, format_func=lambda p: entries[p].label,
                            key=key, on_change=lambda: _store_models(st.session_state[key], page), help=_zoo_help(entries))
    _fit_note(page, [entries[p] for p in picked], clip, dataset_spec, chosen is None, reason, best)
    return [entries[p] for p in picked]


def detail_picker(page: str, entries: list[CheckpointEntry]) -> CheckpointEntry:
    """The model shown in detail when several are chosen (the working context's `detail`, which
    Explain then explains); the only one otherwise."""
    if len(entries) == 1:
        return entries[0]
    by_name = {e.name: e for e in entries}
    by_path = {e.path: e.name for e in entries}
    names = list(by_name)
    default = by_path.get(state.recall("detail"), names[0])
    key = state.widget_key(page, "detail")
    st.session_state[key] = default
    name = st.selectbox("Model shown in detail", names, key=key,
                        on_change=lambda: state.remember("detail", by_name[st.session_state[key]].path))
    return by_name[name]


# ------------------------------------------------------------------------------------- datasets
def _default_dataset_folder() -> str:
    for root in paths.data_roots():
        for name in ("ped2", "ped2_videos"):
            if (root / name).is_dir():
                return str(root / name)
        return str(root)
    return ""


SHARED_DATA_PAGES = ("evaluate.data", "compare.data")  # their dataset choice is one: the evaluation dataset


def _ctx_name(page: str, name: str) -> str:
    """The working-context name a page's widget is bound to: the clip's fields are shared by every
    page's video source picker, the evaluation dataset by Evaluate and Compare; other widgets keep
    their own value (per page) across visits."""
    if "." not in page:
        return name
    if page in SHARED_DATA_PAGES:
        return f"eval.{name}"
    return f"{page}.{name}"


def dataset_folder_picker(page: str) -> Optional[str]:
    """A dataset spec `KIND:PATH` for a folder typed by the user, confined to the allowed roots.

    Returns None while no folder is typed (with a hint), and when the folder is outside the roots or
    holds no dataset of that layout (with the error shown in place)."""
    roots = paths.roots()
    col_kind, col_path = st.columns([1, 3])
    shared = page in SHARED_DATA_PAGES  # the evaluation dataset starts as the clip's dataset
    default_kind = (state.recall("dataset_kind") if shared else None) or DATASET_KINDS[0]
    default_folder = (state.recall("dataset_folder") if shared else None) or _default_dataset_folder()
    kind = col_kind.selectbox("Layout", DATASET_KINDS,
                              help="ped2/ped1: Liu et al. frame folders; ucsd: the original UCSD layout; "
                                   "folder: training/ and testing/ folders of videos with labels.json",
                              **state.bind(state.widget_key(page, "dataset_kind"), _ctx_name(page, "dataset_kind"),
                                           default_kind, DATASET_KINDS))
    folder = col_path.text_input("Dataset folder",
                                 help="Must lie inside: " + ", ".join(paths.display_path(r) for r in roots.readable),
                                 **state.bind(state.widget_key(page, "dataset_folder"), _ctx_name(page, "dataset_folder"),
                                              default_folder))
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
    """Shipped samples, one of your datasets (made on the Data page) or a dataset folder: returns a
    dataset spec (None while nothing usable is chosen)."""
    from vadlab.ui import data_view  # the user's datasets

    mine = ["Your datasets"] if data_view.user_dataset_specs() else []
    options = ["Shipped sample videos"] + mine + (["A dataset folder"] if allow_folder else [])
    default = options[0]
    if page in ("evaluate", "compare") and state.recall("source") == "Dataset clip" and "A dataset folder" in options:
        default = "A dataset folder"  # the dataset of the clip the user is looking at
    choice_name = _ctx_name(f"{page}.data", "data_choice")
    followed = state.recall(state.USER_DATASET)
    if mine and followed and state.recall(f"{choice_name}.follows") != followed:
        # a dataset was just made or chosen (Data page, Score): this page follows it, once
        state.remember(choice_name, "Your datasets")
        state.remember(f"{choice_name}.follows", followed)
    choice = st.radio("Data", options, horizontal=True,
                      **state.bind(state.widget_key(page, "data_choice"), choice_name, default, options))
    if choice == "Your datasets":
        return data_view.user_dataset_picker(page)
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
    return ClipSource.from_path(path, "sample", labels=None if labels is None else np.asarray(labels, np.uint8),
                                dataset=samples_spec())


def sample_kinds() -> dict[str, list[str]]:
    """The anomaly kinds of the shipped test clips ({"test_01": ["fast_object"]}), when recorded."""
    kinds_file = paths.sample_videos_dir() / "testing" / "kinds.json"
    try:
        return json.loads(kinds_file.read_text()) if kinds_file.is_file() else {}
    except (OSError, ValueError):
        return {}


def _upload_picker(page: str) -> Optional[ClipSource]:
    """A new upload, or one of the clips uploaded earlier in this browser session (kept in the
    working context, so an upload survives moving between pages)."""
    ctx = state.context()
    upload = st.file_uploader(
        "Video file (mp4, avi, mov, mkv, webm) or a .zip of frame images", type=UPLOAD_TYPES,
        key=state.widget_key(page, "upload"),
        help=f"Decoded within bounded memory: frames are shrunk to at most {_limits()}. Every clip you upload "
             "stays available on every page until you close the browser tab.",
    )
    if upload is not None:
        source = ClipSource.from_upload(upload.name, upload.getvalue())
        seen = state.widget_key(page, "upload_seen")
        if st.session_state.get(seen) != source.key:  # a new file in the uploader: it becomes the clip in use
            st.session_state[seen] = source.key
            with user_errors(f"Decoding {upload.name}", stop=False) as report:
                decode(source)  # a file that does not decode is reported here and not kept
            if report.failed:
                return None
            ctx.add_upload(source)
    if not ctx.uploads:
        st.info("Upload a video to score it.")
        return None
    keys = list(reversed(ctx.uploads))  # newest first
    chosen = st.selectbox("Clip uploaded in this session", keys, format_func=lambda k: ctx.uploads[k].name
                          + ctx.uploads[k].suffix, **state.bind(state.widget_key(page, "upload_pick"), "upload", keys[0], keys))
    return ctx.uploads[chosen]


def video_source_picker(page: str) -> Optional[ClipSource]:
    """Where the video comes from: a shipped sample, an upload (or one uploaded earlier in this
    session), or a clip of a dataset folder. Starts from the working context's clip, and makes the
    chosen clip the context's.

    Returns a ClipSource, or None while nothing is chosen yet (e.g. no upload)."""
    choice = st.radio("Video", list(state.SOURCES), horizontal=True,
                      help="Samples are synthetic walkway clips with known anomalies (ground truth shown).",
                      **state.bind(state.widget_key(page, "source"), "source", state.SOURCES[0], state.SOURCES))
    source = _pick_source(page, choice)
    state.remember("clip", source)
    return source


def _pick_source(page: str, choice: str) -> Optional[ClipSource]:
    if choice == "Shipped sample":
        clips = sample_clips()
        if not clips:
            st.warning("No sample videos: run `python -m vadlab samples --out sample_videos`.")
            return None
        options = list(clips)
        name = st.selectbox("Sample clip", options, **state.bind(state.widget_key(page, "sample"), "sample", options[0], options))
        return sample_source(name)
    if choice == "Upload":
        return _upload_picker(page)
    if choice == "Your datasets":
        from vadlab.ui import data_view  # the user's datasets (Data page)

        spec = data_view.user_dataset_picker(page)
    else:
        spec = dataset_folder_picker(page)
    if spec is None:
        return None
    ds = dataset(spec)
    records = {f"testing/{r.name}": r for r in ds.test}
    records.update({f"training/{r.name}": r for r in ds.train})
    if not records:
        st.warning(f"{display_spec(spec)}: no videos.")
        return None
    options = list(records)
    name = st.selectbox("Clip", options, **state.bind(state.widget_key(page, "dataset_clip"), "dataset_clip", options[0], options))
    record = records[name]
    return ClipSource.from_path(record.source, "dataset", labels=record.labels, name=record.name, fps=ds.fps, dataset=spec)


def _limits() -> str:
    from vadlab.ui.cache import MAX_SIDE, max_frames

    return f"{MAX_SIDE} px on the longer side and {max_frames()} frames"


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
    far: Optional[float] = None  # None (and below): each checkpoint's own verdict rule
    smooth_sigma: Optional[float] = None
    min_length: Optional[int] = None
    merge_gap: Optional[int] = None

    @property
    def by_hand(self) -> bool:
        return any(v is not None for v in (self.far, self.smooth_sigma, self.min_length, self.merge_gap))

    def flag_args(self) -> dict:
        """The keyword arguments of `verdict_view.flag` these settings fix (None: the model's rule)."""
        return {"normalize": self.normalize, "far": self.far, "smooth_sigma": self.smooth_sigma,
                "min_length": self.min_length, "merge_gap": self.merge_gap}


def _verdict_name(page: str, name: str) -> str:
    # Score, Compare and presenter mode judge clips the same way: one set of verdict settings
    return f"verdict.{name}" if page in ("score", "compare") else f"{page}.verdict.{name}"


def verdict_controls(page: str) -> VerdictSettings:
    """The verdict's scale (calibrated by default) and its rule: each checkpoint's own verdict rule
    (chosen when it was calibrated, on normal footage and pseudo-anomalies, never test labels) unless
    the user sets the target false-alarm rate, smoothing and alert rules by hand; bound to the
    working context (Score and Compare share them). Returns VerdictSettings."""
    def bound(name: str, default, options=None) -> dict:
        return state.bind(state.widget_key(page, name), _verdict_name(page, name), default, options)

    col_scale, col_far = st.columns(2)
    by_hand = st.toggle("Set the verdict rule by hand", help="Off: each model judges with its own verdict rule "
                        "(score pooling, false-alarm rate, smoothing, event length), chosen without test labels on "
                        "normal footage and pseudo-anomalies; `vadlab info` shows it.", **bound("by_hand", False))
    normalize = col_scale.selectbox(
        "Score scale", list(VERDICT_SCALES), format_func=VERDICT_SCALES.get,
        help="calibrated: how unusual a frame is compared with normal frames this model never trained on, so a "
             "threshold means the same on every clip. Per-video min-max stretches every clip to peak at 1: fine "
             "for benchmarks, but even a normal clip then raises alerts.",
        **bound("normalize", "calibrated", list(VERDICT_SCALES)),
    )
    if not by_hand:
        col_far.caption("Rule: each model's own (false-alarm rate, smoothing, event length)")
        return VerdictSettings(normalize=normalize)
    far = col_far.selectbox(
        "Target false-alarm rate", list(FAR_CHOICES),
        format_func=lambda f: f"{format_far(f)} normal frames", disabled=normalize != "calibrated",
        help="The calibrated threshold expects this many false alarms per normal frame.",
        **bound("far", DEFAULT_FAR, list(FAR_CHOICES)),
    )
    with st.expander("Smoothing and alert rules"):
        col_smooth, col_length, col_gap = st.columns(3)
        smooth = col_smooth.slider("Smoothing σ (frames)", 0.0, 10.0, step=0.5,
                                   help="Gaussian smoothing over time, applied before the scale.",
                                   **bound("smooth", float(DEFAULT_SMOOTH)))
        min_length, merge_gap = _alert_rule_inputs(page, col_length, col_gap)
    return VerdictSettings(normalize=normalize, far=float(far), smooth_sigma=float(smooth), min_length=min_length,
                           merge_gap=merge_gap)


def protocol_controls(page: str, expanded: bool = True) -> Protocol:
    """The scoring protocol of an evaluation (`vadlab eval --pooling --patch --normalize --smooth
    --keep-undecidable`); the defaults are the papers' protocol. Bound to the working context
    (Evaluate and Compare share it). Returns a Protocol."""
    def bound(name: str, default, options=None) -> dict:
        ctx_name = f"protocol.{name}" if page in ("evaluate", "compare") else f"{page}.protocol.{name}"
        return state.bind(state.widget_key(page, f"protocol.{name}"), ctx_name, default, options)

    with st.expander("Scoring protocol", expanded=expanded):
        col_pool, col_norm, col_frames = st.columns(3)
        pooling = col_pool.selectbox("Pooling", list(POOLING_LABELS), format_func=POOLING_LABELS.get,
                                     help="How a frame's error map becomes one score. Patch and top-k catch small "
                                          "anomalous objects a frame mean averages away (families with error maps).",
                                     **bound("pooling", "mean", list(POOLING_LABELS)))
        patch = col_pool.selectbox("Patch size (model pixels)", list(PATCH_SIZES), disabled=pooling != "patch",
                                   **bound("patch", PATCH_SIZES[-1], list(PATCH_SIZES)))
        normalize = col_norm.selectbox("Normalisation", list(PROTOCOL_NORMALIZATIONS), format_func=PROTOCOL_NORMALIZATIONS.get,
                                       help="Per-video min-max is the papers' protocol; calibrated needs a calibrated checkpoint.",
                                       **bound("normalize", "minmax", list(PROTOCOL_NORMALIZATIONS)))
        smooth = col_norm.slider("Smoothing σ (frames)", 0.0, 10.0, step=0.5,
                                 help="Gaussian smoothing of each video's scores over time, before normalisation.",
                                 **bound("smooth", 0.0))
        drop = col_frames.checkbox("Drop undecidable first frames",
                                   help="The first frames of a video no full window covers have no score of their own "
                                        "(they copy the first one); FFP's evaluation drops them.",
                                   **bound("drop_undecidable", True))
    return Protocol(pooling=pooling, patch=int(patch), normalize=normalize, smooth_sigma=float(smooth),
                    drop_undecidable=bool(drop))


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


def threshold_slider(page: str, values: np.ndarray, normalize: str, calibration: Optional[Calibration] = None,
                     far: Optional[float] = None, key: Optional[str] = None) -> float:
    """The alert threshold on the verdict's scale (frames with value >= threshold are flagged).

    values: (N,) the scores on that scale (to size the range). On the calibrated scale the default
    is the checkpoint's threshold for the target false-alarm rate `far`, and the range covers the
    values, 0 and the threshold; on min-max it is [0, 1] from 0.5. Moving it never re-scores."""
    scale = verdict_scale(normalize, calibration)
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if scale == "calibrated":  # None: the checkpoint's verdict rule decides
        far = far if far is not None else calibration.verdict_rule.far
        key = key or calibration.verdict_rule.key
    default = default_threshold(values, normalize, calibration, far, key)
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
    group = "verdict" if page in ("score", "compare") else page
    return float(st.slider("Threshold", low, high, step=step,
                           help="A frame is flagged anomalous when its score is at or above the threshold."
                                + (f" Default: the calibrated threshold for {format_far(far)} false alarms per "
                                   "normal frame." if scale == "calibrated" else ""),
                           **state.bind_threshold(state.widget_key(page, name), f"{group}:{name}", default, low, high)))


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
    min_length = col_length.number_input("Minimum event length (frames)", 1, 1000,
                                         help="Shorter runs of flagged frames raise no alert (a verdict, not one noisy frame).",
                                         **state.bind(state.widget_key(page, "min_length"), _verdict_name(page, "min_length"),
                                                      int(DEFAULT_MIN_LENGTH)))
    merge_gap = col_gap.number_input("Merge events closer than (frames)", 0, 1000,
                                     **state.bind(state.widget_key(page, "merge_gap"), _verdict_name(page, "merge_gap"), 0))
    return int(min_length), int(merge_gap)


def alert_rules(page: str) -> tuple[int, int]:
    """Event rules, as `vadlab score --min-length --merge-gap`: runs of flagged frames separated by
    at most `merge_gap` frames merge into one event; events shorter than `min_length` (default 3
    frames) are dropped."""
    with st.expander("Alert rules"):
        col_length, col_gap = st.columns(2)
        return _alert_rule_inputs(page, col_length, col_gap)
