"""The ``timbre`` command: every app action from a shell (also ``python -m timbre``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from timbre.config import Settings, load_settings
from timbre.errors import TimbreError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]


def _open_store(settings: Settings) -> Any:
    from timbre.store import Store

    return Store.open(settings)


def _print_json(payload: object) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True, default=str))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the bundled demo data (idempotent)."""
    from timbre.sources.demo import load_demo

    started = time.perf_counter()
    with _open_store(settings) as store:
        reports = load_demo(store)
    elapsed = time.perf_counter() - started
    if args.json:
        _print_json({"seconds": round(elapsed, 2), "reports": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            print(report.summary())
        print(f"demo ready in {elapsed:.1f} s")
    return 0


def _parse_columns(pairs: Sequence[str]) -> dict[str, str] | None:
    columns: dict[str, str] = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise TimbreError(f"--column expects ROLE=NAME (e.g. user=listener), got {pair!r}")
        columns[role.strip()] = name.strip()
    return columns or None


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import a file, folder or zip in one transaction and print its report."""
    from timbre.sources.files import read_path

    batch = read_path(
        Path(args.path),
        args.format,
        dataset=args.dataset,
        user=args.user,
        min_play_ms=int(args.min_play_seconds * 1000),
        columns=_parse_columns(args.column),
    )
    with _open_store(settings) as store:
        report = store.write_batch(batch)
    if args.json:
        _print_json(report.as_dict())
    else:
        print(report.summary())
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the store holds: users, items per kind, interactions, per data set."""
    with _open_store(settings) as store:
        stats = store.stats()
    if args.json:
        _print_json(stats)
        return 0
    items = ", ".join(f"{n:,} {kind}s" for kind, n in stats["items"].items())
    print(f"users {stats['users']:,}; items: {items}; interactions {stats['interactions']:,}")
    catalog = stats["catalog"]
    print(f"catalogue: {catalog['tracks']:,} tracks by {catalog['artists']:,} artists")
    for name, ds in stats["datasets"].items():
        rate = ds.get("catalog_match_rate")
        shown = "n/a" if rate is None else f"{rate:.1%}"
        print(
            f"  {name} ({ds['source']}): {ds['users']:,} users, {ds['items']:,} items, "
            f"{ds['interactions']:,} interactions, catalogue match {shown}"
        )
    return 0


def _model_data(store: Any, dataset: str | None) -> tuple[Any, float]:
    """The interaction data of ``dataset`` (default: the demo's) and the seconds it took."""
    from timbre.interactions import InteractionData
    from timbre.models.runs import default_dataset

    started = time.perf_counter()
    data = InteractionData.from_store(store, dataset or default_dataset(store))
    return data, time.perf_counter() - started


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train a model on a data set, save its artifact and record the run."""
    from timbre.models import parse_params
    from timbre.models.runs import train_run

    try:
        params = parse_params(args.model, args.param)
    except ValueError as exc:
        raise TimbreError(str(exc)) from None
    with _open_store(settings) as store:
        data, load_seconds = _model_data(store, args.dataset)

        def progress(fraction: float, message: str) -> None:
            log.info("%3.0f%% %s", 100 * fraction, message)

        result = train_run(
            store, settings, data, args.model, params, progress, activate=not args.no_activate
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
        _print_json(payload)
    else:
        print(
            f"run {result.run_id}: {result.model.title} trained on {data.dataset} "
            f"({data.n_users:,} users x {data.n_items:,} items, {data.nnz:,} interactions) "
            f"in {result.fit_seconds:.2f} s (data loaded in {load_seconds:.2f} s)"
        )
        print(f"artifact: {result.artifact}")
    return 0


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    """List, activate or delete training runs."""
    from timbre.models.runs import delete_run, get_run

    with _open_store(settings) as store:
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
    if args.json:
        _print_json(runs)
        return 0
    if not runs:
        print("no model runs yet; `timbre train --model als` trains one")
    for run in runs:
        params = ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
        mark = "*" if run["active"] else " "
        seconds = run["duration_s"] or 0.0
        print(
            f"{mark} {run['id']:>4}  {run['model']:<10} {run['dataset']}  {seconds:.2f} s  {params}"
        )
    return 0


def _ranking_rows(data: Any, items: Any, scores: Any) -> list[dict[str, Any]]:
    return [
        {
            "rank": rank,
            "item_id": data.items.id(int(item)),
            "name": data.item_name(int(item)),
            "score": round(float(score), 6),
        }
        for rank, (item, score) in enumerate(zip(items, scores, strict=True), start=1)
    ]


def _print_ranking(title: str, rows: list[dict[str, Any]]) -> None:
    print(title)
    for row in rows:
        print(f"{row['rank']:>4}. {row['name']}  ({row['item_id']}, score {row['score']:.4f})")


def cmd_similar(args: argparse.Namespace, settings: Settings) -> int:
    """Items most similar to one item, in a trained model's space."""
    from timbre.models.runs import choose_run, load_run

    with _open_store(settings) as store:
        data, _ = _model_data(store, args.dataset)
        run = choose_run(store, data.dataset, args.run, args.model)
    model = load_run(run, data)
    item = data.find_item(args.item)
    ranking = model.similar_items(item, args.n)
    rows = _ranking_rows(data, ranking.items, ranking.scores)
    if args.json:
        _print_json(
            {
                "run_id": run["id"],
                "model": run["model"],
                "item_id": data.items.id(item),
                "similar": rows,
            }
        )
    else:
        _print_ranking(f"like {data.item_name(item)} (run {run['id']}, {run['model']}):", rows)
    return 0


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    """Hybrid recommendations: one user, all users, next-track from seeds, or a group."""
    from timbre import hybrid
    from timbre.export import write_csv
    from timbre.models.runs import choose_run

    try:
        weights = hybrid.preset(args.preset) if args.preset else hybrid.Weights()
        if args.weights:
            weights = hybrid.Weights.parse(args.weights)
    except ValueError as exc:
        raise TimbreError(str(exc)) from None
    modes = [bool(args.user), args.all_users, bool(args.seed_items), bool(args.group)]
    if sum(modes) != 1:
        raise TimbreError("give exactly one of --user, --all-users, --seed-items, --group")
    filters = hybrid.Filters(exclude_seen=not args.include_seen)
    with _open_store(settings) as store:
        data, _ = _model_data(store, args.dataset)
        run = choose_run(store, data.dataset, args.run, args.model)
        try:
            engine = hybrid.engine_for_run(store, data, run, args.normalization, args.space)
        except ValueError as exc:
            raise TimbreError(str(exc)) from None
    comments = hybrid.export_comments(weights, data.dataset, run, args.normalization, args.space)
    extra: dict[str, Any] = {}
    if args.all_users:

        def progress(fraction: float, message: str) -> None:
            log.info("%3.0f%% %s", 100 * fraction, message)

        frame = hybrid.batch_frame(
            engine, range(data.n_users), weights, args.n, filters, progress=progress
        )
    elif args.seed_items:
        seeds = [data.find_item(s.strip()) for s in args.seed_items.split(",") if s.strip()]
        frame = hybrid.ranking_frame(data, engine.next_tracks(seeds, weights, args.n, filters))
        extra["seeds"] = [data.items.id(s) for s in seeds]
    elif args.group:
        members = [data.find_user(u.strip()) for u in args.group.split(",") if u.strip()]
        ranking, _ = engine.group(members, weights, args.n, args.aggregate, filters)
        frame = hybrid.ranking_frame(
            data, ranking, "group:" + ",".join(data.users.id(u) for u in members)
        )
        extra["group"] = [data.users.id(u) for u in members]
    else:
        user = data.find_user(args.user)
        ranking = engine.rank(engine.components_for_user(user), weights, args.n, filters)
        frame = hybrid.ranking_frame(data, ranking, data.users.id(user))
        extra["rule"] = ranking.rule
        extra["notes"] = list(ranking.notes)
    if args.out:
        if str(args.out).endswith(".parquet"):
            hybrid.write_parquet(frame, args.out, comments)
        else:
            write_csv(frame, args.out, comments=comments)
    if args.json:
        _print_json(
            {
                "run_id": run["id"],
                "model": run["model"],
                "weights": weights.as_dict(),
                **extra,
                "recommendations": frame.to_dict("records"),
            }
        )
    elif not args.out:
        for row in frame.to_dict("records"):
            because = f"  because: {row['because']}" if row["because"] else ""
            print(f"{row['rank']:>4}. {row['item_name']}  ({row['score']:.3f}){because}")
    else:
        print(f"{len(frame):,} rows written to {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate several models on one split; print, save and record the metrics."""
    from timbre.evaluation import (
        parse_model_specs,
        recommendation_frame,
        record_results,
        run_experiment,
        split_frames,
    )
    from timbre.export import write_csv

    try:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        specs = parse_model_specs(names, args.param)
    except ValueError as exc:
        raise TimbreError(str(exc)) from None

    def progress(fraction: float, message: str) -> None:
        log.info("%3.0f%% %s", 100 * fraction, message)

    with _open_store(settings) as store:
        data, _ = _model_data(store, args.dataset)
        try:
            experiment = run_experiment(
                data,
                specs,
                protocol=args.split,
                test_fraction=args.test_fraction,
                k=args.k,
                seed=args.seed,
                k_out=args.k_out,
                progress=progress,
            )
        except ValueError as exc:
            raise TimbreError(str(exc)) from None
        if not args.no_record:
            record_results(store, data.dataset, experiment)
    if args.save_split:
        train, test = split_frames(experiment.split)
        folder = Path(args.save_split)
        write_csv(train, folder / "train.csv", spreadsheet_safe=False)
        write_csv(test, folder / "test.csv", spreadsheet_safe=False)
    if args.save_recs:
        write_csv(recommendation_frame(experiment), args.save_recs, spreadsheet_safe=False)
    payload = experiment.as_dict()
    if args.json:
        _print_json(payload)
        return 0
    split = payload["split"]
    print(
        f"{data.dataset}: {split['protocol']} split, seed {args.seed}, "
        f"{split['test_users']:,} test users, K = {args.k}"
    )
    for reason, count in split["not_evaluated"].items():
        print(f"  not evaluated: {count:,} users ({reason})")
    columns = (
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
    print(f"{'model':<14}" + "".join(f"{c:>12}" for c in columns))
    for name, metrics in payload["models"].items():
        print(f"{name:<14}" + "".join(f"{metrics[c]:>12.4f}" for c in columns))
    return 0


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate a grid (or a random sample) of one model's parameters; store the best."""
    from timbre.evaluation import parse_grid, sweep_and_record
    from timbre.models import parse_params

    try:
        grid = parse_grid(args.model, args.grid)
        base = parse_params(args.model, args.param)
    except ValueError as exc:
        raise TimbreError(str(exc)) from None

    def show(done: int, total: int, row: dict[str, Any]) -> None:
        if not args.json:
            config = ", ".join(f"{k}={row[k]}" for k in grid)
            print(f"[{done}/{total}] {config}: {args.metric} {row[args.metric]:.4f}", flush=True)

    with _open_store(settings) as store:
        data, _ = _model_data(store, args.dataset)
        try:
            outcome = sweep_and_record(
                store,
                data,
                args.model,
                grid,
                base,
                args.budget,
                args.mode,
                args.metric,
                args.split,
                args.test_fraction,
                args.k,
                args.seed,
                on_result=show,
            )
        except ValueError as exc:
            raise TimbreError(str(exc)) from None
    frame = outcome.results
    if args.json:
        _print_json(
            {
                "model": args.model,
                "metric": args.metric,
                "best": outcome.best,
                "best_run_id": outcome.run_id,
                "results": frame.to_dict("records"),
            }
        )
    else:
        print(
            f"best {args.metric}: {frame.iloc[0][args.metric]:.4f} with "
            + ", ".join(f"{k}={v}" for k, v in outcome.best.items())
            + f" (recorded as run {outcome.run_id})"
        )
    return 0


def cmd_personality(args: argparse.Namespace, settings: Settings) -> int:
    """Score a questionnaire, show a user's personality prior, or export profiles."""
    from timbre import personality as pers

    if args.action == "score":
        if not args.answers:
            raise TimbreError("personality score needs --answers FILE (CSV item,answer or JSON)")
        instrument = pers.get_instrument(args.instrument)
        scores = pers.score(instrument, pers.read_answers(Path(args.answers)))
        percentiles = pers.percentiles(scores)
        profile_id = None
        if args.user:
            with _open_store(settings) as store:
                profile_id = store.add_profile(
                    args.user,
                    instrument.name,
                    {c: int(v) for c, v in pers.read_answers(Path(args.answers)).items()},
                    {t: round(m, 4) for t, m in scores.means.items()},
                    percentiles,
                )
        payload = {
            "instrument": instrument.name,
            "user": args.user,
            "profile_id": profile_id,
            "scores": {t: round(m, 4) for t, m in scores.means.items()},
            "percentiles": percentiles,
        }
        if args.json:
            _print_json(payload)
        else:
            for trait in pers.TRAITS:
                print(
                    f"{trait:<18} {scores.means[trait]:.2f} / 5   "
                    f"{percentiles[trait]:5.1f}th percentile"
                )
            if profile_id is not None:
                print(f"saved as profile {profile_id} of {args.user}")
        return 0
    if args.action == "export":
        from timbre.export import write_csv

        with _open_store(settings) as store:
            frame = pers.profiles_frame(store.list_profiles(args.user))
        out = write_csv(frame, args.out or "profiles.csv")
        print(f"{len(frame):,} profiles written to {out}")
        return 0
    # prior
    if not args.user:
        raise TimbreError("personality prior needs --user ID (a user with a saved profile)")
    with _open_store(settings) as store:
        profile = store.latest_profile(args.user)
        if profile is None:
            raise TimbreError(
                f"no personality profile for {args.user!r}; "
                "`timbre personality score --answers FILE --user ID` saves one"
            )
        data, _ = _model_data(store, args.dataset)
    z = pers.trait_z(pers.scores_from_profile(profile))
    attributes = pers.item_attributes(data.item_meta)
    weights = pers.attribute_weights(z, pers.default_coefficients())
    scores_all = pers.prior_scores(attributes, weights)
    order = sorted(range(len(scores_all)), key=lambda i: (-scores_all[i], i))[: args.n]
    rows = [
        {
            "rank": rank,
            "item_id": data.items.id(i),
            "name": data.item_name(i),
            "prior": round(float(scores_all[i]), 4),
            "because": ", ".join(
                f"{a} {v:+.3f}" for a, v in pers.prior_contributions(attributes, weights, i)
            ),
        }
        for rank, i in enumerate(order, start=1)
    ]
    exploration = pers.exploration_level(z)
    if args.json:
        _print_json(
            {
                "user": args.user,
                "profile_id": profile["id"],
                "attribute_weights": weights.round(4).to_dict(),
                "exploration": {
                    "level": round(exploration.level, 4),
                    "diversity": round(exploration.diversity, 4),
                    "novelty": round(exploration.novelty, 4),
                },
                "items": rows,
            }
        )
    else:
        print(
            f"{args.user}: suggested exploration {exploration.level:.2f} "
            f"(diversity {exploration.diversity:.2f}, novelty {exploration.novelty:.2f})"
        )
        for row in rows:
            print(f"{row['rank']:>4}. {row['name']}  prior {row['prior']:+.3f}  ({row['because']})")
    return 0


def cmd_similarity(args: argparse.Namespace, settings: Settings) -> int:
    """A similarity matrix in cluster order (printed, as JSON or CSV), or friends vs taste."""
    from timbre.export import write_csv
    from timbre.similarity import (
        friend_index_pairs,
        friends_vs_taste,
        load_space,
        select,
        similarity_matrix,
    )

    if args.friends and args.kind != "users":
        raise TimbreError("--friends compares users: use --kind users")
    with _open_store(settings) as store:
        data, _ = _model_data(store, args.dataset)
        space = load_space(store, data, args.kind, args.space)
        friends = store.friend_pairs(data.dataset) if args.friends else None
    try:
        if friends is not None:
            pairs, _ = friend_index_pairs(data, friends)
            result = friends_vs_taste(space, pairs, args.permutations, args.seed)
            if args.json:
                _print_json({"dataset": data.dataset, "run_id": space.run_id, **result.as_dict()})
            else:
                print(f"{data.dataset}: {result.summary()}")
            return 0
        subset, query = "top", None
        for name in ("neighbours", "genre", "tag"):
            if getattr(args, name) is not None:
                subset, query = name, getattr(args, name)
        if args.pick:
            subset = "list"
        selection = select(data, space, subset, args.top, query=query, picks=args.pick)
        matrix = similarity_matrix(data, space, selection, args.clusters, args.linkage)
    except ValueError as exc:
        raise TimbreError(str(exc)) from None
    run = f", run {matrix.run_id}" if matrix.run_id is not None else ""
    title = (
        f"{matrix.description} in the {args.space} space ({matrix.measure}{run}), "
        f"{matrix.n_clusters} clusters"
    )
    if args.out:
        path = write_csv(matrix.frame(), args.out)
        print(f"{title}: {len(matrix)} x {len(matrix)} matrix written to {path}")
        return 0
    if args.json:
        _print_json(
            {
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
        )
        return 0
    print(title + ":")
    for k, (name, ident) in enumerate(zip(matrix.labels, matrix.ids, strict=True)):
        same = matrix.clusters == matrix.clusters[k]
        same[k] = False
        within = "alone"
        if same.any():
            within = f"mean within cluster {matrix.values[k, same].mean():.3f}"
        print(f"  {matrix.clusters[k]:>3}  {name}  ({ident}; {within})")
    return 0


def _user_key(name: str) -> str:
    """A full key (``spotify:user:x``) as given; a bare name is a Last.fm user."""
    from timbre.sources.lastfm import user_key

    return name.strip() if ":" in name else user_key(name)


def _ask(prompt: str) -> str:
    """Ask on stderr, read one line from stdin (stdout stays clean for ``--json``)."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    """List, add or remove users of the live connectors."""
    from timbre.sources.lastfm import add_users, tracked_users

    with _open_store(settings) as store:
        if args.action == "add":
            if not args.names:
                raise TimbreError("users add needs at least one Last.fm user name")
            keys = add_users(store, args.names)
            print(f"tracking {', '.join(keys)}; `timbre fetch lastfm` fetches them")
            return 0
        if args.action == "remove":
            if not args.names:
                raise TimbreError("users remove needs at least one user (name or key)")
            keys = [_user_key(n) for n in args.names]
            known = set(store.list_users("")["key"])
            missing = [k for k in keys if k not in known]
            if missing:
                raise TimbreError(f"no such user(s) in the store: {', '.join(missing)}")
            if not args.yes:
                if not sys.stdin.isatty():
                    raise TimbreError("users remove deletes data: add --yes to confirm")
                answer = _ask(
                    f"Remove {', '.join(keys)} with all their listening, fetch logs and "
                    "profiles? [y/N] "
                )
                if answer.lower() not in ("y", "yes"):
                    print("nothing removed")
                    return 0
            for key in keys:
                removed = store.remove_user(key)
                parts = ", ".join(f"{n:,} {t}" for t, n in removed.items() if n)
                print(f"removed {key}: {parts}")
            return 0
        lastfm = tracked_users(store)
        spotify = store.list_users("spotify:user:")
    rows = [
        {
            "key": r["key"],
            "name": r["name"],
            "interactions": int(r["interactions"]),
            "datasets": r["datasets"],
            "last_fetch": None if _missing(r.get("last_fetch")) else str(r["last_fetch"]),
            "status": None if _missing(r.get("status")) else r["status"],
        }
        for r in [*lastfm.to_dict("records"), *spotify.to_dict("records")]
    ]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no live users yet; `timbre users add NAME` tracks a Last.fm user")
    for row in rows:
        status = row["status"] or "never fetched"
        print(
            f"{row['key']:<32} {row['interactions']:>9,} interactions  {status:<13} "
            f"{row['datasets']}"
        )
    return 0


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


def _print_results(results: Sequence[Any], seconds: float, as_json: bool) -> int:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "partial", "failed")}
    rows = sum(r.rows for r in results)
    if as_json:
        _print_json(
            {
                "users": [r.as_dict() for r in results],
                "summary": {**counts, "new_rows": rows, "seconds": round(seconds, 2)},
            }
        )
    else:
        for r in results:
            detail = f": {r.error}" if r.error else ""
            print(f"{r.user_key}: {r.status}, {r.rows:,} new rows in {r.duration_s:.1f} s{detail}")
        print(
            f"{len(results)} user(s): {counts['ok']} ok, {counts['partial']} partial, "
            f"{counts['failed']} failed; {rows:,} new rows in {seconds:.1f} s"
        )
    incomplete = counts["partial"] + counts["failed"]
    if incomplete:
        print(
            f"timbre: error: {incomplete} of {len(results)} user(s) did not complete "
            "(`timbre logs` says why)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_fetch_lastfm(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch Last.fm users (default: every tracked one) under one shared rate limit."""
    from timbre.sources.lastfm import (
        DEFAULT_API_ROOT,
        LastfmClient,
        LastfmFetcher,
        LastfmOptions,
        parse_kinds,
        tracked_users,
    )
    from timbre.sources.live import FetchProgress

    kinds = parse_kinds(args.kinds)
    try:
        options = LastfmOptions(
            api_root=args.api_root or settings.lastfm_api_root or DEFAULT_API_ROOT,
            rate=args.rate,
            workers=args.workers,
            timeout=args.timeout,
        )
    except ValueError as exc:
        raise TimbreError(str(exc)) from None
    with _open_store(settings) as store:
        names = list(args.users) or [
            key.removeprefix("lastfm:") for key in tracked_users(store)["key"]
        ]
        if not names:
            raise TimbreError("no Last.fm users to fetch: give names or `timbre users add NAME`")

        def progress(event: FetchProgress) -> None:
            if event.result is not None:
                result = event.result
                print(f"  {result.user}: {result.status}", file=sys.stderr)
            else:
                log.info("%s %3.0f%% %s", event.user, 100 * event.fraction, event.message)

        started = time.perf_counter()
        with LastfmClient(settings.secret("lastfm_api_key") or "", options) as client:
            results = LastfmFetcher(store, client).fetch_users(names, kinds, progress)
    return _print_results(results, time.perf_counter() - started, args.json)


def cmd_fetch_spotify(args: argparse.Namespace, settings: Settings) -> int:
    """Sign in to Spotify (PKCE: open the link, paste where it sent you) and fetch."""
    from timbre.sources.spotify import (
        DEFAULT_ACCOUNTS_ROOT,
        DEFAULT_API_ROOT,
        DEFAULT_REDIRECT_URI,
        MappingTokenCache,
        SpotifyClient,
        SpotifyFetcher,
        SpotifyOptions,
        finish_authorization,
        parse_kinds,
        start_authorization,
    )

    kinds = parse_kinds(args.kinds)
    try:
        options = SpotifyOptions(
            client_id=args.client_id or settings.secret("spotify_client_id") or "",
            redirect_uri=args.redirect_uri
            or settings.secret("spotify_redirect_uri")
            or DEFAULT_REDIRECT_URI,
            api_root=args.api_root or settings.spotify_api_root or DEFAULT_API_ROOT,
            accounts_root=args.accounts_root
            or settings.spotify_accounts_root
            or DEFAULT_ACCOUNTS_ROOT,
            rate=args.rate,
        )
    except ValueError as exc:
        raise TimbreError(str(exc)) from None
    pending = start_authorization(options)
    redirected = _ask(
        "Open this address in a browser, allow access, then paste the address it sent you to "
        f"(it starts with {options.redirect_uri}):\n{pending.url}\n> "
    )
    cache = MappingTokenCache({})  # this process only: never written to a file
    finish_authorization(options, pending, redirected, cache)
    started = time.perf_counter()
    with _open_store(settings) as store, SpotifyClient(options, cache) as client:
        result = SpotifyFetcher(store, client).fetch(kinds)
    return _print_results([result], time.perf_counter() - started, args.json)


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    """Show fetch logs, newest first."""
    with _open_store(settings) as store:
        logs = store.list_fetch_logs(limit=100_000)
    if args.source:
        logs = logs[logs["source"] == args.source]
    if args.status:
        logs = logs[logs["status"] == args.status]
    if args.user:
        logs = logs[logs["user_key"] == _user_key(args.user)]
    logs = logs.head(args.limit)
    records = [
        {k: (None if _missing(v) else v) for k, v in row.items()} for row in logs.to_dict("records")
    ]
    if args.json:
        _print_json(records)
        return 0
    if not records:
        print("no fetch logs yet")
    for r in records:
        when = str(r["finished_at"] or r["started_at"])[:19]
        seconds = r["duration_s"] or 0.0
        error = f"  {r['error']}" if r["error"] else ""
        print(
            f"{r['id']:>5}  {when}  {r['source']:<7} {r['user_key']:<28} {r['status']:<7} "
            f"{r['rows']:>8,} rows {seconds:7.1f} s{error}"
        )
    return 0


def _add_split_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="data set (default: the demo's, or the only one)")
    parser.add_argument(
        "--split", default="user-holdout", choices=("user-holdout", "leave-k-out", "temporal")
    )
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held out per user")
    parser.add_argument("--k", type=int, default=10, help="list length K (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")


def _add_run_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="data set (default: the demo's, or the only one)")
    parser.add_argument("--run", type=int, help="model run id (default: the active run)")
    parser.add_argument("--model", help="use the newest run of this model family")
    parser.add_argument("-n", "--n", type=int, default=10, help="how many items (default 10)")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(
        prog="timbre",
        description="Timbre: music-recommendation workbench (store, models, hybrid, export).",
    )
    parser.add_argument("--db", help="SQLAlchemy database URL (default: SQLite under --home)")
    parser.add_argument(
        "--home", help="folder for local state (default: TIMBRE_HOME or data/local)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="load the bundled demo data (HetRec 2K + Spotify catalogue)")
    demo.add_argument("--json", action="store_true", help="print the import reports as JSON")
    demo.set_defaults(handler=cmd_demo)

    imp = sub.add_parser("import", help="import a file, folder or zip (format auto-detected)")
    imp.add_argument("path", help="file, folder or .zip to import")
    imp.add_argument("--format", help="force a format (see the README for the list)")
    imp.add_argument("--dataset", help="data set name for the interactions")
    imp.add_argument("--user", help="user name for personal exports (Spotify, Last.fm CSV)")
    imp.add_argument(
        "--min-play-seconds",
        type=float,
        default=30.0,
        help="Spotify exports: drop plays shorter than this (default 30)",
    )
    imp.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="interactions CSV: map a role (user, item, weight, timestamp) to a column name",
    )
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.set_defaults(handler=cmd_import)

    stats = sub.add_parser("stats", help="what the store holds")
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.set_defaults(handler=cmd_stats)

    users = sub.add_parser("users", help="users of the live connectors: list, add, remove")
    users.add_argument("action", nargs="?", default="list", choices=("list", "add", "remove"))
    users.add_argument(
        "names", nargs="*", metavar="NAME", help="Last.fm user names (or full keys to remove)"
    )
    users.add_argument("--yes", action="store_true", help="remove without asking")
    users.add_argument("--json", action="store_true", help="list as JSON")
    users.set_defaults(handler=cmd_users)

    fetch = sub.add_parser("fetch", help="fetch from Last.fm or Spotify")
    services = fetch.add_subparsers(dest="service", required=True, metavar="SERVICE")
    lastfm = services.add_parser(
        "lastfm", help="fetch Last.fm users concurrently under one rate limit"
    )
    lastfm.add_argument(
        "users", nargs="*", metavar="USER", help="user names (default: every tracked user)"
    )
    lastfm.add_argument(
        "--kinds",
        help="comma-separated: top-artists, top-albums, top-tracks, loved, history, tags "
        "(default: all)",
    )
    lastfm.add_argument("--api-root", help="API URL (default: TIMBRE_LASTFM_API_ROOT or Last.fm)")
    lastfm.add_argument(
        "--rate", type=float, default=5.0, help="requests per second, shared (default 5)"
    )
    lastfm.add_argument("--workers", type=int, default=4, help="users at once (default 4)")
    lastfm.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    lastfm.add_argument("--json", action="store_true", help="print the results as JSON")
    lastfm.set_defaults(handler=cmd_fetch_lastfm)
    spotify = services.add_parser("spotify", help="sign in to Spotify (PKCE) and fetch")
    spotify.add_argument(
        "--kinds",
        help="comma-separated: top-tracks, top-artists, recent, saved, audio-features "
        "(default: all but audio-features)",
    )
    spotify.add_argument("--client-id", help="default: SPOTIFY_CLIENT_ID or secrets.toml")
    spotify.add_argument(
        "--redirect-uri", help="registered in the app (default: SPOTIFY_REDIRECT_URI)"
    )
    spotify.add_argument("--api-root", help="default: TIMBRE_SPOTIFY_API_ROOT or Spotify")
    spotify.add_argument("--accounts-root", help="default: TIMBRE_SPOTIFY_ACCOUNTS_ROOT or Spotify")
    spotify.add_argument("--rate", type=float, default=10.0, help="requests per second")
    spotify.add_argument("--json", action="store_true", help="print the result as JSON")
    spotify.set_defaults(handler=cmd_fetch_spotify)

    logs = sub.add_parser("logs", help="fetch logs, newest first")
    logs.add_argument("--source", choices=("lastfm", "spotify"))
    logs.add_argument("--status", choices=("ok", "partial", "failed"))
    logs.add_argument("--user", help="a Last.fm name or a full user key")
    logs.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    logs.add_argument("--json", action="store_true", help="print as JSON")
    logs.set_defaults(handler=cmd_logs)

    from timbre.models import MODELS

    train = sub.add_parser("train", help="train a model and record the run")
    train.add_argument("--model", required=True, choices=list(MODELS), help="model family")
    train.add_argument("--dataset", help="data set (default: the demo's, or the only one)")
    train.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyper-parameter (repeatable), e.g. --param factors=128",
    )
    train.add_argument(
        "--no-activate", action="store_true", help="do not make this run the active model"
    )
    train.add_argument("--json", action="store_true", help="print the run as JSON")
    train.set_defaults(handler=cmd_train)

    runs = sub.add_parser("runs", help="list, activate or delete model runs")
    runs.add_argument("action", nargs="?", default="list", choices=("list", "activate", "delete"))
    runs.add_argument("run_id", nargs="?", type=int, help="run id (activate, delete)")
    runs.add_argument("--json", action="store_true", help="print as JSON")
    runs.set_defaults(handler=cmd_runs)

    similar = sub.add_parser("similar", help="items most similar to an item")
    similar.add_argument("--item", required=True, help="item id, last part of the id, or name")
    _add_run_choice(similar)
    similar.set_defaults(handler=cmd_similar)

    from timbre.similarity import KINDS, LINKAGES, SPACE_TITLES, SPACES

    similarity = sub.add_parser(
        "similarity", help="user-user or item-item similarity matrix, or friends vs taste"
    )
    similarity.add_argument("--kind", required=True, choices=KINDS, help="users or items")
    similarity.add_argument(
        "--space",
        default="interactions",
        choices=SPACES,
        help="; ".join(f"{name}: {text}" for name, text in SPACE_TITLES.items())
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
    similarity.add_argument("--dataset", help="data set (default: the demo's, or the only one)")
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
    similarity.add_argument("--json", action="store_true", help="print as JSON")
    similarity.set_defaults(handler=cmd_similarity)

    recommend = sub.add_parser("recommend", help="hybrid recommendations (and exports)")
    recommend.add_argument("--user", help="user id or the last part of it")
    recommend.add_argument("--all-users", action="store_true", help="every user (export)")
    recommend.add_argument("--seed-items", help="next-track: comma-separated items (ids/names)")
    recommend.add_argument("--group", help="a blend for users U1,U2,...")
    recommend.add_argument(
        "--aggregate", default="average", choices=("average", "least-misery"), help="--group"
    )
    recommend.add_argument(
        "--weights", help="cf=..,content=..,personality=..,novelty=..,diversity=.. (missing = 0)"
    )
    recommend.add_argument("--preset", help="default, original, cf-only, content-only, cold-start")
    recommend.add_argument(
        "--normalization", default="minmax", choices=("minmax", "rank", "zscore")
    )
    recommend.add_argument("--space", default="interactions", choices=("interactions", "content"))
    recommend.add_argument("--out", help="write CSV (or .parquet with a .json sidecar)")
    recommend.add_argument(
        "--include-seen", action="store_true", help="also rank items the user already played"
    )
    _add_run_choice(recommend)
    recommend.set_defaults(handler=cmd_recommend)

    personality = sub.add_parser("personality", help="Big Five: score, prior, export")
    personality.add_argument("action", choices=("score", "prior", "export"))
    personality.add_argument("--answers", help="score: CSV (item,answer) or JSON answers")
    personality.add_argument(
        "--instrument", default="ipip50", choices=("ipip50", "mini-ipip"), help="score: which"
    )
    personality.add_argument("--user", help="score: save as this user's profile; prior: whose")
    personality.add_argument("--dataset", help="prior: data set (default: the demo's)")
    personality.add_argument("-n", "--n", type=int, default=20, help="prior: how many items")
    personality.add_argument("--out", help="export: CSV path (default profiles.csv)")
    personality.add_argument("--json", action="store_true", help="print as JSON")
    personality.set_defaults(handler=cmd_personality)

    evaluate = sub.add_parser("evaluate", help="evaluate models on one split")
    evaluate.add_argument("--models", required=True, help="comma-separated, e.g. als,ease")
    _add_split_options(evaluate)
    evaluate.add_argument("--k-out", type=int, default=1, help="leave-k-out: items held out")
    evaluate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="hyper-parameter of one model (repeatable), e.g. --param als.factors=32",
    )
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.add_argument("--save-split", metavar="DIR", help="write train.csv and test.csv")
    evaluate.add_argument("--save-recs", metavar="FILE", help="write every test user's top K")
    evaluate.add_argument(
        "--no-record", action="store_true", help="do not add the results to the run registry"
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    sweep = sub.add_parser("sweep", help="evaluate a grid of one model's parameters")
    sweep.add_argument("--model", required=True, choices=list(MODELS))
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="values to try for one parameter (repeatable)",
    )
    sweep.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fixed parameter for every configuration",
    )
    sweep.add_argument("--budget", type=int, help="evaluate at most this many configurations")
    sweep.add_argument("--mode", default="grid", choices=("grid", "random"))
    sweep.add_argument("--metric", default="ndcg", help="what 'best' means (default ndcg)")
    _add_split_options(sweep)
    sweep.add_argument("--json", action="store_true", help="print all results as JSON")
    sweep.set_defaults(handler=cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 expected error, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if getattr(args, "action", None) in ("activate", "delete") and args.run_id is None:
            parser.error(f"runs {args.action} needs a run id")
        settings = load_settings(home=args.home, database_url=args.db)
        handler: Handler = args.handler
        return handler(args, settings)
    except TimbreError as exc:
        print(f"timbre: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path that cannot be read or written: one line, no traceback
        print(
            f"timbre: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("timbre: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
