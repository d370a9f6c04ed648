"""The app's toolkit: the ONLY part of vadlab that imports Streamlit.

Pages import this package (`from vadlab import ui`) and nothing below it: cached loaders
(`ui.decode`, `ui.score`, `ui.load_model`, `ui.evaluate_dataset`), widget groups
(`ui.checkpoints_picker`, `ui.video_source_picker`, `ui.dataset_picker`, ...), views
(`ui.timeline_with_slider`, `ui.frame_panels`, ...), attribution widgets (`ui.attribution_params`),
the Lab notebook's sections (`ui.notebook_cells`, ...), error display (`ui.user_errors`), session-state
keys (`ui.state`), confined paths (`ui.paths`), background training (`ui.training`) and one
Streamlit workaround (`ui.compat`: deep links on a fresh server).
"""
from __future__ import annotations

from vadlab.ui import paths, state, training
from vadlab.ui.compat import leave_legacy_pages_mode
from vadlab.ui.cache import (
    CheckpointEntry,
    ClipSource,
    dataset,
    clip_scores_and_labels,
    dataset_scores,
    decode,
    display_spec,
    evaluate_clip,
    evaluate_dataset,
    list_checkpoints,
    load_model,
    result_store,
    samples_spec,
    score,
    scores_key,
    usable_checkpoints,
)
from vadlab.ui.errors import ERROR_ICON, error_message, user_errors
from vadlab.ui.explain_view import attribution_params
from vadlab.ui.notebook_view import (
    notebook_add_cell,
    notebook_cells,
    notebook_downloads,
    notebook_open_controls,
    notebook_session,
)
from vadlab.ui.views import (
    Flagged,
    alert_banner,
    anomalous_frames_text,
    annotated_video,
    clip_comparison_table,
    compare_panels,
    curves,
    demo,
    downloads,
    events_table,
    flag,
    frame_panels,
    loss_chart,
    metric_cards,
    overlay_timeline,
    overlay_timeline_with_slider,
    per_video_table,
    pooled,
    postprocessed,
    presenter_view,
    summary_table,
    threshold_report,
    timeline_with_slider,
    training_progress_foreground,
    training_status,
    video_notes,
    zoo_table,
)
from vadlab.ui.widgets import (
    alert_rules,
    checkpoint_picker,
    checkpoints_picker,
    dataset_folder_picker,
    dataset_picker,
    device_choices,
    device_description,
    labels_upload,
    postprocess_controls,
    sample_clips,
    sample_source,
    sidebar,
    threshold_slider,
    video_source_picker,
)

leave_legacy_pages_mode()  # see vadlab/ui/compat.py: deep links on a fresh server
