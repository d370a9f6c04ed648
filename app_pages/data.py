"""Data: your own footage as datasets. Upload normal clips (and test clips) of your scene, label where
the anomalies are, then train on the Train page and evaluate on the Evaluate page."""
import streamlit as st

from vadlab.ui import data_view

st.title("Data")
st.caption("A model only knows the scene it was trained on. Upload normal clips of your own camera (videos or zips "
           "of frame images) as a named dataset, add test clips and mark their anomalous spans, then pick the "
           "dataset on the **Train** page and evaluate the model on it on the **Evaluate** page. Everything is "
           "kept as files, so it survives a restart and the command line reads it too.")

data_view.data_page()
