"""The Streamlit app, page by page, with AppTest (no browser): real checkpoints, real sample videos,
real uploads made here. Each page file runs on its own (AppTest.from_file("app_pages/score.py")).

Checkpoints: the shipped ones in checkpoints/ when present, else one tiny conv_ae trained for two
steps in a temporary folder. Checkpoints the Train page saves go to a temporary folder
(VADLAB_USER_CHECKPOINTS), so tests never litter the repository.
"""
from __future__ import annotations

import ast
import base64
import json
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vadlab import api, paths
from vadlab.data.video import read_video
from vadlab.ui.errors import ERROR_ICON

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "app_pages"
TIMEOUT = 120  # seconds per script run; generous for a loaded 2-core CI machine


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def app_samples() -> Path:
    configured = os.environ.get(paths.SAMPLES_ENV)
    folder = Path(configured) if configured else ROOT / "sample_videos"
    if not (folder / "testing" / "labels.json").exists():
        pytest.fail(f"{folder} has no sample videos: run `python -m vadlab samples --out sample_videos`")
    return folder


@pytest.fixture(scope="session")
def app_checkpoints(app_samples, tmp_path_factory) -> Path:
    shipped = ROOT / "checkpoints"
    if any(p.with_suffix(".safetensors").exists() for p in shipped.glob("*.json") if ".trainstate" not in p.name):
        return shipped
    # Before the shipped checkpoints exist: a real conv_ae, trained for two steps.
    from vadlab.train import TrainConfig

    folder = tmp_path_factory.mktemp("checkpoints")
    api.train("conv_ae", f"synthetic:{app_samples}", folder / "conv_ae_tiny", epochs=1, device="cpu",
              train_config=TrainConfig(max_steps_per_epoch=2), evaluate_after=False)
    return folder


@pytest.fixture(autouse=True)
def score_cache(monkeypatch, tmp_path):
    """Dataset scores kept on disk go to the test's own folder (never the repository's cache)."""
    from vadlab.store import CACHE_DIR_ENV

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "score_cache"))
    return tmp_path / "score_cache"


@pytest.fixture
def app_env(monkeypatch, tmp_path, app_samples, app_checkpoints):
    monkeypatch.setenv(paths.SAMPLES_ENV, str(app_samples))
    monkeypatch.setenv(paths.CHECKPOINTS_ENV, str(app_checkpoints))
    monkeypatch.setenv(paths.USER_CHECKPOINTS_ENV, str(tmp_path / "user_checkpoints"))
    return {"samples": app_samples, "checkpoints": app_checkpoints, "user": tmp_path / "user_checkpoints"}


@pytest.fixture(scope="session")
def calibrated_checkpoints(app_samples, tmp_path_factory) -> Path:
    """A folder with a real conv_ae trained here for 40 steps (`api.train` stores its calibration, on the
    held-out tail of each normal training video) and a copy of it with the calibration removed."""
    import shutil

    from vadlab.checkpoint import update_metadata
    from vadlab.train import TrainConfig

    folder = tmp_path_factory.mktemp("calibrated_checkpoints")
    api.train("conv_ae", f"synthetic:{app_samples}", folder / "conv_ae_calibrated", epochs=1, device="cpu",
              train_config=TrainConfig(max_steps_per_epoch=40), evaluate_after=False)
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(folder / f"conv_ae_calibrated{suffix}", folder / f"conv_ae_uncalibrated{suffix}")
    update_metadata(folder / "conv_ae_uncalibrated", calibration=None)
    return folder


@pytest.fixture
def cal_env(monkeypatch, tmp_path, app_samples, calibrated_checkpoints):
    """The app's zoo is the two checkpoints of `calibrated_checkpoints` (the calibrated one first)."""
    monkeypatch.setenv(paths.SAMPLES_ENV, str(app_samples))
    monkeypatch.setenv(paths.CHECKPOINTS_ENV, str(calibrated_checkpoints))
    monkeypatch.setenv(paths.USER_CHECKPOINTS_ENV, str(tmp_path / "user_checkpoints"))
    return {"samples": app_samples, "calibrated": calibrated_checkpoints / "conv_ae_calibrated",
            "uncalibrated": calibrated_checkpoints / "conv_ae_uncalibrated"}


def run_page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py") if name != "app" else str(ROOT / "app.py"), default_timeout=TIMEOUT)
    return at.run()


def problems(at: AppTest) -> list[str]:
    """Messages of the errors a page shows (anomaly alerts are st.error too, with another icon)."""
    return [e.value for e in at.error if e.icon == ERROR_ICON]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not problems(at), problems(at)


def chart_traces(at: AppTest, index: int = 0) -> list[dict]:
    charts = at.get("plotly_chart")
    assert len(charts) > index, "no plotly chart on the page"
    return json.loads(charts[index].proto.spec)["data"]


def trace_values(array) -> np.ndarray:
    """Plotly JSON arrays are lists or base64 typed arrays ({"dtype", "bdata"})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def anomalous_count(at: AppTest) -> int:
    for markdown in at.markdown:
        match = re.search(r"(\d+) anomalous frames?", markdown.value)
        if match:
            return int(match.group(1))
    raise AssertionError("no 'N anomalous frames' text on the page")


def sample_path(samples: Path, name: str = "test_01") -> Path:
    return samples / "testing" / f"{name}.mp4"


def expected_flags(checkpoint: str, video: Path, threshold: Optional[float] = None) -> int:
    """What `vadlab score` flags with its defaults (the calibrated verdict, or its min-max fallback;
    smoothing 1 frame): frames whose verdict score is >= the threshold (default: the verdict's own)."""
    loaded = api.load(checkpoint, device="cpu")
    frame_scores = api.score_video(loaded, video, keep_maps=False)
    return api.verdict(loaded, frame_scores, threshold=threshold).n_flagged


def threshold_widget(at: AppTest, page: str):
    """The page's threshold slider (its key names the scale: `score.threshold` on min-max,
    `score.threshold_calibrated_...` on the calibrated scale)."""
    sliders = [s for s in at.slider if s.key == f"{page}.threshold" or s.key.startswith(f"{page}.threshold_")]
    assert len(sliders) == 1, [s.key for s in at.slider]
    return sliders[0]


def write_mp4(path: Path, n_frames: int = 16, width: int = 96, height: int = 64, fps: int = 10) -> Path:
    """A small real H.264 clip: a bright square crossing a noisy grey background."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            frame = np.full((height, width, 3), 110, np.uint8) + rng.integers(0, 8, (height, width, 3), dtype=np.uint8)
            x = 4 + i * 4
            frame[20:36, x : x + 16] = 240
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# ------------------------------------------------------------------------------- architecture
def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_pages_never_import_torch_or_models():
    """DESIGN.md: pages never import torch or vadlab.models (they go through vadlab.ui)."""
    for page in [ROOT / "app.py", *sorted(PAGES.glob("*.py"))]:
        for module in _imports(page):
            assert module.split(".")[0] != "torch" and not module.startswith("vadlab.models"), f"{page.name} imports {module}"


def test_only_vadlab_ui_imports_streamlit():
    for source in (ROOT / "vadlab").rglob("*.py"):
        if "ui" in source.relative_to(ROOT / "vadlab").parts:
            continue
        assert not any(m.split(".")[0] == "streamlit" for m in _imports(source)), f"{source} imports streamlit"


# -------------------------------------------------------------------------------------- pages
@pytest.mark.parametrize("page", ["app", "home", "score", "evaluate", "compare", "train"])
def test_every_page_runs_without_exception(app_env, page):
    at = run_page(page)
    assert_clean(at)
    assert at.title, f"{page}: no title"


def test_app_sidebar_shows_device_and_checkpoint_count(app_env):
    at = run_page("app")
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "In use:" in captions and ("CPU" in captions or "cuda" in captions)
    count = len([p for p in app_env["checkpoints"].glob("*.json")
                 if ".trainstate" not in p.name and p.with_suffix(".safetensors").exists()])
    assert f"{count} checkpoint" in captions


def test_score_page_scores_a_sample_with_one_timeline_point_per_frame(app_env):
    at = run_page("score")
    assert_clean(at)
    video = sample_path(app_env["samples"])
    n_frames = read_video(video).n_frames
    score = next(t for t in chart_traces(at) if t.get("name") == "score")
    assert len(trace_values(score["x"])) == n_frames and len(trace_values(score["y"])) == n_frames
    checkpoint = at.multiselect(key="score.checkpoints").value[0]
    assert anomalous_count(at) == expected_flags(checkpoint, video)  # the CLI's count
    assert len(at.get("image")) == 3 and at.slider(key="score.frame").value == int(np.argmax(trace_values(score["y"])))


def test_threshold_slider_reflags_without_rescoring(app_env):
    from vadlab.ui.cache import result_store

    at = run_page("score")
    scored_before = [k for k in result_store().keys() if k[0] == "scores"]
    threshold_widget(at, "score").set_value(0.9).run()
    assert_clean(at)
    checkpoint = at.multiselect(key="score.checkpoints").value[0]
    assert anomalous_count(at) == expected_flags(checkpoint, sample_path(app_env["samples"]), 0.9)
    assert [k for k in result_store().keys() if k[0] == "scores"] == scored_before  # nothing re-scored


def score_upload(clip: Path) -> AppTest:
    """The Score page with `clip` uploaded."""
    at = run_page("score")
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.upload").set_value((clip.name, clip.read_bytes(), "video/mp4")).run()
    return at


def test_an_uploaded_mp4_is_scored(app_env, tmp_path):
    clip = write_mp4(tmp_path / "walk.mp4", n_frames=16)
    at = score_upload(clip)
    assert_clean(at)
    score = next(t for t in chart_traces(at) if t.get("name") == "score")
    assert len(trace_values(score["y"])) == 16
    checkpoint = at.multiselect(key="score.checkpoints").value[0]
    assert anomalous_count(at) == expected_flags(checkpoint, clip)


def test_the_score_page_scores_every_frame_of_a_clip_longer_than_the_decode_cap(app_env, tmp_path, monkeypatch):
    from vadlab import limits

    monkeypatch.setenv(limits.UPLOAD_FRAMES.env, "12")  # the app decodes 12 frames for display
    clip = write_mp4(tmp_path / "long.mp4", n_frames=20)
    at = score_upload(clip)
    assert_clean(at)
    score = next(t for t in chart_traces(at) if t.get("name") == "score")
    assert len(trace_values(score["y"])) == 20  # every frame, through vadlab.stream.score_file
    assert any("Every one of the 20 frames is scored" in i.value for i in at.info)
    checkpoint = at.multiselect(key="score.checkpoints").value[0]
    loaded = api.load(checkpoint, device="cpu")
    whole = api.verdict(loaded, api.score_video(loaded, clip, keep_maps=False))  # `vadlab score`'s numbers
    assert list(trace_values(score["y"])) == pytest.approx(list(whole.values), abs=1e-5)
    at.slider(key="score.frame").set_value(17).run()  # past the decoded frames: its score, no panels
    assert_clean(at)
    assert any("past the first 12 frames decoded" in c.value for c in at.caption)


def test_a_bad_upload_shows_an_error_not_an_exception(app_env):
    at = run_page("score")
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.upload").set_value(("notes.mp4", b"these are my notes, not a video\n" * 40, "video/mp4")).run()
    assert not at.exception
    messages = problems(at)
    assert any("notes.mp4" in m and "not a decodable video" in m for m in messages), messages
    assert not at.get("plotly_chart")  # the page stopped after the message
    at.radio(key="score.source").set_value("Shipped sample").run()  # and keeps working
    assert_clean(at)


def test_render_button_and_presenter_mode_play_the_annotated_video(app_env):
    at = run_page("score")
    at.button(key="score.render_video").click().run()
    assert_clean(at)
    assert len(at.get("video")) == 1
    at.toggle(key="score.presenter").set_value(True).run()
    assert_clean(at)
    # one player (video + timeline that follows playback, in one frame), the verdict in big letters, downloads
    players = at.get("iframe")
    assert len(players) == 1 and not at.get("video") and not at.get("plotly_chart")
    html = players[0].proto.srcdoc
    assert 'id="vad-video"' in html and 'id="vad-timeline"' in html and "data:video/mp4;base64," in html
    assert any('id="vad-headline"' in m.value for m in at.markdown)
    assert {b.key for b in at.get("download_button")} >= {"score.download_csv", "score.download_video"}
    at.toggle(key="score.presenter").set_value(False).run()  # back: the page as it was
    assert_clean(at) and len(at.get("plotly_chart")) >= 1


def test_evaluate_page_shows_the_auc_that_api_evaluate_computes(app_env):
    at = run_page("evaluate")
    at.button(key="evaluate.run").click().run()
    assert_clean(at)
    checkpoint = at.multiselect(key="evaluate.checkpoints").value[0]
    expected = api.evaluate(api.load(checkpoint, device="cpu"), f"synthetic:{app_env['samples']}")
    shown = [m.value for m in at.metric if m.label == "Micro AUC"]
    assert shown == [f"{expected.micro_auc:.4f}"]
    assert [m.value for m in at.metric if m.label == "Macro AUC"] == [f"{expected.macro_auc:.4f}"]
    table = next(d.value for d in at.dataframe if "micro_auc" in d.value.columns)
    assert table["micro_auc"].iloc[0] == expected.micro_auc  # exactly, not just to 4 decimals


def test_evaluate_page_reports_labels_of_the_wrong_length(app_env):
    at = run_page("evaluate")
    at.radio(key="evaluate.truth").set_value("A clip and a labels file").run()
    at.file_uploader(key="evaluate.labels_upload").set_value(("short.csv", b"0\n1\n1\n0\n", "text/csv")).run()
    assert not at.exception
    assert any("4 labels" in m for m in problems(at)), problems(at)


def test_compare_page_overlays_one_timeline_per_model(app_env):
    at = run_page("compare")
    assert_clean(at)
    chosen = at.multiselect(key="compare.checkpoints").value
    lines = [t for t in chart_traces(at) if t.get("mode") == "lines" and t.get("name") != "chance"]
    assert len(lines) == len(chosen)
    n_frames = read_video(sample_path(app_env["samples"])).n_frames
    assert all(len(trace_values(t["y"])) == n_frames for t in lines)


def test_home_demo_scores_a_sample(app_env):
    at = run_page("home")
    at.button(key="home.demo_button").click().run()
    assert_clean(at)
    assert anomalous_count(at) >= 0 and at.get("plotly_chart")


def test_train_page_trains_a_tiny_model_and_home_lists_it(app_env):
    at = run_page("train")
    at.selectbox(key="train.family").set_value("conv_ae")
    at.number_input(key="train.epochs").set_value(1)
    at.number_input(key="train.max_steps").set_value(2)
    at.text_input(key="train.name").set_value("apptest_conv_ae")
    at.checkbox(key="train.evaluate_after").uncheck()
    at.checkbox(key="train.foreground").check()
    at.run()
    at.button(key="train.start").click().run()
    assert_clean(at)
    assert any("apptest_conv_ae" in s.value for s in at.success)
    saved = app_env["user"] / "apptest_conv_ae"
    assert saved.with_suffix(".safetensors").is_file() and saved.with_suffix(".json").is_file()
    assert json.loads(saved.with_suffix(".json").read_text())["model"] == "conv_ae"

    home = run_page("home")
    zoo = home.dataframe[0].value
    row = zoo[zoo["checkpoint"] == "apptest_conv_ae"]
    assert len(row) == 1 and row["origin"].iloc[0] == "yours" and row["family"].iloc[0] == "conv_ae"


def test_train_page_rejects_a_name_with_a_path(app_env):
    at = run_page("train")
    at.text_input(key="train.name").set_value("../../etc/evil").run()
    assert any("checkpoint name" in m for m in problems(at))
    assert at.button(key="train.start").disabled


def test_score_page_scores_a_ped2_clip_from_a_dataset_folder(app_env, monkeypatch):
    data = ROOT.parent / "shared" / "datasets"
    if not (data / "ped2" / "testing").is_dir():
        pytest.skip(f"UCSD Ped2 not found at {data / 'ped2'} (real-data tests need ../shared/datasets beside the repo)")
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(data))
    at = run_page("score")
    at.radio(key="score.source").set_value("Dataset clip").run()
    assert_clean(at)
    assert at.text_input(key="score.dataset_folder").value == str(data / "ped2")
    assert at.selectbox(key="score.dataset_clip").value == "testing/01"
    traces = chart_traces(at)
    score = next(t for t in traces if t.get("name") == "score")
    assert len(trace_values(score["y"])) == 180  # Ped2 test clip 01 has 180 frames
    assert any(t.get("name", "").startswith("true positive") for t in traces)  # ground truth from ped2.mat


def test_a_dataset_folder_outside_the_roots_is_refused_on_the_page(app_env):
    at = run_page("score")
    at.radio(key="score.source").set_value("Dataset clip").run()
    at.text_input(key="score.dataset_folder").set_value("/etc").run()
    assert not at.exception
    assert any("outside the folders this lab may read" in m for m in problems(at)), problems(at)


def test_a_corrupted_checkpoint_shows_an_error_and_the_zoo_keeps_working(app_env):
    import shutil

    source = next(p for p in sorted(app_env["checkpoints"].glob("*.json"))
                  if ".trainstate" not in p.name and p.with_suffix(".safetensors").exists()).with_suffix("")
    user = app_env["user"]
    user.mkdir(parents=True)
    broken = user / "broken"
    shutil.copyfile(source.with_suffix(".json"), broken.with_suffix(".json"))
    weights = bytearray(source.with_suffix(".safetensors").read_bytes())
    weights[-8:] = b"\x00" * 8  # flip the last bytes: the recorded sha256 no longer matches
    broken.with_suffix(".safetensors").write_bytes(bytes(weights))
    (user / "garbage.json").write_text("{not json")
    (user / "garbage.safetensors").write_bytes(b"nothing")

    home = run_page("home")
    assert not home.exception
    zoo = home.dataframe[0].value
    assert zoo.loc[zoo["checkpoint"] == "garbage", "problem"].iloc[0]  # listed with its error

    at = run_page("score")
    at.multiselect(key="score.checkpoints").set_value([str(broken)]).run()
    assert not at.exception
    assert any("broken" in m for m in problems(at)), problems(at)


def test_compare_page_clip_and_dataset_tabs_can_both_use_a_dataset_folder(app_env, monkeypatch):
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(app_env["samples"]))
    at = run_page("compare")
    at.radio(key="compare.source").set_value("Dataset clip")
    at.radio(key="compare.data_choice").set_value("A dataset folder").run()
    at.selectbox(key="compare.dataset_kind").set_value("folder")
    at.selectbox(key="compare.data.dataset_kind").set_value("folder").run()
    assert_clean(at)
    at.button(key="compare.run").click().run()
    assert_clean(at)
    chosen = at.multiselect(key="compare.checkpoints").value
    table = next(d.value for d in at.dataframe if "micro_auc" in d.value.columns)
    assert len(table) == len(chosen) and table["micro_auc"].between(0, 1).all()


def test_evaluate_opens_without_an_error_on_an_upload_without_labels(app_env, tmp_path):
    at = upload_on_score(tmp_path)
    at.switch_page("app_pages/evaluate.py").run()
    assert_clean(at)
    assert at.radio(key="evaluate.truth").value == "A clip and a labels file"
    assert any("no ground truth yet" in i.value for i in at.info)


def test_evaluate_page_scores_a_clip_against_an_uploaded_labels_file(app_env):
    from vadlab.metrics import evaluate

    labels = json.loads((app_env["samples"] / "testing" / "labels.json").read_text())["test_02"]
    at = run_page("evaluate")
    at.radio(key="evaluate.truth").set_value("A clip and a labels file").run()
    at.selectbox(key="evaluate.sample").set_value("testing/test_02").run()
    csv_text = "label\n" + "\n".join(str(v) for v in labels) + "\n"
    at.file_uploader(key="evaluate.labels_upload").set_value(("test_02.csv", csv_text.encode(), "text/csv")).run()
    assert_clean(at)
    checkpoint = at.multiselect(key="evaluate.checkpoints").value[0]
    scores = api.score_video(api.load(checkpoint, device="cpu"), sample_path(app_env["samples"], "test_02"), keep_maps=False)
    decided = np.asarray(scores.scored, dtype=bool)  # the paper protocol drops the undecidable first frames
    expected = evaluate({"test_02": scores.scores[decided]}, {"test_02": np.asarray(labels)[decided]})
    assert [m.value for m in at.metric if m.label == "Micro AUC"] == [f"{expected.micro_auc:.4f}"]


def test_score_page_with_two_models_overlays_their_timelines(app_env):
    import shutil

    source = next(p for p in sorted(app_env["checkpoints"].glob("*.json"))
                  if ".trainstate" not in p.name and p.with_suffix(".safetensors").exists()).with_suffix("")
    app_env["user"].mkdir(parents=True)
    twin = app_env["user"] / "twin"
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(source.with_suffix(suffix), twin.with_suffix(suffix))
    at = run_page("score")
    at.multiselect(key="score.checkpoints").set_value([str(source), str(twin)]).run()
    assert_clean(at)
    assert at.selectbox(key="score.detail").options == [source.name, "twin"]
    overlay = chart_traces(at, 1)
    lines = [t for t in overlay if t.get("mode") == "lines"]
    assert [t["name"] for t in lines] == [source.name, "twin"]
    np.testing.assert_allclose(trace_values(lines[0]["y"]), trace_values(lines[1]["y"]))  # same weights, same scores


# --------------------------------------------------------------------------- calibrated verdicts
def test_score_page_calibrated_verdict_by_default(cal_env):
    from vadlab.calibration import SCALE_CALIBRATED

    at = run_page("score")
    assert_clean(at)
    assert at.multiselect(key="score.checkpoints").value == [str(cal_env["calibrated"])]
    from vadlab.calibration import format_far

    stored = api.load(cal_env["calibrated"], device="cpu").calibration
    rule = stored.verdict_rule  # the model's own verdict rule is the default
    calibration = stored.for_key(rule.key)
    assert at.selectbox(key="score.normalize").value == "calibrated" and at.toggle(key="score.by_hand").value is False
    assert threshold_widget(at, "score").value == pytest.approx(calibration.threshold(rule.far))
    captions = [c.value for c in at.caption]
    assert any(SCALE_CALIBRATED.format(far=format_far(rule.far)) in c.lower() for c in captions), captions  # one sentence
    assert not any("no calibration" in w.value for w in at.warning)
    assert anomalous_count(at) == expected_flags(str(cal_env["calibrated"]), sample_path(cal_env["samples"]))

    # a normal clip (a training clip of the scene): no alert
    at.selectbox(key="score.sample").set_value("training/train_01").run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]  # no anomaly alert banner
    assert len(at.success) == 1 and at.success[0].value.startswith("No anomaly in train_01")

    # the rule set by hand: another false-alarm rate, and the slider starts again from its threshold
    at.toggle(key="score.by_hand").set_value(True).run()
    at.selectbox(key="score.far").set_value(1e-2).run()
    assert_clean(at)
    assert threshold_widget(at, "score").value == pytest.approx(stored.for_key("mean").threshold(1e-2))
    assert any(SCALE_CALIBRATED.format(far="1 in 100") in c.value.lower() for c in at.caption)


def test_score_page_falls_back_visibly_without_a_calibration(cal_env):
    at = run_page("score")
    at.multiselect(key="score.checkpoints").set_value([str(cal_env["uncalibrated"])]).run()
    assert_clean(at)
    fallback = [w.value for w in at.warning if "Fallback to per-video min-max" in w.value]
    assert len(fallback) == 1 and "no calibration" in fallback[0] and "conv_ae_uncalibrated" in fallback[0]
    assert threshold_widget(at, "score").key == "score.threshold" and threshold_widget(at, "score").value == 0.5
    assert anomalous_count(at) == expected_flags(str(cal_env["uncalibrated"]), sample_path(cal_env["samples"]))

    # with a calibrated model on the same clip: one slider on the calibrated scale; the other model
    # is flagged at min-max 0.5, and its note names it
    at.multiselect(key="score.checkpoints").set_value([str(cal_env["calibrated"]), str(cal_env["uncalibrated"])]).run()
    assert_clean(at)
    stored = api.load(cal_env["calibrated"], device="cpu").calibration
    rule = stored.verdict_rule
    assert threshold_widget(at, "score").value == pytest.approx(stored.for_key(rule.key).threshold(rule.far))
    fallback = [w.value for w in at.warning if "Fallback to per-video min-max" in w.value]
    assert len(fallback) == 1 and "conv_ae_uncalibrated" in fallback[0] and "threshold 0.50" in fallback[0]


def test_score_csv_header_records_protocol_threshold_and_calibration(cal_env):
    from vadlab import export
    from vadlab.ui import flag, verdict_meta

    loaded = api.load(cal_env["calibrated"], device="cpu")
    frame_scores = api.score_video(loaded, sample_path(cal_env["samples"]), keep_maps=False)
    flagged = flag(frame_scores, "key", calibration=loaded.calibration)
    verdict = api.verdict(loaded, frame_scores)  # what `vadlab score` decides with its defaults
    np.testing.assert_allclose(flagged.normalized, verdict.values)
    assert flagged.threshold == verdict.threshold and len(flagged.events) == len(verdict.events)
    header = dict(line[2:].split(": ", 1) for line in
                  export.scores_to_csv(frame_scores, flagged.normalized, flagged.threshold,
                                       meta=verdict_meta(flagged, "conv_ae_calibrated")).splitlines() if line.startswith("# "))
    assert header["checkpoint"] == "conv_ae_calibrated"
    rule = loaded.calibration.verdict_rule  # the model's own verdict rule, recorded in the header
    assert json.loads(header["protocol"]) == {"pooling": rule.key, "normalize": "calibrated", "smooth_sigma": rule.smooth_sigma,
                                              "min_length": rule.min_length, "merge_gap": rule.merge_gap}
    assert header["verdict_rule"] == rule.describe() and verdict.rule.short == rule.short
    assert json.loads(header["verdict"])["threshold"] == verdict.threshold and json.loads(header["verdict"])["far"] == rule.far
    assert json.loads(header["verdict"])["threshold_from"] == "the scale's default"
    calibration = json.loads(header["calibration"])
    assert calibration["frames"] == loaded.calibration.count and calibration["source"] == loaded.calibration.source

    uncalibrated = api.load(cal_env["uncalibrated"], device="cpu")
    meta = verdict_meta(flag(frame_scores, "key", calibration=uncalibrated.calibration), "conv_ae_uncalibrated")
    assert meta["calibration"] is None and meta["calibration_note"].startswith("no calibration")
    assert meta["protocol"]["normalize"] == "minmax"


def test_evaluate_page_protocol_explorer_matches_api_protocol_table(cal_env):
    from vadlab.protocol import PAPER, Protocol

    at = run_page("evaluate")
    at.button(key="evaluate.run").click().run()
    assert_clean(at)
    spec = f"synthetic:{cal_env['samples']}"
    loaded = api.load(cal_env["calibrated"], device="cpu")
    rows = api.protocol_table(loaded, spec)
    table = next(d.value for d in at.dataframe if "micro AUC" in d.value.columns)
    assert list(table["paper"]) == ["paper"] + [""] * (len(rows) - 1)  # the paper's protocol first
    assert list(table["protocol"]) == [r["protocol"]["description"] for r in rows]
    np.testing.assert_array_equal(table["micro AUC"].to_numpy(float), [r["micro_auc"] for r in rows])
    np.testing.assert_array_equal(table["macro AUC"].to_numpy(float), [r["macro_auc"] for r in rows])
    np.testing.assert_array_equal(table["EER"].to_numpy(float), [r["eer"] for r in rows])
    assert any(c.value == f"Protocol: {PAPER.describe()}." for c in at.caption)
    roc = [t["name"] for t in chart_traces(at, len(at.get("plotly_chart")) - 1) if t.get("mode") == "lines"]
    assert [n.split(" (AUC")[0] for n in roc if n != "chance"] == [f"A: {rows[0]['protocol']['description']}",
                                                                    f"B: {rows[1]['protocol']['description']}"]

    # another protocol: the headline numbers follow it, from the cached scores
    at.selectbox(key="evaluate.protocol.pooling").set_value("patch").run()
    at.selectbox(key="evaluate.protocol.normalize").set_value("calibrated").run()
    assert_clean(at)
    protocol = Protocol(pooling="patch", patch=16, normalize="calibrated")
    expected = api.evaluate(loaded, spec, protocol=protocol)
    assert [m.value for m in at.metric if m.label == "Micro AUC"] == [f"{expected.micro_auc:.4f}"]
    assert any(c.value == f"Protocol: {protocol.describe()}." for c in at.caption)


def test_a_supervised_checkpoint_is_flagged_in_sample_on_evaluate_and_compare(app_env):
    supervised = app_env["checkpoints"] / "lrcn_gan_synthetic"
    if not supervised.with_suffix(".safetensors").exists():
        pytest.skip("no shipped lrcn_gan_synthetic checkpoint")
    for page, button in (("evaluate", "evaluate.run"), ("compare", "compare.run")):
        at = run_page(page)
        at.multiselect(key=f"{page}.checkpoints").set_value([str(supervised)]).run()
        at.button(key=button).click().run()
        assert_clean(at)
        in_sample = [w.value for w in at.warning if w.value.startswith("**In-sample:**")]
        assert len(in_sample) == 1 and "lrcn_gan_synthetic" in in_sample[0] and "`vadlab cv" in in_sample[0], in_sample


# --------------------------------------------------------------- the first ten minutes (issue 9)
def run_app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()


def shipped(name: str) -> Path:
    path = ROOT / "checkpoints" / name
    if not path.with_suffix(".safetensors").exists():
        pytest.skip(f"no shipped {name} checkpoint")
    return path


def test_score_page_picks_the_model_of_the_clip_and_says_why(app_env):
    shipped("ffp_synthetic")
    at = run_page("score")
    assert_clean(at)
    chosen = at.multiselect(key="score.checkpoints").value
    meta = json.loads(Path(chosen[0] + ".json").read_text())
    assert meta["training"]["data"].startswith("synthetic:"), chosen  # the sample clip's own scene
    why = next(c.value for c in at.caption if c.value.startswith("Chosen for this clip:"))
    assert Path(chosen[0]).name in why and "trained on this clip's dataset" in why


def test_score_page_picks_a_ped2_model_for_a_ped2_clip(app_env, monkeypatch):
    data = ROOT.parent / "shared" / "datasets"
    if not (data / "ped2" / "testing").is_dir():
        pytest.skip(f"UCSD Ped2 not found at {data / 'ped2'}")
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(data))
    at = run_page("score")
    at.radio(key="score.source").set_value("Dataset clip").run()
    at.selectbox(key="score.dataset_clip").set_value("testing/04").run()
    assert_clean(at)
    chosen = at.multiselect(key="score.checkpoints").value[0]
    assert json.loads(Path(chosen + ".json").read_text())["training"]["data"].startswith("ped2:")
    # UCSD's camera rate for its frame folders: 180 frames are 18.0 s, not 7.2 s at an assumed 25 fps
    assert "180 frames, 360×240 px, 10 fps, 18.0 s" in [c.value for c in at.caption]
    score = next(t for t in chart_traces(at) if t.get("name") == "score")
    assert "10 fps" in json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["xaxis"])
    assert len(trace_values(score["y"])) == 180


def test_a_frame_folder_of_no_known_dataset_says_its_rate_is_assumed(app_env, monkeypatch, tmp_path):
    from PIL import Image

    clip = tmp_path / "data" / "mine" / "testing" / "clip_a"
    clip.mkdir(parents=True)
    for i in range(12):
        Image.fromarray(np.full((48, 64, 3), 40 + 10 * i, np.uint8)).save(clip / f"{i:03d}.png")
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "data"))
    at = run_page("score")
    at.radio(key="score.source").set_value("Dataset clip").run()
    at.selectbox(key="score.dataset_kind").set_value("folder").run()
    at.text_input(key="score.dataset_folder").set_value(str(tmp_path / "data" / "mine")).run()
    assert not at.exception
    assert any("25 fps (assumed: frame images carry no frame rate)" in c.value for c in at.caption), [c.value for c in at.caption]


def test_dataset_kinds_know_their_camera_rates(ped2_dir):
    from vadlab.data.datasets import dataset_fps, load_dataset

    assert (dataset_fps("ped2"), dataset_fps("ucsd"), dataset_fps("avenue"), dataset_fps("shanghaitech")) == (10.0, 10.0, 25.0, 24.0)
    assert dataset_fps("folder") is None and dataset_fps("synthetic") is None
    assert load_dataset(f"ped2:{ped2_dir}").fps == 10.0


def test_every_line_of_a_timeline_is_clickable_and_a_click_moves_the_frame(app_env, tmp_path):
    clip = write_mp4(tmp_path / "walk.mp4", n_frames=16)
    at = run_page("score")
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.upload").set_value(("walk.mp4", clip.read_bytes(), "video/mp4")).run()
    assert_clean(at)
    traces = chart_traces(at)
    targets = [t for t in traces if t.get("mode") == "markers" and t.get("name", "").endswith(" · frames")]
    assert len(targets) == 1 and len(trace_values(targets[0]["x"])) == 16  # one clickable point per frame, no ground truth
    assert next(t for t in traces if t.get("name") == "score").get("hoverinfo") == "skip"  # the points answer hover
    # a click (plotly's selection of the point of frame 5) moves the frame slider and the panels
    at.session_state["score.timeline"] = {"selection": {"points": [{"x": 5, "y": 0.1, "curve_number": 4}]}}
    at.run()
    assert at.slider(key="score.frame").value == 5
    assert any(m.value.startswith("**Frame 5** (t = 0.50 s)") for m in at.markdown)
    at.slider(key="score.frame").set_value(9).run()  # the slider still moves freely after a click
    assert at.slider(key="score.frame").value == 9


def test_the_working_context_follows_the_user_from_score_to_explain_and_back(app_env, tmp_path):
    at = run_app()
    at.switch_page("app_pages/score.py").run()
    at.selectbox(key="score.sample").set_value("testing/test_02").run()
    model = at.multiselect(key="score.checkpoints").value[0]
    at.slider(key="score.frame").set_value(33).run()
    at.switch_page("app_pages/explain.py").run()
    assert_clean(at)
    assert at.selectbox(key="explain.sample").value == "testing/test_02"
    assert at.selectbox(key="explain.checkpoint").value == model and at.slider(key="explain.frame").value == 33
    # Explain on another model starts at that model's most anomalous frame
    other = next(str(p.with_suffix("")) for p in sorted(app_env["checkpoints"].glob("*.safetensors"))
                 if str(p.with_suffix("")) != model and ".trainstate" not in p.name)
    at.selectbox(key="explain.checkpoint").set_value(other).run()
    assert_clean(at)
    peak = int(np.argmax(trace_values(next(t for t in chart_traces(at) if t.get("name") == "score")["y"])))
    assert at.slider(key="explain.frame").value == peak
    # back on Score: the clip, and the model chosen on Explain
    at.switch_page("app_pages/score.py").run()
    assert at.selectbox(key="score.sample").value == "testing/test_02"
    assert at.multiselect(key="score.checkpoints").value == [other]
    # Evaluate starts on the clip's dataset with the same model
    at.switch_page("app_pages/evaluate.py").run()
    assert at.multiselect(key="evaluate.checkpoints").value == [other]
    assert at.radio(key="evaluate.data_choice").value == "Shipped sample videos"


def upload_on_score(tmp_path) -> AppTest:
    """The whole app, with a 16-frame clip walk.mp4 uploaded on the Score page."""
    clip = write_mp4(tmp_path / "walk.mp4", n_frames=16)
    at = run_app()
    at.switch_page("app_pages/score.py").run()
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.upload").set_value(("walk.mp4", clip.read_bytes(), "video/mp4")).run()
    return at


def test_score_explain_and_presenter_show_one_calibrated_number_for_a_frame(app_env):
    at = run_app()
    at.switch_page("app_pages/score.py").run()
    at.selectbox(key="score.sample").set_value("testing/test_02").run()
    at.slider(key="score.frame").set_value(40).run()
    shown = next(m.value for m in at.markdown if m.value.startswith("**Frame 40**"))
    sigma = re.search(r"score (-?\d+\.\d\d σ)", shown).group(1)  # e.g. "score 5.07 σ → ANOMALOUS"
    at.toggle(key="score.presenter").set_value(True).run()
    assert_clean(at)
    player = json.loads(re.search(r"const D = (\{.*?\});", at.get("iframe")[0].proto.srcdoc).group(1))
    assert player["unit"] == " σ" and f"{player['values'][40]:.2f} σ" == sigma  # the presenter readout
    at.toggle(key="score.presenter").set_value(False).run()
    at.switch_page("app_pages/explain.py").run()
    assert_clean(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Score of frame 40:"))
    assert f"**{sigma} (raw " in caption  # the same number, the raw score beside it


def test_an_upload_stays_for_the_whole_session(app_env, tmp_path):
    at = upload_on_score(tmp_path)
    at.switch_page("app_pages/home.py").run()
    at.switch_page("app_pages/explain.py").run()
    assert_clean(at)
    assert at.radio(key="explain.source").value == "Upload"
    assert at.selectbox(key="explain.upload_pick").options == ["walk.mp4"]
    at.switch_page("app_pages/score.py").run()
    assert_clean(at)
    assert len(trace_values(next(t for t in chart_traces(at) if t.get("name") == "score")["y"])) == 16


def test_home_demo_runs_the_best_sample_model_on_a_clip_where_it_shines(app_env):
    shipped("ffp_synthetic")
    at = run_page("home")
    at.button(key="home.demo_button").click().run()
    assert_clean(at)
    explanation = at.info[0].value
    model = re.match(r"\*\*(\S+)\*\*", explanation).group(1)
    assert json.loads((app_env["checkpoints"] / f"{model}.json").read_text())["training"]["data"].startswith("synthetic:")
    assert "watch the red alert band" in explanation
    f1 = float(re.search(r"F1 (\d\.\d\d)", next(c.value for c in at.caption if "Against the ground truth" in c.value)).group(1))
    assert f1 >= 0.9
    assert at.get("plotly_chart") and len(at.get("image")) == 3


def test_zoo_table_gives_auc_per_evaluation_dataset_and_shows_every_row(app_env):
    at = run_page("home")
    assert_clean(at)
    zoo = at.dataframe[0].value
    auc_columns = [c for c in zoo.columns if " AUC · " in c]
    assert "micro AUC · synthetic" in auc_columns and "macro AUC · synthetic" in auc_columns
    assert "AUC" not in zoo.columns and "protocol" in zoo.columns
    for column in auc_columns:
        assert zoo[column].dtype.kind == "f"  # numbers: the column sorts as numbers
    for _, row in zoo.iterrows():
        meta = json.loads((app_env["checkpoints"] / f"{row['checkpoint']}.json").read_text())
        metrics = meta.get("metrics") or {}
        if metrics.get("micro_auc") is not None:
            kind, _, rest = metrics["eval_data"].partition(":")  # plain folders are labelled by their name
            label = rest.rstrip("/").split("/")[-1] if kind == "folder" else kind
            assert row[f"micro AUC · {label}"] == pytest.approx(metrics["micro_auc"])
            assert row[f"macro AUC · {label}"] == pytest.approx(metrics["macro_auc"])
            assert row["protocol"] == (metrics.get("protocol") or {}).get("short", "not recorded")
    if (app_env["checkpoints"] / "lrcn_gan_synthetic.json").exists():
        row = zoo[zoo["checkpoint"] == "lrcn_gan_synthetic"].iloc[0]
        assert row["protocol"] == "supervised: see cross-validation" and np.isnan(row["micro AUC · synthetic"])
    # every row visible (no inner scrolling): measured in the browser by tests/browser/test_browser_student.py


def test_evaluate_keeps_dataset_scores_on_disk_and_a_second_visit_shows_at_once(app_env, score_cache):
    from vadlab.ui.cache import result_store

    def restart() -> None:  # what a restarted server has in memory: nothing
        for key in [k for k in result_store().keys() if k[0] in ("dataset", "scores")]:
            result_store()._items.pop(key)

    restart()
    at = run_page("evaluate")
    at.button(key="evaluate.run").click().run()
    assert_clean(at)
    first = [m.value for m in at.metric if m.label == "Micro AUC"]
    assert list(score_cache.glob("*.npz")) and list(score_cache.glob("*.json"))
    summary = json.loads(next(score_cache.glob("*.json")).read_text())
    assert summary["protocol"] == "frame-mean|minmax|s0|drop|micro" and summary["micro_auc"] is not None

    restart()
    again = run_page("evaluate")  # no button press: the scores are on disk
    assert_clean(again)
    assert [m.value for m in again.metric if m.label == "Micro AUC"] == first
    assert any("computed before" in c.value for c in again.caption)
    checkpoint = again.multiselect(key="evaluate.checkpoints").value[0]
    expected = api.evaluate(api.load(checkpoint, device="cpu"), f"synthetic:{app_env['samples']}")
    assert first == [f"{expected.micro_auc:.4f}"]


def test_training_progress_names_the_data_loading_phase(app_env):
    import time as time_module

    from vadlab.ui import training
    from vadlab.ui.training_view import training_progress_text

    request = training.TrainRequest(family="conv_ae", preset="tiny", data=f"synthetic:{app_env['samples']}",
                                    out=app_env["user"] / "x", epochs=1)
    job = training.new_job(request)
    job.status, job.started = "running", time_module.time() - 7
    assert "loading the training data (7 s)" in training_progress_text(job, now=job.started + 7)
    job.step, job.total_steps = 3, 10
    assert training_progress_text(job).startswith("conv_ae (tiny) · step 3 of 10")


def test_an_error_names_its_subject_once():
    from vadlab.ui.errors import with_context

    assert with_context("Scoring 04", "04: 180 labels for 179 frames") == "Scoring 04: 180 labels for 179 frames"
    assert with_context("Scoring 04", "no video stream") == "Scoring 04: no video stream"
    assert with_context("", "04: x") == "04: x"
