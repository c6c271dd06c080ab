"""Disclosure control of published tables (DESIGN.md §5).

Disclosure rule
---------------
Danish register practice suppresses cells based on few persons. :func:`disclose`
suppresses every count in ``1 .. threshold-1`` (default: 1–4) and, in the same row,
the statistics that depend on it; a count of 0 is shown (it reveals no person), as
are counts ``>= threshold``. Suppressed cells are ``NaN``/``<NA>`` in numeric output
(the CSV files, where they are empty fields) and the marker ``"<5"`` (``"<threshold"``)
in the Excel workbook and the HTML report. Secondary suppression across rows (for
example recovering a cell from a published total) is *not* done; avoid publishing
totals next to suppressed rows.

Which cells were suppressed travels with the frame in ``frame.attrs`` as a frozenset of
``(index label, column)`` pairs, so formatters can tell a suppressed cell from a
missing one (:func:`suppressed_mask`, :func:`suppression_marker`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sofeval.errors import OptionError, SofevalError

#: ``frame.attrs`` key of the suppressed ``(index label, column)`` pairs.
SUPPRESSED_ATTR = "sofeval_suppressed"

#: ``frame.attrs`` key of the threshold a frame was disclosed with.
THRESHOLD_ATTR = "sofeval_disclosure_threshold"

#: Column names treated as person counts by the writers (besides any ``n_*`` column).
COUNT_COLUMNS: frozenset[str] = frozenset(
    "n_spells n_events n_persons n_rows first_meetings workplace_meetings at_risk event".split()
)


class _CellSet(frozenset):  # type: ignore[type-arg]
    """An immutable set of suppressed cells that pandas need not deep-copy.

    pandas deep-copies ``DataFrame.attrs`` on every derived frame; for a frozen set that
    copy is pure overhead (it dominated report writing in the profile).
    """

    def __copy__(self) -> _CellSet:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _CellSet:
        return self


def check_threshold(threshold: int) -> None:
    """Raise :class:`~sofeval.errors.OptionError` unless ``threshold`` is an integer >= 1.

    Parameters
    ----------
    threshold
        Disclosure threshold (smallest count that may be shown).

    Raises
    ------
    OptionError
        If ``threshold`` is not an integer >= 1.
    """
    if not isinstance(threshold, (int, np.integer)) or isinstance(threshold, bool) or threshold < 1:
        raise OptionError(f"threshold={threshold!r} must be an integer >= 1 (default 5).")


def disclose(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    threshold: int = 5,
    *,
    dependent_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Suppress small counts (``1 <= count < threshold``) and the statistics that depend on them.

    Parameters
    ----------
    frame
        Table to publish (not modified).
    count_columns
        Columns holding counts of persons (or spells, events, meetings).
    threshold
        Smallest count that may be shown; counts ``1 .. threshold-1`` are suppressed,
        0 is shown.
    dependent_columns
        Statistic columns suppressed in every row where any count was suppressed.

    Returns
    -------
    pandas.DataFrame
        A copy with suppressed cells set to missing (integer count columns become
        nullable ``Int64``) and the suppressed ``(index, column)`` pairs recorded in
        ``attrs["sofeval_suppressed"]`` (merged with those of earlier calls).

    Raises
    ------
    SofevalError
        If a named column is missing.
    OptionError
        If ``threshold`` is not an integer >= 1.
    """
    check_threshold(threshold)
    dependents = list(dependent_columns or ())
    missing = [c for c in [*count_columns, *dependents] if c not in frame.columns]
    if missing:
        raise SofevalError(
            f"disclose: column(s) {missing} not in the table (columns: {list(frame.columns)}); "
            "pass the names of existing count and statistic columns."
        )
    out = frame.copy()
    if not out.index.is_unique:
        out = out.reset_index(drop=True)
    prior = frame.attrs.get(SUPPRESSED_ATTR, frozenset()) if frame.index.is_unique else frozenset()
    cells: set[tuple[Any, str]] = set(prior)
    row_small = pd.Series(False, index=out.index)
    for c in count_columns:
        values = pd.to_numeric(out[c], errors="coerce")
        in_range = ((values >= 1) & (values < threshold)).fillna(False)
        small = pd.Series(in_range.to_numpy(dtype=bool), index=out.index)
        row_small |= small
        if pd.api.types.is_integer_dtype(values.dtype):
            out[c] = values.astype("Int64").mask(small)
        else:
            out[c] = values.astype(float).mask(small)
        cells.update((i, c) for i in out.index[small.to_numpy()])
    for c in dependents:
        if row_small.any():
            col = out[c]
            if col.dtype == bool:
                col = col.astype(object)
            out[c] = col.mask(row_small)
        cells.update((i, c) for i in out.index[row_small.to_numpy()])
    out.attrs[SUPPRESSED_ATTR] = _CellSet(cells)
    out.attrs[THRESHOLD_ATTR] = int(threshold)
    return out


def is_count_column(column: str) -> bool:
    """Whether ``column`` holds counts of persons: in :data:`COUNT_COLUMNS` or named ``n_*``.

    Parameters
    ----------
    column
        Column name.

    Returns
    -------
    bool
        ``True`` for a count column.
    """
    return column in COUNT_COLUMNS or column.startswith("n_")


def auto_disclose(frame: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """Apply :func:`disclose` with the default rule of the writers.

    Count columns are those in :data:`COUNT_COLUMNS` or named ``n_*``; every other
    numeric or boolean column is a dependent statistic.

    Parameters
    ----------
    frame
        Table to publish.
    threshold
        Smallest count that may be shown.

    Returns
    -------
    pandas.DataFrame
        The disclosed copy.
    """
    counts = [str(c) for c in frame.columns if is_count_column(str(c))]
    dependents = [
        str(c)
        for c in frame.columns
        if str(c) not in counts
        and (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool)
    ]
    return disclose(frame, counts, threshold, dependent_columns=dependents)


def suppressed_mask(frame: pd.DataFrame) -> np.ndarray:
    """Boolean array (rows x columns) of the suppressed cells recorded in ``frame.attrs``.

    Parameters
    ----------
    frame
        A frame returned by :func:`disclose` (any other frame gives an all-false mask).

    Returns
    -------
    numpy.ndarray
        ``True`` where a cell was suppressed.
    """
    mask = np.zeros(frame.shape, dtype=bool)
    cells = frame.attrs.get(SUPPRESSED_ATTR, frozenset())
    if not cells or not frame.index.is_unique:
        return mask
    pos = {lab: i for i, lab in enumerate(frame.index)}
    cols = {str(c): j for j, c in enumerate(frame.columns)}
    for lab, col in cells:
        if lab in pos and col in cols:
            mask[pos[lab], cols[col]] = True
    return mask


def suppression_marker(frame: pd.DataFrame, threshold: int) -> str:
    """The marker shown for a suppressed cell: ``"<threshold"`` of the frame's disclosure.

    Parameters
    ----------
    frame
        A disclosed frame (its recorded threshold wins).
    threshold
        Threshold used when the frame records none.

    Returns
    -------
    str
        For example ``"<5"``.
    """
    return f"<{frame.attrs.get(THRESHOLD_ATTR, threshold)}"
