"""You: one person end to end: listening -> questionnaire -> list -> feedback -> CSV -> forget."""

from __future__ import annotations

import streamlit as st

from timbre.app import you
from timbre.app.state import get_store

st.title("You")
st.caption(
    "Your own recommendations: bring your listening, take the questionnaire, react to the list. "
    "Every step is optional and says what it adds."
)
store = get_store()
you.flash()
person = you.person_box(store)
mapping_box, seeds = you.listening_section(store, person)
you.personality_section(store, person)
made = you.list_section(store, person, mapping_box, seeds)
you.feedback_section(store, person, made.data)
you.download_section(made)
you.forget_section(store, person)
