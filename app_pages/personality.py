"""Personality: Big Five questionnaire, scores with percentiles, and the trait -> music prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from timbre import personality as pers
from timbre import plots
from timbre.app.access import require_write, write_gate
from timbre.app.hybrid import list_filters, prior_note
from timbre.app.models import cached_item_attributes, choose_dataset, interaction_data
from timbre.app.state import get_store, guard, shared
from timbre.app.widgets import escape_markdown, persona_choice, questionnaire_items, text_table
from timbre.errors import DataError
from timbre.export import csv_text
from timbre.hybrid.safety import shown_mask

st.title("Personality")
st.caption(
    "Big Five traits from a public-domain questionnaire, percentiles against 19,718 real "
    "respondents, and a small, research-grounded nudge on recommendations. The effects are "
    "small: trait-music correlations in the literature are about |r| = .08-.13 (Greenberg et "
    "al. 2016), and a meta-analysis found only 6 of 30 trait-style correlations above .1 "
    "(Schafer & Mehlhorn 2017). Treat the prior as a weak signal, strongest for new listeners."
)
store = get_store()

left, right = st.columns([2, 1])
user = left.text_input(
    "Listener",
    value="me",
    key="personality_user",
    help="A listener id from a data set (e.g. hetrec:user:2) or a name for a new listener.",
).strip()
name = right.radio(
    "Questionnaire",
    list(pers.instruments()),
    format_func=lambda n: pers.instruments()[n].title,
    key="personality_instrument",
)
instrument = pers.get_instrument(name)


def fill_persona() -> None:
    """Fill every item from the chosen real, anonymous response."""
    index = int(st.session_state.get("personality_persona_choice", 2))
    for code, value in pers.persona_answers(index, instrument).items():
        st.session_state[f"personality_q_{code}"] = value


def clear_answers() -> None:
    for item in instrument.items:
        st.session_state[f"personality_q_{item.code}"] = None


p_left, p_mid, p_right = st.columns([2, 1, 1])
persona_choice(p_left, "Demo persona (a real anonymous response)", "personality_persona_choice")
p_mid.button("Fill with persona", on_click=fill_persona, key="personality_persona")
p_right.button("Clear answers", on_click=clear_answers, key="personality_clear")

answered = sum(
    st.session_state.get(f"personality_q_{item.code}") is not None for item in instrument.items
)
st.progress(
    answered / len(instrument.items),
    text=f"{answered} of {len(instrument.items)} answered (counted when the form is sent)",
)
can_save = write_gate("save a profile")
# a form: a click on an answer runs nothing (50 full reruns per questionnaire otherwise)
with st.form("personality_form", border=False):
    with st.container(height=420):
        questionnaire_items(instrument, "personality_q")
    submitted = st.form_submit_button(
        "Score and save", type="primary", key="personality_submit", disabled=not can_save
    )
if submitted:
    answers = {
        item.code: st.session_state.get(f"personality_q_{item.code}") for item in instrument.items
    }
    if not user:
        st.error("Give the listener a name or id first.")
    else:
        with guard():
            require_write("save a profile")
            scores = pers.score(instrument, {k: v for k, v in answers.items() if v is not None})
            percentiles = pers.percentiles(scores)
            profile_id = store.add_profile(
                user,
                instrument.name,
                {k: int(v) for k, v in answers.items() if v is not None},
                {t: round(m, 4) for t, m in scores.means.items()},
                {str(t): v for t, v in percentiles.items()},
            )
        st.success(escape_markdown(f"Saved profile {profile_id} for {user}."))

# ----- results ------------------------------------------------------------------------------
profile = store.latest_profile(user) if user else None
if profile is None:
    st.info("Answer every item and press **Score and save** to see the profile and its prior.")
    st.stop()

scores = pers.scores_from_profile(profile)
percentiles = {t: float(v) for t, v in profile["percentiles"].items()}
st.subheader("Profile")
st.text(user)
saved = f"{profile['created_at']:%Y-%m-%d %H:%M}"
st.caption(
    f"{pers.get_instrument(profile['instrument']).title}, saved {saved}. Neuroticism is the "
    "IPIP Emotional Stability scale reversed (6 - score)."
)
st.caption("Percentile among 19,718 real respondents; the scale mean (1-5) under each.")
for column, trait in zip(st.columns(len(pers.TRAITS)), pers.TRAITS, strict=True):
    column.metric(  # a short value, so a narrow tile shows it in full
        trait.capitalize(),
        f"{percentiles[trait]:.1f}",
        help=f"percentile {percentiles[trait]:.1f}; scale mean {scores.means[trait]:.2f} of 5",
    )
    column.caption(f"percentile · mean {scores.means[trait]:.2f}")
chart, history = st.columns([1, 1])
chart.plotly_chart(
    plots.trait_radar({t.capitalize(): percentiles[t] for t in pers.TRAITS}),
    key="personality_radar",
)
profiles = store.list_profiles(user)
history.caption(f"History: {len(profiles)} profile(s); the newest is used.")
frame = pers.profiles_frame(profiles)
history.dataframe(
    frame[["profile_id", "instrument", "created_at"] + [f"{t}_percentile" for t in pers.TRAITS]],
    hide_index=True,
    key="personality_history",
)
history.download_button(
    "Export profiles (CSV)",
    csv_text(pers.profiles_frame(store.list_profiles())),
    file_name="timbre-profiles.csv",
    mime="text/csv",
    key="personality_export",
)

# ----- the prior ----------------------------------------------------------------------------
st.subheader("What the prior favours")
if "personality_coefficients" not in st.session_state:
    st.session_state["personality_coefficients"] = pers.default_coefficients()
with st.expander("Coefficients (trait x music attribute, with sources): edit or reset"):
    edited = st.data_editor(
        st.session_state["personality_coefficients"],
        num_rows="dynamic",
        hide_index=True,
        key="personality_coefficients_editor",
    )
    try:
        coefficients = pers.validate_coefficients(edited)
        st.session_state["personality_coefficients_valid"] = coefficients
    except DataError as exc:
        st.error(escape_markdown(exc))  # may echo an edited cell
        coefficients = st.session_state.get(
            "personality_coefficients_valid", pers.default_coefficients()
        )
    # the session's one table: Tune, Recommend, You, their exports and metrics use it too
    shared().coefficients = coefficients
    st.caption(
        escape_markdown(
            f"This session's lists, exports and metrics use this table: {prior_note()}."
        )
    )

    def reset() -> None:
        st.session_state["personality_coefficients"] = pers.default_coefficients()
        st.session_state.pop("personality_coefficients_editor", None)
        st.session_state.pop("personality_coefficients_valid", None)
        shared().coefficients = None

    st.button("Reset to the published values", on_click=reset, key="personality_reset")

data = interaction_data(choose_dataset("personality"))
attributes = cached_item_attributes(data)
z = pers.trait_z(scores)
weights = pers.attribute_weights(z, coefficients)
prior = pers.prior_scores(attributes, weights)
exploration = pers.exploration_level(z)
sources = attributes.source.value_counts()
st.caption(
    f"Suggested exploration {exploration.level:.2f}: diversity weight "
    f"{exploration.diversity:.2f}, novelty weight {exploration.novelty:.2f} (Openness and "
    "Agreeableness go with broader taste). Attributes come from audio features for "
    f"{sources.get('audio', 0):,} items, from audio and tags (weighted by the catalogue "
    f"match's evidence) for {sources.get('audio+tags', 0):,}, from tags for "
    f"{sources.get('tags', 0):,}, and are unknown (neutral) for {sources.get('none', 0):,}. "
    "An artist's catalogue match counts only when its genre agrees with the artist's tags or "
    "it rests on three or more tracks."
)
filters = list_filters("personality")
shown = shown_mask(data.listeners, data.item_meta, filters.min_listeners, filters.presenter_safe)


def driven_by(item: int) -> str:
    """The contributions (attribute value x the profile's weight) that drove an item's prior,
    each with the attribute's own value."""
    values = attributes.values.iloc[item]
    return "; ".join(
        f"{a} {v:+.2f} (value {float(values[a]):+.2f})"
        for a, v in pers.prior_contributions(attributes, weights, item)
    )


def ranked(order: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": [data.item_name(int(i)) for i in order],
            "prior": [round(float(prior[i]), 3) for i in order],
            DRIVEN_BY: [driven_by(int(i)) for i in order],
            "evidence": [str(attributes.evidence.iloc[int(i)]) for i in order],
        }
    )


DRIVEN_BY = "driven by (contribution = value x weight)"
ordered = np.lexsort((np.arange(len(prior)), -prior))
ordered = ordered[shown[ordered]]
if not len(ordered):
    st.warning("No item has that many listeners: lower the minimum.")
    st.stop()
most, least = st.columns(2)
most.caption("Favoured most")
text_table(ranked(ordered[:10]), most)  # item names as text
least.caption("Favoured least")
text_table(ranked(ordered[::-1][:10]), least)
