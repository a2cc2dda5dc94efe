"""Saved lists: a user's recommendations recorded with the run and weights that made them."""

from __future__ import annotations

import pandas as pd

from timbre.hybrid import Weights
from timbre.hybrid.tables import PARTS
from timbre.services.runs import Run
from timbre.store import Store


def save_list(
    store: Store, run: Run, frame: pd.DataFrame, weights: Weights, normalization: str
) -> int:
    """Record a ranking table (:data:`timbre.hybrid.EXPORT_COLUMNS`) for its user and run.

    Each row keeps its per-component contributions, the weights and the normalisation in its
    ``components`` record. Returns the number of rows saved.
    """
    settings = {"weights": weights.as_dict(), "normalization": normalization}
    rows = [
        {
            "user_key": str(row["user_id"]),
            "rank": int(row["rank"]),
            "item_key": str(row["item_id"]),
            "score": float(row["score"]),
            "components": {**{part: float(row[part]) for part in PARTS}, **settings},
        }
        for row in frame.to_dict("records")
    ]
    return store.save_recommendations(int(run["id"]), rows)
