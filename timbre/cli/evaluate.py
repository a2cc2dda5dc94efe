"""``timbre evaluate`` and ``sweep``: models measured on a split, hyper-parameters searched."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from timbre.cli import common
from timbre.cli.common import Commands, load_data, open_store, print_json
from timbre.config import Settings
from timbre.errors import ParameterError
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
    return SplitSpec(args.split, args.test_fraction, args.seed, args.k_out, args.cut)


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
    if "cut" in split:
        print(
            f"  train before {split['cut']}, test after; "
            f"{split['events_after_cut_unused']:,} later events used for neither "
            "(replays, or users with no history before the cut)"
        )
    for reason, count in split["not_evaluated"].items():
        print(f"  not evaluated: {count:,} users ({reason})")
    print(
        f"  {split['test_pairs_without_train_share']:.1%} of the test pairs name an item nobody "
        "played in train (a ceiling on every collaborative model)"
    )
    width = max(14, *(len(n) + 2 for n in payload["models"]))
    print(f"{'model':<{width}}" + "".join(f"{c:>12}" for c in COLUMNS))
    for name, metrics in payload["models"].items():
        print(f"{name:<{width}}" + "".join(f"{metrics[c]:>12.4f}" for c in COLUMNS))
    for warning in payload["warnings"]:
        print(f"warning: {warning}")
    if payload["comparisons"]:
        print("paired tests on NDCG (a - b, 95% interval; p-values Holm-adjusted over the pairs):")
    for c in payload["comparisons"]:
        print(
            f"  {c['a']} - {c['b']}: {c['mean_difference']:+.4f} "
            f"[{c['ci95_low']:+.4f}, {c['ci95_high']:+.4f}], "
            f"Wilcoxon p {c['wilcoxon_p_holm']:.2g}, t p {c['t_p_holm']:.2g} ({c['users']:,} users)"
        )


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate models and hybrids on one split; print, save and record the metrics."""
    from timbre.services.experiments import evaluate

    if args.rerun is not None:
        return _rerun(args, settings)
    if not args.models:
        raise ParameterError("evaluate needs --models (or --rerun EXPERIMENT_ID)")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        experiment, ids = evaluate(
            store, data, names, args.param, split_spec(args), args.k, args.ild_space,
            common.log_progress, record=not args.no_record,
        )  # fmt: skip
    _save_files(args, experiment)
    payload = experiment.as_dict()
    payload["record"] = {**(experiment.record or {}), "experiment_id": ids[0] if ids else None}
    if args.json:
        print_json(payload)
    else:
        _print_table(data.dataset, args, payload)
        if ids:
            print(f"recorded as experiment {ids[0]} (`timbre evaluate --rerun {ids[0]}`)")
    return 0


def _rerun(args: argparse.Namespace, settings: Settings) -> int:
    from timbre.services.experiments import find_record, rerun

    with open_store(settings) as store:
        record, _ = find_record(store, args.rerun)
        data, _ = load_data(store, record["dataset"])
        outcome = rerun(store, data, args.rerun)
    if args.json:
        print_json({"experiment_id": outcome.experiment_id, "matches": outcome.matches,
                    "mismatches": outcome.mismatches, "metrics": outcome.after})  # fmt: skip
    elif outcome.matches:
        print(f"experiment {outcome.experiment_id}: every metric of every model matches")
    else:
        print(f"experiment {outcome.experiment_id}: {len(outcome.mismatches)} differences:")
        print("\n".join(f"  {m}" for m in outcome.mismatches))
    return 0 if outcome.matches else 1


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """Tune one model's (or the hybrid's) parameters on validation; report the chosen one on
    test; record it with both."""
    from timbre.evaluation import SweepSpec, param_column
    from timbre.services.experiments import sweep_and_record

    grid, base = _sweep_grid(args)
    spec = SweepSpec(
        args.model, grid, base, args.budget, args.mode, args.metric, split_spec(args), args.k
    )

    def show(done: int, total: int, row: dict[str, Any]) -> None:
        if not args.json:
            config = ", ".join(f"{k}={row[param_column(k)]}" for k in grid)
            print(
                f"[{done}/{total}] {config}: validation {args.metric} {row[args.metric]:.4f}",
                flush=True,
            )

    with open_store(settings) as store:
        data, _ = load_data(store, args.dataset)
        outcome = sweep_and_record(store, data, spec, show)
    result = outcome.result
    if args.json:
        print_json(
            {
                "model": args.model,
                "metric": args.metric,
                "split": asdict(spec.split),
                "validation_split": asdict(spec.split.validation()),
                "splits": result.splits,
                "chosen_on": result.chosen_on,
                "best": outcome.best,
                "best_run_id": outcome.run_id,
                "validation": result.best_validation,
                "test": result.test.as_dict(),
                "results": result.validation.to_dict("records"),
            }
        )
        return 0
    best = ", ".join(f"{k}={v}" for k, v in outcome.best.items())
    print(
        f"chosen on validation: {best} (validation {args.metric} "
        f"{result.best_validation[args.metric]:.4f}); test {args.metric} "
        f"{result.test.summary[args.metric]:.4f}, measured once (recorded as run {outcome.run_id})"
    )
    return 0


def _sweep_grid(args: argparse.Namespace) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    from timbre.evaluation import parse_grid
    from timbre.models import parse_params
    from timbre.services.experiments import HYBRID, parse_hybrid_grid

    if args.model == HYBRID:
        base = {}
        for assignment in args.param:
            key, _, value = assignment.partition("=")
            base[key.strip()] = value.strip()
        return parse_hybrid_grid(args.grid), base
    return parse_grid(args.model, args.grid), parse_params(args.model, args.param)


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` and the split: ``--split``, ``--test-fraction``, ``--k-out``, ``--seed``,
    and the list length ``--k`` (the fields of :class:`SplitSpec`)."""
    common.add_dataset(parser)
    parser.add_argument("--split", default="user-holdout", choices=PROTOCOLS)
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held out per user")
    parser.add_argument("--k-out", type=int, default=1, help="leave-k-out: items held out")
    parser.add_argument(
        "--cut",
        metavar="WHEN",
        help="global-time: train before this moment (ISO 8601, UTC), test after; default: "
        "where the latest --test-fraction of the events begins",
    )
    parser.add_argument("--k", type=int, default=10, help="list length K (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")


def add_commands(sub: Commands) -> None:
    """``evaluate``, ``sweep``."""
    from timbre.models import MODELS
    from timbre.spaces import SPACE_NAMES

    evaluate = sub.add_parser("evaluate", help="evaluate models and hybrids on one split")
    evaluate.add_argument(
        "--models",
        help="comma-separated, e.g. als,ease,hybrid:default,hybrid:cf=0.8+content=0.2 "
        "(a hybrid is a preset or +-joined weights; its CF part is ALS unless "
        "--param hybrid.cf_model=FAMILY)",
    )
    evaluate.add_argument(
        "--rerun", type=int, metavar="EXPERIMENT_ID", help="run a recorded experiment again"
    )
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
        "hyper-parameter of one model (repeatable), e.g. --param als.factors=32; hybrids: "
        "hybrid.cf_model, hybrid.normalization, hybrid.space",
    )
    common.add_json(evaluate, "print the results as JSON")
    evaluate.add_argument("--save-split", metavar="DIR", help="write train.csv and test.csv")
    evaluate.add_argument("--save-recs", metavar="FILE", help="write every test user's top K")
    evaluate.add_argument(
        "--no-record", action="store_true", help="do not add the results to the run registry"
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    sweep = sub.add_parser(
        "sweep", help="tune one model's (or the hybrid's) parameters on validation, report on test"
    )
    sweep.add_argument("--model", required=True, choices=[*MODELS, "hybrid"])
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
