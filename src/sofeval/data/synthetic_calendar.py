"""The calendar of a synthetic study: day and month numbers, programme windows.

Dates inside the generator are integer day numbers (days since 1970-01-01) and integer
month numbers in the contract's month index (``12 * year + month - 1``), so that every
step works on NumPy arrays. :func:`study_calendar` fixes the jobcentres, their programme
windows and the month range that the other steps of :func:`sofeval.data.simulate` share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data import contract

#: Billund left the programme early: its window ends on this day.
BILLUND_END = pd.Timestamp("2018-03-31")
#: Longest spell follow-up simulated week by week (later exits are geometric).
MAX_WEEKS = 52
EPOCH_MONTH = 1970 * 12
_EPOCH = pd.Timestamp("1970-01-01")


def month_numbers(days: np.ndarray) -> np.ndarray:
    """Contract month index (``12 * year + month - 1``) of integer day numbers.

    Parameters
    ----------
    days
        Integer days since 1970-01-01.

    Returns
    -------
    numpy.ndarray
        ``int64`` month numbers, same shape.
    """
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + EPOCH_MONTH


def quarter_numbers(months: np.ndarray) -> np.ndarray:
    """Calendar quarter numbers (``4 * year + quarter - 1``) of contract month numbers.

    Parameters
    ----------
    months
        Integer month numbers (``12 * year + month - 1``).

    Returns
    -------
    numpy.ndarray
    """
    return months // 3


def day_number(ts: pd.Timestamp) -> int:
    """Days since 1970-01-01 of a timestamp.

    Parameters
    ----------
    ts
        A date.

    Returns
    -------
    int
    """
    return int((ts - _EPOCH).days)


def to_dates(days: np.ndarray, valid: np.ndarray | None = None) -> pd.Series:
    """Integer day numbers as a ``datetime64[ns]`` Series (``NaT`` where not ``valid``).

    Parameters
    ----------
    days
        Integer days since 1970-01-01.
    valid
        Optional boolean mask; ``False`` rows become ``NaT``.

    Returns
    -------
    pandas.Series
    """
    out = pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))
    if valid is not None:
        out[~valid] = pd.NaT
    return out


def month_labels(months: np.ndarray) -> np.ndarray:
    """``YYYY-MM`` labels of contract month numbers.

    Parameters
    ----------
    months
        Integer month numbers (``12 * year + month - 1``).

    Returns
    -------
    numpy.ndarray
        Object array of strings.
    """
    return np.array([f"{m // 12:04d}-{m % 12 + 1:02d}" for m in months.tolist()], dtype=object)


@dataclass(frozen=True)
class Calendar:
    """Jobcentres, programme windows and the day/month range of one synthetic study.

    Attributes
    ----------
    programme
        The programme jobcentres (:data:`sofeval.data.SOF_JOBCENTRES`), in order.
    names
        All jobcentres: the programme ones first, then the others.
    windows
        Programme window per programme jobcentre as ``(first day, last day)`` numbers.
    window_months
        The same windows as ``(first month, last month)`` numbers.
    d0, d1, d_data
        Day numbers of the first and last possible ``absence_start`` and of ``data_end``.
    m0, m_data, m_last
        Month numbers of ``d0``, ``d_data`` and of the last week-52 date of a spell
        starting on ``d1`` (the month effects run from ``m0`` to ``m_last``).
    data_end
        Last day of observation.
    """

    programme: tuple[str, ...]
    names: tuple[str, ...]
    windows: dict[str, tuple[int, int]]
    window_months: dict[str, tuple[int, int]]
    d0: int
    d1: int
    d_data: int
    m0: int
    m_data: int
    m_last: int
    data_end: pd.Timestamp

    def programme_frame(self) -> pd.DataFrame:
        """The contract table ``programme``: ``jobcentre, start, end``.

        Returns
        -------
        pandas.DataFrame
        """
        return pd.DataFrame(
            {
                "jobcentre": list(self.programme),
                "start": pd.Series(
                    [contract.SOF_START] * len(self.programme), dtype="datetime64[ns]"
                ),
                "end": pd.Series(
                    [BILLUND_END if j == "Billund" else contract.SOF_END for j in self.programme],
                    dtype="datetime64[ns]",
                ),
            }
        )

    @property
    def first_post_quarter(self) -> int:
        """First event quarter after the longest programme window (the top event-time bin).

        Event time is the calendar quarter of a spell's week-8 date minus the quarter of its
        jobcentre's programme start; the SOF window 2017-10-01..2018-12-31 covers event
        quarters 0..4, so this is 5.

        Returns
        -------
        int
        """
        q = quarter_numbers(np.array(list(self.window_months.values())))
        return int((q[:, 1] - q[:, 0]).max()) + 1


def _month(day: int) -> int:
    return int(month_numbers(np.array([day]))[0])


def study_calendar(
    other_jobcentres: tuple[str, ...],
    start: pd.Timestamp,
    end: pd.Timestamp,
    data_end: pd.Timestamp,
) -> Calendar:
    """The calendar of a study with the SOF jobcentres plus ``other_jobcentres``.

    Parameters
    ----------
    other_jobcentres
        Names of the non-programme jobcentres.
    start, end
        Range of ``absence_start``.
    data_end
        Last day of observation.

    Returns
    -------
    Calendar
    """
    programme = tuple(contract.SOF_JOBCENTRES)
    windows = {
        j: (
            day_number(contract.SOF_START),
            day_number(BILLUND_END if j == "Billund" else contract.SOF_END),
        )
        for j in programme
    }
    window_months = {j: (_month(a), _month(b)) for j, (a, b) in windows.items()}
    d0, d1, d_data = day_number(start), day_number(end), day_number(data_end)
    return Calendar(
        programme=programme,
        names=programme + tuple(other_jobcentres),
        windows=windows,
        window_months=window_months,
        d0=d0,
        d1=d1,
        d_data=d_data,
        m0=_month(d0),
        m_data=_month(d_data),
        m_last=_month(d1 + 7 * MAX_WEEKS),
        data_end=data_end,
    )
