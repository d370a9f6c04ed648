"""Evaluate: frame-level ROC / PR, micro and macro AUC, EER, confusion matrix, per-video AUC, under a
scoring protocol you choose, and every protocol side by side."""
import streamlit as st

from vadlab import ui

PAGE = "evaluate"

st.title("Evaluate")
st.caption("How well do the models separate anomalous from normal frames? The numbers are exactly "
           "those of `vadlab eval` with the same protocol (same scores, same post-processing, same metrics).")

TRUTHS = ["A dataset", "A clip and a labels file"]
truth = st.radio("Ground truth from", TRUTHS, horizontal=True,
                 help="A dataset: the shipped samples or a dataset folder with its own labels. A clip: any video "
                      "plus a labels file you upload (CSV/JSON/npy/.mat/.m).",
                 **ui.state.bind("evaluate.truth", "evaluate.truth",
                                 TRUTHS[1] if ui.state.recall("source") == "Upload" else TRUTHS[0], TRUTHS))
spec = source = None
if truth == "A dataset":
    spec = ui.dataset_picker(PAGE)
    pixel = st.checkbox("Also pixel-level AUC (datasets with pixel masks)", key="evaluate.pixel")
else:
    source = ui.video_source_picker(PAGE)
entries = ui.checkpoints_picker(PAGE, clip=source, dataset_spec=spec)
protocol = ui.protocol_controls(PAGE)
if not entries:
    st.info("Choose at least one checkpoint.")
    st.stop()

if truth == "A dataset":
    if spec is None:
        st.stop()
    request = (tuple(e.path for e in entries), spec, pixel)
    ready = not pixel and all(ui.has_dataset_scores(e, spec) for e in entries)  # scored before: no need to wait
    if st.button("Evaluate", type="primary", key="evaluate.run"):
        st.session_state["evaluate.request"] = request
    if st.session_state.get("evaluate.request") != request and not ready:
        st.info("Press **Evaluate** to score the test videos. Scores are kept (in this session, and on disk for the next "
                "one): changing the protocol afterwards, or evaluating again later, does not re-score.")
        st.stop()
    if ready:
        st.caption("Scores of these test videos were computed before (this session, or kept on disk): shown at once.")
    ui.in_sample_warnings(entries)
    with ui.user_errors("Evaluation"):
        results = {e.name: ui.evaluate_dataset(e, spec, protocol, pixel) for e in entries}
        frames = {e.name: ui.protocol_frames(ui.dataset_scores(e, spec, pixel), protocol, ui.checkpoint_calibration(e))
                  for e in entries}
    st.caption(f"{ui.display_spec(spec)}: {next(iter(results.values())).n_frames} test frames, "
               f"{next(iter(results.values())).n_anomalous} anomalous.")
else:
    if source is None:
        st.stop()
    with ui.user_errors(f"Scoring {source.name}"):
        video = ui.decode(source)
        labels = ui.labels_upload(PAGE, source, len(video.frames))
    if labels is None and source.labels is None:  # nothing to evaluate against yet: say what to do, no error
        st.info(f"**{source.name}** has no ground truth yet: upload its labels file above (one 0/1 per frame), "
                "or choose **A dataset** with labelled test clips.", icon=":material/label:")
        st.stop()
    with ui.user_errors(f"Scoring {source.name}"):
        results = {e.name: ui.evaluate_clip(e, source, labels, protocol) for e in entries}
        frames = {e.name: ui.protocol_frames(ui.clip_dataset_scores(e, source, labels), protocol, ui.checkpoint_calibration(e))
                  for e in entries}

st.subheader("Headline numbers")
for name, result in results.items():
    ui.metric_cards(name, result)

st.subheader("Curves")
ui.curves(results)

st.subheader("At a threshold")
st.caption("Flag every frame whose score (under the protocol above) is at or above the threshold, then count. "
           "The EER threshold of each model is in the table below.")
detail = st.selectbox("Model", list(results), key="evaluate.detail") if len(results) > 1 else next(iter(results))
detail_entry = next(e for e in entries if e.name == detail)
threshold = ui.threshold_slider(PAGE, frames[detail][0], protocol.normalize, ui.checkpoint_calibration(detail_entry))
ui.threshold_report(frames[detail][0], frames[detail][1], threshold)

st.subheader("Per video")
ui.per_video_table(results)

st.subheader("All numbers")
ui.summary_table(results)

if truth == "A dataset":
    st.subheader("Protocol explorer")
    st.caption("The same scores under every common protocol: pooling, normalisation, smoothing, first frames dropped "
               "or kept. Papers rarely say which they used; this table shows how much it matters.")
    explored = st.selectbox("Model", list(results), key="evaluate.explore_model") if len(results) > 1 else detail
    with ui.user_errors("Protocol explorer", stop=False):
        ui.protocol_explorer(PAGE, next(e for e in entries if e.name == explored), spec)
