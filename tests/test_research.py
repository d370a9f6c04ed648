"""Research tools: grid sweeps (ablations) and blocked k-fold cross-validation."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from vadlab.research import blocked_folds, cross_validate, holdout_kind, parse_grid, rows_to_csv, sweep
from vadlab.train import TrainConfig

FAST = TrainConfig(max_steps_per_epoch=2, val_fraction=0.1)


def test_parse_grid_types():
    grid = parse_grid(["lr=1e-4,2e-4", "use_svd_loss=true,false", "rank=4"])
    assert grid == {"lr": [1e-4, 2e-4], "use_svd_loss": [True, False], "rank": [4]}
    with pytest.raises(ValueError, match="KEY=V1"):
        parse_grid(["lr"])


def test_blocked_folds_cover_every_frame_once_and_purge_boundaries():
    n, k, purge = 100, 4, 5
    folds = blocked_folds(n, k, purge)
    tested = np.concatenate([np.arange(a, b) for _, (a, b) in folds])
    assert np.array_equal(np.sort(tested), np.arange(n))  # each frame is tested exactly once
    for train_ranges, (a, b) in folds:
        train = np.concatenate([np.arange(s, e) for s, e in train_ranges])
        assert not set(train) & set(range(a - purge, b + purge))  # no training frame near the test block


def test_sweep_runs_the_svd_ablation_grid(samples_dir, tmp_path):
    rows = sweep("svd_gan", f"synthetic:{samples_dir}", {"use_svd_loss": [True, False]}, epochs=1,
                 device="cpu", out_dir=tmp_path, train_config=FAST)
    assert [r["use_svd_loss"] for r in rows] == [True, False]
    for r in rows:
        assert np.isfinite(r["val_loss"]) and 0.0 <= r["micro_auc"] <= 1.0
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert len(parsed) == 2 and {"val_loss", "micro_auc", "macro_auc", "eer"} <= set(parsed[0])


def test_sweep_rejects_unknown_fields(samples_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown config field"):
        sweep("svd_gan", f"synthetic:{samples_dir}", {"not_a_field": [1]}, out_dir=tmp_path)


def test_cross_validation_reports_both_variants(samples_dir):
    res = cross_validate("lrcn_gan", f"synthetic:{samples_dir}", folds=2, epochs=2, device="cpu",
                         train_config=TrainConfig(max_steps_per_epoch=2))
    assert set(res) == {"GAN+LRCN", "LRCN (scratch)"}
    for variant in res.values():
        assert len(variant["folds"]) == 2
        for key in ("recall", "precision", "accuracy", "f1"):
            assert 0.0 <= variant["summary"][key] <= 1.0
        assert 0.0 <= variant["summary"]["pooled_f1"] <= 1.0
    assert "cosine_similarity" in res["GAN+LRCN"]["folds"][0]  # tracked during the GAN phase


def test_cross_validation_refuses_unsupervised_families(samples_dir):
    with pytest.raises(ValueError, match="supervised"):
        cross_validate("conv_ae", f"synthetic:{samples_dir}", folds=2)


def test_holdout_kind_trains_without_that_anomaly(samples_dir):
    res = holdout_kind("lrcn_gan", f"synthetic:{samples_dir}", "large_object", epochs=1, device="cpu")
    assert res["held_out_kind"] == "large_object" and res["videos"] and res["windows"] > 0
    assert 0.0 <= res["accuracy"] <= 1.0


def test_sweep_command_passes_stride_and_time_cap_to_training(samples_dir, tmp_path, capsys):
    import json

    from vadlab.cli import main

    assert main(["sweep", "--model", "conv_ae", "--data", f"synthetic:{samples_dir}", "--grid", "lr=1e-3",
                 "--epochs", "1", "--device", "cpu", "--stride", "3", "--max-minutes", "5",
                 "--out-dir", str(tmp_path), "--csv", str(tmp_path / "s.csv")]) == 0
    meta = json.loads((tmp_path / "conv_ae_00.json").read_text())
    assert meta["training"]["train_config"]["stride"] == 3
    assert meta["training"]["train_config"]["max_seconds"] == 300
    assert "selection criterion: val_loss" in capsys.readouterr().out
