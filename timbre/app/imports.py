"""Import uploaded files through the one dispatcher and the store (Data page helper)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from timbre.app.access import writes
from timbre.errors import DataError
from timbre.records import ImportReport
from timbre.sources.files import Format, read_path
from timbre.store import Store


class Upload(Protocol):
    """What Streamlit's ``UploadedFile`` offers (and a test double can)."""

    name: str

    def getvalue(self) -> bytes: ...


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
) -> ImportReport:
    """Write uploaded files to a private temp folder and import them in one transaction.

    One file is imported as that file (a CSV, a JSON, a zip); several files as a folder (e.g. the
    HetRec ``.dat`` files, several ``StreamingHistory`` JSON files, or a basic and an extended
    Spotify export together, as JSON files or as each export's zip). The same file uploaded twice
    is read once; two different files of the same name are both kept (in subfolders).
    """
    if not uploads:
        raise DataError("choose at least one file to import")
    with tempfile.TemporaryDirectory(prefix="timbre-upload-") as tmp:
        folder = Path(tmp)
        paths, repeated = _write_uploads(folder, uploads)
        target = paths[0] if len(paths) == 1 else folder
        batch = read_path(
            target, fmt, dataset=dataset, user=user, min_play_ms=min_play_ms, columns=columns
        )
        batch.report.warnings += [
            f"{name} was uploaded more than once; read once" for name in repeated
        ]
        return store.write_batch(batch)


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


def parse_column_map(text: str) -> dict[str, str] | None:
    """``"user=listener, item=artist"`` -> ``{"user": "listener", "item": "artist"}``."""
    columns: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, name = part.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise DataError(f"column mapping expects role=name pairs, got {part!r}")
        columns[role.strip()] = name.strip()
    return columns or None
