"""``timbre feedback`` and ``timbre people``: a person's reactions to lists, their accounts."""

from __future__ import annotations

import argparse

from timbre.cli.common import (
    Commands,
    add_dataset,
    add_json,
    add_repeated,
    open_store,
    print_json,
)
from timbre.config import Settings
from timbre.errors import ParameterError

REACTIONS = ("like", "skip", "block")


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    """Record (or undo) likes, skips and blocks; or list a person's feedback."""
    from timbre.services.data import load_data
    from timbre.services.feedback import record_feedback
    from timbre.services.people import account_keys, feedback_of, resolve_person

    asked = {kind: list(getattr(args, kind) or []) for kind in REACTIONS}
    with open_store(settings) as store:
        person = resolve_person(store, args.user)
        if any(asked.values()):
            data = load_data(store, args.dataset)
            done = {
                kind: record_feedback(store, data, person, queries, kind, args.undo).rows
                for kind, queries in asked.items()
                if queries
            }
            verb = "removed" if args.undo else "recorded"
            said = ", ".join(f"{n} {k}" for k, n in done.items())
            if not args.json:
                print(f"{person}: {verb} {said}")
        elif args.undo:
            raise ParameterError("--undo needs the reactions to undo (--like/--skip/--block)")
        reactions = feedback_of(store, account_keys(store, person))
    if args.json:
        print_json(
            {
                "user": person,
                "liked": list(reactions.liked),
                "skipped": list(reactions.skipped),
                "blocked": list(reactions.blocked),
            }
        )
    elif not any(asked.values()):
        standing = (reactions.liked, reactions.skipped, reactions.blocked)
        for kind, items in zip(REACTIONS, standing, strict=True):
            print(f"{kind}: {', '.join(items) if items else '-'}")
    return 0


def cmd_people(args: argparse.Namespace, settings: Settings) -> int:
    """Link an account to a person, unlink it, or show a person's accounts."""
    from timbre.services.people import account_keys, resolve_person

    with open_store(settings) as store:
        if args.action == "link":
            if not args.account:
                raise ParameterError("people link needs --account KEY (e.g. lastfm:rj)")
            store.link_account(args.person.strip(), args.account.strip())
            person = args.person.strip()
        elif args.action == "unlink":
            if not args.account:
                raise ParameterError("people unlink needs --account KEY")
            store.unlink_account(args.account.strip())
            person = args.person.strip()
        else:
            person = resolve_person(store, args.person)
        accounts = account_keys(store, person)
    if args.json:
        print_json({"person": person, "accounts": accounts})
    else:
        print(f"{person}: {', '.join(accounts) if accounts else 'no accounts'}")
    return 0


def add_commands(sub: Commands) -> None:
    """``feedback`` and ``people``."""
    feedback = sub.add_parser("feedback", help="like / skip / block items for a person (or list)")
    feedback.add_argument("--user", required=True, help="the person (id, account or last part)")
    for kind in REACTIONS:
        add_repeated(feedback, f"--{kind}", "ITEM", f"{kind} an item (id or name; repeatable)")
    feedback.add_argument("--undo", action="store_true", help="remove these reactions instead")
    add_dataset(feedback)
    add_json(feedback)
    feedback.set_defaults(handler=cmd_feedback)

    people = sub.add_parser("people", help="a person's linked accounts")
    people.add_argument("action", choices=("show", "link", "unlink"))
    people.add_argument("--person", required=True, help="the person's id (e.g. me)")
    people.add_argument("--account", help="an account's user key (lastfm:rj, spotify:user:...)")
    add_json(people)
    people.set_defaults(handler=cmd_people)
