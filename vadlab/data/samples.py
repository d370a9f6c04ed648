"""The sample videos folder read back: its clips, their frame labels and anomaly kinds, in the layout
`vadlab.data.synthetic.write_samples` writes (`vadlab samples --out sample_videos`):

    training/train_NN.mp4, testing/test_NN.mp4, testing/labels.json, testing/kinds.json
"""
from __future__ import annotations

import json
from pathlib import Path

from vadlab.data.video import VIDEO_EXTENSIONS


def sample_clips(folder: str | Path) -> dict[str, Path]:
    """The sample videos in `folder` (as `write_samples` lays them out): "testing/test_01" -> path
    (test clips first); {} when the folder is missing."""
    out: dict[str, Path] = {}
    for split in ("testing", "training"):
        split_dir = Path(folder) / split
        if split_dir.is_dir():
            for p in sorted(split_dir.iterdir()):
                if p.suffix.lower() in VIDEO_EXTENSIONS:
                    out[f"{split}/{p.stem}"] = p
    return out


def sample_labels(folder: str | Path) -> dict[str, list[int]]:
    """The test clips' frame labels in `folder` (testing/labels.json: {"test_01": [0, 1, ...]}), or {}."""
    labels_file = Path(folder) / "testing" / "labels.json"
    if not labels_file.is_file():
        return {}
    return json.loads(labels_file.read_text())


def sample_kinds(folder: str | Path) -> dict[str, list[str]]:
    """The anomaly kinds of the test clips in `folder` ({"test_01": ["fast_object"]}), when recorded."""
    kinds_file = Path(folder) / "testing" / "kinds.json"
    try:
        return json.loads(kinds_file.read_text()) if kinds_file.is_file() else {}
    except (OSError, ValueError):
        return {}
