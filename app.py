"""vadlab: the Streamlit lab. Run with `streamlit run app.py`.

Routes with `st.navigation` over the files in app_pages/ (the Explain and Lab notebook pages are listed
when their files exist) and draws the shared sidebar (device in use, size of the model zoo).
"""
from pathlib import Path

import streamlit as st

from vadlab.imports import import_app_modules

import_app_modules()  # once per server, one session at a time: a cold server's sessions never race on imports

from vadlab import ui  # noqa: E402

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="vadlab: video anomaly detection lab", page_icon=":material/videocam:", layout="wide",
                   initial_sidebar_state="expanded")

PAGES = [
    ("app_pages/home.py", "Home: model zoo", ":material/home:", "home"),
    ("app_pages/score.py", "Score a video", ":material/movie:", "score"),
    ("app_pages/live.py", "Live", ":material/videocam:", "live"),
    ("app_pages/explain.py", "Explain", ":material/search_insights:", "explain"),
    ("app_pages/evaluate.py", "Evaluate", ":material/monitoring:", "evaluate"),
    ("app_pages/compare.py", "Compare variants", ":material/compare:", "compare"),
    ("app_pages/notebook.py", "Lab notebook", ":material/book_2:", "notebook"),
    ("app_pages/data.py", "Data", ":material/dataset:", "data"),
    ("app_pages/train.py", "Train", ":material/model_training:", "train"),
]

navigation = st.navigation(
    [
        st.Page(str(HERE / path), title=title, icon=icon, url_path=url, default=url == "home")
        for path, title, icon, url in PAGES
        if (HERE / path).is_file()
    ]
)
ui.sidebar()
navigation.run()
