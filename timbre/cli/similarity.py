"""``timbre similarity``: a similarity matrix in cluster order, or friends vs taste."""

from __future__ import annotations

import argparse
from typing import Any, cast

from timbre.cli.common import Commands, add_dataset, add_json, load_data, open_store, print_json
from timbre.config import Settings
from timbre.errors import ParameterError


def _friends(args: argparse.Namespace, data: Any, space: Any, friends: Any) -> int:
    from timbre.similarity import friend_index_pairs, friends_vs_taste

    pairs, _ = friend_index_pairs(data, friends)
    result = friends_vs_taste(space, pairs, args.permutations, args.seed)
    if args.json:
        print_json({"dataset": data.dataset, "run_id": space.run_id, **result.as_dict()})
    else:
        print(f"{data.dataset}: {result.summary()}")
    return 0


def _subset(args: argparse.Namespace) -> tuple[str, str | None]:
    if args.pick:
        return "list", None
    for name in ("neighbours", "genre", "tag"):
        if getattr(args, name) is not None:
            return name, getattr(args, name)
    return "top", None


def _print_matrix(title: str, matrix: Any) -> None:
    print(title + ":")
    for k, (name, ident) in enumerate(zip(matrix.labels, matrix.ids, strict=True)):
        same = matrix.clusters == matrix.clusters[k]
        same[k] = False
        within = (
            f"mean within cluster {matrix.values[k, same].mean():.3f}" if same.any() else "alone"
        )
        print(f"  {matrix.clusters[k]:>3}  {name}  ({ident}; {within})")


def _matrix_json(data: Any, matrix: Any) -> dict[str, Any]:
    return {
        "dataset": data.dataset,
        "kind": matrix.kind,
        "space": matrix.space,
        "measure": matrix.measure,
        "run_id": matrix.run_id,
        "description": matrix.description,
        "dropped": matrix.dropped,
        "ids": list(matrix.ids),
        "names": list(matrix.labels),
        "clusters": matrix.clusters.tolist(),
        "values": matrix.values.round(6).tolist(),
    }


def cmd_similarity(args: argparse.Namespace, settings: Settings) -> int:
    """A similarity matrix in cluster order (printed, as JSON or CSV), or friends vs taste."""
    from timbre.export import write_csv
    from timbre.services.spaces import load_space
    from timbre.similarity import Subset, select, similarity_matrix

    if args.friends and args.kind != "users":
        raise ParameterError("--friends compares users: use --kind users")
    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        space = load_space(store, data, args.kind, args.space)
        friends = store.friend_pairs(data.dataset) if args.friends else None
    if friends is not None:
        return _friends(args, data, space, friends)
    subset, query = _subset(args)
    selection = select(data, space, cast(Subset, subset), args.top, query=query, picks=args.pick)
    matrix = similarity_matrix(data, space, selection, args.clusters, args.linkage)
    run = f", run {matrix.run_id}" if matrix.run_id is not None else ""
    title = (
        f"{matrix.description} in the {args.space} space ({matrix.measure}{run}), "
        f"{matrix.n_clusters} clusters"
    )
    if args.out:
        path = write_csv(matrix.frame(), args.out)
        print(f"{title}: {len(matrix)} x {len(matrix)} matrix written to {path}")
    elif args.json:
        print_json(_matrix_json(data, matrix))
    else:
        _print_matrix(title, matrix)
    return 0


def add_commands(sub: Commands) -> None:
    """``similarity``."""
    from timbre.similarity import LINKAGES, SPACES
    from timbre.spaces import KINDS, SPACE_TITLES

    similarity = sub.add_parser(
        "similarity", help="user-user or item-item similarity matrix, or friends vs taste"
    )
    similarity.add_argument("--kind", required=True, choices=KINDS, help="users or items")
    similarity.add_argument(
        "--space",
        default="interactions",
        choices=SPACES,
        help="; ".join(f"{name}: {SPACE_TITLES[name]}" for name in SPACES)
        + " (als/bpr use the newest such run trained on the current data)",
    )
    similarity.add_argument(
        "--top",
        type=int,
        default=50,
        metavar="N",
        help="how many: the N most active users / most popular items, unless a subset below "
        "is given (default 50)",
    )
    chosen = similarity.add_mutually_exclusive_group()
    chosen.add_argument("--neighbours", metavar="ID", help="this user or item and its nearest")
    chosen.add_argument("--genre", help="items of this genre (users: most into it)")
    chosen.add_argument("--tag", help="items with this tag (users: most into it)")
    chosen.add_argument(
        "--pick", action="append", default=[], metavar="ID", help="hand-picked (repeatable)"
    )
    similarity.add_argument("--clusters", type=int, default=6, help="clusters (default 6)")
    similarity.add_argument("--linkage", default="average", choices=LINKAGES)
    add_dataset(similarity)
    similarity.add_argument("--out", metavar="FILE", help="write the matrix as CSV")
    similarity.add_argument(
        "--friends",
        action="store_true",
        help="compare friend pairs with random pairs (permutation test) instead",
    )
    similarity.add_argument(
        "--permutations", type=int, default=2000, help="--friends: shuffles (default 2000)"
    )
    similarity.add_argument("--seed", type=int, default=0, help="--friends: seed (default 0)")
    add_json(similarity)
    similarity.set_defaults(handler=cmd_similarity)
