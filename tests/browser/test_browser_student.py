"""A student's first ten minutes, in a real browser (Debian Chromium via Playwright; see test_browser.py).

1. Home: the one-click demo runs a model trained on the sample scene on a sample clip, says why, and
   its verdict reaches F1 >= 0.9 against the ground truth.
2. Score: an uploaded clip (no ground truth): a click on a point of its timeline moves the frame.
3. Score -> Explain (through the app's navigation, one browser session): the same clip, the same
   model and the same frame; the upload is still there.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from test_browser import ROOT, chromium, require_browser, settle, streamlit_server

pytestmark = pytest.mark.browser

F1 = re.compile(r"Against the ground truth: .*F1 (\d\.\d\d)")
FRAME_OF = re.compile(r"Score of frame (\d+):")


@pytest.fixture(scope="module")
def samples() -> object:
    folder = ROOT / "sample_videos"
    if not (folder / "testing" / "labels.json").exists():
        pytest.fail(f"{folder} has no sample videos: run `python -m vadlab samples --out sample_videos`")
    return folder


@pytest.fixture
def lab(tmp_path, samples):
    require_browser()
    checkpoints = ROOT / "checkpoints"
    if not any(checkpoints.glob("*_synthetic.safetensors")):
        pytest.skip("no shipped *_synthetic checkpoints")
    with streamlit_server(tmp_path, samples, checkpoints) as url:
        yield url


def frame_slider(page):
    return page.locator('input[type="range"][aria-label="Frame"]')


def frame_slider_value(page) -> int:
    return int(frame_slider(page).get_attribute("aria-valuetext"))


def click_timeline_frame(page, frame: int, chart: int = 0) -> None:
    """Click the point of frame `frame` on the `chart`-th plotly chart of the page, where plotly draws
    it (its axes convert data to pixels)."""
    graph = page.locator(".js-plotly-plot").nth(chart)
    graph.scroll_into_view_if_needed()
    x, y = graph.evaluate(
        """(gd, frame) => {
            const trace = gd._fullData.find(t => t.mode === 'markers' && t.name.endsWith(' · frames'));
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            return [box.left + xa._offset + xa.l2p(frame), box.top + ya._offset + ya.l2p(trace.y[frame])];
        }""", frame)
    page.mouse.move(x, y)
    time.sleep(0.3)  # plotly picks the hovered point; the click then selects it
    page.mouse.click(x, y)


def test_student_demo_upload_click_and_explain_keep_the_context(lab, samples, tmp_path):
    from playwright.sync_api import expect

    with chromium({"width": 1400, "height": 1800}) as page:
        # 1. the demo: a model of the sample scene, on a clip where it shines, said why
        page.goto(lab)
        expect(page.get_by_role("heading", name="vadlab: video anomaly detection lab")).to_be_visible()
        # the zoo shows every checkpoint without an inner scroll bar: its box holds a row per checkpoint
        zoo = page.locator('[data-testid="stDataFrame"]').first
        expect(zoo).to_be_visible()
        count = int(re.search(r"Model zoo: (\d+) checkpoint", page.locator('[data-testid="stSidebar"]').inner_text()).group(1))
        assert zoo.bounding_box()["height"] >= 35 * (count + 1), (zoo.bounding_box(), count)
        page.get_by_role("button", name="Run the demo").click()
        expect(page.get_by_text(F1).first).to_be_visible()
        settle(page)
        explanation = page.get_by_text(re.compile(r"learned the normal walkway of the sample scene")).inner_text()
        model = re.match(r"(\S+) \(", explanation).group(1)
        metadata = json.loads((ROOT / "checkpoints" / f"{model}.json").read_text())
        assert metadata["training"]["data"].startswith("synthetic:"), f"the demo's {model} was not trained on the samples"
        f1 = float(F1.search(page.get_by_text(F1).first.inner_text()).group(1))
        assert f1 >= 0.9, f"the demo's verdict: F1 {f1} against the ground truth"
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

        # 2. Score an upload (no ground truth): a click on its timeline moves the frame
        page.get_by_role("link", name="Score a video").click()
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        page.get_by_text("Upload", exact=True).click()
        upload = samples / "testing" / "test_02.mp4"
        page.locator('input[type="file"]').set_input_files(str(upload))
        expect(page.get_by_text("Clip uploaded in this session")).to_be_visible()
        page.wait_for_selector(".js-plotly-plot")
        settle(page)
        assert not page.get_by_text("Against the ground truth").count()  # an upload has none
        chosen = page.get_by_text(re.compile(r"^Chosen for this clip: ")).inner_text()
        score_model = re.search(r"Chosen for this clip: (\S+):", chosen).group(1)
        start = frame_slider_value(page)
        target = 17 if start != 17 else 23
        click_timeline_frame(page, target)
        expect(frame_slider(page)).to_have_attribute("aria-valuetext", str(target))
        settle(page)
        expect(page.get_by_text(re.compile(rf"^Frame {target} \(t = "))).to_be_visible()  # the frame panels follow
        page.screenshot(path=str(tmp_path / "score_upload_clicked.png"), full_page=True)

        # 3. Explain (the app's navigation, same session): the same clip, model and frame
        page.get_by_role("link", name="Explain").click()
        expect(page.get_by_role("heading", name="Explain a frame's score")).to_be_visible()
        expect(page.get_by_text(FRAME_OF)).to_be_visible()
        settle(page)
        assert int(FRAME_OF.search(page.get_by_text(FRAME_OF).inner_text()).group(1)) == target
        assert frame_slider_value(page) == target
        title = page.locator(".js-plotly-plot .gtitle").first.text_content()
        assert title.startswith(f"{upload.stem}:") and f"({score_model})" in title, title
        expect(page.get_by_text("Clip uploaded in this session")).to_be_visible()  # the upload is still there
        page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)
