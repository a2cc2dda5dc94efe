"""Importers on the real bundled files and the synthetic samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from timbre.sources.catalog import read_catalog, read_catalog_playlists
from timbre.sources.demo import CATALOG_CSV, HETREC_DIR, SAMPLES_DIR
from timbre.sources.files import detect_format, read_hetrec, read_path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "hetrec2011-lastfm-2k"


def test_bundled_hetrec_has_the_published_counts() -> None:
    batch = read_hetrec(HETREC_DIR)
    assert len(batch.users) == 1892
    assert len(batch.items) == 17632
    assert len(batch.interactions) == 92834
    # total plays, as summed from the raw file with awk (NR>1 {s += $3})
    assert batch.interactions["weight"].sum() == 69_183_975
    assert len(batch.friends) == 25434
    assert batch.report.rows_read == 92834 and batch.report.accepted == 92834
    # tags.dat is latin-1: accented tag names survive
    assert {"español", "die ärzte"} <= set(batch.tags["tag"])
    metallica = batch.items[batch.items["name"] == "Metallica"]["key"].item()
    top = batch.tags[batch.tags["item_key"] == metallica].nlargest(3, "weight")["tag"].tolist()
    assert "thrash metal" in top or "metal" in top


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_bundled_hetrec_equals_the_shared_original() -> None:
    bundled, original = read_hetrec(HETREC_DIR), read_hetrec(SHARED)
    pd.testing.assert_frame_equal(bundled.interactions, original.interactions)
    pd.testing.assert_frame_equal(bundled.items, original.items)
    pd.testing.assert_frame_equal(bundled.tags, original.tags)


def test_catalogue_has_one_item_per_track_with_features_and_genres() -> None:
    batch = read_catalog(CATALOG_CSV)
    assert batch.is_catalog
    # 28,356 distinct track ids; 5 rows (4 tracks) have neither name nor artist ("NA" from R)
    assert len(batch.items) == 28352 and batch.items["key"].is_unique
    assert batch.report.rows_read == 32833
    assert batch.report.dropped == {
        "missing track name or artist": 5,
        "same track in another playlist": 32833 - 5 - 28352,
    }
    assert set(batch.tags["kind"]) == {"genre", "subgenre"}
    assert set(batch.tags.loc[batch.tags["kind"] == "genre", "tag"]) == {
        "edm",
        "latin",
        "pop",
        "r&b",
        "rap",
        "rock",
    }
    assert batch.features["energy"].between(0, 1).all()
    assert batch.features["musical_key"].between(-1, 11).all()


def test_playlists_as_listeners() -> None:
    batch = read_catalog_playlists(CATALOG_CSV)
    assert batch.dataset == "spotify-playlists"
    assert len(batch.users) == batch.interactions["user_key"].nunique() == 471
    assert not batch.interactions.duplicated(["user_key", "item_key"]).any()


def test_spotify_sample_zip_counts_every_reason() -> None:
    zip_path = SAMPLES_DIR / "my_spotify_data.zip"
    assert detect_format(zip_path) == "spotify-export"
    batch = read_path(zip_path, user="me")
    report = batch.report
    assert report.rows_read == 69
    assert report.dropped == {
        "duplicate play (same track, same time)": 2,
        "play shorter than 30 s": 7,
        "podcast episode or audiobook (skipped)": 4,
    }
    assert report.accepted == 56 == len(batch.interactions)
    assert report.skipped_files == ["Streaming_History_Video_2023.json"]
    assert batch.interactions["timestamp"].notna().all()


def test_spotify_threshold_is_configurable() -> None:
    batch = read_path(SAMPLES_DIR / "my_spotify_data.zip", user="me", min_play_ms=0)
    assert "play shorter than 0 s" not in batch.report.dropped
    assert batch.report.accepted == 63


def test_lastfm_sample_guesses_the_user_from_the_file_name() -> None:
    batch = read_path(SAMPLES_DIR / "lastfm-presenter.csv")
    assert batch.users["key"].tolist() == ["lastfm:presenter"]
    assert batch.report.dropped == {
        "duplicate scrobble (same track, same time)": 1,
        "unparseable date": 2,
    }
