"""``people.identify``: who a text names and their accounts, read once, exactly as
``resolve_person`` and then ``account_keys`` find them (the API's answer reads it once and
passes it to ``rank_listener``)."""

from __future__ import annotations

import pytest

from tests.test_store import listening_batch
from timbre.errors import ParameterError
from timbre.services.people import Person, account_keys, identify, resolve_person
from timbre.store import Store


def test_identify_is_resolve_person_then_account_keys(store: Store) -> None:
    store.write_batch(listening_batch())  # users u:1, u:2
    store.link_account("me", "u:2")  # an account linked to a person
    store.add_profile("solo", "mini-ipip", {}, {}, {})  # a profile and no account
    cases = {
        "u:1": Person("u:1", ("u:1",)),  # a user: their own key
        "1": Person("u:1", ("u:1",)),  # the last part of a key
        "u:2": Person("me", ("u:2",)),  # a linked account names its person
        "me": Person("me", ("u:2",)),  # the person: their linked accounts
        "solo": Person("solo", ()),
        "nobody": Person("nobody", ()),  # a new person
    }
    for text, expected in cases.items():
        person = resolve_person(store, text)
        assert (
            identify(store, text) == expected == Person(person, tuple(account_keys(store, person)))
        ), text
    with pytest.raises(ParameterError, match="a person needs an id"):
        identify(store, "  ")
