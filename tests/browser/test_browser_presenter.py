"""A presenter at a 1920 x 1080 (and a 1280 x 720) projector, in a real browser (Debian Chromium via Playwright; see
test_browser.py): Score -> Presenter mode shows the whole video and its timeline without scrolling
(measured element boxes), no sidebar, the verdict in big letters, the downloads in view, and a
timeline that follows playback and answers clicks; all with the mouse."""
from __future__ import annotations

import re
import time

import pytest

from test_browser import ROOT, chromium, require_browser, settle, streamlit_server

pytestmark = pytest.mark.browser

SCREEN = {"width": 1920, "height": 1080}


@pytest.fixture
def lab(tmp_path):
    require_browser()
    samples, checkpoints = ROOT / "sample_videos", ROOT / "checkpoints"
    if not (samples / "testing" / "labels.json").exists():
        pytest.fail(f"{samples} has no sample videos: run `python -m vadlab samples --out sample_videos`")
    if not any(checkpoints.glob("*_synthetic.safetensors")):
        pytest.skip("no shipped *_synthetic checkpoints")
    with streamlit_server(tmp_path, samples, checkpoints) as url:
        yield url


def inside_screen(box: dict, what: str, screen: dict = SCREEN) -> None:
    assert box is not None, f"{what}: not rendered"
    assert box["x"] >= 0 and box["y"] >= 0, f"{what} starts outside the screen: {box}"
    assert box["x"] + box["width"] <= screen["width"] + 0.5, f"{what} runs off the right edge: {box}"
    assert box["y"] + box["height"] <= screen["height"] + 0.5, f"{what} is below the fold: {box}"


def open_presenter(page, lab: str):
    """Score's default clip in presenter mode, settled; returns the player's frame locator."""
    from playwright.sync_api import expect

    page.goto(f"{lab}/score")
    expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
    page.wait_for_selector(".js-plotly-plot")
    settle(page)
    page.get_by_text("Presenter mode").click()
    player = page.frame_locator("iframe").first
    expect(player.locator("#vad-video")).to_be_visible()
    expect(player.locator("#vad-timeline")).to_be_visible()
    time.sleep(1.0)  # the player fits itself once its frame is laid out
    settled = time.time() + 60
    while time.time() < settled and page.locator('[data-stale="true"]').count():
        time.sleep(0.25)
    return player


def test_presenter_view_fits_a_1280x720_projector(lab, tmp_path):
    """At 1280 x 720 the player shrinks the video (an integer upscale still) so that the verdict, the
    video, its controls, the timeline and the downloads are all on screen; the page does not scroll
    and the toggle's label is whole."""
    small = {"width": 1280, "height": 720}
    with chromium(small) as page:
        player = open_presenter(page, lab)
        video, timeline = player.locator("#vad-video"), player.locator("#vad-timeline")
        inside_screen(page.locator("#vad-headline").bounding_box(), "the verdict", small)
        for what, element in (("the video", video), ("the play button", player.locator("#vad-play")),
                              ("the frame slider", player.locator("#vad-frame")), ("the timeline", timeline),
                              ("the time axis", player.locator("#vad-axis"))):
            inside_screen(element.bounding_box(), what, small)
        for name in ("Scores (CSV)", "Annotated video (mp4)"):
            inside_screen(page.get_by_role("button", name=name).bounding_box(), f"the {name} download", small)
        main = page.locator('[data-testid="stMain"]')
        assert main.evaluate("m => m.scrollHeight <= m.clientHeight + 1"), "the presenter page scrolls at 1280 x 720"
        label = page.locator('[data-testid="stWidgetLabel"]').filter(has_text="Presenter mode").locator("p").first
        assert label.evaluate("p => p.scrollWidth <= p.clientWidth + 1"), "the toggle's label is cut"
        native = video.evaluate("v => [v.videoWidth, v.videoHeight]")
        if native[0]:
            scale = video.bounding_box()["width"] / native[0]
            assert abs(scale - round(scale)) < 0.02, (native, video.bounding_box())
        page.screenshot(path=str(tmp_path / "presenter_720p.png"))


def test_presenter_view_fits_a_1080p_screen_and_follows_playback(lab, tmp_path):
    from playwright.sync_api import expect

    with chromium(SCREEN) as page:
        player = open_presenter(page, lab)
        video = player.locator("#vad-video")
        timeline = player.locator("#vad-timeline")

        # no chrome: the sidebar is gone, the page does not scroll, the headline is big
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        headline = page.locator("#vad-headline")
        expect(headline).to_have_text(re.compile(r"^(Anomaly: \d+ events?, the first at|No anomaly)"))
        assert float(headline.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 32

        # the whole video and the timeline on screen, without scrolling; the video at a crisp integer upscale
        inside_screen(video.bounding_box(), "the video")
        inside_screen(timeline.bounding_box(), "the timeline")
        inside_screen(headline.bounding_box(), "the verdict")
        for name in ("Scores (CSV)", "Annotated video (mp4)"):
            inside_screen(page.get_by_role("button", name=name).bounding_box(), f"the {name} download")
        native = video.evaluate("v => [v.videoWidth, v.videoHeight]")
        shown = video.bounding_box()
        if native[0]:  # metadata loaded (Chromium plays H.264)
            scale = shown["width"] / native[0]
            assert abs(scale - round(scale)) < 0.02 and round(scale) >= 1, (native, shown)
        assert shown["width"] <= 1200 and shown["height"] <= 600
        page.screenshot(path=str(tmp_path / "presenter.png"))

        # the timeline follows the frame: the slider under the video and a click on the timeline seek
        head = player.locator("#vad-playhead")
        x0 = float(head.get_attribute("x1"))
        player.locator("#vad-frame").fill("90")
        expect(player.locator("#vad-status")).to_have_text(re.compile(r"^frame 90 · 9\.0 s"))
        assert float(head.get_attribute("x1")) != x0
        tbox = timeline.bounding_box()
        page.mouse.click(tbox["x"] + tbox["width"] * 0.25, tbox["y"] + tbox["height"] / 2)
        frame = int(re.match(r"frame (\d+)", player.locator("#vad-status").inner_text()).group(1))
        assert abs(frame - round(0.25 * 119)) <= 1

        # playback moves the playhead (when this Chromium decodes H.264)
        if video.evaluate("v => v.canPlayType('video/mp4; codecs=\"avc1.42E01E\"')"):
            player.locator("#vad-play").click()
            time.sleep(2.0)
            later = int(re.match(r"frame (\d+)", player.locator("#vad-status").inner_text()).group(1))
            assert later != frame, "the timeline did not follow playback"
            player.locator("#vad-play").click()

        # heatmap overlay off: the plain clip, same place
        player.locator("#vad-heatmap").uncheck()
        expect(video).to_have_attribute("src", re.compile(r"^data:video/mp4"))
        assert video.evaluate("v => v.src") == video.evaluate("v => v.src")  # still one video element

        # leaving presenter mode brings the page back
        page.get_by_text("Presenter mode").click()
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
