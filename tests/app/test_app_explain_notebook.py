"""AppTest of the Explain and Lab notebook pages, on a tiny lab made in the test (real mp4 samples with
labels, a real tiny checkpoint), pointed at with the app's VADLAB_SAMPLE_VIDEOS / VADLAB_CHECKPOINTS."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from vadlab.checkpoint import save_checkpoint
from vadlab.data.synthetic import generate_clip
from vadlab.data.writer import write_video
from vadlab.registry import create_model, get_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_lab(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("app_lab")
    clip = generate_clip(5, n_frames=12, width=64, height=48, anomalies=("fast_object",), name="test_01")
    write_video(root / "samples" / "testing" / "test_01.mp4", clip.frames, fps=10.0, crf=18)
    (root / "samples" / "testing" / "labels.json").write_text(json.dumps({"test_01": clip.labels.tolist()}))
    torch.manual_seed(0)
    model = create_model("conv_ae", "tiny")
    save_checkpoint(root / "checkpoints" / "conv_ae_tiny", model, window=model.config.window,
                    target=get_spec("conv_ae").target, score_kind="mse")
    return root


@pytest.fixture
def lab_env(tiny_lab, monkeypatch) -> Path:
    monkeypatch.setenv("VADLAB_SAMPLE_VIDEOS", str(tiny_lab / "samples"))
    monkeypatch.setenv("VADLAB_CHECKPOINTS", str(tiny_lab / "checkpoints"))
    monkeypatch.setenv("VADLAB_USER_CHECKPOINTS", str(tiny_lab / "user_checkpoints"))
    return tiny_lab


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# ------------------------------------------------------------------------------------ Explain
def test_explain_page_attribution_has_the_frames_shape(lab_env):
    at = AppTest.from_file(str(ROOT / "app_pages" / "explain.py"), default_timeout=60).run()
    no_errors(at)
    assert "explain.result" not in at.session_state  # attributions only on demand: opening computes none
    at.button(key="explain.attribute").click().run()
    no_errors(at)
    result = at.session_state["explain.result"]
    t, h, w = result["model_frame_shape"]
    assert result["maps_shape"] == [t, h, w] == [4, 64, 64] and result["spatial_shape"] == [h, w]
    assert result["method"] == "integrated_gradients" and result["params"]["n_steps"] == 16 and result["seconds"] > 0
    assert any("Runtime" in m.label for m in at.metric)

    # another method with its parameters, another frame
    at.selectbox(key="explain.method").set_value("occlusion").run()
    at.slider(key="explain.occ_window").set_value(32).run()
    at.slider(key="explain.frame").set_value(2).run()
    no_errors(at)
    assert any("Press **Compute Occlusion" in i.value for i in at.info)  # another frame: not computed by itself
    at.button(key="explain.attribute").click().run()
    no_errors(at)
    result = at.session_state["explain.result"]
    assert result["method"] == "occlusion" and result["params"]["window"] == 32
    assert result["frame"] == 2 and result["scored_frame"] == 3  # conv_ae's first window ends at frame 3
    assert result["maps_shape"] == [4, 64, 64]
    at.slider(key="explain.rank").set_value(3).run()
    no_errors(at)
    assert any("Rank 3 keeps" in c.value for c in at.caption)
    at.slider(key="explain.frame").set_value(5).run()
    at.slider(key="explain.frame").set_value(2).run()  # back on a frame explained before: shown from the cache
    no_errors(at)
    assert not at.get("button") or not any(b.key == "explain.attribute" for b in at.button)
    assert at.session_state["explain.result"]["frame"] == 2


def test_svd_panels_keep_the_frames_aspect_ratio():
    import numpy as np

    from vadlab import explain, plots

    svd = explain.svd_explorer(np.zeros((64, 64)), np.ones((64, 64)) * 0.1, 4)
    figure = plots.svd_figure(svd, frame_aspect=240 / 360)  # a Ped2 frame at a square model resolution
    assert [figure.layout[f"yaxis{'' if i == 1 else i}"].scaleratio for i in (1, 2, 3)] == [pytest.approx(2 / 3)] * 3
    assert figure.layout.yaxis2.scaleanchor == "x2"


# ------------------------------------------------------------------------------------ notebook
def csv_scores(text: str) -> list[tuple]:
    return [(r["model"], r["video"], int(r["frame"]), float(r["score"])) for r in csv.DictReader(io.StringIO(text))]


def test_notebook_page_build_save_reload_export(lab_env, tmp_path):
    at = AppTest.from_file(str(ROOT / "app_pages" / "notebook.py"), default_timeout=90).run()
    no_errors(at)
    doc = json.loads(at.session_state["notebook.saved_json"])
    assert [c["kind"] for c in doc["cells"]] == ["clip", "model", "score", "inspect"]  # the starter notebook
    assert at.session_state["notebook.scores_csv"] is not None
    # the score cell's verdict: this checkpoint has no calibration, and the page says so
    assert at.selectbox(key=f"notebook.cell.{doc['cells'][2]['id']}.far").value is None  # the model's verdict rule
    assert any("Fallback to per-video min-max" in w.value and "no calibration" in w.value for w in at.warning)

    # build on it: an explain cell and an evaluate cell
    for kind in ("explain", "evaluate"):
        at.selectbox(key="notebook.new_kind").set_value(kind).run()
        at.button(key="notebook.add").click().run()
        no_errors(at)
    doc = json.loads(at.session_state["notebook.saved_json"])
    cells = doc["cells"]
    assert [c["kind"] for c in cells] == ["clip", "model", "score", "inspect", "explain", "evaluate"]
    at.slider(key=f"notebook.cell.{cells[3]['id']}.frame").set_value(7).run()
    no_errors(at)
    saved = at.session_state["notebook.saved_json"]
    assert json.loads(saved)["cells"][3]["params"]["frame"] == 7
    page_scores = at.session_state["notebook.scores_csv"]

    # reopen the saved JSON in a fresh session: the same notebook and the same scores
    again = AppTest.from_file(str(ROOT / "app_pages" / "notebook.py"), default_timeout=90).run()
    again.text_area(key="notebook.open_text").input(saved).run()
    again.button(key="notebook.open").click().run()
    no_errors(again)
    assert json.loads(again.session_state["notebook.saved_json"]) == json.loads(saved)
    assert again.session_state["notebook.scores_csv"] == page_scores

    # the exported script, run in a subprocess, prints the same scores as the page
    script = tmp_path / "notebook.py"
    script.write_text(again.session_state["notebook.script"])
    out = tmp_path / "scores.csv"
    proc = subprocess.run([sys.executable, str(script), str(out)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got, expected = csv_scores(out.read_text()), csv_scores(page_scores)
    assert len(got) == len(expected) == 12
    for (m1, v1, f1, s1), (m2, v2, f2, s2) in zip(got, expected):
        assert (m1, v1, f1) == (m2, v2, f2) and s1 == pytest.approx(s2, abs=1e-6)


def test_notebook_page_refuses_a_bad_notebook_and_paths_outside_the_lab(lab_env):
    at = AppTest.from_file(str(ROOT / "app_pages" / "notebook.py"), default_timeout=90).run()
    at.text_area(key="notebook.open_text").input('{"cells": [{"kind": "train"}]}').run()
    at.button(key="notebook.open").click().run()
    assert not at.exception and any("unknown kind 'train'" in e.value for e in at.error)

    outside = json.dumps({"cells": [{"id": "c", "kind": "clip", "params": {"video": "/etc/hostname"}}]})
    at.text_area(key="notebook.open_text").input(outside).run()
    at.button(key="notebook.open").click().run()
    assert not at.exception and any("outside the folders this lab may read" in e.value for e in at.error)


def test_notebook_explain_cell_names_its_model_and_a_timeline_click_picks_the_inspected_frame(lab_env):
    at = AppTest.from_file(str(ROOT / "app_pages" / "notebook.py"), default_timeout=90).run()
    no_errors(at)
    cells = json.loads(at.session_state["notebook.saved_json"])["cells"]
    score, inspect = cells[2]["id"], cells[3]["id"]
    # a click on a point of the score cell's timeline: the inspect cell below shows that frame
    at.session_state[f"notebook.{score}.timeline"] = {"selection": {"points": [{"x": 7, "y": 0.5}]}}
    at.run()
    no_errors(at)
    assert at.slider(key=f"notebook.cell.{inspect}.frame").value == 7
    assert json.loads(at.session_state["notebook.saved_json"])["cells"][3]["params"]["frame"] == 7
    # an explain cell on "the first model" says which one, never "Choose an option"
    at.selectbox(key="notebook.new_kind").set_value("explain").run()
    at.button(key="notebook.add").click().run()
    no_errors(at)
    explain_id = json.loads(at.session_state["notebook.saved_json"])["cells"][4]["id"]
    model = at.selectbox(key=f"notebook.cell.{explain_id}.model")
    assert model.value is not None and model.format_func(model.value) == "the first model (conv_ae_tiny)"
    assert json.loads(at.session_state["notebook.saved_json"])["cells"][4]["params"]["model"] is None


def test_explain_page_starts_at_the_peak_and_follows_model_changes(lab_env, tmp_path):
    import shutil

    second = lab_env / "checkpoints" / "conv_ae_twin"
    for suffix in (".json", ".safetensors"):
        shutil.copyfile((lab_env / "checkpoints" / "conv_ae_tiny").with_suffix(suffix), second.with_suffix(suffix))
    try:
        at = AppTest.from_file(str(ROOT / "app_pages" / "explain.py"), default_timeout=90).run()
        no_errors(at)
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        score = next(t for t in spec["data"] if t.get("name") == "score")
        from test_app import trace_values

        assert at.slider(key="explain.frame").value == int(trace_values(score["y"]).argmax())
        at.slider(key="explain.frame").set_value(2).run()
        at.selectbox(key="explain.checkpoint").set_value(str(second)).run()  # another model: its own peak
        no_errors(at)
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        score = next(t for t in spec["data"] if t.get("name") == "score")
        assert at.slider(key="explain.frame").value == int(trace_values(score["y"]).argmax())
    finally:
        for suffix in (".json", ".safetensors"):
            second.with_suffix(suffix).unlink(missing_ok=True)
