"""Explain: why a frame got its anomaly score. The SVD rank-r explorer and Captum attributions."""
import json

import numpy as np
import streamlit as st

from vadlab import explain, plots, ui

PAGE = "explain"
RESULT = "explain.result"  # session state: summary of the last attribution shown (shapes, method, runtime)

st.title("Explain a frame's score")
st.caption("Pick a clip, a model and a frame (the ones you were looking at on Score, if any; else the model that fits "
           "the clip and its most anomalous frame). The SVD explorer shows how the frame and the model's "
           "reconstruction (or prediction) differ in their dominant structure; attributions show which "
           "pixels of the input window drive the anomaly score up.")

col_source, col_model = st.columns([3, 2], gap="large")
with col_source:
    source = ui.video_source_picker(PAGE)
with col_model:
    entry = ui.checkpoint_picker(PAGE, label="Model", clip=source)
if source is None:
    st.stop()

with ui.user_errors(f"Scoring {source.name}"):
    video = ui.decode(source)
    frame_scores = ui.score(entry, source)
    loaded = ui.load_model(entry)
n_frames = len(frame_scores)
frame, flagged = ui.explain_timeline(PAGE, frame_scores, entry, source)
window = loaded.model.config.window
with ui.user_errors():
    start, scored = explain.window_span(n_frames, window, loaded.spec.target, frame)
relation = "ending at" if loaded.spec.target == "window" else "just before"
st.caption(f"Score of frame {frame}: **{flagged.score_text(frame, raw=True)}**, as on Score (higher = more "
           f"anomalous). It is computed from the {window}-frame window {start}–{start + window - 1}, {relation} "
           f"frame {scored}" + (" (the first frames share the first window's score)." if scored != frame else "."))
ui.panels_chart(plots.scored_frame_figure(video.frames[frame], frame_scores, frame), key="explain.panels")

# ------------------------------------------------------------------------------------- SVD explorer
st.subheader("SVD rank-r explorer")
st.caption("A frame is a matrix; its best rank-r approximation keeps the r strongest singular components "
           "(the scene's large-scale structure) and drops fine detail and noise. SVD-GAN's loss compares the "
           "frame and its reconstruction at rank r: the right panel is exactly that difference.")
if frame_scores.outputs is None:
    st.info(f"{entry.name} produces no reconstruction or prediction, so there is nothing to compare at rank r.")
else:
    h, w = loaded.model.config.height, loaded.model.config.width
    default_rank = int(min(getattr(loaded.model.config, "rank", 8), min(h, w)))
    rank = st.slider("Rank r", 1, min(h, w), default_rank, key=ui.state.widget_key(PAGE, "rank"))
    with ui.user_errors("SVD explorer", stop=False):
        svd = explain.svd_for_frame(loaded, video.frames, frame_scores, frame, rank)
        col_fig, col_spectrum = st.columns([3, 2])
        with col_fig:
            ui.panels_chart(plots.svd_figure(svd, frame_aspect=video.frames.shape[1] / video.frames.shape[2]),
                            key="explain.svd")
        with col_spectrum:
            ui.panels_chart(plots.spectrum_figure(svd), key="explain.spectrum")
        st.caption(f"Rank {rank} keeps **{svd['frame_energy_at_r']:.1%}** of the frame's energy and "
                   f"**{svd['reconstruction_energy_at_r']:.1%}** of the reconstruction's; the Frobenius norm of "
                   f"their difference (the SVD loss of this frame) is **{svd['difference_norm']:.4g}** "
                   "(pixel values in [-1, 1]).")

# ------------------------------------------------------------------------------------- attributions
st.subheader("Attributions of the anomaly score")
st.caption("Captum attributes the score to every pixel of every frame of the input window: bright regions "
           "are where the evidence for 'anomalous' comes from. Frames share one colour scale; the last panel "
           "sums them over time, and each frame's title gives its share of the total.")
labels = explain.METHOD_LABELS
col_method, col_params = st.columns([1, 3])
method = col_method.selectbox("Method", list(labels), format_func=labels.get, key=ui.state.widget_key(PAGE, "method"))
with col_params:
    params = ui.attribution_params(PAGE, method, loaded.model.config.height, loaded.model.config.width)

with ui.user_errors(f"{labels[method]}"):
    explanation = ui.attribution_on_demand(
        PAGE, ("attribution", ui.scores_key(entry, source), frame, method, json.dumps(params, sort_keys=True)),
        f"{labels[method]} for frame {frame}", lambda: explain.explain_video_frame(loaded, video.frames, frame, method, **params))
if explanation is None:  # not asked for on this frame yet: changing frames stays fast
    st.stop()
attribution = explanation.attribution
ui.panels_chart(plots.attribution_figure(attribution, explanation.window_rgb,
                                           frame_labels=[f"frame {explanation.window_start + i}" for i in range(window)]),
                key="explain.attribution")
col_a, col_b, col_c = st.columns(3)
col_a.metric("Runtime", f"{attribution.seconds:.2f} s")
col_b.metric(f"Raw {frame_scores.score_kind} score explained", f"{attribution.score:.4g}",
             help=f"Captum explains the model's raw score of frame {explanation.scored_frame}; on the verdict's scale "
                  f"it is {flagged.score_text(explanation.scored_frame)}.")
col_c.metric("Most influential window frame", f"frame {explanation.window_start + int(np.argmax(attribution.per_frame))}")
st.session_state[RESULT] = {
    "frame": frame,
    "scored_frame": explanation.scored_frame,
    "method": attribution.method,
    "params": attribution.params,
    "seconds": attribution.seconds,
    "maps_shape": list(attribution.maps.shape),
    "model_frame_shape": [window, loaded.model.config.height, loaded.model.config.width],
    "spatial_shape": list(attribution.spatial.shape),
}
