"""Jobcentre-month mediators and success-criteria monitoring (DESIGN.md §1, §4).

Mediators: :func:`first_meetings`, :func:`meeting_shares`, :func:`measure_shares`,
:func:`link_mediator` (linked by the month of the week-8 date). Success criteria:
:func:`success_criteria` (share of first meetings at the workplace vs the 70 % target) and
:func:`measure_did` (DiD of workplace-oriented measures before week 13, linearmodels).
Counts stay counts: disclosure control is applied by the report layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

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
    EstimationError,
    NotIdentifiedWarning,
    OptionError,
    SofevalError,
    check_option,
)
from sofeval.panel import first_meeting_rows
from sofeval.runtime import IdCache

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


def _share(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` as float, ``NaN`` where ``den`` is zero."""
    d = den.astype("float64")
    return num.astype("float64") / d.where(d > 0)


def half_year_label(months: pd.Series) -> pd.Series:
    """Half-year labels (``"2018H2"``) of integer months ``12*year + month - 1``."""
    m = pd.Series(months).astype("int64")
    uniq, inverse = np.unique(m.to_numpy(), return_inverse=True)  # few distinct months
    text = np.array([f"{u // 12}H{1 + (u % 12) // 6}" for u in uniq.tolist()], dtype=object)
    return pd.Series(text[inverse.reshape(-1)], index=m.index, dtype=object)


def _week8_month(spells: pd.DataFrame) -> pd.Series:
    """Month of each spell's week-8 date (``absence_start + 49 days``)."""
    return month_index(spells["absence_start"] + WEEK8_OFFSET).set_axis(spells.index)


def _check_weeks(weeks: tuple[int, int]) -> tuple[int, int]:
    """Validate a ``(first, last)`` spell-week window."""
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
    return _first_meetings_cached(study).copy()


_FIRST_MEETINGS: IdCache[StudyData, pd.DataFrame] = IdCache()


def _first_meetings_cached(study: StudyData) -> pd.DataFrame:
    """:func:`first_meetings`, computed once per study object (a run asks three times).

    Validated tables are not modified after validation; the cache holds a weak reference
    to the study and its entry goes when the study does.
    """
    return _FIRST_MEETINGS.get(study, lambda: _first_meetings(study))


def _first_meetings(study: StudyData) -> pd.DataFrame:
    sp = study.spells
    spell_ids = sp["spell_id"].astype(str).to_numpy()
    mt = study.meetings
    first = first_meeting_rows(mt, spell_ids)  # the one first-meeting rule (sofeval.panel)
    rows = first.spell
    date = mt["date"].to_numpy()[first.row]
    location = mt["location"].astype(str).to_numpy()[first.row]
    out = pd.DataFrame(
        {
            "spell_id": spell_ids[rows],
            "jobcentre": sp["jobcentre"].astype(str).to_numpy()[rows],
            "date": pd.to_datetime(date),
            "location": location,
        }
    )
    absence = pd.Series(sp["absence_start"].to_numpy()[rows])
    out["month"] = month_index(out["date"]).to_numpy()
    out["week"] = spell_week(out["date"], absence).to_numpy()
    out["workplace"] = (out["location"] == "workplace").astype("int8")
    cols = ["spell_id", "jobcentre", "date", "month", "week", "location", "workplace"]
    if "visitation_category" in sp.columns:
        out["visitation_category"] = sp["visitation_category"].to_numpy()[rows]
        cols.append("visitation_category")
    out["_row"] = rows
    out = out.sort_values(["jobcentre", "date", "_row"], kind="stable")
    return out[cols].reset_index(drop=True)


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
        fm = _first_meetings_cached(study)
        if visitation is not None:
            if "visitation_category" not in study.spells.columns:
                raise ContractError(
                    "spells: visitation= needs the optional column 'visitation_category' "
                    "(1/2/3); add it to spells or drop the visitation filter.",
                    table="spells",
                    rule="missing_column",
                )
            keep = pd.to_numeric(fm["visitation_category"], errors="coerce").isin(list(visitation))
            fm = fm[keep]
        counts = (
            fm.groupby(["jobcentre", "month"], as_index=False, sort=True)
            .agg(first_meetings=("workplace", "size"), workplace_meetings=("workplace", "sum"))
            .astype({"first_meetings": "int64", "workplace_meetings": "int64", "month": "int32"})
            .assign(source="meetings")
        )
        if source == "auto" and visitation is None and study.monitoring is not None:
            mon = _monitoring_counts(study)
            key = pd.MultiIndex.from_frame(counts[["jobcentre", "month"]])
            covered = key.isin(pd.MultiIndex.from_frame(mon[["jobcentre", "month"]]))
            counts = pd.concat([counts[~covered], mon], ignore_index=True)
    counts = counts.sort_values(["jobcentre", "month"]).reset_index(drop=True)
    counts["month"] = counts["month"].astype("int32")
    counts.insert(2, "month_label", month_label(counts["month"]))
    counts["share"] = _share(counts["workplace_meetings"], counts["first_meetings"])
    return counts[[*_SHARE_COLUMNS, "share", "source"]]


def _spells_with_measure(study: StudyData, spells: pd.DataFrame, w0: int, w1: int) -> pd.Series:
    """Flag spells with an intervention starting or active in spell weeks ``w0..w1``."""
    iv = study.interventions[["spell_id", "start", "end"]].dropna(subset=["start"])
    iv = iv.assign(spell_id=iv["spell_id"].astype(str))
    sp = pd.DataFrame({"spell_id": spells["spell_id"].astype(str), "a": spells["absence_start"]})
    j = iv.merge(sp, on="spell_id", how="inner")
    lo = j["a"] + pd.Timedelta(days=7 * (w0 - 1))
    hi = j["a"] + pd.Timedelta(days=7 * w1) - _DAY
    hit = (j["start"] <= hi) & (j["end"].isna() | (j["end"] >= lo))
    ids = set(j.loc[hit, "spell_id"])
    return spells["spell_id"].astype(str).isin(ids).astype("int8")


def _measure_sample(study: StudyData, w0: int, w1: int) -> pd.DataFrame:
    """Spells on benefit at the start of week ``w0`` with weeks ``w0..w1`` observed.

    Adds ``measure`` (0/1) and ``link_month`` (week-8 month).
    """
    sp = study.spells
    start0 = sp["absence_start"] + pd.Timedelta(days=7 * (w0 - 1))
    end1 = sp["absence_start"] + pd.Timedelta(days=7 * w1) - _DAY
    ongoing = sp["benefit_end"].isna()
    keep = (ongoing & (end1 <= study.data_end())) | (~ongoing & (sp["benefit_end"] >= start0))
    out = sp.loc[keep, ["spell_id", "jobcentre", "absence_start"]].copy()
    out["spell_id"] = out["spell_id"].astype(str)
    out["jobcentre"] = out["jobcentre"].astype(str)
    out["measure"] = _spells_with_measure(study, out, w0, w1)
    out["link_month"] = _week8_month(out)
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
    w0, w1 = _check_weeks(weeks)
    s = _measure_sample(study, w0, w1)
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
    out["share"] = _share(out["n_measure"], out["n_spells"])
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
            "month": _week8_month(spells).astype("int64").to_numpy(),
        }
    )
    merged = key.merge(sh, on=["jobcentre", "month"], how="left", validate="many_to_one")
    return pd.Series(merged["_value"].to_numpy(), index=spells.index, name=name, dtype="float64")


def _in_windows(
    study: StudyData, jobcentre: pd.Series, value: pd.Series, unit: Literal["month", "date"]
) -> np.ndarray:
    """``True`` where ``value`` lies in a programme window of ``jobcentre``.

    ``unit="month"`` compares integer months with the windows' start/end months,
    ``unit="date"`` compares dates with the window dates; a missing end is open.
    """
    prog = study.programme
    lo, hi = prog["start"], prog["end"]
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
        {"jobcentre": prog["jobcentre"].astype(str).to_numpy(), "lo": lo_v, "hi": hi_v}
    )
    key = pd.DataFrame(
        {"jobcentre": jobcentre.astype(str).to_numpy(), "v": v, "_row": np.arange(len(v))}
    )
    j = key.merge(win, on="jobcentre", how="inner")
    out = np.zeros(len(key), dtype=bool)
    out[j.loc[(j["v"] >= j["lo"]) & (j["v"] <= j["hi"]), "_row"].to_numpy()] = True
    return out


def _treatment(study: StudyData, spells: pd.DataFrame) -> np.ndarray:
    """``D`` = 1 when the spell's week-8 date lies in its jobcentre's programme window."""
    w8 = spells["absence_start"] + WEEK8_OFFSET
    return _in_windows(study, spells["jobcentre"], w8, "date").astype("int8")


def _aggregate(frame: pd.DataFrame, by: list[str], target: float, min_count: int) -> pd.DataFrame:
    """Sum meeting counts over ``by`` and recompute the shares and the target flag."""
    g = (
        frame.assign(_jc=frame["jobcentre"])
        .groupby(by, as_index=False, sort=True)
        .agg(
            n_jobcentres=("_jc", "nunique"),
            n_months=("month", "size"),
            n_months_in_window=("in_window", "sum"),
            first_meetings=("first_meetings", "sum"),
            workplace_meetings=("workplace_meetings", "sum"),
            first_meetings_v23=("first_meetings_v23", "sum"),
            workplace_meetings_v23=("workplace_meetings_v23", "sum"),
            n_months_at_target=("meets_target", lambda s: int((s == True).sum())),  # noqa: E712
        )
    )
    return _finish(g, target, min_count)


def _finish(frame: pd.DataFrame, target: float, min_count: int) -> pd.DataFrame:
    """Add ``share``, ``share_v23`` and ``meets_target`` (NA below ``min_count``)."""
    f = frame.copy()
    f["share"] = _share(f["workplace_meetings"], f["first_meetings"])
    f["share_v23"] = _share(f["workplace_meetings_v23"], f["first_meetings_v23"])
    meets = (f["share"] >= target).astype("boolean")
    f["meets_target"] = meets.mask(f["first_meetings"] < min_count)
    return f


def measure_did(study: StudyData, *, weeks: tuple[int, int] = (1, 13)) -> pd.DataFrame:
    r"""Difference-in-differences in the share of spells with a measure in ``weeks``.

    Spell-level linear probability model :math:`y_i = \gamma_j + \delta_m + \beta D_i + e_i`:
    :math:`y_i` = 1[measure starting or active in ``weeks``] (sample of
    :func:`measure_shares`), :math:`D_i` = programme jobcentre x week-8 date in its window,
    jobcentre and cohort-month (week-8 month) effects, SEs clustered by jobcentre.

    Every regressor is constant within a jobcentre x cohort-month x ``D`` cell, so the
    spell-level least squares equal weighted least squares on the cell means (weights: the
    number of spells), and the cluster scores are the same sums: the model is fitted on the
    cells with :class:`linearmodels.PanelOLS` (cells as entities, ``time_effects`` for the
    months, ``other_effects`` for the jobcentres, spell-count weights). The covariance is
    scaled to the spell-level small-sample factor ``N / (N - K)`` that PanelOLS applies
    with ``debiased=True`` on the spells, and p-values and the interval use the t
    distribution with the spell-level residual degrees of freedom: the results equal a
    spell-level PanelOLS fit (checked in the tests) at a fraction of its time.

    Parameters
    ----------
    study
        Validated study tables.
    weeks
        Measure window in spell weeks (inclusive).

    Returns
    -------
    pandas.DataFrame
        One row ``term="D"``: ``coef``, ``se``, ``t_stat``, ``p_value``, ``ci_low``,
        ``ci_high`` (95 %), ``*_pp`` in percentage points, ``n_spells``, ``n_jobcentres``,
        ``n_months``; NaN with a ``NotIdentifiedWarning`` if not identified.
    """
    w0, w1 = _check_weeks(weeks)
    s = _measure_sample(study, w0, w1)
    s["D"] = _treatment(study, s)
    return _did_from_sample(s)


def _did_from_sample(s: pd.DataFrame) -> pd.DataFrame:
    """The DiD of :func:`measure_did` on its spell sample (``measure``, ``D``, ...)."""
    from linearmodels import PanelOLS
    from linearmodels.panel.utility import AbsorbingEffectError

    if s.empty:
        raise EstimationError("measure_did: no spells observed through the measure window.")
    counts = {
        "n_spells": len(s),
        "n_jobcentres": int(s["jobcentre"].nunique()),
        "n_months": int(s["link_month"].nunique()),
    }
    est = dict.fromkeys(("coef", "se", "t_stat", "p_value", "ci_low", "ci_high"), np.nan)
    ok = s["D"].nunique() > 1 and s["measure"].nunique() > 1 and counts["n_jobcentres"] > 1
    if ok:
        cells = (
            s.groupby(["jobcentre", "link_month", "D"], sort=True)["measure"]
            .agg(["size", "mean"])
            .reset_index()
        )
        cells = cells.assign(
            cell=np.arange(len(cells)),
            jc=pd.Categorical(cells["jobcentre"]).codes.astype("int64"),
            t=cells["link_month"].astype("int64"),
        ).set_index(["cell", "t"])
        mod = PanelOLS(
            cells["mean"].astype("float64"),
            cells[["D"]].astype("float64"),
            time_effects=True,
            other_effects=cells[["jc"]],
            weights=cells["size"].astype("float64"),
        )
        try:
            res = mod.fit(cov_type="clustered", clusters=cells[["jc"]])
        except AbsorbingEffectError:
            ok = False
        else:
            n_spells, n_cells, df_cells = len(s), len(cells), int(res.df_resid)
            df = n_spells - (n_cells - df_cells)  # spell-level residual degrees of freedom
            scale = (n_spells / df) / (n_cells / df_cells)
            coef = float(res.params["D"])
            se = float(res.std_errors["D"]) * float(np.sqrt(scale))
            t_stat = coef / se
            q = float(stats.t.ppf(0.975, df))
            est = {
                "coef": coef,
                "se": se,
                "t_stat": t_stat,
                "p_value": float(2 * stats.t.sf(abs(t_stat), df)),
                "ci_low": coef - q * se,
                "ci_high": coef + q * se,
            }
    if not ok:
        msg = (
            "measure_did: D is constant or absorbed by the jobcentre and month effects, or "
            "the outcome has no variation; the DiD is not identified (reported as NaN)."
        )
        warnings.warn(msg, NotIdentifiedWarning, stacklevel=3)
    row: dict[str, Any] = {"term": "D", **est}
    row.update({f"{k}_pp": 100.0 * est[k] for k in ("coef", "se", "ci_low", "ci_high")})
    row.update(counts)
    return pd.DataFrame([row])


@dataclass(frozen=True)
class MonitoringResult:
    """Success-criteria monitoring tables (see :func:`success_criteria`).

    Attributes
    ----------
    by_month, by_half_year
        Jobcentre x month / half-year (``"2018H2"``): counts, ``share``, ``share_v23``,
        ``meets_target``, ``programme`` and ``in_window`` flags (months in window).
    overall
        Programme jobcentres pooled over in-window months, by half-year and ``overall``.
    measures
        Spells with a measure by jobcentre x half-year (week-8 date) x ``programme`` x ``D``.
    did
        Difference-in-differences of the measure share (:func:`measure_did`).
    target
        Target share of first meetings at the workplace.
    """

    by_month: pd.DataFrame
    by_half_year: pd.DataFrame
    overall: pd.DataFrame
    measures: pd.DataFrame
    did: pd.DataFrame
    target: float = 0.70

    def to_frame(self) -> pd.DataFrame:
        """Return the jobcentre x month table (a copy)."""
        return self.by_month.copy()

    def summary(self) -> str:
        """Plain-text summary: pooled shares against the target and the measure DiD."""
        cols = ["period", "n_jobcentres", "first_meetings", "workplace_meetings", "share"]
        cols.append("share_v23")
        d = self.did.iloc[0]
        return (
            f"Success criteria monitoring\nTarget: >= {self.target:.0%} of first follow-up "
            "meetings at the workplace\n\nProgramme jobcentres pooled (in-window months):\n"
            + self.overall[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}")
            + "\n\nWorkplace-oriented measures, DiD (LPM, clustered by jobcentre):\n"
            f"  D = {d['coef_pp']:.2f} pp (SE {d['se_pp']:.2f}, 95% CI {d['ci_low_pp']:.2f} "
            f"to {d['ci_high_pp']:.2f}, p = {d['p_value']:.3f}), n = {int(d['n_spells'])} spells"
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """Notebook representation: pooled shares and the DiD row."""
        return (
            f"<h4>Success criteria monitoring (target {self.target:.0%})</h4>"
            + self.overall.to_html(index=False, float_format=lambda x: f"{x:.3f}")
            + "<h5>Workplace-oriented measures: difference-in-differences</h5>"
            + self.did.to_html(index=False, float_format=lambda x: f"{x:.4f}")
        )

    def plot(self, ax: Axes | None = None) -> Figure:
        """Plot monthly shares: programme jobcentres thin, pooled mean thick, target dashed.

        Parameters
        ----------
        ax
            Axes to draw on; a new figure when ``None``.

        Returns
        -------
        matplotlib.figure.Figure
            The figure drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.subplots(figsize=(8, 4.5))[1]
        fig_any: Any = ax.figure
        prog = self.by_month[self.by_month["programme"]]
        for _, g in prog.groupby("jobcentre", sort=True):
            x = pd.to_datetime(g["month_label"] + "-01")
            ax.plot(x, g["share"], lw=0.8, alpha=0.6, color="0.55")
        counts = ["first_meetings", "workplace_meetings"]
        pooled = prog.groupby("month_label", sort=True)[counts].sum()
        if not pooled.empty:
            ax.plot(
                pd.to_datetime(pooled.index.to_series() + "-01"),
                _share(pooled["workplace_meetings"], pooled["first_meetings"]),
                lw=2.5,
                color="C0",
                label="programme jobcentres pooled",
            )
        ax.axhline(self.target, ls="--", color="C3", lw=1.2, label=f"target {self.target:.0%}")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of first meetings at the workplace")
        ax.set_xlabel("month")
        ax.legend(loc="upper left", frameon=False)
        fig: Figure = fig_any
        return fig


def success_criteria(
    study: StudyData,
    *,
    target: float = 0.70,
    measure_weeks: tuple[int, int] = (1, 13),
    min_count: int = 5,
) -> MonitoringResult:
    """Monitor SOF's success criteria (DESIGN.md §1).

    Criterion 1: ``target`` of first meetings at the workplace. Monthly counts from
    :func:`meeting_shares` (``source="auto"``); ``share_v23`` from meetings of visitation
    categories 2+3 (0 counts without ``visitation_category``). ``meets_target`` is ``NA``
    below ``min_count`` first meetings (too few to judge; not disclosure control).
    ``overall`` pools the programme jobcentres' in-window months. Criterion 2: share of
    spells with a measure in ``measure_weeks`` and its DiD (:func:`measure_did`).

    Parameters
    ----------
    study
        Validated study tables.
    target
        Target share of first meetings at the workplace.
    measure_weeks
        Measure window in spell weeks (inclusive).
    min_count
        Minimum number of first meetings for a ``meets_target`` verdict.

    Returns
    -------
    MonitoringResult
        Tables ``by_month``, ``by_half_year``, ``overall``, ``measures``, ``did``.
    """
    if not (0.0 <= float(target) <= 1.0 and int(min_count) >= 0):
        raise OptionError(f"target={target!r} must be in [0, 1] and min_count={min_count!r} >= 0.")
    keys = ["jobcentre", "month"]
    allm = meeting_shares(study, source="auto")
    v23_cols = {c: f"{c}_v23" for c in ("first_meetings", "workplace_meetings")}
    bm = allm.drop(columns=["share"])
    if "visitation_category" in study.spells.columns:
        v23 = meeting_shares(study, visitation=(2, 3), source="meetings")
        bm = bm.merge(v23[[*keys, *v23_cols]].rename(columns=v23_cols), on=keys, how="outer")
    bm = bm.reindex(columns=[*bm.columns.difference(list(v23_cols.values())), *v23_cols.values()])
    for c in (*v23_cols, *v23_cols.values()):
        bm[c] = bm[c].fillna(0).astype("int64")
    bm["month"] = bm["month"].astype("int32")
    bm["month_label"] = month_label(bm["month"])
    bm["source"] = bm["source"].fillna("meetings")
    bm["half_year"] = half_year_label(bm["month"])
    programme = set(study.programme_jobcentres)
    bm["programme"] = bm["jobcentre"].isin(programme)
    bm["in_window"] = _in_windows(study, bm["jobcentre"], bm["month"], "month")
    bm = _finish(bm, target, min_count)
    order = ["jobcentre", "month", "month_label", "half_year", "programme", "in_window"]
    order += [*v23_cols, "share", *v23_cols.values(), "share_v23", "meets_target", "source"]
    bm = bm[order].sort_values(keys).reset_index(drop=True)

    by_half = _aggregate(bm, ["jobcentre", "half_year", "programme"], target, min_count)
    by_half = by_half.drop(columns=["n_jobcentres"])

    pw = bm[bm["programme"] & bm["in_window"]]
    per_half = _aggregate(pw.assign(period=pw["half_year"]), ["period"], target, min_count)
    tot = _aggregate(pw.assign(period="overall"), ["period"], target, min_count)
    overall = pd.concat([per_half, tot], ignore_index=True)

    w0, w1 = _check_weeks(measure_weeks)
    s = _measure_sample(study, w0, w1)
    s["D"] = _treatment(study, s)
    s["programme"] = s["jobcentre"].isin(programme)
    s["half_year"] = half_year_label(s["link_month"]).to_numpy()
    measures = s.groupby(["jobcentre", "half_year", "programme", "D"], as_index=False).agg(
        n_spells=("measure", "size"), n_measure=("measure", "sum")
    )
    measures["share"] = _share(measures["n_measure"], measures["n_spells"])
    did = _did_from_sample(s)
    return MonitoringResult(bm, by_half, overall, measures, did, float(target))
