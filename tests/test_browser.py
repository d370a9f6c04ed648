"""End to end in a real browser: `streamlit run app.py` on 127.0.0.1 driven by Chromium (Playwright).

Uploads a sample video on the Score page, waits for the timeline chart and the three frame panels,
moves the threshold slider with the keyboard and checks that the number of anomalous frames shown
follows it. Screenshots go to the test's temporary folder; with VADLAB_UPDATE_SCREENSHOTS=1 the
Score page screenshot also replaces docs/score.png (the README shows it).

Needs Chromium at /usr/bin/chromium (apt) and the Playwright Python package; never downloads a
browser. Skipped with a message when either is missing. Marker: `browser` (`pytest -m browser`).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
COUNT = re.compile(r"(\d+) anomalous frames?")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
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
              train_config=TrainConfig(epochs=1, max_steps_per_epoch=2), evaluate_after=False)
    return folder


@pytest.fixture
def server(tmp_path, samples, checkpoints):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); the browser test never downloads one")
    pytest.importorskip("playwright.sync_api", reason="the Playwright Python package is not installed (pip install playwright)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "VADLAB_SAMPLE_VIDEOS": str(samples), "VADLAB_CHECKPOINTS": str(checkpoints),
           "VADLAB_USER_CHECKPOINTS": str(tmp_path / "user_checkpoints")}
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


def settle(page, timeout: float = 60.0) -> None:
    """Wait until Streamlit has finished the current run (no element is greyed out as stale)."""
    deadline = time.time() + timeout
    time.sleep(0.5)
    while time.time() < deadline and page.locator('[data-stale="true"]').count():
        time.sleep(0.25)
    page.wait_for_selector(".js-plotly-plot")


def anomalous_count(page) -> int:
    text = page.get_by_text(COUNT).first.inner_text()
    return int(COUNT.search(text).group(1))


def test_score_page_upload_timeline_frames_and_threshold(server, samples, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    video = samples / "testing" / "test_01.mp4"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)  # first page load imports torch: slow on a loaded CI box
            page.goto(f"{server}/score")
            expect(page.get_by_role("heading", name="Score a video")).to_be_visible()

            page.get_by_text("Upload", exact=True).click()
            page.locator('input[type="file"]').set_input_files(str(video))
            page.wait_for_selector(".js-plotly-plot")
            expect(page.locator('[data-testid="stImage"] img')).to_have_count(3)  # real | output | overlay
            expect(page.get_by_text(COUNT).first).to_be_visible()
            settle(page)
            before = anomalous_count(page)
            page.screenshot(path=str(tmp_path / "score_before.png"), full_page=True)

            thumb = page.get_by_role("slider", name="Threshold")
            thumb.focus()
            for _ in range(30):  # 0.50 -> 0.80 in steps of 0.01
                thumb.press("ArrowRight")
            expect(page.get_by_text(re.compile(r"anomalous frames? of \d+ .*at threshold 0\.80"))).to_be_visible()
            settle(page)
            after = anomalous_count(page)
            page.wait_for_selector(".js-plotly-plot")
            page.screenshot(path=str(tmp_path / "score_after.png"), full_page=True)
            assert after < before, f"raising the threshold should flag fewer frames: {before} -> {after}"
            assert (tmp_path / "score_after.png").stat().st_size > 10_000

            if os.environ.get("VADLAB_UPDATE_SCREENSHOTS") == "1":  # the README's screenshot: a sample with ground truth
                page.get_by_text("Shipped sample", exact=True).click()
                expect(page.get_by_text(re.compile(r"Against the ground truth"))).to_be_visible()
                settle(page)
                thumb = page.get_by_role("slider", name="Threshold")
                thumb.focus()
                for _ in range(30):  # back to the default 0.50
                    thumb.press("ArrowLeft")
                expect(page.get_by_text(re.compile(r"anomalous frames? of \d+ .*at threshold 0\.50"))).to_be_visible()
                settle(page)
                page.set_viewport_size({"width": 1400, "height": 2050})
                settle(page)
                (ROOT / "docs").mkdir(exist_ok=True)
                page.screenshot(path=str(ROOT / "docs" / "score.png"))
        finally:
            browser.close()
