"""Success criteria and meeting shares from partition summaries (the dask engine's monitoring).

:func:`sofeval.analyses.success_criteria` and :func:`sofeval.analyses.meeting_shares` read the
whole study (every spell, meeting and intervention). Their inputs are counts, so the engine
computes the counts on the workers and the tables on the client:

* :func:`meeting_counts` (worker): first follow-up meetings per jobcentre, meeting month and
  visitation category 2+3, by the library's one first-meeting rule
  (:func:`sofeval.analyses.first_meetings` of the partition; a spell's meetings are in its
  partition);
* :func:`measure_counts` (worker): the spells of the measure sample per jobcentre, week-8
  month, ``D`` and measure, with the study's data end and programme windows;
* :func:`meeting_shares_from_counts`, :func:`success_criteria_from_counts` (client): the
  tables of :func:`~sofeval.analyses.meeting_shares` and
  :func:`~sofeval.analyses.success_criteria`, and the measure DiD fitted on the same cells.

These functions restate the rules of ``sofeval.analyses.monitoring`` on counts (the analyses
layer has no entry point that takes counts yet); the dask engine's equality tests compare
every output with the in-process engine byte for byte, so the two cannot drift apart
unnoticed.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from sofeval.analyses import (
    MonitoringResult,
    aggregate_shares,
    finish_shares,
    first_meetings,
    half_year_label,
    measure_did_from_counts,
    meeting_shares,
    safe_share,
)
from sofeval.data import WEEK8_OFFSET, StudyData, empty_table, month_index, month_label

__all__ = [
    "MEASURE_WEEKS",
    "VISITATION_23",
    "measure_counts",
    "meeting_counts",
    "meeting_shares_from_counts",
    "success_criteria_from_counts",
]

#: Measure window of the success criteria (``success_criteria``'s default ``measure_weeks``).
MEASURE_WEEKS: tuple[int, int] = (1, 13)
#: Visitation categories of the ``*_v23`` columns.
VISITATION_23: tuple[int, ...] = (2, 3)
#: Target share of first meetings at the workplace and the smallest count judged.
TARGET = 0.70
MIN_COUNT = 5

_DAY = pd.Timedelta(days=1)
_SHARE_COLUMNS = ["jobcentre", "month", "month_label", "first_meetings", "workplace_meetings"]
_KEYS = ["jobcentre", "month"]




def meeting_counts(study: StudyData) -> pd.DataFrame:
    """First meetings of a partition per ``jobcentre``, ``month`` and ``v23``.

    Returns
    -------
    pandas.DataFrame
        ``jobcentre``, ``month`` (int32), ``v23`` (visitation category 2 or 3),
        ``first_meetings``, ``workplace_meetings`` (int64).
    """
    fm = first_meetings(study)
    if "visitation_category" in fm.columns:
        cat = pd.to_numeric(fm["visitation_category"], errors="coerce")
        v23 = cat.isin(list(VISITATION_23)).to_numpy()
    else:
        v23 = np.zeros(len(fm), dtype=bool)
    frame = pd.DataFrame(
        {
            "jobcentre": fm["jobcentre"].astype(str).to_numpy(),
            "month": fm["month"].to_numpy().astype("int32"),
            "v23": v23,
            "workplace": fm["workplace"].to_numpy().astype("int64"),
        }
    )
    return (
        frame.groupby(["jobcentre", "month", "v23"], sort=True)
        .agg(first_meetings=("workplace", "size"), workplace_meetings=("workplace", "sum"))
        .astype("int64")
        .reset_index()
    )


def _in_windows(
    programme: pd.DataFrame, jobcentre: pd.Series, value: Any, unit: Literal["month", "date"]
) -> np.ndarray:
    """``True`` where ``value`` lies in the programme window of ``jobcentre`` (end open if NaT)."""
    lo, hi = programme["start"], programme["end"]
    if unit == "month":
        lo_v = month_index(lo).to_numpy().astype("float64")
        hi_v = month_index(hi).to_numpy().astype("float64")
        hi_v[hi_v < 0] = np.inf
        v = np.asarray(value, dtype="float64")
    else:
        lo_v = lo.to_numpy().astype("datetime64[D]").astype("float64")
        hi_v = np.where(hi.isna(), np.inf, hi.to_numpy().astype("datetime64[D]").astype("float64"))
        v = np.asarray(value).astype("datetime64[D]").astype("float64")
    win = pd.DataFrame(
        {"jobcentre": programme["jobcentre"].astype(str).to_numpy(), "lo": lo_v, "hi": hi_v}
    )
    key = pd.DataFrame(
        {"jobcentre": jobcentre.astype(str).to_numpy(), "v": v, "_row": np.arange(len(v))}
    )
    j = key.merge(win, on="jobcentre", how="inner")
    out = np.zeros(len(key), dtype=bool)
    out[j.loc[(j["v"] >= j["lo"]) & (j["v"] <= j["hi"]), "_row"].to_numpy()] = True
    return out


def _with_measure(interventions: pd.DataFrame, spells: pd.DataFrame, w0: int, w1: int) -> Any:
    """1 for spells with an intervention starting or active in spell weeks ``w0..w1``."""
    iv = interventions[["spell_id", "start", "end"]].dropna(subset=["start"])
    iv = iv.assign(spell_id=iv["spell_id"].astype(str))
    sp = pd.DataFrame({"spell_id": spells["spell_id"].astype(str), "a": spells["absence_start"]})
    j = iv.merge(sp, on="spell_id", how="inner")
    lo = j["a"] + pd.Timedelta(days=7 * (w0 - 1))
    hi = j["a"] + pd.Timedelta(days=7 * w1) - _DAY
    hit = (j["start"] <= hi) & (j["end"].isna() | (j["end"] >= lo))
    ids = set(j.loc[hit, "spell_id"])
    return spells["spell_id"].astype(str).isin(ids).astype("int8")


def measure_counts(
    study: StudyData,
    study_end: pd.Timestamp,
    programme: pd.DataFrame,
    weeks: tuple[int, int] = MEASURE_WEEKS,
) -> pd.DataFrame:
    """The measure sample of a partition, counted per jobcentre, week-8 month, D and measure.

    Parameters
    ----------
    study
        One partition (validated).
    study_end
        The study's data end over all partitions (``StudyData.data_end`` of the whole study).
    programme
        The validated programme table.
    weeks
        Measure window in spell weeks.

    Returns
    -------
    pandas.DataFrame
        ``jobcentre``, ``link_month`` (int32), ``D`` (int8), ``measure`` (int8), ``n``.
    """
    w0, w1 = weeks
    sp = study.spells
    start0 = sp["absence_start"] + pd.Timedelta(days=7 * (w0 - 1))
    end1 = sp["absence_start"] + pd.Timedelta(days=7 * w1) - _DAY
    ongoing = sp["benefit_end"].isna()
    keep = (ongoing & (end1 <= study_end)) | (~ongoing & (sp["benefit_end"] >= start0))
    s = sp.loc[keep, ["spell_id", "jobcentre", "absence_start"]].copy()
    s["spell_id"] = s["spell_id"].astype(str)
    s["jobcentre"] = s["jobcentre"].astype(str)
    s["measure"] = _with_measure(study.interventions, s, w0, w1)
    s["link_month"] = month_index(s["absence_start"] + WEEK8_OFFSET).set_axis(s.index)
    w8 = s["absence_start"] + WEEK8_OFFSET
    s["D"] = _in_windows(programme, s["jobcentre"], w8, "date").astype("int8")
    return (
        s.groupby(["jobcentre", "link_month", "D", "measure"], sort=True)
        .size()
        .rename("n")
        .astype("int64")
        .reset_index()
    )


# --- client side ---------------------------------------------------------------------------


def meeting_shares_from_counts(
    counts: pd.DataFrame, monitoring: pd.DataFrame | None, *, v23: bool = False
) -> pd.DataFrame:
    """:func:`sofeval.analyses.meeting_shares` from :func:`meeting_counts`.

    ``v23=False`` gives ``meeting_shares(study, source="auto")`` (monitoring counts take
    the jobcentre-months they cover), ``v23=True`` gives
    ``meeting_shares(study, visitation=(2, 3), source="meetings")``.
    """
    c = counts[counts["v23"]] if v23 else counts
    out = (
        c.groupby(_KEYS, as_index=False, sort=True)[["first_meetings", "workplace_meetings"]]
        .sum()
        .astype({"first_meetings": "int64", "workplace_meetings": "int64", "month": "int32"})
        .assign(source="meetings")
    )
    if not v23 and monitoring is not None:
        only = StudyData(spells=empty_table("spells"), monitoring=monitoring)
        mon = meeting_shares(only, source="monitoring")
        mon = mon[[*_KEYS, "first_meetings", "workplace_meetings", "source"]]
        key = pd.MultiIndex.from_frame(out[_KEYS])
        covered = key.isin(pd.MultiIndex.from_frame(mon[_KEYS]))
        out = pd.concat([out[~covered], mon], ignore_index=True)
    out = out.sort_values(_KEYS).reset_index(drop=True)
    out["month"] = out["month"].astype("int32")
    out.insert(2, "month_label", month_label(out["month"]))
    out["share"] = safe_share(out["workplace_meetings"], out["first_meetings"])
    return out[[*_SHARE_COLUMNS, "share", "source"]]






def _by_month(
    counts: pd.DataFrame,
    programme: pd.DataFrame,
    monitoring: pd.DataFrame | None,
    has_visitation: bool,
) -> pd.DataFrame:
    """The jobcentre x month table of the success criteria."""
    keys = ["jobcentre", "month"]
    v23_cols = {c: f"{c}_v23" for c in ("first_meetings", "workplace_meetings")}
    bm = meeting_shares_from_counts(counts, monitoring).drop(columns=["share"])
    if has_visitation:
        v23 = meeting_shares_from_counts(counts, None, v23=True)
        bm = bm.merge(v23[[*keys, *v23_cols]].rename(columns=v23_cols), on=keys, how="outer")
    bm = bm.reindex(columns=[*bm.columns.difference(list(v23_cols.values())), *v23_cols.values()])
    for c in (*v23_cols, *v23_cols.values()):
        bm[c] = bm[c].fillna(0).astype("int64")
    bm["month"] = bm["month"].astype("int32")
    bm["month_label"] = month_label(bm["month"])
    bm["source"] = bm["source"].fillna("meetings")
    bm["half_year"] = half_year_label(bm["month"])
    prog = set(programme["jobcentre"].astype(str).unique())
    bm["programme"] = bm["jobcentre"].isin(prog)
    bm["in_window"] = _in_windows(programme, bm["jobcentre"], bm["month"], "month")
    bm = finish_shares(bm, TARGET, MIN_COUNT)
    order = ["jobcentre", "month", "month_label", "half_year", "programme", "in_window"]
    order += [*v23_cols, "share", *v23_cols.values(), "share_v23", "meets_target", "source"]
    return bm[order].sort_values(keys).reset_index(drop=True)


def success_criteria_from_counts(
    meetings: pd.DataFrame,
    measures: pd.DataFrame,
    programme: pd.DataFrame,
    monitoring: pd.DataFrame | None,
    *,
    has_visitation: bool,
) -> MonitoringResult:
    """:func:`sofeval.analyses.success_criteria` (default settings) from partition counts.

    Parameters
    ----------
    meetings
        Summed :func:`meeting_counts` of every partition.
    measures
        Summed :func:`measure_counts` of every partition.
    programme, monitoring
        The validated small tables.
    has_visitation
        Whether the spells have a ``visitation_category`` column.

    Returns
    -------
    MonitoringResult
    """
    bm = _by_month(meetings, programme, monitoring, has_visitation)
    by_half = aggregate_shares(bm, ["jobcentre", "half_year", "programme"], TARGET, MIN_COUNT)
    by_half = by_half.drop(columns=["n_jobcentres"])
    pw = bm[bm["programme"] & bm["in_window"]]
    per_half = aggregate_shares(pw.assign(period=pw["half_year"]), ["period"], TARGET, MIN_COUNT)
    tot = aggregate_shares(pw.assign(period="overall"), ["period"], TARGET, MIN_COUNT)
    overall = pd.concat([per_half, tot], ignore_index=True)

    prog = set(programme["jobcentre"].astype(str).unique())
    s = measures[measures["n"] > 0].copy()
    s["programme"] = s["jobcentre"].isin(prog)
    s["half_year"] = half_year_label(s["link_month"]).to_numpy()
    s["hits"] = s["n"] * s["measure"].astype("int64")
    out = (
        s.groupby(["jobcentre", "half_year", "programme", "D"], as_index=False)[["n", "hits"]]
        .sum()
        .rename(columns={"n": "n_spells", "hits": "n_measure"})
        .astype({"n_spells": "int64", "n_measure": "int64"})
    )
    # pandas sums the in-process int8 measure flags in int64 and casts back when they fit
    if out["n_measure"].between(-128, 127).all():
        out["n_measure"] = out["n_measure"].astype("int8")
    out["share"] = safe_share(out["n_measure"], out["n_spells"])
    did = measure_did_from_counts(measures)
    return MonitoringResult(bm, by_half, overall, out, did, float(TARGET))
