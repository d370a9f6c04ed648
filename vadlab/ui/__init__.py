"""The app's toolkit: the ONLY part of vadlab that imports Streamlit.

Pages import this package (`from vadlab import ui`) and nothing below it: cached loaders
(`ui.decode`, `ui.score`, `ui.load_model`, `ui.checkpoint_calibration`, `ui.evaluate_dataset`), widget
groups bound to the session's working context (`ui.checkpoints_picker`, `ui.video_source_picker`,
`ui.verdict_controls`, `ui.protocol_controls`, ...; in `model_picker`, `source_picker` and `widgets`;
the context itself is `ui.state.context()`), the model that fits a clip (`ui.best_checkpoints`), views
(`ui.clip_verdicts`, `ui.alert_banner`, `ui.timeline_with_slider`, `ui.protocol_explorer`, ...; in
`views`, `timeline_view`, `verdict_view`, `evaluation_view`, `presenter_view` and `training_view`; the
Data page's in `data_view` and `labelling_view`), attribution widgets (`ui.attribution_params`),
the Lab notebook's sections (`ui.notebook_cells`, ...), error display (`ui.user_errors`), session-state
keys (`ui.state`) and background training (`ui.training`). The core's folders and zoo are here too, for the
pages: `ui.paths` is `vadlab.paths` (confined paths), `ui.zoo` is `vadlab.zoo`.
"""
from __future__ import annotations

from vadlab import paths, zoo
from vadlab.ui import live_view, state, training
from vadlab.ui.cache import (
    ClipSource,
    best_checkpoints,
    checkpoint_calibration,
    dataset,
    decode,
    display_spec,
    has_scores,
    in_sample_on,
    load_model,
    rank_checkpoints,
    result_store,
    samples_spec,
    score,
    scores_key,
)
from vadlab.ui.errors import ERROR_ICON, error_message, user_errors
from vadlab.ui.evaluation_cache import (
    clip_dataset_scores,
    clip_scores_and_labels,
    dataset_scores,
    evaluate_clip,
    evaluate_dataset,
    has_dataset_scores,
    protocol_table,
)
from vadlab.ui.explain_view import attribution_on_demand, attribution_params, explain_timeline, panels_chart
from vadlab.ui.notebook_view import (
    notebook_add_cell,
    notebook_cells,
    notebook_downloads,
    notebook_open_controls,
    notebook_session,
)
from vadlab.ui.evaluation_view import (
    curves,
    in_sample_warnings,
    metric_cards,
    per_video_table,
    pooled,
    protocol_description,
    protocol_explorer,
    protocol_frames,
    summary_table,
    threshold_report,
)
from vadlab.ui.verdict_view import (
    Flagged,
    alert_banner,
    anomalous_frames_text,
    clip_verdicts,
    flag,
    models_notes,
    verdict_meta,
    verdict_notes,
)
from vadlab.ui.feedback_view import false_alarm_feedback
from vadlab.ui.home_view import demo, demo_choice, start_here, zoo_table
from vadlab.ui.presenter_view import presenter_chrome, presenter_toggle, presenter_view
from vadlab.ui.timeline_view import overlay_key, overlay_timeline, overlay_timeline_with_slider, timeline_with_slider
from vadlab.ui.training_view import loss_chart, training_progress_foreground, training_status
from vadlab.ui.views import (
    annotated_video,
    clip_comparison_table,
    compare_panels,
    downloads,
    events_table,
    frame_panels,
    presenter_downloads,
    scores_csv,
    video_notes,
)
from vadlab.ui.model_picker import checkpoint_picker, checkpoints_picker, detail_picker
from vadlab.ui.source_picker import (
    dataset_folder_picker,
    dataset_picker,
    labels_upload,
    sample_clips,
    sample_kinds,
    sample_source,
    video_source_picker,
)
from vadlab.ui.widgets import (
    alert_rules,
    device_description,
    protocol_controls,
    sidebar,
    threshold_slider,
    verdict_controls,
)
from vadlab.device import choices as device_choices  # the pages' device pickers
