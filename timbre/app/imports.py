"""Import uploaded files through the one dispatcher and the store (Data page helper)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
import streamlit as st

from timbre.app.access import writes
from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport
from timbre.sources.files import Format, chunked_reader, read_path
from timbre.sources.interactions_csv import CsvChunks, StreamClock
from timbre.sources.spotify_export import is_spotify_history
from timbre.store import Store

#: The HetRec 2K folder's files (``.dat``, optionally gzipped): read together, as a folder.
HETREC_STEMS = (
    "artists",
    "tags",
    "user_artists",
    "user_friends",
    "user_taggedartists",
    "user_taggedartists-timestamps",
)
#: Formats that read several uploaded files as one folder when forced.
FOLDER_FORMATS: tuple[Format, ...] = ("hetrec", "spotify-export")


class Upload(Protocol):
    """What Streamlit's ``UploadedFile`` offers (and a test double can)."""

    name: str

    def getvalue(self) -> bytes: ...


@dataclass
class UploadResult:
    """What one upload gave: a report per import written (each file, or each folder of files
    read together) and, for every file uploaded, what became of it and why."""

    reports: list[ImportReport] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)

    @property
    def not_imported(self) -> list[tuple[str, str]]:
        """The files that gave nothing, with the reason."""
        return [(name, note) for name, note in self.files if note.startswith("not imported")]

    def summary(self) -> str:
        """The reports' lines, then one line per file."""
        lines = [r.summary() for r in self.reports]
        return "\n".join([*lines, *(f"{name}: {note}" for name, note in self.files)])


@dataclass
class _Group:
    """Files read in one go: one file, or a folder (HetRec's files, a Spotify export)."""

    paths: list[Path]
    fmt: Format | None
    folder: Path | None = None


def hetrec_file(name: str) -> bool:
    """Whether a file name is one of the HetRec 2K folder's files.

    Examples
    --------
    >>> hetrec_file("user_artists.dat"), hetrec_file("tags.dat.gz"), hetrec_file("plays.csv")
    (True, True, False)
    """
    stem = name.lower().removesuffix(".gz").removesuffix(".dat")
    return name.lower().removesuffix(".gz").endswith(".dat") and stem in HETREC_STEMS


@writes("import")
def import_uploads(
    store: Store,
    uploads: Sequence[Upload],
    fmt: Format | None = None,
    *,
    dataset: str | None = None,
    user: str | None = None,
    min_play_ms: int = 30_000,
    columns: dict[str, str] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> UploadResult:
    """Import uploaded files, every one accounted for, in one transaction.

    Files that belong together are read together: HetRec's ``.dat`` files as its folder, and a
    Spotify export's history JSON files and zips (a basic and an extended export together) as
    one export; every other file on its own, each detected separately (a Last.fm CSV beside a
    Spotify zip is imported too). A file that cannot be read is reported with the reason and the
    rest are imported; when nothing can be read, nothing is written and the error names every
    file. All imports are written in one transaction: all of them or none. The same file
    uploaded twice is read once; two different files of the same name are both kept. One large
    interactions CSV (over ``STREAM_BYTES``) is streamed in chunks, as ``timbre import`` does,
    with ``progress(fraction, "rows read, rows/s, time left")`` after each.
    """
    if not uploads:
        raise DataError("choose at least one file to import")
    with tempfile.TemporaryDirectory(prefix="timbre-upload-") as tmp:
        result = UploadResult()
        paths, repeated = _write_uploads(Path(tmp), uploads)
        result.files += [(name, "uploaded more than once; read once") for name in repeated]
        chunks = chunked_reader(paths[0], fmt, dataset=dataset, columns=columns)
        if len(paths) == 1 and chunks is not None:
            return _streamed(store, chunks, paths[0].name, progress)
        batches: list[ImportBatch] = []
        for group in _groups(Path(tmp), paths, fmt):
            try:
                target = group.folder or group.paths[0]
                batch = read_path(
                    target,
                    group.fmt,
                    dataset=dataset,
                    user=user,
                    min_play_ms=min_play_ms,
                    columns=columns,
                )
            except DataError as exc:
                result.files += [(p.name, f"not imported: {exc}") for p in group.paths]
                continue
            batches.append(batch)
            result.files += _outcomes(group, batch.report)
        if not batches:
            raise DataError(
                "nothing was imported: "
                + "; ".join(f"{name}: {note}" for name, note in result.not_imported)
            )
        result.reports = store.write_imports(batches)
        result.reports[0].warnings += [
            f"{name} was uploaded more than once; read once" for name in repeated
        ]
        return result


def _write_uploads(folder: Path, uploads: Sequence[Upload]) -> tuple[list[Path], list[str]]:
    """Write the uploads into ``folder``; the paths written and the names uploaded twice."""
    paths: list[Path] = []
    digests: dict[str, set[str]] = {}
    repeated: list[str] = []
    for upload in uploads:
        name = Path(upload.name).name  # never trust a client-side path
        if not name or name in {".", ".."}:
            raise DataError(f"upload has no usable file name: {upload.name!r}")
        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        seen = digests.setdefault(name, set())
        if digest in seen:
            repeated.append(name)
            continue
        # a second, different file of the same name (two exports' my_spotify_data.zip)
        path = folder / name if not seen else folder / f"upload-{len(paths) + 1}" / name
        seen.add(digest)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths, repeated


def _streamed(
    store: Store, chunks: CsvChunks, name: str, progress: Callable[[float, str], None] | None
) -> UploadResult:
    """One large interactions CSV, read and written chunk by chunk in one transaction."""
    clock = StreamClock(chunks)

    def report_progress(report: ImportReport) -> None:
        if progress is not None:
            progress(*clock(report))

    report = store.write_batches(chunks, chunks.report, report_progress)
    done = f"imported as {report.source} into data set {report.dataset!r}"
    return UploadResult([report], [(name, done)])


def _groups(folder: Path, paths: list[Path], fmt: Format | None) -> list[_Group]:
    """How the uploaded files are read: together where they belong together."""
    if len(paths) == 1:
        return [_Group(paths, fmt)]
    if fmt in FOLDER_FORMATS:
        return [_Group(paths, fmt, folder)]
    hetrec = [p for p in paths if fmt is None and hetrec_file(p.name)]
    spotify = [p for p in paths if fmt is None and _spotify_part(p)]
    singles = [_Group([p], fmt) for p in paths if p not in hetrec and p not in spotify]
    groups = []
    for part, name in ((hetrec, "hetrec"), (spotify, "spotify-export")):
        if part:
            groups.append(_Group(part, name, _gather(folder / f"_{name}", part)))  # type: ignore[arg-type]
    return groups + singles


def _spotify_part(path: Path) -> bool:
    """A Spotify export's file: a history JSON, any other JSON of it, or a zip."""
    return is_spotify_history(path.name) or path.suffix.lower() in (".zip", ".json")


def _gather(target: Path, paths: list[Path]) -> Path:
    """Move a group's files into a folder of their own (keeping subfolders for same names)."""
    for path in paths:
        keep = path.parent.name if path.parent.name.startswith("upload-") else ""
        moved = target / keep / path.name
        moved.parent.mkdir(parents=True, exist_ok=True)
        path.rename(moved)
    return target


def _outcomes(group: _Group, report: ImportReport) -> list[tuple[str, str]]:
    """Each file of a group that was read: imported, or skipped with the reader's reason."""
    skipped = {
        Path(f.name).name: f.skipped
        for f in getattr(report, "files", [])
        if getattr(f, "skipped", None)
    }
    done = f"imported as {report.source} into data set {report.dataset!r}"
    return [
        (p.name, f"not imported: {skipped[p.name]}" if p.name in skipped else done)
        for p in group.paths
    ]


def parse_column_map(text: str) -> dict[str, str] | None:
    """``"user=listener, item=artist"`` -> ``{"user": "listener", "item": "artist"}``."""
    columns: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, name = part.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise DataError(f"column mapping expects role=name pairs, got {part!r}")
        columns[role.strip()] = name.strip()
    return columns or None


# --- the upload box ---------------------------------------------------------------------------


def upload_box_key(name: str) -> str:
    """The file uploader's key: a new one after each import, which empties the box (Streamlit
    cannot clear an uploader otherwise), so the next import does not quietly include its files."""
    return f"{name}_{st.session_state.get(f'{name}_generation', 0)}"


def clear_upload_box(name: str) -> None:
    """Empty the uploader ``name`` on the next run (see :func:`upload_box_key`)."""
    key = f"{name}_generation"
    st.session_state[key] = st.session_state.get(key, 0) + 1


def show_upload_files(files: Sequence[tuple[str, str]], key: str) -> None:
    """Every file of the last upload and what became of it, names shown as text."""
    st.dataframe(
        pd.DataFrame({"file": [f for f, _ in files], "outcome": [o for _, o in files]}),
        hide_index=True,
        key=key,
    )
