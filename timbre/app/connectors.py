"""The Data page's live-connector sections: Last.fm (users, bulk fetch, fetch log) and Spotify."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from timbre.app.access import can_write, require_write, write_gate, writes
from timbre.app.state import bump_data_version, get_settings, stats
from timbre.app.widgets import escape_markdown, metric_row
from timbre.config import Settings
from timbre.errors import TimbreError
from timbre.export import csv_text
from timbre.sources import lastfm, spotify
from timbre.sources.live import FetchProgress, FetchResult, RateLimiter
from timbre.store import Store

T = TypeVar("T")
_TOKEN_KEY = "data_spotify_token"


def _attempt(action: Callable[[], T], write: str | None = None) -> T | None:
    """Run ``action``; an expected failure becomes ``st.error`` (the page carries on). With
    ``write`` (what it does), only if this session may write."""
    try:
        if write:
            require_write(write)
        return action()
    except TimbreError as exc:
        st.error(escape_markdown(exc))
        return None


def _flash(key: str) -> None:
    message = st.session_state.pop(key, None)
    if message:
        st.success(escape_markdown(message))  # names users


@st.cache_resource(show_spinner=False)
def _pending_sign_ins() -> spotify.PendingAuthorizations:
    """Spotify sign-ins started in this process (the redirect back opens a new session, which
    finds its one-time verifier here by the ``state`` in the URL)."""
    return spotify.PendingAuthorizations()


@st.cache_resource(show_spinner=False)
def _limiter(service: str, rate: float) -> RateLimiter:
    """One rate limiter per service and rate for the process: sessions fetching at the same time
    share it, as they share the IP address the service counts."""
    return RateLimiter(rate)


def _result_rows(results: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "user": r["user_key"],
                "status": r["status"],
                "new rows": r["rows"],
                "seconds": r["duration_s"],
                "retries": r["retries"],
                "fetched": ", ".join(f"{k} {v:,}" for k, v in r["fetched"].items()),
                "why": r["error"] or "; ".join(r["notes"]),
            }
            for r in results
        ]
    )


def _section(title: str, caption: str) -> Settings:
    """A connector's heading and what it does; the settings it reads its secrets from."""
    st.subheader(title)
    st.caption(caption)
    return get_settings()


# --- Last.fm ----------------------------------------------------------------------------------
def lastfm_section(store: Store) -> None:
    """Tracked users (add, remove), bulk fetch with per-user progress, totals, the fetch log."""
    settings = _section(
        "Last.fm",
        "Track Last.fm users and fetch their top artists, albums and tracks, loved tracks, the "
        "whole scrobble history (later fetches read only what is new) and tags for the content "
        "model. Users are fetched side by side under one shared rate limit.",
    )
    api_key = settings.secret("lastfm_api_key")
    if api_key:
        st.caption("API key: from `.streamlit/secrets.toml` or `LASTFM_API_KEY` (never shown).")
    else:
        api_key = (
            st.text_input(
                "Last.fm API key",
                type="password",
                key="data_lastfm_api_key",
                help="Kept in this browser session only: never shown, logged or stored. Or set "
                "lastfm_api_key in .streamlit/secrets.toml or LASTFM_API_KEY.",
            ).strip()
            or None
        )

    users = lastfm.tracked_users(store)
    _lastfm_totals(store, users)
    allowed = write_gate("add, remove or fetch Last.fm users")
    _flash("data_lastfm_flash")
    if len(users):
        st.dataframe(
            users.rename(columns={"key": "user", "last_fetch": "last fetch"}),
            hide_index=True,
            key="data_lastfm_users_table",
            column_config={
                "last fetch": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
            },
        )
    else:
        st.info("No Last.fm users tracked yet: add some below.")

    left, right = st.columns(2)
    with left, st.form("data_lastfm_add_form", clear_on_submit=True):
        names = st.text_input(
            "Add Last.fm users",
            key="data_lastfm_add_names",
            placeholder="rj, another_user",
            help="User names separated by commas or spaces.",
        )
        if st.form_submit_button("Add users", key="data_lastfm_add", disabled=not allowed):
            added = _attempt(
                lambda: lastfm.add_users(store, names.replace(",", " ").split()), "add users"
            )
            if added:
                bump_data_version()
                st.session_state["data_lastfm_flash"] = f"Tracking {', '.join(added)}."
                st.rerun()
    with right:
        _remove_user(store, list(users["key"]))

    _lastfm_fetch(store, api_key, list(users["key"]), settings.lastfm_api_root, allowed)
    _fetch_log(store)


def _lastfm_totals(store: Store, users: pd.DataFrame) -> None:
    datasets = stats()["datasets"]
    statuses = users["status"].value_counts() if len(users) else pd.Series(dtype=int)
    metric_row(
        [
            ("Tracked Last.fm users", f"{len(users):,}"),
            (
                "Scrobbles stored",
                f"{datasets.get(lastfm.DATASETS['history'], {}).get('interactions', 0):,}",
            ),
            (
                "Last fetch ok / partial / failed",
                " / ".join(str(int(statuses.get(s, 0))) for s in ("ok", "partial", "failed")),
            ),
            ("Never fetched", f"{int(users['status'].isna().sum()) if len(users) else 0:,}"),
        ]
    )


def _remove_user(store: Store, keys: list[str]) -> None:
    """Pick a user, press Remove, then confirm: their rows go, shared items stay."""
    if not keys:
        return
    pending = st.session_state.get("data_lastfm_confirm_remove")
    if pending not in keys:
        target = st.selectbox("Remove a user", keys, key="data_lastfm_remove_user")
        if st.button("Remove...", key="data_lastfm_remove", disabled=not can_write()):
            st.session_state["data_lastfm_confirm_remove"] = target
            st.rerun()
        return
    row = store.list_users(pending)
    row = row[row["key"] == pending]
    count = int(row["interactions"].iloc[0]) if len(row) else 0
    where = row["datasets"].iloc[0] if len(row) else ""
    st.warning(
        f"Remove **{escape_markdown(pending)}**? This deletes its {count:,} interactions"
        f"{f' ({escape_markdown(where)})' if where else ''}, its fetch logs and personality "
        "profiles. Tracks and artists stay (other users share them)."
    )
    yes, no = st.columns(2)
    if yes.button(
        "Yes, remove", key="data_lastfm_remove_confirm", type="primary", disabled=not can_write()
    ):
        removed = _attempt(lambda: store.remove_user(pending), "remove users")
        st.session_state.pop("data_lastfm_confirm_remove", None)
        if removed is not None:
            bump_data_version()
            st.session_state["data_lastfm_flash"] = (
                f"Removed {pending} ({removed['interactions']:,} interactions)."
            )
        st.rerun()
    if no.button("Cancel", key="data_lastfm_remove_cancel"):
        st.session_state.pop("data_lastfm_confirm_remove", None)
        st.rerun()


def _lastfm_fetch(
    store: Store, api_key: str | None, keys: list[str], api_root: str | None, allowed: bool
) -> None:
    names = [k.removeprefix(lastfm.USER_PREFIX) for k in keys]
    with st.form("data_lastfm_fetch_form"):
        picked = st.multiselect(
            "Users to fetch (none picked: every tracked user)",
            names,
            key="data_lastfm_fetch_users",
        )
        chosen = [n for n in picked if n in names] or names
        kinds = st.multiselect(
            "What to fetch", list(lastfm.KINDS), default=list(lastfm.KINDS), key="data_lastfm_kinds"
        )
        c1, c2 = st.columns(2)
        rate = c1.number_input(
            "Requests per second (shared)",
            min_value=0.5,
            max_value=200.0,
            value=5.0,
            step=0.5,
            key="data_lastfm_rate",
            help="Last.fm asks for at most 5 per second on average.",
        )
        workers = c2.number_input(
            "Users at once", min_value=1, max_value=16, value=4, key="data_lastfm_workers"
        )
        submitted = st.form_submit_button(
            "Fetch from Last.fm", key="data_lastfm_fetch", disabled=not allowed
        )
    if submitted:
        if not api_key:
            st.error("A Last.fm API key is needed: type it above or set lastfm_api_key.")
        elif not chosen:
            st.error("No Last.fm users yet: add some first.")
        elif not kinds:
            st.error("Choose at least one kind to fetch.")
        else:
            results = _attempt(
                lambda: _run_lastfm(
                    store, api_key, chosen, tuple(kinds), float(rate), int(workers), api_root
                )
            )
            if results is not None:
                bump_data_version()
                st.session_state["data_lastfm_results"] = [r.as_dict() for r in results]
                counts = {
                    s: sum(r.status == s for r in results) for s in ("ok", "partial", "failed")
                }
                new = sum(r.rows for r in results)
                st.session_state["data_lastfm_flash"] = (
                    f"Fetched {len(results)} user(s): {counts['ok']} ok, {counts['partial']} "
                    f"partial, {counts['failed']} failed; {new:,} new rows."
                )
                st.rerun()
    last = st.session_state.get("data_lastfm_results")
    if last:
        st.markdown("**Last fetch**")
        st.dataframe(_result_rows(last), hide_index=True, key="data_lastfm_results_table")


@writes("fetch from Last.fm")
def _run_lastfm(
    store: Store,
    api_key: str,
    names: list[str],
    kinds: tuple[str, ...],
    rate: float,
    workers: int,
    api_root: str | None,
) -> list[FetchResult]:
    """Fetch in a worker thread; this (the script's) thread shows per-user progress."""
    options = lastfm.LastfmOptions(
        api_root=api_root or lastfm.DEFAULT_API_ROOT, rate=rate, workers=workers
    )
    client = lastfm.LastfmClient(api_key, options, limiter=_limiter("lastfm", rate))
    events: queue.Queue[FetchProgress] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["results"] = lastfm.LastfmFetcher(store, client).fetch_users(
                names, kinds, events.put
            )
        except BaseException as exc:  # handed to the script thread below
            outcome["error"] = exc
        finally:
            client.close()

    users = [lastfm.check_username(n) for n in names]
    rows = {user: {"user": user, "stage": "waiting", "progress": 0.0, "status": "",
                   "new rows": None, "message": ""} for user in users}  # fmt: skip
    thread = threading.Thread(target=work, name="timbre-lastfm-fetch", daemon=True)
    with st.status(f"Fetching {len(rows)} Last.fm user(s)...", expanded=True) as status:
        thread.start()
        try:
            _follow(thread, events, rows)
        finally:
            if thread.is_alive():  # the page was stopped: stop the workers, they log themselves
                client.cancel.set()
        thread.join()
        if "error" in outcome:
            status.update(label="Fetch stopped by an error", state="error")
            raise outcome["error"]
        results: list[FetchResult] = outcome["results"]
        bad = sum(r.status != "ok" for r in results)
        status.update(
            label=f"Fetched {len(results)} user(s)" + (f", {bad} not complete" if bad else ""),
            state="error" if bad == len(results) else "complete",
            expanded=False,
        )
    return results


def _follow(
    thread: threading.Thread,
    events: queue.Queue[FetchProgress],
    rows: dict[str, dict[str, Any]],
) -> None:
    """Show the workers' progress events until the fetch thread ends (refreshed 4 times a s)."""
    bar = st.progress(0.0, text="starting")
    table = st.empty()
    shown = 0.0
    while thread.is_alive() or not events.empty():
        try:
            event = events.get(timeout=0.2)
        except queue.Empty:
            continue
        row = rows.setdefault(event.user, {"user": event.user})
        row.update(stage=event.stage, progress=event.fraction, message=event.message)
        if event.result is not None:
            row.update(status=event.result.status, **{"new rows": event.result.rows})
        now = time.monotonic()
        if now - shown <= 0.25 and event.result is None:
            continue
        shown = now
        done = sum(float(r.get("progress") or 0.0) for r in rows.values())
        finished = sum(1 for r in rows.values() if r.get("status"))
        bar.progress(min(1.0, done / len(rows)), text=f"{finished} of {len(rows)} users done")
        table.dataframe(
            pd.DataFrame(list(rows.values())),
            hide_index=True,
            column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)},
        )


def _fetch_log(store: Store) -> None:
    """Every fetch (Last.fm and Spotify), filterable, downloadable."""
    logs = store.list_fetch_logs(limit=5000)
    with st.expander(f"Fetch log ({len(logs):,} fetches)", expanded=False):
        if not len(logs):
            st.caption("Nothing fetched yet.")
            return
        c1, c2, c3 = st.columns(3)
        sources = c1.multiselect(
            "Source", sorted(logs["source"].unique()), key="data_lastfm_log_source"
        )
        statuses = c2.multiselect(
            "Status", ["ok", "partial", "failed"], key="data_lastfm_log_status"
        )
        user = c3.text_input("User contains", key="data_lastfm_log_user")
        shown = logs
        if sources:
            shown = shown[shown["source"].isin(sources)]
        if statuses:
            shown = shown[shown["status"].isin(statuses)]
        if user.strip():
            shown = shown[shown["user_key"].str.contains(user.strip(), case=False, regex=False)]
        st.dataframe(
            shown[
                [
                    "id",
                    "finished_at",
                    "source",
                    "user_key",
                    "kinds",
                    "status",
                    "rows",
                    "duration_s",
                    "error",
                ]
            ],
            hide_index=True,
            key="data_lastfm_log_table",
        )
        st.download_button(
            "Download as CSV",
            csv_text(shown),
            file_name="timbre-fetch-log.csv",
            mime="text/csv",
            key="data_lastfm_log_download",
        )


# --- Spotify ----------------------------------------------------------------------------------
def spotify_section(store: Store) -> None:
    """Connect (PKCE: open the link, come back or paste the address), fetch, what was stored."""
    settings = _section(
        "Spotify",
        "Sign in with Spotify to fetch your top tracks and artists (four weeks, six months, "
        "all time), recent plays and saved tracks. The sign-in lasts for this browser session "
        "only and is never written to a file. Audio features are off by default: Spotify "
        "refuses them to apps registered after 27 Nov 2024, and the catalogue supplies them.",
    )
    result = spotify_sign_in(store, settings, "data_spotify", "Data")
    if result is not None:
        st.session_state["data_spotify_result"] = result.as_dict()
        st.rerun()
    last = st.session_state.get("data_spotify_result")
    if last:
        _spotify_result(last)


def spotify_sign_in(store: Store, settings: Settings, prefix: str, page: str) -> FetchResult | None:
    """The Spotify sign-in and fetch the Data and You pages share (widget keys
    ``<prefix>_...``; the redirect URI offered is ``page``'s). The sign-in is one per browser
    session, whichever page made it. Returns the result of a fetch made in this run (the
    caller reruns), else ``None``."""
    client_id = settings.secret("spotify_client_id")
    if not client_id:
        client_id = st.text_input(
            "Spotify client id",
            key=f"{prefix}_client_id",
            help="From your app at developer.spotify.com (PKCE needs no client secret). Or set "
            "spotify_client_id in .streamlit/secrets.toml or SPOTIFY_CLIENT_ID.",
        ).strip()
    redirect = settings.secret("spotify_redirect_uri")
    if not redirect:
        port = st.get_option("server.port") or 8501
        redirect = st.text_input(
            "Redirect URI (registered in the Spotify app)",
            value=f"http://127.0.0.1:{port}/{page}",
            key=f"{prefix}_redirect_uri",
        ).strip()
    if not client_id:
        st.info("To connect Spotify, give the client id of your Spotify app.")
        return None
    options = _attempt(
        lambda: spotify.SpotifyOptions(
            client_id=client_id,
            redirect_uri=redirect,
            api_root=settings.spotify_api_root or spotify.DEFAULT_API_ROOT,
            accounts_root=settings.spotify_accounts_root or spotify.DEFAULT_ACCOUNTS_ROOT,
        )
    )
    if options is None:
        return None
    cache = spotify.MappingTokenCache(cast(MutableMapping[str, Any], st.session_state), _TOKEN_KEY)
    _spotify_redirect(options, cache, prefix)
    _flash(f"{prefix}_flash")
    if cache.get_cached_token() is None:
        _spotify_connect(options, cache, prefix, write_gate("connect and fetch Spotify"))
        return None
    return _spotify_fetch(store, options, cache, prefix)


def _finish(
    options: spotify.SpotifyOptions,
    cache: spotify.MappingTokenCache,
    redirected: str,
    prefix: str,
) -> bool:
    def run() -> bool:
        state, _code = spotify.parse_redirect(redirected)
        pending = _pending_sign_ins().pop(state or st.session_state.get(f"{prefix}_state"))
        spotify.finish_authorization(options, pending, redirected, cache)
        return True

    done = _attempt(run)
    st.session_state.pop(f"{prefix}_auth_url", None)
    st.session_state.pop(f"{prefix}_state", None)
    if done:
        st.session_state[f"{prefix}_flash"] = "Connected to Spotify for this browser session."
    return bool(done)


def _spotify_redirect(
    options: spotify.SpotifyOptions, cache: spotify.MappingTokenCache, prefix: str
) -> None:
    """Spotify sent the browser back here (``?code=...&state=...``): finish signing in."""
    params = st.query_params
    if "code" not in params and "error" not in params:
        return
    query = {k: params[k] for k in ("code", "state", "error") if k in params}
    st.query_params.clear()  # the code is single-use: keep it out of the address bar
    if _finish(options, cache, f"{options.redirect_uri}?{urlencode(query)}", prefix):
        st.rerun()


def _spotify_connect(
    options: spotify.SpotifyOptions,
    cache: spotify.MappingTokenCache,
    prefix: str,
    allowed: bool,
) -> None:
    if st.button("Connect Spotify", key=f"{prefix}_connect", disabled=not allowed) and _attempt(
        lambda: True, "connect Spotify"
    ):
        pending = spotify.start_authorization(options)
        _pending_sign_ins().add(pending)
        st.session_state[f"{prefix}_auth_url"] = pending.url
        st.session_state[f"{prefix}_state"] = pending.state
    url = st.session_state.get(f"{prefix}_auth_url")
    if not url:
        return
    st.link_button("Open Spotify to allow access", url, key=f"{prefix}_open", type="primary")
    st.caption(
        f"Spotify then sends you to {escape_markdown(options.redirect_uri)}. If that is this "
        "page, you are connected when it opens. Otherwise copy the address from the browser "
        "bar (it holds `?code=...`) and paste it here. The link works once, for 10 minutes."
    )
    with st.form(f"{prefix}_finish_form"):
        pasted = st.text_input("Address Spotify sent you to", key=f"{prefix}_redirect_url")
        if st.form_submit_button("Finish connecting", key=f"{prefix}_finish") and _finish(
            options, cache, pasted, prefix
        ):
            st.rerun()


def _spotify_fetch(
    store: Store, options: spotify.SpotifyOptions, cache: spotify.MappingTokenCache, prefix: str
) -> FetchResult | None:
    st.success("Connected to Spotify (this browser session only).")
    allowed = write_gate("fetch from Spotify")
    kinds = st.multiselect(
        "What to fetch",
        list(spotify.KINDS),
        default=list(spotify.DEFAULT_KINDS),
        key=f"{prefix}_kinds",
        help="audio-features: refused (403) to apps registered after 27 Nov 2024.",
    )
    fetch, disconnect = st.columns(2)
    if disconnect.button("Disconnect", key=f"{prefix}_disconnect"):
        cache.clear()
        st.session_state.pop(f"{prefix}_result", None)
        st.rerun()
    if not fetch.button(
        "Fetch from Spotify", key=f"{prefix}_fetch", type="primary", disabled=not allowed
    ):
        return None
    if not kinds:
        st.error("Choose at least one kind to fetch.")
        return None
    with st.status("Fetching from Spotify...", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(event: FetchProgress) -> None:  # same thread: may draw
            bar.progress(event.fraction, text=escape_markdown(event.message[:120]))

        def run() -> FetchResult:
            client = spotify.SpotifyClient(
                options, cache, limiter=_limiter("spotify", options.rate)
            )
            with client:
                return spotify.SpotifyFetcher(store, client).fetch(kinds, progress)

        result = _attempt(run, "fetch from Spotify")
        status.update(
            label="Spotify fetch " + (result.status if result else "failed"),
            state="complete" if result and result.status == "ok" else "error",
            expanded=False,
        )
    if result is None:
        return None
    bump_data_version()
    if result.fatal and "connect again" in result.fatal:
        cache.clear()
    return result


def _spotify_result(result: dict[str, Any]) -> None:
    st.text(f"Last Spotify fetch · {result['user_key']} · {result['status']}")
    metric_row(
        [
            (f"{kind} fetched", f"{result['fetched'].get(kind, 0):,}")
            for kind in result["kinds"]
            if kind in result["fetched"]
        ]
        or [("Fetched", "0")]
    )
    written: dict[str, int] = {}
    for kind, rows in result["written"].items():
        dataset = spotify.DATASETS.get(kind, "features")
        written[dataset] = written.get(dataset, 0) + rows
    if written:
        st.caption("New rows per data set: " + ", ".join(f"{d} {n:,}" for d, n in written.items()))
    if result["error"]:
        st.warning(escape_markdown(result["error"]))
