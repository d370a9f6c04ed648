"""bench/gpu_once.py, rehearsed on the CPU at a tiny scale: it trains within its budget, writes the
checkpoints and the table, and the table's figures are the checkpoints' own."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_once_rehearsal_on_cpu(samples_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_once.py"), "--out", str(out), "--data", f"synthetic:{samples_dir}",
         "--preset", "tiny", "--device", "cpu", "--families", "conv_ae,lrcn_gan", "--budget-minutes", "0.6"],
        capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads((out / "table.json").read_text())
    assert [r["family"] for r in rows] == ["conv_ae"]  # the supervised family is skipped, with a reason
    assert "lrcn_gan: supervised" in (out / "log.txt").read_text()
    meta = json.loads((out / "conv_ae_tiny.json").read_text())
    assert rows[0]["micro_auc"] == meta["metrics"]["micro_auc"]
    assert rows[0]["train_minutes"] * 60 <= 0.6 * 60  # inside its budget
    assert "| conv_ae | tiny |" in (out / "table.md").read_text()
