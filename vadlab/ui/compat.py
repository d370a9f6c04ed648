"""Work around Streamlit's legacy multipage mode for deep links on a fresh server.

Streamlit treats an app with a `pages/` folder beside its main script as a "v1" multipage app, and
runs a requested page file directly (without app.py) until some session has run `st.navigation`.
So the very first request of a fresh server going straight to `/score` would skip app.py: no
page config, no sidebar, Streamlit's own page list. `leave_legacy_pages_mode()` runs when a page
imports `vadlab.ui` in that state: it switches the server to `st.navigation` mode and reruns, so
app.py routes the request as usual. It only touches a documented-as-legacy class flag and does
nothing in AppTest or outside Streamlit.
"""
from __future__ import annotations

import streamlit as st


def leave_legacy_pages_mode() -> None:
    """Switch a server still in legacy pages/ mode to st.navigation mode and rerun this request."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    except ImportError:  # a Streamlit without the legacy mode: nothing to do
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()
