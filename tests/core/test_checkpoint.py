"""Checkpoints: round trips, accepted path forms, and every refusal (with its message).

Uses the real `conv_ae` family at its `tiny` preset; nothing is trained. Weights and buffers are
filled with seeded random values so that a round trip that dropped or zeroed anything would show.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vadlab.checkpoint import (
    SCHEMA,
    CheckpointError,
    data_fingerprint,
    file_sha256,
    load_checkpoint,
    metadata_digest,
    read_metadata,
    resolve_checkpoint_path,
    save_checkpoint,
)
from vadlab.outputs import Batch
from vadlab.registry import create_model, get_spec, list_models


def _tiny_conv_ae(seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model("conv_ae", "tiny", **overrides)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator) * 0.1
                if name.endswith("running_var"):
                    values = values.abs() + 0.5  # a variance must be positive
                tensor.copy_(values)
            else:
                tensor.fill_(7)  # num_batches_tracked
    return model.eval()


def _save(model, stem: Path, **kwargs) -> Path:
    c = model.config
    kwargs.setdefault("training", {"data": "synthetic:walkway", "epochs": 0, "device": "cpu"})
    kwargs.setdefault("metrics", {"micro_auc": 0.5})
    return save_checkpoint(stem, model, window=c.window, target="window", score_kind="mse", **kwargs)


def _batch(model, seed: int = 1) -> Batch:
    c = model.config
    generator = torch.Generator().manual_seed(seed)
    clip = torch.rand((2, c.channels, c.window, c.height, c.width), generator=generator) * 2 - 1  # (B, C, T, H, W)
    return Batch(clip=clip, target=clip[:, :, -1])


def _resign(stem: Path, edit=None) -> dict:
    """Edit a checkpoint's JSON and recompute weights_sha256 and digest, as someone forging one would."""
    meta_path = stem.with_name(stem.name + ".json")
    meta = json.loads(meta_path.read_text())
    if edit is not None:
        edit(meta)
    meta["weights_sha256"] = file_sha256(stem.with_name(stem.name + ".safetensors"))
    meta["digest"] = metadata_digest(meta)
    meta_path.write_text(json.dumps(meta))
    return meta


@pytest.fixture
def saved(tmp_path):
    model = _tiny_conv_ae()
    stem = tmp_path / "conv_ae_tiny"
    _save(model, stem)
    return model, stem


# ---- round trips --------------------------------------------------------------------------------

def test_round_trip_is_bit_exact_and_scores_identically(saved):
    model, stem = saved
    loaded, meta = load_checkpoint(stem)

    original_state, loaded_state = model.state_dict(), loaded.state_dict()
    assert list(loaded_state) == list(original_state)
    assert any("running_mean" in n for n in loaded_state) and any("num_batches_tracked" in n for n in loaded_state)
    for name, tensor in original_state.items():
        assert loaded_state[name].dtype == tensor.dtype, name
        assert torch.equal(loaded_state[name], tensor), name
    assert not loaded.training

    batch = _batch(model)
    expected, got = model.score_clip(batch), loaded.score_clip(batch)
    assert torch.equal(expected.score, got.score)
    assert torch.equal(expected.error_map, got.error_map)

    assert loaded.config == model.config  # widths came back as a tuple, so the frozen configs compare equal
    assert isinstance(loaded.config.widths, tuple)
    assert meta["schema"] == SCHEMA and meta["model"] == "conv_ae" and meta["config_class"] == "ConvAEConfig"
    assert meta["input"] == {"channels": 1, "height": 64, "width": 64, "window": 4}
    assert meta["target"] == "window" and meta["score_kind"] == "mse"
    assert meta["training"]["data"] == "synthetic:walkway" and meta["metrics"] == {"micro_auc": 0.5}
    assert set(meta["versions"]) == {"vadlab", "torch", "python"}
    assert meta["weights_sha256"] == file_sha256(stem.with_name(stem.name + ".safetensors"))
    assert meta["tensors"]["encoder.0.weight"] == [[32, 4, 11, 11], "float32"]
    assert meta["tensors"]["encoder.1.num_batches_tracked"] == [[], "int64"]
    assert len(meta["tensors"]) == len(original_state)
    # no temporary files left behind by the atomic writes
    assert sorted(p.name for p in stem.parent.iterdir()) == ["conv_ae_tiny.json", "conv_ae_tiny.safetensors"]


def test_half_round_trip_within_fp16_tolerance(tmp_path):
    model = _tiny_conv_ae()
    full, half = tmp_path / "full", tmp_path / "half"
    _save(model, full)
    _save(model, half, half=True)
    full_bytes = (tmp_path / "full.safetensors").stat().st_size
    half_bytes = (tmp_path / "half.safetensors").stat().st_size
    assert half_bytes < 0.6 * full_bytes

    loaded, meta = load_checkpoint(half)
    assert meta["tensors"]["encoder.0.weight"][1] == "float16"
    assert meta["tensors"]["encoder.1.num_batches_tracked"][1] == "int64"  # integers are never halved
    for name, tensor in model.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == tensor.dtype, name  # cast back to the model's dtype
        assert torch.allclose(got, tensor, rtol=1e-3, atol=1e-4), name
    batch = _batch(model)
    assert torch.allclose(loaded.score_clip(batch).score, model.score_clip(batch).score, rtol=1e-2)


@pytest.mark.parametrize("form", ["stem", "stem_str", "safetensors", "json"])
def test_every_path_form_is_accepted(saved, form):
    model, stem = saved
    path = {
        "stem": stem,
        "stem_str": str(stem),
        "safetensors": stem.with_name(stem.name + ".safetensors"),
        "json": str(stem) + ".json",
    }[form]
    weights_path, meta_path = resolve_checkpoint_path(path)
    assert weights_path == stem.with_name("conv_ae_tiny.safetensors") and meta_path == stem.with_name("conv_ae_tiny.json")
    loaded, meta = load_checkpoint(path)
    assert torch.equal(loaded.state_dict()["decoder.0.weight"], model.state_dict()["decoder.0.weight"])
    assert read_metadata(path) == meta


def test_stem_with_dots_keeps_them(tmp_path):
    model = _tiny_conv_ae()
    returned = _save(model, tmp_path / "sub" / "conv_ae.v2")
    assert returned == tmp_path / "sub" / "conv_ae.v2.safetensors"
    assert (tmp_path / "sub" / "conv_ae.v2.json").is_file()
    assert read_metadata(tmp_path / "sub" / "conv_ae.v2")["model"] == "conv_ae"


def test_metadata_fields_and_non_finite_metrics(tmp_path):
    model = _tiny_conv_ae()
    stem = tmp_path / "m"
    _save(model, stem, metrics={"macro_auc": float("nan"), "micro_auc": 0.75}, extra={"note": "demo"})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text  # strict JSON
    meta = read_metadata(stem)
    assert meta["metrics"] == {"macro_auc": None, "micro_auc": 0.75}
    assert meta["extra"] == {"note": "demo"}
    assert meta["created"].endswith("+00:00")


def test_data_fingerprint_is_stable_and_sensitive(tmp_path):
    a = data_fingerprint([("01.avi", 180), ("02.avi", 150)])
    assert a == data_fingerprint([("02.avi", 150), ("01.avi", 180)])  # order does not matter
    assert a != data_fingerprint([("01.avi", 180), ("02.avi", 151)])
    assert len(a) == 16 and int(a, 16) >= 0
    assert a == data_fingerprint([("01.avi", np.int64(180)), ("02.avi", torch.tensor(150))])
    with pytest.raises(ValueError, match="expected \\(name, n_frames\\) pairs"):
        data_fingerprint([("01.avi", 180.5)])

    video = tmp_path / "clip.avi"
    video.write_bytes(b"x" * 100)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "000.tif").write_bytes(b"y" * 10)
    first = data_fingerprint([video, str(frames)])
    video.write_bytes(b"x" * 101)
    assert data_fingerprint([video, frames]) != first
    with pytest.raises(ValueError, match="does not exist"):
        data_fingerprint([tmp_path / "nope.avi"])


# ---- refusals -----------------------------------------------------------------------------------

def test_missing_json_is_refused(saved):
    _, stem = saved
    stem.with_name(stem.name + ".json").unlink()
    with pytest.raises(CheckpointError, match=r"missing .*conv_ae_tiny\.json"):
        load_checkpoint(stem)


def test_missing_safetensors_is_refused(saved):
    _, stem = saved
    stem.with_name(stem.name + ".safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"missing .*conv_ae_tiny\.safetensors"):
        load_checkpoint(str(stem) + ".json")


def test_json_that_is_not_json_is_refused(saved):
    _, stem = saved
    stem.with_name(stem.name + ".json").write_text("{ this is not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(stem)
    stem.with_name(stem.name + ".json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="must be a JSON object"):
        read_metadata(stem)


def test_unknown_schema_is_refused(saved):
    _, stem = saved
    _resign(stem, lambda m: m.update(schema="vadlab.checkpoint/99"))
    with pytest.raises(CheckpointError, match="unknown checkpoint schema 'vadlab.checkpoint/99'"):
        load_checkpoint(stem)


def test_edited_metrics_are_detected(saved):
    _, stem = saved
    meta_path = stem.with_name(stem.name + ".json")
    meta = json.loads(meta_path.read_text())
    meta["metrics"]["micro_auc"] = 0.99
    meta_path.write_text(json.dumps(meta, indent=2))
    with pytest.raises(CheckpointError, match="metadata was edited after saving"):
        read_metadata(stem)
    with pytest.raises(CheckpointError, match="metadata was edited after saving"):
        load_checkpoint(stem)


def test_renamed_family_without_resigning_is_a_digest_error(saved):
    _, stem = saved
    meta_path = stem.with_name(stem.name + ".json")
    meta = json.loads(meta_path.read_text())
    meta["model"] = "ffp"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="digest mismatch: metadata was edited after saving"):
        load_checkpoint(stem)


def test_resigned_unregistered_family_lists_registered_ones(saved):
    _, stem = saved
    _resign(stem, lambda m: m.update(model="no_such_family"))
    with pytest.raises(CheckpointError, match=r"'no_such_family' is not registered; registered: .*conv_ae"):
        load_checkpoint(stem)


def test_resigned_other_registered_family_is_refused(saved):
    others = [name for name in list_models() if name != "conv_ae"]
    if not others:
        pytest.skip("only conv_ae is registered; no other family to impersonate yet")
    _, stem = saved
    other = others[0]
    _resign(stem, lambda m: m.update(model=other))
    with pytest.raises(CheckpointError, match=f"config_class 'ConvAEConfig' does not match family '{other}'") as info:
        load_checkpoint(stem)
    assert get_spec(other).config_class.__name__ in str(info.value)


def test_resigned_config_with_unknown_and_missing_fields_is_refused(saved):
    _, stem = saved

    def edit(meta):
        meta["config"]["depth"] = 5
        del meta["config"]["widths"]

    _resign(stem, edit)
    with pytest.raises(CheckpointError, match=r"unknown field\(s\) depth; missing field\(s\) widths"):
        load_checkpoint(stem)


def test_resigned_config_with_other_widths_is_a_shape_error(saved):
    _, stem = saved
    _resign(stem, lambda m: m["config"].update(widths=[16, 8, 4]))
    with pytest.raises(CheckpointError, match=r"tensor 'encoder\.0\.weight' has shape \[32, 4, 11, 11\].*expects \[16, 4, 11, 11\]"):
        load_checkpoint(stem)


def test_weights_of_another_width_are_refused(tmp_path, saved):
    _, stem = saved
    other = _tiny_conv_ae(seed=3, widths=(16, 8, 4))
    _save(other, tmp_path / "narrow")
    shutil.copyfile(tmp_path / "narrow.safetensors", stem.with_name(stem.name + ".safetensors"))
    with pytest.raises(CheckpointError, match=r"weights file does not match its metadata \(replaced or corrupted\)"):
        load_checkpoint(stem)
    _resign(stem)  # a forger who fixes both hashes still meets the model's shapes
    with pytest.raises(CheckpointError, match=r"tensor 'encoder\.0\.weight' has shape \[16, 4, 11, 11\].*expects \[32, 4, 11, 11\] \(\d+ more"):
        load_checkpoint(stem)


def test_pickle_renamed_to_safetensors_is_never_unpickled(saved):
    model, stem = saved
    weights = stem.with_name(stem.name + ".safetensors")
    weights.unlink()
    torch.save(dict(model.state_dict()), weights)  # a pickle under the expected name
    _resign(stem)  # the sha in the JSON is correct, so the safetensors parse is what refuses it
    with pytest.raises(CheckpointError, match=r"not a safetensors file \(pickles are never loaded\)"):
        load_checkpoint(stem)


def test_truncated_weights_are_refused(saved):
    _, stem = saved
    weights = stem.with_name(stem.name + ".safetensors")
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="weights file does not match its metadata"):
        load_checkpoint(stem)
    _resign(stem)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(stem)


def test_forged_tensor_table_is_refused(saved):
    _, stem = saved
    _resign(stem, lambda m: m["tensors"].update({"encoder.0.bias": [[32], "float16"]}))
    with pytest.raises(CheckpointError, match=r"'tensors' does not describe the weights file \(differs at encoder\.0\.bias\)"):
        load_checkpoint(stem)


def test_inconsistent_input_is_refused(saved):
    _, stem = saved
    _resign(stem, lambda m: m["input"].update(window=8))
    with pytest.raises(CheckpointError, match="'input' .* does not match the config"):
        load_checkpoint(stem)


def test_save_refuses_inconsistent_arguments(tmp_path):
    model = _tiny_conv_ae()
    with pytest.raises(ValueError, match="window=9 but the model's config.window is 4"):
        save_checkpoint(tmp_path / "x", model, window=9, target="window", score_kind="mse")
    with pytest.raises(ValueError, match="has target 'window', got 'next'"):
        save_checkpoint(tmp_path / "x", model, window=4, target="next", score_kind="mse")
    with pytest.raises(TypeError, match=r"training\.bad: cannot store a object"):
        save_checkpoint(tmp_path / "x", model, window=4, target="window", score_kind="mse", training={"bad": object()})
    assert not (tmp_path / "x.json").exists()


def test_config_dataclass_round_trips_through_json_fields(saved):
    model, stem = saved
    meta = read_metadata(stem)
    assert meta["config"] == json.loads(json.dumps(dataclasses.asdict(model.config)))


# ---- the metadata schema: types and ranges, one clear error -------------------------------------

@pytest.mark.parametrize("field, edit", [
    ("input", lambda m: m.update(input=[1, 64, 64, 4])),
    ("metrics", lambda m: m.update(metrics=[0.9])),
    ("training", lambda m: m.update(training=["synthetic"])),
    ("input.height", lambda m: m["input"].update(height=-64)),
    ("input.window", lambda m: m["input"].update(window=True)),
    ("metrics.micro_auc", lambda m: m["metrics"].update(micro_auc="high")),
    ("metrics.micro_auc", lambda m: m["metrics"].update(micro_auc=7.5)),
    ("training.data", lambda m: m["training"].update(data={"path": "/"})),
    ("tensors.encoder.0.weight", lambda m: m["tensors"].update({"encoder.0.weight": "big"})),
    ("target", lambda m: m.update(target=["window"])),
    ("calibration", lambda m: m.update(calibration="yes")),
])
def test_resigned_metadata_of_the_wrong_type_or_range_names_the_field(saved, field, edit):
    _, stem = saved
    _resign(stem, edit)
    for read in (read_metadata, load_checkpoint):
        with pytest.raises(CheckpointError, match=rf"metadata field '{field}' must be"):
            read(stem)


def test_a_config_that_lies_about_its_size_is_refused_before_allocating(saved):
    """Widths of a million channels: built for real that is terabytes; on the meta device nothing,
    and the weights file's header refuses it."""
    _, stem = saved
    _resign(stem, lambda m: m["config"].update(widths=[2**20, 2**20, 8]))
    with pytest.raises(CheckpointError, match=r"tensor 'encoder\.0\.weight' has shape \[32, 4, 11, 11\].*expects \[1048576, 4, 11, 11\]"):
        load_checkpoint(stem)


def test_vadlab_info_on_a_bad_checkpoint_prints_one_line(saved, capsys):
    from vadlab.cli import main

    _, stem = saved
    _resign(stem, lambda m: m.update(input=[1, 64, 64, 4]))
    assert main(["info", str(stem)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metadata field 'input' must be an object" in err, err


def test_a_bad_checkpoint_is_one_invalid_row_of_the_zoo(saved, tmp_path):
    from vadlab import zoo

    _, stem = saved
    good = tmp_path / "good"
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(stem.with_name(stem.name + suffix), good.with_name(good.name + suffix))
    _resign(stem, lambda m: m.update(metrics=[0.9]))
    folders = [(tmp_path, "shipped"), (tmp_path / "none", "yours")]
    rows = {entry.name: entry for entry in zoo.list_checkpoints(folders)}
    assert rows["good"].error is None and rows["good"].auc == 0.5
    assert "metadata field 'metrics' must be an object" in rows[stem.name].error
    assert [e.name for e in zoo.usable_checkpoints(folders)] == ["good"]
