"""Timbre's frame: page config, this session's shared state, the demo's first load, navigation."""

from __future__ import annotations

import streamlit as st

from timbre.app import access
from timbre.app.navigation import navigation
from timbre.app.state import ensure_demo, get_store, init_state

st.set_page_config(page_title="Timbre", page_icon=":material/graphic_eq:", layout="wide")
init_state()
access.sidebar()
ensure_demo(get_store())
navigation().run()
