"""A basic ("Account data") and an extended Spotify streaming history imported together.

People download both exports and upload them at once: as several files, a folder, one zip or one
zip of each. Every play must be imported once (the extended history is the richer copy), the
report must say what each file gave, and odd files in the mix are named with the reason.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from timbre.config import Settings
from timbre.errors import DataError
from timbre.sources.files import detect_format, read_path
from timbre.store import Store

BASIC = "StreamingHistory_music_0.json"
EXTENDED = "Streaming_History_Audio_2021_0.json"
ALSO_EXTENDED = "play also in the extended history (same title, same minute)"


def _extended(ts: str, track: str | None, artist: str | None, uri: str | None, **extra: Any):
    return {
        "ts": ts,
        "platform": "android",
        "ms_played": extra.pop("ms_played", 200_000),
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": uri,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        **extra,
    }


def _basic(end: str, track: str, artist: str, ms: int = 200_000) -> dict[str, Any]:
    return {"endTime": end, "artistName": artist, "trackName": track, "msPlayed": ms}


#: The basic export: the last weeks, to the minute. Two of its plays are in the extended one too.
BASIC_ROWS = [
    _basic("2021-03-01 12:34", "Jóga", "Björk"),  # = extended 12:34:56
    _basic("2021-03-01 13:00", "Hysteria", "Muse"),  # = extended 12:59:40 (rounded up)
    _basic("2021-03-02 08:00", "Airbag", "Radiohead"),  # after the extended history ends
    _basic("2021-03-02 09:00", "Jóga", "Björk"),  # after it too; Jóga's URI is known
    _basic("2021-03-02 09:30", "Skip", "Someone", ms=4_000),  # too short
]
#: The extended history: the account's whole life, to the second, with URIs and podcasts.
EXTENDED_ROWS = [
    _extended("2021-03-01T12:34:56Z", "Jóga", "Björk", "spotify:track:joga"),
    _extended("2021-03-01T12:59:40Z", "Hysteria", "Muse", "spotify:track:hysteria"),
    _extended("2021-02-01T10:00:00Z", "Teardrop", "Massive Attack", "spotify:track:teardrop"),
    _extended(
        "2021-02-01T11:00:00Z",
        None,
        None,
        None,
        episode_name="Episode 1",
        episode_show_name="A Podcast",
        spotify_episode_uri="spotify:episode:e1",
    ),
]


def _files() -> dict[str, bytes]:
    return {
        BASIC: json.dumps(BASIC_ROWS).encode(),
        EXTENDED: json.dumps(EXTENDED_ROWS).encode(),
    }


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _folder(tmp_path: Path, entries: dict[str, bytes]) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir(parents=True)
    for name, data in entries.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def _mixed_inputs(tmp_path: Path) -> dict[str, Path]:
    files = _files()
    one_zip = tmp_path / "my_spotify_data.zip"
    one_zip.write_bytes(
        _zip(
            {
                f"Spotify Account Data/{BASIC}": files[BASIC],
                f"Spotify Extended Streaming History/{EXTENDED}": files[EXTENDED],
                "Spotify Account Data/Userdata.json": b'{"username": "x"}',
            }
        )
    )
    two_zips = _folder(
        tmp_path / "two",
        {
            "my_spotify_data.zip": _zip({f"Spotify Account Data/{BASIC}": files[BASIC]}),
            "my_spotify_data (1).zip": _zip({f"History/{EXTENDED}": files[EXTENDED]}),
        },
    )
    return {
        "folder": _folder(tmp_path / "files", files),
        "zip": one_zip,
        "two-zips": two_zips,
    }


@pytest.fixture(params=["folder", "zip", "two-zips"])
def mixed(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return _mixed_inputs(tmp_path)[request.param]


def test_a_mixed_export_imports_every_play_once(mixed: Path) -> None:
    assert detect_format(mixed) == "spotify-export"
    batch = read_path(mixed, user="me")
    report = batch.report
    assert report.rows_read == len(BASIC_ROWS) + len(EXTENDED_ROWS)
    # 3 extended plays + the 2 basic plays after the extended history ends
    assert report.accepted == 5 == len(batch.interactions)
    assert report.dropped == {
        ALSO_EXTENDED: 2,
        "play shorter than 30 s": 1,
        "podcast episode or audiobook (skipped)": 1,
    }
    # the basic Jóga play after the extended history takes the track's URI: one item per track
    joga = batch.interactions[batch.interactions["item_key"] == "spotify:track:joga"]
    assert sorted(joga["timestamp"]) == [
        pd.Timestamp("2021-03-01 12:34:56", tz="UTC"),
        pd.Timestamp("2021-03-02 09:00", tz="UTC"),
    ]
    assert set(batch.items["key"]) == {
        "spotify:track:joga",
        "spotify:track:hysteria",
        "spotify:track:teardrop",
        "spotify:name:track:radiohead|airbag",
    }
    files = {Path(f["name"]).name: f for f in report.as_dict()["files"] if not f["skipped"]}
    assert files[BASIC] | {"name": BASIC} == {
        "name": BASIC,
        "shape": "basic",
        "rows": 5,
        "plays": 2,
        "duplicates": 2,
        "dropped": 1,
        "skipped": None,
    }
    assert files[EXTENDED] | {"name": EXTENDED} == {
        "name": EXTENDED,
        "shape": "extended",
        "rows": 4,
        "plays": 3,
        "duplicates": 0,
        "dropped": 1,
        "skipped": None,
    }
    summary = report.summary()
    assert f"{BASIC} (basic): read 5 rows, imported 2, duplicates 2, other drops 1" in summary
    assert f"{EXTENDED} (extended): read 4 rows, imported 3, duplicates 0" in summary


def test_a_mixed_export_written_twice_adds_nothing(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "files", _files())
    with Store.open(Settings(home=tmp_path / "home")) as store:
        first = store.write_batch(read_path(folder, user="me"))
        again = store.write_batch(read_path(folder, user="me"))
    assert first.written["interactions"] == 5
    assert again.written.get("interactions", 0) == 0


def test_a_compilation_track_is_the_same_play_in_both_shapes(tmp_path: Path) -> None:
    # the basic export names the track's artist, the extended one the album's
    folder = _folder(
        tmp_path,
        {
            BASIC: json.dumps([_basic("2022-06-01 20:15", "Song 2", "Blur")]).encode(),
            EXTENDED: json.dumps(
                [_extended("2022-06-01T20:15:10Z", "Song 2", "Various Artists", "spotify:track:s2")]
            ).encode(),
        },
    )
    batch = read_path(folder, user="me")
    assert batch.report.accepted == 1
    assert batch.report.dropped == {ALSO_EXTENDED: 1}
    assert batch.interactions["item_key"].tolist() == ["spotify:track:s2"]


def test_an_extended_music_row_without_a_uri_is_imported(tmp_path: Path) -> None:
    rows = [
        _extended("2021-01-01T10:00:00Z", "Local File", "Me", None),
        _extended("2021-01-01T11:00:00Z", "Airbag", "Radiohead", "spotify:track:airbag"),
    ]
    path = tmp_path / EXTENDED
    path.write_text(json.dumps(rows))
    batch = read_path(path, user="me")
    assert sorted(batch.items["key"]) == [
        "spotify:name:track:me|local file",
        "spotify:track:airbag",
    ]


def test_bad_and_unknown_files_in_the_mix_are_named_with_the_reason(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            **_files(),
            "StreamingHistory_music_1.json": json.dumps(BASIC_ROWS).encode()[:-9],
            "endsong_0.json": b'{"not": "a list"}',
            "Userdata.json": b'{"username": "x"}',
            "scrobbles.csv": b"Muse,Absolution,Hysteria,22 Mar 2022 17:55\n",
            "broken.zip": b"PK\x03\x04 not a zip",
        },
    )
    batch = read_path(folder, user="me")
    report = batch.report
    assert report.accepted == 5
    reasons = {f["name"]: f["skipped"] for f in report.as_dict()["files"] if f["skipped"]}
    assert set(reasons) == {
        "StreamingHistory_music_1.json",
        "endsong_0.json",
        "Userdata.json",
        "scrobbles.csv",
        "broken.zip",
    }
    assert "is not valid JSON" in reasons["StreamingHistory_music_1.json"]
    assert "holds a JSON dict" in reasons["endsong_0.json"]
    assert "not a streaming history file" in reasons["Userdata.json"]
    assert "import it on its own" in reasons["scrobbles.csv"]
    assert "not a valid zip file" in reasons["broken.zip"]
    assert sorted(report.skipped_files) == sorted(reasons)
    # files meant to be history but unreadable are warnings, not silently skipped
    assert len(report.warnings) == 3
    assert any("StreamingHistory_music_1.json" in w for w in report.warnings)


def test_a_mix_with_nothing_readable_names_every_file(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "StreamingHistory_music_0.json": b"[1, 2]",
            "endsong_0.json": b"[{",
            "Userdata.json": b"{}",
        },
    )
    with pytest.raises(DataError) as info:
        read_path(folder, user="me")
    message = str(info.value)
    assert "StreamingHistory_music_0.json holds a list of ints" in message
    assert "endsong_0.json is not valid JSON" in message
