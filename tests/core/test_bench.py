"""The benchmark scripts run end to end (tiny settings, synthetic data); they time nothing here."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ped2_bench_table_runs_on_any_dataset_spec(samples_dir, tmp_path, capsys, independent_micro_auc):
    ped2 = _bench("ped2")
    rows_path = tmp_path / "rows.json"
    assert ped2.main(["--model", "conv_ae,lrcn_gan", "--preset", "cpu", "--epochs", "1", "--max-steps", "2",
                      "--data", f"synthetic:{samples_dir}", "--device", "cpu", "--out-dir", str(tmp_path),
                      "--json", str(rows_path)]) == 0
    rows = {r["family"]: r for r in json.loads(rows_path.read_text())}
    assert rows["conv_ae"]["preset"] == "cpu" and rows["conv_ae"]["checkpoint"] == str(tmp_path / "conv_ae_ped2")
    # the table's AUC is the AUC of the saved checkpoint's frame scores, recomputed independently
    assert rows["conv_ae"]["micro_auc"] == pytest.approx(
        independent_micro_auc(tmp_path / "conv_ae_ped2", f"synthetic:{samples_dir}"), abs=1e-4)  # row rounds to 4 places
    assert rows["lrcn_gan"]["preset"] == "tiny" and "vadlab cv" in rows["lrcn_gan"]["note"]  # supervised: no cpu preset, no AUC
    stored = json.loads((tmp_path / "conv_ae_ped2.json").read_text())["metrics"]
    assert stored["micro_auc"] == pytest.approx(rows["conv_ae"]["micro_auc"], abs=1e-4)  # the checkpoint keeps its figure
    assert "| conv_ae | cpu |" in capsys.readouterr().out


def test_ped2_bench_rejects_unknown_families(samples_dir):
    with pytest.raises(SystemExit):
        _bench("ped2").main(["--model", "conv_ae,nope", "--data", f"synthetic:{samples_dir}"])
