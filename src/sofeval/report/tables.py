"""Published tables as files: CSVs and the formatted Excel workbook.

Determinism: equal inputs give byte-identical files. CSVs use a fixed float format
(:data:`CSV_FLOAT_FORMAT`, 10 significant digits) and LF line endings; the workbook holds the
same numbers (floats rounded to the CSVs' digits by :func:`round_floats`, so the last
digits of a BLAS-dependent sum do not reach it), a fixed document timestamp
(:data:`FIXED_TIMESTAMP`) and xlsxwriter's fixed zip entry dates.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sofeval.errors import check_option
from sofeval.report.disclosure import (
    auto_disclose,
    check_threshold,
    suppressed_mask,
)
from sofeval.report.formatting import EXCEL_FORMATS, column_kind, format_columns
from sofeval.report.labels import LANGS, Lang, column_header

#: Fixed timestamp written into the workbook's document properties (created, modified).
FIXED_TIMESTAMP = dt.datetime(2000, 1, 1, 0, 0, 0)

#: Float format of every published CSV: 10 significant digits. Floats computed with
#: multithreaded BLAS can differ in their last bits between thread counts; 10 digits keep
#: the files identical while losing nothing a reader needs.
CSV_FLOAT_FORMAT = "%.10g"


def round_array(values: np.ndarray) -> np.ndarray:
    """The floats of ``values`` as the CSVs write them: ``float(CSV_FLOAT_FORMAT % x)``.

    Parameters
    ----------
    values
        Any float array (NaN and infinities are kept).

    Returns
    -------
    numpy.ndarray
        A new array of the same shape.
    """
    arr = np.array(values, dtype=float)
    finite = np.isfinite(arr)
    arr[finite] = np.char.mod(CSV_FLOAT_FORMAT, arr[finite]).astype(float)
    return arr


def round_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose float columns hold the values the CSVs show.

    Each float ``x`` becomes ``float(CSV_FLOAT_FORMAT % x)``: the number a reader of the CSV
    gets back, so the workbook and the CSVs agree digit for digit.

    Parameters
    ----------
    frame
        A table (its ``attrs``, e.g. the suppressed cells, are kept).

    Returns
    -------
    pandas.DataFrame
    """
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_float_dtype(values.dtype):
            arr = round_array(values.to_numpy(dtype=float, na_value=np.nan))
            out[col] = pd.Series(arr, index=out.index).astype(values.dtype)
    return out


def write_csv_tables(
    out_dir: str | Path, tables: Mapping[str, pd.DataFrame], threshold: int = 5
) -> dict[str, Path]:
    """Write each table as ``<name>.csv`` after disclosure control.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    tables
        Table name → frame.
    threshold
        Disclosure threshold (see :func:`auto_disclose`); suppressed cells are empty.

    Returns
    -------
    dict of str to pathlib.Path
        Table name → written file. UTF-8, LF line endings, no index,
        ``float_format=CSV_FLOAT_FORMAT``: equal inputs give byte-identical files.
    """
    check_threshold(threshold)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        auto_disclose(frame, threshold).to_csv(
            path,
            index=False,
            float_format=CSV_FLOAT_FORMAT,
            lineterminator="\n",
            encoding="utf-8",
        )
        written[name] = path
    return written


def _cell_writer(sheet: Any, values: pd.Series) -> Callable[[int, int, Any, Any], None]:
    """The writer of one column's cells: numbers, booleans, text; missing values blank.

    Values are written as :meth:`pandas.DataFrame.to_excel` writes them: a missing value is
    an empty cell, an infinity the text ``inf`` / ``-inf``.
    """

    def write(row: int, col: int, value: Any, fmt: Any) -> None:
        if value is None or value is pd.NA or value is pd.NaT:
            sheet.write_blank(row, col, None, fmt)
        elif isinstance(value, (bool, np.bool_)):
            sheet.write_boolean(row, col, bool(value), fmt)
        elif isinstance(value, (int, float, np.integer, np.floating)):
            x = float(value)
            if np.isnan(x):
                sheet.write_blank(row, col, None, fmt)
            elif np.isinf(x):
                sheet.write_string(row, col, "inf" if x > 0 else "-inf", fmt)
            else:
                sheet.write_number(row, col, value, fmt)
        elif isinstance(value, (dt.datetime, dt.date)):
            sheet.write_datetime(row, col, value, fmt)
        else:
            sheet.write_string(row, col, str(value), fmt)

    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return lambda row, col, value, fmt: sheet.write_boolean(row, col, value, fmt)
    if pd.api.types.is_integer_dtype(values.dtype) and not values.hasnans:
        return lambda row, col, value, fmt: sheet.write_number(row, col, value, fmt)
    return write


#: Cell kinds of :func:`_cell_kinds`: a number, a blank (missing), the text ``inf`` /
#: ``-inf``, a hidden cell (its marker), a text.
_NUMBER, _BLANK, _INF, _HIDDEN, _TEXT = range(5)


def _cell_kinds(values: pd.Series, hidden: np.ndarray) -> np.ndarray | None:
    """The kind of every cell of a float, nullable-integer or all-text column, in one pass.

    ``None`` for other columns (written cell by cell by :func:`_cell_writer`). The kinds are
    those :func:`_cell_writer` gives the same values.
    """
    dtype = values.dtype
    if dtype.kind == "f" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        x = values.to_numpy()
        kinds = np.where(np.isnan(x), _BLANK, np.where(np.isinf(x), _INF, _NUMBER))
    elif dtype.kind in "iu" and isinstance(dtype, pd.api.extensions.ExtensionDtype):
        kinds = np.where(values.isna().to_numpy(), _BLANK, _NUMBER)
    elif dtype.kind == "O" and pd.api.types.infer_dtype(values, skipna=False) == "string":
        kinds = np.full(len(values), _TEXT)
    else:
        return None
    kinds[hidden] = _HIDDEN
    return kinds


def _write_kinds(
    sheet: Any,
    col: int,
    values: list[Any],
    kinds: np.ndarray,
    texts: list[str],
    fmt: Any,
    hidden_fmt: Any,
) -> None:
    """Write one column whose cells are classified already (:func:`_cell_kinds`)."""
    for row, (value, kind) in enumerate(zip(values, kinds.tolist(), strict=True), start=1):
        if kind == _NUMBER:
            sheet.write_number(row, col, value, fmt)
        elif kind == _TEXT:
            sheet.write_string(row, col, value, fmt)
        elif kind == _BLANK:
            sheet.write_blank(row, col, None, fmt)
        elif kind == _INF:
            sheet.write_string(row, col, "inf" if value > 0 else "-inf", fmt)
        else:
            sheet.write_string(row, col, texts[row - 1], hidden_fmt)


def _write_sheet(
    book: Any,
    formats: Mapping[str, Any],
    name: str,
    frame: pd.DataFrame,
    threshold: int,
    lang: Lang,
) -> None:
    """Write one disclosed table column by column into a new sheet of ``book``."""
    sheet = book.add_worksheet(name[:31])
    shown = round_floats(auto_disclose(frame, threshold))
    mask = suppressed_mask(shown)
    texts = format_columns(shown, lang, threshold)
    sheet.freeze_panes(1, 0)
    for j, column in enumerate(shown.columns):
        header = column_header(str(column), lang)
        sheet.write_string(0, j, header, formats["header"])
        width = max([len(header)] + [len(text) for text in texts[j]])
        sheet.set_column(j, j, min(max(width + 2, 8), 40))
        fmt = formats.get(column_kind(str(column), shown[column]))
        values = shown[column]
        hidden = mask[:, j]
        kinds = _cell_kinds(values, hidden)
        if kinds is not None:
            _write_kinds(sheet, j, values.tolist(), kinds, texts[j], fmt, formats["hidden"])
            continue
        write = _cell_writer(sheet, values)
        for i, value in enumerate(values.tolist()):
            if hidden[i]:
                sheet.write_string(i + 1, j, texts[j][i], formats["hidden"])
            else:
                write(i + 1, j, value, fmt)


def write_workbook(
    path: str | Path,
    tables: Mapping[str, pd.DataFrame],
    *,
    threshold: int = 5,
    lang: Lang = "en",
) -> Path:
    """Write one formatted sheet per table to an ``.xlsx`` workbook.

    Each sheet has a bold, frozen header row (Danish column names for ``lang="da"``),
    column widths fitted to the content and number formats per column kind (counts
    ``#,##0``, coefficients ``0.000``, p-values ``0.000``, shares ``0.0%``, percent
    changes ``0.00``). Suppressed cells (see :func:`auto_disclose`) hold ``"<5"``. Floats
    are stored as the CSVs write them (:func:`round_floats`, 10 significant digits).
    The sheets are written column by column with xlsxwriter.

    Parameters
    ----------
    path
        Output file.
    tables
        Sheet name (truncated to 31 characters) → frame.
    threshold
        Disclosure threshold.
    lang
        Header language.

    Returns
    -------
    pathlib.Path
        The written file. The document timestamps are :data:`FIXED_TIMESTAMP` and the
        zip entries carry a fixed date, so equal inputs give byte-identical files.
    """
    import xlsxwriter

    check_option("lang", lang, LANGS)
    check_threshold(threshold)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # in_memory: the zip entries get xlsxwriter's fixed 1980 date; no text becomes a
    # formula or a link
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    book = xlsxwriter.Workbook(buf, options)
    book.set_properties({"author": "sofeval", "created": FIXED_TIMESTAMP})
    formats = {kind: book.add_format({"num_format": fmt}) for kind, fmt in EXCEL_FORMATS.items()}
    formats["header"] = book.add_format(
        {"bold": True, "align": "center", "valign": "top", "text_wrap": True, "border": 1}
    )
    formats["hidden"] = book.add_format({"align": "right"})
    for name, frame in tables.items():
        _write_sheet(book, formats, name, frame, threshold, lang)
    book.close()
    out.write_bytes(buf.getvalue())
    return out
