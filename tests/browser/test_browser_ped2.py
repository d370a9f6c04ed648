"""A researcher on UCSD Ped2, in a real browser (Debian Chromium via Playwright; see test_browser.py).
Needs the real data at ../shared/datasets/ped2 (skipped otherwise).

1. Score a Ped2 dataset clip (frame folders): test clip 04 has the camera's 10 fps and lasts 18.0 s
   (UCSD recorded at 10 fps; frame folders carry no rate, so the dataset's is used).
2. Evaluate on Ped2 twice: the second evaluation, in a new browser session, is shown from the scores
   kept on disk (per checkpoint and dataset digest), with the same numbers. How long it takes is
   printed, never asserted (a test never depends on the machine's load); README: under 5 s.
"""
from __future__ import annotations

import re
import shutil
import time

import pytest

from test_browser import ROOT, chromium, require_browser, settle, streamlit_server

pytestmark = pytest.mark.browser

DATA = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def lab(tmp_path):
    require_browser()
    if not (DATA / "ped2" / "testing").is_dir():
        pytest.skip(f"UCSD Ped2 not found at {DATA / 'ped2'} (real-data tests need ../shared/datasets beside the repo)")
    source = ROOT / "checkpoints" / "conv_ae_ped2_cpu"
    if not source.with_suffix(".safetensors").exists():
        pytest.skip("no shipped conv_ae_ped2_cpu checkpoint")
    # a copy: the shipped Ped2 checkpoints may be retrained (replaced) while the test runs
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(source.with_suffix(suffix), (checkpoints / source.name).with_suffix(suffix))
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints, VADLAB_DATA_ROOT=str(DATA)) as url:
        yield url


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def micro_auc(page):
    """The value of the "Micro AUC" card (found by its label: cards render one by one)."""
    return page.locator('[data-testid="stMetric"]', has_text="Micro AUC").first.locator('[data-testid="stMetricValue"]')


def test_ped2_clip_has_10_fps_and_a_second_evaluation_comes_from_the_disk(lab, tmp_path):
    from playwright.sync_api import expect

    with chromium({"width": 1400, "height": 1800}) as page:
        # 1. Score: Ped2 test clip 04 at the camera's 10 fps
        page.goto(f"{lab}/score")
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        page.get_by_text("Dataset clip", exact=True).click()
        expect(page.get_by_text("Clip", exact=True)).to_be_visible()
        settle(page)
        settle(page)
        choose(page, "Clip", "testing/04")
        expect(page.get_by_text(re.compile(r"^180 frames, 360×240 px, 10 fps, 18\.0 s$"))).to_be_visible()
        expect(page.get_by_text(re.compile(r"frame \(10 fps\)")).first).to_be_attached()  # the timeline's axis
        settle(page)
        page.screenshot(path=str(tmp_path / "ped2_clip04.png"), full_page=True)

        # 2. Evaluate on Ped2: once (scored), then again in a new session (from the disk cache)
        page.get_by_role("link", name="Evaluate").click()
        expect(page.get_by_role("heading", name="Evaluate")).to_be_visible()
        expect(page.get_by_text("A dataset folder", exact=True)).to_be_visible()  # the clip's dataset, already chosen
        expect(page.get_by_role("textbox", name="Dataset folder")).to_have_value(str(DATA / "ped2"))
        page.get_by_role("button", name="Evaluate", exact=True).click()
        expect(page.get_by_text("Micro AUC").first).to_be_visible(timeout=900_000)
        expect(micro_auc(page)).to_have_text(re.compile(r"^0\.\d{4}$"))
        first = micro_auc(page).inner_text()
        settle(page)

        page.goto(f"{lab}/evaluate")  # a new browser session: nothing in its memory
        expect(page.get_by_role("heading", name="Evaluate")).to_be_visible()
        expect(page.get_by_text("A dataset folder", exact=True)).to_be_visible()
        settle(page, chart=False)
        started = time.monotonic()
        page.get_by_text("A dataset folder", exact=True).click()
        expect(page.get_by_text("Micro AUC").first).to_be_visible(timeout=60_000)
        expect(page.get_by_role("heading", name="Protocol explorer")).to_be_visible(timeout=60_000)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=60_000)
        seconds = time.monotonic() - started  # the whole page: numbers, curves, tables, protocol explorer
        expect(page.get_by_text(re.compile(r"^Scores of these test videos were computed before"))).to_be_visible()
        expect(micro_auc(page)).to_have_text(first)  # the same numbers (retried while the cards render)
        print(f"second evaluation of Ped2 (from the disk): {seconds:.1f} s")
        page.screenshot(path=str(tmp_path / "ped2_evaluate_again.png"), full_page=True)
