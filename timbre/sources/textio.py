"""Reading untrusted input safely: decoding, binary detection, CSV sniffing, zip members."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportReport

#: Largest total uncompressed size read from one zip (bytes).
MAX_ZIP_BYTES = 512 * 1024**2
#: Most members a zip may hold.
MAX_ZIP_MEMBERS = 10_000
#: A member whose declared size is this many times its compressed size is refused (zip bomb).
MAX_COMPRESSION_RATIO = 1_000
_READ_CHUNK = 1024**2


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends with ``.gz``.

    Raises
    ------
    DataError
        A missing or unreadable file, or a corrupt ``.gz``.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path.name} is not a valid gzip file ({exc})") from None
    return raw


def looks_binary(data: bytes) -> bool:
    """True for data with NUL bytes or mostly control characters in its first 8 KiB."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    if not head:
        return False
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control / len(head) > 0.05


def decode_text(data: bytes, name: str, warnings: list[str] | None = None) -> str:
    """Decode text: UTF-8 (a BOM is removed); otherwise Latin-1, with a warning recorded.

    Raises
    ------
    DataError
        Binary data (``name`` is "not a text file").
    """
    if looks_binary(data):
        raise DataError(f"{name} is not a text CSV/JSON file (it looks binary)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if warnings is not None:
            warnings.append(f"{name} is not valid UTF-8 (byte {exc.start}); decoded as Latin-1")
        return data.decode("latin-1")


def sniff_separator(first_line: str) -> str:
    """The most frequent of ``,``, ``;`` and tab in the header line (``,`` by default)."""
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def first_row(text: str) -> list[str]:
    """The first CSV row with a non-blank cell, its cells stripped (``[]`` for none).

    Examples
    --------
    >>> first_row(" uts , utc_time")
    ['uts', 'utc_time']
    """
    for row in csv.reader(io.StringIO(text)):
        if any(cell.strip() for cell in row):
            return [cell.strip() for cell in row]
    return []


def drop_reasons(report: ImportReport) -> str:
    """Why nothing was left of an input: each reason rows were dropped for, with its count.

    Examples
    --------
    >>> report = ImportReport(source="csv", dataset="plays")
    >>> report.drop("missing user or item", 3)
    >>> drop_reasons(report)
    '3 missing user or item'
    """
    if not report.dropped:
        return "nothing left after reading"
    return "; ".join(f"{n:,} {reason}" for reason, n in sorted(report.dropped.items()))


def read_csv_text(
    text: str,
    name: str,
    header: bool = True,
    sep: str | None = None,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Parse CSV text into a frame of strings; CRLF and a BOM are fine.

    Raises
    ------
    DataError
        An empty file, or a file the CSV parser cannot read (the message names the file).
    """
    stripped = text.strip()
    if not stripped:
        raise DataError(f"{name} is empty")
    first = stripped.splitlines()[0]
    separator = sep or sniff_separator(first)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            header=0 if header else None,
            names=names,
            skipinitialspace=True,
            on_bad_lines="error",
            quoting=csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        message = str(exc).splitlines()[0]
        raise DataError(f"{name} is not a readable CSV: {message}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


@dataclass(frozen=True)
class Member:
    """One file read from a zip (never extracted to disk)."""

    name: str
    data: bytes


def read_zip(
    path: Path, wanted: Callable[[str], bool], max_bytes: int = MAX_ZIP_BYTES
) -> list[Member]:
    """Read the members of a zip whose base name ``wanted(name)`` accepts, in memory.

    Every member name is checked (no absolute paths, no ``..``), the declared total size and the
    member count are bounded before anything is read, and bytes are counted while reading so a
    member that unpacks to more than it declared is refused.

    Raises
    ------
    DataError
        A corrupt zip, an unsafe member path, too many members, or too much data.
    """
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path.name} is not a valid zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise DataError(
                f"{path.name} holds {len(infos):,} files, more than the {MAX_ZIP_MEMBERS:,} allowed"
            )
        for info in infos:
            member = PurePosixPath(info.filename.replace("\\", "/"))
            if (
                member.is_absolute()
                or ".." in member.parts
                or (info.filename[1:3] == ":/" or info.filename[1:3] == ":\\")
            ):
                raise DataError(
                    f"{path.name} contains an unsafe path {info.filename!r} "
                    "(absolute or with '..'); refusing to read it"
                )
        chosen = [i for i in infos if not i.is_dir() and wanted(PurePosixPath(i.filename).name)]
        declared = sum(i.file_size for i in chosen)
        if declared > max_bytes:
            raise DataError(
                f"{path.name} would unpack to {declared / 1024**2:,.1f} MiB, more "
                f"than the {max_bytes / 1024**2:,.1f} MiB limit"
            )
        members = []
        total = 0
        for info in chosen:
            if (
                info.compress_size
                and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO
                and info.file_size > 1024**2
            ):
                raise DataError(
                    f"{path.name}: member {info.filename!r} is compressed "
                    f"{info.file_size // info.compress_size:,} to 1 (a zip bomb?)"
                )
            buffer = bytearray()
            try:
                with archive.open(info) as handle:
                    while chunk := handle.read(_READ_CHUNK):
                        buffer += chunk
                        total += len(chunk)
                        if len(buffer) > info.file_size or total > max_bytes:
                            raise DataError(
                                f"{path.name}: member {info.filename!r} unpacks to "
                                "more than it declares or than the size limit"
                            )
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(
                    f"{path.name}: member {info.filename!r} is corrupt ({exc})"
                ) from None
            members.append(Member(info.filename, bytes(buffer)))
        return members
