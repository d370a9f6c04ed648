"""Research tools: grid sweeps (ablations) and blocked k-fold cross-validation."""
from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np
import pytest

from vadlab import api, research
from vadlab.research import blocked_folds, cross_validate, fold_failure, holdout_kind, parse_grid, rows_to_csv, sweep
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


def test_sweep_runs_the_svd_ablation_grid(samples_dir, tmp_path, independent_micro_auc):
    data = f"synthetic:{samples_dir}"
    rows = sweep("svd_gan", data, {"use_svd_loss": [True, False]}, epochs=1,
                 device="cpu", out_dir=tmp_path, train_config=FAST)
    assert [r["use_svd_loss"] for r in rows] == [True, False]
    for i, r in enumerate(rows):
        checkpoint = tmp_path / f"svd_gan_{i:02d}"
        meta = api.load(checkpoint, device="cpu").metadata
        assert meta["config"]["use_svd_loss"] is r["use_svd_loss"]  # the row describes its own checkpoint
        # the reported AUC is the AUC of that checkpoint's scores, recomputed independently
        assert r["micro_auc"] == pytest.approx(independent_micro_auc(checkpoint, data), abs=1e-9)
        assert np.isfinite(r["val_loss"])
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert len(parsed) == 2 and {"val_loss", "micro_auc", "macro_auc", "eer"} <= set(parsed[0])
    assert [float(p["micro_auc"]) for p in parsed] == pytest.approx([r["micro_auc"] for r in rows])


def test_sweep_rejects_unknown_fields(samples_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown config field"):
        sweep("svd_gan", f"synthetic:{samples_dir}", {"not_a_field": [1]}, out_dir=tmp_path)


def _confusion(row: dict) -> tuple[int, int, int, int]:
    """(tp, fp, tn, fn) of a fold row, recovered from its window counts, recall and accuracy."""
    n, positives = row["test_windows"], row["anomalous_windows"]
    tp = round(row["recall"] * positives)
    tn = round(row["accuracy"] * n) - tp
    return tp, n - positives - tn, tn, positives - tp


def _rates(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"recall": recall, "precision": precision, "accuracy": (tp + tn) / (tp + fp + tn + fn),
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def _check_fold_figures(variant: dict) -> None:
    """Every used fold's four rates are one confusion matrix; the summary is their mean and std;
    the pooled rates are those of the summed confusion matrices."""
    used = [r for r in variant["folds"] if "failed" not in r]
    totals = np.zeros(4, dtype=int)
    for row in used:
        counts = _confusion(row)
        assert min(counts) >= 0, row
        assert _rates(*counts) == pytest.approx({k: row[k] for k in ("recall", "precision", "accuracy", "f1")}), row
        totals += counts
    s = variant["summary"]
    for key in ("recall", "precision", "accuracy", "f1"):
        assert s[key] == pytest.approx(np.mean([r[key] for r in used]))
        assert s[key + "_std"] == pytest.approx(np.std([r[key] for r in used]))
    assert {k: s["pooled_" + k] for k in ("recall", "precision", "accuracy", "f1")} == pytest.approx(_rates(*totals))


def test_cross_validation_reports_both_variants(samples_dir):
    res = cross_validate("lrcn_gan", f"synthetic:{samples_dir}", folds=2, epochs=2, device="cpu",
                         train_config=TrainConfig(max_steps_per_epoch=2))
    assert set(res) == {"GAN+LRCN", "LRCN (scratch)"}
    for variant in res.values():
        assert [r["fold"] for r in variant["folds"]] == [1, 2]
        assert not any("failed" in r for r in variant["folds"])
        assert variant["summary"]["folds_used"] == 2 and variant["summary"]["folds_failed"] == 0
        _check_fold_figures(variant)
        # blocked folds: every labelled window start is tested exactly once over the folds
        assert 0 < variant["folds"][0]["test_windows"] and 0 < variant["folds"][1]["test_windows"]
    assert "cosine_similarity" in res["GAN+LRCN"]["folds"][0]  # tracked during the GAN phase
    assert "cosine_similarity" not in res["LRCN (scratch)"]["folds"][0]


def test_fold_failure_reasons():
    gan = {"epoch": 1, "d_loss": 1.0, "cosine_similarity": 0.5}
    classifier = {"epoch": 2, "classification_loss": 0.6}
    assert fold_failure([gan, classifier], stopped_early=False, epochs=2) is None
    assert fold_failure([gan], stopped_early=True, epochs=2).startswith("time cap reached before the classifier head was trained")
    assert "never trained" in fold_failure([gan, dict(gan, epoch=2)], stopped_early=False, epochs=2)
    assert fold_failure([classifier], stopped_early=True, epochs=3).startswith("time cap reached after 1 of 3 epochs")


def test_cross_validation_marks_time_capped_folds_failed(samples_dir):
    """A time cap that stops every fold inside lrcn_gan's GAN phase: no classifier head was
    trained, so no fold is counted (no mean, no pooled figures) and each says why."""
    res = cross_validate("lrcn_gan", f"synthetic:{samples_dir}", folds=2, epochs=2, device="cpu",
                         variants={"GAN+LRCN": {"pretrain_gan": True}},
                         train_config=TrainConfig(max_steps_per_epoch=1, max_seconds=0.0))
    variant = res["GAN+LRCN"]
    assert [r["fold"] for r in variant["folds"]] == [1, 2]
    for row in variant["folds"]:
        assert row["failed"].startswith("time cap reached before the classifier head was trained"), row
        assert row["epochs_run"] == 1 and "recall" not in row
    s = variant["summary"]
    assert s["folds_used"] == 0 and s["folds_failed"] == 2
    assert all(np.isnan(s[k]) for k in ("recall", "precision", "accuracy", "f1"))
    assert "pooled_f1" not in s and "pooled_auc" not in s


def test_cross_validation_leaves_failed_folds_out_of_the_figures(samples_dir, monkeypatch):
    """Fold 2 reported as stopped early: the mean, std and pooled rates are fold 1's alone."""
    calls = []

    def fit_with_fold_2_capped(*args, **kwargs):
        result = research_fit(*args, **kwargs)
        calls.append(result)
        return dataclasses.replace(result, stopped_early=len(calls) == 2)

    research_fit = research.fit
    monkeypatch.setattr(research, "fit", fit_with_fold_2_capped)
    res = cross_validate("lrcn_gan", f"synthetic:{samples_dir}", folds=2, epochs=1, device="cpu",
                         variants={"LRCN (scratch)": {"pretrain_gan": False}},
                         train_config=TrainConfig(max_steps_per_epoch=1))
    variant = res["LRCN (scratch)"]
    first, second = variant["folds"]
    assert "failed" not in first and second["failed"].startswith("time cap reached after 1 of 1 epochs")
    s = variant["summary"]
    assert s["folds_used"] == 1 and s["folds_failed"] == 1
    for key in ("recall", "precision", "accuracy", "f1"):
        assert s[key] == first[key] and s[key + "_std"] == 0.0
        assert s["pooled_" + key] == pytest.approx(first[key])
    _check_fold_figures(variant)


def test_cv_command_says_how_many_folds_failed_and_why(samples_dir, capsys):
    from vadlab.cli import main

    assert main(["cv", "--model", "lrcn_gan", "--data", f"synthetic:{samples_dir}", "--folds", "2", "--epochs", "2",
                 "--device", "cpu", "--stride", "8", "--max-minutes", "0.00001"]) == 0
    out = capsys.readouterr().out
    assert "GAN+LRCN: 2 of 2 folds FAILED and are left out of every figure above:" in out
    assert out.count("time cap reached before the classifier head was trained") == 4  # per fold, live + summary
    assert "LRCN (scratch): 2 of 2 folds FAILED" in out and "time cap reached after 1 of 2 epochs" in out
    assert "over 0 folds (2 failed, see below)" in out


def test_cross_validation_refuses_unsupervised_families(samples_dir):
    with pytest.raises(ValueError, match="supervised"):
        cross_validate("conv_ae", f"synthetic:{samples_dir}", folds=2)


def test_holdout_kind_trains_without_that_anomaly(samples_dir):
    res = holdout_kind("lrcn_gan", f"synthetic:{samples_dir}", "large_object", epochs=1, device="cpu")
    assert res["held_out_kind"] == "large_object" and res["videos"] and res["windows"] > 0
    precision, recall = res["precision"], res["recall"]
    assert res["f1"] == pytest.approx(2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def test_sweep_command_passes_stride_and_time_cap_to_training(samples_dir, tmp_path, capsys):
    import json

    from vadlab.cli import main

    assert main(["sweep", "--model", "conv_ae", "--data", f"synthetic:{samples_dir}", "--grid", "lr=1e-3",
                 "--epochs", "1", "--device", "cpu", "--stride", "3", "--max-minutes", "5",
                 "--out-dir", str(tmp_path), "--csv", str(tmp_path / "s.csv")]) == 0
    meta = json.loads((tmp_path / "conv_ae_00.json").read_text())
    assert meta["config"]["train_stride"] == 3 and "stride" not in meta["training"]["train_config"]  # the recipe
    assert meta["training"]["train_config"]["max_seconds"] == 300
    assert "selection criterion: val_loss" in capsys.readouterr().out


def test_seed_summary_is_mean_and_std_per_grid_point_with_failures_counted():
    rows = [{"lr": 1e-3, "seed": 0, "val_loss": 1.0, "micro_auc": 0.6, "macro_auc": 0.5, "eer": 0.4},
            {"lr": 1e-3, "seed": 1, "val_loss": 3.0, "micro_auc": 0.8, "macro_auc": 0.7, "eer": 0.2},
            {"lr": 2e-3, "seed": 0, "val_loss": 1.5, "micro_auc": 0.5, "macro_auc": 0.5, "eer": 0.5},
            {"lr": 2e-3, "seed": 1, "error": "RuntimeError: out of memory"}]
    table = research.summarize(rows, ["lr"])
    assert [e["lr"] for e in table] == [1e-3, 2e-3]
    assert table[0]["val_loss"] == 2.0 and table[0]["val_loss_std"] == 1.0 and table[0]["seeds"] == 2
    assert table[1]["seeds"] == 1 and table[1]["failed"] == 1 and table[1]["micro_auc_std"] == 0.0
    text = research.format_summary(table, ["lr"])
    # chosen on the mean validation loss (1.5 < 2.0), not on the test AUC (0.5 < 0.7)
    assert text.splitlines()[2].endswith("<- selected") and "(1 failed)" in text.splitlines()[2]
    assert "2.0000 ± 1.0000" in text and "never used to select" in text
