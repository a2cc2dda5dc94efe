"""What several benchmarks share: the demo data set from a Timbre home."""

from __future__ import annotations

import tempfile
from pathlib import Path

from timbre.config import Settings
from timbre.interactions import InteractionData
from timbre.services.data import load_data
from timbre.sources.demo import DEMO_DATASET, demo_is_loaded, load_demo
from timbre.store import Store


def demo_data(home: str | None) -> InteractionData:
    """The demo's HetRec data set from ``home`` (loaded there first if missing), or from a
    throwaway home when ``home`` is ``None``."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(home) if home else Path(scratch) / "home"
        with Store.open(Settings(home=folder)) as store:
            if not demo_is_loaded(store):
                load_demo(store)
            return load_data(store, DEMO_DATASET)
