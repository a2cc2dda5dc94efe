"""The Data page's upload box (issue 17, item 2): emptied after an import, and every file of an
upload accounted for (imported, or not imported and why), a Last.fm CSV beside a Spotify zip
included."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.helpers import open_page, table_with
from tests.test_store import listening_batch
from timbre.app.imports import hetrec_file, import_uploads
from timbre.config import Settings, load_settings
from timbre.errors import DataError
from timbre.sources.demo import SAMPLES_DIR
from timbre.store import Store

PAGE = "pages/data.py"
LASTFM = SAMPLES_DIR / "lastfm-presenter.csv"
SPOTIFY = SAMPLES_DIR / "my_spotify_data.zip"
NOTES = b"these are my notes about the export\nnothing to import here\n"


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def getvalue(self) -> bytes:
        return self.data


@pytest.fixture
def small_app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "small-home"
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    with Store.open(load_settings()) as store:
        store.write_batch(listening_batch())
    return home


def _interactions() -> int:
    with Store.open(load_settings()) as store:
        return int(store.stats()["interactions"])


def _mixed() -> list[tuple[str, bytes, str]]:
    return [
        (SPOTIFY.name, SPOTIFY.read_bytes(), "application/zip"),
        (LASTFM.name, LASTFM.read_bytes(), "text/csv"),
        ("notes.txt", NOTES, "text/plain"),
    ]


def test_the_box_is_empty_after_an_import(small_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    at.file_uploader[0].set_value([(LASTFM.name, LASTFM.read_bytes(), "text/csv")])
    at.text_input(key="data_user").input("presenter")
    at.button(key="data_import_submit").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    imported = _interactions()
    at.button(key="data_import_submit").click()  # again, without choosing files
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["choose at least one file to import"]
    assert _interactions() == imported  # the first import's file was not quietly imported again


def test_every_file_of_a_mixed_upload_is_accounted_for(tmp_path: Path) -> None:
    uploads = [_Upload(name, data) for name, data, _ in _mixed()]
    with Store.open(Settings(home=tmp_path / "home")) as store:
        result = import_uploads(store, uploads, user="presenter")
        datasets = store.stats()["datasets"]
    assert sorted(r.source for r in result.reports) == ["lastfm-export", "spotify-export"]
    assert {"lastfm-export", "spotify-export"} <= set(datasets)
    outcomes = dict(result.files)
    assert set(outcomes) == {SPOTIFY.name, LASTFM.name, "notes.txt"}
    assert outcomes[SPOTIFY.name].startswith("imported as spotify-export")
    assert outcomes[LASTFM.name].startswith("imported as lastfm-export")
    assert outcomes["notes.txt"].startswith("not imported: ")
    assert len(outcomes["notes.txt"]) > len("not imported: ") + 10  # with the reason


def test_the_page_lists_every_file_with_its_outcome(small_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    at.file_uploader[0].set_value(_mixed())
    at.text_input(key="data_user").input("presenter")
    at.button(key="data_import_submit").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    files = table_with(at, "file", "outcome").set_index("file")["outcome"]
    assert sorted(files.index) == sorted(name for name, _, _ in _mixed())
    assert files["notes.txt"].startswith("not imported")
    assert len(at.file_uploader) == 1 and not at.file_uploader[0].value  # emptied


def test_nothing_readable_writes_nothing_and_names_every_file(tmp_path: Path) -> None:
    uploads = [_Upload("notes.txt", NOTES), _Upload("more.txt", NOTES + b"x")]
    with Store.open(Settings(home=tmp_path / "home")) as store:
        store.write_batch(listening_batch())
        before = store.content_digest()
        with pytest.raises(DataError, match="nothing was imported") as caught:
            import_uploads(store, uploads, user="presenter")
        assert store.content_digest() == before
    assert "notes.txt" in str(caught.value) and "more.txt" in str(caught.value)


def test_hetrec_files_are_read_together() -> None:
    assert hetrec_file("user_artists.dat") and hetrec_file("user_taggedartists-timestamps.dat")
    assert not hetrec_file("user_artists.csv") and not hetrec_file("artists.json")
