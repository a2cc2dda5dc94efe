"""Data sets as the models see them, read from the store."""

from __future__ import annotations

from timbre.interactions import InteractionData
from timbre.services.runs import default_dataset
from timbre.store import Store


def load_data(store: Store, dataset: str | None = None) -> InteractionData:
    """A stored data set as :class:`InteractionData` (all events of a pair summed into one
    weight); ``None`` means the default data set (the demo's, or the only one)."""
    name = dataset or default_dataset(store)
    interactions, items = store.load_dataset(name)
    data = InteractionData.from_frames(interactions, items, name)
    return data.with_tags(*store.load_tags(name))
