"""``timbre personality``: score a questionnaire, show a person's prior, export profiles."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from timbre.cli.common import Commands, add_json, load_data, open_store, print_json
from timbre.config import Settings
from timbre.errors import ParameterError, TimbreError


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from timbre import personality as pers

    if not args.answers:
        raise ParameterError("personality score needs --answers FILE (CSV item,answer or JSON)")
    instrument = pers.get_instrument(args.instrument)
    answers = pers.read_answers(Path(args.answers))
    scores = pers.score(instrument, answers)
    percentiles = pers.percentiles(scores)
    means: dict[str, Any] = {t: round(m, 4) for t, m in scores.means.items()}
    profile_id = None
    user = args.user
    if args.user:
        from timbre.services.people import resolve_person

        with open_store(settings) as store:
            user = resolve_person(store, args.user)  # the key recommend --user reads
            profile_id = store.add_profile(
                user,
                instrument.name,
                {c: int(v) for c, v in answers.items()},
                means,
                {str(t): v for t, v in percentiles.items()},
            )
    if args.json:
        print_json(
            {
                "instrument": instrument.name,
                "user": user,
                "profile_id": profile_id,
                "scores": means,
                "percentiles": percentiles,
            }
        )
        return 0
    for trait in pers.TRAITS:
        print(f"{trait:<18} {scores.means[trait]:.2f} / 5   percentile {percentiles[trait]:.1f}")
    if profile_id is not None:
        print(f"saved as profile {profile_id} of {user}")
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from timbre import personality as pers
    from timbre.export import write_csv

    with open_store(settings) as store:
        frame = pers.profiles_frame(store.list_profiles(args.user))
    out = write_csv(frame, args.out or "profiles.csv")
    print(f"{len(frame):,} profiles written to {out}")
    return 0


def _prior_rows(data: Any, z: dict[str, float], n: int) -> tuple[Any, list[dict[str, Any]]]:
    from timbre import personality as pers

    attributes = pers.item_attributes(data.item_meta)
    weights = pers.attribute_weights(z, pers.default_coefficients())
    scores = pers.prior_scores(attributes, weights)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:n]
    rows = [
        {
            "rank": rank,
            "item_id": data.items.id(i),
            "name": data.item_name(i),
            "prior": round(float(scores[i]), 4),
            "because": ", ".join(
                f"{a} {v:+.3f}" for a, v in pers.prior_contributions(attributes, weights, i)
            ),
            "evidence": str(attributes.evidence.iloc[i]),
        }
        for rank, i in enumerate(order, start=1)
    ]
    return weights, rows


def _prior(args: argparse.Namespace, settings: Settings) -> int:
    from timbre import personality as pers

    if not args.user:
        raise ParameterError("personality prior needs --user ID (a user with a saved profile)")
    from timbre.services.people import resolve_person

    with open_store(settings) as store:
        profile = store.latest_profile(resolve_person(store, args.user))
        if profile is None:
            raise TimbreError(
                f"no personality profile for {args.user!r}; "
                "`timbre personality score --answers FILE --user ID` saves one"
            )
        data, _ = load_data(store, args.dataset)
    z = pers.trait_z(pers.scores_from_profile(profile))
    weights, rows = _prior_rows(data, z, args.n)
    exploration = pers.exploration_level(z)
    if args.json:
        levels = {
            "level": round(exploration.level, 4),
            "diversity": round(exploration.diversity, 4),
            "novelty": round(exploration.novelty, 4),
        }
        print_json(
            {
                "user": args.user,
                "profile_id": profile["id"],
                "attribute_weights": weights.round(4).to_dict(),
                "exploration": levels,
                "items": rows,
            }
        )
        return 0
    print(
        f"{args.user}: suggested exploration {exploration.level:.2f} "
        f"(diversity {exploration.diversity:.2f}, novelty {exploration.novelty:.2f})"
    )
    for row in rows:
        print(f"{row['rank']:>4}. {row['name']}  prior {row['prior']:+.3f}  ({row['because']})")
        print(f"        {row['evidence']}")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    """The plausibility check (not accuracy) of the prior on a data set's active run."""
    from timbre import hybrid
    from timbre import personality as pers
    from timbre.hybrid.plausibility import TITLE, plausibility_check
    from timbre.services.engines import engine_for_run
    from timbre.services.runs import choose_run

    if args.min_listeners < 0:
        raise ParameterError(f"--min-listeners must be 0 or more, got {args.min_listeners}")
    filters = hybrid.Filters(min_listeners=args.min_listeners, presenter_safe=args.presenter_safe)
    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        run = choose_run(store, data.dataset, None, None)
        prior = pers.read_coefficients(args.prior) if args.prior else None
        engine = engine_for_run(store, data, run, coefficients=prior)
    table = plausibility_check(engine, hybrid.Weights(), 10, filters)
    if args.json:
        print_json({"title": TITLE, "filters": filters.text(), "rows": table.to_dict("records")})
        return 0
    print(f"{TITLE}: the bundled personas as listeners without history ({filters.text()})")
    for row in table.to_dict("records"):
        print(
            f"  {row['persona']}: list share {row['list share']:.1f}, no-profile share "
            f"{row['no-profile share']:.1f}, lift {row['lift']:+.1f} "
            f"(predicted tags: {row['predicted tags']})"
        )
    return 0


def cmd_personality(args: argparse.Namespace, settings: Settings) -> int:
    """Score a questionnaire, show a user's personality prior, or export profiles."""
    actions = {"score": _score, "export": _export, "prior": _prior, "check": _check}
    return actions[args.action](args, settings)


def add_commands(sub: Commands) -> None:
    """``personality``."""
    personality = sub.add_parser(
        "personality", help="Big Five: score, prior, export, check (a plausibility check)"
    )
    personality.add_argument("action", choices=("score", "prior", "export", "check"))
    personality.add_argument("--answers", help="score: CSV (item,answer) or JSON answers")
    personality.add_argument(
        "--instrument", default="ipip50", choices=("ipip50", "mini-ipip"), help="score: which"
    )
    personality.add_argument("--user", help="score: save as this user's profile; prior: whose")
    personality.add_argument("--dataset", help="prior: data set (default: the demo's)")
    personality.add_argument("-n", "--n", type=int, default=20, help="prior: how many items")
    personality.add_argument("--out", help="export: CSV path (default profiles.csv)")
    personality.add_argument(
        "--min-listeners", type=int, default=0, help="check: leave out items with fewer listeners"
    )
    personality.add_argument(
        "--presenter-safe", action="store_true", help="check: hide blocklisted names"
    )
    personality.add_argument("--prior", help="check: an edited coefficient table (CSV)")
    add_json(personality)
    personality.set_defaults(handler=cmd_personality)
