"""Optimizer implementations for the device: the same update rule, fewer kernels.

torch already picks its multi-tensor ("foreach") implementation of Adam, AdamW and RMSprop when all
parameters live on CUDA (one kernel per operation over ALL parameters instead of one per parameter);
`fused_optimizers` goes one step further for Adam/AdamW: the fused implementation (the whole update
in one kernel). Same arithmetic as the for-loop implementation up to float rounding; the recipe
(learning rates, betas, weight decay, param groups) is untouched.
"""
from __future__ import annotations

from typing import Optional

import torch

FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


def fused_optimizers(optimizers: dict, device: torch.device, enable: Optional[bool] = None) -> dict:
    """The family's optimizers (`model.configure_optimizers()`), with Adam/AdamW rebuilt as fused.

    enable: None = on CUDA only (the default use); True forces it (the CPU also has a fused Adam:
    how the tests cover this path). Only optimizers that have not stepped yet are rebuilt (their
    state would otherwise be dropped); others, and non-Adam optimizers, are returned as they are.
    Call once, right after `configure_optimizers()` and before any resume loads their state.
    """
    if not (device.type == "cuda" if enable is None else enable):
        return optimizers
    out = {}
    for name, opt in optimizers.items():
        if type(opt) in FUSABLE and not opt.state and not opt.defaults.get("fused"):
            groups = [{k: v for k, v in g.items() if k not in ("fused", "foreach")} for g in opt.param_groups]
            out[name] = type(opt)(groups, **{**opt.defaults, "fused": True, "foreach": None})
        else:
            out[name] = opt
    return out
