"""Import uploaded files through the one dispatcher and the store (Data page helper)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from timbre.errors import DataError
from timbre.records import ImportReport
from timbre.sources.files import Format, read_path
from timbre.store import Store


class Upload(Protocol):
    """What Streamlit's ``UploadedFile`` offers (and a test double can)."""

    name: str

    def getvalue(self) -> bytes: ...


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
    HetRec ``.dat`` files, or several ``StreamingHistory`` JSON files).
    """
    if not uploads:
        raise DataError("choose at least one file to import")
    with tempfile.TemporaryDirectory(prefix="timbre-upload-") as tmp:
        folder = Path(tmp)
        paths = []
        for upload in uploads:
            name = Path(upload.name).name  # never trust a client-side path
            if not name or name in {".", ".."}:
                raise DataError(f"upload has no usable file name: {upload.name!r}")
            path = folder / name
            path.write_bytes(upload.getvalue())
            paths.append(path)
        target = paths[0] if len(paths) == 1 else folder
        batch = read_path(
            target, fmt, dataset=dataset, user=user, min_play_ms=min_play_ms, columns=columns
        )
        return store.write_batch(batch)


def parse_column_map(text: str) -> dict[str, str] | None:
    """``"user=listener, item=artist"`` -> ``{"user": "listener", "item": "artist"}``."""
    columns: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, name = part.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise DataError(f"column mapping expects role=name pairs, got {part!r}")
        columns[role.strip()] = name.strip()
    return columns or None
