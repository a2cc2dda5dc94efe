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


def fuse(parts: Mapping[str, NDArray[np.float32]], weights: Weights) -> NDArray[np.float32]:
    """``sum(w_c x component_c)`` over the components with a non-zero weight."""
    first = next(iter(parts.values()))
    fused = np.zeros(np.shape(first), dtype=np.float32)
    for name in COMPONENTS:
        w = getattr(weights, name)
        if w:
            fused += np.float32(w) * parts[name]
    return fused


def weighted_parts(
    parts: Mapping[str, NDArray[np.float32]], weights: Weights
) -> dict[str, NDArray[np.float32]]:
    """Each component times its weight (all of :data:`COMPONENTS`; zeros for weight 0)."""
    zero = np.zeros(np.shape(next(iter(parts.values()))), dtype=np.float32)
    return {
        name: np.float32(w) * parts[name] if (w := getattr(weights, name)) else zero
        for name in COMPONENTS
    }
