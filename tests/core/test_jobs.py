"""Trainings started from the app run in their own process (vadlab.jobs): concurrent trainings in one
server never change each other's weights, never touch the server's global state, and a training
process that dies is reported, not left "running"."""
from __future__ import annotations

import json
import sys
import types

import torch
from safetensors.torch import load_file

from vadlab.ui import training


def _request(samples_dir, out, **kw):
    return training.TrainRequest(family="conv_ae", preset="tiny", data=f"synthetic:{samples_dir}", out=out,
                                 epochs=1, max_steps_per_epoch=3, evaluate_after=False, **kw)


def _weights(stem):
    return load_file(f"{stem}.safetensors")


def test_two_trainings_at_once_train_exactly_as_each_alone_and_leave_the_server_state_alone(tmp_path, samples_dir):
    rng_before, threads_before = torch.random.get_rng_state(), torch.get_num_threads()
    first = training.new_job(_request(samples_dir, tmp_path / "first")).start()
    second = training.new_job(_request(samples_dir, tmp_path / "second")).start()
    for job in (first, second):
        while job.running:
            job.poll(timeout=0.2)
        assert job.status == "done", job.message
    alone = training.new_job(_request(samples_dir, tmp_path / "alone")).run()
    assert alone.status == "done", alone.message

    a, b, c = (_weights(tmp_path / name) for name in ("first", "second", "alone"))
    assert a.keys() == c.keys()
    for key in c:  # the same request gives the same weights, whether another training ran beside it or not
        assert torch.equal(a[key], c[key]), key
        assert torch.equal(b[key], c[key]), key
    # the trainings seeded and threaded their own processes, not the server's
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before
    assert json.loads((tmp_path / "first.json").read_text())["training"]["epochs_run"] == 1
    assert first.epoch_history and first.progress == 1.0 and first.message == "saved first"


def test_a_training_process_that_dies_is_reported_failed_with_its_exit_code(tmp_path, samples_dir):
    job = training.new_job(_request(samples_dir, tmp_path / "killed"))
    job.start()
    job._process._process.kill()  # as the kernel's OOM killer would
    job._process.join(timeout=30)
    while job.running:
        job.poll(timeout=0.2)
    assert job.status == "failed"
    assert "exit code -9" in job.message and "killed" in job.message
    assert not (tmp_path / "killed.json").exists()


def test_cancel_stops_the_training_process(tmp_path, samples_dir):
    job = training.new_job(training.TrainRequest(family="conv_ae", preset="tiny", data=f"synthetic:{samples_dir}",
                                                 out=tmp_path / "cancelled", epochs=50, evaluate_after=False))
    job.start()
    while job.running and job.step == 0:  # wait for the first step: the loop is running
        job.poll(timeout=0.2)
    job.cancel()
    while job.running:
        job.poll(timeout=0.2)
    assert job.status == "cancelled", job.message
    assert not (tmp_path / "cancelled.json").exists()


def test_a_training_started_under_a_page_script_never_runs_that_script(tmp_path, samples_dir, monkeypatch):
    """Under Streamlit, `__main__` is the page script that ran last; a spawned child would re-run it
    (the Live page, run in bare mode, crashed every training started after it in the full suite)."""
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('a page script ran in the training process')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    job = training.new_job(_request(samples_dir, tmp_path / "under_page")).start()
    while job.running:
        job.poll(timeout=0.2)
    assert job.status == "done", job.message
    assert sys.modules["__main__"] is main  # the page's main module is back
