"""Upload the bombs of issue 22 to a running app and report what each refusal cost the server.

    python bench/bombs.py                 # the issue's sizes (a 2 GiB zip entry, 12000 x 12000 PNGs, 8000 x 8000 mp4)
    python bench/bombs.py --small         # a tenth of the zip entry, frames just over the pixel limit (quick)

Starts the app (`streamlit run app.py` on 127.0.0.1, as tests/browser/test_browser.py does), uploads each bomb
in Debian Chromium through Playwright (Score page, and the Data page for the zips), waits for the
page's one-line refusal, and prints per bomb: its file size, the wall time from the upload to the
refusal and the server's peak memory (VmHWM-style: RSS sampled every 20 ms from /proc) above the idle
app. The targets (issue 22): under 1 GB over idle, under 5 s per refusal. Never part of the test run.
"""
from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from test_browser import chromium, require_browser, streamlit_server  # noqa: E402

MB = 1024 * 1024
REFUSAL = "over the limit"


# ------------------------------------------------------------------------------------------ bombs
def png(width: int, height: int) -> bytes:
    """A real, decodable grey PNG of `width` x `height` black pixels (tiny: zeros compress)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + one row
    data = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def zip_with_entry(path: Path, entry_bytes: int) -> Path:
    """A zip whose one image entry inflates to `entry_bytes` of zeros (streamed: never held)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("frames/0001.png", "w", force_zip64=True) as entry:
            block = b"\0" * MB
            for _ in range(entry_bytes // MB):
                entry.write(block)
    return path


def zip_of_pngs(path: Path, side: int, count: int) -> Path:
    image = png(side, side)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(count):
            archive.writestr(f"frames/{i:04d}.png", image)
    return path


def huge_mp4(path: Path, side: int, frames: int = 3) -> Path:
    import av
    import numpy as np
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(10))
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        frame = np.zeros((side, side, 3), np.uint8)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_bombs(folder: Path, small: bool) -> list[tuple[str, Path, str]]:
    """(label, file, page) of every bomb: the issue's sizes, or (small) a tenth of the zip entry and
    frames just over the pixel limit (8.3 M pixels)."""
    entry = (204 if small else 2048) * MB
    png_side, mp4_side = (4000, 3000) if small else (12000, 8000)
    entry_bomb = zip_with_entry(folder / "entry_bomb.zip", entry)
    png_bomb = zip_of_pngs(folder / "png_bomb.zip", png_side, 8)
    return [
        (f"zip: one {entry // MB} MB entry", entry_bomb, "score"),
        (f"zip: one {entry // MB} MB entry", entry_bomb, "data"),
        (f"zip: 8 PNGs of {png_side} x {png_side}", png_bomb, "score"),
        (f"zip: 8 PNGs of {png_side} x {png_side}", png_bomb, "data"),
        (f"mp4: {mp4_side} x {mp4_side} frames", huge_mp4(folder / "huge.mp4", mp4_side), "score"),
    ]


# ----------------------------------------------------------------------------------- the server
def server_pid(port: int) -> int:
    """The pid of the `streamlit run ... --server.port PORT` process (from /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(args) and str(port).encode() in args:
            return int(proc.name)
    raise RuntimeError(f"no streamlit process on port {port}")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """Samples a process's RSS every 20 ms in a thread; `peak` since `reset()`."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.02)

    def reset(self) -> int:
        self.peak = rss_bytes(self.pid)
        return self.peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------- uploads
def upload(page, url: str, kind: str, path: Path) -> tuple[str, float]:
    """Upload `path` on the Score or Data page; returns the refusal shown and the seconds from
    handing the file to the page to the refusal (page loading excluded)."""
    if kind == "score":
        page.goto(f"{url}/score")
        page.get_by_text("Upload", exact=True).click()
    else:
        page.goto(f"{url}/data")
        page.get_by_label("Dataset name", exact=True).first.fill(f"bombs_{path.stem}")
    page.locator('input[type="file"]').first.wait_for(state="attached")
    start = time.monotonic()
    page.locator('input[type="file"]').first.set_input_files(str(path))
    if kind == "data":
        page.get_by_role("button", name="Add clips").click()
    message = page.get_by_text(REFUSAL).first
    message.wait_for(timeout=120_000)
    return message.inner_text().splitlines()[0], time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 204 MB zip entry, 4000 px PNGs, 3000 px mp4 frames")
    args = parser.parse_args()
    try:
        require_browser()
    except BaseException as exc:  # pytest.skip outside pytest: say why and stop
        print(f"cannot run: {exc}")
        return 2
    with tempfile.TemporaryDirectory(prefix="vadlab_bombs_") as tmp:
        folder = Path(tmp)
        print("making the bombs ...", flush=True)
        bombs = make_bombs(folder, args.small)
        with streamlit_server(folder, ROOT / "sample_videos", ROOT / "checkpoints",
                              VADLAB_USER_DATA=str(folder / "user_data")) as url:
            port = int(url.rsplit(":", 1)[1])
            memory = PeakMemory(server_pid(port))
            rows = []
            with chromium({"width": 1400, "height": 1800}) as page:
                page.goto(f"{url}/score")  # warm: torch imported, the zoo listed
                page.get_by_text("Upload", exact=True).wait_for()
                time.sleep(2.0)
                for label, path, kind in bombs:
                    idle = memory.reset()
                    start = time.monotonic()
                    try:
                        shown, seconds = upload(page, url, kind, path)
                    except Exception as exc:  # noqa: BLE001 - a bench row, not a crash
                        shown = f"NO REFUSAL SEEN ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"
                        seconds = time.monotonic() - start
                    rows.append((label, kind, path.stat().st_size / MB, seconds, (memory.peak - idle) / MB, shown))
            memory.stop()
    print(f"\n{'bomb':34s} {'page':6s} {'file MB':>8s} {'wall s':>7s} {'peak MB over idle':>18s}  refusal")
    for label, kind, size, seconds, peak, shown in rows:
        print(f"{label:34s} {kind:6s} {size:8.1f} {seconds:7.1f} {peak:18.0f}  {shown[:110]}")
    worst = max(r[4] for r in rows)
    slowest = max(r[3] for r in rows)
    print(f"\nworst peak {worst:.0f} MB over idle (target < 1024), slowest refusal {slowest:.1f} s (target < 5: "
          "from handing the file to the page to the refusal on screen, upload included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
