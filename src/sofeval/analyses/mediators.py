"""Jobcentre-month mediators of the SOF programme (DESIGN.md §1, §4).

First meetings (:func:`first_meetings`, the one first-meeting rule of
:func:`sofeval.panel.first_meeting_rows`) and their jobcentre-month share at the workplace
(:func:`meeting_shares`); the share of spells in a workplace-oriented measure
(:func:`measure_shares`, on the spell sample of :func:`measure_sample`); a spell's mediator
linked by the month of its week-8 date (:func:`link_mediator`). Counts stay counts:
disclosure control is applied by the report layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from sofeval.analyses.links import spell_jobcentres, table_spells
from sofeval.data import (
    WEEK8_OFFSET,
    StudyData,
    month_index,
    month_label,
    parse_month,
    spell_week,
)
from sofeval.errors import (
    ContractError,
    OptionError,
    SofevalError,
    check_option,
)
from sofeval.panel import FirstMeetings, first_meeting_rows, month_of_days
from sofeval.runtime import IdCache

__all__ = [
    "LinkRule",
    "MeetingSource",
    "check_weeks",
    "first_meetings",
    "half_year_label",
    "link_mediator",
    "measure_sample",
    "measure_shares",
    "meeting_shares",
    "safe_share",
    "week8_month",
]

MeetingSource = Literal["auto", "meetings", "monitoring"]
LinkRule = Literal["week8", "week_start"]

_SHARE_COLUMNS = ["jobcentre", "month", "month_label", "first_meetings", "workplace_meetings"]
_DAY = pd.Timedelta(days=1)


def _ids(values: pd.Series) -> list[str]:
    """First ten distinct ids of ``values`` as strings (for error messages)."""
    return [str(v) for v in pd.unique(values)[:10]]


def _check_unique_months(frame: pd.DataFrame, table: str) -> None:
    """Raise :class:`ContractError` when ``frame`` repeats a (jobcentre, month) pair."""
    dup = frame.duplicated(["jobcentre", "month"], keep=False)
    if dup.any():
        ids = _ids(frame.loc[dup, "jobcentre"])
        raise ContractError(
            f"{table}: {int(dup.sum())} rows repeat a jobcentre-month (jobcentres {ids}); "
            "keep one row per jobcentre and month.",
            table=table,
            rule="duplicate_jobcentre_month",
            rows=tuple(ids),
        )


def safe_share(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` as float, ``NaN`` where ``den`` is zero.

    Parameters
    ----------
    num, den
        Counts (numerator and denominator).

    Returns
    -------
    pandas.Series
    """
    d = den.astype("float64")
    return num.astype("float64") / d.where(d > 0)


def half_year_label(months: pd.Series) -> pd.Series:
    """Half-year labels (``"2018H2"``) of integer months ``12*year + month - 1``."""
    m = pd.Series(months).astype("int64")
    uniq, inverse = np.unique(m.to_numpy(), return_inverse=True)  # few distinct months
    text = np.array([f"{u // 12}H{1 + (u % 12) // 6}" for u in uniq.tolist()], dtype=object)
    return pd.Series(text[inverse.reshape(-1)], index=m.index, dtype=object)


def week8_month(spells: pd.DataFrame) -> pd.Series:
    """Month of each spell's week-8 date (``absence_start + WEEK8_OFFSET``).

    Parameters
    ----------
    spells
        Spells with ``absence_start``.

    Returns
    -------
    pandas.Series
        Integer months ``12*year + month - 1``, aligned with ``spells.index``.
    """
    return month_index(spells["absence_start"] + WEEK8_OFFSET).set_axis(spells.index)


def check_weeks(weeks: tuple[int, int]) -> tuple[int, int]:
    """Validate a ``(first, last)`` spell-week window.

    Parameters
    ----------
    weeks
        First and last spell week (inclusive).

    Returns
    -------
    tuple of int

    Raises
    ------
    OptionError
        Unless ``1 <= first <= last``.
    """
    w0, w1 = int(weeks[0]), int(weeks[1])
    if w0 < 1 or w1 < w0:
        raise OptionError(f"weeks={weeks!r} must be (first, last) spell weeks, 1 <= first <= last.")
    return w0, w1


def first_meetings(study: StudyData) -> pd.DataFrame:
    """Return each spell's first follow-up meeting (its earliest meeting).

    The rule is :func:`sofeval.panel.first_meeting_rows`, the one the panel's ``met`` columns
    use: duplicated meeting rows count once; meetings on the same earliest date are ranked by
    :data:`~sofeval.data.contract.MEETING_LOCATIONS` (``workplace`` first, so it wins a tie),
    then by table order. Meetings of spells not in ``spells`` are ignored. Rows are ordered
    by jobcentre, date and the spell's position in ``spells``.

    Parameters
    ----------
    study
        Validated study tables.

    Returns
    -------
    pandas.DataFrame
        ``spell_id``, ``jobcentre``, ``date``, ``month`` (of the meeting), ``week`` (spell
        week), ``location``, ``workplace`` (0/1), ``visitation_category`` if present.
    """
    first, jc = _first_meeting_codes(study)
    sp, mt = study.spells, study.meetings
    order = np.lexsort((first.spell, first.day, jc))  # jobcentre names sort as their codes
    rows, meeting_rows = first.spell[order], first.row[order]
    date = pd.Series(mt["date"].to_numpy()[meeting_rows])
    out = pd.DataFrame(
        {
            "spell_id": sp["spell_id"].astype(str).to_numpy()[rows],
            "jobcentre": sp["jobcentre"].astype(str).to_numpy()[rows],
            "date": pd.to_datetime(date),
            "month": month_index(date).to_numpy(),
            "week": spell_week(date, pd.Series(sp["absence_start"].to_numpy()[rows])).to_numpy(),
            "location": mt["location"].astype(str).to_numpy()[meeting_rows],
            "workplace": first.workplace[order].astype("int8"),
        }
    )
    if "visitation_category" in sp.columns:
        out["visitation_category"] = sp["visitation_category"].to_numpy()[rows]
    return out


_FIRST_MEETINGS: IdCache[StudyData, FirstMeetings] = IdCache()


def _first_meeting_codes(study: StudyData) -> tuple[FirstMeetings, np.ndarray]:
    """Each spell's first meeting (computed once per study) and its spell's jobcentre code.

    The codes are those of :func:`~sofeval.analyses.links.spell_jobcentres`. Validated
    tables are not modified after validation; the cache holds a weak reference to the
    study and its entry goes when the study does.
    """
    first = _FIRST_MEETINGS.get(
        study,
        lambda: first_meeting_rows(  # the one first-meeting rule (sofeval.panel)
            study.meetings,
            study.spells["spell_id"].astype(str).to_numpy(),
            spell_of_row=table_spells(study).meetings,
        ),
    )
    return first, spell_jobcentres(study).code[first.spell]


def _visitation_mask(study: StudyData, visitation: Sequence[int]) -> np.ndarray:
    """Spells whose ``visitation_category`` (read as a number) is in ``visitation``."""
    codes, uniques = pd.factorize(study.spells["visitation_category"])  # few distinct values
    ok = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").isin(list(visitation))
    return np.append(ok.to_numpy(dtype=bool), False)[codes]  # missing (code -1): False


def _meeting_counts(
    study: StudyData, visitation: Sequence[int] | None
) -> pd.DataFrame:
    """First meetings and those at the workplace per jobcentre and month of the meeting."""
    first, jc = _first_meeting_codes(study)
    month = month_of_days(first.day)
    work = first.workplace
    if visitation is not None:
        keep = _visitation_mask(study, visitation)[first.spell]
        jc, month, work = jc[keep], month[keep], work[keep]
    lo = int(month.min()) if len(month) else 0
    span = int(month.max()) - lo + 1 if len(month) else 1
    key, inverse = np.unique(jc * span + (month - lo), return_inverse=True)
    names = spell_jobcentres(study).names
    return pd.DataFrame(
        {
            "jobcentre": names.to_numpy(dtype=object)[key // span],
            "month": (key % span + lo).astype("int32"),
            "first_meetings": np.bincount(inverse, minlength=len(key)).astype("int64"),
            "workplace_meetings": np.bincount(
                inverse, weights=work, minlength=len(key)
            ).astype("int64"),
            "source": "meetings",
        }
    )


def _monitoring_counts(study: StudyData) -> pd.DataFrame:
    """Jobcentre-month counts from ``study.monitoring`` with integer months."""
    mon = study.monitoring
    if mon is None:
        raise SofevalError(
            "source='monitoring' needs the optional 'monitoring' table, but the study has none; "
            "supply it (jobcentre, month 'YYYY-MM', first_meetings, workplace_meetings) "
            "or use source='meetings'."
        )
    raw = mon["month"]
    months = raw.astype("int64") if pd.api.types.is_numeric_dtype(raw) else parse_month(raw)
    bad = months.to_numpy() < 0
    if bad.any():
        raise ContractError(
            f"monitoring: {int(bad.sum())} row(s) have a month that is not 'YYYY-MM' "
            f"(jobcentres {_ids(mon.loc[bad, 'jobcentre'])}); fix the month column.",
            table="monitoring",
            rule="bad_month",
            rows=tuple(_ids(mon.loc[bad, "jobcentre"])),
        )
    cnt = mon[["first_meetings", "workplace_meetings"]].astype("int64").reset_index(drop=True)
    out = cnt.assign(
        jobcentre=mon["jobcentre"].astype(str).to_numpy(), month=months.astype("int32").to_numpy()
    )
    _check_unique_months(out, "monitoring")
    return out.assign(source="monitoring")


def meeting_shares(
    study: StudyData,
    *,
    visitation: Sequence[int] | None = None,
    source: MeetingSource = "auto",
) -> pd.DataFrame:
    """Jobcentre-month share of first follow-up meetings held at the workplace.

    First meetings (:func:`first_meetings`) are counted in the month of the meeting.

    Parameters
    ----------
    study
        Validated study tables.
    visitation
        Keep spells with ``visitation_category`` in this set, e.g. ``(2, 3)``. Needs
        meeting-level data: an error with ``source="monitoring"``; with ``"auto"`` it
        uses ``meetings`` only (monitoring counts are not split by category).
    source
        ``"meetings"``; ``"monitoring"`` (``study.monitoring``, error if absent); ``"auto"``:
        meetings, except that every jobcentre-month in ``study.monitoring`` takes the
        monitoring counts (monitoring months without meetings are added).

    Returns
    -------
    pandas.DataFrame
        ``jobcentre``, ``month`` (int), ``month_label``, ``first_meetings``,
        ``workplace_meetings``, ``share`` (``NaN`` when no meetings) and ``source``.
    """
    check_option("source", source, ("auto", "meetings", "monitoring"))
    if visitation is not None and source == "monitoring":
        raise OptionError(
            "visitation= filters meeting-level data and cannot be combined with "
            "source='monitoring'; use source='meetings'."
        )
    if source == "monitoring":
        counts = _monitoring_counts(study)
    else:
        if visitation is not None and "visitation_category" not in study.spells.columns:
            raise ContractError(
                "spells: visitation= needs the optional column 'visitation_category' "
                "(1/2/3); add it to spells or drop the visitation filter.",
                table="spells",
                rule="missing_column",
            )
        counts = _meeting_counts(study, visitation)
        if source == "auto" and visitation is None and study.monitoring is not None:
            mon = _monitoring_counts(study)
            key = pd.MultiIndex.from_frame(counts[["jobcentre", "month"]])
            covered = key.isin(pd.MultiIndex.from_frame(mon[["jobcentre", "month"]]))
            counts = pd.concat([counts[~covered], mon], ignore_index=True)
    counts = counts.sort_values(["jobcentre", "month"]).reset_index(drop=True)
    counts["month"] = counts["month"].astype("int32")
    counts.insert(2, "month_label", month_label(counts["month"]))
    counts["share"] = safe_share(counts["workplace_meetings"], counts["first_meetings"])
    return counts[[*_SHARE_COLUMNS, "share", "source"]]


def _spells_with_measure(study: StudyData, w0: int, w1: int) -> np.ndarray:
    """Flag each spell with an intervention starting or active in spell weeks ``w0..w1``."""
    iv = study.interventions
    spell = table_spells(study).interventions
    start, end = iv["start"].to_numpy(), iv["end"].to_numpy()
    rows = np.flatnonzero((spell >= 0) & ~np.isnat(start))
    spell = spell[rows]
    a = study.spells["absence_start"].to_numpy()[spell]
    lo = a + np.timedelta64(7 * (w0 - 1), "D")
    hi = a + np.timedelta64(7 * w1, "D") - np.timedelta64(1, "D")
    hit = (start[rows] <= hi) & (np.isnat(end[rows]) | (end[rows] >= lo))
    flag = np.zeros(len(study.spells), dtype=bool)
    flag[spell[hit]] = True
    return flag


def measure_sample(study: StudyData, w0: int, w1: int) -> pd.DataFrame:
    """Spells on benefit at the start of week ``w0`` with weeks ``w0..w1`` observed.

    Parameters
    ----------
    study
        Validated study tables.
    w0, w1
        First and last spell week of the measure window (see :func:`check_weeks`).

    Returns
    -------
    pandas.DataFrame
        ``spell_id``, ``jobcentre``, ``absence_start``, ``measure`` (0/1: an intervention
        starting or active in the window) and ``link_month`` (week-8 month).
    """
    sp = study.spells
    start0 = sp["absence_start"] + pd.Timedelta(days=7 * (w0 - 1))
    end1 = sp["absence_start"] + pd.Timedelta(days=7 * w1) - _DAY
    ongoing = sp["benefit_end"].isna()
    keep = ((ongoing & (end1 <= study.data_end())) | (~ongoing & (sp["benefit_end"] >= start0)))
    keep_arr = keep.to_numpy()
    out = sp.loc[keep, ["spell_id", "jobcentre", "absence_start"]].copy()
    out["spell_id"] = out["spell_id"].astype(str)
    out["jobcentre"] = out["jobcentre"].astype(str)
    out["measure"] = _spells_with_measure(study, w0, w1)[keep_arr].astype("int8")
    out["link_month"] = week8_month(out)
    return out


def measure_shares(
    study: StudyData,
    *,
    weeks: tuple[int, int] = (8, 13),
    link: LinkRule = "week8",
) -> pd.DataFrame:
    """Jobcentre-month share of spells in a workplace-oriented measure in ``weeks``.

    Denominator: spells still on benefit at the start of week ``weeks[0]`` (ongoing spells
    whose window is not observed by the data end are left out). Numerator: those with an
    ``interventions`` row starting or active within spell weeks ``weeks[0]..weeks[1]``.

    Parameters
    ----------
    study
        Validated study tables.
    weeks
        First and last spell week of the window (inclusive).
    link
        Month of a spell: ``"week8"`` its week-8 date, ``"week_start"`` the first day of
        week ``weeks[0]``.

    Returns
    -------
    pandas.DataFrame
        ``jobcentre``, ``month``, ``month_label``, ``n_spells``, ``n_measure``, ``share``.
    """
    check_option("link", link, ("week8", "week_start"))
    w0, w1 = check_weeks(weeks)
    s = measure_sample(study, w0, w1)
    if link == "week_start":
        first_day = s["absence_start"] + pd.Timedelta(days=7 * (w0 - 1))
        s["link_month"] = month_index(first_day).to_numpy()
    out = (
        s.groupby(["jobcentre", "link_month"], as_index=False, sort=True)
        .agg(n_spells=("measure", "size"), n_measure=("measure", "sum"))
        .rename(columns={"link_month": "month"})
        .astype({"month": "int32", "n_spells": "int64", "n_measure": "int64"})
    )
    out.insert(2, "month_label", month_label(out["month"]))
    out["share"] = safe_share(out["n_measure"], out["n_spells"])
    return out


def link_mediator(spells: pd.DataFrame, shares: pd.DataFrame, *, name: str = "share") -> pd.Series:
    """Each spell's mediator: ``shares[name]`` in its jobcentre and week-8 month.

    Parameters
    ----------
    spells
        Spells with ``jobcentre`` and ``absence_start``.
    shares
        Jobcentre-month table (``jobcentre``, int ``month``, ``name``).
    name
        Column of ``shares`` to link; also the name of the result.

    Returns
    -------
    pandas.Series
        Aligned with ``spells.index``; ``NaN`` where the jobcentre-month has no data.
    """
    missing = [c for c in ("jobcentre", "month", name) if c not in shares.columns]
    if missing:
        raise ContractError(
            f"shares: missing column(s) {missing}; pass a table from meeting_shares() or "
            "measure_shares(), or name= an existing column.",
            table="shares",
            rule="missing_column",
        )
    sh = pd.DataFrame(
        {
            "jobcentre": shares["jobcentre"].astype(str).to_numpy(),
            "month": shares["month"].astype("int64").to_numpy(),
            "_value": shares[name].astype("float64").to_numpy(),
        }
    )
    _check_unique_months(sh, "shares")
    key = pd.DataFrame(
        {
            "jobcentre": spells["jobcentre"].astype(str).to_numpy(),
            "month": week8_month(spells).astype("int64").to_numpy(),
        }
    )
    merged = key.merge(sh, on=["jobcentre", "month"], how="left", validate="many_to_one")
    return pd.Series(merged["_value"].to_numpy(), index=spells.index, name=name, dtype="float64")

