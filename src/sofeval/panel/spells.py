"""Per-spell quantities of the panel: the spell frame, covariate bins, the first meeting.

:func:`spell_frame` computes, once per spell and without a Python loop over spells, what the
panel needs (entry and last week, observed exit, week-8 date, exposure and ``D``, why a spell
is left out; DESIGN.md §3). :func:`bin_covariates` turns covariates into categories by
documented rules; :func:`check_covariates` guards their names. :func:`first_meeting_rows` is
the one first-meeting rule of the library (the panel's ``met`` columns and the monitoring's
first meetings both use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data import EXIT_STATES, MEETING_LOCATIONS, WEEK8_OFFSET
from sofeval.errors import ContractError, OptionError
from sofeval.panel.days import NEVER, day_number, day_numbers, month_of_days
from sofeval.panel.design import (
    KEY_COLUMNS,
    StudyDesign,
    event_columns,
    exposure_mask,
    programme_windows,
    treated,
)

__all__ = [
    "AGE_LABELS",
    "EXCLUSION_REASONS",
    "MAX_DISTINCT_NUMERIC",
    "FirstMeetings",
    "bin_covariates",
    "check_covariates",
    "first_meeting_rows",
    "first_meeting_weeks",
    "spell_frame",
]

#: Why a spell is left out of the panel (first matching reason wins, in this order).
EXCLUSION_REASONS: tuple[str, ...] = (
    "outside_cohort",
    "entry_after_data_end",
    "entry_after_max_weeks",
    "no_weeks_at_risk",
)

#: Labels of the age bins of :func:`bin_covariates` (left-closed: 30 is in "30-39";
#: ages below 16 fall into the first bin).
AGE_LABELS: tuple[str, ...] = ("16-29", "30-39", "40-49", "50-59", "60+")
_AGE_EDGES = (-np.inf, 30.0, 40.0, 50.0, 60.0, np.inf)
#: A numeric covariate with more distinct values than this is binned into quintiles.
MAX_DISTINCT_NUMERIC = 10


def spell_frame(
    spells: pd.DataFrame,
    programme: pd.DataFrame,
    design: StudyDesign,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """Per-spell panel quantities (one row per spell, in the order of ``spells``).

    Parameters
    ----------
    spells, programme
        Contract tables (validated).
    design
        Panel settings.
    data_end
        Last day of observation.

    Returns
    -------
    pandas.DataFrame
        ``spell_id``, ``person_id``, ``jobcentre``, ``absence_start``, ``entry_week`` (e),
        ``last_week`` (min(T, max_weeks)), ``event_state`` (the exit state if the exit is
        observed by ``data_end`` within ``max_weeks``, else ``censored``), ``w8_date``,
        ``link_month`` (month of the week-8 date), ``exposure`` (bitmask of the
        treatment reference date; for ``treatment="calendar"`` the week-8 date, the panel
        recomputes it per row), ``D`` and ``reason`` (``None`` for spells used, else one
        of :data:`EXCLUSION_REASONS`).

    Raises
    ------
    ContractError
        If an ``exit_state`` is not one of the contract's exit states.
    """
    abs_d, _ = day_numbers(spells["absence_start"])
    if "benefit_start" in spells.columns:
        bs_d, bs_nat = day_numbers(spells["benefit_start"])
        bs_d = np.where(bs_nat, abs_d, bs_d)
    else:
        bs_d = abs_d
    end_day = day_number(data_end)
    state = _exit_state_codes(spells)
    entry, last, event_state = _follow_up(spells, design, abs_d, bs_d, state, end_day)

    w8 = abs_d + WEEK8_OFFSET.days
    windows, window_of = programme_windows(programme)
    ref = abs_d if design.treatment == "spell_start" else w8
    exposure = exposure_mask(ref, windows)
    jobcentre = spells["jobcentre"].astype(str)
    jc_code, jc_names = pd.factorize(jobcentre)  # one pass over the names
    window_of_code = np.array([window_of.get(j, -1) for j in jc_names], dtype=np.int64)
    d = treated(exposure, window_of_code[jc_code])
    reason = _exclusion_reasons(design, abs_d, bs_d, w8, entry, last, end_day)

    return pd.DataFrame(
        {
            "spell_id": spells["spell_id"].astype(str).to_numpy(),
            "person_id": spells["person_id"].astype(str).to_numpy(),
            "jobcentre": jobcentre.to_numpy(),
            "absence_start": abs_d.astype("datetime64[D]").astype("datetime64[ns]"),
            "entry_week": entry.astype(np.int64),
            "last_week": last.astype(np.int64),
            "event_state": pd.Categorical.from_codes(event_state, categories=pd.Index(EXIT_STATES)),
            "w8_date": w8.astype("datetime64[D]").astype("datetime64[ns]"),
            "link_month": month_of_days(w8),
            "exposure": exposure,
            "D": d,
            "reason": reason,
        },
        index=spells.index,
        copy=False,  # every column is a new array: no copy into consolidated blocks
    )


def _exit_state_codes(spells: pd.DataFrame) -> np.ndarray:
    """Index of each spell's ``exit_state`` in :data:`~sofeval.data.contract.EXIT_STATES`."""
    state = pd.Index(EXIT_STATES).get_indexer(pd.Index(spells["exit_state"].astype(str)))
    bad = state < 0
    if bad.any():
        ids = spells["spell_id"].astype(str).to_numpy()[bad]
        raise ContractError(
            f"spells: {bad.sum()} row(s) have an unknown exit_state (spell ids: "
            f"{', '.join(ids[:10])}); use one of {', '.join(EXIT_STATES)}.",
            table="spells",
            rule="unknown_exit_state",
            rows=tuple(ids[:10]),
        )
    return state


def _follow_up(
    spells: pd.DataFrame,
    design: StudyDesign,
    abs_d: np.ndarray,
    bs_d: np.ndarray,
    state: np.ndarray,
    end_day: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entry week, last week at risk and observed exit state (else ``censored``) per spell."""
    be_d, be_nat = day_numbers(spells["benefit_end"])
    if design.entry == "absence_start":
        entry = np.ones(len(spells), dtype=np.int64)
    else:
        entry = np.maximum((bs_d - abs_d) // 7 + 1, 1)
    closed = ~be_nat & (be_d <= end_day)
    stop = np.where(closed, be_d, end_day)
    t_last = (stop - abs_d) // 7 + 1
    last = np.minimum(t_last, design.max_weeks)
    censored = EXIT_STATES.index("censored")
    observed = closed & (t_last <= design.max_weeks) & (state != censored)
    return entry, last, np.where(observed, state, censored)


def _exclusion_reasons(
    design: StudyDesign,
    abs_d: np.ndarray,
    bs_d: np.ndarray,
    w8: np.ndarray,
    entry: np.ndarray,
    last: np.ndarray,
    end_day: int,
) -> np.ndarray:
    """Why each spell is left out (``None`` if used): the first of :data:`EXCLUSION_REASONS`."""
    reason = np.full(len(abs_d), None, dtype=object)
    reason[last < entry] = "no_weeks_at_risk"
    reason[entry > design.max_weeks] = "entry_after_max_weeks"
    reason[bs_d > end_day] = "entry_after_data_end"
    if design.cohort_start is not None or design.cohort_end is not None:
        cdate = abs_d if design.cohort_on == "absence_start" else w8
        out = np.zeros(len(abs_d), dtype=bool)
        if design.cohort_start is not None:
            out |= cdate < day_number(design.cohort_start)
        if design.cohort_end is not None:
            out |= cdate > day_number(design.cohort_end)
        reason[out] = "outside_cohort"
    return reason


def bin_covariates(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Turn covariates into categoricals by documented rules.

    Rules, per column:

    * ``age`` (numeric): ``"16-29"`` (< 30, including any age below 16), ``"30-39"``,
      ``"40-49"``, ``"50-59"``, ``"60+"``; bins are left-closed.
    * any other numeric (non-boolean) column with more than
      :data:`MAX_DISTINCT_NUMERIC` distinct values: quintile bins (``pandas.qcut`` with
      5 quantiles over the rows given, tied edges merged), labelled by their interval
      ``"(lo, hi]"``.
    * other numeric and boolean columns: one category per value.
    * strings and categoricals: kept as categories (strings sorted).

    Missing values stay missing.

    Parameters
    ----------
    frame
        One row per spell.
    columns
        Covariate names.

    Returns
    -------
    pandas.DataFrame
        The given columns as ``category`` dtype, same index as ``frame``.

    Raises
    ------
    ContractError
        If a column is missing.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(
            f"spells: covariate column(s) {', '.join(missing)} not found; "
            f"available: {', '.join(map(str, frame.columns))}.",
            table="spells",
            rule="missing_covariate",
        )
    out: dict[str, pd.Series] = {}
    for c in columns:
        s = frame[c]
        is_num = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s
        elif is_num and c == "age":
            out[c] = pd.cut(s, bins=list(_AGE_EDGES), right=False, labels=list(AGE_LABELS))
        elif is_num and s.nunique() > MAX_DISTINCT_NUMERIC:
            q = pd.qcut(s, 5, duplicates="drop")
            out[c] = q.cat.rename_categories([str(iv) for iv in q.cat.categories])
        else:
            out[c] = s.astype("category")
    return pd.DataFrame(out, index=frame.index)


def check_covariates(covariates: Sequence[str] | None, design: StudyDesign) -> list[str]:
    """Covariate names, checked not to clash with panel columns."""
    covs = list(covariates or [])
    clash = [c for c in covs if c in KEY_COLUMNS or c in event_columns(design.event_state)]
    if clash:
        raise OptionError(f"covariate(s) {', '.join(clash)} clash with panel column names.")
    return covs


@dataclass(frozen=True)
class FirstMeetings:
    """Each spell's first follow-up meeting (see :func:`first_meeting_rows`).

    One entry per spell with at least one dated meeting, ordered by spell position.

    Attributes
    ----------
    spell
        ``int64`` position of the spell in the ``spell_ids`` given (ascending, each once).
    row
        ``int64`` positional row of its first meeting in the ``meetings`` table.
    day
        ``int64`` day number (:func:`~sofeval.panel.days.day_numbers`) of that meeting.
    workplace
        Whether that meeting was held at the workplace.
    """

    spell: np.ndarray
    row: np.ndarray
    day: np.ndarray
    workplace: np.ndarray


def first_meeting_rows(
    meetings: pd.DataFrame, spell_ids: np.ndarray, *, spell_of_row: np.ndarray | None = None
) -> FirstMeetings:
    """The first follow-up meeting of each spell: the one rule of the library.

    The first follow-up meeting of a spell is its earliest meeting (DESIGN.md §2). Meetings
    on the same earliest day are ranked by location in the order of
    :data:`~sofeval.data.contract.MEETING_LOCATIONS` (``workplace``, ``jobcentre``, ``phone``,
    ``digital``, ``other``; any other value last), so a workplace meeting wins a tie; meetings
    of the same day and location are taken in table order (the first row wins). Meetings
    without a date and meetings of spells not in ``spell_ids`` are ignored; a duplicated
    meeting row therefore counts once.

    Parameters
    ----------
    meetings
        Contract ``meetings`` table (``spell_id``, ``date``, ``location``).
    spell_ids
        Ids of the spells (strings, unique; a repeated id takes its first position).
    spell_of_row
        The position in ``spell_ids`` of each meeting's spell (``-1``: none), when the
        caller has it already; by default it is looked up from the ids.

    Returns
    -------
    FirstMeetings
        Spell position, meeting row, day and workplace flag of each first meeting.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(meetings) == 0:
        return FirstMeetings(empty, empty, empty, np.zeros(0, dtype=bool))
    if spell_of_row is None:
        found = pc.index_in(
            pa.array(meetings["spell_id"].astype(str).to_numpy(), type=pa.string()),
            value_set=pa.array(spell_ids, type=pa.string()),
        )
        pos = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    else:
        pos = np.asarray(spell_of_row, dtype=np.int64)
    day, nat = day_numbers(meetings["date"])
    row = np.flatnonzero((pos >= 0) & ~nat)
    pos, day = pos[row], day[row]
    rank = pd.Index(MEETING_LOCATIONS).get_indexer(pd.Index(meetings["location"].astype(str)))
    rank = np.where(rank < 0, len(MEETING_LOCATIONS), rank)[row]
    order = _first_meeting_order(pos, day, rank)
    first = order[np.r_[True, pos[order][1:] != pos[order][:-1]]] if len(order) else order
    workplace = rank[first] == MEETING_LOCATIONS.index("workplace")
    return FirstMeetings(pos[first], row[first], day[first], workplace)


def _first_meeting_order(pos: np.ndarray, day: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Order of meetings by spell, day and location rank, ties in the given (row) order.

    The three keys are packed into one ``int64`` and sorted stably (rows come in table
    order), which is several times faster than a four-key ``lexsort``; keys too wide for
    ``int64`` fall back to it.
    """
    if len(pos) == 0:
        return np.zeros(0, dtype=np.int64)
    n_rank = len(MEETING_LOCATIONS) + 1
    lo = int(day.min())
    span = int(day.max()) - lo + 1
    if (int(pos.max()) + 1) * span * n_rank < 2**62:
        key = (pos * span + (day - lo)) * n_rank + rank
        return np.argsort(key, kind="stable")
    return np.lexsort((np.arange(len(pos)), rank, day, pos))


def first_meeting_weeks(
    meetings: pd.DataFrame, spell_ids: np.ndarray, abs_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spell week of each spell's first meeting and whether it was at the workplace.

    The first meeting is chosen by :func:`first_meeting_rows`.

    Parameters
    ----------
    meetings
        Contract ``meetings`` table.
    spell_ids
        Ids of the spells (unique).
    abs_day
        Day numbers of their absence start.

    Returns
    -------
    week : numpy.ndarray
        ``int64`` spell week of the first meeting, :data:`~sofeval.panel.days.NEVER` if none.
    workplace : numpy.ndarray
        Whether it was held at the workplace (``False`` if none).
    """
    week = np.full(len(spell_ids), NEVER, dtype=np.int64)
    work = np.zeros(len(spell_ids), dtype=bool)
    first = first_meeting_rows(meetings, spell_ids)
    week[first.spell] = (first.day - abs_day[first.spell]) // 7 + 1
    work[first.spell] = first.workplace
    return week, work
