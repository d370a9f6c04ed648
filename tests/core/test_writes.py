"""Writes that never destroy: atomic replacement, a checkpoint pair whose versions never mix, one
mode for both of its files, score outputs opened only when there is something to write, one bad
clip of a folder named while the good ones are written, and one training per output."""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from test_app import write_mp4
from test_checkpoint import _save, _tiny_conv_ae
from vadlab import api
from vadlab.checkpoint import load_checkpoint, read_metadata
from vadlab.cli import main
from vadlab.files import FileLockedError, atomic_open, atomic_write, exclusive_lock

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "checkpoints" / "conv_ae_synthetic"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path):
    path = atomic_write(tmp_path / "labels.json", '{"a": [0, 1]}')
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write('{"a": [')  # half of the new file, then the writer dies
            raise RuntimeError("killed")
    assert path.read_text() == '{"a": [0, 1]}' and not leftovers(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic_write(tmp_path, "x")


def test_a_save_killed_between_its_renames_is_finished_by_the_next_read(tmp_path):
    """On disk after a kill between save_checkpoint's two renames: the new weights beside the old
    JSON, the new JSON complete under its temporary name. Reading the checkpoint finishes the save."""
    stem = tmp_path / "run"
    _save(_tiny_conv_ae(seed=0), stem)
    _save(_tiny_conv_ae(seed=1), tmp_path / "other" / "run")
    shutil.copyfile(tmp_path / "other" / "run.safetensors", tmp_path / "run.safetensors")
    shutil.copyfile(tmp_path / "other" / "run.json", tmp_path / ".run.json.4242.deadbeef.tmp")
    meta = read_metadata(stem)
    assert meta == read_metadata(tmp_path / "other" / "run") and not leftovers(tmp_path)
    model, _ = load_checkpoint(stem)
    expected, _ = load_checkpoint(tmp_path / "other" / "run")
    assert all((model.state_dict()[k] == v).all() for k, v in expected.state_dict().items())


def test_a_save_killed_before_its_renames_leaves_the_old_checkpoint(tmp_path):
    stem = tmp_path / "run"
    _save(_tiny_conv_ae(seed=0), stem)
    before = read_metadata(stem)
    _save(_tiny_conv_ae(seed=1), tmp_path / "other" / "run")
    shutil.copyfile(tmp_path / "other" / "run.safetensors", tmp_path / ".run.safetensors.4242.deadbeef.tmp")
    shutil.copyfile(tmp_path / "other" / "run.json", tmp_path / ".run.json.4242.deadbeef.tmp")
    assert read_metadata(stem) == before  # the waiting JSON does not describe the weights in place
    load_checkpoint(stem)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_both_files_of_a_checkpoint_get_the_same_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        _save(_tiny_conv_ae(), tmp_path / "run")
    finally:
        os.umask(old)
    assert {(tmp_path / f"run{s}").stat().st_mode & 0o777 for s in (".safetensors", ".json")} == {mode}


def test_score_out_a_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["score", "--checkpoint", str(CHECKPOINT), "--video", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {tmp_path} is a folder; give a file name" in err


def test_score_a_folder_with_one_bad_clip_writes_the_good_ones_and_names_the_bad(tmp_path, capsys):
    if not CHECKPOINT.with_suffix(".safetensors").exists():
        pytest.skip("no shipped conv_ae_synthetic checkpoint")
    clips = tmp_path / "clips"
    clips.mkdir()
    write_mp4(clips / "a.mp4", n_frames=12)
    (clips / "b.mp4").write_bytes(b"not a video\n" * 50)
    out = tmp_path / "scores.csv"
    out.write_text("the previous run\n")
    code = main(["score", "--checkpoint", str(CHECKPOINT), "--video", str(clips), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "b.mp4: not scored" in err and "1 of 2 videos not scored: b.mp4" in err
    rows = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert rows[0].startswith("video,frame") and len(rows) == 1 + 12 and all(r.startswith("a,") for r in rows[1:])
    assert not leftovers(tmp_path)


def test_score_that_fails_leaves_an_existing_out_file_alone(tmp_path, capsys):
    out = tmp_path / "scores.csv"
    out.write_text("the previous run\n")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video\n" * 50)
    assert main(["score", "--checkpoint", str(CHECKPOINT), "--video", str(bad), "--out", str(out), "--device", "cpu"]) == 2
    assert out.read_text() == "the previous run\n" and not leftovers(tmp_path)


def test_watch_scores_file_survives_a_source_that_never_opens(tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scores = tmp_path / "scores.csv"
    scores.write_text("51 rows of yesterday\n")
    code = main(["watch", "--checkpoint", str(CHECKPOINT), "--source", f"tcp://127.0.0.1:{port}", "--timeout", "1",
                 "--retries", "0", "--scores", str(scores), "--device", "cpu", "--status-every", "0"])
    assert code == 2, capsys.readouterr().err
    assert scores.read_text() == "51 rows of yesterday\n" and not leftovers(tmp_path)


def test_two_trainings_to_the_same_out_cannot_both_save(tmp_path, samples_dir):
    out = tmp_path / "run"
    with exclusive_lock(tmp_path / ".run.lock", "checkpoint run"):  # a training of `run` in progress
        with pytest.raises(FileLockedError, match=rf"checkpoint {out} is being written by pid {os.getpid()}"):
            api.train("conv_ae", f"synthetic:{samples_dir}", out, device="cpu")
    assert not list(tmp_path.glob("run.*"))


def test_resume_from_an_empty_resume_state_names_the_file(tmp_path, samples_dir, capsys):
    (tmp_path / "run.trainstate.json").write_bytes(b"")
    (tmp_path / "run.trainstate.safetensors").write_bytes(b"")
    code = main(["train", "--model", "conv_ae", "--data", f"synthetic:{samples_dir}", "--out", str(tmp_path / "run"),
                 "--resume", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"{tmp_path / 'run.trainstate.json'}: the resume state is empty (0 bytes)" in err


def test_default_training_names_are_unique_and_stay_put_in_a_session():
    from vadlab.ui.training import checkpoint_name_error, default_checkpoint_name

    first, second = {}, {}
    name = default_checkpoint_name("conv_ae", "tiny", first)
    assert default_checkpoint_name("conv_ae", "tiny", first) == name  # the page reruns: the same name
    assert default_checkpoint_name("conv_ae", "tiny", second) != name  # another session, the same second
    assert checkpoint_name_error(name) is None
