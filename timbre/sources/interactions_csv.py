"""The generic interactions CSV reader: ``user, item[, weight][, timestamp]``, columns mappable."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Literal, cast

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import (
    Event,
    ImportBatch,
    ImportReport,
    ItemKind,
    check_dataset_name,
    link_key,
)
from timbre.sources.textio import (
    decode_text,
    drop_reasons,
    read_bytes,
    read_csv_text,
    sniff_separator,
)

#: Column role -> the names (lower-case) a column of that role is found by, best first.
_ROLE_NAMES = {
    "user": ("user", "user_id", "userid", "user_key", "listener", "username", "user_name"),
    "item": (
        "item",
        "item_id",
        "itemid",
        "item_key",
        "artist",
        "artist_name",
        "track",
        "track_name",
        "song",
        "title",
    ),
    "artist": ("artist", "artist_name", "track_artist"),
    "weight": ("weight", "count", "plays", "playcount", "play_count", "rating", "score"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "played_at", "utc_time"),
}


def read_interactions_csv(
    path: Path,
    dataset: str | None = None,
    columns: Mapping[str, str] | None = None,
    event: Event = "play",
    item_kind: ItemKind = "artist",
) -> ImportBatch:
    """Read a generic ``user, item[, weight][, timestamp]`` CSV (column names mappable).

    Rows with a missing user or item, a non-numeric, non-finite or negative weight, or an
    unparseable timestamp are dropped and counted; exact duplicate rows are dropped and counted.

    Parameters
    ----------
    path
        The CSV file (``.gz`` is fine); the separator is sniffed.
    dataset
        The data set name (default: the file name up to its first dot); it prefixes the keys.
    columns
        Role -> column name (``user``, ``item``, ``artist``, ``weight``, ``timestamp``);
        unmapped roles are found by their usual names.
    event
        The interactions' event (``play``, ``top``, ``love``, ``skip``).
    item_kind
        What the items are (``artist``, ``track``, ``album``).

    Returns
    -------
    ImportBatch
        Users, items and interactions of the data set.

    Raises
    ------
    DataError
        An empty or unreadable file, no user or item column, no usable rows, or a data set
        name (given, or the file name's) that is blank, unprintable or too long.
    """
    path = Path(path)
    if not dataset:
        hint = "the name comes from the file name; give one with --dataset NAME"
        dataset = check_dataset_name(path.name.split(".")[0], hint)
    else:
        check_dataset_name(dataset)
    report = ImportReport(source="csv", dataset=dataset)
    frame = read_csv_text(decode_text(read_bytes(path), path.name, report.warnings), path.name)
    if frame.empty:
        raise DataError(f"{path.name} has a header but no rows")
    roles = _resolve_columns(frame, columns, path.name)
    report.rows_read = len(frame)
    out = _usable_rows(frame, roles, report)
    if out.empty:
        raise DataError(f"{path.name} has no usable rows: {drop_reasons(report)}")
    report.accepted = len(out)
    return _interactions_batch(out, dataset, event, item_kind, report)


#: Files larger than this are read and written in chunks (bounded memory whatever the size).
STREAM_BYTES = 16 * 1024**2
#: Bytes of CSV text per chunk of a streamed file (about 400k ``user,artist,plays`` rows: a
#: few hundred MB of memory while it is parsed and written).
CHUNK_BYTES = 8 * 1024**2


class StreamClock:
    """How far a streamed import is: ``(fraction of the file, "N rows read (x%), R rows/s,
    about S s left")`` after each chunk, for the CLI's stderr line and the app's progress bar."""

    def __init__(self, chunks: CsvChunks) -> None:
        self.chunks = chunks
        self.started = time.perf_counter()

    def __call__(self, report: ImportReport) -> tuple[float, str]:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        share = max(self.chunks.fraction, 1e-9)
        left = seconds * (1 - share) / share
        return share, (
            f"{report.rows_read:,} rows read ({share:.0%} of the file), "
            f"{report.rows_read / seconds:,.0f} rows/s, about {left:,.0f} s left"
        )


class CsvChunks:
    """A large interactions CSV read in chunks of about ``chunk_bytes`` (whole lines), each an
    :class:`ImportBatch` sharing one report; ``fraction`` is how much of the file was read.

    Each chunk is parsed exactly as a whole file is (:func:`read_interactions_csv`, the header
    and separator of the first line); rows are dropped and counted per chunk, so an exact
    duplicate row is dropped only within its chunk (across chunks the store sums the two, as
    for any repeated key). ``.gz`` files are read as they are decompressed.
    """

    def __init__(
        self,
        path: Path,
        dataset: str | None = None,
        columns: Mapping[str, str] | None = None,
        event: Event = "play",
        item_kind: ItemKind = "artist",
        chunk_bytes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.dataset = dataset or self.path.name.split(".")[0]
        self.columns, self.event, self.item_kind = columns, event, item_kind
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.report = ImportReport(source="csv", dataset=self.dataset)
        self.size = max(1, self.path.stat().st_size)
        self.fraction = 0.0

    def __iter__(self) -> Iterator[ImportBatch]:
        opener = gzip.open if self.path.name.endswith(".gz") else open
        try:
            with opener(self.path, "rb") as raw:
                yield from self._batches(cast(IO[bytes], raw))
        except (OSError, EOFError) as exc:
            raise DataError(f"cannot read {self.path.name}: {exc}") from None

    def _batches(self, raw: IO[bytes]) -> Iterator[ImportBatch]:
        header = raw.readline()
        if not header.strip():
            raise DataError(f"{self.path.name} is empty")
        head = decode_text(header, self.path.name, self.report.warnings)
        sep = sniff_separator(head.strip().splitlines()[0])
        produced = False
        for block in _line_blocks(raw, self.chunk_bytes):
            self.fraction = min(1.0, _position(raw) / self.size)
            text = head + decode_text(block, self.path.name, self.report.warnings)
            batch = self._batch(read_csv_text(text, self.path.name, sep=sep))
            if batch is not None:
                produced = True
                yield batch
        if not produced:
            raise DataError(f"{self.path.name} has no usable rows: {drop_reasons(self.report)}")

    def _batch(self, frame: pd.DataFrame) -> ImportBatch | None:
        roles = _resolve_columns(frame, self.columns, self.path.name)
        self.report.rows_read += len(frame)
        out = _usable_rows(frame, roles, self.report)
        if out.empty:
            return None
        self.report.accepted += len(out)
        return _interactions_batch(out, self.dataset, self.event, self.item_kind, self.report)


def _position(raw: IO[bytes]) -> int:
    """Bytes of the file read so far (of the compressed file, for a ``.gz``)."""
    inner = getattr(raw, "fileobj", None)
    return int((inner if inner is not None else raw).tell())


def _line_blocks(raw: IO[bytes], size: int) -> Iterator[bytes]:
    """Blocks of about ``size`` bytes that end at a line end outside quotes."""
    carry = b""
    while True:
        block = raw.read(size)
        if not block:
            if carry.strip():
                yield carry
            return
        block = carry + block
        cut = block.rfind(b"\n")
        while cut >= 0 and block.count(b'"', 0, cut) % 2:  # a quoted line break: cut earlier
            cut = block.rfind(b"\n", 0, cut)
        if cut < 0:
            carry = block
            continue
        carry = block[cut + 1 :]
        yield block[: cut + 1]


def _resolve_columns(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, name: str
) -> dict[str, str]:
    lowered = {c.lower(): c for c in frame.columns}
    chosen: dict[str, str] = {}
    unknown_roles = set(columns or {}) - set(_ROLE_NAMES)
    if unknown_roles:
        raise DataError(
            f"unknown column role(s) {sorted(unknown_roles)}; use user, item, "
            "artist, weight, timestamp"
        )
    for role, wanted in (columns or {}).items():
        if wanted not in frame.columns:
            raise DataError(
                f"{name} has no column {wanted!r} (mapped to {role}); columns are "
                f"{', '.join(frame.columns)}"
            )
        chosen[role] = wanted
    for role, candidates in _ROLE_NAMES.items():
        if role in chosen:
            continue
        for candidate in candidates:
            column = lowered.get(candidate)
            if column is not None and column not in chosen.values():
                chosen[role] = column
                break
    for role in ("user", "item"):
        if role not in chosen:
            raise DataError(
                f"{name} has no {role} column (looked for "
                f"{', '.join(_ROLE_NAMES[role][:5])}, ...); columns are "
                f"{', '.join(frame.columns)}; map one with {role}=NAME"
            )
    return chosen


def _usable_rows(frame: pd.DataFrame, roles: dict[str, str], report: ImportReport) -> pd.DataFrame:
    """``user, item, weight, timestamp[, artist]`` of the rows that are kept, duplicates out."""
    user = frame[roles["user"]].astype("string").str.strip()
    item = frame[roles["item"]].astype("string").str.strip()
    keep = user.notna() & item.notna() & (user != "") & (item != "")
    report.drop("missing user or item", int((~keep).sum()))
    weight = pd.Series(1.0, index=frame.index)
    if "weight" in roles:
        weight, keep = _weights(frame[roles["weight"]], keep, report)
    stamps = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if "timestamp" in roles:
        stamps = _parse_times(frame[roles["timestamp"]])
        bad_time = keep & stamps.isna() & frame[roles["timestamp"]].notna()
        report.drop("unparseable timestamp", int(bad_time.sum()))
        keep &= ~bad_time
    out = pd.DataFrame({"user": user, "item": item, "weight": weight, "timestamp": stamps})[keep]
    if "artist" in roles and roles["artist"] != roles["item"]:
        out["artist"] = frame[roles["artist"]].astype("string")[keep]
    dupes = out.duplicated()
    report.drop("duplicate row", int(dupes.sum()))
    return out[~dupes]


def _weights(raw: pd.Series, keep: pd.Series, report: ImportReport) -> tuple[pd.Series, pd.Series]:
    """The weights, and ``keep`` without the rows whose weight is not a non-negative number."""
    weight = pd.to_numeric(raw, errors="coerce")
    spelled_nan = raw.astype("string").str.strip().str.lower().isin(["nan", "+nan", "-nan"])
    non_numeric = keep & weight.isna() & ~spelled_nan.fillna(False)
    report.drop("non-numeric weight", int(non_numeric.sum()))
    non_finite = keep & ~non_numeric & ~np.isfinite(weight.fillna(np.nan))
    report.drop("non-finite weight (NaN or infinite)", int(non_finite.sum()))
    negative = keep & weight.notna() & np.isfinite(weight.fillna(0)) & (weight < 0)
    report.drop("negative weight", int(negative.sum()))
    return weight, keep & ~(non_numeric | non_finite | negative)


def _interactions_batch(
    out: pd.DataFrame, dataset: str, event: Event, item_kind: ItemKind, report: ImportReport
) -> ImportBatch:
    """The kept rows as a batch: keys ``<dataset>:user:<user>`` and ``<dataset>:item:<item>``."""
    item_names = out.drop_duplicates("item")
    artists = (
        item_names["artist"] if "artist" in item_names else pd.Series(None, index=item_names.index)
    )
    items = pd.DataFrame(
        {
            "key": f"{dataset}:item:" + item_names["item"].astype(str),
            "kind": item_kind,
            "name": item_names["item"].astype(str).to_numpy(),
            "artist": artists.to_numpy(),
            "link_key": [
                link_key(item_kind, n, a if isinstance(a, str) else None)
                for n, a in zip(item_names["item"], artists, strict=True)
            ],
        }
    )
    user_names = out["user"].drop_duplicates()
    users = pd.DataFrame(
        {
            "key": f"{dataset}:user:" + user_names.astype(str),
            "name": user_names.astype(str).to_numpy(),
        }
    )
    interactions = pd.DataFrame(
        {
            "user_key": f"{dataset}:user:" + out["user"].astype(str),
            "item_key": f"{dataset}:item:" + out["item"].astype(str),
            "event": event,
            "weight": out["weight"].astype(float).to_numpy(),
            "timestamp": out["timestamp"].to_numpy(),
        }
    )
    return ImportBatch(
        dataset=dataset,
        source="csv",
        report=report,
        items=items,
        users=users,
        interactions=interactions,
    )


def _parse_times(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and len(numeric):
        unit: Literal["ms", "s"] = "ms" if numeric.max() > 10**11 else "s"
        return pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
    return pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
