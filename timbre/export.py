"""Every file that leaves Timbre: CSV / Parquet, formula-injection safe, with provenance."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from timbre.atomic import atomic_write

if TYPE_CHECKING:
    from timbre.evaluation import Experiment
    from timbre.hybrid import Filters
    from timbre.interactions import InteractionData

#: A spreadsheet treats a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: The longest comment line (or name in one) written into a file's header or sidecar.
MAX_COMMENT_CHARS = 500


def safe_line(text: object, limit: int = MAX_COMMENT_CHARS) -> str:
    """``text`` as one harmless line for a file's comments, headers or sidecar.

    Every character ``str.isprintable`` refuses (newline, carriage return, tab, NUL, a direction
    override such as U+202E) is written as its escape (``\\n``, ``\\u202e``), so a name can never
    start a line of its own (a CSV row a spreadsheet would run) nor reorder what is shown; text
    longer than ``limit`` characters is cut and ends with ``...``.

    Examples
    --------
    >>> print(safe_line("plays\\n=cmd|' /C calc'!A0"))
    plays\\n=cmd|' /C calc'!A0
    >>> safe_line("x" * 10, limit=6)
    'xxx...'
    """
    line = "".join(ch if ch.isprintable() else _escape(ch) for ch in str(text))
    return line if len(line) <= limit else line[: max(0, limit - 3)] + "..."


def _escape(ch: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
    return named.get(ch) or f"\\u{ord(ch):04x}"


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column headers that a spreadsheet would execute start with
    a ``'`` instead.

    Numbers are left alone (``-0.5`` in a float column stays a number).

    Examples
    --------
    >>> safe = neutralize_formulas(pd.DataFrame({"a": ["=1+1", "ok", "-x"], "b": [-1.0, 2, 3]}))
    >>> safe["a"].tolist(), safe["b"].tolist()
    (["'=1+1", 'ok', "'-x"], [-1.0, 2.0, 3.0])
    """
    out = frame.copy()
    out.columns = [_safe_text(str(c)) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            text = series.astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
            if risky.any():
                out[column] = series.where(~risky, "'" + text)
    return out


def _safe_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_text(
    frame: pd.DataFrame, spreadsheet_safe: bool = True, comments: Sequence[str] = ()
) -> str:
    """``frame`` as UTF-8 CSV text (what :func:`write_csv` writes; also for download buttons).

    Parameters
    ----------
    spreadsheet_safe
        Neutralise formula-like text cells (for files people open in a spreadsheet). Files
        meant for programs that must read ids back unchanged (evaluation splits) pass ``False``.
    comments
        Lines written first, each prefixed with ``# `` (how the file was made); each is made
        one harmless line by :func:`safe_line`, as are the column headers of a spreadsheet-safe
        file.
    """
    header = "".join(f"# {safe_line(line)}\n" for line in comments)
    return header + _csv_rows(frame, spreadsheet_safe)


def _csv_rows(frame: pd.DataFrame, spreadsheet_safe: bool = True, header: bool = True) -> str:
    """The rows of :func:`csv_text` (with the column names unless ``header`` is False)."""
    table = neutralize_formulas(frame) if spreadsheet_safe else frame
    if spreadsheet_safe:
        table.columns = [safe_line(c) for c in table.columns]
    # every text cell quoted: a carriage return or newline inside a name cannot split a row
    return table.to_csv(
        index=False, header=header, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC
    )


def write_csv(
    frame: pd.DataFrame,
    path: str | Path,
    spreadsheet_safe: bool = True,
    comments: Sequence[str] = (),
) -> Path:
    """Write :func:`csv_text` of ``frame`` to ``path`` atomically (temporary file, then rename)."""
    text = csv_text(frame, spreadsheet_safe, comments)
    return atomic_write(Path(path), lambda stream: stream.write(text.encode("utf-8")))


def parquet_bytes(frame: pd.DataFrame, comments: Sequence[str] = ()) -> bytes:
    """``frame`` as Parquet with the comment lines in the file's metadata (``made_with``).

    Text cells are kept exactly (Parquet is read by programs, not run by spreadsheets).
    """
    table = frame.copy()
    table.attrs["made_with"] = _made_with(comments)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _made_with(comments: Sequence[str]) -> list[str]:
    return [safe_line(line) for line in comments]


def _write_sidecar(target: Path, comments: Sequence[str]) -> None:
    """The comment lines of a Parquet file in its ``.json`` sidecar."""
    sidecar = json.dumps({"made_with": _made_with(comments)}, indent=2).encode("utf-8")
    atomic_write(target.with_suffix(".json"), lambda stream: stream.write(sidecar))


def write_parquet(frame: pd.DataFrame, path: str | Path, comments: Sequence[str] = ()) -> Path:
    """Write ``frame`` as Parquet atomically, with the comment lines in a ``.json`` sidecar too
    (readable without a Parquet library)."""
    target = Path(path)
    payload = parquet_bytes(frame, comments)
    atomic_write(target, lambda stream: stream.write(payload))
    _write_sidecar(target, comments)
    return target


def write_table(frame: pd.DataFrame, path: str | Path, comments: Sequence[str] = ()) -> Path:
    """Parquet when ``path`` ends in ``.parquet`` (plus a JSON sidecar), CSV otherwise."""
    if str(path).endswith(".parquet"):
        return write_parquet(frame, path, comments)
    return write_csv(frame, path, comments=comments)


#: Rows of a streamed export gathered before they are written (one Parquet row group).
STREAM_ROWS = 131_072


def write_table_stream(
    frames: Iterable[pd.DataFrame], path: str | Path, comments: Sequence[str] = ()
) -> int:
    """:func:`write_table` of ``frames`` one after the other (the same columns each), written
    as they come, so memory holds a few frames, never the whole table: Parquet row groups of
    about :data:`STREAM_ROWS` rows through one writer (the comment lines in its metadata and
    the sidecar, as :func:`write_parquet`), CSV appended a frame at a time (formulas
    neutralised, as :func:`write_csv`). The file appears complete or not at all (a temporary
    file in its folder, renamed once every row is in). Returns the number of rows written."""
    target = Path(path)
    parquet = str(path).endswith(".parquet")
    write = _parquet_stream if parquet else _csv_stream
    written: list[int] = []
    atomic_write(target, lambda stream: written.append(write(frames, stream, comments)))
    if parquet:
        _write_sidecar(target, comments)
    return written[0]


def _csv_stream(frames: Iterable[pd.DataFrame], stream: IO[bytes], comments: Sequence[str]) -> int:
    stream.write("".join(f"# {safe_line(line)}\n" for line in comments).encode("utf-8"))
    rows, first = 0, True
    for frame in frames:
        stream.write(_csv_rows(frame, header=first).encode("utf-8"))
        rows, first = rows + len(frame), False
    return rows


def _parquet_stream(
    frames: Iterable[pd.DataFrame], stream: IO[bytes], comments: Sequence[str]
) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    pending: list[pa.Table] = []
    rows = 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            if writer is None:  # the metadata pandas writes for DataFrame.attrs
                attrs = json.dumps({"made_with": _made_with(comments)})
                schema = table.schema.with_metadata(
                    {**(table.schema.metadata or {}), b"PANDAS_ATTRS": attrs.encode("utf-8")}
                )
                writer = pq.ParquetWriter(stream, schema)
                table = table.replace_schema_metadata(schema.metadata)
            pending.append(table)
            rows += len(frame)
            if sum(len(t) for t in pending) >= STREAM_ROWS:
                writer.write_table(pa.concat_tables(pending))
                pending = []
        if writer is not None and pending:
            writer.write_table(pa.concat_tables(pending))
    finally:
        if writer is not None:
            writer.close()
    return rows


def provenance(
    dataset: str,
    weights: Mapping[str, float],
    normalization: str,
    space: str,
    run: Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
    *,
    revision: tuple[int, str, int] | None = None,
    fingerprint: str | None = None,
    filters: Filters | None = None,
    profile: Mapping[str, float] | str | None = "",
) -> list[str]:
    """The comment lines that say how a recommendation export was made (every name in them
    made one harmless line by :func:`safe_line`): the Timbre version, the data set with its
    revision (``Store.dataset_revision``) and the data's fingerprint, the run, weights,
    normalisation, filters and the personality profile used (``None``: the listener has none;
    ``""``: not a single listener's list), then ``extra`` (seeds, group, notes)."""
    import timbre

    made = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    where = f"data set: {safe_line(dataset, 200)}"
    if revision is not None:
        where += f" (revision {revision[2]}, created {safe_line(revision[1], 40)})"
    if fingerprint:
        where += f"; data fingerprint {fingerprint}"
    lines = [
        f"Timbre {timbre.__version__} recommendations, {made} "
        "(read with pandas.read_csv(path, comment='#'))",
        where,
        "weights: " + ", ".join(f"{safe_line(k, 40)}={v:g}" for k, v in weights.items()),
        f"normalisation: {safe_line(normalization, 40)}; diversity (MMR) space: "
        f"{safe_line(space, 80)}",
    ]
    if run:
        params = ", ".join(f"{k}={v}" for k, v in sorted(dict(run.get("params") or {}).items()))
        lines.append(safe_line(f"cf model: run {run.get('id')} ({run.get('model')}), {params}"))
    if filters is not None:
        lines.append(safe_line(f"filters: {filters.text()}"))
    if profile is None:
        lines.append("personality profile: none (the personality component is 0)")
    elif not isinstance(profile, str):
        traits = ", ".join(f"{safe_line(t, 40)} {z:+.2f}" for t, z in profile.items())
        lines.append(f"personality profile (trait z-scores): {traits}")
    return [*lines, *(safe_line(line) for line in extra)]


def seeds_line(data: InteractionData, items: Sequence[int]) -> str:
    """The provenance line of a list made from seeds (next-track, a person's seed artists):
    each seed's name and id."""
    return "seeds: " + ", ".join(f"{data.item_name(i)} ({data.items.id(i)})" for i in items)


def group_line(members: Sequence[str], aggregate: str) -> str:
    """The provenance line of a group's list: who, and how their scores were combined."""
    return f"group: {', '.join(members)}; aggregation: {aggregate}"


def experiment_zip(experiment: Experiment) -> bytes:
    """An experiment's files as one zip for a download: ``train.csv`` and ``test.csv`` (its
    split, as ``--save-split`` writes them), ``per_user.csv`` (every test user's metrics per
    model) and ``recommendations.csv`` (each model's top-K lists), ids kept exactly."""
    from timbre.evaluation import per_user_frame, recommendation_frame, split_frames

    train, test = split_frames(experiment.split)
    files = {
        "train.csv": train,
        "test.csv": test,
        "per_user.csv": per_user_frame(experiment),
        "recommendations.csv": recommendation_frame(experiment),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in files.items():
            archive.writestr(name, csv_text(frame, spreadsheet_safe=False))
    return buffer.getvalue()
