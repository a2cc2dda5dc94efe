"""A plausibility check of the personality prior (not an accuracy measure).

No held-out listener of the bundled data has a questionnaire profile, so the live metrics cannot
see the personality weight. What the data does allow: take the bundled real personas (real
anonymous IPIP-50 responses) as profile-only listeners, rank each through the engine's one path
(the weights, schedule and filters the caller gives), and ask whether the list carries the tags
their traits predict (the lexicon tags of the attributes their prior favours, by the coefficient
table) more often than the list of a listener without a profile (popularity alone) does.

It is partly circular (an item described by its tags is scored by the same lexicon), so it
checks that a profile reaches the list in the direction the literature's coefficients point; it
says nothing about whether real people with these traits like the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from timbre import personality as pers
from timbre.hybrid.engine import Filters, HybridEngine
from timbre.hybrid.weights import DEFAULT_SCHEDULE, ScheduleRule, Weights

#: What every table and caption of the check is called (never "accuracy").
TITLE = "Plausibility check (not accuracy)"
#: How many predicted tags a persona gets (those its prior favours most).
PREDICTED_TAGS = 8


def predicted_tags(
    z: Mapping[str, float], coefficients: pd.DataFrame, n: int = PREDICTED_TAGS
) -> list[str]:
    """The lexicon tags a profile's prior favours most: each tag's score is the sum over its
    attributes of direction x the profile's attribute weight; the top ``n`` with a positive
    score."""
    weights = pers.attribute_weights(z, coefficients)
    lexicon = pers.tag_lexicon()
    scores = (lexicon["direction"] * lexicon["attribute"].map(weights)).groupby(lexicon["tag"])
    total = scores.sum()
    total = total[total > 0].sort_values(ascending=False, kind="stable")
    return [str(t) for t in total.index[:n]]


def _share(engine: HybridEngine, items: np.ndarray, tags: set[str]) -> float:
    if not len(items):
        return float("nan")
    return float(np.mean([bool(engine.item_tags[int(i)] & tags) for i in items]))


def plausibility_check(
    engine: HybridEngine,
    weights: Weights,
    n: int = 10,
    filters: Filters | None = None,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
    personas: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per bundled persona: its label, the tags its traits predict, the share of its
    top ``n`` carrying one of them, the same share for a listener without a profile, and the
    difference (``lift``). Ranked with ``engine``'s coefficient table, ``weights``,
    ``schedule`` and ``filters`` (the lists a presenter would show)."""
    table = pers.personas() if personas is None else personas
    instrument = pers.get_instrument("ipip50")
    nobody = engine.rank(engine.components_for_row(None, None), weights, n, filters, schedule)
    rows = []
    for index in range(len(table)):
        z = pers.trait_z(pers.score(instrument, pers.persona_answers(index, instrument)))
        tags = predicted_tags(z, engine.coefficients)
        ranking = engine.rank(engine.components_for_row(None, z), weights, n, filters, schedule)
        share = _share(engine, ranking.items, set(tags))
        baseline = _share(engine, nobody.items, set(tags))
        rows.append(
            {
                "persona": str(table["persona"].iloc[index]),
                "predicted tags": ", ".join(tags),
                "list share": round(share, 2),
                "no-profile share": round(baseline, 2),
                "lift": round(share - baseline, 2),
                "rule": ranking.rule,
            }
        )
    return pd.DataFrame(rows)
