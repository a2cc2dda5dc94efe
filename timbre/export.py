"""CSV / Parquet writers: the one place tables leave Timbre as files (formula-injection safe)."""

from __future__ import annotations

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


def write_csv(
    frame: pd.DataFrame,
    path: str | Path,
    spreadsheet_safe: bool = True,
    comments: Sequence[str] = (),
) -> Path:
    """Write ``frame`` as UTF-8 CSV atomically (temporary file, then rename).

    Parameters
    ----------
    spreadsheet_safe
        Neutralise formula-like text cells (for files people open in a spreadsheet). Files
        meant for programs that must read ids back unchanged (evaluation splits) pass ``False``.
    comments
        Lines written first, each prefixed with ``# `` (how the file was made).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    table = neutralize_formulas(frame) if spreadsheet_safe else frame
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            for line in comments:
                stream.write(f"# {line}\n")
            table.to_csv(stream, index=False, lineterminator="\n")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
