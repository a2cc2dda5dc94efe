"""Each import format on small hand-made inputs: layouts, options, counts."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from timbre.errors import DataError
from timbre.sources.files import detect_format, lastfm_layout, read_path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "layout"),
    [
        ("Radiohead,OK Computer,Airbag,22 Mar 2022 17:55\n", "adnd"),
        ("artist,album,name,date\nRadiohead,OK Computer,Airbag,22 Mar 2022 17:55\n", "adnd-header"),
        (
            "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
            "1647971700,22 Mar 2022 17:55,Radiohead,,OK Computer,,Airbag,\n",
            "uts",
        ),
        ("2022-03-22,17:55:00,Radiohead,Airbag\n", "iso"),
    ],
)
def test_the_three_lastfm_layouts_are_detected(tmp_path: Path, text: str, layout: str) -> None:
    assert lastfm_layout(text) == layout
    path = write(tmp_path / "rj.csv", text)
    assert detect_format(path) == "lastfm-csv"
    batch = read_path(path)
    assert batch.users["key"].tolist() == ["lastfm:rj"]
    assert batch.items[["name", "artist"]].values.tolist() == [["Airbag", "Radiohead"]]
    assert batch.interactions["timestamp"].tolist() == [pd.Timestamp("2022-03-22 17:55", tz="UTC")]


def test_basic_spotify_history(tmp_path: Path) -> None:
    rows = [
        {
            "endTime": "2024-01-02 10:00",
            "artistName": "Björk",
            "trackName": "Joga",
            "msPlayed": 300000,
        },
        {
            "endTime": "2024-01-02 10:05",
            "artistName": "Björk",
            "trackName": "Joga",
            "msPlayed": 5000,
        },
    ]
    path = write(tmp_path / "StreamingHistory_music_0.json", json.dumps(rows))
    batch = read_path(path, user="me")
    assert batch.report.accepted == 1
    assert batch.report.dropped == {"play shorter than 30 s": 1}
    assert batch.items["key"].tolist() == ["spotify:name:track:bjork|joga"]


def test_extended_history_folder_and_endsong(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    play = {
        "ts": "2020-05-01T10:00:00Z",
        "ms_played": 200000,
        "master_metadata_track_name": "Joga",
        "master_metadata_album_artist_name": "Björk",
        "spotify_track_uri": "spotify:track:abc",
    }
    write(folder / "endsong_0.json", json.dumps([play]))
    write(
        folder / "Streaming_History_Audio_2021.json",
        json.dumps([{**play, "ts": "2021-05-01T10:00:00Z"}]),
    )
    write(folder / "Userdata.json", json.dumps({"username": "x"}))
    assert detect_format(folder) == "spotify-export"
    batch = read_path(folder, user="me")
    assert batch.report.accepted == 2
    assert batch.items["key"].tolist() == ["spotify:track:abc"]
    assert batch.report.skipped_files == ["Userdata.json"]


def test_interactions_csv_with_mapping_and_separators(tmp_path: Path) -> None:
    path = write(tmp_path / "plays.csv", "listener;band;n\nann;Muse;3\nann;Muse;3\nbob;Muse;1\n")
    batch = read_path(
        path, "interactions-csv", columns={"user": "listener", "item": "band", "weight": "n"}
    )
    assert batch.report.dropped == {"duplicate row": 1}
    assert batch.interactions["weight"].tolist() == [3.0, 1.0]
    assert batch.dataset == "plays"


def test_interactions_csv_detects_common_names_and_partial_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mine.csv",
        "user_id,artist,plays\nu1,Muse,3\nu1,Blur,x\nu2,Muse,-1\nu2,Oasis,inf\n",
    )
    batch = read_path(path, dataset="mine")
    assert batch.report.accepted == 1
    assert batch.report.dropped == {
        "negative weight": 1,
        "non-numeric weight": 1,
        "non-finite weight (NaN or infinite)": 1,
    }


def test_bom_and_crlf_import_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfuser,item\r\nu1,Muse\r\nu2,Blur\r\n")
    batch = read_path(path, "interactions-csv")
    assert batch.report.accepted == 2
    assert batch.users["name"].tolist() == ["u1", "u2"]


def test_latin1_text_is_decoded_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "l1.csv", "user,item\nu1,Sigur Rós\n", encoding="latin-1")
    batch = read_path(path, "interactions-csv")
    assert batch.items["name"].tolist() == ["Sigur Rós"]
    assert any("Latin-1" in w for w in batch.report.warnings)


def test_gzipped_csv(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "plays.csv.gz"
    path.write_bytes(gzip.compress(b"user,item\nu1,Muse\n"))
    assert read_path(path, "interactions-csv").report.accepted == 1


def test_spotify_zip_in_a_subfolder(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "MyData/StreamingHistory_music_0.json",
            json.dumps(
                [
                    {
                        "endTime": "2024-01-02 10:00",
                        "artistName": "A",
                        "trackName": "T",
                        "msPlayed": 60000,
                    }
                ]
            ),
        )
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(buffer.getvalue())
    assert read_path(path, user="me").report.accepted == 1


def test_a_wrong_forced_format_suggests_the_likely_one(tmp_path: Path) -> None:
    """Issue 17: a wrong --format said only what was wrong, not what the file looks like."""
    plays = tmp_path / "plays.csv"
    plays.write_text("user,artist,plays\nu1,Slayer,3\n", encoding="utf-8")
    with pytest.raises(DataError, match="looks like interactions-csv: try --format interactions"):
        read_path(plays, "lastfm-csv")
    with pytest.raises(DataError) as caught:
        read_path(plays, "interactions-csv", columns={"weight": "nope"})
    assert "looks like" not in str(caught.value)  # the right format: no second guess
