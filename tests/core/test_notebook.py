"""vadlab.notebook: JSON round trip and validation, cached runs, exported script and .ipynb."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vadlab import metrics
from vadlab.checkpoint import save_checkpoint
from vadlab.data.synthetic import generate_clip
from vadlab.data.writer import write_video
from vadlab.notebook import Notebook, NotebookCache, NotebookError, last_scores, run, scores_csv, starter_notebook
from vadlab.notebook_export import export_ipynb, export_python
from vadlab.registry import create_model, get_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    """A folder with a real 14-frame mp4 + labels.json and two real (untrained) tiny checkpoints; the
    conv_ae one calibrated on a 30-frame normal clip of the same scene, the ffp one not calibrated."""
    from vadlab import api
    from vadlab.calibration import fit_calibration

    root = tmp_path_factory.mktemp("lab")
    clip = generate_clip(3, n_frames=14, width=64, height=48, anomalies=("large_object",), name="walk")
    write_video(root / "videos" / "walk.mp4", clip.frames, fps=10.0, crf=18)
    (root / "videos" / "labels.json").write_text(json.dumps({"walk": clip.labels.tolist()}))
    for family in ("conv_ae", "ffp"):
        torch.manual_seed(0)
        model = create_model(family, "tiny")
        spec = get_spec(family)
        save_checkpoint(root / "ck" / f"{family}_tiny", model, window=model.config.window, target=spec.target,
                        score_kind=spec.score_kind)
    normal = generate_clip(4, n_frames=30, width=64, height=48, scene_seed=3, name="normal")
    loaded = api.load(root / "ck" / "conv_ae_tiny", device="cpu")
    scored = api.score_video(loaded, normal.frames, name="normal", keep_maps=False)
    api.save_calibration(root / "ck" / "conv_ae_tiny", fit_calibration([scored], "mse", "test", "a normal clip"))
    return root


def full_notebook() -> Notebook:
    nb = Notebook(title="test walk")
    nb.add("clip", video="videos/walk.mp4", labels="auto")
    nb.add("model", checkpoints=["ck/conv_ae_tiny", "ck/ffp_tiny"], device="cpu")
    nb.add("score", batch_size=8)
    nb.add("inspect", frame=9)
    nb.add("explain", method="integrated_gradients", options={"n_steps": 4})
    nb.add("evaluate", normalize="minmax", smooth_sigma=1.0)
    return nb


def read_scores(text: str) -> list[tuple[str, str, int, float, float]]:
    return [(r["model"], r["video"], int(r["frame"]), float(r["score"]), float(r["raw"]))
            for r in csv.DictReader(io.StringIO(text))]


# ------------------------------------------------------------------------------------ JSON
def test_json_round_trip():
    nb = full_notebook()
    again = Notebook.from_json(nb.to_json())
    assert again.title == nb.title and again.version == 1
    assert [(c.id, c.kind, c.params) for c in again.cells] == [(c.id, c.kind, c.params) for c in nb.cells]
    assert Notebook.from_json(again.to_json().encode()).to_json() == nb.to_json()


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected an object with \"cells\""),
    ('{"cells": [{"kind": "train", "params": {}}]}', "unknown kind 'train'"),
    ('{"cells": [{"kind": "clip", "params": {}}]}', "missing required parameter 'video'"),
    ('{"cells": [{"kind": "score", "params": {"batch": 3}}]}', "unknown parameter"),
    ('{"cells": [{"kind": "score", "params": {"far": 0.5}}]}', "'far' must be one of"),
    ('{"cells": [{"kind": "inspect", "params": {"frame": "ten"}}]}', "'frame' must be int"),
    ('{"cells": [{"kind": "explain", "params": {"method": "lime"}}]}', "'method' must be one of"),
    ('{"cells": [{"kind": "explain", "params": {"options": {"n_steps": 4}}}]}', "unknown parameter"),
    ('{"cells": [{"kind": "model", "params": {"checkpoints": []}}]}', "non-empty list"),
    ('{"cells": [{"id": "a", "kind": "score"}, {"id": "a", "kind": "score"}]}', "duplicate cell id"),
    ('{"version": 7, "cells": []}', "version 7 is not supported"),
    ('{"format": "jupyter", "cells": []}', "not a vadlab notebook"),
])
def test_invalid_notebooks_are_refused_clearly(text, message):
    with pytest.raises(NotebookError, match=message):
        Notebook.from_json(text)


def test_add_validates_and_starter_is_valid():
    with pytest.raises(NotebookError, match="'batch_size' must be >= 1"):
        Notebook().add("score", batch_size=0)
    nb = starter_notebook()
    assert [c.kind for c in nb.cells] == ["clip", "model", "score", "inspect"]
    assert Notebook.from_json(nb.to_json()).cells[0].params["video"].startswith("sample_videos/")


# ------------------------------------------------------------------------------------ run
def test_run_produces_every_output_and_uses_the_cache(lab):
    nb = full_notebook()
    cache = NotebookCache()
    results = run(nb, cache, root=lab)
    assert [r.error for r in results] == [None] * 6, [r.error for r in results]
    assert not any(r.cached for r in results)
    clip, models, scored, inspect, explained, evaluated = (r.output for r in results)
    assert clip["n_frames"] == 14 and clip["labels"] is not None and clip["labels"].sum() > 0
    assert set(models["models"]) == {"conv_ae_tiny", "ffp_tiny"}
    assert all(len(fs) == 14 for fs in scored["scores"].values())
    assert [row["frame"] for row in inspect["rows"]] == [9, 9]
    assert inspect["rows"][0]["score"] == scored["scores"]["conv_ae_tiny"].scores[9]
    assert explained["attribution"].maps.shape == (4, 64, 64) and explained["frame"] == 9
    assert set(evaluated["results"]) == {"conv_ae_tiny", "ffp_tiny"}
    assert 0.0 <= evaluated["rows"][0]["micro_auc"] <= 1.0
    # the Evaluate page's protocol: the undecidable first frames dropped, and recorded with the result
    fs = scored["scores"]["conv_ae_tiny"]
    decided = np.asarray(fs.scored, dtype=bool)
    assert not decided.all()
    page_like = metrics.evaluate({"c": fs.scores[decided]}, {"c": clip["labels"][decided]}, smooth_sigma=1.0)
    assert evaluated["results"]["conv_ae_tiny"].micro_auc == pytest.approx(page_like.micro_auc)
    assert evaluated["results"]["conv_ae_tiny"].protocol["drop_undecidable"] is True
    # the scores CSV carries the calibrated score (σ above normal) the Score page shows
    rows = list(csv.DictReader(io.StringIO(scores_csv(scored["scores"], scored["verdicts"]))))
    verdict = scored["verdicts"]["conv_ae_tiny"]
    mine = [r for r in rows if r["model"] == "conv_ae_tiny"]
    assert verdict.calibrated and [float(r["calibrated"]) for r in mine] == pytest.approx(list(verdict.values))
    assert all(r["calibrated"] == "" for r in rows if r["model"] == "ffp_tiny")  # no calibration: no σ
    assert dict(cache.executions) == {k: 1 for k in ("clip", "model", "score", "inspect", "explain", "evaluate")}

    # nothing changed: nothing runs again
    again = run(nb, cache, root=lab)
    assert all(r.cached for r in again) and sum(cache.executions.values()) == 6
    assert again[2].output["scores"] is scored["scores"]

    # a new inspect frame re-runs inspect and the explain that follows it, never score or evaluate
    nb.cells[3].params["frame"] = 11
    third = run(nb, cache, root=lab)
    assert [r.cached for r in third] == [True, True, True, False, False, True]
    assert cache.executions["score"] == 1 and cache.executions["inspect"] == 2 and cache.executions["explain"] == 2
    assert third[4].output["frame"] == 11

    # a new batch size re-runs score and everything that consumes it
    nb.cells[2].params["batch_size"] = 4
    fourth = run(nb, cache, root=lab)
    assert [r.cached for r in fourth] == [True, True, False, False, True, False]
    np.testing.assert_allclose(fourth[2].output["scores"]["ffp_tiny"].scores, scored["scores"]["ffp_tiny"].scores, rtol=1e-5)


def test_score_cell_judges_against_the_calibration_and_a_new_rate_does_not_rescore(lab):
    from vadlab import api
    from vadlab.calibration import NO_CALIBRATION

    nb = Notebook()
    nb.add("clip", video="videos/walk.mp4")
    nb.add("model", checkpoints=["ck/conv_ae_tiny", "ck/ffp_tiny"], device="cpu")
    nb.add("score", batch_size=8)
    nb.add("inspect", frame=9)
    cache = NotebookCache()
    first = run(nb, cache, root=lab)
    assert [r.error for r in first] == [None] * 4
    verdicts = first[2].output["verdicts"]
    calibration = api.load(lab / "ck" / "conv_ae_tiny", device="cpu").calibration.for_key("mean")
    calibrated, fallback = verdicts["conv_ae_tiny"], verdicts["ffp_tiny"]
    assert calibrated.calibrated and calibrated.threshold == calibration.threshold(1e-3)
    assert not fallback.calibrated and fallback.threshold == 0.5 and NO_CALIBRATION in fallback.notes
    row = first[3].output["rows"][0]
    assert row["verdict_score"] == calibrated.values[9] and row["threshold"] == calibrated.threshold
    assert row["alert"] == bool(calibrated.flagged[9]) and row["scale"] == "calibrated"

    # another false-alarm rate: a new verdict (and inspect), from the same scoring pass
    nb.cells[2].params["far"] = 1e-2
    second = run(nb, cache, root=lab)
    assert [r.cached for r in second] == [True, True, False, False]
    assert second[2].output["scores"] is first[2].output["scores"]
    assert second[2].output["verdicts"]["conv_ae_tiny"].threshold == calibration.threshold(1e-2)
    assert second[3].output["rows"][0]["threshold"] == calibration.threshold(1e-2)


def test_run_reports_errors_in_the_cell_and_goes_on(lab):
    nb = Notebook()
    nb.add("score")
    nb.add("clip", video="videos/missing.mp4")
    nb.add("model", checkpoints=["ck/conv_ae_tiny"], device="cpu")
    nb.add("score")
    results = run(nb, root=lab)
    assert "needs a clip and a model cell above it" in results[0].error
    assert "missing.mp4" in results[1].error
    assert results[2].ok and "clip cell above it, which failed" in results[3].error


# ------------------------------------------------------------------------------------ export
def test_exported_script_reproduces_the_scores(lab, tmp_path):
    nb = full_notebook()
    results = run(nb, root=lab)
    expected = read_scores(scores_csv(last_scores(results)))
    script = tmp_path / "notebook.py"
    script.write_text(export_python(nb, root=lab))
    out_csv = tmp_path / "scores.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VADLAB_FIGURES": str(tmp_path / "figures"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(out_csv)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = read_scores(out_csv.read_text())
    assert len(got) == len(expected) == 28
    for (m1, v1, f1, s1, r1), (m2, v2, f2, s2, r2) in zip(got, expected):
        assert (m1, v1, f1) == (m2, v2, f2)
        assert s1 == pytest.approx(s2, abs=1e-6) and r1 == pytest.approx(r2, abs=1e-6)
    figures = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert "cell_3_score.html" in figures and "cell_5_explain.html" in figures and "cell_6_evaluate.html" in figures
    assert "micro_auc" in proc.stdout
    assert "conv_ae_tiny: " in proc.stdout and "(calibrated, 1 in 1,000 false alarms per normal frame)" in proc.stdout
    assert "ffp_tiny: " in proc.stdout and "(per-video min-max)" in proc.stdout and "note: this checkpoint has no calibration" in proc.stdout


def test_ipynb_is_valid_nbformat_4(lab):
    nb = full_notebook()
    doc = json.loads(export_ipynb(nb, root=lab))
    assert doc["nbformat"] == 4 and doc["nbformat_minor"] >= 4
    assert doc["metadata"]["kernelspec"]["language"] == "python"
    cells = doc["cells"]
    assert len(cells) == 2 + 2 * len(nb.cells)
    assert [c["cell_type"] for c in cells[2:]] == ["markdown", "code"] * len(nb.cells)
    for cell in cells:
        assert isinstance(cell["source"], list) and all(isinstance(line, str) for line in cell["source"])
        assert isinstance(cell["id"], str) and cell["metadata"] == {}
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            compile("".join(cell["source"]), "<cell>", "exec")  # every code cell is valid Python
    assert Notebook.from_json(json.dumps(doc["metadata"]["vadlab"]["notebook"])).to_json() == nb.to_json()


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deeply_nested_notebook_is_refused_in_one_line(depth):
    text = '{"cells": [{"kind": "clip", "params": {"path": ' + "[" * depth + "]" * depth + "}}]}"
    with pytest.raises(NotebookError, match="nested"):
        Notebook.from_json(text)
