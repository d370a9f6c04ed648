"""A researcher's whole afternoon in a real browser: their own footage, end to end.

`streamlit run app.py` on 127.0.0.1, driven by Chromium (Playwright). The test generates three normal
clips of one synthetic scene and one clip of the same scene with an anomaly (a cart on the walkway),
then, through the pages only:
  1. Data: uploads the three normal clips and the test clip as a new dataset, marks the anomalous
     span of the test clip (start and end frames, Add span, Save labels), sees the ground-truth
     band on the timeline, drag-selects another span on the timeline and reverts it;
  2. Train: picks the dataset under "Your datasets", trains conv_ae (tiny) for a few epochs, watching
     the live progress, and reads "trained on: your dataset ...";
  3. Home: finds the checkpoint in the model zoo, trained on the dataset;
  4. Score: uploads the anomalous clip (an alert whose first frame lies in the marked span) and each
     normal clip (no alert: the calibrated verdict, calibrated on the held-out tails of the normal
     clips);
  5. Evaluate: picks the dataset and reads micro AUC >= 0.9.
Everything is written under the test's temporary folder (VADLAB_USER_DATA, VADLAB_USER_CHECKPOINTS;
the shipped zoo is replaced by an empty folder so the new checkpoint is the one every picker shows).
With VADLAB_UPDATE_SCREENSHOTS=1 the Data page screenshot also replaces docs/data.png.

Needs Chromium at /usr/bin/chromium (apt) and the Playwright Python package; never downloads a
browser. Skipped with a message when either is missing. Marker: `browser` (`pytest -m browser`).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

from test_browser import CHROMIUM, CHROMIUM_ARGS, require_browser, streamlit_server  # the shared browser helpers

ROOT = Path(__file__).resolve().parents[2]
N_FRAMES, WIDTH, HEIGHT, FPS = 120, 160, 120, 10
DATASET = "street_cam"
CHECKPOINT = "street_conv_ae"
EPOCHS = 6


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict:
    """Three normal clips and one anomalous clip of one scene, as a researcher's mp4 files."""
    from vadlab.data.synthetic import generate_clip
    from vadlab.data.writer import write_video

    folder = tmp_path_factory.mktemp("footage")
    normal = []
    for seed in (1, 2, 3):
        clip = generate_clip(seed, n_frames=N_FRAMES, width=WIDTH, height=HEIGHT, fps=FPS, scene_seed=0)
        normal.append(write_video(folder / f"walk_{seed}.mp4", clip.frames, FPS))
    clip = generate_clip(7, n_frames=N_FRAMES, width=WIDTH, height=HEIGHT, fps=FPS, scene_seed=0,
                         anomalies=("large_object",))
    anomalous = write_video(folder / "cart.mp4", clip.frames, FPS)
    anomalous_frames = np.flatnonzero(clip.labels)
    span = (int(anomalous_frames[0]), int(anomalous_frames[-1]))
    assert np.array_equal(np.flatnonzero(clip.labels), np.arange(span[0], span[1] + 1))  # one contiguous span
    return {"normal": normal, "anomalous": anomalous, "span": span}


@pytest.fixture
def server(tmp_path):
    require_browser()
    (tmp_path / "no_shipped_checkpoints").mkdir()  # the new checkpoint is the one every picker shows
    with streamlit_server(tmp_path, ROOT / "sample_videos", tmp_path / "no_shipped_checkpoints",
                          VADLAB_USER_DATA=str(tmp_path / "user_data")) as url:
        yield {"url": url, "folder": tmp_path, "log": tmp_path / "streamlit.log"}


def settle(page, timeout: float = 120.0) -> None:
    """Wait until Streamlit has finished the current run (nothing greyed out as stale, no spinner)."""
    deadline = time.time() + timeout
    time.sleep(0.6)
    while time.time() < deadline and (page.locator('[data-stale="true"]').count()
                                      or page.locator('[data-testid="stStatusWidget"]').count()):
        time.sleep(0.25)


def commit_number(page, label: str, value: int) -> None:
    """Type a value into a number input and commit it (Enter), then wait for the rerun."""
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def test_a_researcher_labels_trains_scores_and_evaluates_their_own_footage(server, footage):
    from playwright.sync_api import expect, sync_playwright

    url, folder = server["url"], server["folder"]
    start, end = footage["span"]
    shots = folder / "screenshots"
    shots.mkdir()
    timings: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.set_default_timeout(180_000)
            expect.set_options(timeout=180_000)  # the first page imports torch: slow on a loaded machine

            # ---- 1. Data: a new dataset from uploads, then the anomalous span marked --------------------
            t0 = time.time()
            page.goto(f"{url}/data")
            expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
            expect(page.get_by_text("No datasets yet", exact=False)).to_be_visible()
            page.get_by_role("textbox", name="Dataset name").fill(DATASET)
            uploads = page.locator('[data-testid="stFileUploader"] input[type="file"]')
            uploads.nth(0).set_input_files([str(p) for p in footage["normal"]])
            uploads.nth(1).set_input_files(str(footage["anomalous"]))
            for p in [*footage["normal"], footage["anomalous"]]:
                expect(page.get_by_text(p.name, exact=True)).to_be_visible()
            time.sleep(1.0)  # the uploads finish in the background
            page.get_by_role("button", name="Add clips").click()
            expect(page.get_by_text(re.compile(r"as normal \(training\) clips: walk_1 \(120 frames"))).to_be_visible()
            expect(page.get_by_text(re.compile(r"as test clips: cart \(120 frames"))).to_be_visible()
            settle(page)

            commit_number(page, "New span: start frame", start)
            commit_number(page, "New span: end frame", end)
            page.get_by_role("button", name="Add span", exact=True).click()
            expect(page.get_by_text("Span 1", exact=True)).to_be_visible()
            expect(page.get_by_text("Unsaved changes", exact=False)).to_be_visible()
            settle(page)
            page.get_by_role("button", name="Save labels").click()
            expect(page.get_by_text(f"Saved the labels of cart: 1 anomalous span, {end - start + 1} of {N_FRAMES} frames."))\
                .to_be_visible()
            settle(page)
            # the ground-truth band on the labelling timeline: the span, shaded (two rectangles)
            expect(page.locator(".js-plotly-plot .shapelayer path")).not_to_have_count(0)
            # a second span drag-selected on the timeline, then discarded with Revert
            plot_area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
            x0, x1 = plot_area["x"] + plot_area["width"] * 0.8, plot_area["x"] + plot_area["width"] * 0.95
            y0, y1 = plot_area["y"] + 5, plot_area["y"] + plot_area["height"] - 5
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
            page.mouse.move(x1, y1, steps=5)
            page.mouse.up()
            page.get_by_role("button", name=re.compile(r"Mark the selected frames \d+–\d+ as anomalous")).click()
            expect(page.get_by_text("Span 2", exact=True)).to_be_visible()
            expect(page.get_by_text("Unsaved changes", exact=False)).to_be_visible()
            settle(page)
            page.get_by_role("button", name="Revert").click()
            expect(page.get_by_text("Span 2", exact=True)).to_have_count(0)
            settle(page)
            labels = json.loads((folder / "user_data" / DATASET / "testing" / "labels.json").read_text())
            assert np.flatnonzero(labels["cart"]).tolist() == list(range(start, end + 1))
            page.screenshot(path=str(shots / "data.png"), full_page=True)
            if os.environ.get("VADLAB_UPDATE_SCREENSHOTS") == "1":  # the README's: the labelling section
                page.set_viewport_size({"width": 1400, "height": 1500})
                settle(page)
                page.get_by_role("heading", name=re.compile(r"Label the test clips")).evaluate("e => e.scrollIntoView()")
                time.sleep(0.5)
                page.screenshot(path=str(ROOT / "docs" / "data.png"))
                page.set_viewport_size({"width": 1400, "height": 2200})
            timings["data"] = time.time() - t0

            # ---- 2. Train: the dataset, conv_ae tiny, a few epochs, live progress ------------------------
            t0 = time.time()
            page.goto(f"{url}/train")
            expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
            page.get_by_role("radiogroup", name="Data").get_by_text("Your datasets", exact=True).click()
            expect(page.get_by_text(re.compile(r"3 normal clips, 1 test clip \(1 labelled\)"))).to_be_visible()
            settle(page)
            commit_number(page, "Epochs", EPOCHS)
            name_box = page.get_by_role("textbox", name="Checkpoint name")
            name_box.fill(CHECKPOINT)
            name_box.press("Enter")
            settle(page)
            page.get_by_role("button", name="Start training").click()
            expect(page.get_by_text(re.compile(r"conv_ae \(tiny\) · step \d+ of \d+"))).to_be_visible()  # live progress
            expect(page.get_by_text(re.compile(rf"Saved {CHECKPOINT} in \d+ s"))).to_be_visible(timeout=600_000)
            expect(page.get_by_text(re.compile(rf"trained on: your dataset {DATASET}"))).to_be_visible()
            page.screenshot(path=str(shots / "train.png"), full_page=True)
            meta = json.loads((folder / "user_checkpoints" / f"{CHECKPOINT}.json").read_text())
            assert meta["training"]["data"].endswith(f"/user_data/{DATASET}") and meta["calibration"]
            timings["train"] = time.time() - t0

            # ---- 3. Home: the checkpoint is in the zoo, trained on the dataset ---------------------------
            page.goto(url)
            expect(page.get_by_role("heading", name="Model zoo")).to_be_visible()
            expect(page.get_by_text("Model zoo: 1 checkpoint", exact=False)).to_be_visible()
            zoo = page.locator('[data-testid="stDataFrame"]').first
            expect(zoo).to_be_visible()
            expect(zoo).to_contain_text(CHECKPOINT)
            expect(zoo).to_contain_text(f"folder:{DATASET}")

            # ---- 4. Score: the anomalous clip raises an alert in the span; the normal clips none ---------
            t0 = time.time()
            page.goto(f"{url}/score")
            expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
            expect(page.locator('[data-testid="stMultiSelect"]').first).to_contain_text(CHECKPOINT)  # the only model
            page.get_by_text("Upload", exact=True).click()
            video_input = page.locator('[data-testid="stFileUploader"] input[type="file"]').first
            video_input.set_input_files(str(footage["anomalous"]))
            alert = page.get_by_text(re.compile(r"Anomaly alert in cart: \d+ event"))
            expect(alert).to_be_visible()
            first = int(re.search(r"the first starts at [\d.]+ s \(frame (\d+)\)", alert.inner_text()).group(1))
            assert start <= first <= end, f"the first alert starts at frame {first}, outside the span {start}-{end}"
            settle(page)
            page.screenshot(path=str(shots / "score_cart.png"), full_page=True)
            for clip in footage["normal"]:
                video_input.set_input_files(str(clip))
                expect(page.get_by_text(f"No anomaly in {clip.stem}:", exact=False)).to_be_visible()
                settle(page)
            timings["score"] = time.time() - t0

            # ---- 5. Evaluate: micro AUC on the dataset ----------------------------------------------------
            t0 = time.time()
            page.goto(f"{url}/evaluate")
            expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible()
            page.get_by_role("radiogroup", name="Data").get_by_text("Your datasets", exact=True).click()
            expect(page.get_by_text(re.compile(r"3 normal clips, 1 test clip \(1 labelled\)"))).to_be_visible()
            settle(page)
            page.get_by_role("button", name="Evaluate", exact=True).click()
            card = page.locator('[data-testid="stMetric"]').filter(has_text="Micro AUC").first
            expect(card).to_be_visible()
            micro = float(card.locator('[data-testid="stMetricValue"]').inner_text())
            settle(page)
            page.screenshot(path=str(shots / "evaluate.png"), full_page=True)
            assert micro >= 0.9, f"micro AUC {micro} on {DATASET}"
            timings["evaluate"] = time.time() - t0
        finally:
            browser.close()
    print("seconds per step:", {k: round(v, 1) for k, v in timings.items()})
