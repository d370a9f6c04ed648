"""Bombs: small files that would cost gigabytes are refused from their headers or while they
stream, each with one line naming the limit (`vadlab.limits`). Every bomb here is at most a few MB."""
from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from test_app import write_mp4
from vadlab import limits
from vadlab.data.video import read_zip_of_frames
from vadlab.limits import LimitExceeded
from vadlab.ui.cache import ClipSource, decode_now
from vadlab.userdata import UserData


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` (grey, 8 bit) followed by a token of data:
    what a decompression bomb looks like until it is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_limits_follow_the_environment_and_name_themselves(monkeypatch):
    monkeypatch.setenv("VADLAB_MAX_FRAME_PIXELS", "100")
    assert limits.FRAME_PIXELS.value() == 100
    monkeypatch.setenv("VADLAB_MAX_ZIP_MB", "1.5")
    assert limits.ZIP_BYTES.value() == int(1.5 * limits.MB)
    monkeypatch.setenv("VADLAB_MAX_DECODES", "many")
    with pytest.raises(LimitExceeded, match=r"VADLAB_MAX_DECODES='many' is not a number"):
        limits.CONCURRENT_DECODES.value()


def test_a_zip_of_huge_pngs_is_refused_from_the_first_header():
    bomb = zip_of({f"{i:02d}.png": png_header(12000, 12000) for i in range(8)})
    assert len(bomb) < 10_000
    with pytest.raises(LimitExceeded) as info:
        read_zip_of_frames(bomb, name="bomb.zip")
    message = str(info.value)
    assert message.count("\n") == 0 and "bomb.zip/00.png" in message
    assert "144,000,000 pixels per frame (12000 x 12000)" in message and "VADLAB_MAX_FRAME_PIXELS" in message


def test_a_zip_entry_is_streamed_never_read_whole(monkeypatch):
    """An 8 MiB entry (8 KB zipped) where no image may exceed ~1.4 MB: refused before a byte is
    inflated; with a looser per-image bound, the zip total still stops it while it streams."""
    bomb = zip_of({"a.png": b"\0" * (8 * limits.MB)})
    assert len(bomb) < 100_000
    monkeypatch.setenv("VADLAB_MAX_FRAME_PIXELS", "100000")  # an image file of at most 1.4 MB
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match=r"a\.png: a 8 MB image file, larger than an uncompressed frame at the "
                                               r"pixel limit \(1 MB\), over the limit of 100,000 "
                                               r"\(decoded pixels per frame, VADLAB_MAX_FRAME_PIXELS\)"):
            read_zip_of_frames(bomb, name="bomb.zip")
        assert tracemalloc.get_traced_memory()[1] < 2 * limits.MB
    finally:
        tracemalloc.stop()
    monkeypatch.setenv("VADLAB_MAX_ZIP_MB", "4")
    monkeypatch.setenv("VADLAB_MAX_FRAME_PIXELS", str(4000 * 4000))
    with pytest.raises(LimitExceeded, match=r"bomb\.zip: images total 8 MB uncompressed, over the limit of 4 MB "
                                           r"\(uncompressed bytes of a zip, VADLAB_MAX_ZIP_MB\)"):
        read_zip_of_frames(bomb, name="bomb.zip")


def test_a_video_of_huge_frames_is_refused_before_decoding(monkeypatch, tmp_path):
    clip = write_mp4(tmp_path / "wide.mp4", n_frames=4, width=96, height=64)
    monkeypatch.setenv("VADLAB_MAX_FRAME_PIXELS", "1000")
    with pytest.raises(LimitExceeded, match=r"wide\.mp4: 6,144 pixels per frame \(96 x 64\), over the limit of 1,000"):
        decode_now(ClipSource.from_upload("wide.mp4", clip.read_bytes()))


def test_decoded_bytes_cut_an_upload_visibly(monkeypatch, tmp_path):
    clip = write_mp4(tmp_path / "walk.mp4", n_frames=16, width=96, height=64)
    monkeypatch.setenv("VADLAB_MAX_DECODED_MB", str(3 * 96 * 64 * 3 / limits.MB))  # three frames' worth
    video = decode_now(ClipSource.from_upload("walk.mp4", clip.read_bytes()))
    assert video.frames.shape[0] == 3 and video.truncated and video.info.n_frames == 16


def test_a_decode_waits_for_a_slot_then_is_refused(monkeypatch, tmp_path):
    clip = write_mp4(tmp_path / "walk.mp4", n_frames=4)
    source = ClipSource.from_upload("walk.mp4", clip.read_bytes())
    monkeypatch.setenv("VADLAB_MAX_DECODES", "1")
    monkeypatch.setenv("VADLAB_DECODE_WAIT_S", "0")
    with limits.decode_slot("another upload"):
        with pytest.raises(LimitExceeded, match=r"walk\.mp4: 1 decodes are running, over the limit of 1 "
                                               r"\(decodes at once per server, VADLAB_MAX_DECODES\)"):
            decode_now(source)
    assert decode_now(source).frames.shape[0] == 4  # the slot is free again


def test_the_data_page_refuses_a_png_bomb_and_keeps_the_good_clip(tmp_path):
    good = write_mp4(tmp_path / "walk.mp4", n_frames=8).read_bytes()
    bomb = zip_of({f"{i:02d}.png": png_header(12000, 12000) for i in range(8)})
    report = UserData(tmp_path / "user_data").add_uploads("mine", [("bomb.zip", bomb), ("walk.mp4", good)])
    assert [clip.name for clip in report.added] == ["walk"]
    (name, reason), = report.refused
    assert name == "bomb.zip" and "VADLAB_MAX_FRAME_PIXELS" in reason and "\n" not in reason
    assert not list((tmp_path / "user_data" / "mine" / "training").glob("bomb*"))
    assert report.added[0].frames == 8


def test_an_upload_that_decodes_far_fewer_frames_than_it_declares_is_refused(tmp_path):
    """An mp4 cut at 40% of its bytes (index first, so it still opens): 120 frames declared, ~45 decode."""
    import av
    from fractions import Fraction

    path = tmp_path / "cut.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for _ in range(120):
            frame = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    good = write_mp4(tmp_path / "walk.mp4", n_frames=8).read_bytes()
    report = UserData(tmp_path / "user_data").add_uploads("mine", [("cut.mp4", data[: len(data) * 4 // 10]),
                                                                    ("walk.mp4", good)])
    (name, reason), = report.refused
    assert name == "cut.mp4" and "declares 120 frames but only" in reason and "truncated or damaged" in reason
    assert [(c.name, c.frames) for c in report.added] == [("walk", 8)]


def test_the_data_page_refuses_an_oversized_zip_entry_before_extracting(tmp_path, monkeypatch):
    monkeypatch.setenv("VADLAB_MAX_FRAME_PIXELS", "100000")  # an image file of at most 1.4 MB
    bomb = zip_of({"frames/0001.png": b"\0" * (4 * limits.MB)})
    report = UserData(tmp_path / "user_data").add_uploads("mine", [("bomb.zip", bomb)])
    (name, reason), = report.refused
    assert "entry 'frames/0001.png': a 4 MB image file, larger than an uncompressed frame" in reason
    assert "VADLAB_MAX_FRAME_PIXELS" in reason
    assert not list((tmp_path / "user_data").rglob("0001.png"))
