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

Scores are floats printed with every digit. The comparison goes token by token: every word, name
and integer (frame numbers, flags, labels, counts) exactly; every float within 1e-5 of its column's
scale (the largest float at that place in the golden file's lines of that shape: a calibrated σ
near 0 is a difference of two scores, so its error is the scores' error times their scale) or of
itself, or one unit of its last printed digit for the few printed with 3 decimals. That tolerance
is the instruction set, not slack for refactors: the goldens were made on an AVX2 CPU, and on an
AVX-512 Xeon oneDNN's kernels round float32 differently, so the same code moved the 7th significant
digit (conv_ae_synthetic, test_01, frame 0: 0.002641732571646571 there vs 0.002641733270138502,
2.6e-7 relative; frame 86's σ 0.0152459 vs 0.0152471); a change of the computation moves scores by
far more (`test_the_comparison_catches_...` below). The run is single-threaded
(`torch.set_num_threads(1)`) so that reductions run in one order.
Regenerate them ONLY on code known to produce the right outputs:
`VADLAB_UPDATE_GOLDEN=1 python -m pytest tests/core/test_same_outputs.py`.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
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
    golden_lines = expected.splitlines()
    scales = column_scales(golden_lines)
    for i, (now, golden) in enumerate(itertools.zip_longest(text.splitlines(), golden_lines, fillvalue="")):
        if not same_line(now, golden, scales):
            raise AssertionError(f"{name} differs from its golden file, first at line {i + 1}:\n"
                                 f"  now:    {now!r}\n  golden: {golden!r}")


# a number: optional sign, digits, optional fraction, optional exponent
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
RELATIVE = 1e-5


def _is_float(token: str) -> bool:
    return any(c in token for c in ".eE")


def column_scales(golden_lines: list[str]) -> dict[tuple[int, int], float]:
    """{(tokens in the line, token index): the largest |float| there} over the golden lines."""
    scales: dict[tuple[int, int], float] = {}
    for line in golden_lines:
        tokens = _NUMBER.split(line)
        for k in range(1, len(tokens), 2):
            if _is_float(tokens[k]):
                key = (len(tokens), k)
                scales[key] = max(scales.get(key, 0.0), abs(float(tokens[k])))
    return scales


def _same_float(now: str, golden: str, scale: float) -> bool:
    decimals = len(re.split("[eE]", golden.split(".")[1])[0]) if "." in golden else 0
    last_digit = 1.01 * 10.0 ** -decimals if decimals < 6 else 0.0  # one unit, and float noise
    return math.isclose(float(now), float(golden), rel_tol=RELATIVE, abs_tol=max(RELATIVE * scale, last_digit))


def same_line(now: str, golden: str, scales: dict[tuple[int, int], float] | None = None) -> bool:
    """Words and integers equal; floats within RELATIVE of themselves or of their column's scale, or
    one unit of a short float's last digit."""
    a, b = _NUMBER.split(now), _NUMBER.split(golden)
    if len(a) != len(b):
        return False
    for k, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        if not (k % 2 == 1 and _is_float(x + y) and _same_float(x, y, (scales or {}).get((len(b), k), 0.0))):
            return False
    return True


def test_the_comparison_catches_a_changed_word_integer_or_score_and_forgives_the_last_float32_digits():
    golden = "0,0.0,0.002641733270138502,-1.4390246693351,0.002641733270138502,0,0"
    assert same_line("0,0.0,0.002641732571646571,-1.4390265631110706,0.002641732571646571,0,0", golden)  # AVX-512
    # a σ near 0 moves by its column's scale times the scores' error, not by its own size
    sigma = ["86,8.6,0.0032655708491802216,0.015247139736665348,0.0032655708491802216,1,0,1",
             "87,8.7,0.0041,3.37,0.0041,1,0,1"]
    assert same_line("86,8.6,0.003265571082010865,0.015245927785042484,0.003265571082010865,1,0,1", sigma[0],
                     column_scales(sigma))
    assert not same_line("86,8.6,0.0032655708491802216,0.0154,0.0032655708491802216,1,0,1", sigma[0],
                         column_scales(sigma))
    assert not same_line("0,0.0,0.002642,-1.4390246693351,0.002641733270138502,0,0", golden)  # 1.0e-4 relative
    assert not same_line("0,0.0,0.002641733270138502,-1.4390246693351,0.002641733270138502,1,0", golden)  # a flag
    assert not same_line("1,0.0,0.002641733270138502,-1.4390246693351,0.002641733270138502,0,0", golden)  # a frame
    assert not same_line("0,0.0,0.002641733270138502,-1.4390246693351,0.002641733270138502,0", golden)  # a column
    assert same_line("test_01: 120 frames, 4 above threshold 3.091", "test_01: 120 frames, 4 above threshold 3.090")
    assert not same_line("test_01: 120 frames, 4 above threshold 3.095", "test_01: 120 frames, 4 above threshold 3.090")
    assert not same_line("test_01: 120 frames, 5 above threshold 3.090", "test_01: 120 frames, 4 above threshold 3.090")
    assert not same_line("test_02: 120 frames", "test_01: 120 frames")
    assert not same_line('"protocol": "frame-max"', '"protocol": "frame-mean"')


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
