"""Success-criteria monitoring of the SOF programme (DESIGN.md §1, §4).

:func:`success_criteria`: the share of first meetings at the workplace against the 70 %
target, per jobcentre-month, half-year and pooled over the programme jobcentres' months in
their windows (:class:`MonitoringResult`); :func:`measure_did`: the difference-in-differences
of workplace-oriented measures before week 13 (linearmodels). The mediators themselves are
in :mod:`sofeval.analyses.mediators`. Counts stay counts: disclosure control is applied by
the report layer.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import special

from sofeval.analyses.mediators import (
    check_weeks,
    half_year_label,
    measure_sample,
    meeting_shares,
    safe_share,
)
from sofeval.data import WEEK8_OFFSET, StudyData, month_index, month_label
from sofeval.errors import EstimationError, NotIdentifiedWarning, OptionError
from sofeval.models import ResultsBase
from sofeval.report import Lang, monitoring_plot

__all__ = ["MonitoringResult", "measure_did", "success_criteria"]

#: Columns of the pooled table in :meth:`MonitoringResult.summary`.
_OVERALL_SUMMARY: tuple[str, ...] = (
    "period",
    "n_jobcentres",
    "first_meetings",
    "workplace_meetings",
    "share",
    "share_v23",
)


def _fmt3(v: float) -> str:
    return f"{v:.3f}"


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
    if prog.empty:
        return np.zeros(len(v), dtype=bool)
    codes, names = pd.factorize(jobcentre.astype(str))  # few names: matched once each
    row = pd.Index(prog["jobcentre"].astype(str)).get_indexer(pd.Index(names))
    row = np.append(row, -1)[codes]  # the programme row of each value (-1: none)
    has = row >= 0
    return has & (v >= lo_v[row]) & (v <= hi_v[row])


def _treatment(study: StudyData, spells: pd.DataFrame) -> np.ndarray:
    """``D`` = 1 when the spell's week-8 date lies in its jobcentre's programme window."""
    w8 = spells["absence_start"] + WEEK8_OFFSET
    return _in_windows(study, spells["jobcentre"], w8, "date").astype("int8")


def aggregate_shares(
    frame: pd.DataFrame, by: list[str], target: float, min_count: int
) -> pd.DataFrame:
    """Sum meeting counts over ``by`` and recompute the shares and the target flag."""
    at_target = (frame["meets_target"] == True).fillna(False)  # noqa: E712 (NA: not at target)
    g = (
        frame.assign(_jc=frame["jobcentre"], _at=at_target.astype("int64"))
        .groupby(by, as_index=False, sort=True)
        .agg(
            n_jobcentres=("_jc", "nunique"),
            n_months=("month", "size"),
            n_months_in_window=("in_window", "sum"),
            first_meetings=("first_meetings", "sum"),
            workplace_meetings=("workplace_meetings", "sum"),
            first_meetings_v23=("first_meetings_v23", "sum"),
            workplace_meetings_v23=("workplace_meetings_v23", "sum"),
            n_months_at_target=("_at", "sum"),
        )
    )
    return finish_shares(g, target, min_count)


def finish_shares(frame: pd.DataFrame, target: float, min_count: int) -> pd.DataFrame:
    """Add ``share``, ``share_v23`` and ``meets_target`` (NA below ``min_count``)."""
    f = frame.copy()
    f["share"] = safe_share(f["workplace_meetings"], f["first_meetings"])
    f["share_v23"] = safe_share(f["workplace_meetings_v23"], f["first_meetings_v23"])
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
    w0, w1 = check_weeks(weeks)
    s = measure_sample(study, w0, w1)
    s["D"] = _treatment(study, s)
    return _did_from_sample(s)


def _did_from_sample(s: pd.DataFrame) -> pd.DataFrame:
    """The DiD of :func:`measure_did` on its spell sample (``measure``, ``D``, ...)."""
    return measure_did_from_counts(_sample_counts(s))


def _sample_counts(s: pd.DataFrame) -> pd.DataFrame:
    """Spells of the measure sample per ``jobcentre, link_month, D, measure`` (as ``n``).

    Grouped on integer codes (the jobcentre names sorted, so the rows come in the order
    of a sorted ``groupby``); only the patterns present are returned.
    """
    codes, names = pd.factorize(s["jobcentre"], sort=True)
    month = s["link_month"].to_numpy(np.int64)
    d, measure = s["D"].to_numpy(np.int64), s["measure"].to_numpy(np.int64)
    lo = int(month.min()) if len(month) else 0
    span = int(month.max()) - lo + 1 if len(month) else 1
    d_lo, d_span = (int(d.min()), int(d.max()) - int(d.min()) + 1) if len(d) else (0, 1)
    m_lo, m_span = (int(measure.min()), int(measure.max()) - int(measure.min()) + 1) \
        if len(measure) else (0, 1)
    key = ((codes * span + (month - lo)) * d_span + (d - d_lo)) * m_span + (measure - m_lo)
    key, n = np.unique(key, return_counts=True)
    rest, m_code = np.divmod(key, m_span)
    rest, d_code = np.divmod(rest, d_span)
    jc, month_code = np.divmod(rest, span)
    out = pd.DataFrame(
        {
            "jobcentre": pd.Index(names).to_numpy(dtype=object)[jc],
            "link_month": month_code + lo,
            "D": d_code + d_lo,
            "measure": m_code + m_lo,
            "n": n.astype(np.int64),
        }
    )
    return out.astype({c: s[c].dtype for c in ("link_month", "D", "measure")})


def measure_did_from_counts(c: pd.DataFrame) -> pd.DataFrame:
    """The DiD of :func:`measure_did` from the spell sample's counts.

    Parameters
    ----------
    c
        ``jobcentre, link_month, D, measure, n``: the number ``n`` of sample spells with
        each pattern (what the dask engine reduces from its partitions).

    Returns
    -------
    pandas.DataFrame
        One row: ``term, coef, se, t_stat, p_value, ci_low, ci_high``, the same in
        percentage points, ``n_spells, n_jobcentres, n_months``.
    """
    # linearmodels takes seconds to import (statsmodels, formulaic): only on use
    from linearmodels import PanelOLS
    from linearmodels.panel.utility import AbsorbingEffectError

    c = c[c["n"] > 0]
    if c.empty:
        raise EstimationError("measure_did: no spells observed through the measure window.")
    n_spells = int(c["n"].sum())
    counts = {
        "n_spells": n_spells,
        "n_jobcentres": int(c["jobcentre"].nunique()),
        "n_months": int(c["link_month"].nunique()),
    }
    est = dict.fromkeys(("coef", "se", "t_stat", "p_value", "ci_low", "ci_high"), np.nan)
    ok = c["D"].nunique() > 1 and c["measure"].nunique() > 1 and counts["n_jobcentres"] > 1
    if ok:
        g = c.assign(hits=c["n"] * c["measure"].astype("int64")).groupby(
            ["jobcentre", "link_month", "D"], sort=True
        )
        cells = g[["n", "hits"]].sum().reset_index()
        cells["size"] = cells.pop("n").astype("int64")
        cells["mean"] = cells.pop("hits").to_numpy(np.float64) / cells["size"].to_numpy(np.float64)
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
            n_cells, df_cells = len(cells), int(res.df_resid)
            df = n_spells - (n_cells - df_cells)  # spell-level residual degrees of freedom
            scale = (n_spells / df) / (n_cells / df_cells)
            coef = float(res.params["D"])
            se = float(res.std_errors["D"]) * float(np.sqrt(scale))
            t_stat = coef / se
            q = float(special.stdtrit(df, 0.975))
            est = {
                "coef": coef,
                "se": se,
                "t_stat": t_stat,
                "p_value": float(2 * special.stdtr(df, -abs(t_stat))),
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
class MonitoringResult(ResultsBase):
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

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return f"Success criteria monitoring (target {self.target:.0%})"

    def to_frame(self) -> pd.DataFrame:
        """Return the jobcentre x month table (a copy)."""
        return self.by_month.copy()

    def summary(self) -> str:
        """Plain-text summary: pooled shares against the target and the measure DiD."""
        d = self.did.iloc[0]
        return (
            f"Success criteria monitoring\nTarget: >= {self.target:.0%} of first follow-up "
            "meetings at the workplace\n\nProgramme jobcentres pooled (in-window months):\n"
            + self.overall[list(_OVERALL_SUMMARY)].to_string(index=False, float_format=_fmt3)
            + "\n\nWorkplace-oriented measures, DiD (LPM, clustered by jobcentre):\n"
            f"  D = {d['coef_pp']:.2f} pp (SE {d['se_pp']:.2f}, 95% CI {d['ci_low_pp']:.2f} "
            f"to {d['ci_high_pp']:.2f}, p = {d['p_value']:.3f}), n = {int(d['n_spells'])} spells"
        )

    def _repr_html_(self) -> str:
        """Notebook representation: pooled shares and the DiD row."""
        return (
            f"<h4>{html.escape(self.title)}</h4>"
            + self.overall.to_html(index=False, float_format=_fmt3)
            + "<h5>Workplace-oriented measures: difference-in-differences</h5>"
            + self.did.to_html(index=False, float_format=lambda x: f"{x:.4f}")
        )

    def plot(self, ax: Axes | None = None, lang: Lang = "en", **kwargs: Any) -> Figure:
        """Monthly shares of the programme jobcentres: thin lines, pooled thick, target dashed.

        Parameters
        ----------
        ax
            Axes to draw on (default: a new figure).
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.monitoring_plot` (``share``, ``min_count``,
            ``in_window_only``; default: every month of the programme jobcentres).

        Returns
        -------
        matplotlib.figure.Figure
        """
        kwargs.setdefault("in_window_only", False)
        prog = self.by_month[self.by_month["programme"]]
        return monitoring_plot(prog, self.target, ax=ax, lang=lang, **kwargs)


def _monthly_table(study: StudyData, target: float, min_count: int) -> pd.DataFrame:
    """The jobcentre x month table of :func:`success_criteria` (``by_month``)."""
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
    bm["programme"] = bm["jobcentre"].isin(set(study.programme_jobcentres))
    bm["in_window"] = _in_windows(study, bm["jobcentre"], bm["month"], "month")
    bm = finish_shares(bm, target, min_count)
    order = ["jobcentre", "month", "month_label", "half_year", "programme", "in_window"]
    order += [*v23_cols, "share", *v23_cols.values(), "share_v23", "meets_target", "source"]
    return bm[order].sort_values(keys).reset_index(drop=True)


def _pooled_periods(bm: pd.DataFrame, target: float, min_count: int) -> pd.DataFrame:
    """Programme jobcentres' in-window months pooled by half-year and ``overall``."""
    pw = bm[bm["programme"] & bm["in_window"]]
    per_half = aggregate_shares(pw.assign(period=pw["half_year"]), ["period"], target, min_count)
    tot = aggregate_shares(pw.assign(period="overall"), ["period"], target, min_count)
    return pd.concat([per_half, tot], ignore_index=True)


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
    bm = _monthly_table(study, target, min_count)
    by_half = aggregate_shares(bm, ["jobcentre", "half_year", "programme"], target, min_count)
    by_half = by_half.drop(columns=["n_jobcentres"])
    overall = _pooled_periods(bm, target, min_count)
    w0, w1 = check_weeks(measure_weeks)
    s = measure_sample(study, w0, w1)
    s["D"] = _treatment(study, s)
    counts = _sample_counts(s)  # the spell sample's few patterns: both tables are sums
    c = counts.assign(
        programme=counts["jobcentre"].isin(set(study.programme_jobcentres)),
        half_year=half_year_label(counts["link_month"]).to_numpy(),
        hits=counts["n"] * counts["measure"].astype("int64"),
    )
    measures = c.groupby(["jobcentre", "half_year", "programme", "D"], as_index=False).agg(
        n_spells=("n", "sum"), n_measure=("hits", "sum")
    )
    # as a groupby sum of the int8 measure flags: int8 where the counts fit (the dtype of
    # the spell-level groupby this replaces, and of the dask engine's table)
    if measures["n_measure"].between(-128, 127).all():
        measures["n_measure"] = measures["n_measure"].astype("int8")
    measures["share"] = safe_share(measures["n_measure"], measures["n_spells"])
    did = measure_did_from_counts(counts)
    return MonitoringResult(bm, by_half, overall, measures, did, float(target))
