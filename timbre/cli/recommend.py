"""``timbre recommend``: hybrid lists for a user, every user, a seed sequence or a group."""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from timbre.cli.common import Commands, load_data, log_progress, open_store, print_json
from timbre.cli.models import add_run_choice
from timbre.config import Settings
from timbre.errors import ParameterError

MODES = ("user", "all_users", "seed_items", "group")


def _weights(args: argparse.Namespace) -> Any:
    from timbre import hybrid

    if args.weights:
        return hybrid.Weights.parse(args.weights)
    return hybrid.preset(args.preset) if args.preset else hybrid.Weights()


def _filters(args: argparse.Namespace) -> Any:
    from timbre import hybrid

    if args.min_listeners < 0:
        raise ParameterError(f"--min-listeners must be 0 or more, got {args.min_listeners}")
    return hybrid.Filters(
        exclude_seen=not args.include_seen,
        min_listeners=args.min_listeners,
        presenter_safe=args.presenter_safe,
    )


def _rank(
    args: argparse.Namespace, engine: Any, weights: Any, store: Any
) -> tuple[pd.DataFrame | None, dict]:
    """The table of the one mode asked for, and what to say about it in ``--json``; for
    ``--all-users --out`` without ``--json``, no table but its frames (``extra["frames"]``,
    ranked as they are written)."""
    from timbre import hybrid
    from timbre.services.people import listener_profile
    from timbre.services.recommendations import next_track, rank_listener

    data = engine.data
    filters = _filters(args)
    if args.all_users:
        every = (engine, range(data.n_users), weights, args.n, filters, log_progress)
        if args.out and not args.json:  # written a batch at a time: see cmd_recommend
            return None, {"frames": hybrid.batch_frames(*every)}
        return hybrid.batch_frame(*every), {}
    if args.seed_items:
        frame, seeds = next_track(engine, args.seed_items.split(","), weights, args.n, filters)
        return frame, {"seeds": [data.items.id(s) for s in seeds]}
    if args.group:
        members = [data.find_user(u.strip()) for u in args.group.split(",") if u.strip()]
        ranking, _ = engine.group(members, weights, args.n, args.aggregate, filters)
        ids = [data.users.id(u) for u in members]
        return hybrid.ranking_frame(data, ranking, "group:" + ",".join(ids)), {"group": ids}
    made = rank_listener(store, engine, args.user, weights, args.n, filters, args.seed or [])
    ranking, mapped = made.ranking, made.mapped
    extra: dict[str, Any] = {"rule": ranking.rule, "notes": list(ranking.notes)}
    extra["profile"] = listener_profile(store, engine, made.person)
    if made.seeds:
        extra["seeds"] = [data.items.id(s) for s in made.seeds]
    if mapped is not None:
        extra["mapped"] = mapped.as_dict()
        extra["mapped_text"] = mapped.text()
    return made.frame, extra


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    """Hybrid recommendations: one user, all users, next-track from seeds, or a group."""
    from timbre import personality as pers
    from timbre.export import (
        group_line,
        provenance,
        seeds_line,
        write_table,
        write_table_stream,
    )
    from timbre.services.engines import engine_for_run
    from timbre.services.recommendations import save_list
    from timbre.services.runs import choose_run, staleness

    weights = _weights(args)
    if sum(bool(getattr(args, mode)) for mode in MODES) != 1:
        raise ParameterError("give exactly one of --user, --all-users, --seed-items, --group")
    if args.save and not args.user:
        raise ParameterError("--save records one user's list: give --user")
    if args.seed and not args.user:
        raise ParameterError("--seed names a person's seed artists: give --user")
    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        run = choose_run(store, data.dataset, args.run, args.model)
        prior = pers.read_coefficients(args.prior) if args.prior else None
        engine = engine_for_run(store, data, run, args.normalization, args.space, prior)
        frame, extra = _rank(args, engine, weights, store)
        stale = staleness(engine.data, data)
        revision = store.dataset_revision(data.dataset)
        if args.save and frame is not None:  # --save needs --user: a table, not frames
            extra["saved_rows"] = save_list(store, run, frame, weights, args.normalization)
    notes = [engine.content_note] if engine.content_note else []
    table = engine.coefficients
    shown = args.prior or "the shipped table"
    notes.append(f"personality prior: {shown} (sha256 {pers.coefficients_digest(table)})")
    if "group" in extra:
        notes.append(group_line(extra["group"], args.aggregate))
    if "seeds" in extra:
        notes.append(seeds_line(engine.data, engine.data.items.indices(extra["seeds"]).tolist()))
    comments = provenance(
        data.dataset, weights.as_dict(), args.normalization, args.space, run, notes,
        revision=revision, fingerprint=engine.data.fingerprint, filters=_filters(args),
        profile=extra.pop("profile", ""),
    )  # fmt: skip
    frames = extra.pop("frames", None)
    if frames is not None:
        rows = write_table_stream(frames, args.out, comments)
        print(f"{rows:,} rows written to {args.out}")
        return 0
    assert frame is not None  # only the streamed export has none
    if args.out:
        write_table(frame, args.out, comments)
    if args.json:
        payload = {"run_id": run["id"], "model": run["model"], "weights": weights.as_dict()}
        payload["run_stale"] = {
            "stale": stale.stale,
            "arrived": stale.arrived,
            "text": stale.text(),
        }
        extra.pop("mapped_text", None)
        print_json({**payload, **extra, "recommendations": frame.to_dict("records")})
    elif args.out:
        print(f"{len(frame):,} rows written to {args.out}")
    else:
        if stale.stale:
            print(f"run {run['id']}: {stale.text()}")
        if "mapped_text" in extra:
            print(extra["mapped_text"])
        for row in frame.to_dict("records"):
            because = f"  because: {row['because']}" if row["because"] else ""
            print(f"{row['rank']:>4}. {row['item_name']}  ({row['score']:.3f}){because}")
    if args.save and not args.json:
        print(f"saved this list of {extra['saved_rows']} items with run {run['id']}")
    return 0


def add_commands(sub: Commands) -> None:
    """``recommend``."""
    from timbre import hybrid

    recommend = sub.add_parser("recommend", help="hybrid recommendations (and exports)")
    recommend.add_argument("--user", help="user id or the last part of it")
    recommend.add_argument("--all-users", action="store_true", help="every user (export)")
    recommend.add_argument("--seed-items", help="next-track: comma-separated items (ids/names)")
    recommend.add_argument(
        "--seed",
        action="append",
        metavar="NAME",
        help="with --user: an artist (or item) they like, repeatable; with no history of "
        "theirs, the list's content part comes from these",
    )
    recommend.add_argument("--group", help="a blend for users U1,U2,...")
    recommend.add_argument(
        "--aggregate", default="average", choices=("average", "least-misery"), help="--group"
    )
    recommend.add_argument(
        "--weights", help="cf=..,content=..,personality=..,novelty=..,diversity=.. (missing = 0)"
    )
    recommend.add_argument("--preset", help=", ".join(hybrid.PRESETS))
    recommend.add_argument("--normalization", default="minmax", choices=hybrid.NORMALIZATIONS)
    recommend.add_argument(
        "--space",
        default="svd",
        choices=hybrid.MMR_SPACES,
        help="where the diversity bonus measures similarity (default svd: a 64-d SVD of who "
        "played what)",
    )
    recommend.add_argument("--out", help="write CSV (or .parquet with a .json sidecar)")
    recommend.add_argument(
        "--min-listeners",
        type=int,
        default=0,
        metavar="N",
        help="only items with at least N listeners (default 0: all)",
    )
    recommend.add_argument(
        "--presenter-safe",
        action="store_true",
        help="hide items whose name holds a word of timbre/resources/safety/blocklist.txt",
    )
    recommend.add_argument(
        "--prior",
        metavar="FILE",
        help="an edited personality coefficient table: a CSV with trait, attribute, "
        "coefficient and source columns, like timbre/resources/personality/prior.csv",
    )
    recommend.add_argument(
        "--include-seen", action="store_true", help="also rank items the user already played"
    )
    recommend.add_argument(
        "--save", action="store_true", help="record this user's list in the store with its run"
    )
    add_run_choice(recommend)
    recommend.set_defaults(handler=cmd_recommend)
