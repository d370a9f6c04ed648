"""Scale-out on a real local Ray cluster (2 CPUs, loopback): sweeps as Ray Tune trials give the
serial sweep's table; archive scoring on Ray Data gives `vadlab score`'s per-frame scores, resumes,
and lists a corrupt video without stopping. Skipped, with the install command, without Ray."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from vadlab.cli import main
from vadlab.scale import PACKAGE_ROOT

try:
    import ray
except ImportError:
    ray = None
INSTALL = "python -m pip install -e \".[scale]\" (the README's test command installs it)"
needs_ray = pytest.mark.skipif(ray is None, reason=f"Ray is not installed: {INSTALL}")
needs_pyarrow = pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None,
                                   reason=f"pyarrow (Parquet) is not installed: {INSTALL}")

SWEEP = ["sweep", "--model", "conv_ae", "--grid", "lr=1e-3,2e-3", "batch_size=4,8", "--epochs", "1",
         "--max-steps", "2", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def ray_cluster():
    if ray is None:
        pytest.skip(f"Ray is not installed: {INSTALL}")
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


@needs_ray
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


@needs_ray
def test_ray_sweep_reports_failed_trials(ray_cluster, tmp_path, capsys):
    code = main(SWEEP + ["--data", f"synthetic:{tmp_path / 'missing'}", "--ray", "--out-dir", str(tmp_path / "out"),
                         "--csv", str(tmp_path / "out.csv")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.count("FAILED: ") == 4 and "path does not exist" in out
    assert "4 of 4 trials failed" in err


# ------------------------------------------------------------------------------------------------
# archive scoring
# ------------------------------------------------------------------------------------------------
CHECKPOINT = str(Path(PACKAGE_ROOT) / "checkpoints" / "conv_ae_synthetic")  # 64x64 grey, 4-frame windows
ARCHIVE_BATCH = ["--batch-size", "8"]  # Ray segments of 64 windows: an 80-frame clip is two segments


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Two tiny synthetic clips (one in a sub-folder, one with an anomaly) and a corrupt file."""
    from vadlab.data.synthetic import generate_clip
    from vadlab.data.writer import write_video

    root = tmp_path_factory.mktemp("archive")
    (root / "cam2").mkdir()
    for path, seed, kinds in ((root / "a.mp4", 1, ()), (root / "cam2" / "b.mp4", 2, ("large_object",))):
        clip = generate_clip(seed, n_frames=80, width=64, height=48, anomalies=kinds)
        write_video(path, clip.frames, clip.fps)
    (root / "corrupt.mp4").write_bytes((root / "a.mp4").read_bytes()[:2000])  # truncated: no decodable frame
    return root


def _score_csv(video: Path, out: Path):
    """`vadlab score` on one clip, as a DataFrame."""
    import pandas as pd

    assert main(["score", "--checkpoint", CHECKPOINT, "--video", str(video), "--out", str(out), "--device", "cpu",
                 *ARCHIVE_BATCH]) == 0
    return pd.read_csv(out, comment="#")


def _check_archive(archive: Path, out: Path, tmp_path: Path, capsys) -> str:
    """The scored archive: the corrupt video listed, the Parquet scores = `vadlab score`'s.
    Returns what the command printed."""
    import pandas as pd

    text = capsys.readouterr()
    assert "3 videos: 2 scored now, 0 done before, 1 failed" in text.out
    assert "corrupt.mp4" in text.out and "VideoDecodeError" in text.out
    events = pd.read_parquet(out / "events.parquet")
    for video in (archive / "a.mp4", archive / "cam2" / "b.mp4"):
        expected = _score_csv(video, tmp_path / f"{video.stem}.csv")
        scores = pd.read_parquet(next((out / "scores").glob(f"{video.stem}-*.parquet")))
        assert set(scores["video"]) == {str(video)}
        for column in expected.columns:  # digit for digit, every column
            assert np.array_equal(scores[column].to_numpy(), expected[column].to_numpy()), column
    assert (events["video"] == str(archive / "cam2" / "b.mp4")).any()  # the clip with a large object raises an event
    return text.out


def _check_rerun_skips(args: list[str], out: Path, capsys) -> None:
    done = {p: p.stat().st_mtime_ns for p in (out / "scores").glob("*.parquet")}
    assert main(args) == 1  # the corrupt video is tried again, and fails again
    assert "3 videos: 0 scored now, 2 done before, 1 failed" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "scores").glob("*.parquet")} == done  # not rewritten


@needs_pyarrow
def test_score_archive_in_process(archive, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["score-archive", "--checkpoint", CHECKPOINT, "--videos", str(archive), "--out", str(out),
            "--device", "cpu", *ARCHIVE_BATCH]
    assert main(args) == 1
    _check_archive(archive, out, tmp_path, capsys)
    _check_rerun_skips(args, out, capsys)


@needs_ray
def test_score_archive_on_ray_data_equals_vadlab_score_and_resumes(ray_cluster, archive, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["score-archive", "--checkpoint", CHECKPOINT, "--videos", str(archive), "--out", str(out),
            "--ray", "--workers", "2", *ARCHIVE_BATCH]
    assert main(args) == 1
    assert "(Ray Data, 2 worker(s))" in _check_archive(archive, out, tmp_path, capsys)
    _check_rerun_skips(args, out, capsys)


# ------------------------------------------------------------------------------------------------
# one big training: torchrun
# ------------------------------------------------------------------------------------------------
def test_torchrun_with_one_process_trains_the_same_model_as_one_process(samples_dir, tmp_path):
    """`torchrun --nproc_per_node 1 -m vadlab train ...` = `vadlab train ...`: the same weights, bit for bit
    (the README's N = 1 rule; N = 2 on CPU is tests/core/test_train.py's DDP tests)."""
    import os
    import socket
    import subprocess
    import sys

    from safetensors.torch import load_file

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    train = ["-m", "vadlab", "train", "--model", "conv_ae", "--preset", "tiny", "--data", f"synthetic:{samples_dir}",
             "--epochs", "1", "--max-steps", "3", "--threads", "1", "--device", "cpu", "--no-eval", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for cmd, out in (([sys.executable, *train], tmp_path / "one"),
                     ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port",
                       str(port), *train], tmp_path / "torchrun1")):
        proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
    one, torchrun1 = (load_file(tmp_path / f"{name}.safetensors") for name in ("one", "torchrun1"))
    assert one.keys() == torchrun1.keys()
    assert all(np.array_equal(one[k].numpy(), torchrun1[k].numpy()) for k in one)


def test_each_torchrun_process_takes_its_own_gpu(monkeypatch):
    """Under torchrun (WORLD_SIZE > 1) 'auto' / 'cuda' resolve to cuda:LOCAL_RANK; an explicit index
    is kept; a rank beyond the GPUs present is an error naming the fix. (CUDA's presence is faked:
    this runs on CPU machines.)"""
    import torch

    from vadlab.device import DeviceError, resolve

    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve("auto") == torch.device("cuda", 2) and resolve("cuda") == torch.device("cuda", 2)
    assert current == [2, 2]
    assert resolve("cuda:1") == torch.device("cuda", 1) and resolve("cpu") == torch.device("cpu")
    monkeypatch.setenv("LOCAL_RANK", "5")
    with pytest.raises(DeviceError, match="nproc_per_node"):
        resolve("auto")
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: CUDA's default device, as before
    assert resolve("auto") == torch.device("cuda")


def test_ray_commands_without_ray_name_the_extra_to_install(monkeypatch, samples_dir, tmp_path, capsys):
    """The core works without Ray; asking for --ray then says what to install (nothing is trained)."""
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(SWEEP + ["--data", f"synthetic:{samples_dir}", "--ray", "--out-dir", str(tmp_path / "s"),
                         "--csv", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "RayNotInstalledError" in err and 'pip install -e ".[scale]"' in err
    assert not list((tmp_path / "s").glob("*.safetensors"))
