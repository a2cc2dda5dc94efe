"""``timbre evaluate`` and ``sweep``: models measured on a split, hyper-parameters searched."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from timbre.cli import common
from timbre.cli.common import Commands, load_data, open_store, print_json
from timbre.config import Settings
from timbre.evaluation import ILD_SPACE, PROTOCOLS, SplitSpec

#: The columns of the printed results table.
COLUMNS = (
    "ndcg",
    "precision",
    "recall",
    "map",
    "hit_rate",
    "coverage",
    "diversity",
    "novelty",
    "arp",
    "fit_seconds",
)


def split_spec(args: argparse.Namespace) -> SplitSpec:
    """The split the options describe (one frozen spec for the whole command)."""
    return SplitSpec(args.split, args.test_fraction, args.seed, args.k_out)


def _save_files(args: argparse.Namespace, experiment: Any) -> None:
    from timbre.evaluation import recommendation_frame, split_frames
    from timbre.export import write_csv

    if args.save_split:
        train, test = split_frames(experiment.split)
        folder = Path(args.save_split)
        write_csv(train, folder / "train.csv", spreadsheet_safe=False)
        write_csv(test, folder / "test.csv", spreadsheet_safe=False)
    if args.save_recs:
        write_csv(recommendation_frame(experiment), args.save_recs, spreadsheet_safe=False)


def _print_table(dataset: str, args: argparse.Namespace, payload: dict[str, Any]) -> None:
    split = payload["split"]
    print(
        f"{dataset}: {split['protocol']} split, seed {args.seed}, "
        f"{split['test_users']:,} test users, K = {args.k}; "
        f"diversity = ILD in the {args.ild_space} space"
    )
    for reason, count in split["not_evaluated"].items():
        print(f"  not evaluated: {count:,} users ({reason})")
    print(f"{'model':<14}" + "".join(f"{c:>12}" for c in COLUMNS))
    for name, metrics in payload["models"].items():
        print(f"{name:<14}" + "".join(f"{metrics[c]:>12.4f}" for c in COLUMNS))


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate several models on one split; print, save and record the metrics."""
    from timbre.evaluation import parse_model_specs, run_experiment
    from timbre.services.experiments import record_results

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    specs = parse_model_specs(names, args.param)
    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        experiment = run_experiment(
            data, specs, split_spec(args), args.k, args.ild_space, common.log_progress
        )
        if not args.no_record:
            record_results(store, data.dataset, experiment)
    _save_files(args, experiment)
    payload = experiment.as_dict()
    if args.json:
        print_json(payload)
    else:
        _print_table(data.dataset, args, payload)
    return 0


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate a grid (or a random sample) of one model's parameters; store the best."""
    from timbre.evaluation import SweepSpec, parse_grid
    from timbre.models import parse_params
    from timbre.services.experiments import sweep_and_record

    grid = parse_grid(args.model, args.grid)
    base = parse_params(args.model, args.param)
    spec = SweepSpec(
        args.model, grid, base, args.budget, args.mode, args.metric, split_spec(args), args.k
    )

    def show(done: int, total: int, row: dict[str, Any]) -> None:
        if not args.json:
            config = ", ".join(f"{k}={row[k]}" for k in grid)
            print(f"[{done}/{total}] {config}: {args.metric} {row[args.metric]:.4f}", flush=True)

    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        outcome = sweep_and_record(store, data, spec, show)
    frame = outcome.results
    if args.json:
        print_json(
            {
                "model": args.model,
                "metric": args.metric,
                "split": asdict(outcome.spec.split),
                "best": outcome.best,
                "best_run_id": outcome.run_id,
                "results": frame.to_dict("records"),
            }
        )
        return 0
    best = ", ".join(f"{k}={v}" for k, v in outcome.best.items())
    print(
        f"best {args.metric}: {frame.iloc[0][args.metric]:.4f} with {best} "
        f"(recorded as run {outcome.run_id})"
    )
    return 0


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` and the split: ``--split``, ``--test-fraction``, ``--k-out``, ``--seed``,
    and the list length ``--k`` (the fields of :class:`SplitSpec`)."""
    common.add_dataset(parser)
    parser.add_argument("--split", default="user-holdout", choices=PROTOCOLS)
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held out per user")
    parser.add_argument("--k-out", type=int, default=1, help="leave-k-out: items held out")
    parser.add_argument("--k", type=int, default=10, help="list length K (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")


def add_commands(sub: Commands) -> None:
    """``evaluate``, ``sweep``."""
    from timbre.models import MODELS
    from timbre.spaces import SPACE_NAMES

    evaluate = sub.add_parser("evaluate", help="evaluate models on one split")
    evaluate.add_argument("--models", required=True, help="comma-separated, e.g. als,ease")
    add_split_options(evaluate)
    evaluate.add_argument(
        "--ild-space",
        default=ILD_SPACE,
        choices=[s for s in SPACE_NAMES if s not in ("als", "bpr")],
        help=f"where intra-list diversity is measured (default {ILD_SPACE})",
    )
    common.add_repeated(
        evaluate,
        "--param",
        "MODEL.KEY=VALUE",
        "hyper-parameter of one model (repeatable), e.g. --param als.factors=32",
    )
    common.add_json(evaluate, "print the results as JSON")
    evaluate.add_argument("--save-split", metavar="DIR", help="write train.csv and test.csv")
    evaluate.add_argument("--save-recs", metavar="FILE", help="write every test user's top K")
    evaluate.add_argument(
        "--no-record", action="store_true", help="do not add the results to the run registry"
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    sweep = sub.add_parser("sweep", help="evaluate a grid of one model's parameters")
    sweep.add_argument("--model", required=True, choices=list(MODELS))
    common.add_repeated(
        sweep, "--grid", "KEY=V1,V2", "values to try for one parameter (repeatable)"
    )
    common.add_repeated(sweep, "--param", "KEY=VALUE", "fixed parameter for every configuration")
    sweep.add_argument("--budget", type=int, help="evaluate at most this many configurations")
    sweep.add_argument("--mode", default="grid", choices=("grid", "random"))
    sweep.add_argument("--metric", default="ndcg", help="what 'best' means (default ndcg)")
    add_split_options(sweep)
    common.add_json(sweep, "print all results as JSON")
    sweep.set_defaults(handler=cmd_sweep)
