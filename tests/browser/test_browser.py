"""End to end in a real browser: `streamlit run app.py` on 127.0.0.1 driven by Chromium (Playwright).

Uploads a sample video on the Score page, waits for the timeline chart and the three frame panels,
moves the threshold slider with the keyboard and checks that the number of anomalous frames shown
follows it. Screenshots go to the test's temporary folder (the README's come from docs/screenshots.py).
The helpers here (`streamlit_server`, `chromium`, `settle`, ...) serve the other real-browser tests
(tests/browser/test_browser_*.py: the student, researcher and presenter flows).

Needs Chromium at /usr/bin/chromium (apt) and the Playwright Python package; never downloads a
browser. Skipped with a message when either is missing. Marker: `browser` (`pytest -m browser`).
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
COUNT = re.compile(r"(\d+) anomalous frames?")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"streamlit did not answer on {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def samples() -> Path:
    configured = os.environ.get("VADLAB_SAMPLE_VIDEOS")
    folder = Path(configured) if configured else ROOT / "sample_videos"
    if not (folder / "testing" / "labels.json").exists():
        pytest.fail(f"{folder} has no sample videos: run `python -m vadlab samples --out sample_videos`")
    return folder


@pytest.fixture(scope="module")
def checkpoints(samples, tmp_path_factory) -> Path:
    shipped = ROOT / "checkpoints"
    if any(p.with_suffix(".safetensors").exists() for p in shipped.glob("*.json") if ".trainstate" not in p.name):
        return shipped
    from vadlab import api
    from vadlab.train import TrainConfig

    folder = tmp_path_factory.mktemp("checkpoints")
    api.train("conv_ae", f"synthetic:{samples}", folder / "conv_ae_tiny", epochs=1, device="cpu",
              train_config=TrainConfig(max_steps_per_epoch=2), evaluate_after=False)
    return folder


def require_browser() -> None:
    """Skip (with the reason) when Debian's Chromium or the Playwright package is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); the browser test never downloads one")
    pytest.importorskip("playwright.sync_api", reason="the Playwright Python package is not installed (pip install playwright)")


@contextlib.contextmanager
def streamlit_server(tmp_path: Path, samples: Path, checkpoints: Path, **env_vars: str) -> Iterator[str]:
    """`streamlit run app.py` on a free port of 127.0.0.1 with the lab's folders set (user checkpoints and
    the score cache in `tmp_path`; `env_vars` override); yields its URL once it answers, stops it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "VADLAB_SAMPLE_VIDEOS": str(samples), "VADLAB_CHECKPOINTS": str(checkpoints),
           "VADLAB_USER_CHECKPOINTS": str(tmp_path / "user_checkpoints"),
           "VADLAB_CACHE_DIR": str(tmp_path / "score_cache"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           **env_vars}
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def chromium(viewport: dict) -> Iterator:
    """A headless Debian Chromium page (Playwright) with generous timeouts (the first page load
    imports torch: slow on a loaded CI box)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            page.set_default_timeout(180_000)
            expect.set_options(timeout=180_000)
            yield page
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path, samples, checkpoints):
    require_browser()
    with streamlit_server(tmp_path, samples, checkpoints) as url:
        yield url


def settle(page, timeout: float = 60.0, chart: bool = True) -> None:
    """Wait until Streamlit has finished the current run (no element is greyed out as stale) and,
    with `chart`, until a plotly chart is on the page."""
    deadline = time.time() + timeout
    time.sleep(0.5)
    while time.time() < deadline and page.locator('[data-stale="true"]').count():
        time.sleep(0.25)
    if chart:
        page.wait_for_selector(".js-plotly-plot")


def anomalous_count(page) -> int:
    text = page.get_by_text(COUNT).first.inner_text()
    return int(COUNT.search(text).group(1))


THRESHOLD = re.compile(r"at threshold (-?\d+\.\d+)")


def verdict_line(page):
    """The "N anomalous frames of M (p %) at threshold t, in k events" paragraph."""
    return page.locator("p").filter(has_text=COUNT).filter(has_text=THRESHOLD).first


def shown_threshold(page) -> float:
    return float(THRESHOLD.search(verdict_line(page).inner_text()).group(1))


def test_score_page_upload_timeline_frames_and_threshold(server, samples, tmp_path):
    from playwright.sync_api import expect

    video = samples / "testing" / "test_01.mp4"
    with chromium({"width": 1400, "height": 2400}) as page:
        page.goto(f"{server}/score")
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()

        page.get_by_text("Upload", exact=True).click()
        page.locator('input[type="file"]').set_input_files(str(video))
        page.wait_for_selector(".js-plotly-plot")
        expect(page.locator('[data-testid="stImage"] img')).to_have_count(3)  # real | output | overlay
        expect(page.get_by_text(COUNT).first).to_be_visible()
        settle(page)
        before, threshold = anomalous_count(page), shown_threshold(page)
        assert before > 0, "the sample's anomaly should be flagged at the default threshold"
        page.screenshot(path=str(tmp_path / "score_before.png"), full_page=True)

        thumb = page.get_by_role("slider", name="Threshold")
        thumb.focus()
        thumb.press("End")  # the top of the range: above every frame's score
        expect(verdict_line(page)).not_to_have_text(re.compile(rf"at threshold {threshold:.2f}\b"))
        settle(page)
        after = anomalous_count(page)
        assert shown_threshold(page) > threshold
        page.wait_for_selector(".js-plotly-plot")
        page.screenshot(path=str(tmp_path / "score_after.png"), full_page=True)
        assert after < before, f"raising the threshold should flag fewer frames: {before} -> {after}"
        assert (tmp_path / "score_after.png").stat().st_size > 10_000
