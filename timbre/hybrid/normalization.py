"""Scaling each component before fusion: min-max, rank or z-score over the catalogue."""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from timbre.errors import ParameterError

Normalization = Literal["minmax", "rank", "zscore"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)


def check_normalization(method: str) -> None:
    """``ParameterError`` naming the choices unless ``method`` is one of them."""
    if method not in NORMALIZATIONS:
        raise ParameterError(
            f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {method!r}"
        )


def normalize(
    values: NDArray[np.floating], method: Normalization = "minmax"
) -> NDArray[np.float32]:
    """Scale a score vector so components can be added; NaN (no opinion) becomes the minimum.

    ``minmax``: to 0..1; ``rank``: average rank scaled to 0..1 (ties share a value); ``zscore``:
    mean 0, standard deviation 1. All three keep the order, so a single component ranks items
    exactly as it does on its own.

    Examples
    --------
    >>> normalize(np.array([2.0, 4.0, np.nan, 3.0])).tolist()
    [0.0, 1.0, 0.0, 0.5]
    >>> normalize(np.array([10.0, 30.0, 20.0]), "rank").tolist()
    [0.0, 1.0, 0.5]
    """
    x = np.asarray(values, dtype=np.float64)[None, :]
    return normalize_rows(x, np.ones(x.shape, dtype=bool), method)[0]


def normalize_rows(
    values: NDArray[np.floating], mask: NDArray[np.bool_], method: Normalization = "minmax"
) -> NDArray[np.float32]:
    """:func:`normalize` of every row over its ``mask`` (items outside the mask get 0)."""
    check_normalization(method)
    x = np.asarray(values, dtype=np.float32)
    known = mask & np.isfinite(x)
    out: NDArray[Any] = np.zeros(x.shape, dtype=np.float32)
    if method == "rank":
        from scipy.stats import rankdata

        for row in range(x.shape[0]):
            k = known[row]
            count = int(k.sum())
            if count > 1:
                out[row, k] = (rankdata(x[row, k], method="average") - 1) / (count - 1)
        return out.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "minmax":
            y = np.where(known, x, np.nan)
            has = known.any(axis=1, keepdims=True)
            filled = np.where(has, y, np.float32(0.0))
            low = np.where(has, np.nanmin(filled, axis=1, keepdims=True), np.float32(0.0))
            high = np.where(has, np.nanmax(filled, axis=1, keepdims=True), np.float32(0.0))
            span = high - low
            out = np.asarray((y - low) / np.where(span > 0, span, np.inf), dtype=np.float32)
            out[~known] = 0.0
        else:  # zscore
            count = np.maximum(known.sum(axis=1, keepdims=True), 1)
            mean = np.where(known, x, 0.0).sum(axis=1, keepdims=True) / count
            var = np.where(known, (x - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count
            sd = np.sqrt(var)
            scaled = np.where(sd > 0, (x - mean) / np.where(sd > 0, sd, 1.0), 0.0)
            out = np.where(known, scaled, 0.0)
            lowest = np.where(known, out, np.inf).min(axis=1, keepdims=True)
            lowest = np.where(np.isfinite(lowest), lowest, 0.0)
            out = np.where(mask & ~known, lowest, out)
    out[~mask] = 0.0
    return out.astype(np.float32)
