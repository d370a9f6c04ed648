"""The Home page's views: the model zoo (AUC per evaluation dataset, with its protocol; every row
visible and sortable) and the one-click demo (the best model of the sample scene on a clip where it
shines, with what to look at)."""
from __future__ import annotations

from typing import Optional

import streamlit as st

from vadlab.ui import state
from vadlab.ui.cache import checkpoint_calibration, scores_key
from vadlab.ui.verdict_view import Flagged, alert_banner, flag
from vadlab.ui.timeline_view import timeline_with_slider
from vadlab.ui.views import frame_panels
from vadlab.zoo import CheckpointEntry


def zoo_table() -> None:
    """The checkpoints table: family, training data, micro and macro AUC per evaluation dataset
    (never one column mixing test sets) with the protocol, calibration, input size, window, size;
    invalid ones with their error. Every row visible (no inner scrolling), every column sortable."""
    import pandas as pd

    from vadlab import store, zoo

    entries = zoo.list_checkpoints()
    if not entries:
        st.info("No checkpoints yet: train one on the Train page.")
        return
    rows, datasets = zoo.zoo_rows(entries, store.cached_evaluations())
    frame = pd.DataFrame(rows)
    auc_columns = [c for c in frame.columns if " AUC · " in c]
    config = {c: st.column_config.NumberColumn(f"{c.split(' · ')[1]} {c.split(' · ')[0]}", format="%.4f",
                                               help=f"{c.split(' · ')[0]} on the {c.split(' · ')[1]} test split (frame "
                                                    "level, under the protocol in the protocol column); empty: not "
                                                    "evaluated there")
              for c in auc_columns}
    config["protocol"] = st.column_config.TextColumn("protocol", width="large",
                                                     help="How the AUCs were measured (`vadlab.protocol` short form: "
                                                          "pooling | normalisation | smoothing | first frames | average)")
    st.dataframe(frame, hide_index=True, width="stretch", height=36 * (len(rows) + 1) + 3, column_config=config,
                 placeholder="")


ANOMALY_KINDS = {
    "fast_object": "a fast object (a cyclist or skater at 3-5 times walking speed) rides along the walkway",
    "large_object": "a large object (a cart) crosses the scene",
    "wrong_direction": "a person cuts across the lawn, against all normal traffic",
    "erratic": "a person darts onto the walkway and about it, waving their arms",
}
DEMO_F1 = 0.9  # the demo shows a clip where its model's verdict reaches this F1 against the ground truth


def _page_link(column, page: str, label: str, icon: str) -> None:
    """A link to another page of the app (plain text where the page runs on its own, as in tests)."""
    from streamlit.errors import StreamlitAPIException

    try:
        column.page_link(page, label=label, icon=icon)
    except (StreamlitAPIException, KeyError, ValueError):
        column.markdown(f"→ the **{label}** page (sidebar)")


def start_here() -> bool:
    """The first thing on the page: three ways in, each one step (the demo, your own clip, your own
    camera). Returns True when the demo button was pressed."""
    with st.container(border=True, key="home.start_here"):
        st.markdown("#### Start here")
        col_demo, col_clip, col_camera = st.columns(3, gap="large")
        col_demo.markdown("**1 · See it work** (one click, nothing to set up): a model that learned a sample "
                          "walkway flags the anomaly in a clip it never saw, against the ground truth.")
        pressed = col_demo.button("Run the demo", type="primary", key="home.demo_button", icon=":material/play_arrow:")
        col_clip.markdown("**2 · Score your own video**: upload a clip; the model that fits it best says which frames "
                          "are unusual, and why (Explain).")
        _page_link(col_clip, "app_pages/score.py", "Upload a clip", ":material/movie:")
        col_camera.markdown("**3 · Your own camera**: upload normal footage as a dataset (Data), train a model on it "
                            "(Train), then score and evaluate on it.")
        _page_link(col_camera, "app_pages/data.py", "Make a dataset of your footage", ":material/dataset:")
    return pressed


def demo_choice() -> Optional[tuple[CheckpointEntry, object, Flagged]]:
    """The demo: the best model trained on the sample scene (calibrated first, then by stored micro
    AUC) and the first shipped test clip where its calibrated verdict reaches F1 >= DEMO_F1 against
    the ground truth (else the clip where it does best). Returns (entry, clip source, verdict), or
    None when the zoo or the samples are missing. Scores are cached: the choice costs one scoring
    pass per clip tried, once per server."""
    from vadlab.ui.cache import best_checkpoints, samples_spec, score
    from vadlab.ui.source_picker import sample_clips, sample_source

    entries, _ = best_checkpoints(samples_spec())
    clips = [name for name in sample_clips() if name.startswith("testing/")]
    if not entries or not clips:
        return None
    entry, best = entries[0], None
    for name in clips:
        source = sample_source(name)
        flagged = flag(score(entry, source), key=scores_key(entry, source), calibration=checkpoint_calibration(entry))
        f1 = (flagged.counts() or {}).get("f1", 0.0)
        if best is None or f1 > best[0]:
            best = (f1, source, flagged)
        if f1 >= DEMO_F1:
            break
    return entry, best[1], best[2]


def demo() -> None:
    """The one-click demo: the best model on a clip where it shines, a one-line explanation of what
    to look at, its calibrated verdict against the ground truth, the timeline (click to jump) and
    the frame panels of the chosen frame (initially the peak)."""
    from vadlab.ui.cache import decode
    from vadlab.ui.errors import user_errors
    from vadlab.ui.source_picker import sample_kinds

    with user_errors("Demo"):
        chosen = demo_choice()
    if chosen is None:
        st.warning("The demo needs a checkpoint and the sample videos (`python -m vadlab samples --out sample_videos`).")
        return
    entry, source, flagged = chosen
    with user_errors("Demo"):
        video = decode(source)
    kinds = sample_kinds().get(source.name) or []
    what = ANOMALY_KINDS.get(kinds[0], kinds[0].replace("_", " ")) if kinds else "an injected anomaly appears"
    score_text = f"micro AUC {entry.auc:.3f} on the sample test clips" if entry.auc is not None else "no stored AUC"
    st.info(f"**{entry.name}** ({entry.family}) learned the normal walkway of the sample scene and is the best model "
            f"trained there ({score_text}). In **{source.name}**, {what}: watch the red alert band on the timeline "
            "line up with the orange ground truth under it, and the heatmap below light up on what the model "
            "could not explain.", icon=":material/lightbulb:")
    alert_banner(flagged, source.name, entry.name)
    frame = timeline_with_slider(flagged, "home", title=f"{source.name} scored by {entry.name}",
                                 where=(source.decode_key, entry.path))
    frame_panels(video, flagged, frame, entry)
    ctx = state.context()  # Score opens on the same clip
    ctx.source, ctx.sample = "Shipped sample", f"testing/{source.name}"
    st.caption("Open **Score a video** to upload your own clip, move the threshold and download the results: it opens "
               "on this clip.")
