"""Same inputs, same bytes: the CLI's and the app's outputs on the shipped samples, against golden
files made on the code before issue 20's moves (tests/core/golden/). A refactor that moves code must not
change one digit of a score.

What is compared, byte for byte:
* `vadlab score --out` CSVs: shipped synthetic checkpoints on shipped sample videos (two families:
  a window reconstructor and a next-frame predictor);
* `vadlab eval --json` of a shipped checkpoint on the sample videos (`synthetic:sample_videos`);
* the app's per-frame scores CSV (the Score page's download) for the same clip and checkpoint,
  made through the functions the page uses (`cache.decode_now`, `api.score_video`,
  `verdict_view.flag` with the slider's default threshold, `views.scores_csv`), no browser.

Masked, because they legitimately vary between runs and machines (nothing else is):
* the repository's absolute path (the `# checkpoint:` / `# video:` header lines) -> `<repo>`;
* `frames_per_second` in the eval JSON (a timing) -> `<timing>`.

Scores are floats printed with every digit, so any change of the computation shows. The run is
single-threaded (`torch.set_num_threads(1)`) so that reductions run in one order; the goldens hold
for this CPU build of torch (a different BLAS or instruction set may change the last digits).
Regenerate them ONLY on code known to produce the right outputs:
`VADLAB_UPDATE_GOLDEN=1 python -m pytest tests/core/test_same_outputs.py`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from vadlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("VADLAB_UPDATE_GOLDEN") == "1"

# (checkpoint stem in checkpoints/, sample video in sample_videos/testing/)
SCORED = [("conv_ae_synthetic", "test_01"), ("ffp_synthetic", "test_03")]
EVALUATED = "conv_ae_synthetic"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mask_paths(text: str) -> str:
    return text.replace(str(ROOT), "<repo>")


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"{path} missing: generate it with VADLAB_UPDATE_GOLDEN=1 on known-good code"
    expected = path.read_text()
    if text != expected:
        diff = next(i for i, (a, b) in enumerate(zip(text.splitlines() + [""], expected.splitlines() + [""])) if a != b)
        raise AssertionError(f"{name} differs from its golden file, first at line {diff + 1}:\n"
                             f"  now:    {(text.splitlines() + [''])[diff]!r}\n"
                             f"  golden: {(expected.splitlines() + [''])[diff]!r}")


@pytest.mark.parametrize("checkpoint,video", SCORED)
def test_vadlab_score_csv_is_unchanged(checkpoint, video, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(ROOT / "checkpoints" / checkpoint),
                 "--video", str(ROOT / "sample_videos" / "testing" / f"{video}.mp4"),
                 "--out", str(out), "--device", "cpu"]) == 0
    _check(f"score_{checkpoint}_{video}.csv", _mask_paths(out.read_text()))
    # what `vadlab score` prints (the verdict and its events) is part of the contract too
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if not line.startswith("wrote "))
    _check(f"score_{checkpoint}_{video}.stderr.txt", _mask_paths(err) + "\n")


def test_vadlab_eval_json_is_unchanged(capsys):
    assert main(["eval", "--checkpoint", str(ROOT / "checkpoints" / EVALUATED),
                 "--data", f"synthetic:{ROOT / 'sample_videos'}", "--json", "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert isinstance(summary["frames_per_second"], float)
    summary["frames_per_second"] = "<timing>"  # in place: the key order is compared too
    _check(f"eval_{EVALUATED}_samples.json", _mask_paths(json.dumps(summary, indent=2)) + "\n")


@pytest.mark.parametrize("checkpoint,video", SCORED[:1])
def test_app_scores_csv_is_unchanged(checkpoint, video):
    """The Score page's "Download per-frame scores (CSV)" for a sample clip at the page's defaults."""
    from vadlab import api
    from vadlab.data.datasets import load_dataset
    from vadlab.ui import cache
    from vadlab.ui.verdict_view import flag
    from vadlab.ui.views import scores_csv

    spec = f"synthetic:{ROOT / 'sample_videos'}"
    record = next(r for r in load_dataset(spec).test if r.name == video)
    source = cache.ClipSource.from_path(record.source, "sample", labels=record.labels, dataset=spec)
    loaded = api.load(str(ROOT / "checkpoints" / checkpoint), device="cpu")
    frame_scores = api.score_video(loaded, cache.decode_now(source), name=source.name, keep_maps=True)
    frame_scores.labels = source.labels.astype("uint8")
    preview = flag(frame_scores, "golden", calibration=loaded.calibration)
    # the page's threshold slider starts at the preview's (calibrated) threshold
    flagged = flag(frame_scores, "golden", threshold=preview.threshold, calibration=loaded.calibration)
    _check(f"app_scores_{checkpoint}_{video}.csv", _mask_paths(scores_csv(flagged, checkpoint)))
