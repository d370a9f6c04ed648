"""Decoding of real files written here: videos (PyAV), frame folders and zips (PIL), bad inputs."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vadlab.data.video import (
    VideoDecodeError,
    count_frames,
    probe_video,
    read_frames_folder,
    read_video,
    read_video_bytes,
    read_zip_of_frames,
)


def make_frames(n: int, height: int, width: int) -> np.ndarray:
    """uint8 (n, H, W, 3): smooth gradients plus a bright square that moves; frame i's overall
    brightness rises with i so that frame order is visible after lossy coding."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.zeros((n, height, width, 3), np.uint8)
    for i in range(n):
        frames[i, ..., 0] = x * 200 // max(width - 1, 1)
        frames[i, ..., 1] = y * 200 // max(height - 1, 1)
        frames[i, ..., 2] = min(255, 20 + 40 * i)
        top, left = 4, (3 * i) % max(1, width - 8)
        frames[i, top : top + 6, left : left + 6] = 250
    return frames


def write_video(path: Path, frames: np.ndarray, fps: int = 10, codec: str = "libx264", pix_fmt: str = "yuv420p") -> Path:
    """Encode uint8 (T, H, W, 3) frames with PyAV (width and height must be even for yuv420p)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_with_pyav(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def write_audio_only(path: Path, codec: str) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=16000)
        samples = 1152 if codec == "mp2" else 1024
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, samples), np.float32 if codec == "aac" else np.int16),
                format="fltp" if codec == "aac" else "s16",
                layout="mono",
            )
            frame.sample_rate, frame.pts = 16000, i * samples
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ---- video files ----------------------------------------------------------------------------
@pytest.mark.parametrize("width", [16, 48, 72, 90, 150, 174, 226])
def test_widths_decode_correctly_whatever_the_decoder(tmp_path, width):
    """decord 0.6 breaks on some widths (16, 48, 72 here); the result must be right either way."""
    source = make_frames(4, 40, width)
    path = write_video(tmp_path / f"w{width}.mp4", source)
    video = read_video(path)
    assert video.frames.shape == (4, 40, width, 3) and video.frames.dtype == np.uint8
    assert video.info.decoder in ("decord", "pyav")
    assert mean_abs(video.frames, decode_with_pyav(path)) < 2.0  # same pixels as ffmpeg's own decode
    assert mean_abs(video.frames, source) < 8.0
    assert not video.truncated and not video.downscaled
    assert (video.info.width, video.info.height, video.info.n_frames, video.info.fps) == (width, 40, 4, 10.0)


def test_decord_corruption_triggers_pyav_fallback(tmp_path):
    """Where decord itself mis-decodes (raises, or frames with 4/6 'channels'), we use PyAV."""
    import decord

    path = write_video(tmp_path / "w48.mp4", make_frames(3, 40, 48))
    try:
        broken = decord.VideoReader(str(path), ctx=decord.cpu(0)).get_batch([0, 1, 2]).asnumpy().shape != (3, 40, 48, 3)
    except Exception:
        broken = True
    if not broken:
        pytest.skip("this decord build decodes 48 px wide frames correctly; nothing to fall back from")
    video = read_video(path)
    assert video.info.decoder == "pyav"
    assert video.frames.shape == (3, 40, 48, 3)


def test_decord_path_used_when_it_works(tmp_path):
    path = write_video(tmp_path / "w90.mp4", make_frames(3, 40, 90))
    assert read_video(path).info.decoder == "decord"


def test_one_frame_video(tmp_path):
    path = write_video(tmp_path / "one.mp4", make_frames(1, 32, 64))
    video = read_video(path)
    assert video.frames.shape == (1, 32, 64, 3)
    assert video.info.n_frames == 1


@pytest.mark.parametrize(
    "suffix,codec,pix_fmt",
    [(".avi", "mpeg4", "yuv420p"), (".mkv", "libx264", "yuv420p"), (".mov", "libx264", "yuv420p"), (".webm", "libvpx", "yuv420p")],
)
def test_containers(tmp_path, suffix, codec, pix_fmt):
    source = make_frames(5, 40, 64)
    path = write_video(tmp_path / f"clip{suffix}", source, codec=codec, pix_fmt=pix_fmt)
    info = probe_video(path)  # mkv/webm store no frame count: packets are counted
    assert (info.n_frames, info.width, info.height) == (5, 64, 40)
    video = read_video(path)
    assert video.frames.shape == (5, 40, 64, 3)
    assert mean_abs(video.frames, source) < 12.0
    # frame order survives: brightness of the blue channel rises with the frame index
    blue = video.frames[..., 2].astype(float).mean(axis=(1, 2))
    assert np.all(np.diff(blue) > 0)


def test_probe_does_not_need_a_full_decode(tmp_path):
    path = write_video(tmp_path / "p.mp4", make_frames(7, 40, 64), fps=15)
    info = probe_video(path)
    assert (info.fps, info.n_frames, info.width, info.height) == (15.0, 7, 64, 40)
    assert info.path == "p.mp4"
    assert count_frames(path) == 7


def test_max_frames_and_start(tmp_path):
    path = write_video(tmp_path / "long.mp4", make_frames(10, 40, 64))
    full = read_video(path)
    part = read_video(path, max_frames=4, start=3)
    assert part.truncated and not full.truncated
    assert part.frames.shape[0] == 4
    assert part.info.n_frames == 10
    np.testing.assert_array_equal(part.frames, full.frames[3:7])
    tail = read_video(path, max_frames=4, start=7)  # only 3 frames left
    assert tail.frames.shape[0] == 3 and not tail.truncated
    with pytest.raises(ValueError, match="past the last frame"):
        read_video(path, start=10)
    with pytest.raises(ValueError, match="max_frames"):
        read_video(path, max_frames=0)


def test_max_side_downscales_with_torch_area(tmp_path):
    path = write_video(tmp_path / "big.mp4", make_frames(3, 60, 160))
    full = read_video(path, max_side=None)
    small = read_video(path, max_side=80)
    assert small.downscaled and not full.downscaled
    assert small.frames.shape == (3, 30, 80, 3)  # aspect ratio kept
    assert (small.info.width, small.info.height) == (160, 60)  # native size still reported
    x = torch.from_numpy(full.frames).permute(0, 3, 1, 2).float()
    expected = F.interpolate(x, size=(30, 80), mode="area").round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    assert mean_abs(small.frames, expected) < 0.01
    assert read_video(path, max_side=160).downscaled is False


def test_pyav_fallback_honours_limits(tmp_path):
    """The PyAV path (48 px wide forces it on decord 0.6) applies max_frames/start/max_side too."""
    source = make_frames(8, 40, 48)
    path = write_video(tmp_path / "w48.mp4", source)
    reference = decode_with_pyav(path)
    video = read_video(path, max_frames=3, start=2, max_side=24)
    assert video.frames.shape == (3, 20, 24, 3) and video.truncated and video.downscaled
    x = torch.from_numpy(reference[2:5]).permute(0, 3, 1, 2).float()
    expected = F.interpolate(x, size=(20, 24), mode="area").round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    assert mean_abs(video.frames, expected) < 0.01


# ---- bad inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize("suffix,codec", [(".mp4", "aac"), (".mkv", "mp2")])
def test_audio_only_file(tmp_path, suffix, codec):
    path = write_audio_only(tmp_path / f"clip{suffix}", codec)
    with pytest.raises(VideoDecodeError, match=rf"^clip{suffix}: no video stream \(audio only\?\)"):
        read_video(path)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        probe_video(path)


def test_empty_file(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"^x\.mp4: not a video file \(0 bytes\)"):
        read_video(path)


def test_text_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("shopping list\n- milk\n- eggs\n")
    with pytest.raises(VideoDecodeError, match=r"^notes\.mp4: not a decodable video \(looks like text\)"):
        read_video(path)


def test_truncated_and_garbage_files(tmp_path):
    data = write_video(tmp_path / "full.mp4", make_frames(12, 40, 64)).read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError) as err:
        read_video(half)
    message = str(err.value)
    assert message.startswith("half.mp4: ") and "corrupt or truncated" in message
    assert "DECORD" not in message and ".cc:" not in message and str(tmp_path) not in message
    garbage = tmp_path / "noise.avi"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError, match=r"^noise\.avi: "):
        read_video(garbage)


def test_missing_path_and_unsupported_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.mp4"):
        read_video(tmp_path / "nothere.mp4")
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(VideoDecodeError, match=r"^anim\.gif: unsupported file type '\.gif'"):
        read_video(gif)


# ---- frame folders and zips -------------------------------------------------------------------
def write_frames(folder: Path, frames: np.ndarray, ext: str, names=None, grey: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        name = names[i] if names else f"{i:03d}{ext}"
        img = Image.fromarray(frame[..., 0] if grey else frame)
        img.save(folder / name)
    return folder


@pytest.mark.parametrize("ext,tolerance", [(".png", 0.0), (".jpg", 6.0), (".tif", 0.0), (".bmp", 0.0)])
def test_frame_folder_formats(tmp_path, ext, tolerance):
    source = make_frames(3, 24, 40)
    folder = write_frames(tmp_path / "clip", source, ext)
    (folder / ".DS_Store").write_bytes(b"\x00\x01junk")
    (folder / "notes.txt").write_text("not a frame")
    video = read_video(folder)
    assert video.frames.shape == (3, 24, 40, 3)
    assert video.info.decoder == "images" and video.info.n_frames == 3
    assert mean_abs(video.frames, source) <= tolerance


def test_frame_folder_natural_order_and_grey(tmp_path):
    source = make_frames(11, 16, 20)
    names = [f"f{i}.tif" for i in range(11)]  # f10 must come after f9, not after f1
    folder = write_frames(tmp_path / "grey", source, ".tif", names=names, grey=True)
    video = read_frames_folder(folder)
    assert video.frames.shape == (11, 16, 20, 3)
    np.testing.assert_array_equal(video.frames[..., 0], source[..., 0])
    np.testing.assert_array_equal(video.frames[..., 1], video.frames[..., 2])  # grey repeated


def test_frame_folder_limits(tmp_path):
    folder = write_frames(tmp_path / "clip", make_frames(6, 40, 100), ".png")
    video = read_video(folder, max_frames=2, start=1, max_side=50)
    assert video.frames.shape == (2, 20, 50, 3)
    assert video.truncated and video.downscaled
    full = read_video(folder, max_side=None)
    x = torch.from_numpy(full.frames[1:3]).permute(0, 3, 1, 2).float()
    expected = F.interpolate(x, size=(20, 50), mode="area").round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    np.testing.assert_array_equal(video.frames, expected)


def test_frame_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no frames here")
    with pytest.raises(VideoDecodeError, match=r"^empty: empty frame folder"):
        read_video(empty)
    mixed = write_frames(tmp_path / "mixed", make_frames(2, 24, 40), ".png")
    Image.fromarray(make_frames(1, 24, 42)[0]).save(mixed / "002.png")
    with pytest.raises(VideoDecodeError, match=r"^mixed: frames have mixed sizes.*002\.png is 42x24"):
        read_video(mixed)
    broken = write_frames(tmp_path / "broken", make_frames(2, 24, 40), ".png")
    (broken / "002.png").write_bytes(b"not a png")
    with pytest.raises(VideoDecodeError, match=r"002\.png: not a readable image"):
        read_video(broken)


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            if name.endswith("/"):
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def png_bytes(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def test_zip_of_frames(tmp_path):
    source = make_frames(12, 16, 24)
    entries = {"clip/": b"", "__MACOSX/clip/._f1.png": b"junk", "clip/.hidden.png": b"junk", "clip/readme.txt": b"hi"}
    entries.update({f"clip/f{i}.png": png_bytes(source[i]) for i in range(12)})
    data = zip_bytes(entries)
    video = read_zip_of_frames(data, name="frames.zip")
    np.testing.assert_array_equal(video.frames, source)  # natural order: f2 before f10
    assert video.info.path == "frames.zip"
    zip_path = tmp_path / "frames.zip"
    zip_path.write_bytes(data)
    assert read_zip_of_frames(zip_path, max_frames=5).truncated
    assert read_video_bytes(data, ".zip", name="up.zip").frames.shape == (12, 16, 24, 3)


def test_zip_of_frames_is_safe(tmp_path):
    frame = png_bytes(make_frames(1, 16, 24)[0])
    with pytest.raises(VideoDecodeError, match="unsafe entry name"):
        read_zip_of_frames(zip_bytes({"../evil.png": frame, "a.png": frame}))
    with pytest.raises(VideoDecodeError, match="over the"):
        read_zip_of_frames(zip_bytes({"a.png": frame, "b.png": frame}), max_total_bytes=len(frame))
    with pytest.raises(VideoDecodeError, match="in 2 folders"):
        read_zip_of_frames(zip_bytes({"a/0.png": frame, "b/0.png": frame}))
    with pytest.raises(VideoDecodeError, match="not a zip file"):
        read_zip_of_frames(b"plain text, not a zip", name="x.zip")
    with pytest.raises(VideoDecodeError, match="no frame images"):
        read_zip_of_frames(zip_bytes({"notes.txt": b"hello"}))


def test_zip_of_frames_is_checked_as_the_data_page_checks_it():
    """One zip-safety helper (`vadlab.data.zips`) for every reader: a link, an encrypted entry or a
    NUL in a name is refused here as on the Data page, before anything is read."""
    import stat

    frame = png_bytes(make_frames(1, 16, 24)[0])

    def zip_with(info: zipfile.ZipInfo) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("f/000.png", frame)
            archive.writestr(info, frame)
        return buffer.getvalue()

    link = zipfile.ZipInfo("f/001.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(VideoDecodeError, match="'f/001.png' is a symbolic link; refusing the zip"):
        read_zip_of_frames(zip_with(link), name="links.zip")
    locked = bytearray(zip_with(zipfile.ZipInfo("f/001.png")))  # zipfile cannot encrypt: set the flag bit
    with zipfile.ZipFile(io.BytesIO(bytes(locked))) as archive:
        local = archive.getinfo("f/001.png").header_offset
    central = locked.rindex(b"PK\x01\x02")  # the last entry's central directory record
    locked[local + 6] |= 0x1
    locked[central + 8] |= 0x1
    with pytest.raises(VideoDecodeError, match="'f/001.png' is encrypted"):
        read_zip_of_frames(bytes(locked), name="locked.zip")


def test_read_video_bytes_names_the_upload(tmp_path):
    source = make_frames(3, 40, 64)
    data = write_video(tmp_path / "v.mp4", source).read_bytes()
    video = read_video_bytes(data, "mp4", name="street.mp4")
    assert video.info.path == "street.mp4" and video.frames.shape == (3, 40, 64, 3)
    with pytest.raises(VideoDecodeError, match=r"^notes\.mp4: not a decodable video \(looks like text\)"):
        read_video_bytes(b"just some text\n", ".mp4", name="notes.mp4")
    with pytest.raises(VideoDecodeError, match=r"^clip\.mp4: not a decodable video, corrupt or truncated") as err:
        read_video_bytes(data[: len(data) // 2], ".mp4", name="clip.mp4")
    assert "vadlab_upload_" not in str(err.value)  # the temp file's name never leaks
    with pytest.raises(VideoDecodeError, match="unsupported file type '.gif'"):
        read_video_bytes(b"GIF89a", ".gif")


# ---- real data ------------------------------------------------------------------------------------
DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def test_ped2_video_matches_its_frame_folder():
    video_path = DATASETS / "ped2_videos" / "testing" / "09.mp4"
    folder = DATASETS / "ped2" / "testing" / "frames" / "09"
    if not video_path.is_file() or not folder.is_dir():
        pytest.skip(f"Ped2 not found at {DATASETS} (see shared/datasets/README.md); skipping real-data check")
    video = read_video(video_path)
    frames = read_video(folder)
    assert video.frames.shape == frames.frames.shape == (120, 240, 360, 3)
    assert video.info.fps == 10.0
    assert mean_abs(video.frames, frames.frames) < 2.0  # README: about 1 grey level apart
