"""Evaluate: frame-level ROC / PR, micro and macro AUC, EER, confusion matrix, per-video AUC."""
import streamlit as st

from vadlab import ui

PAGE = "evaluate"

st.title("Evaluate")
st.caption("How well do the models separate anomalous from normal frames? The numbers are exactly "
           "those of `vadlab eval` with the same options (same scores, same post-processing, same metrics).")

entries = ui.checkpoints_picker(PAGE)
truth = st.radio("Ground truth from", ["A dataset", "A clip and a labels file"], horizontal=True, key="evaluate.truth",
                 help="A dataset: the shipped samples or a dataset folder with its own labels. A clip: any video "
                      "plus a labels file you upload (CSV/JSON/npy/.mat/.m).")
if truth == "A dataset":
    spec = ui.dataset_picker(PAGE)
    pixel = st.checkbox("Also pixel-level AUC (datasets with pixel masks)", key="evaluate.pixel")
else:
    source = ui.video_source_picker(PAGE)
normalize, smooth = ui.postprocess_controls(PAGE, expanded=True)
if not entries:
    st.info("Choose at least one checkpoint.")
    st.stop()

if truth == "A dataset":
    if spec is None:
        st.stop()
    request = (tuple(e.path for e in entries), spec, pixel)
    if st.button("Evaluate", type="primary", key="evaluate.run"):
        st.session_state["evaluate.request"] = request
    if st.session_state.get("evaluate.request") != request:
        st.info("Press **Evaluate** to score the test videos (scores are cached: changing the "
                "post-processing afterwards does not re-score).")
        st.stop()
    with ui.user_errors("Evaluation"):
        results = {e.name: ui.evaluate_dataset(e, spec, normalize, smooth, pixel) for e in entries}
        scored = {e.name: ui.dataset_scores(e, spec, pixel) for e in entries}
        frames = {name: ui.pooled({k: v.scores for k, v in s.scores.items()}, s.labels, normalize, smooth)
                  for name, s in scored.items()}
    st.caption(f"{ui.display_spec(spec)}: {next(iter(results.values())).n_frames} test frames, "
               f"{next(iter(results.values())).n_anomalous} anomalous.")
else:
    if source is None:
        st.stop()
    with ui.user_errors(f"Scoring {source.name}"):
        video = ui.decode(source)
        labels = ui.labels_upload(PAGE, source, len(video.frames))
        clips = {e.name: ui.clip_scores_and_labels(e, source, labels) for e in entries}
        results = {e.name: ui.evaluate_clip(e, source, labels, normalize, smooth) for e in entries}
        frames = {name: ui.pooled(scores, truth_labels, normalize, smooth) for name, (scores, truth_labels) in clips.items()}

st.subheader("Headline numbers")
for name, result in results.items():
    ui.metric_cards(name, result)

st.subheader("Curves")
ui.curves(results)

st.subheader("At a threshold")
st.caption("Flag every frame whose post-processed score is at or above the threshold, then count. "
           "The EER threshold of each model is in the table below.")
detail = st.selectbox("Model", list(results), key="evaluate.detail") if len(results) > 1 else next(iter(results))
threshold = ui.threshold_slider(PAGE, frames[detail][0], normalize)
ui.threshold_report(frames[detail][0], frames[detail][1], threshold)

st.subheader("Per video")
ui.per_video_table(results)

st.subheader("All numbers")
ui.summary_table(results)
