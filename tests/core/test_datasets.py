"""Dataset loaders on tiny fake layouts built here, and on the real Ped2 when present."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.io
from PIL import Image

from vadlab.data.datasets import (
    KNOWN_KINDS,
    DatasetError,
    VideoRecord,
    load_dataset,
    load_labels_any,
    load_labels_file,
    parse_ucsd_m,
    read_masks,
)

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


# ---- helpers that write tiny real files --------------------------------------------------------
def frames(n: int, height: int = 12, width: int = 16) -> np.ndarray:
    rng = np.random.default_rng(n)
    return rng.integers(0, 255, (n, height, width, 3), dtype=np.uint8)


def frame_folder(folder: Path, n: int, ext: str = ".jpg", pattern: str = "{:03d}", grey: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames(n)):
        Image.fromarray(frame[..., 0] if grey else frame).save(folder / (pattern.format(i) + ext))
    return folder


def video_file(path: Path, n: int, codec: str = "libx264") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for frame in frames(n, 24, 32):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def mask_folder(folder: Path, per_frame_anomalous: list[int], ext: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, anomalous in enumerate(per_frame_anomalous):
        mask = np.zeros((12, 16), np.uint8)
        if anomalous:
            mask[2:5, 3:7] = 255
        Image.fromarray(mask).save(folder / f"{i:03d}{ext}")
    return folder


def gt_cell(*videos: list[tuple[int, int]]) -> np.ndarray:
    """A MATLAB 1xN cell of [start; end] columns (2 x K)."""
    cell = np.empty((1, len(videos)), dtype=object)
    for i, ranges in enumerate(videos):
        cell[0, i] = np.array(ranges, dtype=np.float64).T.reshape(2, -1)
    return cell


# ---- ground-truth parsing --------------------------------------------------------------------
def test_parse_ucsd_m():
    text = """TestVideoFile = {};
TestVideoFile{end+1}.gt_frame = [61:180];
% TestVideoFile{end+1}.gt_frame = [1:2];   commented out
TestVideoFile{end+1}.gt_frame = [1:10, 50:60];
TestVideoFile{end+1}.gt_frame = [7];
TestVideoFile{end+1}.gt_frame = [];
"""
    assert parse_ucsd_m(text) == [[(61, 180)], [(1, 10), (50, 60)], [(7, 7)], []]


def test_load_labels_formats(tmp_path):
    (tmp_path / "a.csv").write_text("0\n1\n1\n0\n")
    (tmp_path / "b.csv").write_text("frame,label\n0,0\n1,1\n2,0\n")
    (tmp_path / "c.json").write_text("[0, 0, 1]")
    np.save(tmp_path / "d.npy", np.array([True, False, True]))
    (tmp_path / "e.m").write_text("TestVideoFile{end+1}.gt_frame = [2:3];\n")
    np.testing.assert_array_equal(load_labels_file(tmp_path / "a.csv"), [0, 1, 1, 0])
    np.testing.assert_array_equal(load_labels_file(tmp_path / "b.csv"), [0, 1, 0])
    np.testing.assert_array_equal(load_labels_file(tmp_path / "c.json"), [0, 0, 1])
    np.testing.assert_array_equal(load_labels_file(tmp_path / "d.npy"), [1, 0, 1])
    assert load_labels_file(tmp_path / "d.npy").dtype == np.uint8
    np.testing.assert_array_equal(load_labels_file(tmp_path / "e.m", n_frames=5), [0, 1, 1, 0, 0])
    with pytest.raises(DatasetError, match="4 labels for 'a' but the video has 5 frames"):
        load_labels_file(tmp_path / "a.csv", n_frames=5)
    (tmp_path / "bad.csv").write_text("0\n2\n")
    with pytest.raises(DatasetError, match="must be 0 or 1; frame 1 has 2"):
        load_labels_file(tmp_path / "bad.csv")


def test_load_labels_any_multi_video_mat_and_bytes(tmp_path):
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": gt_cell([(2, 3)], [(1, 1), (4, 5)])})
    labels = load_labels_any(tmp_path / "gt.mat", n_frames={"01": 4, "02": 6})
    np.testing.assert_array_equal(labels["01"], [0, 1, 1, 0])
    np.testing.assert_array_equal(labels["02"], [1, 0, 0, 1, 1, 0])
    with pytest.raises(DatasetError, match="holds labels for 2 videos"):
        load_labels_file(tmp_path / "gt.mat")
    upload = json.dumps({"x": [0, 1], "y": [1, 1, 0]}).encode()
    assert {k: v.tolist() for k, v in load_labels_any(upload, name="labels.json").items()} == {"x": [0, 1], "y": [1, 1, 0]}
    with pytest.raises(DatasetError, match="need the file name"):
        load_labels_any(upload)
    with pytest.raises(DatasetError, match=r"video 01: anomalous range \[2:3\] does not fit a video of 2 frames"):
        load_labels_any(tmp_path / "gt.mat", n_frames={"01": 2, "02": 3})


def test_a_zero_based_range_without_a_frame_count_is_not_called_a_short_video():
    """[0:10] with the frame count unknown once read "does not fit a video of 10 frames" (of a 120-frame clip)."""
    from vadlab.data.datasets import intervals_to_labels

    with pytest.raises(DatasetError) as info:
        intervals_to_labels([(0, 10)], None, label="clip")
    assert "clip: anomalous range [0:10] is not a range of frames" in str(info.value)
    assert "video of" not in str(info.value)


# ---- tiny fake layouts -------------------------------------------------------------------------
def test_ucsd_original_layout(tmp_path):
    root = tmp_path / "UCSDped2"
    frame_folder(root / "Train" / "Train001", 3, ".tif", grey=True)
    frame_folder(root / "Train" / "Train002", 4, ".tif", grey=True)
    frame_folder(root / "Test" / "Test001", 3, ".tif", grey=True)
    frame_folder(root / "Test" / "Test002", 5, ".tif", grey=True)
    mask_folder(root / "Test" / "Test001_gt", [0, 1, 1], ".bmp")
    for junk in (root / ".DS_Store", root / "Test" / ".DS_Store", root / "Test" / "Test001" / "._001.tif"):
        junk.write_bytes(b"\x00\x00junk")
    (root / "Test" / "UCSDped2.m").write_text(
        "TestVideoFile = {};\nTestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [1:1, 4:5];\n"
    )
    dataset = load_dataset(f"ucsd:{root}")
    assert [r.name for r in dataset.train] == ["Train001", "Train002"]
    assert [r.name for r in dataset.test] == ["Test001", "Test002"]  # Test001_gt is not a video
    assert [r.n_frames for r in dataset.test] == [3, 5]
    labels = dataset.test_labels()
    np.testing.assert_array_equal(labels["Test001"], [0, 1, 1])
    np.testing.assert_array_equal(labels["Test002"], [1, 0, 0, 1, 1])
    masks = read_masks(dataset.test[0])
    assert masks.shape == (3, 12, 16) and masks.dtype == bool
    np.testing.assert_array_equal(masks.any(axis=(1, 2)), labels["Test001"].astype(bool))
    assert read_masks(dataset.test[1]) is None
    # ped2: on the original UCSD layout reads it the same way
    assert [r.name for r in load_dataset(f"ped2:{root}").test] == ["Test001", "Test002"]


def test_liu_layout_mat_json_and_masks(tmp_path):
    root = tmp_path / "ped1"
    frame_folder(root / "training" / "frames" / "01", 3)
    frame_folder(root / "testing" / "frames" / "01", 3)
    frame_folder(root / "testing" / "frames" / "02", 4)
    mask_folder(root / "testing" / "masks" / "01", [0, 0, 1])
    scipy.io.savemat(root / "ped1.mat", {"gt": gt_cell([(3, 3)], [(1, 2), (4, 4)])})
    dataset = load_dataset(f"ped1:{root}")
    assert (len(dataset.train), len(dataset.test)) == (1, 2)
    assert dataset.train[0].labels is None
    np.testing.assert_array_equal(dataset.test_labels()["01"], [0, 0, 1])
    np.testing.assert_array_equal(dataset.test_labels()["02"], [1, 1, 0, 1])
    assert read_masks(dataset.test[0]).any(axis=(1, 2)).tolist() == [False, False, True]
    assert dataset.test[1].mask_source is None
    # frame_labels.json when there is no .mat
    (root / "ped1.mat").unlink()
    (root / "frame_labels.json").write_text(json.dumps({"01": [1, 0, 0], "02": [0, 0, 0, 1]}))
    np.testing.assert_array_equal(load_dataset(f"ped1:{root}").test_labels()["02"], [0, 0, 0, 1])
    # label length != frame count: both numbers and the video are named
    (root / "frame_labels.json").write_text(json.dumps({"01": [1, 0], "02": [0, 0, 0, 1]}))
    with pytest.raises(DatasetError, match="video '01' has 3 frames but its labels have 2 entries"):
        load_dataset(f"ped1:{root}")
    # a .mat with the wrong number of videos
    (root / "frame_labels.json").unlink()
    scipy.io.savemat(root / "ped1.mat", {"gt": gt_cell([(3, 3)])})
    with pytest.raises(DatasetError, match="ground truth for 1 videos but there are 2 test videos"):
        load_dataset(f"ped1:{root}")


def test_avenue_frame_layout(tmp_path):
    root = tmp_path / "avenue"
    frame_folder(root / "training" / "frames" / "01", 3, pattern="{:04d}")
    frame_folder(root / "testing" / "frames" / "01", 4, pattern="{:04d}")
    scipy.io.savemat(root / "avenue.mat", {"gt": gt_cell([(2, 4)])})
    dataset = load_dataset(f"avenue:{root}")
    assert [r.n_frames for r in dataset.train + dataset.test] == [3, 4]
    np.testing.assert_array_equal(dataset.test_labels()["01"], [0, 1, 1, 1])


def test_avenue_original_video_layout(tmp_path):
    root = tmp_path / "Avenue Dataset"
    video_file(root / "training_videos" / "01.avi", 4, codec="mpeg4")
    video_file(root / "testing_videos" / "01.avi", 3, codec="mpeg4")
    vol = np.empty((1, 3), dtype=object)
    for i, anomalous in enumerate([0, 1, 0]):
        vol[0, i] = np.zeros((24, 32), np.uint8)
        vol[0, i][5:9, 5:9] = anomalous
    mask_dir = root / "ground_truth_demo" / "testing_label_mask"
    mask_dir.mkdir(parents=True)
    scipy.io.savemat(mask_dir / "1_label.mat", {"volLabel": vol})
    dataset = load_dataset(f"avenue:{root}")
    assert [(r.name, r.n_frames) for r in dataset.train] == [("01", 4)]
    np.testing.assert_array_equal(dataset.test_labels()["01"], [0, 1, 0])
    masks = read_masks(dataset.test[0])
    assert masks.shape == (3, 24, 32) and masks[1].sum() == 16 and not masks[0].any()


def test_shanghaitech_layout(tmp_path):
    root = tmp_path / "shanghaitech"
    video_file(root / "training" / "videos" / "01_001.avi", 5, codec="mpeg4")
    frame_folder(root / "testing" / "frames" / "01_0014", 3)
    frame_folder(root / "testing" / "frames" / "01_0015", 2)
    (root / "testing" / "test_frame_mask").mkdir(parents=True)
    (root / "testing" / "test_pixel_mask").mkdir(parents=True)
    np.save(root / "testing" / "test_frame_mask" / "01_0014.npy", np.array([0, 1, 1]))
    np.save(root / "testing" / "test_frame_mask" / "01_0015.npy", np.array([0, 0]))
    pixel = np.zeros((3, 12, 16), np.uint8)
    pixel[1:, 0, 0] = 1
    np.save(root / "testing" / "test_pixel_mask" / "01_0014.npy", pixel)
    dataset = load_dataset(f"shanghaitech:{root}")
    assert [(r.name, r.n_frames) for r in dataset.train] == [("01_001", 5)]
    assert [r.name for r in dataset.test] == ["01_0014", "01_0015"]
    np.testing.assert_array_equal(dataset.test_labels()["01_0014"], [0, 1, 1])
    np.testing.assert_array_equal(read_masks(dataset.test[0]).any(axis=(1, 2)), [False, True, True])
    assert read_masks(dataset.test[1]) is None
    with pytest.raises(DatasetError, match="3 masks but the video has 4 frames"):
        read_masks(dataset.test[0], n_frames=4)


def test_generic_folder_layout(tmp_path):
    root = tmp_path / "mine"
    video_file(root / "training" / "walk.mp4", 4)
    frame_folder(root / "training" / "frames_clip", 3, ".png")
    video_file(root / "testing" / "a.mp4", 3)
    frame_folder(root / "testing" / "b", 2, ".png")
    video_file(root / "testing" / "c.mkv", 4)
    (root / "testing" / "labels.json").write_text(json.dumps({"a": [0, 1, 1]}))
    (root / "testing" / "b.csv").write_text("label\n1\n0\n")
    np.save(root / "testing" / "c.npy", np.array([0, 0, 1, 1], np.uint8))
    (root / "testing" / "masks").mkdir()
    np.savez(root / "testing" / "masks" / "a.npz", masks=np.zeros((3, 24, 32), bool))
    for kind in ("folder", "synthetic"):
        dataset = load_dataset(f"{kind}:{root}")
        assert [r.name for r in dataset.train] == ["frames_clip", "walk"]
        assert [(r.name, r.n_frames) for r in dataset.test] == [("a", 3), ("b", 2), ("c", 4)]
        assert {k: v.tolist() for k, v in dataset.test_labels().items()} == {"a": [0, 1, 1], "b": [1, 0], "c": [0, 0, 1, 1]}
    assert read_masks(dataset.test[0]).shape == (3, 24, 32)
    assert dataset.test[1].mask_source is None
    # one video file; one folder of videos without a split
    single = load_dataset(f"folder:{root / 'testing' / 'c.mkv'}")
    assert single.train == [] and single.test[0].labels.tolist() == [0, 0, 1, 1]
    flat = load_dataset(f"folder:{root / 'testing'}")
    assert flat.train == [] and [r.name for r in flat.test] == ["a", "b", "c"]
    lone = load_dataset(f"folder:{root / 'testing' / 'b'}")
    assert [(r.name, r.n_frames) for r in lone.test] == [("b", 2)]


def test_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset kind 'kitti'.*ped2.*shanghaitech.*folder"):
        load_dataset(f"kitti:{tmp_path}")
    with pytest.raises(DatasetError, match="KIND:PATH"):
        load_dataset(str(tmp_path))
    with pytest.raises(DatasetError, match="path does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    empty = tmp_path / "empty"
    (empty / "testing").mkdir(parents=True)
    (empty / "testing" / "readme.txt").write_text("nothing")
    with pytest.raises(DatasetError, match="no videos found"):
        load_dataset(f"folder:{empty}")
    with pytest.raises(DatasetError, match="training/frames"):
        load_dataset(f"ped2:{empty}")
    root = tmp_path / "bad"
    video_file(root / "testing" / "a.mp4", 3)
    (root / "testing" / "a.csv").write_text("0\n1\n")
    with pytest.raises(DatasetError, match="video 'a' has 3 frames but its labels have 2 entries"):
        load_dataset(f"folder:{root}")
    (root / "testing" / "a.csv").unlink()
    (root / "testing" / "labels.json").write_text(json.dumps({"zz": [0, 1, 0]}))
    with pytest.raises(DatasetError, match="labels given for videos that do not exist: zz"):
        load_dataset(f"folder:{root}")
    assert set(KNOWN_KINDS) == {"ped1", "ped2", "ucsd", "avenue", "shanghaitech", "folder", "synthetic"}
    assert read_masks(VideoRecord(name="x", source=root)) is None


# ---- real Ped2 ----------------------------------------------------------------------------------
def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: real Ped2 data lives in ../shared/datasets (see its README.md)")
    return path


def test_ped2_counts_and_labels_agree_everywhere():
    root = need(DATASETS / "ped2")
    dataset = load_dataset(f"ped2:{root}")
    assert (len(dataset.train), len(dataset.test)) == (16, 12)
    assert (dataset.n_frames("train"), dataset.n_frames("test")) == (2550, 2010)
    from_loader = dataset.test_labels()  # from ped2.mat
    assert sum(int(v.sum()) for v in from_loader.values()) == 1648
    counts = {r.name: r.n_frames for r in dataset.test}
    from_mat = load_labels_any(root / "ped2.mat", n_frames=counts)
    from_m = load_labels_any(root / "UCSDped2.m", n_frames=counts)
    from_json = load_labels_any(root / "frame_labels.json", n_frames=counts)
    for record in dataset.test:
        from_masks = read_masks(record).any(axis=(1, 2)).astype(np.uint8)
        for other in (from_mat, from_m, from_json):
            np.testing.assert_array_equal(from_loader[record.name], other[record.name])
        np.testing.assert_array_equal(from_loader[record.name], from_masks)


def test_ped2_videos_as_a_plain_folder():
    root = need(DATASETS / "ped2_videos")
    dataset = load_dataset(f"folder:{root}")
    assert (len(dataset.train), len(dataset.test)) == (16, 12)
    assert (dataset.n_frames("train"), dataset.n_frames("test")) == (2550, 2010)
    reference = load_labels_any(need(DATASETS / "ped2" / "frame_labels.json"))
    labels = dataset.test_labels()
    assert set(labels) == set(reference)
    for name, expected in reference.items():
        np.testing.assert_array_equal(labels[name], expected)


def test_a_labels_csv_that_is_not_csv_text_is_refused_in_one_line(tmp_path):
    """Binary data, and text the csv module cannot split, end in a DatasetError naming the file."""
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DatasetError, match=r"garbage.csv: not a text CSV \(it holds binary data\)"):
        load_labels_file(garbage)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"0\n1\r0\n")  # a bare carriage return inside a field
    with pytest.raises(DatasetError, match="broken.csv: not a readable CSV"):
        load_labels_file(broken)
