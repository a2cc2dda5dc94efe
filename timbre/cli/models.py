"""``timbre train``, ``runs`` and ``similar``: models and the run registry."""

from __future__ import annotations

import argparse
from typing import Any

from timbre.cli import common
from timbre.cli.common import Commands, load_data, open_store, print_json, print_rows
from timbre.config import Settings
from timbre.errors import ParameterError


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train a model on a data set, save its artifact and record the run (``--if-stale``: only
    when enough new interactions arrived, see :func:`cmd_retrain`)."""
    from timbre.models import parse_params
    from timbre.services.runs import train_run

    if args.if_stale:
        return cmd_retrain(args, settings)
    if args.min_new is not None or args.tolerance is not None:
        raise ParameterError("--min-new and --tolerance apply to `timbre train --if-stale` only")
    if args.model is None:
        raise ParameterError("train needs --model NAME (or --if-stale to retrain the active run)")
    params = parse_params(args.model, args.param)
    with open_store(settings) as store:
        data, load_seconds = load_data(store, args.dataset)
        result = train_run(
            store,
            settings,
            data,
            args.model,
            params,
            common.log_progress,
            activate=not args.no_activate,
        )
    payload = {
        "run_id": result.run_id,
        "model": result.model.name,
        "params": result.model.get_params(),
        "dataset": data.dataset,
        "fingerprint": data.fingerprint,
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.nnz,
        "load_seconds": round(load_seconds, 3),
        "fit_seconds": round(result.fit_seconds, 3),
        "artifact": str(result.artifact),
    }
    if args.json:
        print_json(payload)
        return 0
    print(
        f"run {result.run_id}: {result.model.title} trained on {data.dataset} "
        f"({data.n_users:,} users x {data.n_items:,} items, {data.nnz:,} interactions) "
        f"in {result.fit_seconds:.2f} s (data loaded in {load_seconds:.2f} s)"
    )
    print(f"artifact: {result.artifact}")
    return 0


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    """``timbre train --if-stale``: retrain the data set's run when at least ``--min-new``
    user-item pairs changed; activate the new run only if its validation NDCG is not worse."""
    from timbre.models import parse_params
    from timbre.services import retrain

    if args.no_activate:
        raise ParameterError("--if-stale decides on activation itself; drop --no-activate")
    min_new = retrain.DEFAULT_MIN_NEW if args.min_new is None else args.min_new
    tolerance = retrain.TOLERANCE if args.tolerance is None else args.tolerance
    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        old = retrain.baseline_run(store, data)
        family = args.model or (old["model"] if old else retrain.DEFAULT_MODEL)
        params = parse_params(family, args.param) if args.param else None
        outcome = retrain.retrain_if_stale(
            store,
            settings,
            data,
            min_new,
            family,
            params,
            progress=common.log_progress,
            tolerance=tolerance,
        )
    if args.json:
        print_json(outcome.as_dict())
    else:
        print(outcome.message)
    return 0


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    """List, activate or delete training runs."""
    from timbre.services.runs import delete_run, get_run

    with open_store(settings) as store:
        if args.action == "activate":
            get_run(store, args.run_id)
            store.set_active_run(args.run_id)
            print(f"run {args.run_id} is now the active model of its data set")
            return 0
        if args.action == "delete":
            delete_run(store, args.run_id)
            print(f"run {args.run_id} and its artifact deleted")
            return 0
        runs = store.list_model_runs()
    empty = "no model runs yet; `timbre train --model als` trains one"
    return print_rows(args.json, runs, empty, _run_line)


def _run_line(run: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
    mark = "*" if run["active"] else " "
    seconds = run["duration_s"] or 0.0
    return f"{mark} {run['id']:>4}  {run['model']:<10} {run['dataset']}  {seconds:.2f} s  {params}"


def cmd_similar(args: argparse.Namespace, settings: Settings) -> int:
    """Items most similar to one item, in a trained model's space."""
    from timbre.services.runs import choose_run, load_run

    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        run = choose_run(store, data.dataset, args.run, args.model)
    model = load_run(run, data)
    item = data.find_item(args.item)
    ranking = model.similar_items(item, args.n)
    rows = common.ranking_rows(data, ranking.items, ranking.scores)
    if args.json:
        payload = {"run_id": run["id"], "model": run["model"], "item_id": data.items.id(item)}
        print_json({**payload, "similar": rows})
    else:
        common.print_ranking(
            f"like {data.item_name(item)} (run {run['id']}, {run['model']}):", rows
        )
    return 0


def add_run_choice(parser: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--run``, ``--model``, ``-n`` and ``--json``: which run serves a list."""
    common.add_dataset(parser)
    parser.add_argument("--run", type=int, help="model run id (default: the active run)")
    parser.add_argument("--model", help="use the newest run of this model family")
    parser.add_argument("-n", "--n", type=int, default=10, help="how many items (default 10)")
    common.add_json(parser)


def add_commands(sub: Commands) -> None:
    """``train``, ``runs``, ``similar``."""
    from timbre.models import MODELS

    train = sub.add_parser("train", help="train a model and record the run")
    train.add_argument(
        "--model", choices=list(MODELS), help="model family (--if-stale: default the run's)"
    )
    common.add_dataset(train)
    common.add_repeated(
        train, "--param", "KEY=VALUE", "hyper-parameter (repeatable), e.g. --param factors=128"
    )
    train.add_argument(
        "--no-activate", action="store_true", help="do not make this run the active model"
    )
    train.add_argument(
        "--if-stale",
        action="store_true",
        help="retrain the active run's family and parameters (--param overrides) only when "
        "--min-new user-item pairs changed since it was trained; activate the new run only "
        "if its validation NDCG@10 is not worse; with no run yet, train and activate",
    )
    train.add_argument(
        "--min-new",
        type=int,
        metavar="N",
        help="--if-stale: pairs new, changed or removed needed (default 1: any change)",
    )
    train.add_argument(
        "--tolerance",
        type=float,
        metavar="T",
        help="--if-stale: activate when the new NDCG >= the old minus T (default 1e-9)",
    )
    common.add_json(train, "print the run (or the retrain's outcome) as JSON")
    train.set_defaults(handler=cmd_train)

    runs = sub.add_parser("runs", help="list, activate or delete model runs")
    runs.add_argument("action", nargs="?", default="list", choices=("list", "activate", "delete"))
    runs.add_argument("run_id", nargs="?", type=int, help="run id (activate, delete)")
    common.add_json(runs)
    runs.set_defaults(handler=cmd_runs)

    similar = sub.add_parser("similar", help="items most similar to an item")
    similar.add_argument("--item", required=True, help="item id, last part of the id, or name")
    add_run_choice(similar)
    similar.set_defaults(handler=cmd_similar)
