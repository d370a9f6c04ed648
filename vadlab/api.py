"""The use cases the app, the CLI, benchmarks and notebooks share. Returns dataclasses + numpy.

    >>> from vadlab import api
    >>> ck = api.load("checkpoints/conv_ae_synthetic")
    >>> scores = api.score_video(ck, "sample_videos/testing/test_01.mp4")
    >>> result = api.evaluate(ck, "synthetic:sample_videos")
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from vadlab import device as devices
from vadlab.checkpoint import data_fingerprint, load_checkpoint, read_metadata, resolve_checkpoint_path, save_checkpoint
from vadlab.data.clips import to_model_frames
from vadlab.data.datasets import VideoDataset, VideoRecord, load_dataset, read_masks
from vadlab.data.video import Video, read_video
from vadlab.files import exclusive_lock
from vadlab.metrics import evaluate as evaluate_scores
from vadlab.metrics import pixel_auc
from vadlab.models.base import AnomalyModel
from vadlab.calibration import DEFAULT_RULE, Calibration, Verdict, VerdictRule, assess, fit_calibration
from vadlab.checkpoint import update_metadata
from vadlab.outputs import EvalResult, FrameScores
from vadlab.protocol import PAPER, Protocol
from vadlab.registry import ModelSpec, create_model, get_spec
from vadlab.scoring import score_frames, synchronize
from vadlab.train import TrainConfig, TrainEvent, TrainResult, fit, seed_everything, split_train_val
from vadlab.trainstate import check_train_state, remove_train_state


@dataclass
class LoadedModel:
    """A model ready to score, with its checkpoint metadata."""

    model: AnomalyModel
    spec: ModelSpec
    metadata: dict
    path: Optional[Path] = None

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.spec.name

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def calibration(self) -> Optional[Calibration]:
        """The checkpoint's normal-data calibration, or None (verdicts then fall back, visibly)."""
        return Calibration.from_metadata(self.metadata)

    @property
    def in_sample_on(self) -> Optional[str]:
        """For a supervised family: the dataset spec its labelled training videos came from (an
        evaluation there is in-sample, not a generalisation figure); None otherwise."""
        if not self.spec.supervised:
            return None
        return (self.metadata.get("training") or {}).get("data") or "its training data"


def load(checkpoint: str | Path, device: str = "auto") -> LoadedModel:
    """Load and validate a checkpoint (stem, .safetensors or .json path)."""
    dev = devices.resolve(device)
    model, meta = load_checkpoint(checkpoint, device=str(dev))
    weights, _ = resolve_checkpoint_path(checkpoint)
    return LoadedModel(model=model, spec=get_spec(meta["model"]), metadata=meta, path=weights.with_suffix(""))


def as_video(video: str | Path | Video | np.ndarray, max_frames: int = 3000, max_side: int = 640) -> Video:
    """A path (file or frame folder), a decoded Video, or uint8 frames (T, H, W, C) -> Video."""
    if isinstance(video, Video):
        return video
    if isinstance(video, np.ndarray):
        from vadlab.data.video import VideoInfo

        t, h, w = video.shape[:3]
        return Video(frames=video, info=VideoInfo(path="<array>", fps=25.0, n_frames=t, width=w, height=h, decoder="array"),
                     downscaled=False, truncated=False)
    return read_video(video, max_frames=max_frames, max_side=max_side)


def model_frames(model: AnomalyModel, video: Video) -> torch.Tensor:
    """Decoded frames -> uint8 (T, C, H, W) at the model's resolution."""
    c = model.config
    return to_model_frames(video.frames, c.channels, c.height, c.width)


def score_video(
    loaded: LoadedModel,
    video: str | Path | Video | np.ndarray,
    name: Optional[str] = None,
    batch_size: int = 32,
    keep_maps: bool = True,
    roi_mask: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    progress: Optional[Callable[[float], None]] = None,
) -> FrameScores:
    """Score every frame of a video with a loaded model. Scores: higher = more anomalous."""
    v = as_video(video)
    if name is None:
        name = Path(str(video)).stem if isinstance(video, (str, Path)) else "video"
    frames = model_frames(loaded.model, v)
    fs = score_frames(loaded.model, frames, loaded.spec.target, loaded.spec.score_kind, name=name,
                      fps=v.info.fps or 25.0, batch_size=batch_size, keep_maps=keep_maps,
                      roi_mask=roi_mask, progress=progress)
    if labels is not None:
        labels = np.asarray(labels).astype(np.uint8)
        if len(labels) != len(fs):
            raise ValueError(f"{name}: {len(labels)} labels for {len(fs)} frames")
        fs.labels = labels
    return fs


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------
@dataclass
class DatasetScores:
    """Per-video scores of a dataset's test split, with timing."""

    scores: dict[str, FrameScores]
    labels: dict[str, np.ndarray]
    decode_seconds: float
    score_seconds: float
    n_frames: int

    @property
    def frames_per_second(self) -> float:
        return self.n_frames / self.score_seconds if self.score_seconds > 0 else float("nan")


def score_dataset(
    loaded: LoadedModel,
    data: str | VideoDataset,
    batch_size: int = 32,
    keep_maps: bool = False,
    videos: Optional[Sequence[str]] = None,
    progress: Optional[Callable[[float, str], None]] = None,
) -> DatasetScores:
    """Score every labelled test video of a dataset spec (e.g. "ped2:../shared/datasets/ped2")."""
    ds = load_dataset(data) if isinstance(data, str) else data
    records = [r for r in ds.test if r.labels is not None and (videos is None or r.name in videos)]
    if not records:
        raise ValueError(f"{ds.name}: no labelled test videos to evaluate")
    out: dict[str, FrameScores] = {}
    labels: dict[str, np.ndarray] = {}
    decode_s = score_s = 0.0
    n_frames = 0
    dev = loaded.device
    for i, rec in enumerate(records):
        t = time.perf_counter()
        v = read_video(rec.source)
        frames = model_frames(loaded.model, v)
        decode_s += time.perf_counter() - t
        synchronize(dev)
        t = time.perf_counter()
        fs = score_frames(loaded.model, frames, loaded.spec.target, loaded.spec.score_kind, name=rec.name,
                          fps=v.info.fps or 25.0, batch_size=batch_size, keep_maps=keep_maps)
        synchronize(dev)
        score_s += time.perf_counter() - t
        if len(rec.labels) != len(fs):
            raise ValueError(f"{rec.name}: {len(rec.labels)} labels for {len(fs)} decoded frames")
        fs.labels = np.asarray(rec.labels).astype(np.uint8)
        out[rec.name] = fs
        labels[rec.name] = fs.labels
        n_frames += len(fs)
        if progress is not None:
            progress((i + 1) / len(records), rec.name)
    return DatasetScores(out, labels, decode_s, score_s, n_frames)


def evaluate(
    loaded: LoadedModel,
    data: str | VideoDataset,
    normalize: Optional[str] = None,
    smooth_sigma: Optional[float] = None,
    batch_size: int = 32,
    pixel_level: bool = False,
    progress: Optional[Callable[[float, str], None]] = None,
    protocol: Protocol = PAPER,
) -> EvalResult:
    """Frame-level evaluation of a checkpoint on a dataset's labelled test split.

    protocol: the scoring protocol (`vadlab.protocol`; default the papers': frame mean, per-video
    min-max, no smoothing, undecidable first frames dropped). `normalize` / `smooth_sigma`, when
    given, replace those fields of it. pixel_level: also the pixel AUC of error maps against the
    dataset's pixel masks (when it has them). The result carries its protocol.
    """
    ds = load_dataset(data) if isinstance(data, str) else data
    check_both_classes(ds)
    scored = score_dataset(loaded, ds, batch_size=batch_size, keep_maps=pixel_level, progress=progress)
    return evaluate_scored(ds, scored, normalize=normalize, smooth_sigma=smooth_sigma, pixel_level=pixel_level,
                           protocol=protocol, calibration=loaded.calibration)


def protocol_scores(scored: DatasetScores, protocol: Protocol, calibration: Optional[Calibration] = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The per-video scores and labels a protocol evaluates: its pooling, the undecidable first
    frames dropped or kept, calibrated when asked (normalisation "calibrated" then becomes "none":
    a global map of the scores)."""
    scores, labels = {}, {}
    for name, fs in scored.scores.items():
        values = np.asarray(fs.score_for(protocol.score_key), dtype=np.float64)
        keep = np.asarray(fs.scored, dtype=bool) if protocol.drop_undecidable else np.ones(len(fs), dtype=bool)
        if protocol.normalize == "calibrated":
            if calibration is None:
                raise ValueError("normalisation 'calibrated' needs a calibrated checkpoint (`vadlab calibrate`)")
            values = calibration.for_key(protocol.score_key).z(values)
        scores[name] = values[keep]
        labels[name] = np.asarray(scored.labels[name])[keep]
    return scores, labels


class AucUndefinedError(ValueError):
    """The evaluated frames are all of one class: a ROC AUC (and an EER) is undefined."""


def check_both_classes(ds: VideoDataset) -> None:
    """Raise AucUndefinedError, naming the videos, when the labelled test frames of a dataset are
    all normal or all anomalous (before any scoring: a NaN AUC would otherwise be printed as if it
    were a result). A dataset without labelled videos passes (`score_dataset` says so)."""
    labels = {r.name: np.asarray(r.labels).ravel() for r in ds.test if r.labels is not None}
    if not labels:
        return
    flat = np.concatenate(list(labels.values()))
    if 0 < int(flat.sum()) < flat.size:
        return
    kind = "anomalous (1)" if flat.size and flat.all() else "normal (0)"
    names = ", ".join(sorted(labels)[:5]) + (" ..." if len(labels) > 5 else "")
    raise AucUndefinedError(f"AUC undefined: all {flat.size} labelled frames of {names} are {kind}; an AUC needs "
                            "both normal and anomalous frames (check the labels, or evaluate videos with anomalies)")


def unlabelled_videos(data: str | VideoDataset) -> list[str]:
    """The test videos of a dataset that have no labels (an evaluation leaves them out)."""
    ds = load_dataset(data) if isinstance(data, str) else data
    return [r.name for r in ds.test if r.labels is None]


def evaluate_scored(ds: VideoDataset, scored: DatasetScores, normalize: Optional[str] = None,
                    smooth_sigma: Optional[float] = None, pixel_level: bool = False, protocol: Protocol = PAPER,
                    calibration: Optional[Calibration] = None) -> EvalResult:
    """Metrics of already-computed dataset scores under a protocol (the app re-evaluates cached
    scores this way when only the protocol changes). Pixel AUC needs scores made with keep_maps=True."""
    changes = {k: v for k, v in (("normalize", normalize), ("smooth_sigma", smooth_sigma)) if v is not None}
    protocol = protocol.replace(**changes) if changes else protocol
    scores, labels = protocol_scores(scored, protocol, calibration)
    norm = "none" if protocol.normalize == "calibrated" else protocol.normalize
    result = evaluate_scores(scores, labels, normalize=norm, smooth_sigma=protocol.smooth_sigma)
    result.protocol = protocol.to_dict()
    result.frames_per_second = scored.frames_per_second
    if pixel_level:
        maps, masks = [], []
        for rec in ds.test:
            fs = scored.scores.get(rec.name)
            if fs is None or fs.error_maps is None:
                continue
            m = read_masks(rec, len(fs))
            if m is not None:
                maps.append(fs.error_maps.astype(np.float32))
                masks.append(m)
        if masks:
            result.pixel_auc = pixel_auc(maps, masks)
    return result


def evaluate_clip(fs: FrameScores, labels: Sequence[int] | np.ndarray, protocol: Protocol = PAPER,
                  calibration: Optional[Calibration] = None) -> EvalResult:
    """One scored clip against its (N,) 0/1 frame labels under a protocol, as a dataset of one video
    (what the Evaluate page and the notebook's evaluate cell compute: the undecidable first frames
    dropped by default, the protocol recorded in the result)."""
    truth = np.asarray(labels).astype(np.uint8).ravel()
    if len(truth) != len(fs):
        raise ValueError(f"{fs.video}: {len(truth)} labels but the video has {len(fs)} scored frames; "
                         "give one 0/1 label per frame")
    scored = DatasetScores({fs.video: dataclasses.replace(fs, labels=truth)}, {fs.video: truth}, decode_seconds=0.0,
                           score_seconds=0.0, n_frames=len(fs))
    return evaluate_scored(None, scored, protocol=protocol, calibration=calibration)


def protocol_table(loaded: LoadedModel, data: str | VideoDataset, batch_size: int = 32,
                   scored: Optional[DatasetScores] = None) -> list[dict]:
    """Micro / macro AUC and EER of one checkpoint under every protocol of `protocol_grid`, from ONE
    scoring pass (pooled scores are computed in it). The paper protocol is the first row."""
    from vadlab.protocol import protocol_grid

    ds = load_dataset(data) if isinstance(data, str) else data
    check_both_classes(ds)
    scored = scored or score_dataset(loaded, ds, batch_size=batch_size)
    keys = set().union(*(fs.pooled for fs in scored.scores.values()))
    rows = []
    for proto in protocol_grid(keys):
        res = evaluate_scored(ds, scored, protocol=proto, calibration=loaded.calibration)
        rows.append({"protocol": proto.to_dict(), "micro_auc": res.micro_auc, "macro_auc": res.macro_auc,
                     "eer": res.eer, "n_frames": res.n_frames})
    return rows


def format_protocol_table(rows: Sequence[dict]) -> str:
    """Markdown table of `protocol_table` rows."""
    lines = ["| pooling | normalisation | smoothing | first frames | micro AUC | macro AUC | EER | |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["protocol"]
        pool = {"mean": "frame mean", "patch": f"patch max {p['patch']}", "topk": f"top {p['topk']:g}"}[p["pooling"]]
        lines.append(f"| {pool} | {p['normalize']} | {p['smooth_sigma']:g} | {'dropped' if p['drop_undecidable'] else 'kept'} "
                     f"| {r['micro_auc']:.4f} | {r['macro_auc']:.4f} | {r['eer']:.4f} | {'**paper**' if p['paper'] else ''} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------
def load_training_videos(ds: VideoDataset, model: AnomalyModel, supervised: bool = False,
                         max_frames: int = 3000) -> tuple[list[torch.Tensor], Optional[list[np.ndarray]], list[tuple[str, int]]]:
    """Decode a dataset's training split (or its labelled videos, for supervised families) at the
    model's resolution. Returns (videos, labels or None, [(name, n_frames)])."""
    records: list[VideoRecord] = ds.train
    if supervised:
        # the normal training videos are labelled too (every frame normal), beside the labelled
        # test videos: the classifier sees all the normal footage the dataset has
        records = ds.train + [r for r in ds.test if r.labels is not None]
        if not any(r.labels is not None for r in ds.test):
            raise ValueError(f"{ds.name}: a supervised family needs labelled videos; none found")
    if not records:
        raise ValueError(f"{ds.name}: no training videos found")
    videos, labels, manifest = [], [], []
    for rec in records:
        v = read_video(rec.source, max_frames=max_frames)
        frames = model_frames(model, v)
        videos.append(frames)
        manifest.append((rec.name, int(frames.shape[0])))
        if supervised:
            known = np.zeros(frames.shape[0], np.uint8) if rec.labels is None else np.asarray(rec.labels)
            labels.append(known[: frames.shape[0]])
    return videos, (labels if supervised else None), manifest


# ------------------------------------------------------------------------------------------------
# calibration and verdicts
# ------------------------------------------------------------------------------------------------
CALIBRATION_SOURCES = {
    "tail": "held-out tail of each normal training video (never fitted; used only to pick the best epoch)",
    "all": "whole normal videos",
}


def calibration_from_tails(model: AnomalyModel, spec: ModelSpec, videos: Sequence[torch.Tensor],
                           names: Sequence[str], val_fraction: float, data: str,
                           batch_size: int = 32) -> Optional[Calibration]:
    """Calibrate on the held-out tail of each normal video (the frames `fit` holds out for the
    validation loss: the weights never trained on them). None when the tails are too short."""
    span = model.config.window + (1 if spec.target == "next" else 0)
    scored, offsets = [], {}
    for name, v in zip(names, videos):
        _, held_out = split_train_val([v], val_fraction, span)  # exactly the tail `fit` held out
        if not held_out:
            continue
        tail = held_out[0]
        scored.append(score_frames(model, tail, spec.target, spec.score_kind, name=name, batch_size=batch_size,
                                   keep_maps=False))
        offsets[name] = int(v.shape[0]) - int(tail.shape[0])
    try:
        return fit_calibration(scored, spec.score_kind, data, CALIBRATION_SOURCES["tail"], frame_offsets=offsets)
    except ValueError:
        return None


def with_verdict_rule(model: AnomalyModel, spec: ModelSpec, calibration: Calibration, videos: Sequence[torch.Tensor],
                      names: Sequence[str], batch_size: int = 32) -> Calibration:
    """`calibration` with the checkpoint's verdict rule chosen on normal footage and pseudo-anomalies
    (`vadlab.calibration.choose_rule`): `videos` (uint8 (T, C, H, W) NORMAL videos at model
    resolution) must raise no alert; the same videos with one region played `pseudo_skip` x faster
    (`vadlab.data.clips.local_speedup`: a local motion anomaly, like a biker among walkers) should be
    flagged. Test labels are never looked at."""
    from vadlab.calibration import choose_rule
    from vadlab.data.clips import local_speedup

    skip = int(getattr(model.config, "pseudo_skip", 3) or 3)
    normal, fast = [], []
    for i, (name, v) in enumerate(zip(names, videos)):
        normal.append(score_frames(model, v, spec.target, spec.score_kind, name=name, batch_size=batch_size,
                                   keep_maps=False))
        sped_up = local_speedup(v, skip, seed=i)  # (T/skip, C, H, W)
        if int(sped_up.shape[0]) > model.config.window + 1:
            fast.append(score_frames(model, sped_up, spec.target, spec.score_kind, name=f"{name}-local-x{skip}",
                                     batch_size=batch_size, keep_maps=False))
    if not fast:
        return calibration
    rule, _ = choose_rule(calibration, normal, fast,
                          description=f"the same clips with one region played {skip}x faster (local pseudo-anomalies)")
    return dataclasses.replace(calibration, rule=rule)


def calibrate(loaded: LoadedModel, data: str, frames: str = "auto", batch_size: int = 32,
              progress: Optional[Callable[[float, str], None]] = None, choose_rule: bool = True) -> Calibration:
    """Calibrate a checkpoint on the NORMAL training videos of a dataset spec (never test labels).

    frames: "tail" = the held-out tail of each video (as after training: for the data the model
    was trained on), "all" = whole videos (normal footage the model never trained on, e.g. more
    clips of the user's scene), "auto" = "tail" when the checkpoint was trained on this dataset,
    else "all". The weights are not touched; `save_calibration` stores the result. With
    `choose_rule`, the calibration carries the checkpoint's verdict rule (`with_verdict_rule`).
    """
    ds = load_dataset(data)
    if not ds.train:
        raise ValueError(f"{ds.name}: no normal (training) videos to calibrate on; put them under training/")
    training = loaded.metadata.get("training") or {}
    trained_on_these = _trained_on(training, ds, data)
    if frames == "auto":
        frames = "tail" if trained_on_these else "all"
    if frames not in ("tail", "all"):
        raise ValueError(f"calibration frames must be 'tail', 'all' or 'auto', got '{frames}'")
    model, spec = loaded.model, loaded.spec
    videos, names = [], []
    for i, rec in enumerate(ds.train):
        videos.append(model_frames(model, read_video(rec.source)))
        names.append(rec.name)
        if progress is not None:
            progress((i + 1) / len(ds.train), rec.name)
    if frames == "tail":
        val_fraction = float((training.get("train_config") or {}).get("val_fraction", 0.1))
        cal = calibration_from_tails(model, spec, videos, names, val_fraction, data, batch_size=batch_size)
        if cal is None:
            raise ValueError(f"{ds.name}: the held-out tails are too short to calibrate on; use frames='all'")
    else:
        scored = [score_frames(model, v, spec.target, spec.score_kind, name=n, batch_size=batch_size, keep_maps=False)
                  for n, v in zip(names, videos)]
        cal = fit_calibration(scored, spec.score_kind, data, CALIBRATION_SOURCES["all"], in_sample=trained_on_these)
    return with_verdict_rule(model, spec, cal, videos, names, batch_size=batch_size) if choose_rule else cal


def _trained_on(training: dict, ds: VideoDataset, data: str) -> bool:
    """Whether a checkpoint was trained on the normal videos of this dataset: the same spec, or the
    same fingerprint of (video name, frame count) over its training videos."""
    if training.get("data") == data:
        return True
    manifest = [(r.name, int(r.n_frames or 0)) for r in ds.train]
    return bool(training.get("data_fingerprint")) and training.get("data_fingerprint") == data_fingerprint(manifest)


def save_calibration(checkpoint: str | Path, calibration: Calibration) -> dict:
    """Store a calibration in a checkpoint's metadata (weights untouched, digest kept valid)."""
    return update_metadata(checkpoint, calibration=calibration.to_dict())


def verdict(loaded: LoadedModel, fs: FrameScores, far: Optional[float] = None, **kwargs: Any) -> Verdict:
    """Judge one scored clip against the checkpoint's calibration (`vadlab.calibration.assess`), with
    the checkpoint's verdict rule; `far`, `key`, `smooth_sigma`, `min_length`, `merge_gap` override it."""
    return assess(fs, loaded.calibration, far=far, **kwargs)


def verdict_rule(loaded: LoadedModel, **overrides: Any) -> VerdictRule:
    """The checkpoint's verdict rule (chosen on normal footage and pseudo-anomalies, stored with its
    calibration; `DEFAULT_RULE` without one), with the given non-None fields overridden."""
    base = loaded.calibration.verdict_rule if loaded.calibration is not None else DEFAULT_RULE
    return base.with_overrides(**overrides)


def init_from_checkpoint(model: AnomalyModel, checkpoint: str | Path) -> list[str]:
    """Knowledge transfer: copy every tensor of a checkpoint into `model` (same family, same shapes;
    a clear error otherwise). Returns the copied tensor names."""
    source, meta = load_checkpoint(checkpoint, device="cpu")
    if meta["model"] != model.family:
        raise ValueError(f"--init-from {checkpoint}: a '{meta['model']}' checkpoint cannot initialise a '{model.family}' model")
    src, dst = source.state_dict(), model.state_dict()
    mismatched = [f"{k}: {tuple(src[k].shape)} vs {tuple(v.shape)}" for k, v in dst.items() if k in src and src[k].shape != v.shape]
    missing = [k for k in dst if k not in src]
    if mismatched or missing:
        detail = "; ".join((mismatched + [f"{k}: missing" for k in missing])[:4])
        raise ValueError(f"--init-from {checkpoint}: shapes do not match this model's config ({detail}); "
                         "use the same preset/input size as the source checkpoint")
    model.load_state_dict({k: src[k] for k in dst}, strict=True)
    return list(dst)


def _one_run_per_out(train_function: Callable) -> Callable:
    """Hold an exclusive lock on the run's output (`.NAME.lock` beside the checkpoint) for the whole
    run, so two trainings to the same `out` cannot both save and report "saved": the second is
    refused at once with a FileLockedError naming the checkpoint. (DDP: rank 0 holds it.)"""
    @functools.wraps(train_function)
    def locked(*args: Any, **kwargs: Any):
        from vadlab.train import distributed_env

        out = Path(inspect.signature(train_function).bind(*args, **kwargs).arguments["out"])
        stem = out.with_suffix("") if out.suffix in (".safetensors", ".json") else out
        if distributed_env()[0] != 0:
            return train_function(*args, **kwargs)
        with exclusive_lock(stem.parent / f".{stem.name}.lock", f"checkpoint {stem}"):
            return train_function(*args, **kwargs)

    return locked


@_one_run_per_out
def train(
    family: str,
    data: str,
    out: str | Path,
    preset: str = "tiny",
    epochs: Optional[int] = None,
    device: str = "auto",
    init_from: Optional[str | Path] = None,
    overrides: Optional[dict[str, Any]] = None,
    train_config: Optional[TrainConfig] = None,
    on_event: Optional[Callable[[TrainEvent], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    half: bool = False,
    evaluate_after: bool = True,
    resume: bool = False,
    command: Optional[str] = None,
    monitor_test: bool | int = False,
) -> tuple[LoadedModel, TrainResult]:
    """Train a family on a dataset spec and save a checkpoint at `out` (.safetensors + .json).

    The recipe is the preset's config with `overrides` (config fields: `epochs`, `batch_size`,
    `train_stride`, ...; `epochs`, when given, is one more); `train_config` is the run's mechanics.
    The checkpoint's metrics are the test-split evaluation when the dataset has labelled test
    videos (reported, never used for model selection). Returns the loaded model and the history.
    """
    dev = devices.resolve(device)
    spec = get_spec(family)
    cfg = train_config or TrainConfig()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)  # the initial weights too: the same command gives the same model
    overrides = {**(overrides or {}), **({} if epochs is None else {"epochs": epochs})}
    model = create_model(family, preset, **overrides)  # the recipe: the preset's unless overridden
    if init_from:
        init_from_checkpoint(model, init_from)
    ds = load_dataset(data)
    videos, labels, manifest = load_training_videos(ds, model, supervised=spec.supervised)
    out = Path(out)
    if out.suffix in (".safetensors", ".json"):
        out = out.with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    state_path = out.parent / (out.name + ".trainstate")
    if resume:
        check_train_state(state_path)
    monitor: Optional[Callable[[AnomalyModel], dict]] = None
    if monitor_test and not spec.supervised and any(r.labels is not None for r in ds.test):
        probe = LoadedModel(model=model, spec=spec, metadata={}, path=None)
        every = max(1, int(monitor_test))
        count = {"epochs": 0}

        def test_auc(_model: AnomalyModel) -> dict:
            # a learning curve: test AUC every `every` epochs, MONITORING ONLY (the best epoch is
            # chosen on held-out normal frames); paper protocol, micro and macro
            count["epochs"] += 1
            if count["epochs"] % every and count["epochs"] != model.config.epochs:
                return {}
            res = evaluate(probe, ds)
            return {"monitor_test_micro_auc": res.micro_auc, "monitor_test_macro_auc": res.macro_auc}

        monitor = test_auc

    result = fit(model, videos, cfg, dev, spec.target, labels=labels, on_event=on_event,
                 should_stop=should_stop, state_path=state_path, resume=resume, monitor=monitor)
    from vadlab.train import distributed_env

    rank, _ = distributed_env()
    training = {
        "data": data,
        "dataset": ds.name,
        "data_fingerprint": data_fingerprint(manifest),
        "videos": len(manifest),
        "frames": int(sum(n for _, n in manifest)),
        "preset": preset,
        "overrides": overrides,
        "init_from": str(init_from) if init_from else None,
        "train_config": dataclasses.asdict(cfg),
        "device": devices.describe(dev),
        "threads": torch.get_num_threads(),
        "command": command or None,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 2),
        "steps": result.steps,
        "best_epoch": result.best_epoch,
        # the policy that actually chose it: a pseudo-anomaly recipe falls back to the validation
        # loss when the held-out tails are too short for sped-up windows
        "model_selection": "pseudo_anomaly" if any("pseudo_anomaly_auc" in h for h in result.history) else "val_loss",
        "best_val_loss": result.best_val_loss,
        "history": result.history,
    }
    loaded = LoadedModel(model=model, spec=spec, metadata={}, path=out)
    metrics: dict[str, Any] = {}
    calibration = None
    if rank == 0:
        n_normal = len(ds.train)  # the normal training videos come first (supervised: then labelled ones)
        normal_names = [n for n, _ in manifest[:n_normal]]
        calibration = calibration_from_tails(model, spec, videos[:n_normal], normal_names, cfg.val_fraction, data)
        if calibration is not None:
            calibration = with_verdict_rule(model, spec, calibration, videos[:n_normal], normal_names)
        if evaluate_after and not spec.supervised and any(r.labels is not None for r in ds.test):
            res = evaluate(loaded, ds)
            metrics = {"eval_data": data, **{k: v for k, v in res.summary().items() if k != "single_class_videos"}}
        save_checkpoint(out, model, window=model.config.window, target=spec.target, score_kind=spec.score_kind,
                        training=training, metrics=metrics, half=half,
                        calibration=calibration.to_dict() if calibration is not None else None)
        remove_train_state(state_path)  # the finished checkpoint supersedes the resume state
        loaded.metadata = read_metadata(out)
    return loaded, result
