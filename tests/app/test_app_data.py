"""The Data page and the user-dataset flows with AppTest (no browser): making a dataset from uploads
(a bad file refused by name, the good ones kept), labelling a test clip (spans added, edited,
removed, saved as testing/labels.json; a labels file imported; downloads), rename and delete behind a
confirmation, then training on the dataset from the Train page (from scratch and from a shipped
checkpoint), the checkpoint in the zoo with its dataset, and Evaluate on the dataset.

Everything is written to temporary folders (VADLAB_USER_DATA, VADLAB_USER_CHECKPOINTS)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vadlab.data.datasets import load_dataset
from vadlab.data.synthetic import generate_clip
from vadlab.data.writer import write_video
from vadlab import paths
from vadlab.ui.errors import ERROR_ICON
from vadlab.userdata import UserData, labels_to_spans

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180
N_FRAMES = 120


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    """Three normal clips and one anomalous clip of one synthetic scene (mp4 bytes), small."""
    folder = tmp_path_factory.mktemp("data_clips")
    out = {}
    for name, seed, anomalies in (("normal_1", 1, ()), ("normal_2", 2, ()), ("normal_3", 3, ()),
                                  ("cart", 7, ("large_object",))):
        clip = generate_clip(seed, n_frames=N_FRAMES, width=96, height=72, scene_seed=0, anomalies=anomalies)
        out[name] = write_video(folder / f"{name}.mp4", clip.frames, 10).read_bytes()
        if anomalies:
            out["cart_labels"] = clip.labels
    return out


@pytest.fixture
def data_env(monkeypatch, tmp_path) -> dict:
    shipped = ROOT / "checkpoints"
    monkeypatch.setenv(paths.USER_DATA_ENV, str(tmp_path / "user_data"))
    monkeypatch.setenv(paths.USER_CHECKPOINTS_ENV, str(tmp_path / "user_checkpoints"))
    monkeypatch.setenv(paths.CHECKPOINTS_ENV, str(shipped))
    if (ROOT / "sample_videos" / "testing").is_dir():
        monkeypatch.setenv(paths.SAMPLES_ENV, str(ROOT / "sample_videos"))
    return {"user_data": tmp_path / "user_data", "user_checkpoints": tmp_path / "user_checkpoints", "shipped": shipped}


@pytest.fixture
def street(data_env, clips) -> UserData:
    """A dataset 'street' made through the core API: three normal clips, one test clip."""
    store = UserData(data_env["user_data"])
    store.add_uploads("street", [(f"normal_{i}.mp4", clips[f"normal_{i}"]) for i in (1, 2, 3)], "training")
    store.add_uploads("street", [("cart.mp4", clips["cart"])], "testing")
    return store


def run_page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / f"{name}.py"), default_timeout=TIMEOUT).run()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.error if e.icon == ERROR_ICON]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not problems(at), problems(at)


def spans_key(dataset: str, clip: str) -> str:
    return f"data.spans|{dataset}|{clip}"


def span_start_keys(at: AppTest, key: str) -> list[str]:
    """The keys of the span rows' start inputs, in list order."""
    return [n.key for n in at.number_input if n.key.startswith(f"{key}|span") and n.key.endswith("|start")]


# ---------------------------------------------------------------------------------------- datasets
def test_the_data_page_makes_a_dataset_from_uploads_and_names_the_refused_file(data_env, clips):
    at = run_page("data")
    assert_clean(at)
    assert any("No datasets yet" in i.value for i in at.info)
    at.text_input(key="data.new_name").set_value("street")
    at.file_uploader(key="data.normal_upload").set_value(
        [("normal_1.mp4", clips["normal_1"], "video/mp4"), ("notes.mp4", b"my notes, not a video\n" * 80, "video/mp4"),
         ("normal_2.mp4", clips["normal_2"], "video/mp4")])
    at.file_uploader(key="data.test_upload").set_value([("cart.mp4", clips["cart"], "video/mp4")])
    at.button[0].click().run()  # the form's "Add clips"
    assert not at.exception, [e.value for e in at.exception]
    assert problems(at) == ["notes.mp4: not a decodable video (looks like text); give a real video file"]
    added = [s.value for s in at.success]
    assert any("normal_1 (120 frames, 96×72), normal_2 (120 frames, 96×72)" in s and "normal (training)" in s for s in added)
    assert any("cart (120 frames" in s for s in added)

    overview = at.dataframe[0].value
    assert overview.to_dict("records") == [{"dataset": "street", "normal clips": 2, "test clips": 1,
                                            "labelled test clips": 0, "frames": 360, "duration (s)": 36.0,
                                            "resolution": "96×72"}]
    assert at.selectbox(key="data.dataset").value == "street"
    folder = data_env["user_data"] / "street"
    assert sorted(p.name for p in (folder / "training").iterdir()) == ["normal_1.mp4", "normal_2.mp4"]
    assert [r.name for r in load_dataset(f"folder:{folder}").test] == ["cart"]

    # a name that would escape the folder: refused, nothing written, the form keeps working
    at.text_input(key="data.new_name").set_value("../outside")
    assert at.file_uploader(key="data.normal_upload.1").value in (None, [])  # clips added: the uploaders start empty
    at.file_uploader(key="data.normal_upload.1").set_value([("normal_3.mp4", clips["normal_3"], "video/mp4")])
    at.button[0].click().run()
    assert any("cannot contain '/'" in p for p in problems(at))
    assert not (data_env["user_data"].parent / "outside").exists()


def test_a_submit_without_a_name_keeps_the_chosen_files(data_env, clips):
    """(Enter in the name field no longer submits the form: `enter_to_submit=False`, checked in a real
    browser by tests/browser/test_browser_flows.py.) A click on "Add clips" without a name warns and keeps
    the files; once named, the same files are added."""
    at = run_page("data")
    at.file_uploader(key="data.normal_upload").set_value([("normal_1.mp4", clips["normal_1"], "video/mp4")])
    at.button[0].click().run()
    assert_clean(at)
    assert any("Give the dataset a name" in w.value for w in at.warning)
    assert [f.name for f in at.file_uploader(key="data.normal_upload").value] == ["normal_1.mp4"]
    assert not data_env["user_data"].exists() or not any(data_env["user_data"].iterdir())
    at.text_input(key="data.new_name").set_value("lobby")
    at.button[0].click().run()
    assert_clean(at)
    assert (data_env["user_data"] / "lobby" / "training" / "normal_1.mp4").is_file()


def test_a_dataset_made_on_the_data_page_is_offered_on_score_and_followed_by_train_and_evaluate(street, data_env, clips):
    store = UserData(data_env["user_data"])
    store.add_uploads("lobby", [("normal_1.mp4", clips["normal_1"])], "training")  # an older dataset
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/data.py").run()
    at.selectbox(key="data.dataset").set_value("street").run()  # the dataset the user works on
    assert_clean(at)
    assert "--out " + paths.display_path(data_env["user_checkpoints"] / "street_conv_ae") in " ".join(
        c.value for c in at.caption)  # the CLI hint writes where the app lists models
    at.switch_page("app_pages/train.py").run()
    assert_clean(at)
    assert at.radio(key="train.data_choice").value == "Your datasets"
    assert at.selectbox(key="train.user_dataset").value == "street"
    at.switch_page("app_pages/evaluate.py").run()
    assert at.radio(key="evaluate.data_choice").value == "Your datasets"
    assert at.selectbox(key="evaluate.user_dataset").value == "street"
    at.switch_page("app_pages/score.py").run()
    at.radio(key="score.source").set_value("Your datasets").run()
    assert_clean(at)
    assert at.selectbox(key="score.user_dataset").value == "street"
    assert at.selectbox(key="score.dataset_clip").options == ["testing/cart", "training/normal_1", "training/normal_2",
                                                              "training/normal_3"]
    # choosing another dataset on Score: Train follows it too
    at.selectbox(key="score.user_dataset").set_value("lobby").run()
    at.switch_page("app_pages/train.py").run()
    assert at.selectbox(key="train.user_dataset").value == "lobby"


def test_labelling_a_clip_adds_edits_removes_and_saves_spans(street, clips):
    at = run_page("data")
    assert_clean(at)
    assert at.selectbox(key="data.label_clip").value == "cart"
    key = spans_key("street", "cart")
    truth = clips["cart_labels"]
    (start, end), = labels_to_spans(truth)

    # a span typed as numbers
    at.number_input(key=f"{key}|new_start").set_value(start - 5)
    at.number_input(key=f"{key}|new_end").set_value(end)
    at.button(key=f"{key}|add").click().run()
    assert_clean(at)
    assert any("Unsaved changes" in w.value for w in at.warning)
    # a second span marked with the frame slider, then removed
    at.slider(key="data.frame|street|cart").set_value(100).run()
    at.button(key=f"{key}|mark_start").click().run()
    at.slider(key="data.frame|street|cart").set_value(110).run()
    at.button(key=f"{key}|mark_end").click().run()
    rows = span_start_keys(at, key)
    assert [at.number_input(key=k).value for k in rows] == [start - 5, 100]
    at.button(key=rows[1].replace("|start", "|remove")).click().run()
    # the first span edited: its start moved to the true start
    at.number_input(key=rows[0]).set_value(start).run()
    at.button(key=f"{key}|save").click().run()
    assert_clean(at)
    assert any("Saved the labels of cart: 1 anomalous span" in s.value for s in at.success)
    saved = json.loads((street.root / "street" / "testing" / "labels.json").read_text())
    assert np.array_equal(saved["cart"], truth)

    # the timeline shows the ground-truth band; the dataset loads with the labels
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bands = [s for s in spec["layout"]["shapes"] if s.get("type") == "rect"]
    assert {(round(b["x0"] + 0.5), round(b["x1"] - 0.5)) for b in bands} == {(start, end)}
    assert np.array_equal(load_dataset(street.spec("street")).test_labels()["cart"], truth)

    # an end before the start is refused before saving
    at.number_input(key=rows[0]).set_value(end + 1).run()
    assert any("ends (frame" in p for p in problems(at)) and at.button(key=f"{key}|save").disabled


def test_a_labels_file_is_imported_and_the_labels_download(street):
    at = run_page("data")
    csv_text = "label\n" + "\n".join("1" if 40 <= i <= 59 else "0" for i in range(N_FRAMES))
    at.file_uploader(key="data.labels_upload").set_value(("cart.csv", csv_text.encode(), "text/csv")).run()
    at.button(key="data.import_labels").click().run()
    assert_clean(at)
    assert any("Imported labels from cart.csv for: cart" in s.value for s in at.success)
    assert labels_to_spans(street.labels("street")["cart"]) == [(40, 59)]
    key = spans_key("street", "cart")
    rows = span_start_keys(at, key)
    assert [at.number_input(key=k).value for k in rows] == [40]
    downloads = at.get("download_button")
    assert len(downloads) == 2  # labels.json of the dataset, cart.csv

    bad = ("cart.csv", b"0\n1\n", "text/csv")
    at.file_uploader(key="data.labels_upload").set_value(bad).run()
    at.button(key="data.import_labels").click().run()
    assert any("2 labels for 'cart' but the clip has 120 frames" in p for p in problems(at))


def test_rename_and_delete_ask_for_confirmation(street):
    at = run_page("data")
    at.text_input(key="data.rename_to").set_value("plaza").run()
    at.button(key="data.rename").click().run()
    assert_clean(at)
    assert street.names() == ["plaza"] and at.selectbox(key="data.dataset").value == "plaza"
    assert any("Renamed street to plaza" in s.value for s in at.success)
    assert at.button(key="data.delete").disabled
    at.checkbox(key="data.confirm_delete.plaza").check().run()
    at.button(key="data.delete").click().run()
    assert_clean(at)
    assert street.names() == [] and any("Deleted plaza" in s.value for s in at.success)


# ---------------------------------------------------------------------------------------- training
def test_the_train_page_trains_on_a_user_dataset_and_the_zoo_and_evaluate_see_it(street, data_env):
    street.save_spans("street", "cart", [(30, 86)])
    at = run_page("train")
    assert_clean(at)
    at.radio(key="train.data_choice").set_value("Your datasets").run()
    assert at.selectbox(key="train.user_dataset").value == "street"
    at.selectbox(key="train.family").set_value("conv_ae")
    at.number_input(key="train.epochs").set_value(1)
    at.number_input(key="train.max_steps").set_value(3)
    at.text_input(key="train.name").set_value("street_conv_ae")
    at.checkbox(key="train.foreground").check()
    at.button(key="train.start").click().run()
    assert_clean(at)
    assert any("trained on: **your dataset street**" in c.value and "from scratch" in c.value for c in at.caption)
    meta = json.loads((data_env["user_checkpoints"] / "street_conv_ae.json").read_text())
    assert meta["training"]["data"] == street.spec("street") and meta["training"]["videos"] == 3
    assert meta["metrics"]["eval_data"] == street.spec("street")  # evaluated on the labelled test clip

    # from a shipped checkpoint of the same family and preset
    shipped = data_env["shipped"] / "conv_ae_synthetic.json"
    if shipped.exists():
        at.radio(key="train.start_from").set_value("A checkpoint (knowledge transfer)").run()
        assert at.selectbox(key="train.init_from").value.endswith("conv_ae_synthetic")
        at.text_input(key="train.name").set_value("street_conv_ae_ft")
        at.button(key="train.start").click().run()
        assert_clean(at)
        assert any("started from conv_ae_synthetic" in c.value for c in at.caption)
        tuned = json.loads((data_env["user_checkpoints"] / "street_conv_ae_ft.json").read_text())
        assert tuned["training"]["init_from"].endswith("conv_ae_synthetic")

    home = run_page("home")
    rows = [r for r in home.dataframe[0].value.to_dict("records") if r["checkpoint"] == "street_conv_ae"]
    assert rows and rows[0]["trained on"] == "folder:street" and rows[0]["origin"] == "yours"

    ev = run_page("evaluate")
    ev.multiselect(key="evaluate.checkpoints").set_value([str(data_env["user_checkpoints"] / "street_conv_ae")])
    ev.radio(key="evaluate.data_choice").set_value("Your datasets").run()
    ev.button(key="evaluate.run").click().run()
    assert_clean(ev)
    micro = next(m for m in ev.metric if m.label == "Micro AUC")
    assert 0.0 <= float(micro.value) <= 1.0
    assert any("test frames, 57 anomalous" in c.value for c in ev.caption)  # span 30-86: 57 frames


def test_this_is_normal_on_score_keeps_the_frames_and_recalibrates_a_copy(data_env, tmp_path):
    """A false alarm marked on Score: its frames become normal footage of the named dataset (with the
    feedback log), the shipped checkpoint is copied into the user's folder and recalibrated there,
    the page then uses that copy and the marked alert is gone."""
    from vadlab import feedback

    clip = generate_clip(301, n_frames=60, scene_seed=7)  # normal footage of a walkway no model has seen
    video = write_video(tmp_path / "cam.mp4", clip.frames, 10)
    at = run_page("score")
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.upload").set_value(("cam.mp4", video.read_bytes(), "video/mp4")).run()
    assert_clean(at)
    model = at.multiselect(key="score.checkpoints").value[0]
    event = at.selectbox(key="score.feedback_event").options[0]  # "1: frames a–b (...)"
    start, end = (int(v) for v in event.split("frames ")[1].split(" ")[0].split("–"))
    at.text_input(key="score.feedback_dataset").set_value("lobby")
    at.button(key="score.false_alarm").click().run()
    assert_clean(at)
    copy = str((data_env["user_checkpoints"] / f"{Path(model).name}_lobby").resolve())
    assert at.multiselect(key="score.checkpoints").value == [copy]  # the recalibrated copy is the model in use
    notice = next(s.value for s in at.success if "recalibrated" in s.value)
    assert "Kept" in notice and "lobby" in notice and "→" in notice
    store = UserData(data_env["user_data"])
    (entry,) = feedback.log(store, "lobby")
    assert entry["source"] == "cam.mp4" and entry["frames"] == [start, end] and entry["checkpoint"] == model
    assert [c.name for c in store.info("lobby").split("training")] == [entry["clip"]]
    assert json.loads(Path(copy + ".json").read_text())["calibration"]["data"] == store.spec("lobby")
    before, after = (int(v) for v in re.search(r"Alert events on this clip: (\d+) → (\d+)", notice).groups())
    assert after < before
    # the marked alert is gone: no event left overlaps its frames
    for options in [s.options for s in at.selectbox if s.key == "score.feedback_event"]:
        for option in options:
            a, b = (int(v) for v in option.split("frames ")[1].split(" ")[0].split("–"))
            assert b < start or a > end, (option, start, end)
