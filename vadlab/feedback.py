""""This is normal": a false alarm, marked by the user, becomes normal footage of a camera's dataset
and the model is recalibrated on that dataset at once.

What happens when an alert event (frames `start`..`end` of a clip) is marked as a false alarm:

1. its frames, with `context` frames on each side (a model needs a full window before a frame to
   score it), are kept as a normal (training) clip of the user's dataset `NAME`
   (`vadlab.userdata`: `NAME/training/fa_<clip>_<start>-<end>.mp4`), validated like any upload;
2. one line is appended to the dataset's feedback log `NAME/feedback.jsonl`: when, which clip and
   frames, which checkpoint, its threshold before and after;
3. the checkpoint is recalibrated on the dataset's normal clips (`api.calibrate(frames="all")`,
   with its verdict rule chosen again on them and their pseudo-anomalies: `choose_rule`), and the
   calibration is saved (`api.save_calibration`), into the checkpoint itself or into a copy (`out`:
   the app copies shipped checkpoints into the user's folder, never writing over them).

Nothing is ever learned from the test labels of a benchmark: the only new input is the user's word
that these frames are normal. Fine-tuning on the dataset is the Train page's job
(`vadlab train --data folder:... --init-from CK`).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from vadlab.files import atomic_write
from vadlab.userdata import ClipInfo, UserData, UserDataError

FEEDBACK_LOG = "feedback.jsonl"
DEFAULT_CONTEXT = 16  # frames kept on each side of the event


@dataclass
class Recalibrated:
    """What marking a false alarm did: the clip kept, the checkpoint recalibrated, the log entry."""

    clip: ClipInfo
    dataset: str
    checkpoint: str  # the recalibrated checkpoint (path stem): the given one, or its copy `out`
    threshold_before: Optional[float]
    threshold_after: float
    normal_frames: int  # frames of the dataset's normal clips the calibration now rests on
    rule: str
    entry: dict


def keep_as_normal(store: UserData, dataset: str, frames: np.ndarray, fps: float, source: str, start: int, end: int,
                   context: int = DEFAULT_CONTEXT) -> tuple[ClipInfo, tuple[int, int]]:
    """Keep frames `start`..`end` (inclusive, 0-based) of a clip, with `context` frames on each side,
    as a normal (training) clip of `dataset` (created when missing). frames: uint8 (N, H, W, 3), the
    clip's frames; source: where they came from (recorded in the clip's name and the log).
    Returns the stored clip and the (first, last) frame kept."""
    from vadlab.data.writer import write_video

    n = int(frames.shape[0])
    if not 0 <= start <= end < n:
        raise UserDataError(f"frames {start}-{end} are not inside the clip's {n} frames")
    first, last = max(0, start - context), min(n - 1, end + context)
    stem = "".join(c if c.isalnum() or c in "_-." else "_" for c in Path(source).stem)[:40] or "clip"
    with tempfile.TemporaryDirectory(prefix="vadlab_feedback_") as folder:
        path = write_video(Path(folder) / "clip.mp4", np.asarray(frames[first:last + 1]), fps=fps, crf=18)
        report = store.add_uploads(dataset, [(f"fa_{stem}_{first}-{last}.mp4", path.read_bytes())], "training")
    if report.refused:
        raise UserDataError(report.refused[0][1])
    return report.added[0], (first, last)


def log(store: UserData, dataset: str) -> list[dict]:
    """The dataset's feedback log, oldest first (empty when there is none)."""
    path = store.dataset_dir(dataset) / FEEDBACK_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append_log(store: UserData, dataset: str, entry: dict) -> None:
    path = store.dataset_dir(dataset) / FEEDBACK_LOG
    previous = path.read_text() if path.is_file() else ""
    atomic_write(path, previous + json.dumps(entry, sort_keys=True) + "\n")


def copy_checkpoint(checkpoint: str | Path, out: str | Path) -> str:
    """Copy a checkpoint's weights and metadata to `out` (a path stem); returns `out` as a string."""
    from vadlab.checkpoint import resolve_checkpoint_path

    weights, meta = resolve_checkpoint_path(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, out.with_name(out.name + ".safetensors"))
    shutil.copyfile(meta, out.with_name(out.name + ".json"))
    return str(out)


def mark_false_alarm(store: UserData, dataset: str, checkpoint: str | Path, frames: np.ndarray, fps: float,
                     source: str, start: int, end: int, out: Optional[str | Path] = None,
                     context: int = DEFAULT_CONTEXT, device: str = "cpu",
                     progress: Optional[Callable[[float, str], None]] = None) -> Recalibrated:
    """Mark frames `start`..`end` of a clip as a false alarm of `checkpoint` (see the module
    docstring): keep them as normal footage of `dataset`, recalibrate the checkpoint on the
    dataset's normal clips and save the calibration into `checkpoint`, or into a copy at `out`.
    Raises UserDataError (a bad dataset name, a clip that does not store) or ValueError (too few
    normal frames to calibrate on) with a message naming what to do."""
    from vadlab import api

    before = api.load(checkpoint, device=device)
    rule_before = before.calibration.verdict_rule if before.calibration is not None else None
    threshold_before = (before.calibration.for_key(rule_before.key).threshold(rule_before.far)
                        if before.calibration is not None else None)
    clip, (first, last) = keep_as_normal(store, dataset, frames, fps, source, start, end, context)
    target = copy_checkpoint(checkpoint, out) if out is not None else str(checkpoint)
    loaded = api.load(target, device=device)
    calibration = api.calibrate(loaded, store.spec(dataset), frames="all", progress=progress)
    api.save_calibration(target, calibration)
    rule = calibration.verdict_rule
    threshold_after = calibration.for_key(rule.key).threshold(rule.far)
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kind": "false_alarm", "source": str(source),
             "frames": [int(start), int(end)], "kept": [int(first), int(last)], "clip": clip.name,
             "checkpoint": str(checkpoint), "recalibrated": target, "threshold_before": threshold_before,
             "threshold_after": threshold_after, "normal_frames": calibration.count, "rule": rule.short}
    _append_log(store, dataset, entry)
    return Recalibrated(clip=clip, dataset=dataset, checkpoint=target, threshold_before=threshold_before,
                        threshold_after=threshold_after, normal_frames=calibration.count, rule=rule.short, entry=entry)


def describe(result: Recalibrated) -> str:
    """One sentence for the user: what was kept, and the threshold before and after."""
    before = f"{result.threshold_before:.2f} σ" if result.threshold_before is not None else "none"
    return (f"Kept {result.clip.frames} frames as normal footage '{result.clip.name}' of dataset {result.dataset}; "
            f"{Path(result.checkpoint).name} recalibrated on its {result.normal_frames} normal frames: threshold "
            f"{before} → {result.threshold_after:.2f} σ (rule {result.rule}).")


__all__ = ["FEEDBACK_LOG", "Recalibrated", "copy_checkpoint", "describe", "keep_as_normal", "log", "mark_false_alarm"]
