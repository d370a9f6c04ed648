"""Real processes killed with SIGKILL while they write (issues 21 and 22): a training, a calibration and
a score write. The zoo keeps the old checkpoint (or gets the new one whole), no half-written file is
ever read, `--resume` finishes the training with exactly the weights of an uninterrupted run, and the
next write removes what the killed process left behind.

Where to kill is chosen deterministically: the CLI runs in a child process whose `os.replace` (the
rename that publishes every file the lab writes, `vadlab.files.commit`) sends SIGKILL to its own
process on its k-th call, i.e. with the k-th new file complete under its temporary name and not yet
in place, the worst moment for a reader.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vadlab.checkpoint import load_checkpoint, read_metadata

ROOT = Path(__file__).resolve().parents[2]

KILLER = r"""
import os, signal, sys
calls, kill_at, replace = [0], int(os.environ["VADLAB_TEST_KILL_AT"]), os.replace
def killing_replace(src, dst):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return replace(src, dst)
os.replace = killing_replace
from vadlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def vadlab(args: list[str], kill_at: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VADLAB_TEST_KILL_AT": str(kill_at)}
    code = KILLER if kill_at else "import sys; from vadlab.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def train_args(samples_dir: Path, out: Path, seed: int, *extra: str) -> list[str]:
    return ["train", "--model", "conv_ae", "--preset", "tiny", "--data", f"synthetic:{samples_dir}", "--epochs", "2",
            "--max-steps", "3", "--threads", "1", "--seed", str(seed), "--no-eval", "--quiet", "--out", str(out), *extra]


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(f"{a}.safetensors"), load_file(f"{b}.safetensors")
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, samples_dir):
    """The uninterrupted seed-1 run every resumed run must equal, and the old (seed-0) checkpoint."""
    folder = tmp_path_factory.mktemp("reference")
    for seed, name in ((1, "uninterrupted"), (0, "old")):
        done = vadlab(train_args(samples_dir, folder / name, seed))
        assert done.returncode == 0, done.stderr[-2000:]
    return folder


# The renames of that training, in order: epoch 1's resume tensors (1) and JSON (2), epoch 2's (3, 4),
# the checkpoint's weights (5) and its JSON (6).
@pytest.mark.parametrize("kill_at", [2, 5, 6])
def test_a_training_killed_at_any_write_keeps_a_whole_checkpoint_and_resume_finishes_it(
        tmp_path, samples_dir, reference, kill_at):
    stem = tmp_path / "run"
    for suffix in (".safetensors", ".json"):  # an old checkpoint under the name being retrained
        (tmp_path / f"run{suffix}").write_bytes((reference / f"old{suffix}").read_bytes())
    old = read_metadata(stem)

    killed = vadlab(train_args(samples_dir, stem, 1), kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL

    meta = read_metadata(stem)  # what the zoo reads: the old checkpoint, or (killed between the
    load_checkpoint(stem)  # two renames) the new one made whole by this read; always loadable
    if kill_at <= 5:
        assert meta == old and same_weights(stem, reference / "old")
    else:
        assert meta["weights_sha256"] != old["weights_sha256"] and same_weights(stem, reference / "uninterrupted")

    resumed = vadlab(train_args(samples_dir, stem, 1, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same_weights(stem, reference / "uninterrupted")  # as if it had never been killed
    assert read_metadata(stem)["training"]["epochs_run"] == 2
    assert temporaries(tmp_path) == [] and not list(tmp_path.glob("*.trainstate*"))


def test_a_training_killed_mid_epoch_resumes_from_its_last_whole_epoch(tmp_path, samples_dir, reference):
    """Killed while stepping (after epoch 1's resume state was published), not inside a write."""
    stem = tmp_path / "run"
    args = train_args(samples_dir, stem, 1)
    args[args.index("--max-steps") + 1] = "100"  # epochs long enough to be inside one when killed
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vadlab", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "run.trainstate.json"
    try:
        while not state.exists():  # synchronised on the file, not on a clock
            assert proc.poll() is None, "the training ended before its first resume state"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert not stem.with_suffix(".json").exists()  # nothing in the zoo: the run never finished
    assert read_metadata_or_none(state) is not None  # the published resume state is whole

    resumed = vadlab(args + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = read_metadata(stem)["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert temporaries(tmp_path) == []


def read_metadata_or_none(path: Path):
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def test_a_calibration_killed_while_saving_leaves_the_checkpoint_as_it_was(tmp_path, samples_dir, reference):
    stem = tmp_path / "ck"
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"ck{suffix}").write_bytes((reference / f"old{suffix}").read_bytes())
    before = read_metadata(stem)
    args = ["calibrate", "--checkpoint", str(stem), "--data", f"synthetic:{samples_dir}", "--frames", "all"]
    killed = vadlab(args, kill_at=1)
    assert killed.returncode == -signal.SIGKILL
    assert read_metadata(stem) == before and same_weights(stem, reference / "old")
    again = vadlab(args)
    assert again.returncode == 0, again.stderr[-2000:]
    after = read_metadata(stem)
    assert after["weights_sha256"] == before["weights_sha256"] and after["calibration"] != before["calibration"]
    assert temporaries(tmp_path) == []  # the killed run's temporary went with the next write


def test_a_score_write_killed_at_its_rename_keeps_the_old_csv(tmp_path, samples_dir, reference):
    out = tmp_path / "scores.csv"
    out.write_text("the previous run's scores\n")
    clip = sorted((samples_dir / "testing").glob("*.mp4"))[0]
    args = ["score", "--checkpoint", str(reference / "old"), "--video", str(clip), "--out", str(out)]
    killed = vadlab(args, kill_at=1)
    assert killed.returncode == -signal.SIGKILL
    assert out.read_text() == "the previous run's scores\n"
    again = vadlab(args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert out.read_text().count("\n") > 10 and temporaries(tmp_path) == []
