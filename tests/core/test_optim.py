"""vadlab.optim: fused Adam is the same update as the default implementation (checked on the CPU,
which has a fused Adam too, so the CUDA path's code is covered here)."""
from __future__ import annotations

import copy

import torch

from vadlab.optim import fused_optimizers
from vadlab.registry import create_model


def test_fused_adam_gives_the_same_weights_and_keeps_the_recipe():
    torch.manual_seed(0)
    model = create_model("svd_gan", "tiny")
    twin = copy.deepcopy(model)
    plain = model.configure_optimizers()
    fused = fused_optimizers(twin.configure_optimizers(), torch.device("cpu"), enable=True)
    assert fused["generator"].defaults["fused"] and fused["generator"].param_groups[0]["fused"]
    assert fused["generator"].param_groups[0]["betas"] == plain["generator"].param_groups[0]["betas"]
    assert fused["generator"].param_groups[0]["lr"] == plain["generator"].param_groups[0]["lr"]
    assert fused["discriminator"] is not plain["discriminator"] and isinstance(fused["discriminator"], torch.optim.RMSprop)
    params_g = list(model.generator_parameters())
    twin_g = list(twin.generator_parameters())
    assert [id(p) for p in fused["generator"].param_groups[0]["params"]] == [id(p) for p in twin_g]
    for step in range(3):
        for p, q in zip(params_g, twin_g):
            g = torch.randn(p.shape, generator=torch.Generator().manual_seed(step))
            p.grad, q.grad = g.clone(), g.clone()
        plain["generator"].step()
        fused["generator"].step()
    for p, q in zip(params_g, twin_g):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_fused_optimizers_is_a_no_op_on_the_cpu_by_default_and_after_a_step():
    model = create_model("conv_ae", "tiny")
    opts = model.configure_optimizers()
    assert fused_optimizers(opts, torch.device("cpu")) is opts
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    stepped = {k: v for k, v in opts.items()}
    for opt in stepped.values():
        opt.step()
    again = fused_optimizers(stepped, torch.device("cpu"), enable=True)
    assert all(again[k] is stepped[k] for k in stepped)  # state would be lost: left alone
