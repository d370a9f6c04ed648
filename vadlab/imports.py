"""The app's modules imported once, by one thread, before any session uses them.

Python takes one lock per module while it imports it. When sessions of a cold Streamlit server (each
a thread) import different modules of one import graph at the same moment, two threads can each
hold a lock the other waits for; Python breaks such a cycle by handing one of them a half-initialised
module, and a page fails with "cannot import name 'ui' from 'vadlab'" or a `_DeadlockError`
(measured: 7 threads importing vadlab.ui, vadlab.api, vadlab.ui.cache, ... at once failed in 4 runs
of 4). `import_app_modules()` imports every vadlab module and the libraries the pages import lazily
under one process-wide lock; afterwards every import is a lookup of a finished module, which takes no
lock. `app.py` calls it before anything else.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading

# imported inside functions by the pages or the toolkit; optional ones are skipped when absent
LAZY_LIBRARIES = ("pandas", "plotly.graph_objects", "av", "streamlit_webrtc", "captum.attr", "decord", "cv2")
NOT_FOR_THE_APP = ("vadlab.__main__",)  # runs the CLI when imported

_LOCK = threading.Lock()
_imported = False


def app_modules() -> list[str]:
    """Every vadlab module (the toolkit, the core, the families), in a stable order."""
    import vadlab

    names = sorted(m.name for m in pkgutil.walk_packages(vadlab.__path__, "vadlab."))
    return [name for name in names if name not in NOT_FOR_THE_APP]


def import_app_modules() -> None:
    """Import the app's modules once per process, one thread at a time (later calls return at once)."""
    global _imported
    if _imported:
        return
    with _LOCK:
        if _imported:
            return
        for name in app_modules():
            importlib.import_module(name)
        for name in LAZY_LIBRARIES:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional library that is not installed
                pass
        _imported = True
