"""Lab notebook: an exploration built as cells (clip -> model(s) -> score -> inspect -> explain ->
evaluate), each cell's output feeding the next; only changed cells re-run; save, reopen, export."""
import streamlit as st

from vadlab import ui

PAGE = "notebook"

st.title("Lab notebook")
st.caption("Build an exploration cell by cell: choose a clip, model(s), score, inspect a frame, explain it, "
           "evaluate. Each cell uses the outputs of the cells above it; only cells whose inputs changed run "
           "again. Save the notebook as JSON, reopen it later, or export it as a Python script or a Jupyter "
           "notebook that reproduces the same numbers.")

nb, cache = ui.notebook_session()
with st.expander("Open a saved notebook"):
    ui.notebook_open_controls()

nb.title = st.text_input("Title", key="notebook.title") or "Lab notebook"
results = ui.notebook_cells(nb, cache)
ui.notebook_add_cell(nb)

st.subheader("Save and export")
ui.notebook_downloads(nb, results)
