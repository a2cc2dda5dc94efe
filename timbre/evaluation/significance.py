"""Paired tests between models on the same users, with Holm's correction over all pairs."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray


class HasPerUser(Protocol):
    """A result with per-user metric values (``ModelResult``)."""

    per_user: pd.DataFrame


def _differences(a: HasPerUser, b: HasPerUser, metric: str) -> NDArray[np.float64]:
    joined = a.per_user[[metric]].merge(
        b.per_user[[metric]], left_index=True, right_index=True, suffixes=("_a", "_b")
    )
    return (joined[f"{metric}_a"] - joined[f"{metric}_b"]).to_numpy(dtype=float)


def paired_test(a: HasPerUser, b: HasPerUser, metric: str = "ndcg") -> dict[str, Any]:
    """Compare two models on the same users: mean difference ``a - b`` with its 95% interval
    (t distribution), Wilcoxon signed-rank and paired t p-values.

    Identical values (or fewer than two users) give p = 1 and a zero-width interval.
    """
    from scipy import stats

    diff = _differences(a, b, metric)
    mean = float(diff.mean()) if len(diff) else 0.0
    out: dict[str, Any] = {"metric": metric, "users": len(diff), "mean_difference": mean}
    if len(diff) < 2 or np.allclose(diff, 0):
        return {**out, "ci95_low": mean, "ci95_high": mean, "wilcoxon_p": 1.0, "t_p": 1.0}
    half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
    return {
        **out,
        "ci95_low": mean - half,
        "ci95_high": mean + half,
        "wilcoxon_p": float(stats.wilcoxon(diff).pvalue),
        "t_p": float(stats.ttest_1samp(diff, 0.0).pvalue),
    }


def holm(p_values: NDArray[np.floating] | list[float]) -> NDArray[np.float64]:
    """Holm-Bonferroni adjusted p-values (step-down; family-wise error control).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(adjusted)
    out = np.empty(m, dtype=np.float64)
    out[order] = adjusted
    return out


def comparisons(results: Mapping[str, HasPerUser], metric: str = "ndcg") -> pd.DataFrame:
    """Every pair of models (in the order given): :func:`paired_test`, with the Wilcoxon and t
    p-values Holm-adjusted over all pairs (``wilcoxon_p_holm``, ``t_p_holm``)."""
    rows = [
        {"a": a, "b": b, **paired_test(results[a], results[b], metric)}
        for a, b in itertools.combinations(list(results), 2)
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["wilcoxon_p_holm"] = holm(frame["wilcoxon_p"].to_numpy())
    frame["t_p_holm"] = holm(frame["t_p"].to_numpy())
    return frame
