"""CSV files written for people, made safe to open in a spreadsheet.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets ("CSV injection", OWASP: https://owasp.org/www-community/attacks/CSV_Injection).
Every text cell, column name and index label that could hold text from outside (ids and names from uploaded
files, API bodies, telemetry) is prefixed with a single quote, which spreadsheets show as text and do not run; a
cell that is a plain number (``-3.5``, ``+1e3``) is left as it is. Numeric columns are never touched. Carriage
returns inside text become line feeds (see :func:`safe_cell`).

Machine-exchange files that must round-trip exactly (the BattLeDIM layout and submissions read back by
``suvar.leaks.io``) are not "for people" and are written unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading single quote when it is text a spreadsheet would run as a formula.

    A carriage return inside text becomes a line feed: Python's CSV writer (and pandas') leaves a field with a
    bare CR unquoted, and a spreadsheet starts a new row there, whose first cell could be a formula; a field
    with a line feed is always quoted.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _is_text(dtype: Any) -> bool:
    return pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype)


def _safe_index(index: pd.Index) -> pd.Index:
    """Labels and names of an index (they become header cells and first-column cells)."""
    if isinstance(index, pd.MultiIndex):
        index = index.set_levels([_safe_index(level) for level in index.levels])
    elif _is_text(index.dtype):
        index = index.map(safe_cell)
    return index.set_names([safe_cell(n) for n in index.names])


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels are safe (see :func:`safe_cell`)."""
    out = frame.copy()
    for i, dtype in enumerate(out.dtypes):
        if _is_text(dtype):
            column = out.iloc[:, i]
            out.isetitem(i, column.astype(object).map(safe_cell))
    out.columns = _safe_index(out.columns)
    out.index = _safe_index(out.index)
    return out


def to_csv(frame: pd.DataFrame, path: str | Path | None = None, **kwargs: Any) -> str | None:
    """``frame.to_csv(path, **kwargs)`` after :func:`neutralise`: the one way to write a CSV for people."""
    return neutralise(frame).to_csv(path, **kwargs)
