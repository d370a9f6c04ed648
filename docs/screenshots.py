"""Re-take the README's screenshots: starts `streamlit run app.py` on 127.0.0.1 and photographs
pages in headless Chromium (Debian's /usr/bin/chromium through Playwright; nothing is downloaded).

    python docs/screenshots.py                      # every page -> docs/NAME.png
    python docs/screenshots.py explain presenter    # just these
    git archive HEAD | tar -x -C /tmp/before        # the same pages of another version of the lab:
    python docs/screenshots.py --app-root /tmp/before --out docs/before

Pages: home (with the one-click demo run), score, presenter (Score in presenter mode at 1920 x 1080),
explain, evaluate (after pressing Evaluate), compare, notebook, train. The score cache of the run goes
to a temporary folder, so every evaluation is scored as a first-time user would see it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from test_browser import CHROMIUM_ARGS, free_port, wait_until_healthy  # noqa: E402

PAGES = ["home", "score", "presenter", "explain", "evaluate", "compare", "notebook", "train"]
WIDE = {"width": 1400, "height": 1800}
SCREEN = {"width": 1920, "height": 1080}
MAX_HEIGHT = 5000  # px: a page taller than this is cut


def settle(page, timeout: float = 300.0) -> None:
    """Wait until the page has finished running (Streamlit shows a status widget and greys out stale
    elements meanwhile)."""
    deadline = time.time() + timeout
    time.sleep(3)
    while time.time() < deadline and (page.locator('[data-testid="stStatusWidget"]').count()
                                      or page.locator('[data-stale="true"]').count()):
        time.sleep(1)
    time.sleep(2)


def photograph(page, url: str, name: str, out: Path) -> Path:
    page.set_viewport_size(SCREEN if name == "presenter" else WIDE)
    page.goto(f"{url}/{'' if name in ('home',) else 'score' if name == 'presenter' else name}")
    page.wait_for_selector("h1", timeout=180_000)
    settle(page)
    if name == "home":
        page.get_by_role("button", name="Run the demo").click()
        settle(page)
    elif name == "presenter":
        page.get_by_text("Presenter mode").first.click()
        settle(page)
    elif name == "evaluate":
        page.get_by_role("button", name="Evaluate", exact=True).click()
        settle(page, timeout=900)
    path = out / f"{name}.png"
    if name != "presenter":  # Streamlit scrolls inside its main block: grow the window to the page's height
        height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
        page.set_viewport_size({"width": WIDE["width"], "height": int(min(max(height + 40, WIDE["height"]), MAX_HEIGHT))})
        settle(page, timeout=60)
    page.screenshot(path=str(path))
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help=f"pages to photograph, of {', '.join(PAGES)} (default: all)")
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the lab to run (a checkout with app.py)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for NAME.png")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.pages) - set(PAGES))
    if unknown:
        parser.error(f"unknown page(s) {', '.join(unknown)}; choose from {', '.join(PAGES)}")
    from playwright.sync_api import sync_playwright

    app_root = args.app_root.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="vadlab_screenshots_"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(app_root), os.environ.get("PYTHONPATH", "")]),
           "VADLAB_SAMPLE_VIDEOS": str(app_root / "sample_videos"), "VADLAB_CHECKPOINTS": str(app_root / "checkpoints"),
           "VADLAB_USER_CHECKPOINTS": str(scratch / "user_checkpoints"), "VADLAB_CACHE_DIR": str(scratch / "score_cache")}
    log = scratch / "streamlit.log"
    with log.open("w") as fh:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.address", "127.0.0.1",
                                   "--browser.gatherUsageStats", "false"], cwd=app_root, env=env, stdout=fh,
                                  stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(url, server, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=WIDE)
            for name in args.pages or PAGES:
                print(f"wrote {photograph(page, url, name, args.out)}", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
