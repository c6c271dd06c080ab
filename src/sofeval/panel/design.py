"""Study design of the weekly hazard panel: settings, programme windows, exposure, columns.

:class:`StudyDesign` holds the panel rules of DESIGN.md §3; :func:`programme_windows` numbers
the distinct programme windows, whose bits make the ``int16`` ``exposure`` mask
(:func:`exposure_mask`) from which a spell's treatment ``D`` is read (:func:`treated`).
:func:`event_columns` and :data:`KEY_COLUMNS` name the panel's columns, :func:`week_block`
labels the baseline-hazard blocks of the SOF model (DESIGN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from sofeval.data import COMPETING_STATES, StudyData
from sofeval.errors import ContractError, OptionError, check_option
from sofeval.panel.days import day_numbers

__all__ = [
    "KEY_COLUMNS",
    "MAX_WINDOWS",
    "CohortOn",
    "Entry",
    "StudyDesign",
    "Treatment",
    "event_column_of_state",
    "event_columns",
    "exposure_mask",
    "programme_windows",
    "treated",
    "week_block",
]

Entry = Literal["benefit_start", "absence_start"]
Treatment = Literal["week8", "spell_start", "calendar"]
CohortOn = Literal["absence_start", "week8"]

#: Panel columns that can serve as cell keys (covariates come on top).
KEY_COLUMNS: tuple[str, ...] = (
    "spell_id",
    "person_id",
    "jobcentre",
    "week",
    "month",
    "D",
    "phase",
    "link_month",
    "exposure",
    "met",
    "met_workplace",
    "in_measure",
)

#: ``exposure`` is an ``int16`` bitmask: at most 15 distinct programme windows.
MAX_WINDOWS = 15


def event_columns(event_state: str = "employment") -> tuple[str, ...]:
    """Names of the event columns: ``event`` plus ``event_<s>`` for every other exit.

    Parameters
    ----------
    event_state
        The exit state counted in ``event`` (``employment`` by default).

    Returns
    -------
    tuple of str
        ``("event", "event_<s>", ...)`` in :data:`~sofeval.data.contract.COMPETING_STATES` order.
    """
    return ("event",) + tuple(f"event_{s}" for s in COMPETING_STATES if s != event_state)


def event_column_of_state(event_state: str) -> dict[int, str]:
    """Map the index of each competing state to its event column name.

    Parameters
    ----------
    event_state
        The exit state counted in ``event``.

    Returns
    -------
    dict
        Index in :data:`~sofeval.data.contract.COMPETING_STATES` -> ``event`` or
        ``event_<state>``.
    """
    return {
        i: ("event" if s == event_state else f"event_{s}") for i, s in enumerate(COMPETING_STATES)
    }


def programme_windows(programme: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Distinct programme windows, numbered, and the window of each programme jobcentre.

    Parameters
    ----------
    programme
        Contract ``programme`` table (``jobcentre``, ``start``, ``end``; an empty ``end``
        means open-ended).

    Returns
    -------
    windows : pandas.DataFrame
        Columns ``k`` (0..K-1), ``start``, ``end``, ``jobcentres`` (tuple), sorted by
        (start, end).
    window_of : dict
        Jobcentre -> window index ``k``.

    Raises
    ------
    ContractError
        If a jobcentre has more than one distinct window, or there are more than
        :data:`MAX_WINDOWS` distinct windows (the ``int16`` exposure bitmask).
    """
    prog = programme.loc[:, ["jobcentre", "start", "end"]].copy()
    prog["jobcentre"] = prog["jobcentre"].astype(str)
    prog["start"] = pd.to_datetime(prog["start"])
    prog["end"] = pd.to_datetime(prog["end"])
    prog = prog.drop_duplicates()
    dup = prog["jobcentre"][prog["jobcentre"].duplicated()].unique()
    if len(dup):
        raise ContractError(
            f"programme: {len(dup)} jobcentre(s) have more than one window "
            f"({', '.join(map(str, dup[:10]))}); give each jobcentre one start and end.",
            table="programme",
            rule="multiple_windows",
            rows=tuple(map(str, dup[:10])),
        )
    win = prog[["start", "end"]].drop_duplicates().sort_values(["start", "end"])
    win = win.reset_index(drop=True)
    if len(win) > MAX_WINDOWS:
        raise ContractError(
            f"programme: {len(win)} distinct windows, at most {MAX_WINDOWS} are supported "
            "by the int16 exposure bitmask; merge windows that differ by days.",
            table="programme",
            rule="too_many_windows",
        )
    k_of = pd.MultiIndex.from_frame(win).get_indexer(
        pd.MultiIndex.from_frame(prog[["start", "end"]])
    )
    jcs = prog["jobcentre"].to_numpy()
    win.insert(0, "k", np.arange(len(win), dtype=np.int64))
    win["jobcentres"] = [tuple(sorted(jcs[k_of == k])) for k in range(len(win))]
    window_of = {str(j): int(k) for j, k in zip(jcs, k_of, strict=True)}
    return win, window_of


@dataclass(frozen=True)
class StudyDesign:
    """Settings of the weekly hazard panel (defaults: DESIGN.md §3).

    Parameters
    ----------
    data_end
        Last day of observation; ``None`` uses :meth:`StudyData.data_end`. Ongoing spells
        and spells ending after it are censored in the week of ``data_end``.
    max_weeks
        Follow-up cap: spells still on benefit after this week are censored there.
    entry
        ``benefit_start`` (delayed entry at the week of the first benefit day) or
        ``absence_start`` (at risk from week 1).
    treatment
        Reference date of programme exposure: ``week8`` (absence start + 49 days),
        ``spell_start`` (absence start), or ``calendar`` (first day of each row's week,
        so ``exposure`` and ``D`` vary by row).
    phase_cut
        First week of the ``late`` phase (``early`` = week < phase_cut).
    cohort_start, cohort_end
        Keep spells whose ``cohort_on`` date lies in ``[cohort_start, cohort_end]``
        (either bound may be ``None``).
    cohort_on
        ``absence_start`` or ``week8`` (the week-8 date).
    event_state
        Exit state counted in ``event``; the other competing states get ``event_<s>``.
    """

    data_end: pd.Timestamp | None = None
    max_weeks: int = 52
    entry: Entry = "benefit_start"
    treatment: Treatment = "week8"
    phase_cut: int = 8
    cohort_start: pd.Timestamp | None = None
    cohort_end: pd.Timestamp | None = None
    cohort_on: CohortOn = "absence_start"
    event_state: str = "employment"

    def __post_init__(self) -> None:
        check_option("entry", self.entry, ("benefit_start", "absence_start"))
        check_option("treatment", self.treatment, ("week8", "spell_start", "calendar"))
        check_option("cohort_on", self.cohort_on, ("absence_start", "week8"))
        check_option("event_state", self.event_state, COMPETING_STATES)
        for name in ("max_weeks", "phase_cut"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise OptionError(f"{name}={value!r} must be a positive integer.")
        if self.max_weeks > 32000:
            raise OptionError(f"max_weeks={self.max_weeks} must fit int16 (at most 32000).")
        for name in ("data_end", "cohort_start", "cohort_end"):
            value = getattr(self, name)
            if value is not None:
                ts = pd.Timestamp(value)
                if pd.isna(ts):
                    raise OptionError(f"{name}={value!r} is not a date; give a date or None.")
                object.__setattr__(self, name, ts)
        if (
            self.cohort_start is not None
            and self.cohort_end is not None
            and self.cohort_start > self.cohort_end
        ):
            raise OptionError(
                f"cohort_start={self.cohort_start.date()} is after "
                f"cohort_end={self.cohort_end.date()}; swap them."
            )

    def resolve_data_end(self, study: StudyData) -> pd.Timestamp:
        """The data end used for ``study``: :attr:`data_end` or ``study.data_end()``."""
        return self.data_end if self.data_end is not None else study.data_end()

    def windows(self, study: StudyData) -> tuple[pd.DataFrame, dict[str, int]]:
        """Distinct programme windows of ``study`` (``k = 0..K-1``) and jobcentre -> ``k``.

        See :func:`programme_windows`.
        """
        return programme_windows(study.programme)


def exposure_mask(ref_days: np.ndarray, windows: pd.DataFrame) -> np.ndarray:
    """``int16`` bitmask: bit k set when the reference day lies in window k (inclusive).

    Parameters
    ----------
    ref_days
        Day numbers (:func:`~sofeval.panel.days.day_numbers`) of the treatment reference dates.
    windows
        Output of :func:`programme_windows` (an empty ``end`` is open-ended).

    Returns
    -------
    numpy.ndarray
        ``int16`` masks, same length as ``ref_days``.
    """
    out = np.zeros(len(ref_days), dtype=np.int16)
    start, s_nat = day_numbers(windows["start"])
    end, e_nat = day_numbers(windows["end"])
    for k in range(len(windows)):
        lo = np.iinfo(np.int64).min if s_nat[k] else start[k]
        hi = np.iinfo(np.int64).max if e_nat[k] else end[k]
        inside = (ref_days >= lo) & (ref_days <= hi)
        out |= inside.astype(np.int16) << np.int16(k)
    return out


def treated(exposure: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Treatment ``D``: bit ``window`` of ``exposure``, 0 where the jobcentre has no window.

    Parameters
    ----------
    exposure
        ``int16`` masks (:func:`exposure_mask`).
    window
        The programme window ``k`` of each row's jobcentre, ``-1`` for none.

    Returns
    -------
    numpy.ndarray
        ``int8`` 0/1.
    """
    d = np.where(window >= 0, (exposure.astype(np.int64) >> np.maximum(window, 0)) & 1, 0)
    return d.astype(np.int8)


def week_block(week: np.ndarray) -> np.ndarray:
    """Baseline-hazard block label of each spell week (DESIGN.md §4).

    Weeks 1–26 have their own label (``"01"`` … ``"26"``), then 4-week blocks
    ``"27-30"``, ``"31-34"``, …, ``"47-50"`` and ``"51-52"``; weeks after 52 (when
    ``max_weeks > 52``) continue in 4-week blocks from 53. Labels sort in week order.

    Parameters
    ----------
    week
        Spell weeks (integers ≥ 1).

    Returns
    -------
    numpy.ndarray
        Object array of labels, same shape as ``week``.

    Raises
    ------
    OptionError
        If a week is below 1.
    """
    w = np.asarray(week, dtype=np.int64)
    if w.size and w.min() < 1:
        raise OptionError("week_block: weeks start at 1; got a week below 1.")
    top = int(w.max()) if w.size else 1
    labels = np.empty(top + 1, dtype=object)
    for t in range(1, top + 1):  # loop over weeks, not spells
        if t <= 26:
            labels[t] = f"{t:02d}"
        elif t <= 50:
            a = 27 + 4 * ((t - 27) // 4)
            labels[t] = f"{a}-{a + 3}"
        elif t <= 52:
            labels[t] = "51-52"
        else:
            a = 53 + 4 * ((t - 53) // 4)
            labels[t] = f"{a}-{a + 3}"
    return labels[w]
