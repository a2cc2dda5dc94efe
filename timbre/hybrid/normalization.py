"""Scaling each component before fusion: min-max, rank or z-score over the catalogue."""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from timbre.errors import ParameterError

Normalization = Literal["minmax", "rank", "zscore"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
#: The constant of reciprocal rank fusion (60, as Cormack et al. found robust).
RRF_K = 60.0


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

    ``minmax``: to 0..1; ``rank``: reciprocal rank as in reciprocal rank fusion (Cormack, Clarke
    & Buettcher 2009), ``(k + 1) / (k + rank)`` with ``k`` = :data:`RRF_K` and rank 1 the best
    (ties share their average rank), so the best item gets 1, the 10th 0.87 and the 100th 0.38,
    and a small weight on another component moves an item a few places, not to the top;
    ``zscore``: mean 0, standard deviation 1. All three keep the order, so a single component
    ranks items exactly as it does on its own.

    Examples
    --------
    >>> normalize(np.array([2.0, 4.0, np.nan, 3.0])).tolist()
    [0.0, 1.0, 0.0, 0.5]
    >>> [round(v, 3) for v in normalize(np.array([10.0, 30.0, 20.0]), "rank").tolist()]
    [0.968, 1.0, 0.984]
    """
    x = np.asarray(values, dtype=np.float64)[None, :]
    return normalize_rows(x, None, method)[0]


def normalize_rows(
    values: NDArray[np.floating],
    mask: NDArray[np.bool_] | None = None,
    method: Normalization = "minmax",
) -> NDArray[np.float32]:
    """:func:`normalize` of every row over its ``mask`` (items outside the mask get 0;
    ``None`` or a mask that broadcasts to all True: every item), float32 throughout."""
    check_normalization(method)
    x = np.asarray(values, dtype=np.float32)
    if mask is not None and np.all(mask):
        mask = None
    if method == "minmax" and mask is None and x.ndim == 2 and x.size:
        low, high = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
        # a NaN makes its row's min NaN, an infinity its min or max infinite
        if np.isfinite(low).all() and np.isfinite(high).all():
            return _minmax_dense(x, low, high)
    full = np.ones(x.shape, dtype=bool) if mask is None else np.broadcast_to(mask, x.shape)
    return _normalize_masked(x, full, method)


def _minmax_dense(
    x: NDArray[np.float32], low: NDArray[np.float32], high: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Min-max of every row of a finite matrix (``low``, ``high``: each row's min and max):
    the same values as the masked path, in four passes instead of a dozen."""
    span = high - low
    out = np.subtract(x, low, dtype=np.float32)
    np.divide(out, np.where(span > 0, span, np.float32(np.inf)), out=out)
    return out


def _normalize_masked(
    x: NDArray[np.float32], mask: NDArray[np.bool_], method: Normalization
) -> NDArray[np.float32]:
    known = mask & np.isfinite(x)
    out: NDArray[Any] = np.zeros(x.shape, dtype=np.float32)
    if method == "rank":
        from scipy.stats import rankdata

        for row in range(x.shape[0]):
            k = known[row]
            if k.any():
                ranks = rankdata(-x[row, k], method="average")  # 1 = the best
                out[row, k] = (RRF_K + 1.0) / (RRF_K + ranks)
                out[row, mask[row] & ~k] = out[row, k].min()  # no opinion: the minimum
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
