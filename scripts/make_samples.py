"""Make the small SYNTHETIC sample exports in data/samples/ from real catalogue rows.

They let a presenter (and the tests) try the Spotify and Last.fm importers without a personal
export: most plays are real catalogue tracks, a few are unknown tracks, short plays, podcast
episodes, duplicates and bad dates, so every report line shows up. Run:
``python scripts/make_samples.py`` (deterministic).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "samples"
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def main() -> None:
    rng = np.random.default_rng(7)
    catalog = pd.read_csv(ROOT / "data" / "spotify-catalog" / "spotify_songs.csv.gz")
    catalog = catalog.dropna(subset=["track_name", "track_artist"]).drop_duplicates("track_id")
    picks = catalog.sample(60, random_state=7)
    start = datetime(2023, 3, 1, 8, 0, tzinfo=UTC)
    rows = []
    for n, track in enumerate(picks.itertuples()):
        when = start + timedelta(hours=int(n * 7 + rng.integers(0, 5)))
        rows.append(
            {
                "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "platform": "android",
                "ms_played": int(track.duration_ms if n % 9 else 12_000),
                "conn_country": "DE",
                "master_metadata_track_name": track.track_name,
                "master_metadata_album_artist_name": track.track_artist,
                "master_metadata_album_album_name": track.track_album_name,
                "spotify_track_uri": f"spotify:track:{track.track_id}",
                "episode_name": None,
                "episode_show_name": None,
                "spotify_episode_uri": None,
                "reason_start": "trackdone",
                "reason_end": "trackdone",
                "shuffle": False,
                "skipped": n % 9 == 0,
                "offline": False,
                "incognito_mode": False,
            }
        )
    for n, (title, artist) in enumerate(
        [
            ("Night Drive Home", "The Unlisted"),
            ("Paper Lanterns", "Mira Holm"),
            ("Static Bloom", "Kettle & Wire"),
        ]
    ):
        rows.append(
            {
                **rows[0],
                "ts": f"2023-05-0{n + 1}T21:00:00Z",
                "ms_played": 200_000,
                "master_metadata_track_name": title,
                "master_metadata_album_artist_name": artist,
                "spotify_track_uri": f"spotify:track:SYNTHETIC{n:04d}",
                "skipped": False,
            }
        )
    for n in range(4):
        rows.append(
            {
                **rows[0],
                "ts": f"2023-06-0{n + 1}T07:30:00Z",
                "ms_played": 1_500_000,
                "master_metadata_track_name": None,
                "master_metadata_album_artist_name": None,
                "master_metadata_album_album_name": None,
                "spotify_track_uri": None,
                "episode_name": f"Episode {n + 1}",
                "episode_show_name": "A Podcast",
                "spotify_episode_uri": f"spotify:episode:SYNTHETIC{n}",
            }
        )
    rows += [dict(rows[1]), dict(rows[2])]  # duplicates
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in (
            ("Spotify Extended Streaming History/Streaming_History_Audio_2023.json", rows),
            ("Spotify Extended Streaming History/Streaming_History_Video_2023.json", []),
        ):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, json.dumps(payload, indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "my_spotify_data.zip").write_bytes(buffer.getvalue())

    lastfm = catalog.sample(45, random_state=11)
    lines = []
    for n, track in enumerate(lastfm.itertuples()):
        when = start + timedelta(minutes=int(n * 53))
        album = str(track.track_album_name).replace('"', "'")
        lines.append(
            f'"{track.track_artist}","{album}","{track.track_name}",'
            f'"{when.strftime("%d %b %Y %H:%M")}"'
        )
    lines += [
        '"The Unlisted","Demo","Night Drive Home","02 Apr 2023 22:10"',
        '"Mira Holm","Lanterns","Paper Lanterns","not a date"',
        '"Kettle & Wire","Bloom","Static Bloom",""',
        lines[0],
    ]
    (OUT / "lastfm-presenter.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
