"""bench/gpu_once.py, rehearsed on the CPU at a tiny scale: it trains within its budget, writes the
table after each family, packs each checkpoint into files the device machine sends back (split under
the file limit, within the 8-file / 64 MiB limits) that --unpack restores to loadable checkpoints,
and the table's figures are the checkpoints' own. Its planning rules are checked as plain functions."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gpu_once", ROOT / "bench" / "gpu_once.py")
gpu_once = importlib.util.module_from_spec(spec)
sys.modules.setdefault("gpu_once", gpu_once)  # dataclasses look their module up
spec.loader.exec_module(gpu_once)
MiB = 2**20


BUDGET_MINUTES = 3.0  # ample for the tiny preset: the rehearsal checks the mechanics, not this machine's speed
# (0.6 min made it fail on a loaded machine: evaluation ran past the family's slot)


def test_gpu_once_rehearsal_on_cpu(samples_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_once.py"), "--out", str(out), "--data", f"synthetic:{samples_dir}",
         "--preset", "tiny", "--device", "cpu", "--families", "conv_ae,lrcn_gan", "--budget-minutes", str(BUDGET_MINUTES),
         "--file-limit-mib", "0.05"],
        capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads((out / "table.json").read_text())
    assert [r["family"] for r in rows] == ["conv_ae"]  # the supervised family is skipped, with a reason
    assert "lrcn_gan: supervised" in (out / "log.txt").read_text()
    held = out / "held" / "checkpoints" / "all"
    meta = json.loads((held / "conv_ae_tiny.json").read_text())
    assert rows[0]["micro_auc"] == meta["metrics"]["micro_auc"]
    assert rows[0]["train_minutes"] <= BUDGET_MINUTES  # inside its budget
    assert rows[0]["checkpoint"] == "returned"
    assert "| conv_ae | tiny |" in (out / "table.md").read_text()
    # what comes back: plain files at most two folders down, under the file limit, at most 8
    returned = sorted(p for p in out.iterdir() if p.is_file())
    assert len(returned) <= 8 and all(p.stat().st_size <= 0.05 * MiB for p in returned)
    pieces = [p.name for p in returned if ".ckpt.tar" in p.name]
    assert len(pieces) >= 2 and pieces[0] == "conv_ae_tiny.ckpt.tar.part00"  # split: the weights pass 0.05 MiB
    # ... and --unpack gives back the checkpoint itself
    restored = tmp_path / "restored"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_once.py"), "--unpack", str(out), "--into", str(restored)],
                          capture_output=True, text=True, timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for suffix in (".safetensors", ".json"):
        assert (restored / f"conv_ae_tiny{suffix}").read_bytes() == (held / f"conv_ae_tiny{suffix}").read_bytes()
    from vadlab.checkpoint import load_checkpoint

    model, _ = load_checkpoint(restored / "conv_ae_tiny")
    assert any(p.numel() for p in model.parameters())


def test_plan_slot_reserves_what_families_needed_beyond_training():
    first = gpu_once.plan_slot(600.0, 6, [], first_reserve=0.3, grace=5.0)
    assert first.share == pytest.approx(100.0) and first.allowance == pytest.approx(70.0)
    assert first.brake_after == pytest.approx(150.0 - 30.0)  # half a slot late at most
    later = gpu_once.plan_slot(300.0, 3, [8.0, 12.0], first_reserve=0.3, grace=5.0)
    assert later.reserve == pytest.approx(15.0) and later.allowance == pytest.approx(85.0)
    last = gpu_once.plan_slot(50.0, 1, [8.0], first_reserve=0.3, grace=5.0)
    # the last family may not run past the budget (+ the grace taken from the final reserve)
    assert last.allowance == pytest.approx(40.0) and last.brake_after == pytest.approx(45.0)
    greedy = gpu_once.plan_slot(20.0, 1, [100.0], first_reserve=0.3, grace=5.0)
    assert greedy.allowance == pytest.approx(2.0)  # never a negative allowance: the caller skips it


def test_choose_returned_keeps_family_order_and_the_tool_limits():
    packs = [("ffp_paper", [15 * MiB]), ("valt_gan_paper", [16 * MiB, 3 * MiB]), ("conv_ae_paper", [16 * MiB, 2 * MiB]),
             ("svd_gan_paper", [10 * MiB]), ("st_dcgan_paper", [9 * MiB])]
    chosen = gpu_once.choose_returned(10_000, packs)
    # beside 3 result files (+1 MiB for them to grow): ffp 4 files 16 MiB, valt_gan 6 files 35 MiB,
    # conv_ae 8 files 53 MiB; svd_gan would be a 9th file: held, and st_dcgan too
    assert chosen == ["ffp_paper", "valt_gan_paper", "conv_ae_paper"]
    assert gpu_once.choose_returned(10_000, [("big", [16 * MiB] * 4)]) == []  # 64 MiB + results: over the total


def test_split_and_unpack_round_trip(tmp_path):
    held = tmp_path / "held"
    held.mkdir()
    (held / "m.safetensors").write_bytes(bytes(range(256)) * 40)
    (held / "m.json").write_text('{"a": 1}')
    pieces = gpu_once.pack_checkpoint(held, "m", held, max_bytes=4096)
    assert len(pieces) >= 3 and all(p.stat().st_size <= 4096 for p in pieces)
    assert not (held / "m.ckpt.tar").exists()
    restored = gpu_once.unpack(held, tmp_path / "into")
    assert sorted(p.name for p in restored) == ["m.json", "m.safetensors"]
    assert (tmp_path / "into" / "m.safetensors").read_bytes() == (held / "m.safetensors").read_bytes()
    evil = tmp_path / "evil"
    evil.mkdir()
    with tarfile.open(evil / "x.ckpt.tar", "w") as tar:
        tar.add(held / "m.json", arcname="../m.json")
    with pytest.raises(ValueError, match="unexpected member"):
        gpu_once.unpack(evil, tmp_path / "into2")
