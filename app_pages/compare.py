"""Compare variants: several checkpoints on the same clip (verdicts, timelines, frames) or dataset (metrics)."""
import streamlit as st

from vadlab import ui

PAGE = "compare"

st.title("Compare variants")
st.caption("Several models on the same clip or the same dataset: which one separates the anomalies "
           "best, and where do they disagree?")

models_box = st.container()  # drawn after the clip is known: the models that fit it come first
on_clip, on_dataset = st.tabs(["On a clip", "On a dataset"])
with on_clip:
    source = ui.video_source_picker(PAGE)
with models_box:
    entries = ui.checkpoints_picker(PAGE, label="Models to compare", default_count=3, clip=source)
if len(entries) < 1:
    models_box.info("Choose at least one model (two or more to compare).")
    st.stop()

with on_clip:
    if source is not None:
        settings = ui.verdict_controls(PAGE)
        with ui.user_errors(f"Scoring {source.name}", stop=False) as report:
            video = ui.decode(source)
            scores = {e.name: ui.score(e, source) for e in entries}
            flagged = ui.clip_verdicts(PAGE, scores, {e.name: e for e in entries}, source, settings)
        if not report.failed:
            ui.models_notes(flagged)
            frame = ui.overlay_timeline_with_slider(flagged, PAGE, title=f"{source.name}: anomaly scores per model",
                                                    where=(source.decode_key, "compare:" + "|".join(e.path for e in entries)))
            st.markdown("**The same frame through each model** (heatmap overlay, red border = flagged)")
            ui.compare_panels(video, flagged, frame)
            ui.clip_comparison_table(flagged)

with on_dataset:
    spec = ui.dataset_picker(PAGE)
    protocol = ui.protocol_controls(PAGE, expanded=False)
    if spec is not None:
        request = (tuple(e.path for e in entries), spec)
        ready = all(ui.has_dataset_scores(e, spec) for e in entries)  # scored before: shown at once
        if st.button("Evaluate all on this dataset", type="primary", key="compare.run"):
            st.session_state["compare.request"] = request
        if st.session_state.get("compare.request") == request or ready:
            with ui.user_errors("Evaluation", stop=False) as report:
                ui.in_sample_warnings(entries)
                results = {e.name: ui.evaluate_dataset(e, spec, protocol) for e in entries}
            if not report.failed:
                st.caption(f"Protocol: {protocol.describe()}.")
                ui.summary_table(results)
                ui.curves(results)
                st.markdown("**AUC per video**")
                ui.per_video_table(results)
        else:
            st.info("Press the button to score the dataset's test videos with every chosen model (scores are kept: "
                    "a second evaluation shows at once).")
