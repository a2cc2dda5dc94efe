"""The You page's sections: one person's listening, questionnaire, list, feedback and forgetting.

Everything about the person is read from and written to the store on each run; the only
session state is this browser's widgets (the person box, the seed artists, the answers, a
one-shot message) and its Spotify sign-in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from timbre import hybrid
from timbre import personality as pers
from timbre.app.access import can_write, require_write, write_gate
from timbre.app.connectors import _run_lastfm, spotify_sign_in
from timbre.app.hybrid import (
    active_schedule,
    list_filters,
    prior_note,
    require_engine,
    settings_caption,
)
from timbre.app.imports import import_uploads
from timbre.app.state import bump_data_version, get_settings, guard, shared
from timbre.app.widgets import escape_markdown, persona_choice, questionnaire_items
from timbre.export import csv_text, provenance, seeds_line
from timbre.interactions import InteractionData
from timbre.services.people import (
    Feedback,
    MappedRow,
    Seeds,
    account_keys,
    feedback_note,
    feedback_of,
    find_seeds,
    forget_line,
    forget_person,
    listener_profile,
    parse_seeds,
    person_components,
    resolve_person,
)
from timbre.sources import lastfm, spotify
from timbre.sources.results import FetchResult
from timbre.store import Store

#: Items in the list.
LIST_SIZE = 10
#: The list's columns on the page (ids and the person are in the CSV).
SHOWN = [c for c in hybrid.EXPORT_COLUMNS if c not in ("user_id", "item_id")]
#: Reaction buttons: event -> label.
REACTIONS = {"like": "Like", "skip": "Skip", "block": "Block"}
#: How the "Your feedback" list names each event.
PAST = {"like": "liked", "skip": "skipped", "block": "blocked"}
_FLASH = "you_flash"
_PERSON = "you_person"


@dataclass(frozen=True)
class YourList:
    """What the list section made: the table, how it was made, and the data it indexes."""

    frame: pd.DataFrame
    mapped: MappedRow
    data: InteractionData
    comments: list[str]


def flash() -> None:
    """The message an action left for the run after it (shown once), in a slot that is there
    on every run: the elements below keep their place, so an open expander stays open."""
    box = st.container()
    message = st.session_state.pop(_FLASH, None)
    if message:
        box.success(escape_markdown(message))


def _done(message: str) -> None:
    """After a write: refresh cached reads, say what happened on the next run, rerun."""
    bump_data_version()
    st.session_state[_FLASH] = message
    st.rerun()


@st.cache_resource(show_spinner=False)
def _spotify_people() -> dict[str, tuple[str, float]]:
    """Spotify sign-ins started on this page, by ``state``: the person and when. Spotify's
    redirect back opens a new browser session; this gives it the person it was for."""
    return {}


def _remember_sign_in(person: str) -> None:
    """The person a pending Spotify sign-in of this session is for (the newest typed wins)."""
    state = st.session_state.get("you_spotify_state")
    if not state:
        return
    people, now = _spotify_people(), time.monotonic()
    for old in [k for k, (_, t) in list(people.items()) if now - t >= spotify.AUTH_TTL_S]:
        people.pop(old, None)
    people[str(state)] = (person, now)


def _restore_person() -> None:
    """Back from Spotify (``?code=...&state=...``): the person box as it was at sign-in."""
    params = st.query_params
    state = params.get("state")
    if not state or ("code" not in params and "error" not in params):
        return
    found = _spotify_people().pop(state, None)
    if found is not None and time.monotonic() - found[1] < spotify.AUTH_TTL_S:
        st.session_state[_PERSON] = found[0]


def person_box(store: Store) -> str:
    """(1) Who the page is about, resolved the way the CLI's ``--user`` is."""
    st.subheader("Who are you?")
    _restore_person()
    st.session_state.setdefault(_PERSON, "me")
    text = st.text_input(
        "Your id",
        key=_PERSON,
        help="A new name, a linked account (lastfm:NAME) or a listener id from a data set.",
    )
    with guard():
        person = resolve_person(store, text)
    st.caption(
        "Everything below is saved under this id in the shared store (and only there); "
        "another browser session sees it only by typing the same id."
    )
    if person != text.strip():
        st.text(f"That is {person}.")
    return person


def listening_section(store: Store, person: str) -> tuple[Any, str]:
    """(2) Last.fm connect, Spotify sign-in, an export upload and seed artists, all optional.
    Returns the container where the list section writes the mapping line (it needs the run)
    and the seed box's text."""
    st.subheader("Bring your listening")
    st.caption(
        "Adds your own taste: your plays are mapped onto the model's items and folded in, no "
        "retraining. Without any, your list is popular items (plus the personality prior if "
        "you take the questionnaire, and what your seed artists suggest)."
    )
    write_gate("connect an account or import listening")
    left, middle, right = st.columns(3)
    with left:
        _lastfm_connect(store, person)
    with middle:
        _spotify_connect(store, person)
    with right:
        _upload(store, person)
    seeds = st.text_input(
        "Seed artists (comma separated)",
        key="you_seeds",
        placeholder="Slayer, Metallica",
        help="Artists you like, as the model names them. With no listening of yours, your list "
        "is folded in from these; with some, they count as liked. Not saved in the store.",
    )
    return st.container(), seeds


def _lastfm_connect(store: Store, person: str) -> None:
    settings = get_settings()
    api_key = settings.secret("lastfm_api_key")
    with st.form("you_lastfm_form"):
        name = st.text_input("Last.fm user name (public data)", key="you_lastfm_name")
        if not api_key:
            api_key = (
                st.text_input(
                    "Last.fm API key",
                    type="password",
                    key="you_lastfm_key",
                    help="Kept in this browser session only; or set LASTFM_API_KEY.",
                ).strip()
                or None
            )
        submitted = st.form_submit_button(
            "Connect Last.fm", key="you_lastfm_connect", disabled=not can_write()
        )
    if not submitted:
        return
    if not api_key:
        st.error("A Last.fm API key is needed: type it above or set lastfm_api_key.")
        return
    with guard():
        require_write("connect Last.fm")
        user = lastfm.check_username(name)
        keys = lastfm.add_users(store, [user])
        results = _run_lastfm(
            store, api_key, [user], lastfm.KINDS, 4.0, 1, settings.lastfm_api_root
        )
        for key in keys:
            store.link_account(person, key)
    status = results[0].status if results else "nothing fetched"
    _done(f"Last.fm {user}: fetch {status}; linked to {person}.")


def _spotify_connect(store: Store, person: str) -> None:
    """Sign in with Spotify (the Data page's flow), fetch, and link the account to the person."""
    st.caption(
        "Spotify: sign in to fetch your top tracks and artists, recent plays and saved tracks "
        "(the sign-in lasts for this browser session only)."
    )
    result = spotify_sign_in(store, get_settings(), "you_spotify", "You")
    _remember_sign_in(person)
    if result is not None:
        _spotify_linked(store, person, result)


def _spotify_linked(store: Store, person: str, result: FetchResult) -> None:
    said = f"Spotify fetch {result.status}"
    error = result.as_dict().get("error")
    with guard():
        require_write("link an account")
        known = store.existing_user_keys([result.user_key])
        for key in known:
            store.link_account(person, key)
    linked = f"{result.user_key} linked to {person}" if known else "no account to link"
    _done(f"{said}: {linked}." + (f" {error}" if error else ""))


def _upload(store: Store, person: str) -> None:
    with st.form("you_upload_form", clear_on_submit=True):
        uploads = st.file_uploader(
            "Or drop an export: a Last.fm CSV or your Spotify account export (zip or JSON)",
            accept_multiple_files=True,
            key="you_uploads",
            type=["csv", "txt", "json", "zip"],
            disabled=not can_write(),
        )
        submitted = st.form_submit_button(
            "Import for me", key="you_import", disabled=not can_write()
        )
    if not submitted:
        return
    with guard():
        result = import_uploads(store, uploads or [], user=person)
    names = ", ".join(sorted({repr(r.dataset) for r in result.reports}))
    _done(f"Imported for {person} into data set {names}: {result.summary()}")


def _fill_persona() -> None:
    instrument = pers.get_instrument("mini-ipip")
    index = int(st.session_state.get("you_persona", 2))
    for code, value in pers.persona_answers(index, instrument).items():
        st.session_state[f"you_q_{code}"] = value


def personality_section(store: Store, person: str) -> None:
    """(3) The Mini-IPIP (or skip it), saved under the person."""
    st.subheader("Your personality")
    st.caption(
        "Adds a small Big Five prior (trait-music effects are small, |r| about .1): it matters "
        "most when you bring little or no listening. Optional."
    )
    profile = store.latest_profile(person)
    if profile is not None:
        means = ", ".join(f"{t} {float(m):.2f}" for t, m in profile["scores"].items())
        saved = f"{profile['instrument']}, {profile['created_at']:%Y-%m-%d}"
        st.text(f"Saved profile ({saved}): {means}")
    instrument = pers.get_instrument("mini-ipip")
    with st.expander("Take the Mini-IPIP (20 items)" if profile is None else "Retake it"):
        left, right = st.columns([2, 1])
        persona_choice(left, "Or fill with a demo persona (a real response)", "you_persona")
        right.button("Fill with persona", on_click=_fill_persona, key="you_persona_fill")
        with st.form("you_ipip_form"):
            questionnaire_items(instrument, "you_q")
            allowed = write_gate("save a profile")
            submitted = st.form_submit_button(
                "Score and save", key="you_ipip_submit", disabled=not allowed
            )
    if submitted:
        _save_profile(store, person, instrument)


def _save_profile(store: Store, person: str, instrument: pers.Instrument) -> None:
    answers = {
        item.code: int(v)
        for item in instrument.items
        if (v := st.session_state.get(f"you_q_{item.code}")) is not None
    }
    with guard():
        require_write("save a profile")
        scores = pers.score(instrument, answers)
        profile_id = store.add_profile(
            person,
            instrument.name,
            answers,
            {t: round(m, 4) for t, m in scores.means.items()},
            {str(t): v for t, v in pers.percentiles(scores).items()},
        )
    _done(f"Saved profile {profile_id} for {person}.")


def list_section(store: Store, person: str, mapping_box: Any, seed_text: str = "") -> YourList:
    """(4) The top 10 for the person with the shared weights (and their seed artists), and
    per-row reactions."""
    st.subheader("Your list")
    data, run, engine = require_engine("you")
    state = shared()
    filters = list_filters("you")
    with guard():
        seeds = find_seeds(data, parse_seeds(seed_text))
        components, mapped = person_components(store, engine, person, seeds=seeds.items)
        ranking = engine.rank(components, state.weights, LIST_SIZE, filters, active_schedule())
    _mapping(mapping_box, mapped, seeds, data)
    st.caption(_what_it_uses(store, person, mapped, seeds))
    st.caption(escape_markdown(settings_caption(run)))
    if ranking.rule != hybrid.CHOSEN:
        st.caption(escape_markdown(f"Cold start ({ranking.rule}): the schedule's weights."))
    for note in ranking.notes:
        st.caption(escape_markdown(note))
    frame = hybrid.ranking_frame(data, ranking, person)
    st.dataframe(frame[SHOWN], hide_index=True, key="you_table")
    reaction_buttons(store, person, frame)
    reactions = feedback_of(store, account_keys(store, person))
    extra = [f"person: {person}", mapped.text(), "feedback: " + _feedback_text(data, reactions)]
    if seeds.items:
        extra.append(seeds_line(data, seeds.items))
    if engine.content_note:
        extra.append(engine.content_note)
    extra.append(prior_note())
    comments = provenance(
        data.dataset, state.weights.as_dict(), state.normalization, state.space, run, extra,
        revision=store.dataset_revision(data.dataset), fingerprint=data.fingerprint,
        filters=filters, profile=listener_profile(store, engine, person),
    )  # fmt: skip
    return YourList(frame, mapped, data, comments)


def _mapping(box: Any, mapped: MappedRow, seeds: Seeds, data: InteractionData) -> None:
    with box:
        st.text(mapped.text())
        if len(mapped.unmatched):
            with st.expander(f"Not in the model ({len(mapped.unmatched):,} names)"):
                st.dataframe(mapped.unmatched, hide_index=True, key="you_unmatched")
        if seeds.items:
            st.text("Seed artists: " + ", ".join(seeds.names(data)))
        for line in seeds.unknown:
            st.warning(escape_markdown(f"Seed not used: {line}"))


def _what_it_uses(store: Store, person: str, mapped: MappedRow, seeds: Seeds) -> str:
    profile = store.latest_profile(person) is not None
    if not mapped.mapped_plays and not profile and not seeds.items:
        return "With no history and no questionnaire, you get popular items."
    parts = [f"{mapped.mapped_plays:,} of your plays"] if mapped.mapped_plays else []
    parts += ["your seed artists"] if seeds.items else []
    parts += ["your questionnaire"] if profile else []
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Built from {said}, with the feedback you gave."


def reaction_buttons(store: Store, person: str, frame: pd.DataFrame, prefix: str = "you") -> None:
    """Like / Skip / Block for every row of a list (keys ``<prefix>_<event>_<rank>``)."""
    st.caption(
        "Like adds an item to your profile; Skip lowers it and its nearest neighbours by the "
        f"feedback weight ({hybrid.FEEDBACK_WEIGHT:g}) and never lists it again; Block removes "
        "it for good. The next list reacts at once; undo below."
    )
    allowed = write_gate("like, skip or block")
    for row in frame[["rank", "item_id", "item_name"]].to_dict("records"):
        rank, key, name = int(row["rank"]), str(row["item_id"]), str(row["item_name"])
        cells = st.columns([6, 1, 1, 1], vertical_alignment="center")
        cells[0].text(f"{rank}. {name}")
        for cell, (event, label) in zip(cells[1:], REACTIONS.items(), strict=True):
            if cell.button(label, key=f"{prefix}_{event}_{rank}", disabled=not allowed):
                with guard():
                    require_write("like, skip or block")
                    store.add_feedback(person, [key], event, int(time.time() * 1000))
                _done(f"{PAST[event].capitalize()} {name}.")


def _names(data: InteractionData, keys: tuple[str, ...]) -> list[str]:
    found = data.items.indices(list(keys))
    return [data.item_name(int(i)) if i >= 0 else key for key, i in zip(keys, found, strict=True)]


def _feedback_text(data: InteractionData, reactions: Feedback) -> str:
    if not reactions:
        return "none"
    index = [
        [int(i) for i in data.items.indices(list(keys)) if i >= 0]
        for keys in (reactions.liked, reactions.skipped, reactions.blocked)
    ]
    return feedback_note(data, *index) or "on items outside this model"


def feedback_section(store: Store, person: str, data: InteractionData) -> None:
    """Your standing reactions, each with an Undo."""
    st.subheader("Your feedback")
    keys = account_keys(store, person)
    reactions = feedback_of(store, keys)
    if not reactions:
        st.caption("None yet: Like, Skip or Block an item above.")
        return
    standing = {"like": reactions.liked, "skip": reactions.skipped, "block": reactions.blocked}
    allowed = write_gate("undo feedback")
    for event, items in standing.items():
        for number, (key, name) in enumerate(zip(items, _names(data, items), strict=True)):
            left, right = st.columns([7, 1], vertical_alignment="center")
            left.text(f"{PAST[event]}: {name}")
            if right.button("Undo", key=f"you_undo_{event}_{number}", disabled=not allowed):
                with guard():
                    require_write("undo feedback")
                    for account in keys:
                        store.remove_feedback(account, [key], event)
                _done(f"Undid {PAST[event]} {name}.")


def download_section(made: YourList) -> None:
    """(5) The list as CSV; its header says how it was made, feedback included."""
    st.subheader("Take it with you")
    st.caption("A CSV of this list; its header names the run, the weights and your feedback.")
    st.download_button(
        "Download your list (CSV)",
        csv_text(made.frame, comments=made.comments),
        file_name="timbre-you.csv",
        mime="text/csv",
        key="you_download",
    )


def forget_section(store: Store, person: str) -> None:
    """(6) Delete the person and every account, profile and reaction (after a confirmation)."""
    st.subheader("Forget me")
    st.caption(
        "Deletes you from the shared store: your accounts' plays, profiles, links and feedback. "
        "Data sets and trained models stay."
    )
    allowed = write_gate("forget anyone")
    sure = st.checkbox(
        f"Yes, delete everything about {escape_markdown(person)}",
        key="you_forget_confirm",
        disabled=not allowed,
    )
    if st.button("Forget me", key="you_forget", disabled=not (sure and allowed), type="primary"):
        with guard():
            require_write("forget anyone")
            said = forget_line(forget_person(store, person))
        st.session_state.pop("you_forget_confirm", None)
        _done(f"Forgot {person}: deleted {said}.")
