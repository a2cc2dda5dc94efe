"""Fusion: which components a set of listeners needs, and the weighted sum of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from timbre.hybrid.weights import (
    COMPONENTS,
    DEFAULT_SCHEDULE,
    ScheduleRule,
    Weights,
    schedule_weights,
)


def needed_components(
    histories: Sequence[int] | NDArray[np.integer],
    weights: Weights,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> set[str]:
    """The components with a weight for any of these histories (after the schedule)."""
    chosen = {schedule_weights(int(h), weights, schedule)[0] for h in histories}
    return {name for name in COMPONENTS for w in chosen if getattr(w, name)}


def fuse(
    parts: Mapping[str, NDArray[np.float32]],
    weights: Weights,
    shape: tuple[int, ...] | None = None,
) -> NDArray[np.float32]:
    """``sum(w_c x component_c)`` over the components with a non-zero weight (``parts`` needs
    only those; one it lacks, such as content on a data set without any, adds nothing;
    ``shape``: the result's, when ``parts`` may be empty of others)."""
    fused: NDArray[np.float32] | None = None
    for name in COMPONENTS:
        w = getattr(weights, name)
        if w and name in parts:
            term = np.multiply(parts[name], np.float32(w), dtype=np.float32)
            fused = term if fused is None else np.add(fused, term, out=fused)
    if fused is None:
        size = shape if shape is not None else np.shape(next(iter(parts.values())))
        return np.zeros(size, dtype=np.float32)
    return fused


def weighted_parts(
    parts: Mapping[str, NDArray[np.float32]], weights: Weights
) -> dict[str, NDArray[np.float32]]:
    """Each component times its weight (all of :data:`COMPONENTS`; zeros for weight 0)."""
    zero = np.zeros(np.shape(next(iter(parts.values()))), dtype=np.float32)
    return {
        name: np.float32(w) * parts[name]
        if (w := getattr(weights, name)) and name in parts
        else zero
        for name in COMPONENTS
    }


def component_needs(
    histories: Sequence[int] | NDArray[np.integer],
    weights: Weights,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> dict[str, NDArray[np.bool_]]:
    """Per component with a weight for any of these histories (after the schedule), which of
    them give it one: what must be computed and normalised, and for whom."""
    lengths, where = np.unique(np.asarray(histories, dtype=np.int64), return_inverse=True)
    chosen = [schedule_weights(int(h), weights, schedule)[0] for h in lengths.tolist()]
    needs = {
        name: np.array([bool(getattr(w, name)) for w in chosen], dtype=bool)[where.ravel()]
        for name in COMPONENTS
    }
    return {name: rows for name, rows in needs.items() if rows.any()}
