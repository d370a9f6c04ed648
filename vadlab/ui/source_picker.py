"""The data pickers the pages share: the video source (a shipped sample, an upload, a clip of your
datasets or of a dataset folder), the dataset picker and an uploaded labels file. Each is bound to the
session's working context and returns plain values (a ClipSource, a dataset spec, labels), never
widgets. The sample videos' layout is read by `vadlab.data.samples`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st

from vadlab import paths
from vadlab.data import samples
from vadlab.data.datasets import KNOWN_KINDS
from vadlab.data.video import VIDEO_EXTENSIONS
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, dataset, decode, display_spec, samples_spec
from vadlab.ui.errors import user_errors

UPLOAD_TYPES = [e.lstrip(".") for e in VIDEO_EXTENSIONS] + ["zip"]
DATASET_KINDS = [k for k in KNOWN_KINDS if k != "synthetic"]


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
def sample_clips() -> dict[str, Path]:
    """The app's shipped sample videos: "testing/test_01" -> path (test clips first)."""
    return samples.sample_clips(paths.sample_videos_dir())


def sample_kinds() -> dict[str, list[str]]:
    """The anomaly kinds of the app's shipped test clips ({"test_01": ["fast_object"]}), when recorded."""
    return samples.sample_kinds(paths.sample_videos_dir())


def sample_source(name: Optional[str] = None) -> Optional[ClipSource]:
    """A shipped sample clip (the first test clip by default) with its labels, or None if absent."""
    clips = sample_clips()
    if not clips:
        return None
    key = name if name in clips else next(iter(clips))
    path = clips[key]
    labels = samples.sample_labels(paths.sample_videos_dir()).get(path.stem) if key.startswith("testing/") else None
    return ClipSource.from_path(path, "sample", labels=None if labels is None else np.asarray(labels, np.uint8),
                                dataset=samples_spec())


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
