"""Data sets as the models see them, read from the store (through the matrix cache)."""

from __future__ import annotations

from timbre import matrix_cache
from timbre.interactions import InteractionData
from timbre.services.runs import default_dataset
from timbre.store import Store


def load_data(store: Store, dataset: str | None = None) -> InteractionData:
    """A stored data set as :class:`InteractionData` (all events of a pair summed into one
    weight); ``None`` means the default data set (the demo's, or the only one).

    With a cache folder (a store opened from settings), the data set is read from the matrix
    cache while its revision is current, and cached after a load from the store.
    """
    name = dataset or default_dataset(store)
    token = store.dataset_revision(name) if store.cache_dir is not None else None
    folder = None
    if store.cache_dir is not None and token is not None:
        folder = matrix_cache.folder_for(store.cache_dir, name, token)
        cached = matrix_cache.load(folder, name)
        if cached is not None:
            return cached
    interactions, items = store.load_dataset(name)
    data = InteractionData.from_frames(interactions, items, name)
    data = data.with_tags(*store.load_tags(name))
    if folder is not None:
        matrix_cache.save(data, folder)
    return data
