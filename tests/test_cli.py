"""The CLI contract: models, train, info, score, eval (--json keys), path forms, clear errors."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

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


def test_score_writes_one_row_per_frame(tiny_checkpoint, samples_dir, tmp_path, capsys):
    from vadlab.data.video import probe_video

    video = sorted((samples_dir / "testing").glob("*.mp4"))[0]
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(tiny_checkpoint) + ".safetensors", "--video", str(video), "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == probe_video(video).n_frames
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
    assert "event" in capsys.readouterr().err  # events are printed, as alerts


def test_eval_json_has_the_contract_keys(tiny_checkpoint, samples_dir, capsys):
    assert main(["eval", "--checkpoint", str(tiny_checkpoint) + ".json", "--data", f"synthetic:{samples_dir}", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("micro_auc", "macro_auc", "eer", "frames_per_second"):
        assert isinstance(summary[key], float)
    assert 0.0 <= summary["micro_auc"] <= 1.0


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
