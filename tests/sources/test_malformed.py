"""Malformed input: each case gives a specific message, in the reader, the CLI and the store
(which stays unchanged). The app runs the same cases in tests/app/test_data_page.py."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.test_store import listening_batch
from timbre.cli import main
from timbre.errors import DataError
from timbre.sources.files import read_path
from timbre.sources.textio import MAX_COMPRESSION_RATIO
from timbre.store import Store

HISTORY = "StreamingHistory_music_0.json"


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _play(**extra: Any) -> dict[str, Any]:
    return {
        "endTime": "2024-01-02 10:00",
        "artistName": "A",
        "trackName": "T",
        "msPlayed": 60000,
        **extra,
    }


@dataclass(frozen=True)
class Case:
    """A malformed input: its file name and bytes, options, and the message it must give."""

    id: str
    name: str
    content: bytes | Callable[[], bytes]
    message: str
    options: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        path.write_bytes(self.content() if callable(self.content) else self.content)
        return path


CASES = [
    Case("empty-file", "plays.csv", b"", "plays.csv is empty"),
    Case("whitespace-only", "plays.csv", b"  \n\n ", "plays.csv is empty"),
    Case("header-only", "plays.csv", b"user,item\n", "has a header but no rows"),
    Case("missing-user-column", "plays.csv", b"song,count\nx,1\n", "has no user column"),
    Case(
        "wrong-mapped-column",
        "plays.csv",
        b"user,item\nu,x\n",
        "has no column 'listener'",
        {"columns": {"user": "listener"}},
    ),
    Case(
        "unknown-role",
        "plays.csv",
        b"user,item\nu,x\n",
        "unknown column role",
        {"columns": {"colour": "user"}},
    ),
    Case(
        "all-counts-non-numeric",
        "plays.csv",
        b"user,item,count\nu,x,many\nv,y,lots\n",
        "no usable rows: 2 non-numeric weight",
    ),
    Case(
        "all-counts-negative",
        "plays.csv",
        b"user,item,count\nu,x,-3\n",
        "no usable rows: 1 negative weight",
    ),
    Case(
        "all-weights-nan-or-inf",
        "plays.csv",
        b"user,item,count\nu,x,nan\nv,y,inf\n",
        "no usable rows: 2 non-finite weight",
    ),
    Case("ragged-csv", "plays.csv", b"user,item\nu,x\nv,y,z,w\n", "not a readable CSV"),
    Case("binary-named-csv", "plays.csv", bytes(range(256)) * 32, "not a text CSV/JSON file"),
    Case(
        "png-named-csv",
        "scrobbles.csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40,
        "looks binary",
    ),
    Case("corrupt-gzip", "plays.csv.gz", b"\x1f\x8bnot really gzip", "not a valid gzip file"),
    Case(
        "truncated-json", HISTORY, json.dumps([_play(), _play()]).encode()[:-7], "is not valid JSON"
    ),
    Case(
        "json-object",
        HISTORY,
        json.dumps({"plays": [_play()]}).encode(),
        "holds a JSON dict, expected a list of plays",
    ),
    Case("json-list-of-numbers", HISTORY, b"[1, 2, 3]", "holds a list of ints"),
    Case(
        "json-wrong-keys",
        HISTORY,
        json.dumps([{"song": "x", "when": 1}]).encode(),
        "neither the basic (endTime, msPlayed) nor the extended",
    ),
    Case(
        "json-all-podcasts",
        HISTORY,
        json.dumps([_play(episodeName="E", podcastName="P")]).encode(),
        "no music plays to import: 1 podcast episode or audiobook",
    ),
    Case(
        "json-non-numeric-duration",
        HISTORY,
        json.dumps([_play(msPlayed="long")]).encode(),
        "no music plays to import: 1 non-numeric play duration",
    ),
    Case(
        "spotify-without-user",
        HISTORY,
        json.dumps([_play()]).encode(),
        "does not say whose it is",
        {"user": None},
    ),
    Case(
        "zip-with-dotdot",
        "my_spotify_data.zip",
        lambda: _zip({f"../{HISTORY}": json.dumps([_play()]).encode()}),
        "contains an unsafe path '../StreamingHistory_music_0.json'",
    ),
    Case(
        "zip-with-absolute-path",
        "my_spotify_data.zip",
        lambda: _zip({f"/etc/{HISTORY}": json.dumps([_play()]).encode()}),
        "unsafe path '/etc/",
    ),
    Case(
        "zip-oversized",
        "my_spotify_data.zip",
        lambda: _zip({HISTORY: json.dumps([_play()] * 2000).encode()}),
        "more than the 0.1 MiB limit",
        {"max_zip_bytes": 100 * 1024},
    ),
    Case(
        "zip-bomb",
        "my_spotify_data.zip",
        lambda: _zip({HISTORY: b"[" + b" " * (MAX_COMPRESSION_RATIO * 4 * 1024) + b"]"}),
        "a zip bomb",
    ),
    Case(
        "corrupt-zip",
        "my_spotify_data.zip",
        b"PK\x03\x04 truncated nonsense",
        "is not a valid zip file",
    ),
    Case(
        "zip-without-history",
        "my_spotify_data.zip",
        lambda: _zip({"Userdata.json": b"{}"}),
        "holds no Spotify streaming history files",
    ),
    Case(
        "lastfm-all-dates-bad",
        "rj.csv",
        b"Muse,Absolution,Hysteria,yesterday\nMuse,Absolution,Time Is Running Out,\n",
        "first row has 4 field(s)",
        {"format": "lastfm-csv"},
    ),
    Case(
        "lastfm-unparseable-dates",
        "rj.csv",
        b"Muse,Absolution,Hysteria,22 Mar 2022 17:55\nBlur,Parklife,Girls & Boys,32 Foo 2022\n"
        b"Muse,Absolution,Sing,not a date\n",
        None,
        {"format": "lastfm-csv", "partial": {"unparseable date": 2}},
    ),  # type: ignore[arg-type]
    Case(
        "lastfm-unknown-user",
        "x.csv",
        b"Muse,Absolution,Hysteria,22 Mar 2022 17:55\n",
        "cannot tell whose scrobbles x.csv holds",
        {"format": "lastfm-csv", "user": None},
    ),
    Case(
        "unknown-format",
        "plays.csv",
        b"user,item\nu,x\n",
        "unknown format 'parquet'; expected one of",
        {"format": "parquet"},
    ),
    Case(
        "catalog-wrong-columns",
        "songs.csv",
        b"track_id,track_name\n1,x\n",
        "not the Spotify catalogue CSV: missing columns",
        {"format": "catalog"},
    ),
]
FAILING = [c for c in CASES if c.message is not None]


def _read(case: Case, tmp_path: Path):
    options = {k: v for k, v in case.options.items() if k not in ("partial", "max_zip_bytes")}
    options.setdefault("user", "me")
    fmt = options.pop("format", None)
    path = case.write(tmp_path)
    if "max_zip_bytes" in case.options:
        from timbre.sources.files import read_spotify_export

        return read_spotify_export(path, "me", max_zip_bytes=case.options["max_zip_bytes"])
    return read_path(path, fmt, **options)


def test_there_are_at_least_25_malformed_cases() -> None:
    assert len(FAILING) >= 25


@pytest.mark.parametrize("case", FAILING, ids=[c.id for c in FAILING])
def test_reader_gives_a_specific_message(case: Case, tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        _read(case, tmp_path)
    assert case.message in str(info.value)
    assert "Traceback" not in str(info.value)


def test_partial_problems_are_counted_not_fatal(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "lastfm-unparseable-dates")
    batch = _read(case, tmp_path)
    assert batch.report.dropped == case.options["partial"]
    assert batch.report.accepted == 1


@pytest.fixture
def filled_store(store: Store) -> Store:
    store.write_batch(listening_batch())
    return store


@pytest.mark.parametrize("case", FAILING, ids=[c.id for c in FAILING])
def test_the_store_is_unchanged(case: Case, filled_store: Store, tmp_path: Path) -> None:
    before = filled_store.content_digest()
    with pytest.raises(DataError):
        filled_store.write_batch(_read(case, tmp_path))
    assert filled_store.content_digest() == before


CLI_CASES = [c for c in FAILING if "max_zip_bytes" not in c.options]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_prints_one_line_and_exits_1(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.db"
    with Store.open(f"sqlite:///{db}") as store:
        store.write_batch(listening_batch())
        before = store.content_digest()
    path = case.write(tmp_path)
    argv = ["--db", f"sqlite:///{db}", "import", str(path)]
    options = case.options
    if "format" in options:
        argv += ["--format", options["format"]]
    if options.get("user", "me"):
        argv += ["--user", "me"]
    for role, column in (options.get("columns") or {}).items():
        argv += ["--column", f"{role}={column}"]
    code = main(argv)
    _out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("timbre: error: ") and err.count("\n") == 1
    assert case.message in err
    with Store.open(f"sqlite:///{db}") as store:
        assert store.content_digest() == before
