"""Reading any supported input file: format detection and the one dispatcher, ``read_path``.

Every reader returns an ``ImportBatch`` whose report counts rows read, accepted and dropped per
reason: HetRec 2K (``timbre/sources/hetrec.py``), the catalogue (``catalog.py``), the generic
interactions CSV (``interactions_csv.py``) and personal exports, Spotify's
(``spotify_export.py``) and Last.fm's (``exports.py``). Their public names are importable
from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

from timbre.errors import DataError
from timbre.records import ImportBatch
from timbre.sources.catalog import read_catalog, read_catalog_playlists
from timbre.sources.exports import lastfm_layout, read_lastfm_csv
from timbre.sources.hetrec import HETREC_DATASET, read_hetrec
from timbre.sources.interactions_csv import STREAM_BYTES, CsvChunks, read_interactions_csv
from timbre.sources.spotify_export import (
    DEFAULT_MIN_PLAY_MS,
    is_spotify_history,
    read_spotify_export,
)
from timbre.sources.textio import decode_text, first_row, read_bytes

__all__ = [
    "DEFAULT_MIN_PLAY_MS",
    "FORMATS",
    "HETREC_DATASET",
    "Format",
    "detect_format",
    "lastfm_layout",
    "read_catalog",
    "read_catalog_playlists",
    "read_hetrec",
    "read_interactions_csv",
    "read_lastfm_csv",
    "read_path",
    "read_spotify_export",
]

Format = Literal[
    "hetrec",
    "catalog",
    "spotify-playlists",
    "interactions-csv",
    "spotify-export",
    "lastfm-csv",
]
#: The formats ``read_path`` reads.
FORMATS: tuple[Format, ...] = get_args(Format)


def detect_format(path: Path) -> Format:
    """Guess the format of a file, folder or zip (see ``FORMATS``).

    Raises
    ------
    DataError
        A missing path or one that matches no format (the message says what was seen).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if any(n.startswith("user_artists.dat") for n in names):
            return "hetrec"
        if any(is_spotify_history(p.name) for p in path.rglob("*.json")):
            return "spotify-export"
        if any(p.suffix.lower() == ".zip" for p in path.rglob("*")):
            return "spotify-export"  # each export's download, e.g. the basic and the extended
        shown = ", ".join(sorted(names)[:6]) or "nothing"
        raise DataError(
            f"{path} holds no recognisable files (found: {shown}); expected the "
            "HetRec .dat files or Spotify StreamingHistory JSON files"
        )
    name = path.name.lower()
    if name.endswith(".zip"):
        return "spotify-export"
    if name.endswith(".json"):
        return "spotify-export"
    if name.startswith("user_artists.dat"):
        return "hetrec"
    data = read_bytes(path)
    text = decode_text(data[:65536], path.name)
    header = first_row(text)
    lowered = [c.lower() for c in header]
    if "track_id" in lowered and "playlist_genre" in lowered:
        return "catalog"
    try:
        lastfm_layout(text, path.name)
        return "lastfm-csv"
    except DataError:
        return "interactions-csv"


def chunked_reader(
    path: Path | str,
    format: Format | None = None,
    *,
    dataset: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> CsvChunks | None:
    """The chunk reader for an input too large to read at once (an interactions CSV over
    ``STREAM_BYTES``), or ``None``: read it with :func:`read_path`."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size <= STREAM_BYTES:
        return None
    if (format or detect_format(path)) != "interactions-csv":
        return None
    return CsvChunks(path, dataset, columns)


def _read_format(
    path: Path,
    fmt: Format,
    dataset: str | None,
    user: str | None,
    min_play_ms: int,
    columns: Mapping[str, str] | None,
) -> ImportBatch:
    if fmt == "hetrec":
        return read_hetrec(path if path.is_dir() else path.parent)
    if fmt == "catalog":
        return read_catalog(path)
    if fmt == "spotify-playlists":
        return read_catalog_playlists(path)
    if fmt == "interactions-csv":
        return read_interactions_csv(path, dataset, columns)
    if fmt == "spotify-export":
        return read_spotify_export(path, user, min_play_ms)
    return read_lastfm_csv(path, user)


def _format_hint(path: Path, forced: Format | None) -> str:
    """For a forced format that failed: the format the file looks like, when it is another."""
    if forced is None:
        return ""
    try:
        likely = detect_format(path)
    except DataError:
        return ""
    if likely == forced:
        return ""
    return f"it looks like {likely}: try --format {likely}, or leave --format out"


def read_path(
    path: Path | str,
    format: Format | None = None,
    *,
    dataset: str | None = None,
    user: str | None = None,
    min_play_ms: int = DEFAULT_MIN_PLAY_MS,
    columns: Mapping[str, str] | None = None,
) -> ImportBatch:
    """Read any supported input: the one entry point for the CLI and the app.

    Parameters
    ----------
    path
        A file, folder or ``.zip``.
    format
        One of ``FORMATS``; detected when ``None``.
    dataset
        Data set name for the interactions (each format has a default).
    user
        Whose personal export this is (Spotify, Last.fm CSV).
    min_play_ms
        Spotify exports: plays shorter than this are dropped and counted.
    columns
        Interactions CSV: role -> column name (``user``, ``item``, ``artist``, ``weight``,
        ``timestamp``).

    Raises
    ------
    DataError
        Anything wrong with the input; nothing has been written anywhere.
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    fmt = format or detect_format(path)
    try:
        batch = _read_format(path, fmt, dataset, user, min_play_ms, columns)
    except DataError as exc:
        hint = _format_hint(path, format)
        if hint:
            raise DataError(f"{exc}; {hint}") from None
        raise
    if dataset and fmt not in ("catalog", "interactions-csv"):
        batch.dataset = batch.report.dataset = dataset
    return batch
