"""What a list shown to an audience may hold: the presenter-safe blocklist and the listener floor.

The app's lists start at :data:`APP_MIN_LISTENERS` listeners with presenter safe on: HetRec's
long tail (artists with one to four listeners: 14,804 of the demo's 17,632) otherwise fills a
cold-start list, and one of those names carries a slur. The CLI's ``--min-listeners`` defaults
to 0 and ``--presenter-safe`` is off: a script asks for what it wants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from timbre.hybrid.catalogue import blocklisted

#: The app's default minimum listener count of every list (editable on each list's page):
#: 2,828 of the demo's 17,632 artists reach it.
APP_MIN_LISTENERS = 5


def shown_mask(
    listeners: NDArray[np.floating], item_meta: pd.DataFrame, min_listeners: int, safe: bool
) -> NDArray[np.bool_]:
    """Items a list without an engine (the Personality page's) may show: at least
    ``min_listeners`` listeners and, when ``safe``, not blocklisted (as ``Filters`` do)."""
    mask = np.asarray(listeners) >= min_listeners
    if safe:
        mask &= ~blocklisted(item_meta)
    return mask


__all__ = ["APP_MIN_LISTENERS", "blocklisted", "shown_mask"]
