"""Name keys that link imported items to the catalogue, and the import report."""

from __future__ import annotations

import pytest

from timbre.records import ImportReport, link_key, name_key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Beyoncé", "beyonce"),
        ("  The   Beatles ", "the beatles"),
        ("Sigur Rós", "sigur ros"),
        ("Eminem feat. Rihanna", "eminem"),
        ("Calvin Harris ft. Ellie Goulding", "calvin harris"),
        ("I Don't Care (with Justin Bieber)", "i don t care"),
        ("Love Me Like You Do [feat. Someone]", "love me like you do"),
        ("AC/DC", "ac dc"),
        ("MØ", "mø"),
        ("", ""),
    ],
)
def test_name_key_normalises_case_accents_spaces_and_credits(raw: str, key: str) -> None:
    assert name_key(raw) == key


def test_name_key_of_missing_values_is_empty() -> None:
    assert name_key(None) == ""
    assert name_key(float("nan")) == ""  # type: ignore[arg-type]


def test_link_keys_per_kind() -> None:
    assert link_key("artist", "Björk") == "artist:bjork"
    assert link_key("track", "Hyperballad", "Björk") == "track:bjork|hyperballad"
    assert link_key("track", "Hyperballad", None) == ""
    assert link_key("artist", "  ") == ""


def test_report_counts_and_summary() -> None:
    report = ImportReport(
        source="spotify-export", dataset="spotify-export", rows_read=10, accepted=7
    )
    report.drop("play shorter than 30 s", 2)
    report.drop("podcast episode")
    report.drop("nothing", 0)
    report.catalog_candidates, report.catalog_matched = 8, 6
    assert report.dropped_total == 3
    assert report.match_rate == pytest.approx(0.75)
    data = report.as_dict()
    assert data["dropped"] == {"play shorter than 30 s": 2, "podcast episode": 1}
    text = report.summary()
    assert "dropped 2: play shorter than 30 s" in text
    assert "6 of 8 items (75.0%)" in text
