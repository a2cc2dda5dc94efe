"""The five bundled personas' top 10 as the Tune page shows them by default, with the attributes
that drove each item (issue 19's closing note: run once on main's code, once on the branch).

    python scripts/persona_lists.py HOME            # a Timbre home holding the demo
    python scripts/persona_lists.py HOME --no-filters

It trains the default ALS on the demo when the home has no run. The lists are ranked as the app
ranks them: the default weights and cold-start schedule, the app's default filters (listener
floor and presenter safe where the code has them), the shipped coefficient table. Written to run
on older code too (it reads what the code offers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from timbre import hybrid
from timbre import personality as pers
from timbre.config import Settings
from timbre.services.data import load_data
from timbre.services.engines import engine_for_run
from timbre.services.runs import train_run, usable_run
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store


def _filters(no_filters: bool) -> hybrid.Filters:
    try:
        from timbre.hybrid.safety import APP_MIN_LISTENERS
    except ImportError:  # main's code: the app ranks without a floor
        return hybrid.Filters()
    if no_filters:
        return hybrid.Filters()
    return hybrid.Filters(min_listeners=APP_MIN_LISTENERS, presenter_safe=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("home", type=Path)
    parser.add_argument("--no-filters", action="store_true")
    args = parser.parse_args()
    settings = Settings(home=args.home)
    with Store.open(settings) as store:
        data = load_data(store, DEMO_DATASET)
        run = usable_run(store, data)
        if run is None:
            train_run(store, settings, data, "als")
            run = usable_run(store, data)
        assert run is not None
        engine = engine_for_run(store, data, run)
    filters = _filters(args.no_filters)
    print(f"filters: {filters.text()}")
    attributes = pers.item_attributes(engine.data.item_meta)
    evidence = getattr(attributes, "evidence", None)
    instrument = pers.get_instrument("ipip50")
    for index, label in enumerate(pers.personas()["persona"]):
        z = pers.trait_z(pers.score(instrument, pers.persona_answers(index, instrument)))
        weights = pers.attribute_weights(z, engine.coefficients)
        components = engine.components_for_row(None, z)
        ranking = engine.rank(components, hybrid.Weights(), 10, filters)
        print(f"\npersona {index}: {label} ({ranking.rule})")
        for rank, item in enumerate(ranking.items, start=1):
            drove = ", ".join(
                f"{a} {v:+.2f}" for a, v in pers.prior_contributions(attributes, weights, int(item))
            )
            listeners = int(engine.listeners[int(item)])
            line = f"  {rank:>2}. {engine.data.item_name(int(item))[:34]:<34} {listeners:>4} lst"
            line += f"  {drove or '-'}"
            if evidence is not None:
                line += f"  [{evidence.iloc[int(item)]}]"
            else:
                line += f"  [from {attributes.source.iloc[int(item)]}]"
            print(line)


if __name__ == "__main__":
    main()
