"""Re-take the README's screenshots: starts `streamlit run app.py` on 127.0.0.1 and photographs
pages in headless Chromium (Debian's /usr/bin/chromium through Playwright; nothing is downloaded).

    python docs/screenshots.py                # score, explain, notebook, evaluate, home
    python docs/screenshots.py explain        # just one
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_browser import CHROMIUM_ARGS, free_port, wait_until_healthy  # noqa: E402

PAGES = ["home", "score", "explain", "evaluate", "compare", "notebook", "train"]


def main(names: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path("/tmp/vadlab_screenshots.log")
    with log.open("w") as fh:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.address", "127.0.0.1",
                                   "--browser.gatherUsageStats", "false"], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(url, server, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            for name in names or PAGES:
                page.goto(f"{url}/{'' if name == 'home' else name}")
                page.wait_for_selector("h1", timeout=60_000)
                # let the page finish running (Streamlit shows a "running" status widget meanwhile)
                deadline = time.time() + 120
                time.sleep(3)
                while time.time() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
                    time.sleep(1)
                time.sleep(2)
                out = ROOT / "docs" / f"{name}.png"
                page.screenshot(path=str(out), full_page=True)
                print(f"wrote {out}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
