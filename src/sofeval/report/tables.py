"""Published tables as files: CSVs and the formatted Excel workbook.

Determinism: equal inputs give byte-identical files. CSVs use a fixed float format
(:data:`CSV_FLOAT_FORMAT`, 10 significant digits) and LF line endings; the workbook holds the
same numbers (floats rounded to the CSVs' digits by :func:`round_floats`, so the last
digits of a BLAS-dependent sum do not reach it), fixed document timestamps, and its zip
archive is rewritten with fixed entry timestamps (:data:`FIXED_TIMESTAMP`).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sofeval.errors import check_option
from sofeval.report.disclosure import (
    auto_disclose,
    check_threshold,
    suppressed_mask,
)
from sofeval.report.formatting import EXCEL_FORMATS, column_kind, format_rows
from sofeval.report.labels import LANGS, Lang, column_header

#: Fixed timestamp written into the workbook (document properties and zip entries).
FIXED_TIMESTAMP = dt.datetime(2000, 1, 1, 0, 0, 0)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

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


_CORE_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _fix_zip(data: bytes) -> bytes:
    """Rewrite an xlsx archive deterministically.

    openpyxl stamps the current time twice: every zip entry's date and, in
    ``openpyxl.writer.excel.save_workbook``, ``dcterms:modified`` in
    ``docProps/core.xml`` (overriding ``wb.properties.modified``). Both are replaced
    by fixed values here.
    """
    fixed = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            new.compress_type = zipfile.ZIP_DEFLATED
            new.external_attr = 0o600 << 16
            new.create_system = 3
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_MODIFIED.sub(rb"\g<1>" + fixed + rb"\g<2>", content)
            dst.writestr(new, content)
    return buf.getvalue()


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
    from openpyxl.styles import Alignment, Font

    check_option("lang", lang, LANGS)
    check_threshold(threshold)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        book = writer.book
        book.properties.created = FIXED_TIMESTAMP
        book.properties.modified = FIXED_TIMESTAMP
        book.properties.creator = "sofeval"
        for name, frame in tables.items():
            sheet_name = name[:31]
            shown = round_floats(auto_disclose(frame, threshold))
            mask = suppressed_mask(shown)
            kinds = [column_kind(str(c), shown[c]) for c in shown.columns]
            texts = format_rows(shown, lang, threshold)
            export = shown.copy()
            export.columns = [column_header(str(c), lang) for c in shown.columns]
            export.to_excel(writer, sheet_name=sheet_name, index=False)
            ws = writer.sheets[sheet_name]
            ws.freeze_panes = "A2"
            for j, col in enumerate(export.columns):
                head = ws.cell(row=1, column=j + 1)
                head.font = Font(bold=True)
                head.alignment = Alignment(horizontal="center", wrap_text=True)
                width = max([len(str(col))] + [len(r[j].text) for r in texts])
                letter = head.column_letter
                ws.column_dimensions[letter].width = min(max(width + 2, 8), 40)
                fmt = EXCEL_FORMATS.get(kinds[j])
                for i in range(len(shown)):
                    cell = ws.cell(row=i + 2, column=j + 1)
                    if mask[i, j]:
                        cell.value = texts[i][j].text
                        cell.alignment = Alignment(horizontal="right")
                    elif fmt is not None:
                        cell.number_format = fmt
    out.write_bytes(_fix_zip(buf.getvalue()))
    return out
