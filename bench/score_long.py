"""A long clip on the Score page (never part of the test run): a 10,000-frame video scored in a real
browser, every frame through the bounded-memory path of `vadlab score` (`vadlab.stream.score_file`),
the per-frame CSV downloaded and counted, and the server's peak memory (VmHWM) reported beside what
holding the clip's decoded frames would take.

    python bench/score_long.py                       # 10,000 frames of 160x120, the page's default model
    python bench/score_long.py --frames 4000 --out /tmp/long

Needs Debian's Chromium and the Playwright package (as tests/browser/test_browser.py).
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "browser"))


def write_long_clip(path: Path, n_frames: int, width: int, height: int, fps: int = 25) -> None:
    """A synthetic walkway clip of `n_frames`, written 100 frames at a time (never all in memory)."""
    import av

    from vadlab.data.synthetic import generate_clip

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for start in range(0, n_frames, 100):
            part = generate_clip(1000 + start, n_frames=min(100, n_frames - start), width=width, height=height, scene_seed=0)
            for frame in part.frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def serving_pid(url: str) -> int:
    """The process id of the Streamlit server answering on `url`'s port."""
    port = url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(args) and port.encode() in args:
            return int(proc.name)
    raise SystemExit(f"no Streamlit server process found for {url}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--out", default=None, help="folder for the clip, the server log and the CSV (default: a temp dir)")
    args = parser.parse_args()
    from playwright.sync_api import expect

    from test_browser import chromium, streamlit_server

    work = Path(args.out or tempfile.mkdtemp(prefix="vadlab_long_"))
    samples = work / "samples"
    clip = samples / "testing" / "long.mp4"
    if not clip.exists():
        started = time.perf_counter()
        write_long_clip(clip, args.frames, args.width, args.height)
        print(f"wrote {clip} ({args.frames} frames, {clip.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.0f} s")
    (samples / "testing" / "labels.json").write_text("{}")
    with streamlit_server(work, samples, ROOT / "checkpoints") as url:
        server_pid = serving_pid(url)
        with chromium({"width": 1920, "height": 1080}) as page:
            page.set_default_timeout(1_800_000)
            expect.set_options(timeout=1_800_000)
            started = time.perf_counter()
            page.goto(f"{url}/score")
            expect(page.get_by_text(re.compile(r"Every one of the [\d,]+ frames is scored"))).to_be_visible()
            seconds = time.perf_counter() - started
            note = page.get_by_text(re.compile(r"Every one of the [\d,]+ frames is scored")).inner_text()
            model = page.get_by_text(re.compile(r"^Chosen for this clip: ")).first.inner_text().split(":")[1].strip()
            with page.expect_download() as download:
                page.get_by_role("button", name="Download per-frame scores (CSV)").click()
            text = Path(download.value.path()).read_text()
            (work / "long_scores.csv").write_text(text)
        rows = list(csv.DictReader(io.StringIO("\n".join(l for l in text.splitlines() if not l.startswith("#")))))
        peak = peak_rss_mb(server_pid)
    held = args.frames * args.width * args.height * 3 / 1e6
    print(f"Score page, {args.frames:,} frames of {args.width}x{args.height} by {model}: scored and shown in {seconds:.0f} s")
    print(f"  page: {note.split('.')[0]}")
    print(f"  CSV rows: {len(rows):,} (frames {rows[0]['frame']}..{rows[-1]['frame']})")
    print(f"  server peak memory (VmHWM): {peak:,.0f} MB; the clip's decoded frames alone would take {held:,.0f} MB")
    if len(rows) != args.frames:
        raise SystemExit(f"expected {args.frames} CSV rows, got {len(rows)}")


if __name__ == "__main__":
    main()
