"""A person's Like / Skip / Block on items (and undo): what ``timbre feedback`` and
``POST /v1/feedback`` record, as the app's reaction buttons do (``Store.add_feedback``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from timbre.errors import ParameterError
from timbre.interactions import InteractionData
from timbre.services.people import resolve_person
from timbre.store import FEEDBACK_EVENTS, Store


@dataclass(frozen=True)
class FeedbackDone:
    """What a feedback call did: for whom, which reaction, on which item keys, how many rows."""

    person: str
    kind: str
    item_keys: tuple[str, ...]
    rows: int
    undo: bool


def record_feedback(
    store: Store,
    data: InteractionData,
    person_query: str,
    items: Sequence[str],
    kind: str,
    undo: bool = False,
) -> FeedbackDone:
    """Record (or with ``undo`` remove) ``kind`` (like, skip, block) of items named by id or
    name in ``data``, for the person ``person_query`` names (:func:`resolve_person`), in one
    transaction; the next list of theirs reflects it.

    Raises
    ------
    ParameterError
        An unknown kind or no item.
    NotFoundError
        An item ``data`` does not know (nothing is written).
    """
    if kind not in FEEDBACK_EVENTS:
        raise ParameterError(f"kind must be one of {', '.join(FEEDBACK_EVENTS)}, got {kind!r}")
    if not [q for q in items if str(q).strip()]:
        raise ParameterError("items: give at least one item (id or name)")
    person = resolve_person(store, person_query)
    found = (data.find_item(str(q)) for q in items if str(q).strip())
    keys = tuple(dict.fromkeys(data.items.id(i) for i in found))
    if undo:
        rows = store.remove_feedback(person, list(keys), kind)
    else:
        rows = store.add_feedback(person, list(keys), kind, int(time.time() * 1000))
    return FeedbackDone(person, kind, keys, rows, undo)
