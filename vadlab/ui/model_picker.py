"""The model pickers the pages share: one checkpoint, several, and the one shown in detail, each
bound to the session's working context and starting from the model that fits the clip (or dataset)
best, with the reason (`vadlab.zoo` ranks). Each returns zoo entries, never widgets."""
from __future__ import annotations

from typing import Optional

import streamlit as st

from vadlab import zoo
from vadlab.ui import state
from vadlab.ui.cache import ClipSource, best_checkpoints, clip_frame_size, data_frame_size, rank_checkpoints
from vadlab.zoo import CheckpointEntry


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
