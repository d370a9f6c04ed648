"""A lab notebook exported as a runnable Python script or a Jupyter notebook: the same vadlab calls
`vadlab.notebook.run` makes, in the same order, cell by cell. Paths are relative to the repository
root (or absolute), as in the notebook. No Streamlit here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from vadlab.notebook import CELL_TITLES, Cell, Notebook, new_id
from vadlab.paths import REPO_ROOT


def _cell_code(index: int, cell: Cell) -> str:
    """Python code of one cell (the same API calls `run` makes, in the same order)."""
    p = cell.resolved_params()
    tag = f"cell_{index + 1}_{cell.kind}"
    if cell.kind == "clip":
        labels_expr = repr(p["labels"]) if p["labels"] in ("auto", "none") else f"str(resolve({p['labels']!r}))"
        return (
            f"video_path = resolve({p['video']!r})\n"
            "video = api.as_video(video_path)\n"
            "video_name = video_path.stem\n"
            f"labels = clip_labels(video_path, {labels_expr}, len(video.frames))\n"
            "print(f\"{video_name}: {len(video.frames)} frames at {video.info.fps:g} fps, \"\n"
            "      f\"labels: {'none' if labels is None else int(labels.sum())} anomalous frames\")\n"
        )
    if cell.kind == "model":
        return (
            "models = {}\n"
            f"for checkpoint in {p['checkpoints']!r}:\n"
            f"    loaded = api.load(resolve(checkpoint), device={p['device']!r})\n"
            "    models[unique_name(models, loaded.name)] = loaded\n"
            "print('models:', ', '.join(f'{n} ({m.spec.name})' for n, m in models.items()))\n"
        )
    if cell.kind == "score":
        return (
            f"scores = {{name: api.score_video(loaded, video, name=video_name, batch_size={p['batch_size']})\n"
            "          for name, loaded in models.items()}\n"
            "# the verdict: calibrated against each checkpoint's normal frames (per-video min-max without a calibration)\n"
            f"verdicts = {{name: api.verdict(models[name], fs, far={p['far']!r}) for name, fs in scores.items()}}\n"
            "print('\\n'.join(verdict_lines(verdicts)))\n"
            "show(verdict_timelines(verdicts, labels=labels, fps=video.info.fps or 25.0,\n"
            f"                       title=f'{{video_name}}: anomaly verdict'), {tag!r})\n"
        )
    if cell.kind == "inspect":
        return (
            f"frame = {p['frame']}\n"
            "for name, fs in scores.items():\n"
            "    v = verdicts[name]\n"
            "    print(f'{name}: frame {frame} score {fs.scores[frame]:.6g}, verdict score {v.values[frame]:.3f} '\n"
            "          f'(threshold {v.threshold:.3f}: {\"ALERT\" if v.flagged[frame] else \"normal\"})')\n"
            "    show(plots.scored_frame_figure(video.frames[frame], fs, frame, title=f'{name} · frame {frame}'),\n"
            f"         f'{tag}_{{name}}')\n"
        )
    if cell.kind == "explain":
        frame_expr = "frame" if p["frame"] is None else str(p["frame"])
        model_expr = "next(iter(models))" if p["model"] is None else repr(p["model"])
        return (
            f"explain_model = {model_expr}\n"
            "model_frames = api.model_frames(models[explain_model].model, video)\n"
            f"explanation = explain.explain_frame(models[explain_model], model_frames, {frame_expr}, {p['method']!r},\n"
            f"                                    **{dict(p['options'])!r})\n"
            "attribution = explanation.attribution\n"
            "print(f'{attribution.method} on {explain_model}, frame {explanation.scored_frame}: {attribution.seconds:.2f} s; '\n"
            "      f'share per window frame {np.round(attribution.per_frame / attribution.per_frame.sum(), 3)}')\n"
            f"show(plots.attribution_figure(attribution, explanation.window_rgb), {tag!r})\n"
        )
    # evaluate
    return (
        "if labels is None:\n"
        "    raise SystemExit(f'{video_name}: no ground-truth labels to evaluate against')\n"
        "# the Evaluate page's protocol: the first frames no full window covers are dropped\n"
        f"protocol = evaluate_protocol({{'normalize': {p['normalize']!r}, 'smooth_sigma': {float(p['smooth_sigma'])!r}}})\n"
        "evaluation = {name: api.evaluate_clip(fs, labels, protocol) for name, fs in scores.items()}\n"
        "for name, result in evaluation.items():\n"
        "    print(name, {k: v for k, v in result.summary().items() if k != 'single_class_videos'}, "
        "'protocol:', protocol.short)\n"
        f"show(plots.roc_figure(evaluation), {tag!r})\n"
    )


def _markdown(index: int, cell: Cell) -> str:
    p = cell.resolved_params()
    shown = ", ".join(f"`{k}` = `{json.dumps(v)}`" for k, v in p.items())
    return f"### {index + 1} · {CELL_TITLES[cell.kind]}\n\n{shown}"


def _setup_code(root: Path, script: bool) -> str:
    code = (
        "import os\n"
        "import sys\n"
        "from pathlib import Path\n\n"
        "import numpy as np\n\n"
        "from vadlab import api, explain, plots\n"
        "from vadlab.notebook import (clip_labels, evaluate_protocol, scores_csv, unique_name, verdict_lines,\n"
        "                             verdict_timelines)\n\n"
        "# Relative paths in the notebook are relative to the vadlab repository.\n"
        f"ROOT = Path(os.environ.get('VADLAB_ROOT', {str(root)!r}))\n\n\n"
        "def resolve(path):\n"
        "    path = Path(path).expanduser()\n"
        "    return path if path.is_absolute() else ROOT / path\n\n\n"
    )
    if script:
        code += (
            "FIGURES = os.environ.get('VADLAB_FIGURES')  # a folder: figures are written there as HTML\n\n\n"
            "def show(figure, name):\n"
            "    if FIGURES:\n"
            "        Path(FIGURES).mkdir(parents=True, exist_ok=True)\n"
            "        figure.write_html(Path(FIGURES) / f'{name}.html')\n"
        )
    else:
        code += "def show(figure, name):\n    figure.show()\n"
    return code


_SCORES_OUT = (
    "out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('VADLAB_SCORES_CSV')\n"
    "if out:\n"
    "    Path(out).write_text(scores_csv(scores, verdicts))\n"
    "    print(f'wrote the per-frame scores to {out}')\n"
    "else:\n"
    "    print(scores_csv(scores, verdicts), end='')\n"
)


def export_python(notebook: Notebook, root: Optional[Path] = None) -> str:
    """A runnable script reproducing the notebook with the vadlab API.

    `python script.py [scores.csv]` runs the cells in order, writes the last score cell's per-frame
    scores (`scores_csv` format) to argv[1] or $VADLAB_SCORES_CSV (printed otherwise), and the
    figures as HTML to $VADLAB_FIGURES when set. Relative paths resolve against $VADLAB_ROOT
    (default: `root`, the repository root)."""
    notebook.validate()
    lines = [
        '"""' + f"vadlab lab notebook exported as a script ({len(notebook.cells)} cells).\n\n"
        "Run: python this_script.py [scores.csv]   (the repository's vadlab must be importable)\n"
        "Scores of the last score cell go to argv[1] or $VADLAB_SCORES_CSV, figures (HTML) to $VADLAB_FIGURES.\n"
        '"""',
        f"# title: {json.dumps(notebook.title)}",
        _setup_code(root or REPO_ROOT, script=True),
    ]
    for i, cell in enumerate(notebook.cells):
        comment = "\n".join("# " + line for line in _markdown(i, cell).replace("`", "").replace("### ", "").splitlines() if line)
        lines.append(f"\n{comment}\n{_cell_code(i, cell)}")
    if any(c.kind == "score" for c in notebook.cells):
        lines.append("\n# the per-frame scores of the last score cell\n" + _SCORES_OUT)
    return "\n".join(lines)


def export_ipynb(notebook: Notebook, root: Optional[Path] = None) -> str:
    """The notebook as a Jupyter notebook (nbformat 4.5 JSON): a title and a setup cell, then one
    markdown + one code cell per notebook cell. Figures show inline (`figure.show()`)."""
    notebook.validate()

    def source(text: str) -> list[str]:
        return text.splitlines(keepends=True)

    def markdown(text: str) -> dict:
        return {"cell_type": "markdown", "id": new_id(), "metadata": {}, "source": source(text)}

    def code(text: str) -> dict:
        return {"cell_type": "code", "id": new_id(), "execution_count": None, "metadata": {}, "outputs": [],
                "source": source(text.rstrip("\n"))}

    cells = [markdown(f"# {notebook.title}\n\nA vadlab lab notebook: each cell uses the outputs of the cells above it."),
             code(_setup_code(root or REPO_ROOT, script=False))]
    for i, cell in enumerate(notebook.cells):
        cells.append(markdown(_markdown(i, cell)))
        cells.append(code(_cell_code(i, cell)))
    doc = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "vadlab": {"title": notebook.title, "notebook": json.loads(notebook.to_json())},
        },
        "cells": cells,
    }
    return json.dumps(doc, indent=1)
