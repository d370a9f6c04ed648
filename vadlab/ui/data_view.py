"""The Data page's sections: the user's datasets (made from uploads, kept in the user data folder
in the `folder:` layout), adding clips, renaming and deleting, and labelling test clips (a frame
slider, a timeline with the ground-truth band, anomalous spans as an editable list, labels files
up and down: `labelling_view`). The work on files is `vadlab.userdata`; this module draws and keeps
session state.

Also `user_dataset_specs` / `user_dataset_picker`, which the shared dataset picker uses so that
every page that picks a dataset (Train, Evaluate, Compare, ...) offers the user's datasets.
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from vadlab import paths
from vadlab.ui import state
from vadlab.ui.cache import display_spec, forget_datasets
from vadlab.ui.errors import ERROR_ICON, user_errors
from vadlab.ui.labelling_view import label_clip
from vadlab.userdata import SPLIT_TITLES, UPLOAD_EXTENSIONS, DatasetInfo, UserData, UserDataError

PAGE = "data"
UPLOAD_TYPES = [e.lstrip(".") for e in UPLOAD_EXTENSIONS]
REPORT = "data.report"  # the last upload's report, shown after the rerun that clears the form
SELECT_NEXT = "data.select_next"  # dataset to select on the next run (after create / rename / delete)
NOTICE = "data.notice"  # a one-off success message for the next run (top of the page)
UPLOAD_GENERATION = "data.upload_generation"  # bumped after clips are added: the form's uploaders start empty
DATASET_KEY = state.widget_key(PAGE, "dataset")


def store() -> UserData:
    """The user data folder of this app (`paths.user_data_dir()`, VADLAB_USER_DATA)."""
    return UserData(paths.user_data_dir())


def _changed() -> None:
    """Files changed: listings cached by spec must be read again (labels above all)."""
    forget_datasets()


# ----------------------------------------------------------------------------- the shared picker
def user_dataset_specs() -> dict[str, str]:
    """{name: dataset spec} of the user's datasets (the core's registry, `UserData.specs`)."""
    return store().specs()


def user_dataset_picker(page: str) -> Optional[str]:
    """One of the user's datasets, starting from the one last made or chosen in this session (the
    working context's, so Score, Train and Evaluate follow the Data page); returns its spec
    `folder:<path>` (None when there is none or it has no clips)."""
    specs = user_dataset_specs()
    if not specs:
        st.info("No datasets of your own yet: make one on the **Data** page.")
        return None
    names = list(specs)
    name = st.selectbox("Your dataset", names, help="Datasets made on the Data page (files in "
                                                    f"{paths.display_path(paths.user_data_dir())}/).",
                        **state.bind(state.widget_key(page, "user_dataset"), state.USER_DATASET, names[-1], names))
    with user_errors(stop=False) as report:
        info = store().info(name)
    if report.failed:
        return None
    normal, test = info.split("training"), info.split("testing")
    st.caption(f"Dataset: `{display_spec(info.spec)}` · {len(normal)} normal clip{'s' if len(normal) != 1 else ''}, "
               f"{len(test)} test clip{'s' if len(test) != 1 else ''} ({sum(c.labelled for c in test)} labelled)")
    if not info.clips:
        st.warning(f"{name} has no clips yet: add some on the Data page.")
        return None
    if not normal:
        st.warning(f"{name} has no normal (training) clips: models cannot be trained on it, only evaluated.")
    elif not any(c.labelled for c in test):
        st.caption("No labelled test clip yet: label one on the Data page to evaluate on this dataset.")
    return info.spec


# ------------------------------------------------------------------------------------ overview
def datasets_table(infos: list[DatasetInfo]) -> None:
    """One row per dataset: clip counts, frames, duration, resolution(s)."""
    if not infos:
        st.info("No datasets yet. Add normal clips of your scene below: they become a named dataset that the Train, "
                "Evaluate and Compare pages (and `vadlab train --data folder:...`) can use.")
        return
    st.dataframe([info.summary() for info in infos], hide_index=True, width="stretch")
    st.caption(f"Files in `{paths.display_path(paths.user_data_dir())}/` (set VADLAB_USER_DATA to move it): "
               "NAME/training/ holds the normal clips, NAME/testing/ the test clips and their labels.json.")


# ----------------------------------------------------------------------------------- uploading
def _show_report() -> None:
    reports = st.session_state.pop(REPORT, None)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    for report in reports or []:
        if report.added:
            names = ", ".join(f"{c.name} ({c.frames} frames, {c.width}×{c.height})" for c in report.added)
            st.success(f"Added to **{report.dataset}** as {SPLIT_TITLES[report.split]} clips: {names}",
                       icon=":material/check_circle:")
        for filename, message in report.refused:
            st.error(message if message.startswith(filename) else f"{filename}: {message}", icon=ERROR_ICON)


def _upload_key(name: str) -> str:
    """The key of an uploader of the form; a new one after each upload that added clips, so the
    uploaders start empty then (and only then: a refused or incomplete submit keeps the files)."""
    generation = st.session_state.get(UPLOAD_GENERATION, 0)
    return state.widget_key(PAGE, name) + (f".{generation}" if generation else "")


def upload_form() -> None:
    """A form: dataset name, normal clips, test clips; every file is validated on its own. Enter in
    the name field does not submit it, and nothing the user chose is cleared until clips are added."""
    _show_report()
    with st.form("data.upload_form", clear_on_submit=False, enter_to_submit=False, border=True):
        st.markdown("**Add clips to a dataset** (a new name makes a new dataset)")
        name = st.text_input("Dataset name", key=state.widget_key(PAGE, "new_name"), placeholder="e.g. lobby_cam",
                             help="1-64 letters, digits, '_', '-' or '.'; an existing name adds the clips to it.")
        normal = st.file_uploader(
            "Normal clips (training): videos or zips of frame images", type=UPLOAD_TYPES, accept_multiple_files=True,
            key=_upload_key("normal_upload"),
            help="Footage of the scene with nothing unusual in it: models learn what normal looks like from these.")
        test = st.file_uploader(
            "Test clips (optional): label their anomalous spans below", type=UPLOAD_TYPES, accept_multiple_files=True,
            key=_upload_key("test_upload"),
            help="Clips to evaluate on; once labelled, the Evaluate page computes ROC curves on them.")
        submitted = st.form_submit_button("Add clips", type="primary")
    if not submitted:
        return
    if not normal and not test:
        st.warning("Choose at least one clip to upload.")
        return
    if not (name or "").strip():
        st.warning("Give the dataset a name (a new name makes a new dataset): your chosen clips are kept.",
                   icon=":material/edit:")
        return
    data = store()
    reports = []
    with user_errors("Dataset", stop=False) as failed:
        for split, files in (("training", normal or []), ("testing", test or [])):
            if files:
                with st.spinner(f"Checking {len(files)} {SPLIT_TITLES[split]} clip(s)…"):
                    reports.append(data.add_uploads(name, [(f.name, f.getvalue()) for f in files], split))
    if failed.failed:
        return
    _changed()
    st.session_state[REPORT] = reports
    if any(r.added for r in reports):
        st.session_state[SELECT_NEXT] = reports[0].dataset
        st.session_state[UPLOAD_GENERATION] = st.session_state.get(UPLOAD_GENERATION, 0) + 1  # empty uploaders
    st.rerun()


# ---------------------------------------------------------------------------------- one dataset
def dataset_choice(names: list[str]) -> Optional[str]:
    """The dataset the rest of the page works on."""
    if not names:
        return None
    pending = st.session_state.pop(SELECT_NEXT, None)
    if pending in names:
        state.remember(state.USER_DATASET, pending)  # just made: the other pages follow it
    return st.selectbox("Dataset", names, **state.bind(DATASET_KEY, state.USER_DATASET, names[0], names))


def clips_table(info: DatasetInfo) -> None:
    """Every clip of a dataset with frames, duration, resolution and labelling state."""
    rows = [{"split": SPLIT_TITLES[c.split], "clip": c.name, "frames": c.frames, "duration (s)": round(c.duration, 1),
             "resolution": c.resolution if c.error is None else "-", "fps": round(c.fps, 2),
             "labels": ("-" if c.split == "training" else
                        f"{c.n_anomalous} anomalous frames" if c.labelled else "not labelled yet"),
             "problem": c.error or ""} for c in info.clips]
    if not any(r["problem"] for r in rows):
        for r in rows:
            del r["problem"]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    for problem in info.problems:
        st.warning(problem)
    where = paths.display_path(info.path)
    out = paths.display_path(paths.user_checkpoints_dir() / f"{info.name}_conv_ae")  # where the app lists models
    st.caption(f"Folder `{where}`. From a terminal: `vadlab train --model conv_ae --preset tiny --data folder:{where} "
               f"--out {out}` (the app lists it under your models).")


def manage(info: DatasetInfo) -> None:
    """Rename the dataset, delete it, or delete one clip (each asks for confirmation)."""
    data = store()
    with st.expander("Rename or delete"):
        col_rename, col_delete = st.columns(2, gap="large")
        with col_rename:
            new = st.text_input("New name", key=state.widget_key(PAGE, "rename_to"), placeholder=info.name)
            if st.button("Rename", key=state.widget_key(PAGE, "rename"), disabled=not new.strip()):
                with user_errors("Rename"):
                    target = data.rename(info.name, new)
                _changed()
                st.session_state[SELECT_NEXT] = target.name
                st.session_state[NOTICE] = (f"Renamed {info.name} to {target.name}. Checkpoints trained on it still "
                                            "name the old folder in their metadata.")
                st.rerun()
        with col_delete:
            sure = st.checkbox(f"Yes, delete {info.name}: its {len(info.clips)} clips and labels, for good",
                               key=state.widget_key(PAGE, f"confirm_delete.{info.name}"))
            if st.button("Delete dataset", key=state.widget_key(PAGE, "delete"), disabled=not sure):
                with user_errors("Delete"):
                    data.delete(info.name)
                _changed()
                st.session_state[NOTICE] = f"Deleted {info.name}."
                st.rerun()
        if info.clips:
            labels = {f"{c.split}/{c.name}": c for c in info.clips}
            choice = st.selectbox("Clip", list(labels), key=state.widget_key(PAGE, "clip_to_delete"))
            clip = labels[choice]
            sure_clip = st.checkbox(f"Yes, delete the clip {choice}", key=state.widget_key(PAGE, f"confirm_clip.{info.name}.{choice}"))
            if st.button("Delete clip", key=state.widget_key(PAGE, "delete_clip"), disabled=not sure_clip):
                with user_errors("Delete clip"):
                    data.delete_clip(info.name, clip.split, clip.name)
                _changed()
                st.session_state[NOTICE] = f"Deleted the clip {choice} from {info.name}."
                st.rerun()


# ------------------------------------------------------------------------------------------ page
def data_page() -> None:
    """The Data page below its title: datasets, the upload form, then one dataset's clips, labels
    and management."""
    data = store()
    overview = st.container()
    upload_form()
    with user_errors("Datasets"):
        infos = data.datasets()
    with overview:
        st.subheader("Your datasets")
        datasets_table(infos)
    names = [i.name for i in infos]
    if not names:
        return
    st.subheader("A dataset: its clips and labels")
    name = dataset_choice(names)
    info = next(i for i in infos if i.name == name)
    clips_table(info)
    manage(info)
    st.subheader(f"Label the test clips of {info.name}")
    st.caption("Mark where the anomalies are; the labels are saved as the dataset's testing/labels.json and used by "
               "the Evaluate page (ROC curves on your own footage).")
    label_clip(info, data)


__all__ = ["UserDataError", "data_page", "store", "user_dataset_picker", "user_dataset_specs"]
