"""Vector spaces of a stored data set, with the trained model a factor space needs."""

from __future__ import annotations

from timbre import spaces
from timbre.interactions import InteractionData
from timbre.services.runs import factor_run, load_run
from timbre.spaces import Kind, SpaceName
from timbre.store import Store


def load_space(
    store: Store, data: InteractionData, kind: Kind, name: SpaceName = "interactions"
) -> spaces.VectorSpace:
    """:func:`timbre.spaces.space`, loading the newest run of the space's model for a factor
    space (``als``, ``bpr``).

    Raises
    ------
    TimbreError
        When a factor space has no run trained on this data: "train an ALS model first".
    """
    spaces.check_kind(kind)
    spaces.check_space(name)
    run = factor_run(store, data, name) if name in spaces.FACTOR_SPACES else None
    if run is None:
        return spaces.space(data, kind, name)  # a factor space without a run says what to do
    model = load_run(run, data)
    return spaces.space(data, kind, name, model, int(run["id"]))  # type: ignore[arg-type]
