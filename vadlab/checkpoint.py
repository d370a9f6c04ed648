"""Checkpoints: `NAME.safetensors` (weights) + `NAME.json` (metadata). Validated on load; never unpickles.

The weights file holds the model's full `state_dict()` (parameters AND buffers) written with
`safetensors`, so loading a checkpoint can never execute code. The JSON file says what the weights
are (family, config, input size, window, target, score kind), how they were made (training data
fingerprint, epochs, device, ...), how well they did (metrics), and binds itself to the weights:

  * `weights_sha256`: sha256 of the .safetensors file bytes (a replaced or corrupted weights file
    is refused);
  * `digest`: sha256 of the canonical JSON (sorted keys, no spaces) of every OTHER field (an edited
    metadata file is refused).

These are integrity checks, not signatures: anyone who can write both files can re-sign them. That
is why `load_checkpoint` also rebuilds the model from the recorded config and refuses any weights
whose tensor names, shapes or dtypes do not fit it exactly.

Layout on disk (the stem is what `train --out` takes):
    checkpoints/conv_ae_synth.safetensors
    checkpoints/conv_ae_synth.json
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import operator
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from vadlab.files import atomic_write, commit, temporary_name
from vadlab.registry import UnknownModelError, create_model, get_spec, list_models

SCHEMA = "vadlab.checkpoint/1"
WEIGHTS_SUFFIX = ".safetensors"
META_SUFFIX = ".json"
TARGETS = ("window", "next")

# Every field `save_checkpoint` writes; `read_metadata` refuses a file missing any of them.
REQUIRED_FIELDS = (
    "schema",
    "model",
    "config",
    "config_class",
    "input",
    "target",
    "score_kind",
    "training",
    "metrics",
    "created",
    "versions",
    "tensors",
    "weights_sha256",
    "digest",
)
INPUT_FIELDS = ("channels", "height", "width", "window")

PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing file, edited metadata, wrong or corrupted weights."""


# ---- paths ------------------------------------------------------------------------------------

def _pair_for(path: PathLike) -> tuple[Path, Path]:
    """(weights, meta) paths for a stem, a .safetensors path or a .json path (no existence check).

    Suffixes are appended to the full name rather than swapped with `with_suffix`, so a stem with
    dots in it (`conv_ae.v2`) keeps them.
    """
    p = Path(path)
    name = p.name
    for suffix in (WEIGHTS_SUFFIX, META_SUFFIX):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if not name:
        raise CheckpointError(f"{path}: not a checkpoint path (expected NAME, NAME.safetensors or NAME.json)")
    return p.with_name(name + WEIGHTS_SUFFIX), p.with_name(name + META_SUFFIX)


def resolve_checkpoint_path(path: PathLike) -> tuple[Path, Path]:
    """Both files of a checkpoint given its stem (`checkpoints/conv_ae_synth`), its `.safetensors`
    file or its `.json` file. Returns (weights_path, meta_path); raises CheckpointError naming the
    missing file when either does not exist."""
    weights_path, meta_path = _pair_for(path)
    _finish_interrupted_save(weights_path, meta_path)
    missing = [p for p in (weights_path, meta_path) if not p.is_file()]
    if missing:
        names = " and ".join(str(p) for p in missing)
        raise CheckpointError(
            f"checkpoint '{path}': missing {names} (a checkpoint is NAME{WEIGHTS_SUFFIX} + NAME{META_SUFFIX}, "
            "side by side in one folder)"
        )
    return weights_path, meta_path


# ---- hashing ----------------------------------------------------------------------------------

def file_sha256(path: PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def metadata_digest(metadata: dict) -> str:
    """Hex sha256 over the canonical JSON (sorted keys, `(",", ":")` separators) of every field of
    `metadata` except `digest` itself."""
    return hashlib.sha256(_canonical_json({k: v for k, v in metadata.items() if k != "digest"})).hexdigest()


def data_fingerprint(videos: Iterable[Union[tuple[str, int], PathLike]]) -> str:
    """A short (16 hex digits) stable sha256 of what a model was trained on.

    videos: `(name, n_frames)` pairs, or paths to video files / frame folders. A path contributes
            its NAME (not its absolute location, so the fingerprint is the same on every machine)
            and its size in bytes (a frame folder: its file count and total bytes). The order of
            the list does not matter.
    """
    entries: list[str] = []
    for item in videos:
        if isinstance(item, (tuple, list)):
            try:
                name, n_frames = item
                n_frames = operator.index(n_frames)  # int, numpy or torch integer; never a float
            except (TypeError, ValueError):
                raise ValueError(f"data_fingerprint: expected (name, n_frames) pairs, got {item!r}") from None
            entries.append(f"frames:{name}:{n_frames}")
            continue
        p = Path(item)
        if p.is_file():
            entries.append(f"file:{p.name}:{p.stat().st_size}")
        elif p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file())
            entries.append(f"dir:{p.name}:{len(files)}:{sum(f.stat().st_size for f in files)}")
        else:
            raise ValueError(f"data_fingerprint: {p} does not exist (pass video files, frame folders or (name, n_frames))")
    return hashlib.sha256("\n".join(sorted(entries)).encode("utf-8")).hexdigest()[:16]


# ---- JSON helpers -----------------------------------------------------------------------------

def _jsonable(value: Any, where: str) -> Any:
    """Plain JSON types from dataclass / numpy / torch values. Non-finite floats become None (strict
    JSON has no NaN; e.g. a macro AUC over zero two-class videos). Anything else is refused."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), where)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint metadata {where}: keys must be strings, got {k!r}")
            out[k] = _jsonable(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return _jsonable(value.item(), where)
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", None) == 0:  # numpy scalar
        return _jsonable(value.item(), where)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array
        return _jsonable(value.tolist(), where)
    raise TypeError(f"checkpoint metadata {where}: cannot store a {type(value).__name__} in JSON")


def _pretty_json(obj: Any, level: int = 0) -> str:
    """Objects one key per line, sorted; lists on one line (keeps the `tensors` table readable).
    Purely cosmetic: the digest is over the canonical form, not this text."""
    if isinstance(obj, dict) and obj:
        inner = "  " * (level + 1)
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_pretty_json(obj[k], level + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(", ", ": "))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _vadlab_version() -> str:
    import vadlab

    version = getattr(vadlab, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        return dist_version("vadlab")
    except PackageNotFoundError:
        return "0.1.0"


# ---- save -------------------------------------------------------------------------------------

def _weights_to_store(model: torch.nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """The full state_dict as contiguous CPU tensors, shared storage un-shared (safetensors refuses
    aliased tensors), floating tensors in float16 when `half`."""
    seen_storage: set[tuple[int, str]] = set()
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        key = (t.untyped_storage().data_ptr(), str(t.device))
        if key in seen_storage and t.numel() > 0:
            t = t.clone()
        seen_storage.add(key)
        if half and t.is_floating_point() and t.dtype != torch.float16:
            converted = t.to(torch.float16)
            if bool((torch.isinf(converted) & torch.isfinite(t)).any()):
                raise ValueError(
                    f"tensor '{name}' has values beyond float16's range (|x| > 65504); save with half=False"
                )
            t = converted
        tensors[name] = t.contiguous()
    return tensors


def save_checkpoint(
    path: PathLike,
    model: torch.nn.Module,
    *,
    window: int,
    target: str,
    score_kind: str,
    training: Optional[dict] = None,
    metrics: Optional[dict] = None,
    half: bool = False,
    extra: Optional[dict] = None,
    calibration: Optional[dict] = None,
) -> Path:
    """Write `model` as NAME.safetensors + NAME.json (written to temporary files, then renamed).

    path:       the stem (`checkpoints/conv_ae_synth`) or either file's path; folders are created.
    model:      a registered `AnomalyModel`; its whole `state_dict()` (parameters and buffers) is saved.
    window:     frames per input window; must equal `model.config.window`.
    target:     "window" or "next"; must equal the family's registered target.
    score_kind: what the score measures ("mse", "psnr", ...).
    training:   how it was trained (data spec, data fingerprint, epochs, steps, device, seconds,
                train config, ...), any JSON-able dict.
    metrics:    evaluation results (may be empty). Non-finite floats are stored as null.
    half:       store floating tensors as float16 (load casts them back to the model's dtype).
    extra:      anything else the caller wants recorded (stored under "extra").
    calibration: the normal-data score distribution (`vadlab.calibration.Calibration.to_dict()`).
    Returns the path of the .safetensors file. Raises ValueError / TypeError for inconsistent input.
    """
    family = getattr(model, "family", "?")
    try:
        spec = get_spec(family)
    except UnknownModelError as exc:
        raise ValueError(f"save_checkpoint: {type(model).__name__} is not a registered model family ({exc})") from None
    if not isinstance(model, spec.model_class):
        raise ValueError(f"save_checkpoint: model is a {type(model).__name__}, family '{family}' is {spec.model_class.__name__}")
    config = model.config
    if not dataclasses.is_dataclass(config) or not isinstance(config, spec.config_class):
        raise ValueError(f"save_checkpoint: model.config must be a {spec.config_class.__name__} dataclass")
    if window != config.window:
        raise ValueError(f"save_checkpoint: window={window} but the model's config.window is {config.window}")
    if target not in TARGETS:
        raise ValueError(f"save_checkpoint: target must be one of {TARGETS}, got {target!r}")
    if target != spec.target:
        raise ValueError(f"save_checkpoint: family '{family}' has target '{spec.target}', got '{target}'")
    if not isinstance(score_kind, str) or not score_kind:
        raise ValueError(f"save_checkpoint: score_kind must be a non-empty string, got {score_kind!r}")

    weights_path, meta_path = _pair_for(path)
    tensors = _weights_to_store(model, half)
    # Everything that can refuse the input happens before any file is written.
    metadata: dict[str, Any] = {
        "schema": SCHEMA,
        "model": family,
        "config": _jsonable(dataclasses.asdict(config), "config"),
        "config_class": type(config).__name__,
        "input": {"channels": config.channels, "height": config.height, "width": config.width, "window": window},
        "target": target,
        "score_kind": score_kind,
        "training": _jsonable(dict(training or {}), "training"),
        "metrics": _jsonable(dict(metrics or {}), "metrics"),
        "extra": _jsonable(dict(extra or {}), "extra"),
        **({"calibration": _jsonable(dict(calibration), "calibration")} if calibration else {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"vadlab": _vadlab_version(), "torch": torch.__version__, "python": platform.python_version()},
        "tensors": {name: [list(t.shape), _dtype_name(t.dtype)] for name, t in tensors.items()},
    }

    # Both files are written in full under temporary names (fsynced) before either is renamed; the
    # weights go first, the JSON (which carries the weights' sha256) last. A kill between the two
    # renames leaves the new weights and the complete new JSON under its temporary name: the next
    # read of the checkpoint finishes the save (`_finish_interrupted_save`), so versions never mix.
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    weights_tmp, meta_tmp = temporary_name(weights_path), temporary_name(meta_path)
    try:
        save_file(tensors, str(weights_tmp), metadata={"vadlab": SCHEMA})
        metadata["weights_sha256"] = file_sha256(weights_tmp)
        metadata["digest"] = metadata_digest(metadata)
        meta_tmp.write_text(_pretty_json(metadata) + "\n", encoding="utf-8")
        commit(weights_tmp, weights_path)  # both files get 0666 minus the umask, whatever wrote them
        try:
            commit(meta_tmp, meta_path)
        except FileNotFoundError:  # a reader finished this save already (it found this very JSON)
            pass
    finally:
        weights_tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)
    return weights_path


def _finish_interrupted_save(weights_path: Path, meta_path: Path) -> None:
    """After a kill between `save_checkpoint`'s two renames, the new weights sit beside the old
    JSON and the new JSON waits under a temporary name: rename it into place when it describes the
    weights on disk (its weights_sha256 matches) and the JSON in place does not."""
    pending = sorted(meta_path.parent.glob(f".{meta_path.name}.*.tmp"))
    if not pending or not weights_path.is_file():
        return
    try:
        current = json.loads(meta_path.read_text(encoding="utf-8")).get("weights_sha256")
    except (OSError, ValueError, AttributeError):
        current = None
    weights_sha = file_sha256(weights_path)
    if current == weights_sha:
        return
    for tmp in pending:
        try:
            waiting = json.loads(tmp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a save still being written, or a broken leftover: not ours to finish
        if isinstance(waiting, dict) and waiting.get("weights_sha256") == weights_sha:
            try:
                os.replace(tmp, meta_path)
            except FileNotFoundError:  # the saving process finished it first
                pass
            return


# ---- read / load ------------------------------------------------------------------------------

def _read_metadata_file(meta_path: Path) -> dict:
    try:
        text = meta_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{meta_path}: metadata is not UTF-8 text ({exc})") from None
    try:
        # NaN/Infinity are not JSON; save_checkpoint never writes them.
        metadata = json.loads(text, parse_constant=lambda c: _raise(CheckpointError(f"{meta_path}: metadata contains {c}, which is not JSON")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{meta_path}: metadata must be a JSON object, got a {type(metadata).__name__}")
    validate_metadata(metadata, meta_path)
    if metadata["digest"] != metadata_digest(metadata):
        raise CheckpointError(
            f"{meta_path}: digest mismatch: metadata was edited after saving (its 'digest' does not match its content)"
        )
    return metadata


# ---- metadata schema ---------------------------------------------------------------------------
# One schema, checked on every read (`read_metadata`, `load_checkpoint`, the app's zoo, `vadlab info`):
# a field of the wrong type or out of range is a CheckpointError naming the field, never a crash in
# whatever reads it later. Sections a user may extend (training, metrics, extra) are checked for the
# keys the lab reads; other keys pass as any JSON value.
MAX_INPUT = {"channels": 16, "height": 4096, "width": 4096, "window": 1024}
_HEX64 = frozenset("0123456789abcdef")
_NUMBER = (int, float)


def _kind(value: Any) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, _NUMBER) else type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool) and math.isfinite(value)


def _check(ok: bool, meta_path: Path, field: str, wanted: str, value: Any) -> None:
    if not ok:
        shown = repr(value) if isinstance(value, (int, float, str)) and len(repr(value)) <= 40 else _kind(value)
        raise CheckpointError(f"{meta_path}: metadata field '{field}' must be {wanted}, got {shown}")


# (keys the lab reads in each open section) -> (test, what it must be)
_OPTIONAL_STR = (lambda v: v is None or isinstance(v, str), "a string or null")
_OPTIONAL_COUNT = (lambda v: v is None or (_is_int(v) and v >= 0), "a whole number >= 0 or null")
_OPTIONAL_NUMBER = (lambda v: v is None or _is_number(v), "a finite number or null")
_OPTIONAL_FRACTION = (lambda v: v is None or (_is_number(v) and 0.0 <= v <= 1.0), "a number in [0, 1] or null")
_OPTIONAL_OBJECT = (lambda v: v is None or isinstance(v, dict), "an object or null")
_SECTION_KEYS = {
    "training": {
        **{k: _OPTIONAL_STR for k in ("data", "dataset", "data_fingerprint", "device", "preset", "command",
                                      "init_from", "model_selection")},
        **{k: _OPTIONAL_COUNT for k in ("videos", "frames", "steps", "epochs_run", "best_epoch", "threads")},
        **{k: _OPTIONAL_NUMBER for k in ("seconds", "best_val_loss")},
        **{k: _OPTIONAL_OBJECT for k in ("overrides", "train_config")},
        "history": (lambda v: v is None or isinstance(v, list), "a list or null"),
    },
    "metrics": {
        **{k: _OPTIONAL_FRACTION for k in ("micro_auc", "macro_auc", "eer", "pr_auc", "pixel_auc")},
        **{k: _OPTIONAL_COUNT for k in ("n_frames", "n_anomalous")},
        "frames_per_second": _OPTIONAL_NUMBER,
        "eval_data": _OPTIONAL_STR,
        "protocol": _OPTIONAL_OBJECT,
    },
    "extra": {},
}


def validate_metadata(metadata: Any, meta_path: Path) -> dict:
    """Check every metadata field's type and range (the one checkpoint schema). Returns `metadata`;
    raises CheckpointError naming the first field that does not fit."""
    _check(isinstance(metadata, dict), meta_path, "(top level)", "a JSON object", metadata)
    schema = metadata.get("schema")
    if schema != SCHEMA:
        raise CheckpointError(f"{meta_path}: unknown checkpoint schema {schema!r} (this vadlab reads '{SCHEMA}')")
    missing = [f for f in REQUIRED_FIELDS if f not in metadata]
    if missing:
        raise CheckpointError(f"{meta_path}: metadata lacks required field(s) {', '.join(missing)}")
    for field in ("model", "config_class", "score_kind", "created"):
        _check(isinstance(metadata[field], str) and metadata[field] != "", meta_path, field, "a non-empty string",
               metadata[field])
    _check(metadata["target"] in TARGETS, meta_path, "target", f"one of {', '.join(TARGETS)}", metadata["target"])
    for field in ("weights_sha256", "digest"):
        value = metadata[field]
        _check(isinstance(value, str) and len(value) == 64 and set(value) <= _HEX64, meta_path, field,
               "64 hexadecimal digits", value)
    _check(isinstance(metadata["config"], dict), meta_path, "config", "an object", metadata["config"])
    _validate_input(metadata["input"], meta_path)
    versions = metadata["versions"]
    _check(isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values()), meta_path,
           "versions", "an object of strings", versions)
    _validate_tensors(metadata["tensors"], meta_path)
    for section, keys in _SECTION_KEYS.items():
        value = metadata.get(section, {})
        _check(isinstance(value, dict), meta_path, section, "an object", value)
        for key, (test, wanted) in keys.items():
            if key in value:
                _check(test(value[key]), meta_path, f"{section}.{key}", wanted, value[key])
    _check(metadata.get("calibration") is None or isinstance(metadata["calibration"], dict), meta_path,
           "calibration", "an object or null", metadata.get("calibration"))
    return metadata


def _validate_input(inp: Any, meta_path: Path) -> None:
    _check(isinstance(inp, dict) and set(inp) == set(INPUT_FIELDS), meta_path, "input",
           f"an object with exactly {', '.join(INPUT_FIELDS)}", inp)
    for name, most in MAX_INPUT.items():
        _check(_is_int(inp[name]) and 1 <= inp[name] <= most, meta_path, f"input.{name}",
               f"a whole number in [1, {most}]", inp[name])


def _validate_tensors(tensors: Any, meta_path: Path) -> None:
    _check(isinstance(tensors, dict), meta_path, "tensors", "an object {name: [shape, dtype]}", tensors)
    for name, entry in tensors.items():
        fits = (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str) and isinstance(entry[0], list)
                and all(_is_int(d) and d >= 0 for d in entry[0]))
        _check(fits, meta_path, f"tensors.{name}", "[shape (whole numbers >= 0), dtype name]", entry)


def update_metadata(path: PathLike, **sections: Any) -> dict:
    """Replace top-level metadata sections (e.g. `calibration=`, `metrics=`) of a checkpoint without
    touching its weights: the weights' sha256 is checked first, the digest is recomputed, and the
    JSON is written to a temporary file and renamed. Returns the new metadata."""
    weights_path, meta_path = resolve_checkpoint_path(path)
    metadata = _read_metadata_file(meta_path)
    if file_sha256(weights_path) != metadata["weights_sha256"]:
        raise CheckpointError(f"{weights_path}: weights do not match the metadata's sha256; refusing to update it")
    protected = {"schema", "model", "config", "config_class", "input", "target", "score_kind", "tensors",
                 "weights_sha256", "digest"}
    bad = sorted(set(sections) & protected)
    if bad:
        raise ValueError(f"update_metadata: {', '.join(bad)} describe the weights and cannot be changed")
    for key, value in sections.items():
        metadata[key] = _jsonable(value, key)
    metadata["digest"] = metadata_digest(metadata)
    atomic_write(meta_path, _pretty_json(metadata) + "\n")
    return metadata


def _raise(exc: Exception) -> Any:
    raise exc


def read_metadata(path: PathLike) -> dict:
    """The validated metadata of a checkpoint (stem, .safetensors or .json path) without touching the
    weights: both files must exist, the schema must be known, every required field present and the
    digest must match. Cheap enough for a table of many checkpoints."""
    _, meta_path = resolve_checkpoint_path(path)
    return _read_metadata_file(meta_path)


def _config_from_fields(spec: Any, fields: Any, meta_path: Path) -> Any:
    """Rebuild `spec.config_class` from its recorded fields: every field must be present and known;
    JSON lists go back to tuples where the dataclass field is a tuple."""
    cls = spec.config_class
    if not isinstance(fields, dict):
        raise CheckpointError(f"{meta_path}: 'config' must be an object of {cls.__name__} fields")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - set(known))
    from vadlab.models.base import RECIPE_FIELDS

    # Older checkpoints lack the recipe fields and the fields a family lists in ADDED_FIELDS (added
    # after checkpoints were shipped, with defaults that reproduce the old behaviour): those take
    # their defaults; any other missing field is refused.
    tolerated = set(RECIPE_FIELDS) | set(getattr(cls, "ADDED_FIELDS", ()))
    missing = sorted(set(known) - set(fields) - tolerated)
    if unknown or missing:
        raise CheckpointError(f"{meta_path}: config does not fit {spec.name}'s {cls.__name__}: "
                              f"{_differences([('unknown field(s)', unknown), ('missing field(s)', missing)], ', '.join)}")
    kwargs = {}
    for name, value in fields.items():  # absent recipe fields take their defaults
        field = known[name]
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        is_tuple = isinstance(default, tuple) or str(field.type).replace("typing.", "").lower().startswith("tuple")
        kwargs[name] = _to_tuple(value) if is_tuple and isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{meta_path}: config is not a valid {cls.__name__}: {exc}") from None


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def _differences(named: Sequence[tuple[str, Sequence[str]]], listed) -> str:
    """"unknown field(s) a, b; missing field(s) c": each non-empty group, listed by `listed`."""
    return "; ".join(f"{label} {listed(names)}" for label, names in named if names)


def _few(names: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" (+{len(names) - n} more)" if len(names) > n else "")


def _build(family: str, config: Any, meta_path: Path) -> torch.nn.Module:
    try:
        return create_model(family, config=config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{meta_path}: cannot build '{family}' from the recorded config: {exc}") from None


def _expected_state(family: str, config: Any, meta_path: Path) -> dict[str, torch.Tensor]:
    """The state_dict of the model the config describes, built on the meta device (shapes and
    dtypes only: nothing is allocated, whatever sizes the config claims)."""
    with torch.device("meta"):
        return _build(family, config, meta_path).state_dict()


@contextlib.contextmanager
def _open_weights(weights_path: Path):
    """`safe_open` on CPU; a file safetensors cannot parse is a CheckpointError (never unpickled)."""
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as f:
            yield f
    except SafetensorError as exc:
        raise CheckpointError(f"{weights_path}: not a safetensors file (pickles are never loaded): {exc}") from None


def _check_header(f: Any, expected: dict[str, torch.Tensor], family: str, weights_path: Path, meta_path: Path) -> None:
    """The weights file's header (written by vadlab; tensor names and shapes) against the model the
    metadata describes; reads no tensor data."""
    if (f.metadata() or {}).get("vadlab") != SCHEMA:
        raise CheckpointError(f"{weights_path}: safetensors file was not written by vadlab.checkpoint ({SCHEMA})")
    names = list(f.keys())
    missing = sorted(set(expected) - set(names))
    unexpected = sorted(set(names) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights_path}: weights do not fit a '{family}' model: "
                              f"{_differences([('missing tensor(s)', missing), ('unexpected tensor(s)', unexpected)], _few)}")
    shapes = {name: list(f.get_slice(name).get_shape()) for name in names}
    wrong_shape = [name for name in expected if list(expected[name].shape) != shapes[name]]
    if wrong_shape:
        name = wrong_shape[0]
        others = f" ({len(wrong_shape) - 1} more tensor(s) differ too)" if len(wrong_shape) > 1 else ""
        raise CheckpointError(
            f"{weights_path}: tensor '{name}' has shape {shapes[name]}, the '{family}' model built from "
            f"{meta_path.name} expects {list(expected[name].shape)}{others}"
        )


def _read_tensors(f: Any, expected: dict[str, torch.Tensor], weights_path: Path) -> tuple[dict, dict]:
    """(state, stored): every tensor cast to the model's dtype, and its [shape, dtype] as stored."""
    state: dict[str, torch.Tensor] = {}
    stored: dict[str, list] = {}
    for name in expected:
        tensor = f.get_tensor(name)
        want_dtype = expected[name].dtype
        if tensor.is_floating_point() != want_dtype.is_floating_point or (
            not want_dtype.is_floating_point and tensor.dtype != want_dtype
        ):
            raise CheckpointError(
                f"{weights_path}: tensor '{name}' is {_dtype_name(tensor.dtype)}, the model expects {_dtype_name(want_dtype)}"
            )
        stored[name] = [list(tensor.shape), _dtype_name(tensor.dtype)]
        state[name] = tensor.to(want_dtype)
    return state, stored


def load_checkpoint(path: PathLike, device: Union[str, torch.device] = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a model from a checkpoint (stem, .safetensors or .json path); validate everything.

    Checks, in order, each raising CheckpointError with the file and what does not match:
    both files exist; the metadata is a JSON object; the schema is known; the digest matches (the
    metadata was not edited); the weights file's sha256 matches `weights_sha256`; the family is
    registered; the config fits the family's config class (the model is built from it); input,
    window and target agree with the config and family; the weights file is a real safetensors file
    written by vadlab (pickles are never loaded); tensor names, shapes and dtypes fit the model's
    `state_dict()` exactly and match the metadata's `tensors` list.
    Then loads strictly, casts to the model's dtype, moves to `device` and sets eval mode.
    Returns (model, metadata).
    """
    weights_path, meta_path = resolve_checkpoint_path(path)
    metadata = _read_metadata_file(meta_path)

    if file_sha256(weights_path) != metadata["weights_sha256"]:
        raise CheckpointError(
            f"{weights_path}: weights file does not match its metadata (replaced or corrupted): "
            f"sha256 differs from 'weights_sha256' in {meta_path.name}"
        )

    family = metadata["model"]
    try:
        if not isinstance(family, str):
            raise UnknownModelError(family)
        spec = get_spec(family)
    except UnknownModelError:
        raise CheckpointError(
            f"{meta_path}: model family {family!r} is not registered; registered: {', '.join(list_models())}"
        ) from None
    if metadata["config_class"] != spec.config_class.__name__:
        raise CheckpointError(
            f"{meta_path}: config_class '{metadata['config_class']}' does not match family '{family}' "
            f"(which uses {spec.config_class.__name__})"
        )
    config = _config_from_fields(spec, metadata["config"], meta_path)
    expected_input = {name: getattr(config, name) for name in INPUT_FIELDS}
    if metadata["input"] != expected_input:
        raise CheckpointError(f"{meta_path}: 'input' {metadata['input']} does not match the config {expected_input}")
    if metadata["target"] != spec.target:
        raise CheckpointError(f"{meta_path}: target {metadata['target']!r} but family '{family}' has target '{spec.target}'")
    # The module is first built on the meta device (no memory): a config that lies about the model's
    # size is caught by comparing the shapes with the weights file's header before anything real is
    # allocated. Only then is the real module built, and it is no larger than the file.
    expected = _expected_state(family, config, meta_path)
    with _open_weights(weights_path) as f:
        _check_header(f, expected, family, weights_path, meta_path)
    model = _build(family, config, meta_path)
    with _open_weights(weights_path) as f:
        state, stored = _read_tensors(f, model.state_dict(), weights_path)

    recorded = metadata["tensors"]
    if not isinstance(recorded, dict):
        raise CheckpointError(f"{meta_path}: 'tensors' must be an object {{name: [shape, dtype]}}")
    differing = sorted(n for n in set(stored) | set(recorded) if recorded.get(n) != stored.get(n))
    if differing:
        raise CheckpointError(f"{meta_path}: 'tensors' does not describe the weights file (differs at {_few(differing)})")

    model.load_state_dict(state, strict=True)
    model.to(torch.device(device))
    model.eval()
    return model, metadata

