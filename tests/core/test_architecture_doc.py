"""ARCHITECTURE.md stays a map of the house as it is: every file and every name it points to exists."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_and_name_the_architecture_map_names_exists():
    text = (ROOT / "ARCHITECTURE.md").read_text().split("## Concepts with more than one home")[0]  # then: plans
    assert "ARCHITECTURE.md" in (ROOT / "README.md").read_text()
    files = set(re.findall(r"\b((?:vadlab|tests|app_pages)/[\w/]+\.py)\b", text)) - {"vadlab/models/<family>.py"}
    assert files and [f for f in files if not (ROOT / f).is_file()] == []
    # `module.name` references, e.g. `calibration.choose_rule`, `data/clips.py` rooms' classes
    for module, name in [("vadlab.calibration", "VerdictRule"), ("vadlab.calibration", "choose_rule"),
                         ("vadlab.calibration", "assess"), ("vadlab.data.clips", "PseudoAnomalyWindows"),
                         ("vadlab.data.clips", "skip_frame_item"), ("vadlab.data.clips", "local_speedup"),
                         ("vadlab.data.device_windows", "DeviceWindows"), ("vadlab.files", "atomic_write"),
                         ("vadlab.files", "exclusive_lock"), ("vadlab.train", "training_windows"),
                         ("vadlab.train", "EpochBatches"), ("vadlab.scoring", "WindowScorer"),
                         ("vadlab.stream", "score_file"), ("vadlab.api", "with_verdict_rule"),
                         ("vadlab.export", "format_score"), ("vadlab.models.base", "RECIPE_FIELDS")]:
        assert name in text and hasattr(importlib.import_module(module), name), f"{module}.{name}"
