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
    columns = store.load_columns(name)
    data = InteractionData.from_codes(
        name,
        (columns.user_keys, columns.user),
        (columns.item_keys, columns.item),
        columns.weight,
        columns.items,
        columns.timestamps(),
    )
    data = data.with_tags(columns.tag_weights, columns.tag_assignments)
    if folder is not None:
        matrix_cache.save(data, folder)
    return data
