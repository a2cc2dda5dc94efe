"""CSV / Parquet writers: the one place tables leave Timbre as files (formula-injection safe)."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

#: A spreadsheet treats a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells that a spreadsheet would execute start with a ``'`` instead.

    Numbers are left alone (``-0.5`` in a float column stays a number).

    Examples
    --------
    >>> safe = neutralize_formulas(pd.DataFrame({"a": ["=1+1", "ok", "-x"], "b": [-1.0, 2, 3]}))
    >>> safe["a"].tolist(), safe["b"].tolist()
    (["'=1+1", 'ok', "'-x"], [-1.0, 2.0, 3.0])
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            text = series.astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
            if risky.any():
                out[column] = series.where(~risky, "'" + text)
    return out


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
        Lines written first, each prefixed with ``# `` (how the file was made).
    """
    table = neutralize_formulas(frame) if spreadsheet_safe else frame
    header = "".join(f"# {line}\n" for line in comments)
    # every text cell quoted: a carriage return or newline inside a name cannot split a row
    return header + table.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)


def write_csv(
    frame: pd.DataFrame,
    path: str | Path,
    spreadsheet_safe: bool = True,
    comments: Sequence[str] = (),
) -> Path:
    """Write :func:`csv_text` of ``frame`` to ``path`` atomically (temporary file, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = csv_text(frame, spreadsheet_safe, comments)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
