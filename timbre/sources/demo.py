"""Load the bundled demo data: the Spotify catalogue, then HetRec 2011 Last.fm 2K."""

from __future__ import annotations

import logging
from collections.abc import Callable

from timbre.config import DATA_DIR
from timbre.errors import DataError
from timbre.records import ImportReport
from timbre.sources.catalog import read_catalog
from timbre.sources.files import HETREC_DATASET, read_hetrec
from timbre.store import Store

log = logging.getLogger(__name__)

DEMO_DATASET = HETREC_DATASET
HETREC_DIR = DATA_DIR / "hetrec2011-lastfm-2k"
CATALOG_CSV = DATA_DIR / "spotify-catalog" / "spotify_songs.csv.gz"
SAMPLES_DIR = DATA_DIR / "samples"

Progress = Callable[[float, str], None]


def demo_is_loaded(store: Store) -> bool:
    """Whether the demo data set is in the store."""
    return any(d["name"] == DEMO_DATASET for d in store.list_datasets())


def load_demo(store: Store, progress: Progress | None = None) -> list[ImportReport]:
    """Import the catalogue and HetRec 2K (idempotent: a second load writes nothing new).

    Each import is its own transaction; the catalogue goes first so that HetRec artists link to
    it as they are written.
    """

    def step(fraction: float, message: str) -> None:
        log.info("demo: %s", message)
        if progress is not None:
            progress(fraction, message)

    if not CATALOG_CSV.is_file() or not HETREC_DIR.is_dir():
        raise DataError(
            f"the bundled demo data is missing under {DATA_DIR}; restore data/ from the repository"
        )
    step(0.0, "reading the Spotify catalogue")
    catalog = read_catalog(CATALOG_CSV)
    step(0.2, "writing the catalogue")
    reports = [store.write_batch(catalog)]
    step(0.45, "reading HetRec 2011 Last.fm 2K")
    hetrec = read_hetrec(HETREC_DIR)
    step(0.6, "writing HetRec (users, artists, plays, tags, friends)")
    reports.append(store.write_batch(hetrec))
    step(1.0, "demo ready")
    return reports
