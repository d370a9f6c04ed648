"""The users' flows of issue 18 in a real browser (Debian Chromium via Playwright; see test_browser.py),
each asserting what the user sees, at 1920 x 1080 and at 1280 x 720:

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
SCREENS = pytest.mark.parametrize("screen", [FULL_HD, SMALL], ids=["1920x1080", "1280x720"])


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


@SCREENS
def test_a_ped2_clip_is_its_own_scene_and_a_synthetic_clip_is_not(tmp_path, screen):
    from playwright.sync_api import expect

    require_browser()
    if not (DATA / "ped2" / "testing").is_dir():
        pytest.skip(f"UCSD Ped2 not found at {DATA / 'ped2'} (real-data tests need ../shared/datasets beside the repo)")
    checkpoints = copied_checkpoints(tmp_path, "ffp_ped2_cpu")
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints, VADLAB_DATA_ROOT=str(DATA)) as url, \
            chromium(screen) as page:
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


@SCREENS
def test_c_explain_and_presenter_show_the_calibrated_number_score_shows(tmp_path, screen):
    from playwright.sync_api import expect

    require_browser()
    checkpoints = copied_checkpoints(tmp_path, "ffp_synthetic")
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints) as url, chromium(screen) as page:
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


def small_clips(folder, specs):
    """mp4 files of small synthetic clips: {name: (seed, scene_seed)} -> {name: path}."""
    from vadlab.data.synthetic import generate_clip
    from vadlab.data.writer import write_video

    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_video(folder / f"{name}.mp4", generate_clip(seed, n_frames=48, width=96, height=72,
                                                                     scene_seed=scene).frames, 10)
            for name, (seed, scene) in specs.items()}


def selectbox(page, label: str):
    """The Streamlit selectbox labelled `label` (its value: `to_have_value`)."""
    return page.get_by_role("combobox", name=label, exact=True)


@SCREENS
def test_b_e_a_dataset_made_on_the_data_page_is_offered_everywhere_and_enter_keeps_the_files(tmp_path, screen):
    from playwright.sync_api import expect

    require_browser()
    checkpoints = copied_checkpoints(tmp_path, "conv_ae_synthetic")
    clips = small_clips(tmp_path / "clips", {"normal_1": (1, 0), "normal_2": (2, 0), "cart": (7, 0)})
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints,
                          VADLAB_USER_DATA=str(tmp_path / "user_data")) as url, chromium(screen) as page:
        page.goto(f"{url}/data")
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        uploads = page.locator('[data-testid="stForm"] input[type="file"]')
        uploads.nth(0).set_input_files([str(clips["normal_1"]), str(clips["normal_2"])])
        uploads.nth(1).set_input_files([str(clips["cart"])])
        expect(page.get_by_text("normal_2.mp4")).to_be_visible()
        name = page.get_by_role("textbox", name="Dataset name")
        name.fill("street")
        name.press("Enter")  # (e) does not submit the form: nothing is lost
        time.sleep(2.0)
        settle(page, chart=False)
        assert page.get_by_text("no dataset name").count() == 0
        assert page.get_by_text(re.compile("Added to street")).count() == 0  # nothing submitted yet
        expect(page.get_by_text("normal_1.mp4")).to_be_visible()
        expect(page.get_by_text("cart.mp4")).to_be_visible()
        page.get_by_role("button", name="Add clips").click()
        expect(page.get_by_text(re.compile(r"Added to street as normal \(training\) clips"))).to_be_visible()

        # (b) Score offers it as a clip source, without a path
        page.get_by_role("link", name="Score a video").click()
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        page.get_by_text("Your datasets", exact=True).click()
        expect(selectbox(page, "Your dataset")).to_have_value("street")
        expect(selectbox(page, "Clip")).to_have_value("testing/cart")
        settle(page)
        # Train and Evaluate follow the dataset just made
        for link in ("Train", "Evaluate"):
            page.get_by_role("link", name=link, exact=True).click()
            expect(page.get_by_role("heading", name=link, exact=True)).to_be_visible()
            expect(page.get_by_role("radio", name="Your datasets")).to_be_checked()
            expect(selectbox(page, "Your dataset")).to_have_value("street")
        page.screenshot(path=str(tmp_path / "evaluate_follows.png"), full_page=True)


@SCREENS
def test_f_a_false_alarm_marked_on_normal_footage_disappears_after_recalibration(tmp_path, screen):
    from playwright.sync_api import expect

    require_browser()
    checkpoints = copied_checkpoints(tmp_path, "conv_ae_synthetic")
    clip = small_clips(tmp_path / "clips", {"cam": (301, 7)})["cam"]  # normal footage of an unseen walkway
    with streamlit_server(tmp_path, ROOT / "sample_videos", checkpoints,
                          VADLAB_USER_DATA=str(tmp_path / "user_data")) as url, chromium(screen) as page:
        page.goto(f"{url}/score")
        expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
        page.get_by_text("Upload", exact=True).click()
        page.locator('input[type="file"]').first.set_input_files(str(clip))
        expect(page.get_by_text("Was an alert wrong? This is normal.")).to_be_visible()
        settle(page)
        event = page.get_by_role("combobox", name="Alert event").input_value()
        start, end = (int(v) for v in re.search(r"frames (\d+)–(\d+)", event).groups())
        name = page.get_by_role("textbox", name="Your dataset for this camera")
        name.fill("lobby")
        name.press("Tab")
        settle(page)
        page.get_by_role("button", name=re.compile("Mark as a false alarm")).click()
        notice = page.get_by_text(re.compile(r"Alert events on this clip: \d+ → \d+"))
        expect(notice).to_be_visible()
        before, after = (int(v) for v in re.search(r"(\d+) → (\d+)", notice.inner_text()).groups())
        assert after < before and "lobby" in notice.inner_text()
        settle(page)
        for option in ([page.get_by_role("combobox", name="Alert event").input_value()]
                       if page.get_by_role("combobox", name="Alert event").count() else []):
            a, b = (int(v) for v in re.search(r"frames (\d+)–(\d+)", option).groups())
            assert b < start or a > end, f"the marked alert {start}-{end} is still there: {option}"
        page.screenshot(path=str(tmp_path / "false_alarm.png"), full_page=True)
        # the kept frames are a normal clip of the dataset, on the Data page
        page.get_by_role("link", name="Data", exact=True).click()
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        expect(page.get_by_text(re.compile(r"^fa_cam_\d+-\d+$")).first).to_be_attached()  # a cell of the clips table
