"""Disclosure control of published tables (DESIGN.md §5).

Disclosure rule
---------------
Danish register practice suppresses cells based on few persons. :func:`disclose`
suppresses every count in ``1 .. threshold-1`` (default: 1–4) and, in the same row,
the statistics that depend on it; a count of 0 is shown (it reveals no person), as
are counts ``>= threshold``. Suppressed cells are ``NaN``/``<NA>`` in numeric output
(the CSV files, where they are empty fields) and the marker ``"<5"`` (``"<threshold"``)
in the Excel workbook and the HTML report. Which columns are keys (never blanked), counts
or dependent statistics is named in :data:`KEY_COLUMNS` and :data:`COUNT_COLUMNS`.
Secondary suppression across tables that add up (so that no hidden cell can be recovered
from a published total) is :mod:`sofeval.report.secondary`.

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

#: ``frame.attrs`` key of the cells suppressed by secondary (complementary) suppression,
#: a subset of :data:`SUPPRESSED_ATTR` (see :mod:`sofeval.report.secondary`).
SECONDARY_ATTR = "sofeval_secondary"

#: Marker of a cell suppressed to protect a small cell elsewhere (secondary suppression).
SECONDARY_MARKER = ".."

#: Key columns: they identify a row (who, when, which estimand or subgroup) and are never
#: blanked, whatever their dtype. Checked before the count rule, so ``n_leads`` (a number
#: of event-study leads) and the numbers of months or jobcentres are keys, not counts.
KEY_COLUMNS: frozenset[str] = frozenset(
    """jobcentre month month_label half_year period programme in_window source week
    event_quarter estimand scope destination variable level horizon_weeks tau_weeks
    window window_start window_end item label table rule mediator group subgroup status
    year quarter flag n_leads n_jobcentres n_months n_months_in_window n_months_at_target
    n_clusters n_draws n_permutations df""".split()
)

#: Count columns besides every ``n_*`` column that is not a key: numbers of persons,
#: spells, events or meetings. Counts in ``1 .. threshold-1`` are suppressed.
COUNT_COLUMNS: frozenset[str] = frozenset(
    """n_spells n_events n_persons n_rows n_returns n_measure first_meetings
    workplace_meetings first_meetings_v23 workplace_meetings_v23 at_risk event events
    exits spells persons""".split()
)


class CellSet(frozenset):  # type: ignore[type-arg]
    """An immutable set of suppressed cells that pandas need not deep-copy.

    pandas deep-copies ``DataFrame.attrs`` on every derived frame; for a frozen set that
    copy is pure overhead (it dominated report writing in the profile).
    """

    def __copy__(self) -> CellSet:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> CellSet:
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
    out.attrs[SUPPRESSED_ATTR] = CellSet(cells)
    out.attrs[THRESHOLD_ATTR] = int(threshold)
    return out


def is_key_column(column: str) -> bool:
    """Whether ``column`` is a key (in :data:`KEY_COLUMNS`): never blanked.

    Parameters
    ----------
    column
        Column name.

    Returns
    -------
    bool
        ``True`` for a key column.
    """
    return column in KEY_COLUMNS


def is_count_column(column: str) -> bool:
    """Whether ``column`` holds counts of persons: in :data:`COUNT_COLUMNS` or ``n_*``.

    Key columns (:data:`KEY_COLUMNS`, for example ``n_leads`` or ``n_months``) are not
    counts.

    Parameters
    ----------
    column
        Column name.

    Returns
    -------
    bool
        ``True`` for a count column.
    """
    if is_key_column(column):
        return False
    return column in COUNT_COLUMNS or column.startswith("n_")


def auto_disclose(
    frame: pd.DataFrame,
    threshold: int = 5,
    *,
    count_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Apply :func:`disclose` with the default rule of the writers.

    Columns fall in three named classes:

    - keys (:data:`KEY_COLUMNS`): never blanked, whatever their dtype;
    - counts (:data:`COUNT_COLUMNS` and every other ``n_*`` column, or ``count_columns``):
      suppressed when in ``1 .. threshold-1``;
    - every other numeric or boolean column is a dependent statistic, blanked in a row
      where a count was suppressed. An unknown numeric column is thus treated as a
      statistic that may reveal the row's counts (the conservative choice); name it a
      key or a count to change that.

    Parameters
    ----------
    frame
        Table to publish.
    threshold
        Smallest count that may be shown.
    count_columns
        The count columns of this table (default: by name, as above); for example
        ``["value"]`` for an ``item, value`` table of counts.

    Returns
    -------
    pandas.DataFrame
        The disclosed copy.
    """
    if count_columns is None:
        counts = [str(c) for c in frame.columns if is_count_column(str(c))]
    else:
        counts = [str(c) for c in count_columns]
    dependents = [
        str(c)
        for c in frame.columns
        if str(c) not in counts
        and not is_key_column(str(c))
        and (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool)
    ]
    return disclose(frame, counts, threshold, dependent_columns=dependents)


def _cell_mask(frame: pd.DataFrame, attr: str) -> np.ndarray:
    mask = np.zeros(frame.shape, dtype=bool)
    cells = frame.attrs.get(attr, frozenset())
    if not cells or not frame.index.is_unique:
        return mask
    pos = {lab: i for i, lab in enumerate(frame.index)}
    cols = {str(c): j for j, c in enumerate(frame.columns)}
    for lab, col in cells:
        if lab in pos and col in cols:
            mask[pos[lab], cols[col]] = True
    return mask


def suppressed_mask(frame: pd.DataFrame) -> np.ndarray:
    """Boolean array (rows x columns) of the suppressed cells recorded in ``frame.attrs``.

    Parameters
    ----------
    frame
        A frame returned by :func:`disclose` (any other frame gives an all-false mask).

    Returns
    -------
    numpy.ndarray
        ``True`` where a cell was suppressed (primary or secondary).
    """
    return _cell_mask(frame, SUPPRESSED_ATTR)


def secondary_mask(frame: pd.DataFrame) -> np.ndarray:
    """Boolean array (rows x columns) of the cells suppressed by secondary suppression.

    Parameters
    ----------
    frame
        A frame returned by :func:`sofeval.report.secondary.protect_tables`.

    Returns
    -------
    numpy.ndarray
        ``True`` where a cell was suppressed to protect a small cell elsewhere.
    """
    return _cell_mask(frame, SECONDARY_ATTR)


def suppression_marker(frame: pd.DataFrame, threshold: int) -> str:
    """The marker shown for a (primary) suppressed cell: ``"<threshold"``.

    Parameters
    ----------
    frame
        A disclosed frame (its recorded threshold wins).
    threshold
        Threshold used when the frame records none.

    Returns
    -------
    str
        For example ``"<5"``. Cells of :func:`secondary_mask` show
        :data:`SECONDARY_MARKER` instead.
    """
    return f"<{frame.attrs.get(THRESHOLD_ATTR, threshold)}"
