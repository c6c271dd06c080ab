"""Cell formatting shared by the Excel workbook and the HTML report.

A column's *kind* (count, p-value, share, percent change, boolean, float or text) decides
how its values are written; Danish output uses a decimal comma and a thousands point, and
every minus sign is the typographic minus. Suppressed cells (see
:mod:`sofeval.report.disclosure`) are written as the suppression marker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sofeval.report.disclosure import (
    SECONDARY_MARKER,
    is_count_column,
    is_key_column,
    secondary_mask,
    suppressed_mask,
    suppression_marker,
)
from sofeval.report.labels import label

_P_COLUMNS = frozenset({"p_value", "p_wild", "p_ri", "p_holm", "q_bh", "p_placebo"})
_SHARE_COLUMNS = frozenset({"share", "share_v23"})
_DA_DIGITS = str.maketrans(",.", ".,")

#: Excel number format per column kind.
EXCEL_FORMATS: dict[str, str] = {
    "count": "#,##0",
    "p": "0.000",
    "share": "0.0%",
    "pct": "0.00",
    "float": "0.000",
}


def column_kind(column: str, series: pd.Series) -> str:
    """The kind of a column: ``count``, ``p``, ``share``, ``pct``, ``bool``, ``float`` or ``text``.

    Parameters
    ----------
    column
        Column name (the name decides first: counts, p-values, shares, percent changes).
    series
        The column's values (the dtype decides for other names).

    Returns
    -------
    str
        The kind.
    """
    if is_count_column(column):
        return "count"
    if column in _P_COLUMNS or column.startswith("p_"):
        return "p"
    if column in _SHARE_COLUMNS or column.startswith("share"):
        return "share"
    if column.endswith("_pct") or column.startswith("pct_"):
        return "pct"
    if series.dtype == bool or column in ("meets_target", "in_window"):
        return "bool"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "count"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "float"
    return "text"


def format_value(value: Any, kind: str, lang: str) -> str:
    """Format one value of a column of ``kind`` for a reader of ``lang``.

    Parameters
    ----------
    value
        The value (missing values give ``""``).
    kind
        Column kind from :func:`column_kind`.
    lang
        ``"en"`` or ``"da"`` (decimal comma, ``ja``/``nej``).

    Returns
    -------
    str
        The text (counts with thousands separators, p-values to 3 decimals or
        ``<0.001``, shares in %, typographic minus).
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if kind == "bool" or isinstance(value, (bool, np.bool_)):
        return label("yes" if bool(value) else "no", lang)
    if kind == "text" or isinstance(value, str):
        return str(value)
    x = float(value)
    if kind == "count":
        text = f"{x:,.0f}"
    elif kind == "p":
        text = "<0.001" if x < 0.001 else f"{x:.3f}"
    elif kind == "share":
        text = f"{100 * x:.1f} %"
    elif kind == "pct":
        text = f"{x:.2f}"
    else:
        text = f"{x:.3f}"
    if lang == "da":
        text = text.translate(_DA_DIGITS)
    return text.replace("-", "−")


@dataclass(frozen=True)
class FormattedCell:
    """One formatted table cell.

    Attributes
    ----------
    text
        The text shown (``"<5"`` for a small count and the statistics of its row,
        ``".."`` for a cell suppressed to protect a small cell elsewhere).
    numeric
        Whether the column is numeric (right-aligned).
    """

    text: str
    numeric: bool


_NUMBER_FORMATS: dict[str, Callable[[float], str]] = {
    "count": lambda x: f"{x:,.0f}",
    "p": lambda x: "<0.001" if x < 0.001 else f"{x:.3f}",
    "share": lambda x: f"{100 * x:.1f} %",
    "pct": lambda x: f"{x:.2f}",
    "float": lambda x: f"{x:.3f}",
}


def _column_texts(values: pd.Series, kind: str, lang: str) -> list[str]:
    """:func:`format_value` of every value of one column (numbers in one pass)."""
    dtype = values.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    extension = isinstance(dtype, pd.api.extensions.ExtensionDtype)
    if not numeric or extension or kind not in _NUMBER_FORMATS:
        return [format_value(v, kind, lang) for v in values.tolist()]
    fmt = _NUMBER_FORMATS[kind]
    texts = ["" if x != x else fmt(x) for x in values.to_numpy(dtype=float).tolist()]
    if lang == "da":
        texts = [t.translate(_DA_DIGITS) for t in texts]
    return [t.replace("-", "−") for t in texts]


def format_columns(
    frame: pd.DataFrame,
    lang: str,
    threshold: int,
    translate: Callable[[str], str] | None = None,
) -> list[list[str]]:
    """Format a (disclosed) frame column by column into texts with suppression markers.

    The texts of :func:`format_rows`, one list per column.

    Parameters
    ----------
    frame
        Table, typically from :func:`sofeval.report.disclosure.disclose`.
    lang
        ``"en"`` or ``"da"``.
    threshold
        Threshold quoted in the marker when the frame records none.
    translate
        Applied to the text values of key columns (see :func:`format_rows`).

    Returns
    -------
    list of list of str
        One list per column, one text per row.
    """
    mask = suppressed_mask(frame)
    second = secondary_mask(frame)
    marker = suppression_marker(frame, threshold)
    columns: list[list[str]] = []
    for j, c in enumerate(frame.columns):
        values = frame.iloc[:, j]
        texts = _column_texts(values, column_kind(str(c), values), lang)
        if is_key_column(str(c)) and translate is not None:
            texts = [
                translate(t) if isinstance(v, str) else t
                for t, v in zip(texts, values.tolist(), strict=True)
            ]
        for i in np.flatnonzero(mask[:, j] | second[:, j]):
            texts[i] = SECONDARY_MARKER if second[i, j] else marker
        columns.append(texts)
    return columns


def format_rows(
    frame: pd.DataFrame,
    lang: str,
    threshold: int,
    translate: Callable[[str], str] | None = None,
) -> list[list[FormattedCell]]:
    """Format a (disclosed) frame into text cells with suppression markers.

    Parameters
    ----------
    frame
        Table, typically from :func:`sofeval.report.disclosure.disclose`.
    lang
        ``"en"`` or ``"da"``.
    threshold
        Threshold quoted in the marker when the frame records none.
    translate
        Applied to the text values of key columns (estimand, window, item, ...), for
        example :func:`sofeval.report.labels.label` in the report's language.

    Returns
    -------
    list of list of FormattedCell
        One list per row, one cell per column.
    """
    numeric = [
        column_kind(str(c), frame.iloc[:, j]) not in ("text", "bool")
        for j, c in enumerate(frame.columns)
    ]
    columns = format_columns(frame, lang, threshold, translate)
    if not columns:
        return [[] for _ in range(len(frame))]
    return [
        [FormattedCell(text, numeric[j]) for j, text in enumerate(row)]
        for row in zip(*columns, strict=True)
    ]
