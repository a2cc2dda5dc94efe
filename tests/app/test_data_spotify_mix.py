"""AppTest: a basic and an extended Spotify history uploaded together on the Data page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import metric_values, open_page, table_with
from tests.sources.test_spotify_mixed import ALSO_EXTENDED, BASIC, EXTENDED, _files, _zip
from tests.test_store import listening_batch
from timbre.app.imports import import_uploads
from timbre.config import Settings, load_settings
from timbre.store import Store

PAGE = "pages/data.py"


@pytest.fixture
def small_app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with a little data (an empty one would load the demo on the first start)."""
    home = tmp_path / "small-home"
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    with Store.open(load_settings()) as store:
        store.write_batch(listening_batch())
    return home


def _import(files: dict[str, bytes]) -> AppTest:
    at = open_page(PAGE, 60)
    at.file_uploader(key="data_uploads_0").set_value(
        [(name, data, "application/json") for name, data in files.items()]
    )
    at.text_input(key="data_user").input("me")
    at.button(key="data_import_submit").click()
    return at.run()


def _spotify_plays() -> int:
    with Store.open(load_settings()) as store:
        counts = store.stats()["datasets"]["spotify-export"]
    return int(counts["interactions"])


def test_basic_and_extended_history_uploaded_together(small_app_home: Path) -> None:
    at = _import(_files())
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Imported into data set" in s.value for s in at.success)
    values = metric_values(at)
    assert values["Accepted"][0] == "5"
    assert any(ALSO_EXTENDED in t.value for t in at.text)
    files = table_with(at, "file", "plays imported", "duplicates").set_index("file")
    assert files.loc[BASIC, "plays imported"] == 2 and files.loc[BASIC, "duplicates"] == 2
    assert files.loc[EXTENDED, "plays imported"] == 3 and files.loc[EXTENDED, "duplicates"] == 0
    assert files.loc[BASIC, "history"] == "basic" and files.loc[EXTENDED, "history"] == "extended"
    assert _spotify_plays() == 5


def test_bad_and_unknown_files_in_the_mix_are_reported(small_app_home: Path) -> None:
    at = _import(
        {
            **_files(),
            "StreamingHistory_music_1.json": json.dumps([{"endTime": "2021"}])[:-3].encode(),
            "Userdata.json": b'{"username": "x"}',
        }
    )
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    files = table_with(at, "file", "plays imported", "note").set_index("file")
    assert "is not valid JSON" in files.loc["StreamingHistory_music_1.json", "note"]
    assert "not a streaming history file" in files.loc["Userdata.json", "note"]
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert any("StreamingHistory_music_1.json was not imported" in w for w in warnings)
    assert _spotify_plays() == 5


class _Upload:
    """What the page hands over: a name and bytes (Streamlit's ``UploadedFile`` shape)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def test_both_downloads_named_my_spotify_data_zip_are_imported(tmp_path: Path) -> None:
    # Spotify names the basic and the extended download alike; the same file twice is read once
    files = _files()
    basic = _zip({f"Spotify Account Data/{BASIC}": files[BASIC]})
    extended = _zip({f"Spotify Extended Streaming History/{EXTENDED}": files[EXTENDED]})
    uploads = [
        _Upload("my_spotify_data.zip", basic),
        _Upload("my_spotify_data.zip", extended),
        _Upload("my_spotify_data.zip", basic),
    ]
    with Store.open(Settings(home=tmp_path / "home")) as store:
        result = import_uploads(store, uploads, user="me")
    assert len(result.reports) == 1  # both downloads read as one export
    report = result.reports[0]
    assert report.accepted == 5 and report.dropped[ALSO_EXTENDED] == 2
    assert report.warnings == ["my_spotify_data.zip was uploaded more than once; read once"]
    assert report.written["interactions"] == 5
