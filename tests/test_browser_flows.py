"""The users' flows of issue 18 in a real browser (Debian Chromium via Playwright; see test_browser.py),
each asserting what the user sees, at 1920 x 1080 or 1280 x 720:

(a) Ped2's test clip 04 with ffp_ped2_cpu shows no out-of-scene note; a synthetic sample scored by
    the same Ped2 model does (needs ../shared/datasets; skipped otherwise);
(b, e) a dataset made on the Data page (Enter in its name field keeps the chosen files) is offered
    on Score, Train and Evaluate without typing a path, and Train and Evaluate follow it;
(c) Explain and presenter mode show the same calibrated number as Score for the same frame;
(f) a false alarm marked on a normal-footage clip disappears after recalibration, and the kept
    clip appears in the dataset.
"""
from __future__ import annotations

import re
import shutil
import time

import pytest

from test_browser import ROOT, chromium, require_browser, settle, streamlit_server

pytestmark = pytest.mark.browser

DATA = ROOT.parent / "shared" / "datasets"
FULL_HD = {"width": 1920, "height": 1080}
SMALL = {"width": 1280, "height": 720}
SIGMA = re.compile(r"score (-?\d+\.\d\d) σ")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def copied_checkpoints(tmp_path, *names: str):
    """Copies of shipped checkpoints (they may be retrained while the test runs), skipping when absent."""
    folder = tmp_path / "checkpoints"
    folder.mkdir(exist_ok=True)
    for name in names:
        source = ROOT / "checkpoints" / name
        if not source.with_suffix(".safetensors").exists():
            pytest.skip(f"no shipped {name} checkpoint")
        for suffix in (".json", ".safetensors"):
            shutil.copyfile(source.with_suffix(suffix), (folder / name).with_suffix(suffix))
    return folder


def test_a_ped2_clip_is_its_own_scene_and_a_synthetic_clip_is_not(tmp_path):
    from playwright.sync_api import expect

    require_browser()
    if not (DATA / "ped2" / "testing").is_dir():
        pytest.skip(f"UCSD Ped2 not found at {DATA / 'ped2'} (real-data tests need ../shared/datasets beside the repo)")
    checkpoints = copied_checkpoints(tmp_path, "ffp_ped2_cpu")
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints, VADLAB_DATA_ROOT=str(DATA)) as url, \
            chromium(SMALL) as page:
        page.goto(f"{url}/score")
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        settle(page)
        assert page.get_by_text("Outside this model's normal").count() == 1  # a synthetic sample, a Ped2 model
        page.get_by_text("Dataset clip", exact=True).click()
        expect(page.get_by_text("Clip", exact=True)).to_be_visible()
        settle(page)
        choose(page, "Clip", "testing/04")
        expect(page.get_by_text(re.compile(r"^180 frames, 360×240 px"))).to_be_visible()
        settle(page)
        expect(page.get_by_text(re.compile(r"^Alert|^Anomal|alert", re.I)).first).to_be_attached()
        assert page.get_by_text("Outside this model's normal").count() == 0, "Ped2's own clip called another scene"
        assert page.get_by_text(re.compile("another scene or camera")).count() == 0
        page.screenshot(path=str(tmp_path / "ped2_04.png"), full_page=True)


def test_c_explain_and_presenter_show_the_calibrated_number_score_shows(tmp_path):
    from playwright.sync_api import expect

    require_browser()
    checkpoints = copied_checkpoints(tmp_path, "ffp_synthetic")
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints) as url, chromium(FULL_HD) as page:
        page.goto(f"{url}/score")
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        settle(page)
        line = page.get_by_text(re.compile(r"^Frame \d+ \(t = ")).first.inner_text()
        frame, sigma = int(re.match(r"Frame (\d+)", line).group(1)), SIGMA.search(line).group(1)
        page.get_by_role("link", name="Explain").click()
        expect(page.get_by_role("heading", name="Explain a frame's score")).to_be_visible()
        caption = page.get_by_text(re.compile(rf"^Score of frame {frame}: "))
        expect(caption).to_be_visible()
        assert f"{sigma} σ (raw " in caption.inner_text(), (caption.inner_text(), sigma)
        page.get_by_role("link", name="Score a video").click()
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        settle(page)
        page.get_by_text("Presenter mode").click()
        player = page.frame_locator("iframe").first
        expect(player.locator("#vad-timeline")).to_be_visible()
        player.locator("#vad-frame").fill(str(frame))
        expect(player.locator("#vad-status")).to_have_text(re.compile(rf"^frame {frame} · "))
        expect(player.locator("#vad-score")).to_have_text(re.compile(rf"^score {re.escape(sigma)} σ \(threshold "))
        page.screenshot(path=str(tmp_path / "presenter_same_number.png"))
