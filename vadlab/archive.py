"""Score an archive of footage: every video of a folder or glob, per-frame scores as Parquet and an
events table, resumable, with one unreadable video listed instead of stopping the rest.

    vadlab score-archive --checkpoint CK --videos /footage/cam3 --out runs/cam3            # in-process
    vadlab score-archive --checkpoint CK --videos '/footage/*/*.mp4' --out runs/all --ray   # Ray Data
    vadlab score-archive ... --ray 10.0.0.5:6379 --workers 8 --gpus-per-worker 1            # a cluster

Without --ray each video goes through `vadlab.stream.score_file` in this process. With --ray the
same scores come from a Ray Data pipeline:

    list videos --> decode (tasks) ---------------> score (actor pool) ------------> this process
    (not done)      frames at model resolution,     one model per actor; each        per video: the
                    in segments of S windows        segment through a fresh          windows in order ->
                    (S a multiple of batch_size)    `WindowScorer`, batches of       FrameScores -> verdict
                    + the span - 1 frames before    batch_size windows               -> Parquet, events

A segment carries the span - 1 frames before its first window, so its windows are exactly those
`score_file` makes, and since S is a multiple of batch_size they are scored in exactly the same
batches: the per-frame scores equal `vadlab score`'s digit for digit (tested). Memory per worker
is one segment (S + span - 1 frames at model resolution), whatever the video's length.

The verdict is the checkpoint's own (`vadlab.calibration.assess` with its rule and calibration:
what `vadlab score` prints by default). Output, under --out:
    scores/<video id>.parquet   video, frame, time_s, score, normalized_score, raw, scored, anomalous
    events/<video id>.parquet   video, start, end, start_s, end_s, frames, peak_frame, peak_score
    done/<video id>.json        a finished video (written last: what a re-run skips)
    events.parquet              every event of the archive; summary.json; errors.json (unreadable videos)
    archive.json                the checkpoint these scores belong to (a re-run with another one is refused)
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from vadlab.files import atomic_write, commit, temporary_name

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".ts")
SEGMENT_BATCHES = 8  # windows per Ray segment = 8 x batch_size


class ArchiveError(ValueError):
    """The archive cannot be scored as asked (no videos, an --out made with another checkpoint)."""


def list_videos(videos: str | Path) -> list[Path]:
    """The video files of a folder (recursively) or a glob pattern, sorted. Raises ArchiveError
    when there are none."""
    text = str(videos)
    if Path(text).is_dir():
        found = [p for p in Path(text).rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    elif glob.has_magic(text):
        found = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
    elif Path(text).is_file():
        found = [Path(text)]
    else:
        raise ArchiveError(f"--videos {text}: no such folder or file, and not a glob pattern")
    if not found:
        raise ArchiveError(f"--videos {text}: no video files ({', '.join(VIDEO_SUFFIXES)})")
    return sorted(p.absolute() for p in found)


def video_id(path: Path) -> str:
    """A file name for a video's outputs: its stem (made safe) and 8 hex digits of its full path,
    so that two cameras' `0001.mp4` do not collide."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)[:80] or "video"
    return f"{stem}-{hashlib.sha1(str(path.absolute()).encode()).hexdigest()[:8]}"


@dataclass
class ArchiveSummary:
    """What a score-archive run did: videos scored now / skipped as done before / failed (with
    their errors), footage hours and frames scored now, wall seconds, frames per second, events."""

    videos: int = 0
    scored: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    hours: float = 0.0
    seconds: float = 0.0
    events: int = 0
    archive_events: int = 0
    workers: int = 1
    engine: str = "in-process"

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.videos} videos: {self.scored} scored now, {self.skipped} done before, {len(self.failed)} "
                f"failed; {self.hours:.2f} h of footage ({self.frames} frames) in {self.seconds:.1f} s = "
                f"{self.frames_per_second:.1f} frames/s ({self.engine}, {self.workers} worker(s)); "
                f"{self.events} events now, {self.archive_events} in the archive")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "frames_per_second": self.frames_per_second}


class ArchiveStore:
    """The --out folder of an archive: which videos are done, and writing one video's results."""

    def __init__(self, out: str | Path, checkpoint_identity: dict):
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ArchiveError('Parquet output needs pyarrow: python -m pip install -e ".[scale]"')
        self.out = Path(out)
        for sub in ("scores", "events", "done"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        manifest = self.out / "archive.json"
        if manifest.exists():
            stored = json.loads(manifest.read_text())
            if stored.get("checkpoint") != checkpoint_identity:
                raise ArchiveError(f"{self.out} holds the scores of another checkpoint ({stored.get('checkpoint')}); "
                                   f"use a new --out for {checkpoint_identity}")
        else:
            atomic_write(manifest, json.dumps({"checkpoint": checkpoint_identity}, indent=1))

    def is_done(self, path: Path) -> bool:
        return (self.out / "done" / f"{video_id(path)}.json").exists()

    def write(self, path: Path, loaded: Any, frame_scores: Any) -> dict:
        """Judge one scored video with the checkpoint's own rule and write its scores, its events
        and (last) its done record; returns the done record."""
        import pandas as pd

        from vadlab.calibration import assess
        from vadlab.export import score_rows

        v = assess(frame_scores, loaded.calibration)  # as `vadlab score` judges by default
        scores = pd.DataFrame(score_rows(frame_scores, normalized_scores=v.values, threshold=v.threshold))
        scores.insert(0, "video", str(path))
        fps = frame_scores.fps
        events = pd.DataFrame(
            [{"video": str(path), "start": e.start, "end": e.end, "start_s": e.start / fps, "end_s": (e.end + 1) / fps,
              "frames": e.length, "peak_frame": e.peak_frame, "peak_score": e.peak_score} for e in v.events],
            columns=["video", "start", "end", "start_s", "end_s", "frames", "peak_frame", "peak_score"])
        vid = video_id(path)
        _write_parquet(scores, self.out / "scores" / f"{vid}.parquet")
        _write_parquet(events, self.out / "events" / f"{vid}.parquet")
        record = {"video": str(path), "frames": len(frame_scores), "fps": fps, "seconds": len(frame_scores) / fps,
                  "events": len(v.events), "threshold": v.threshold, "verdict": v.describe()}
        atomic_write(self.out / "done" / f"{vid}.json", json.dumps(record, indent=1, default=float))
        return record

    def finish(self, summary: ArchiveSummary) -> None:
        """The archive-wide events table, errors and summary (rewritten after every run)."""
        import pandas as pd

        parts = [pd.read_parquet(p) for p in sorted((self.out / "events").glob("*.parquet"))]
        parts = [p for p in parts if len(p)]
        events = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["video", "start", "end", "start_s", "end_s", "frames", "peak_frame", "peak_score"])
        summary.archive_events = len(events)
        _write_parquet(events, self.out / "events.parquet")
        atomic_write(self.out / "errors.json", json.dumps(summary.failed, indent=1))
        atomic_write(self.out / "summary.json", json.dumps(summary.to_dict(), indent=1))


def _write_parquet(frame: Any, target: Path) -> None:
    tmp = temporary_name(target)
    try:
        frame.to_parquet(tmp, index=False)
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def checkpoint_identity(loaded: Any) -> dict:
    """What ties an --out folder to its checkpoint: the family, the weights' digest and its
    calibration (the verdicts depend on it), not the file's path (a moved checkpoint is the same)."""
    meta = loaded.metadata or {}
    calibration = json.dumps(meta.get("calibration"), sort_keys=True, default=str)
    return {"model": meta.get("model"), "weights_sha256": meta.get("weights_sha256"),
            "calibration_sha1": hashlib.sha1(calibration.encode()).hexdigest()[:12]}


def score_archive(checkpoint: str | Path, videos: str | Path, out: str | Path, device: str = "auto",
                  batch_size: int = 32, use_ray: bool = False, ray_address: Optional[str] = None,
                  workers: int = 1, cpus_per_worker: float = 1, gpus_per_worker: Optional[float] = None,
                  ray_cpus: Optional[int] = None, threads: Optional[int] = None,
                  on_video: Optional[Callable[[str, dict], None]] = None) -> ArchiveSummary:
    """Score every video of `videos` (a folder or a glob) not already done in `out`, write its
    per-frame scores and events (see the module docstring) and return the run's summary.

    on_video(kind, info): progress, kind "done" (info: the done record + "index", "total") or
    "failed" (info: {"video", "error"}). An unreadable or too-short video is listed in
    summary.failed with its error; the other videos go on. With `use_ray`, a Ray Data pipeline
    on the cluster at `ray_address` (a new local one with `ray_cpus` CPUs when None) with an
    actor pool of `workers` models, each reserving `cpus_per_worker` CPUs (its torch threads) and
    `gpus_per_worker` GPUs (None: one when the cluster has GPUs and `device` is not "cpu").
    threads: torch CPU threads in-process (default: torch's choice; with Ray, `cpus_per_worker`).
    """
    from vadlab import api

    loaded = api.load(checkpoint, device="cpu" if use_ray else device)  # with Ray: for the verdicts only
    store = ArchiveStore(out, checkpoint_identity(loaded))
    paths = list_videos(videos)
    todo = [p for p in paths if not store.is_done(p)]
    summary = ArchiveSummary(videos=len(paths), skipped=len(paths) - len(todo),
                             workers=workers if use_ray else 1, engine="Ray Data" if use_ray else "in-process")
    notify = on_video or (lambda kind, info: None)

    def done(path: Path, fs: Any) -> None:
        record = store.write(path, loaded, fs)
        summary.scored += 1
        summary.frames += record["frames"]
        summary.hours += record["seconds"] / 3600
        summary.events += record["events"]
        notify("done", {**record, "index": summary.scored + len(summary.failed), "total": len(todo)})

    def failed(path: Path, error: str) -> None:
        summary.failed[str(path)] = error
        notify("failed", {"video": str(path), "error": error, "index": summary.scored + len(summary.failed),
                          "total": len(todo)})

    start = time.perf_counter()
    if use_ray:
        _ray_pipeline(loaded, str(checkpoint), todo, device, batch_size, workers, cpus_per_worker, gpus_per_worker,
                      ray_address, ray_cpus, done, failed)
    else:
        import torch

        from vadlab.stream import score_file

        if threads:
            torch.set_num_threads(threads)
        for path in todo:
            try:
                fs = score_file(loaded, path, batch_size=batch_size)
            except (ValueError, OSError, RuntimeError) as exc:  # this video only; the others go on
                failed(path, f"{type(exc).__name__}: {exc}")
                continue
            done(path, fs)
    summary.seconds = time.perf_counter() - start
    store.finish(summary)
    return summary


# ------------------------------------------------------------------------------------------------
# the Ray Data pipeline
# ------------------------------------------------------------------------------------------------
def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _row(path: str, kind: str, segment: int = -1, start: int = 0, count: int = 0, fps: float = 0.0,
         error: str = "", payload: bytes = b"") -> dict[str, np.ndarray]:
    """One pipeline row as a numpy batch of one (the same columns at every stage and kind)."""
    return {"path": np.array([path]), "kind": np.array([kind]), "segment": np.array([segment], dtype=np.int64),
            "start": np.array([start], dtype=np.int64), "count": np.array([count], dtype=np.int64),
            "fps": np.array([fps], dtype=np.float64), "error": np.array([error]),
            "payload": np.array([payload], dtype=object)}


def _decode_segments(batch: dict[str, np.ndarray], channels: int, height: int, width: int, span: int,
                     segment_windows: int, max_side: int = 640) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data stage: one video -> rows "frames" (segment k: frames [k S, k S + S + span - 1) at
    model resolution, uint8 (n, C, H, W) in payload), then "end" (count = its frames) or "error"."""
    from vadlab.data.clips import to_model_frames
    from vadlab.data.video import iter_video

    path = str(batch["path"][0])
    try:
        info, chunks = iter_video(path, max_side)
        fps = float(info.fps or 25.0)
        buffer: list[np.ndarray] = []  # model frames not yet sent, from frame `first` on
        first, segment, n = 0, 0, 0
        for chunk in chunks:
            frames = to_model_frames(chunk, channels, height, width).numpy()  # (n, C, H, W)
            buffer.extend(frames)
            n += len(frames)
            while len(buffer) >= segment_windows + span - 1:
                yield _row(path, "frames", segment, first, segment_windows + span - 1, fps,
                           payload=_npz(frames=np.stack(buffer[:segment_windows + span - 1])))
                buffer = buffer[segment_windows:]  # keep the span - 1 frames the next window needs
                first += segment_windows
                segment += 1
        if len(buffer) >= span:
            yield _row(path, "frames", segment, first, len(buffer), fps, payload=_npz(frames=np.stack(buffer)))
            segment += 1
        yield _row(path, "end", segment, 0, n, fps)
    except Exception as exc:  # noqa: BLE001 - reported for this video, the archive goes on
        yield _row(path, "error", error=f"{type(exc).__name__}: {exc}")


class _SegmentScorer:
    """Ray Data actor: one model, scoring segments through a fresh `WindowScorer` each, in
    batches of exactly batch_size windows (as `score_frame_iter` does over the whole video)."""

    def __init__(self, checkpoint: str, device: str, batch_size: int, threads: Optional[int]):
        import torch

        from vadlab import api

        if threads:
            torch.set_num_threads(threads)
        self.loaded = api.load(checkpoint, device=device)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        from vadlab.scoring import WindowScorer

        if str(batch["kind"][0]) != "frames":
            return batch
        path, segment, start = str(batch["path"][0]), int(batch["segment"][0]), int(batch["start"][0])
        try:
            frames = torch.from_numpy(np.load(io.BytesIO(batch["payload"][0]))["frames"])  # (n, C, H, W) uint8
            spec = self.loaded.spec
            scorer = WindowScorer(self.loaded.model, spec.target, spec.score_kind, batch_size=self.batch_size)
            parts = []
            for i, frame in enumerate(frames):
                scorer.push(frame, start + i)
                if scorer.pending == self.batch_size:
                    parts.append(scorer.score_pending())
            if scorer.pending:
                parts.append(scorer.score_pending())
            arrays = {"frame_index": np.concatenate([p.frame_index for p in parts]),
                      "score": np.concatenate([p.score for p in parts]), "raw": np.concatenate([p.raw for p in parts])}
            for key in parts[0].pooled:
                arrays["pooled/" + key] = np.concatenate([p.pooled[key] for p in parts])
        except Exception as exc:  # noqa: BLE001 - this video fails, the archive goes on
            return _row(path, "error", segment, error=f"{type(exc).__name__}: {exc}")
        return _row(path, "scores", segment, start, int(batch["count"][0]), float(batch["fps"][0]),
                    payload=_npz(**arrays))


def _window_scores(payload: bytes) -> Any:
    from vadlab.scoring import WindowScores

    data = np.load(io.BytesIO(payload))
    return WindowScores(frame_index=data["frame_index"], score=data["score"], raw=data["raw"],
                        pooled={k[len("pooled/"):]: data[k] for k in data.files if k.startswith("pooled/")})


def _ray_pipeline(loaded: Any, checkpoint: str, todo: Sequence[Path], device: str, batch_size: int, workers: int,
                  cpus_per_worker: float, gpus_per_worker: Optional[float], address: Optional[str], ray_cpus: Optional[int],
                  done: Callable[[Path, Any], None], failed: Callable[[Path, str], None]) -> None:
    """Run the Ray Data pipeline over `todo` and hand each video's FrameScores (or its error) to
    `done` / `failed` as soon as all its segments are in."""
    if not todo:
        return
    from vadlab.scale import gpus_when_present, ray_cluster
    from vadlab.scoring import _FrameScoresBuilder, _too_short

    config, spec = loaded.model.config, loaded.spec
    span = int(config.window) + (1 if spec.target == "next" else 0)
    segment_windows = SEGMENT_BATCHES * batch_size  # a multiple of batch_size: the same batches as score_file
    pending: dict[str, dict] = {str(p): {"segments": {}, "end": None} for p in todo}
    with ray_cluster(address, ray_cpus) as ray:
        gpus_per_worker = gpus_when_present(ray, gpus_per_worker, device)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # one line per finished video instead
        context.execution_options.preserve_order = False
        items = ray.data.from_items([{"path": str(p)} for p in todo], override_num_blocks=len(todo))
        # decoding reserves no CPU slot: the scorers reserve them, and a decode task waiting for a
        # slot they hold would stall the pipeline; `concurrency` bounds the decoders instead
        segments = items.map_batches(_decode_segments, batch_size=1, num_cpus=0, concurrency=max(1, workers),
                                     fn_kwargs={"channels": config.channels, "height": config.height,
                                                "width": config.width, "span": span,
                                                "segment_windows": segment_windows})
        scored = segments.map_batches(
            _SegmentScorer, batch_size=1, concurrency=workers, num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
            fn_constructor_kwargs={"checkpoint": str(Path(checkpoint).absolute()),
                                   "device": device if gpus_per_worker else "cpu", "batch_size": batch_size,
                                   "threads": max(1, int(cpus_per_worker)) if not gpus_per_worker else None})
        for batch in scored.iter_batches(batch_size=1, batch_format="numpy"):
            path, kind = str(batch["path"][0]), str(batch["kind"][0])
            state = pending.get(path)
            if state is None:
                continue  # already reported (failed)
            if kind == "error":
                del pending[path]
                failed(Path(path), str(batch["error"][0]))
                continue
            if kind == "scores":
                state["segments"][int(batch["segment"][0])] = _window_scores(batch["payload"][0])
                state["fps"] = float(batch["fps"][0])
            else:  # "end": the video's frame count and number of segments
                state["end"] = (int(batch["count"][0]), int(batch["segment"][0]), float(batch["fps"][0]))
            if state["end"] is None or len(state["segments"]) < state["end"][1]:
                continue
            del pending[path]
            n, n_segments, fps = state["end"]
            if n < span:
                failed(Path(path), f"VideoTooShortError: {_too_short(Path(path).stem, n, span, config.window, spec.target)}")
                continue
            builder = _FrameScoresBuilder(keep_maps=False)
            for k in range(n_segments):
                builder.add(state["segments"].pop(k))
            done(Path(path), builder.build(n, loaded.model, Path(path).stem, spec.score_kind, fps))
    for path in pending:  # a video the pipeline lost (a worker died): listed, retried on a re-run
        failed(Path(path), "the pipeline returned no result for this video")
