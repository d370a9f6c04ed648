"""Resolve a device string once, at the edge ("auto" -> CUDA when present, else CPU)."""
from __future__ import annotations

import os
from typing import Optional

import torch


class DeviceError(ValueError):
    pass


def local_rank() -> Optional[int]:
    """torchrun's LOCAL_RANK (this process's number on its node) when it is one of several
    processes (WORLD_SIZE > 1), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("LOCAL_RANK", "").isdigit():
        return int(os.environ["LOCAL_RANK"])
    return None


def resolve(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device, with a clear error when CUDA is asked for
    but not available. Under torchrun with several processes, 'auto' and 'cuda' mean this
    process's own GPU, cuda:LOCAL_RANK (made the current device), so N processes use N GPUs."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{device}' requested but CUDA is not available here; use --device cpu or auto")
        rank = local_rank()
        if name == "cuda" and rank is not None:
            if rank >= torch.cuda.device_count():
                raise DeviceError(f"torchrun process LOCAL_RANK={rank} has no GPU of its own: only "
                                  f"{torch.cuda.device_count()} CUDA device(s); use --nproc_per_node <= that")
            torch.cuda.set_device(rank)
            return torch.device("cuda", rank)
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{device}': only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device '{device}': use auto, cpu, cuda or cuda:N")


def describe(device: torch.device) -> str:
    """Human-readable device name for the app and benchmark tables."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return f"CPU ({torch.get_num_threads()} threads)"


def choices() -> list[str]:
    """"auto", "cpu" and every CUDA device present (what a device picker offers)."""
    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
