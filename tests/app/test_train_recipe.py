"""One training configuration: the recipe (epochs, batch size, stride, schedule) is the preset's config;
the Train page and `vadlab train` are overrides of it and, for the same family, preset and data,
train with the same recipe."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vadlab import paths
from vadlab.registry import get_spec, list_models
from vadlab.ui import training

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("family", list_models())
def test_the_train_page_starts_from_the_presets_own_epochs(family):
    for preset in get_spec(family).presets:
        assert training.preset_epochs(family, preset) == get_spec(family).config(preset).epochs
        request = training.TrainRequest(family=family, preset=preset, data="synthetic:x", out=Path("x"))
        assert request.epochs is None and request.recipe_epochs == get_spec(family).config(preset).epochs
    remembered: dict = {}
    preset = training.family_presets(family)[0]
    training.follow_preset_epochs(remembered, family, preset)
    assert remembered["train.epochs"] == training.preset_epochs(family, preset)
    remembered["train.epochs"] = 1  # the user's edit stays while family and preset do
    training.follow_preset_epochs(remembered, family, preset)
    assert remembered["train.epochs"] == 1


def test_the_train_pages_epochs_input_follows_the_preset(monkeypatch, tmp_path, samples_dir):
    monkeypatch.setenv(paths.SAMPLES_ENV, str(samples_dir))
    monkeypatch.setenv(paths.CHECKPOINTS_ENV, str(tmp_path / "shipped"))
    monkeypatch.setenv(paths.USER_CHECKPOINTS_ENV, str(tmp_path / "user"))
    monkeypatch.setenv(paths.USER_DATA_ENV, str(tmp_path / "user_data"))
    at = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=60).run()
    assert not at.exception
    at.selectbox(key="train.family").set_value("ffp").run()
    assert at.number_input(key="train.epochs").value == get_spec("ffp").config("tiny").epochs
    at.selectbox(key="train.preset").set_value("ped2_cpu").run()
    assert at.number_input(key="train.epochs").value == get_spec("ffp").config("ped2_cpu").epochs
    at.number_input(key="train.epochs").set_value(2).run()
    assert at.number_input(key="train.epochs").value == 2
    assert not at.exception


def test_the_train_page_and_vadlab_train_train_with_the_same_recipe(tmp_path, samples_dir):
    from vadlab.cli import main

    data = f"synthetic:{samples_dir}"
    assert main(["train", "--model", "conv_ae", "--preset", "tiny", "--data", data, "--out", str(tmp_path / "cli"),
                 "--max-steps", "1", "--no-eval", "--quiet"]) == 0
    job = training.new_job(training.TrainRequest(family="conv_ae", preset="tiny", data=data, out=tmp_path / "page",
                                                 max_steps_per_epoch=1, evaluate_after=False)).run()
    assert job.status == "done", job.message
    cli, page = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("cli", "page"))
    assert page["config"] == cli["config"]  # the same config dataclass, field for field
    assert page["training"]["train_config"] == cli["training"]["train_config"]  # and the same TrainConfig
    assert page["training"]["epochs_run"] == cli["training"]["epochs_run"] == get_spec("conv_ae").config("tiny").epochs


def test_the_recipe_flags_are_overrides_of_the_config_recorded_once(tmp_path, samples_dir):
    """`--epochs / --batch-size / --stride` are `--set epochs= batch_size= train_stride=`: the same weights,
    bit for bit, and the numbers recorded once, in the checkpoint's config (not in its TrainConfig)."""
    import torch
    from safetensors.torch import load_file

    from vadlab.cli import main

    common = ["train", "--model", "conv_ae", "--preset", "tiny", "--data", f"synthetic:{samples_dir}", "--max-steps",
              "2", "--threads", "1", "--no-eval", "--quiet", "--out"]
    assert main(common + [str(tmp_path / "flags"), "--epochs", "2", "--batch-size", "4", "--stride", "2"]) == 0
    assert main(common + [str(tmp_path / "set"), "--set", "epochs=2", "batch_size=4", "train_stride=2"]) == 0
    flags, by_set = (load_file(str(tmp_path / f"{name}.safetensors")) for name in ("flags", "set"))
    assert flags.keys() == by_set.keys() and all(torch.equal(flags[k], by_set[k]) for k in flags)
    meta = json.loads((tmp_path / "flags.json").read_text())
    assert {k: meta["config"][k] for k in ("epochs", "batch_size", "train_stride")} == {
        "epochs": 2, "batch_size": 4, "train_stride": 2}
    assert not {"epochs", "batch_size", "stride"} & set(meta["training"]["train_config"])
    assert meta["training"]["epochs_run"] == 2 and meta["training"]["steps"] == 4


def test_a_checkpoint_whose_train_config_holds_the_recipe_still_loads_and_shows(capsys):
    """Checkpoints written before the recipe left TrainConfig record epochs / batch_size / stride there."""
    from vadlab import api
    from vadlab.cli import main

    old = ROOT / "checkpoints" / "conv_ae_synthetic"
    if not old.with_suffix(".json").exists():
        pytest.skip("no shipped checkpoint")
    assert "epochs" in json.loads(old.with_suffix(".json").read_text())["training"]["train_config"]
    assert api.load(old, device="cpu").metadata["training"]["train_config"]["epochs"] > 0
    assert main(["info", str(old)]) == 0 and "model:      conv_ae" in capsys.readouterr().out
