"""An experiment's split and lists as tables (what ``--save-split`` / ``--save-recs`` write)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from timbre.evaluation.runner import Experiment
from timbre.evaluation.splits import Split


def split_frames(split: Split) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test as ``user_id, item_id, weight`` frames (ids, not indices)."""

    def frame(matrix: sp.csr_matrix) -> pd.DataFrame:
        coo = matrix.tocoo()
        return pd.DataFrame(
            {
                "user_id": split.train.users.ids[coo.row],
                "item_id": split.train.items.ids[coo.col],
                "weight": coo.data.astype(np.float64),
            }
        )

    return frame(split.train.user_items), frame(split.test)


def recommendation_frame(experiment: Experiment) -> pd.DataFrame:
    """``model, user_id, rank, item_id, score`` for every test user of every model."""
    parts = []
    items_vocab = experiment.split.train.items
    users_vocab = experiment.split.train.users
    for label, result in experiment.results.items():
        ranks = np.tile(np.arange(1, experiment.k + 1), len(result.users))
        users = np.repeat(result.users, experiment.k)
        items = result.recommended.ravel()
        keep = items >= 0
        parts.append(
            pd.DataFrame(
                {
                    "model": label,
                    "user_id": users_vocab.ids[users[keep]],
                    "rank": ranks[keep],
                    "item_id": items_vocab.ids[items[keep]],
                    "score": result.scores.ravel()[keep].astype(np.float64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def per_user_frame(experiment: Experiment) -> pd.DataFrame:
    """``model, user_id`` and each per-user metric, for every test user of every model (what
    the experiment's means, intervals and paired tests are computed from)."""
    users = experiment.split.train.users
    parts = [
        result.per_user.rename_axis("user").reset_index().assign(model=label)
        for label, result in experiment.results.items()
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "user_id", users.ids[frame.pop("user").to_numpy(dtype=np.int64)])
    frame.insert(0, "model", frame.pop("model"))
    return frame
