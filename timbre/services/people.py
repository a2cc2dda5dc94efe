"""A person's own listening mapped onto a run's items, and scored there without retraining.

A person is named by an id (``me``, ``rj``, ``hetrec:user:2`` or its last part ``2``). Their
accounts are the store's users with that key or the keys the personal sources give the same
name (``lastfm:<name>`` for Last.fm fetches and CSV exports, ``spotify:user:<name>`` for
Spotify); questionnaire profiles are saved under the person's id. Their plays from every
account and data set are mapped onto the run's item vocabulary: the same item id, else by
normalised name (track plays count for their artist when the run's items are artists; tracks
match by name and artist when they are tracks). The row that results is scored by the run's
own fold-in (:meth:`HybridEngine.components_for_row`).

Seed artists (names typed in, matched like ``--seed-items``) join the row as likes do: a
person with no mapped history gets a list folded in from the seeds alone (personality +
popularity + content under the default cold-start schedule) instead of popular items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from timbre.errors import NotFoundError, ParameterError, TimbreError
from timbre.hybrid import FEEDBACK_WEIGHT, Components, HybridEngine
from timbre.interactions import InteractionData
from timbre.records import name_key
from timbre.store import Store
from timbre.store.users import DATASETS_LEFT_EMPTY, RUNS_TRAINED_WITH_USER

#: Key prefixes the personal sources give an account named ``<name>``.
ACCOUNT_PREFIXES = ("", "lastfm:", "spotify:user:")
#: Events that are listening (feedback kinds are not plays).
LISTENING = ("play", "top", "love")
#: Unmatched names listed in a report.
UNMATCHED_SHOWN = 20


@dataclass(frozen=True)
class MappedRow:
    """A person's plays over a run's items, and what could not be mapped.

    Attributes
    ----------
    person
        The id asked for.
    accounts
        The user keys whose plays were read.
    row
        One row over the run's items (summed weights of the mapped plays).
    plays, mapped_plays
        Interaction rows read, and how many of them reached one of the run's items.
    unmatched
        ``name, plays``: the most played names that match no item of the run.
    """

    person: str
    accounts: tuple[str, ...]
    row: sp.csr_matrix
    plays: int
    mapped_plays: int
    unmatched: pd.DataFrame = field(repr=False)

    @property
    def items(self) -> int:
        """Distinct items of the run the plays reached."""
        return int(self.row.nnz)

    def text(self) -> str:
        """One line for the CLI and the pages."""
        if not self.plays:
            return f"{self.person}: no listening history found (accounts: none with plays)"
        return (
            f"{self.person}: {self.mapped_plays:,} of {self.plays:,} plays mapped onto "
            f"{self.items:,} items of the model ({len(self.accounts)} account"
            f"{'s' if len(self.accounts) != 1 else ''}: {', '.join(self.accounts)})"
        )

    def as_dict(self) -> dict[str, object]:
        """The ``mapped`` part of ``recommend --json``."""
        return {
            "accounts": list(self.accounts),
            "plays": self.plays,
            "mapped_plays": self.mapped_plays,
            "items": self.items,
            "unmatched": self.unmatched.head(UNMATCHED_SHOWN).to_dict("records"),
        }


@dataclass(frozen=True)
class Person:
    """Who a text names (:func:`resolve_person`) and their accounts (:func:`account_keys`):
    what :func:`identify` finds in one go."""

    key: str
    accounts: tuple[str, ...]


def resolve_person(store: Store, text: str) -> str:
    """The person ``--user`` (or a page's person box) names, the same way everywhere.

    The person an account is linked to (``lastfm:rj`` -> ``me``); else ``text`` itself when a
    user, a profile or an account named after it exists (``me``, ``lastfm:me``); else the one
    user whose key ends in ``:text`` (``2`` -> ``hetrec:user:2``); else ``text`` as a new
    person. ``ParameterError`` when it is empty or several keys end in ``:text``.
    """
    return _resolve(store, text)[0]


def identify(store: Store, text: str) -> Person:
    """:func:`resolve_person` and that person's :func:`account_keys`, reading each once (a
    name that is its own person because it has accounts: those are the accounts)."""
    person, accounts = _resolve(store, text)
    return Person(person, tuple(account_keys(store, person) if accounts is None else accounts))


def _resolve(store: Store, text: str) -> tuple[str, list[str] | None]:
    """:func:`resolve_person`, with the person's :func:`account_keys` when they were read on
    the way (``None`` when not)."""
    name = text.strip()
    if not name:
        raise ParameterError("a person needs an id (e.g. me)")
    linked = store.person_of(name)
    if linked is not None:
        return linked, None
    accounts = account_keys(store, name)
    if accounts:
        return name, accounts
    if store.latest_profile(name) is not None:
        return name, accounts
    ending = store.user_keys_ending(name)
    if len(ending) > 1:
        shown = ", ".join(ending[:5])
        raise ParameterError(f"{name!r} could be any of {shown}; give the full id")
    return (ending[0], None) if ending else (name, accounts)


def account_keys(store: Store, person: str) -> list[str]:
    """The store's user keys that belong to ``person``: their own key, the keys the personal
    sources give the same name (see the module docstring) and every linked account."""
    name = person.strip()
    if not name:
        raise ParameterError("a person needs an id (e.g. me)")
    candidates = [name] if ":" in name else [f"{prefix}{name}" for prefix in ACCOUNT_PREFIXES]
    return store.accounts_of(name, candidates)


def plays_of(store: Store, keys: list[str]) -> pd.DataFrame:
    """The listening rows of these accounts in every data set."""
    if not keys:
        return pd.DataFrame(columns=["item_key", "kind", "name", "artist", "weight"])
    frame = store.interactions_of(keys)
    return frame[frame["event"].isin(LISTENING)].reset_index(drop=True)


def map_plays(
    person: str, keys: list[str], plays: pd.DataFrame, data: InteractionData
) -> MappedRow:
    """Map plays onto ``data``'s items (the run's vocabulary); see the module docstring."""
    target = _targets(plays, data)
    weights = plays["weight"].to_numpy(dtype=np.float64)
    hit = target >= 0
    row = sp.csr_matrix(
        (weights[hit], (np.zeros(int(hit.sum()), dtype=np.int64), target[hit])),
        shape=(1, data.n_items),
        dtype=np.float32,
    )
    row.sum_duplicates()
    missed = plays[~hit]
    label = np.where(
        missed["kind"].to_numpy() == "artist",
        missed["name"].astype(str).to_numpy(),
        (missed["artist"].fillna("").astype(str) + " - " + missed["name"].astype(str)).to_numpy(),
    )
    unmatched = (
        pd.DataFrame({"name": label, "plays": missed["weight"].to_numpy(dtype=float)})
        .groupby("name", as_index=False)
        .agg(plays=("plays", "sum"))
        .sort_values(["plays", "name"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    return MappedRow(person, tuple(keys), row, len(plays), int(hit.sum()), unmatched)


def _targets(plays: pd.DataFrame, data: InteractionData) -> np.ndarray:
    """The run's item index for each play (-1 where none matches)."""
    target = data.items.indices(plays["item_key"].astype(str))
    meta = data.item_meta
    kinds = meta["kind"].to_numpy(dtype=object)
    artist_level = bool(len(kinds)) and float(np.mean(kinds == "artist")) > 0.5
    if artist_level:
        by_name = _first_by_key([name_key(n) for n in meta["name"]], kinds == "artist", data)
        wanted = [
            name_key(name if kind == "artist" else artist)
            for kind, name, artist in zip(
                plays["kind"], plays["name"], plays["artist"], strict=True
            )
        ]
    else:
        keys = [
            f"{name_key(n)}\x1f{name_key(a)}"
            for n, a in zip(meta["name"], meta["artist"], strict=True)
        ]
        by_name = _first_by_key(keys, kinds == "track", data)
        wanted = [
            f"{name_key(n)}\x1f{name_key(a)}"
            for n, a in zip(plays["name"], plays["artist"], strict=True)
        ]
    by_wanted = np.asarray([by_name.get(w, -1) if w.strip("\x1f") else -1 for w in wanted])
    return np.where(target >= 0, target, by_wanted).astype(np.int64)


def _first_by_key(keys: list[str], allowed: np.ndarray, data: InteractionData) -> dict[str, int]:
    """Normalised name -> item index; where names collide, the item with most listeners."""
    order = np.argsort(-data.listeners, kind="stable")
    out: dict[str, int] = {}
    for index in order:
        key = keys[int(index)]
        if allowed[int(index)] and key.strip("\x1f") and key not in out:
            out[key] = int(index)
    return out


@dataclass(frozen=True)
class Feedback:
    """A person's standing reactions, as item keys (an undo removes a reaction)."""

    liked: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.liked or self.skipped or self.blocked)


def feedback_of(store: Store, keys: list[str]) -> Feedback:
    """The feedback recorded under these keys (each item once per kind, oldest first)."""
    if not keys:
        return Feedback()
    frame = store.feedback_of(keys)
    if frame.empty:
        return Feedback()
    kinds = {
        kind: tuple(dict.fromkeys(frame.loc[frame["event"] == kind, "item_key"].astype(str)))
        for kind in ("like", "skip", "block")
    }
    return Feedback(kinds["like"], kinds["skip"], kinds["block"])


def person_components(
    store: Store,
    engine: HybridEngine,
    person: str,
    z: Mapping[str, float] | None = None,
    strength: float = FEEDBACK_WEIGHT,
    seeds: Sequence[int] = (),
    accounts: Sequence[str] | None = None,
) -> tuple[Components, MappedRow]:
    """The components of ``person`` for ``engine``'s run: their own plays from every account
    mapped onto its items, their likes added, folded in (no retraining), then their feedback
    applied (:meth:`HybridEngine.with_feedback`); their newest profile unless ``z``. ``seeds``
    (item indices, :func:`find_seeds`): see :func:`seeded_components`. ``accounts``: their
    :func:`account_keys` when the caller read them already."""
    keys = account_keys(store, person) if accounts is None else list(accounts)
    mapped = map_plays(person, keys, plays_of(store, keys), engine.data)
    reactions = feedback_of(store, keys)
    data = engine.data
    liked, skipped, blocked = (
        [int(i) for i in data.items.indices(list(keys_)) if i >= 0]
        for keys_ in (reactions.liked, reactions.skipped, reactions.blocked)
    )
    row = _with_likes(mapped.row, liked)
    profile = z if z is not None else person_profile(engine, person, keys)
    components = seeded_components(engine, row, profile, seeds)
    if reactions:
        components = engine.with_feedback(components, liked, skipped, blocked, strength)
        components.notes.append(feedback_note(data, liked, skipped, blocked))
    return components, mapped


def seeded_components(
    engine: HybridEngine,
    row: sp.csr_matrix,
    z: Mapping[str, float] | None,
    seeds: Sequence[int] = (),
) -> Components:
    """The components of a row and a profile, the seed items joined to the row as likes are
    (:func:`_with_likes`). A person with no history is then folded in from the seeds alone, as
    next-track folds in its seeds: CF and content both come from them and the cold-start
    schedule's rule for that many interactions applies (by default, for 1-4: personality +
    popularity + content). The seeds count as heard (not listed) and are the "because"."""
    items = list(dict.fromkeys(int(i) for i in seeds))
    components = engine.components_for_row(_with_likes(row, items), z)
    if items:
        names = ", ".join(engine.data.item_name(i) for i in items[:5])
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        components.notes.append(f"seeds: {names}{more} (counted as liked)")
    return components


@dataclass(frozen=True)
class Seeds:
    """Seed names matched to a run's items: the items found, and a line for each name not
    found (with close names when there are any)."""

    items: tuple[int, ...] = ()
    unknown: tuple[str, ...] = ()

    def names(self, data: InteractionData) -> list[str]:
        """The display names of the items found."""
        return [data.item_name(i) for i in self.items]


def parse_seeds(text: str) -> list[str]:
    """Comma-separated names (blanks dropped): what the You page's seed box holds."""
    return [part.strip() for part in str(text).split(",") if part.strip()]


def find_seeds(data: InteractionData, names: Iterable[str]) -> Seeds:
    """Each name matched as ``--seed-items`` matches (:meth:`InteractionData.find_item`: id,
    last part of the id, or name); repeats are kept once."""
    items: list[int] = []
    unknown: list[str] = []
    for name in (str(n).strip() for n in names):
        if not name:
            continue
        try:
            item = data.find_item(name)
        except TimbreError as exc:
            unknown.append(str(exc))
            continue
        if item not in items:
            items.append(item)
    return Seeds(tuple(items), tuple(unknown))


def listener_components(
    store: Store,
    engine: HybridEngine,
    query: str,
    seeds: Sequence[int] = (),
    who: Person | None = None,
) -> tuple[Components, MappedRow | None, str]:
    """Who ``query`` names, ready to rank: a user the run was trained on, without feedback or
    seeds, by their training row (as evaluated); anyone else (a person with their own
    accounts, a profile, feedback, seeds) by :func:`person_components`. Returns the
    components, the mapping (``None`` for a training row) and the person's key.
    ``who``: :func:`identify` of ``query`` when the caller has it (the API's cache key reads
    it first), so the store is not asked twice. ``TimbreError`` when nothing is known of
    them."""
    data = engine.data
    who = identify(store, query) if who is None else who
    person, keys = who.key, list(who.accounts)
    trained = person in data.users and not seeds
    if trained and not feedback_of(store, keys):
        return engine.components_for_user(data.users.index(person)), None, person
    components, mapped = person_components(store, engine, person, seeds=seeds, accounts=keys)
    if not mapped.accounts and not seeds and not components.raw["personality"].any():
        raise NotFoundError(
            f"unknown user: {query!r}; no account or questionnaire profile is linked to "
            f"{person!r} either: bring their listening or take the questionnaire on the You "
            "page (or `timbre import FILE --user NAME`), or give seed artists"
        )
    return components, mapped, person


def _with_likes(row: sp.csr_matrix, liked: list[int]) -> sp.csr_matrix:
    """The row with each liked item at the median weight of the person's plays (1 without)."""
    if not liked:
        return row
    weight = float(np.median(row.data)) if row.nnz else 1.0
    likes = sp.csr_matrix(
        (np.full(len(liked), weight, dtype=np.float32), (np.zeros(len(liked)), liked)),
        shape=row.shape,
    )
    return sp.csr_matrix(row.maximum(likes), dtype=np.float32)


def feedback_note(
    data: InteractionData, liked: list[int], skipped: list[int], blocked: list[int]
) -> str:
    """The list's explanation of the feedback it reflects ("you liked Slayer; ...")."""
    parts = []
    for verb, items in (("liked", liked), ("skipped", skipped), ("blocked", blocked)):
        if items:
            names = ", ".join(data.item_name(i) for i in items[:5])
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            parts.append(f"you {verb} {names}{more}")
    return "; ".join(parts)


def person_profile(engine: HybridEngine, person: str, keys: list[str]) -> dict[str, float] | None:
    """Trait z-scores saved under the person's id or one of their accounts."""
    for key in (person, *keys):
        if key in engine.profiles:
            return engine.profiles[key]
    return None


def listener_profile(store: Store, engine: HybridEngine, person: str) -> dict[str, float] | None:
    """The profile the personality component of ``person``'s list uses (their newest, saved
    under their id or an account), or ``None``: what an export's provenance names."""
    return person_profile(engine, person, account_keys(store, person))


def forget_person(store: Store, person: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Delete a person with every account (one transaction); :func:`forget_payload` of it
    with ``accounts``. ``dry_run``: count, change nothing."""
    keys = list(dict.fromkeys([person, *account_keys(store, person)]))
    payload = forget_payload(person, store.forget_users(keys, dry_run=dry_run))
    payload["accounts"] = [k for k in keys if k != person]
    return payload


def forget_payload(key: str, counts: dict[str, int]) -> dict[str, Any]:
    """What ``forget`` prints as JSON: the key, rows deleted per table, and what was kept."""
    notes = (DATASETS_LEFT_EMPTY, RUNS_TRAINED_WITH_USER)
    return {
        "user": key,
        "deleted": {t: n for t, n in counts.items() if t not in notes},
        **{note: counts[note] for note in notes},
    }


def forget_line(payload: dict[str, Any], keep: str = "kept") -> str:
    """The rows deleted (non-zero tables) and what was ``keep`` (kept), as one line's text."""
    said = ", ".join(f"{n:,} {t}" for t, n in payload["deleted"].items() if n) or "no rows"
    kept = []
    if payload[DATASETS_LEFT_EMPTY]:
        kept.append(f"{payload[DATASETS_LEFT_EMPTY]} data set(s) left without interactions")
    if payload[RUNS_TRAINED_WITH_USER]:
        kept.append(
            f"{payload[RUNS_TRAINED_WITH_USER]} model run(s) that may have been trained with "
            "them (runs and artifacts are not touched)"
        )
    return said + (f"; {keep} {' and '.join(kept)}" if kept else "")
