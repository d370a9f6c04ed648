"""A training run's resume state: weights, optimizer states and progress written after every epoch
beside the checkpoint it will become (`run.trainstate.json` + `run.trainstate.eNNNN.safetensors`),
so `vadlab train --resume` (and `api.train(resume=True)`) continues an interrupted run.

Safetensors + JSON, never a pickle; never torn (see `save_train_state`). `vadlab.train.fit` saves
and loads it; `api.train` checks it before a resumed run and removes it once the checkpoint is saved.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from vadlab.models.base import AnomalyModel


def _state_file(path: Path, suffix: str) -> str:
    return str(path) + suffix  # "run.trainstate" -> "run.trainstate.json": never the checkpoint's own files


def has_train_state(path: Path) -> bool:
    return Path(_state_file(path, ".json")).exists()


def _state_tensor_files(path: Path) -> list[Path]:
    """Every tensor file a resume state of `path` may have left: "run.trainstate.safetensors" (before
    states were numbered) and "run.trainstate.eNNNN.safetensors"."""
    base = Path(_state_file(path, ""))
    return [p for p in base.parent.glob(base.name + "*.safetensors")
            if p.name == base.name + ".safetensors" or p.name[len(base.name):].startswith(".e")]


def remove_train_state(path: Path) -> None:
    """Delete a resume state (its JSON first, so a kill midway never leaves a JSON without tensors)."""
    Path(_state_file(path, ".json")).unlink(missing_ok=True)
    for tensors in _state_tensor_files(path):
        tensors.unlink(missing_ok=True)


def save_train_state(path: Path, model: AnomalyModel, optimizers: dict, epoch: int, history: list, best: dict) -> None:
    """Weights + optimizer states + progress, as safetensors + JSON (no pickle), never torn.

    The tensors go to a file numbered by epoch ("run.trainstate.e0003.safetensors", written to a
    temporary name and renamed), then the JSON, which names that file and its sha256, replaces the
    previous JSON atomically; only then are older tensor files deleted. A process killed at any
    moment leaves the previous epoch's complete pair (or the new one): `--resume` never mixes an
    epoch's weights with another epoch's progress, and never trains an epoch twice silently.
    """
    import hashlib

    from safetensors.torch import save_file

    from vadlab.files import atomic_write, commit, temporary_name

    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model/{k}"] = v.detach().cpu().contiguous().clone()
    for k, v in (best.get("state") or {}).items():
        tensors[f"best/{k}"] = v.detach().cpu().contiguous().clone()
    opt_meta = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"opt/{name}/{pid}/{key}"] = val.detach().cpu().contiguous().clone()
                else:
                    scalars[f"{pid}/{key}"] = val
        opt_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    target = Path(_state_file(path, f".e{epoch:04d}.safetensors"))
    tmp = temporary_name(target)
    save_file(tensors, str(tmp))
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    commit(tmp, target)
    meta = {"epoch": epoch, "history": history, "best_epoch": best.get("epoch", -1),
            "best_val_loss": best.get("loss", math.inf), "optimizers": opt_meta,
            "tensors": target.name, "tensors_sha256": digest}
    atomic_write(_state_file(path, ".json"), json.dumps(meta, default=float))
    for old in _state_tensor_files(path):  # the JSON now names the new file: older ones are garbage
        if old.name != target.name:
            old.unlink(missing_ok=True)


class TrainStateError(ValueError):
    """A resume state that cannot be resumed from (its tensor file missing or not the one its JSON names)."""


def load_train_state(path: Path, model: AnomalyModel, optimizers: dict) -> tuple[int, list, dict]:
    import hashlib

    from safetensors.torch import load_file

    meta_path = Path(_state_file(path, ".json"))
    meta = json.loads(meta_path.read_text())
    tensors_path = meta_path.parent / meta["tensors"] if meta.get("tensors") else Path(_state_file(path, ".safetensors"))
    if not tensors_path.exists():
        raise TrainStateError(f"{meta_path}: names {tensors_path.name}, which is missing; delete {meta_path.name} "
                              "to start over, or train without --resume")
    if meta.get("tensors_sha256") and hashlib.sha256(tensors_path.read_bytes()).hexdigest() != meta["tensors_sha256"]:
        raise TrainStateError(f"{tensors_path}: not the tensors {meta_path.name} was saved with (changed or "
                              "truncated); delete both to start over, or train without --resume")
    tensors = load_file(str(tensors_path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")}, strict=True)
    for name, opt in optimizers.items():
        om = meta["optimizers"][name]
        state: dict = {}
        for key, val in tensors.items():
            if key.startswith(f"opt/{name}/"):
                pid, k = key[len(f"opt/{name}/"):].split("/", 1)
                state.setdefault(int(pid), {})[k] = val
        for key, val in om["scalars"].items():
            pid, k = key.split("/", 1)
            state.setdefault(int(pid), {})[k] = val
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
    best = {"epoch": meta["best_epoch"], "loss": meta["best_val_loss"], "state": best_state or None}
    return int(meta["epoch"]) + 1, list(meta["history"]), best


def check_train_state(state_path: Path) -> None:
    """Refuse to resume from a resume state whose JSON is empty or not a JSON object (a run killed
    while writing it), naming the file and what to do, before any training starts."""
    meta_path = Path(str(state_path) + ".json")
    if not meta_path.exists():
        return
    try:
        state = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        state = None
    if isinstance(state, dict) and isinstance(state.get("epoch"), int):
        return
    what = ("empty (0 bytes)" if meta_path.stat().st_size == 0 else "not valid JSON" if state is None
            else "JSON without an 'epoch'")
    raise ValueError(f"{meta_path}: the resume state is {what}; the run was probably killed while saving it: delete "
                     f"{meta_path.name} and {state_path.name}.safetensors to start over, or train without --resume")
