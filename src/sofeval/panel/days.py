"""Day numbers: the integer calendar the panel layer computes in.

Dates become ``int64`` days since 1970-01-01, so spell weeks, windows and months are integer
arithmetic on arrays (``week = (day - absence_day) // 7 + 1``, DESIGN.md §3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["NEVER", "day_number", "day_numbers", "month_of_days"]

#: A week or day number later than any real one (no meeting, an open-ended intervention).
NEVER = np.int64(2**40)


def day_numbers(values: pd.Series | pd.Index | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 as ``int64`` and a mask of missing dates.

    Parameters
    ----------
    values
        Dates (anything :func:`pandas.to_datetime` reads); times of day are floored.

    Returns
    -------
    days : numpy.ndarray
        ``int64`` day numbers, ``0`` where the date is missing.
    missing : numpy.ndarray
        ``True`` where the date is missing (``NaT``).
    """
    if isinstance(values, (pd.Series, pd.Index)) and values.dtype == "datetime64[ns]":
        arr = values.to_numpy()  # already naive nanosecond dates: no parsing needed
    else:
        arr = np.asarray(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]"))
    nat = np.isnat(arr)
    days = arr.astype("datetime64[D]").astype(np.int64)
    days[nat] = 0
    return days, nat


def day_number(ts: pd.Timestamp) -> int:
    """Day number (days since 1970-01-01) of one date."""
    return int(np.datetime64(pd.Timestamp(ts).normalize(), "D").astype(np.int64))


def month_of_days(days: np.ndarray) -> np.ndarray:
    """Integer month (``12*year + month - 1``) of day numbers (via a per-day lookup table).

    Parameters
    ----------
    days
        ``int64`` day numbers.

    Returns
    -------
    numpy.ndarray
        ``int32`` months, same shape as ``days``.
    """
    if days.size == 0:
        return np.zeros(0, dtype=np.int32)
    lo, hi = int(days.min()), int(days.max())
    span = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")
    table = (span.astype("datetime64[M]").astype(np.int64) + 1970 * 12).astype(np.int32)
    return table[days - lo]
