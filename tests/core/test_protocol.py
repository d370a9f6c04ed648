"""The scoring protocol as a value: validation, its short form, pooled scores from error maps, and
protocols as cheap views over one scoring pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlab.protocol import PAPER, Protocol, ProtocolError, pooled_scores, protocol_grid


def test_paper_protocol_and_short_form_round_trip():
    assert PAPER.short() == "frame-mean|minmax|s0|drop|micro" and PAPER.is_paper
    for proto in protocol_grid(["patch16", "topk0.01"]):
        assert Protocol.parse(proto.short()) == proto
    assert Protocol.parse("paper") == PAPER
    with pytest.raises(ProtocolError, match="pooling"):
        Protocol.parse("median|minmax|s0|drop|micro")
    with pytest.raises(ProtocolError, match="normalisation"):
        Protocol(normalize="sigmoid")


def test_patch_and_topk_pooling_find_a_small_hot_spot():
    em = torch.zeros(2, 32, 32)  # (B, H, W)
    em[1, 4:8, 4:8] = 1.0  # a 4x4 hot spot: 16 of 1024 pixels
    pooled = pooled_scores(em, "mse")
    assert pooled["patch8"][0] == 0 and pooled["patch8"][1] == pytest.approx(16 / 64)  # an 8x8 patch holds it all
    assert pooled["patch16"][1] == pytest.approx(16 / 256)
    assert pooled["topk0.01"][1] == pytest.approx(1.0)  # the top 10 pixels are all in the spot
    psnr_kind = pooled_scores(em + 1e-3, "psnr")
    assert psnr_kind["patch8"][1] > psnr_kind["patch8"][0]  # higher = worse prediction, as -PSNR
    assert pooled_scores(em, "latent_distance") == {}


def test_protocols_are_views_over_one_scoring_pass(samples_dir):
    from vadlab import api
    from vadlab.registry import create_model, get_spec

    torch.manual_seed(0)
    loaded = api.LoadedModel(model=create_model("conv_ae", "tiny"), spec=get_spec("conv_ae"), metadata={})
    scored = api.score_dataset(loaded, f"synthetic:{samples_dir}")
    fs = next(iter(scored.scores.values()))
    assert set(fs.pooled) == {"patch8", "patch16", "topk0.01"}
    kept = api.evaluate_scored(api.load_dataset(f"synthetic:{samples_dir}"), scored, protocol=PAPER.replace(drop_undecidable=False))
    dropped = api.evaluate_scored(api.load_dataset(f"synthetic:{samples_dir}"), scored, protocol=PAPER)
    n_undecidable = sum(int((~f.scored).sum()) for f in scored.scores.values())
    assert kept.n_frames - dropped.n_frames == n_undecidable > 0
    assert dropped.protocol["short"] == "frame-mean|minmax|s0|drop|micro"
    patch = api.evaluate_scored(api.load_dataset(f"synthetic:{samples_dir}"), scored, protocol=PAPER.replace(pooling="patch"))
    assert patch.micro_auc != dropped.micro_auc  # another score, from the same pass
