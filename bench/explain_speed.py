"""Explain page speed on this machine (never part of the test run): how long the page takes to
open, to move to another frame without a new attribution request (attributions are computed only
on demand, or shown from the cache), and to compute one attribution on request.

    python bench/explain_speed.py                                  # ffp_synthetic on testing/test_02
    python bench/explain_speed.py --checkpoint checkpoints/ffp_ped2_cpu --frames 20 59 120

The page runs in Streamlit's AppTest (the real page script, no browser). The clip is scored once
when the page opens (as after a visit to Score, where it would be cached already); every later
figure is a rerun of the page. Target (issue 18): a frame change under 2 s on a CPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "ffp_synthetic"))
    parser.add_argument("--sample", default="testing/test_02", help="a shipped sample clip")
    parser.add_argument("--frames", type=int, nargs="+", default=[20, 59, 90])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    import torch
    from streamlit.testing.v1 import AppTest

    torch.set_num_threads(args.threads)

    def timed(step):
        start = time.perf_counter()
        at = step()
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        if problems:
            raise SystemExit(f"the page failed: {problems}")
        return time.perf_counter() - start

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900).run()
    at.switch_page("app_pages/explain.py")
    opened = timed(lambda: at.run())
    at.selectbox(key="explain.sample").set_value(args.sample)
    at.selectbox(key="explain.checkpoint").set_value(args.checkpoint)
    scored = timed(lambda: at.run())  # the clip scored (and the model loaded) by this checkpoint
    rows = [("open the page", opened), (f"choose {args.sample} + {Path(args.checkpoint).name} (scores the clip)", scored)]
    for frame in args.frames:
        rows.append((f"frame change to {frame} (no attribution asked for)",
                     timed(lambda: at.slider(key="explain.frame").set_value(frame).run())))
    rows.append((f"compute Integrated Gradients on frame {args.frames[-1]} (on request)",
                 timed(lambda: at.button(key="explain.attribute").click().run())))
    rows.append((f"frame change to {args.frames[0]}", timed(lambda: at.slider(key="explain.frame").set_value(args.frames[0]).run())))
    rows.append((f"back to frame {args.frames[-1]} (attribution from the cache)",
                 timed(lambda: at.slider(key="explain.frame").set_value(args.frames[-1]).run())))
    print(f"Explain page, {at.selectbox(key='explain.checkpoint').value} on {at.selectbox(key='explain.sample').value}, "
          f"{torch.get_num_threads()} CPU thread(s), load average {os.getloadavg()[0]:.1f}")
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds:6.2f} s")
    changes = [s for name, s in rows if name.startswith("frame change")]
    print(f"frame change without an attribution request: max {max(changes):.2f} s (target < 2 s): "
          + ("OK" if max(changes) < 2.0 else "SLOWER THAN THE TARGET"))


if __name__ == "__main__":
    main()
