"""The user data folder (vadlab.userdata): datasets made from uploads, hostile uploads refused one by
one with a message naming the file, nothing written outside the folder, labels as the dataset's
labels file, and the `folder:` spec that the API and the CLI read. Real clips are generated and
encoded here (small: 48 frames of 64x48)."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vadlab.data.datasets import load_dataset
from vadlab.data.synthetic import generate_clip
from vadlab.data.writer import write_video
from vadlab.userdata import (
    Limits,
    UserData,
    UserDataError,
    clip_name_for,
    labels_to_spans,
    spans_to_labels,
    validate_name,
)

ROOT = Path(__file__).resolve().parents[2]
N_FRAMES = 48


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    """Encoded mp4 bytes: two normal clips and one anomalous clip of one scene; plus the anomalous
    clip's labels (as JSON bytes) and its frames as a zip of PNGs."""
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for name, seed, anomalies in (("walk_a", 1, ()), ("walk_b", 2, ()), ("cart", 3, ("large_object",))):
        clip = generate_clip(seed, n_frames=N_FRAMES, width=64, height=48, scene_seed=0, anomalies=anomalies)
        path = write_video(folder / f"{name}.mp4", clip.frames, 10)
        out[name] = path.read_bytes()
        if anomalies:
            out["cart_labels"] = clip.labels
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for i, frame in enumerate(clip.frames[:12]):
                    png = io.BytesIO()
                    Image.fromarray(frame).save(png, format="PNG")
                    archive.writestr(f"cart_frames/{i:03d}.png", png.getvalue())
            out["frames_zip"] = buffer.getvalue()
    return out


@pytest.fixture
def store(tmp_path) -> UserData:
    return UserData(tmp_path / "sandbox" / "user_data")


def files_outside(store: UserData, tmp_path: Path) -> list[Path]:
    """Every file under tmp_path that is not inside the user data folder."""
    root = store.root.resolve()
    return [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.resolve().parents]


def zip_bytes(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def png_bytes(value: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- hostile uploads
def test_a_text_file_renamed_mp4_is_refused_by_name_and_the_good_clips_are_kept(store, clips, tmp_path):
    notes = b"meeting notes, definitely not a video\n" * 50
    report = store.add_uploads("street", [("walk_a.mp4", clips["walk_a"]), ("notes.mp4", notes),
                                          ("walk_b.mp4", clips["walk_b"])], split="training")
    assert [c.name for c in report.added] == ["walk_a", "walk_b"]
    assert len(report.refused) == 1
    filename, message = report.refused[0]
    assert filename == "notes.mp4" and message.startswith("notes.mp4:") and "not a decodable video" in message
    info = store.info("street")
    assert [c.name for c in info.split("training")] == ["walk_a", "walk_b"]
    assert info.frames == 2 * N_FRAMES and info.resolutions == ["64×48"]
    assert info.summary()["normal clips"] == 2 and info.summary()["duration (s)"] == pytest.approx(9.6)
    assert not (store.root / ".staging").exists()  # nothing left behind
    assert sorted(p.name for p in (store.root / "street" / "training").iterdir()) == ["walk_a.mp4", "walk_b.mp4"]
    assert files_outside(store, tmp_path) == []


def test_a_zip_with_a_parent_path_entry_is_refused_and_nothing_escapes(store, clips, tmp_path):
    hostile = zip_bytes({"frames/000.png": png_bytes(), "../../x.jpg": png_bytes(200)})
    report = store.add_uploads("street", [("walk_a.mp4", clips["walk_a"]), ("evil.zip", hostile)])
    assert [c.name for c in report.added] == ["walk_a"]
    (filename, message), = report.refused
    assert filename == "evil.zip" and message.startswith("evil.zip:") and "'../../x.jpg'" in message
    assert "refusing the zip" in message
    assert not list(tmp_path.rglob("x.jpg")) and files_outside(store, tmp_path) == []
    assert not (store.root / "street" / "training" / "evil").exists()

    for name in ("/etc/cron.d/x.jpg", "C:/Windows/x.jpg", "a/../../x.jpg"):
        report = store.add_uploads("street", [(f"abs.zip", zip_bytes({name: png_bytes()}))])
        assert report.refused and "unsafe entry" in report.refused[0][1], name
    assert files_outside(store, tmp_path) == []


def test_a_zip_with_a_symlink_entry_is_refused(store, clips, tmp_path):
    report = store.add_uploads("street", [("links.zip", zip_bytes({"f/000.png": png_bytes()}, symlink="f/001.png"))])
    (filename, message), = report.refused
    assert filename == "links.zip" and "symbolic link" in message
    assert not store.root.joinpath("street").exists()  # a new dataset with nothing accepted is not kept
    assert files_outside(store, tmp_path) == []


def test_a_zip_bomb_is_refused_from_its_directory_before_extracting(tmp_path, clips, monkeypatch):
    store = UserData(tmp_path / "user_data", Limits(max_zip_bytes=4 * 1024 * 1024, max_zip_files=50))
    bomb = zip_bytes({"frames/000.png": b"\0" * (64 * 1024 * 1024)})  # 64 MB of zeros in a ~64 KB zip
    assert len(bomb) < 200_000
    many = zip_bytes({f"frames/{i:04d}.png": b"" for i in range(60)})
    extracted = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: extracted.append(a) or pytest.fail("extracted"))
    report = store.add_uploads("street", [("walk_a.mp4", clips["walk_a"]), ("bomb.zip", bomb)])
    assert [c.name for c in report.added] == ["walk_a"]
    (filename, message), = report.refused
    assert filename == "bomb.zip" and "expands to more than 4 MB" in message and "before extracting" in message
    assert extracted == []
    report = store.add_uploads("street", [("many.zip", many)])
    assert "60 entries, over the 50-file limit" in report.refused[0][1] and extracted == []
    assert sum(1 for p in store.root.rglob("*") if p.is_file()) == 1  # walk_a.mp4 only


def test_a_zip_that_lies_about_its_sizes_stops_at_the_declared_size(tmp_path):
    store = UserData(tmp_path / "user_data")
    honest = zip_bytes({"f/000.png": png_bytes(), "f/001.png": png_bytes(10)})
    # shrink the declared size of the first entry in both headers: the data then outgrows it
    data = bytearray(honest)
    with zipfile.ZipFile(io.BytesIO(honest)) as archive:
        first = archive.infolist()[0]
    true_size = first.file_size.to_bytes(4, "little")
    for at in [i for i in range(len(data) - 4) if data[i:i + 4] == true_size]:
        data[at:at + 4] = (10).to_bytes(4, "little")
    report = store.add_uploads("lies", [("lies.zip", bytes(data))])
    (filename, message), = report.refused
    assert filename == "lies.zip" and "lies.zip:" in message
    assert files_outside(store, tmp_path) == [] and not (tmp_path / "user_data" / "lies").exists()


def test_dataset_names_that_could_escape_are_refused(store, clips, tmp_path):
    for bad, why in (("a/b", "cannot contain '/'"), ("../evil", "cannot contain '/'"), ("..", "cannot contain '..'"),
                     ("", "no dataset name"), ("   ", "no dataset name"), (".hidden", "cannot start with '.'"),
                     ("a\\b", "cannot contain '/'"), ("my clips", "1-64 letters"), ("x" * 65, "1-64 letters")):
        with pytest.raises(UserDataError, match=__import__("re").escape(why)):
            store.add_uploads(bad, [("walk_a.mp4", clips["walk_a"])])
        with pytest.raises(UserDataError):
            store.create(bad)
    assert not store.root.exists() or not any(store.root.iterdir())
    assert files_outside(store, tmp_path) == []
    # names of uploaded files: the folder part is dropped, never followed
    assert clip_name_for("../../evil clip.mp4") == ("evil_clip", ".mp4")
    assert clip_name_for("C:\\Users\\me\\walk.MOV") == ("walk", ".mov")
    with pytest.raises(UserDataError, match="notes.txt: unsupported file type"):
        clip_name_for("notes.txt")
    with pytest.raises(UserDataError, match="no usable clip name"):
        clip_name_for("../__.mp4")
    report = store.add_uploads("street", [("../../../escape.mp4", clips["walk_a"])])
    assert [c.path for c in report.added] == [store.root / "street" / "training" / "escape.mp4"]
    assert files_outside(store, tmp_path) == []
    assert validate_name(" cam_01.v2 ") == "cam_01.v2"


def test_size_caps_duplicates_and_empty_files_are_refused_by_name(tmp_path, clips):
    store = UserData(tmp_path / "user_data", Limits(max_file_bytes=len(clips["walk_a"]) + 10))
    big = clips["walk_a"] + b"\0" * 100
    report = store.add_uploads("street", [("walk_a.mp4", clips["walk_a"]), ("big.mp4", big), ("empty.avi", b""),
                                          ("walk_a.mp4", clips["walk_a"])])
    assert [c.name for c in report.added] == ["walk_a"]
    messages = dict(report.refused[:2])
    assert "over the 0 MB limit" in messages["big.mp4"] and "empty (0 bytes)" in messages["empty.avi"]
    assert report.refused[2][0] == "walk_a.mp4" and "already has a clip named 'walk_a'" in report.refused[2][1]


# ------------------------------------------------------------------------------------ good datasets
def test_a_dataset_of_videos_and_a_zip_of_frames_loads_as_a_folder_dataset(store, clips):
    store.add_uploads("street", [("walk_a.mp4", clips["walk_a"]), ("walk_b.mp4", clips["walk_b"])], "training")
    report = store.add_uploads("street", [("cart.mp4", clips["cart"]), ("cart_frames.zip", clips["frames_zip"])], "testing")
    assert [c.name for c in report.added] == ["cart", "cart_frames"] and not report.refused
    assert sorted(p.name for p in (store.root / "street" / "testing" / "cart_frames").iterdir())[:2] == ["000.png", "001.png"]
    info = store.info("street")
    assert [(c.split, c.name, c.frames) for c in info.clips] == [
        ("training", "walk_a", N_FRAMES), ("training", "walk_b", N_FRAMES), ("testing", "cart", N_FRAMES),
        ("testing", "cart_frames", 12)]
    assert store.names() == ["street"] and store.spec("street") == f"folder:{(store.root / 'street').resolve()}"
    ds = load_dataset(store.spec("street"))
    assert [r.name for r in ds.train] == ["walk_a", "walk_b"] and [r.name for r in ds.test] == ["cart", "cart_frames"]
    assert all(r.labels is None for r in ds.test)  # not labelled yet


def test_spans_labels_files_and_the_loader_agree(store, clips):
    store.add_uploads("street", [("walk_a.mp4", clips["walk_a"])], "training")
    store.add_uploads("street", [("cart.mp4", clips["cart"]), ("walk_b.mp4", clips["walk_b"])], "testing")
    truth = clips["cart_labels"]
    spans = labels_to_spans(truth)
    assert spans and np.array_equal(spans_to_labels(spans, N_FRAMES), truth)
    assert labels_to_spans([1, 1, 0, 0, 1]) == [(0, 1), (4, 4)]
    with pytest.raises(UserDataError, match=r"span 1 \[40, 60\] does not fit a clip of 48 frames"):
        spans_to_labels([(40, 60)], N_FRAMES)

    store.save_spans("street", "cart", spans)
    store.save_spans("street", "walk_b", [])  # a normal test clip: every frame 0
    saved = json.loads((store.root / "street" / "testing" / "labels.json").read_text())
    assert saved == {"cart": truth.tolist(), "walk_b": [0] * N_FRAMES}
    ds = load_dataset(store.spec("street"))
    assert np.array_equal(ds.test_labels()["cart"], truth)
    info = store.info("street")
    assert [(c.name, c.n_anomalous) for c in info.split("testing")] == [("cart", int(truth.sum())), ("walk_b", 0)]
    assert json.loads(store.labels_json("street")) == saved
    with pytest.raises(UserDataError, match="5 labels but the clip has 48 frames"):
        store.save_labels("street", "cart", [0, 1, 1, 0, 0])

    # uploads of labels: CSV for one clip (by the chosen clip), JSON by name, UCSD .m by position
    csv = "label\n" + "\n".join("1" if 10 <= i <= 20 else "0" for i in range(N_FRAMES))
    assert list(store.import_labels("street", "mine.csv", csv.encode(), clip="walk_b")) == ["walk_b"]
    assert labels_to_spans(store.labels("street")["walk_b"]) == [(10, 20)]
    store.import_labels("street", "all.json", json.dumps({"cart": [0] * N_FRAMES}).encode())
    assert store.labels("street")["cart"].sum() == 0
    m_file = b"TestVideoFile{end+1}.gt_frame = [5:9];\nTestVideoFile{end+1}.gt_frame = [1:3];\n"
    store.import_labels("street", "UCSDped2.m", m_file)
    assert labels_to_spans(store.labels("street")["cart"]) == [(4, 8)]
    assert labels_to_spans(store.labels("street")["walk_b"]) == [(0, 2)]
    with pytest.raises(UserDataError, match="short.csv: 3 labels for 'walk_b' but the clip has 48 frames"):
        store.import_labels("street", "short.csv", b"0\n1\n0\n", clip="walk_b")
    with pytest.raises(UserDataError, match="match none of the test clips"):
        store.import_labels("street", "other.json", json.dumps({"elsewhere": [0, 1]}).encode())

    # deleting a clip drops its labels, so the folder still loads
    store.delete_clip("street", "testing", "walk_b")
    assert list(store.labels("street")) == ["cart"]
    assert [r.name for r in load_dataset(store.spec("street")).test] == ["cart"]


def test_rename_and_delete(store, clips):
    store.add_uploads("street", [("walk_a.mp4", clips["walk_a"])])
    store.create("empty")
    with pytest.raises(UserDataError, match="exists already"):
        store.create("street")
    with pytest.raises(UserDataError, match="exists already"):
        store.rename("street", "empty")
    with pytest.raises(UserDataError, match="cannot contain '/'"):
        store.rename("street", "../street")
    store.rename("street", "plaza")
    assert store.names() == ["empty", "plaza"] and store.info("plaza").frames == N_FRAMES
    store.delete("plaza")
    assert store.names() == ["empty"]
    with pytest.raises(UserDataError, match="no such dataset"):
        store.delete("plaza")
    # a symlinked "dataset" pointing elsewhere is never followed
    outside = store.root.parent / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    assert "link" not in store.names()
    with pytest.raises(UserDataError, match="symbolic link"):
        store.delete("link")
    assert (outside / "keep.txt").exists()


def test_the_cli_trains_on_a_user_dataset(store, clips, tmp_path):
    store.add_uploads("street", [("walk_a.mp4", clips["walk_a"]), ("walk_b.mp4", clips["walk_b"])], "training")
    out = tmp_path / "ckpt" / "street_conv_ae"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "vadlab", "train", "--model", "conv_ae", "--preset", "tiny", "--data",
         f"folder:{store.root / 'street'}", "--epochs", "1", "--max-steps", "2", "--device", "cpu", "--threads", "1",
         "--out", str(out), "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["training"]["data"].endswith("/street") and meta["training"]["videos"] == 2


def test_the_registry_lists_specs_and_finds_a_dataset_by_its_spec(tmp_path):
    store = UserData(tmp_path / "user_data")
    store.create("street")
    store.create("lobby")
    specs = store.specs()
    assert list(specs) == ["lobby", "street"] and specs["street"] == f"folder:{(tmp_path / 'user_data' / 'street').resolve()}"
    assert store.name_of(specs["street"]) == "street"
    assert store.name_of(f"folder:{tmp_path}") is None and store.name_of("synthetic:x") is None
