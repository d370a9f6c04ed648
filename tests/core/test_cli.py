"""The CLI contract: models, train, info, score, eval (--json keys), path forms, clear errors."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vadlab.cli import main


@pytest.fixture(scope="module")
def tiny_checkpoint(samples_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "cae"
    assert main(["train", "--model", "conv_ae", "--preset", "tiny", "--data", f"synthetic:{samples_dir}",
                 "--epochs", "1", "--max-steps", "3", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    return out


def test_models_lists_every_family(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name in ("conv_ae", "ffp", "st_dcgan", "latent_gan", "lrcn_gan", "valt_gan", "svd_gan"):
        assert name in text


@pytest.mark.parametrize("form", ["stem", ".safetensors", ".json"])
def test_info_accepts_every_path_form(tiny_checkpoint, form, capsys):
    path = str(tiny_checkpoint) if form == "stem" else str(tiny_checkpoint) + form
    assert main(["info", path]) == 0
    assert "conv_ae" in capsys.readouterr().out


def _csv_rows(text: str) -> tuple[dict, list[dict]]:
    """(the `# key: value` header lines, the CSV rows)."""
    meta = dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# "))
    rows = list(csv.DictReader(io.StringIO("\n".join(l for l in text.splitlines() if not l.startswith("#")))))
    return meta, rows


def test_score_writes_one_row_per_frame_and_its_protocol(tiny_checkpoint, samples_dir, tmp_path, capsys):
    from vadlab.data.video import probe_video

    video = sorted((samples_dir / "testing").glob("*.mp4"))[0]
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(tiny_checkpoint) + ".safetensors", "--video", str(video), "--out", str(out)]) == 0
    meta, rows = _csv_rows(out.read_text())
    assert len(rows) == probe_video(video).n_frames
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
    assert "alert event" in capsys.readouterr().err  # events are printed, as alerts
    # the training command calibrated the checkpoint: the CSV says how its verdicts were made
    assert json.loads(meta["protocol"])["normalize"] == "calibrated"
    assert json.loads(meta["calibration"])["frames"] > 0
    from scipy import stats

    rule = json.loads(meta["verdict"])  # the checkpoint's own verdict rule sets the threshold:
    assert rule["threshold"] >= stats.norm.isf(rule["far"]) - 1e-9  # never below the Gaussian quantile of its rate
    assert meta["verdict_rule"]


def test_score_without_calibration_falls_back_visibly(tiny_checkpoint, samples_dir, tmp_path, capsys):
    import shutil

    from vadlab.checkpoint import read_metadata, save_checkpoint
    from vadlab.api import load

    loaded = load(tiny_checkpoint, device="cpu")
    bare = tmp_path / "bare"
    save_checkpoint(bare, loaded.model, window=loaded.model.config.window, target="window", score_kind="mse")
    assert "calibration" not in read_metadata(bare)
    video = sorted((samples_dir / "training").glob("*.mp4"))[0]
    out = tmp_path / "bare.csv"
    assert main(["score", "--checkpoint", str(bare), "--video", str(video), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no calibration" in err and "min-max" in err
    meta, _ = _csv_rows(out.read_text())
    assert json.loads(meta["protocol"])["normalize"] == "minmax" and meta["calibration"] == "null"
    # `vadlab calibrate` adds one without touching the weights, and the digest stays valid
    before = (tmp_path / "bare.safetensors").read_bytes()
    assert main(["calibrate", "--checkpoint", str(bare), "--data", f"synthetic:{samples_dir}", "--frames", "all"]) == 0
    assert (tmp_path / "bare.safetensors").read_bytes() == before
    cal = read_metadata(bare)["calibration"]
    assert cal["scores"]["mean"]["count"] == sum(f["end"] - f["start"] + 1 for f in cal["frames"])
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_eval_json_has_the_contract_keys(tiny_checkpoint, samples_dir, capsys, independent_micro_auc):
    assert main(["eval", "--checkpoint", str(tiny_checkpoint) + ".json", "--data", f"synthetic:{samples_dir}", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("micro_auc", "macro_auc", "eer", "frames_per_second"):
        assert isinstance(summary[key], float)
    assert summary["protocol"]["paper"] and summary["protocol"]["drop_undecidable"]
    # the same number, recomputed independently: per-video min-max, first undecidable frames dropped
    assert summary["micro_auc"] == pytest.approx(independent_micro_auc(tiny_checkpoint, f"synthetic:{samples_dir}"),
                                                 abs=1e-12)


def test_eval_protocols_table(tiny_checkpoint, samples_dir, capsys):
    assert main(["eval", "--checkpoint", str(tiny_checkpoint), "--data", f"synthetic:{samples_dir}", "--protocols"]) == 0
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.startswith("| ")]  # the header, then one row per protocol
    assert "**paper**" in lines[1] and "frame mean" in lines[1]  # the paper protocol is the first row
    assert any("patch max 16" in l for l in lines) and any("top 0.01" in l for l in lines)
    assert len(lines) == 1 + 3 * 8  # header + 3 poolings x 2 norms x 2 sigmas x 2 first-frames (the paper's among them)
    assert sum("**paper**" in l for l in lines) == 1


def test_eval_of_a_supervised_checkpoint_is_labelled_in_sample(samples_dir, capsys):
    root = Path(__file__).resolve().parents[2]
    assert main(["eval", "--checkpoint", str(root / "checkpoints" / "lrcn_gan_synthetic"), "--data",
                 f"synthetic:{samples_dir}", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["in_sample"] is True
    assert "IN-SAMPLE" in captured.err and "vadlab cv" in captured.err


def test_user_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    assert main(["info", str(tmp_path / "missing")]) == 2
    assert main(["train", "--model", "nope", "--data", "synthetic:x", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err and "nope" in err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "vadlab", "models"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "valt_gan" in proc.stdout


# --------------------------------------------------------------------------- bad labels (issue 21)
SHIPPED_CONV_AE = Path(__file__).resolve().parents[2] / "checkpoints" / "conv_ae_synthetic"


def _labelled_folder(folder: Path, samples_dir: Path, clips: dict[str, object]) -> str:
    """A folder dataset: each named sample clip, with `labels` (a file's bytes, or None: no labels)."""
    import shutil

    folder.mkdir()
    for name, labels in clips.items():
        shutil.copy(samples_dir / "testing" / f"{name}.mp4", folder)
        if labels is not None:
            (folder / f"{name}.csv").write_bytes(labels)
    return f"folder:{folder}"


def test_eval_refuses_a_labels_csv_of_binary_garbage_in_one_line(samples_dir, tmp_path, capsys):
    garbage = bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8))
    data = _labelled_folder(tmp_path / "garbage", samples_dir, {"test_01": garbage})
    assert main(["eval", "--checkpoint", str(SHIPPED_CONV_AE), "--data", data, "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: DatasetError: test_01.csv: not a text CSV (it holds binary data); give one 0/1 per line or "
                   "a column named 'label'"], err


def test_eval_with_all_normal_labels_says_the_auc_is_undefined(samples_dir, tmp_path, capsys):
    data = _labelled_folder(tmp_path / "zeros", samples_dir, {"test_01": b"0\n" * 120})
    assert main(["eval", "--checkpoint", str(SHIPPED_CONV_AE), "--data", data, "--device", "cpu", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "nan" not in out.lower() and err.strip().splitlines()[-1].startswith(
        "error: AucUndefinedError: AUC undefined: all 120 labelled frames of test_01 are normal (0)"), err


def test_eval_names_the_test_videos_it_leaves_out_for_lack_of_labels(samples_dir, tmp_path, capsys):
    labels = json.loads((samples_dir / "testing" / "labels.json").read_text())["test_01"]
    data = _labelled_folder(tmp_path / "some", samples_dir, {"test_01": "\n".join(map(str, labels)).encode(),
                                                             "test_02": None})
    assert main(["eval", "--checkpoint", str(SHIPPED_CONV_AE), "--data", data, "--device", "cpu", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["unlabelled_videos"] == ["test_02"]
    assert "1 test video(s) have no labels and are left out of the evaluation: test_02" in err
