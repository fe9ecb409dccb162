"""runops dashboard entrypoint: navigation between the pages (each page guards itself)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.look import apply_look
from ui.nav import available

st.set_page_config(page_title="runops", page_icon=":material/tune:", layout="wide")
apply_look()

pages = [
    st.Page(spec.path, title=spec.title, icon=spec.icon, default=(index == 0))
    for index, spec in enumerate(available(Path(__file__).resolve().parent))
]
st.navigation(pages).run()
