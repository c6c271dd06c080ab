"""Dose-response ("mediation") analysis (DESIGN.md §4, last paragraph).

Sample: spells of programme jobcentres whose week-8 date lies inside their programme
window. Each spell is linked to the jobcentre-month mediator :math:`S_{j,m_i}` of the month
:math:`m_i` of its week-8 date (default mediator: the share of first follow-up meetings held
at the workplace). The model is the default hazard model without the programme dummies plus
one slope per outcome window,

.. math:: g\\{P(y_{it}=1)\\} = \\alpha_{b(t)} + \\gamma_j + \\delta_{month} + x_i'\\beta
    + \\sum_w \\lambda_w S_{j,m_i} 1[t \\in w],

fitted on cells keyed additionally by the link month, with standard errors clustered by
jobcentre. The effect of +10 percentage points is reported as
:math:`100(\\exp(0.1\\lambda) - 1)` % change in the exit rate, with the CI transformed the
same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sofeval.analyses.mediators import MeetingSource, measure_shares, meeting_shares
from sofeval.analyses.specification import (
    SOF_FAMILIES,
    SOFCells,
    design_matrix,
    fit_cells,
    model_frame,
    sof_cells,
)
from sofeval.data import StudyData, parse_month
from sofeval.errors import (
    EstimationError,
    NotIdentifiedWarning,
    OptionError,
    SofevalError,
    check_option,
)
from sofeval.models import (
    BootStatistic,
    DesignMatrix,
    Family,
    GLMFit,
    ResultsBase,
    restricted_start,
    vcov,
    wald_table,
    wild_score_bootstrap,
)
from sofeval.panel import StudyDesign
from sofeval.report import Lang, dose_response_plot

__all__ = [
    "DEFAULT_WINDOWS",
    "DOSE_COLUMNS",
    "MEASURE_WINDOWS",
    "MEASURE_WEEKS",
    "OutcomeWindow",
    "DoseResponseResult",
    "dose_response",
    "pct_per_10pp",
]

#: An outcome window: (label, first spell week, last spell week or None for open).
OutcomeWindow = tuple[str, int, int | None]

#: Outcome windows of the report: weeks 1–7 and week 8 on.
DEFAULT_WINDOWS: tuple[OutcomeWindow, ...] = (
    ("weeks_1_7", 1, 7),
    ("weeks_8_plus", 8, None),
)
#: The report's second mediator: measures in weeks 8–13 against exits from week 14.
MEASURE_WINDOWS: tuple[OutcomeWindow, ...] = (("weeks_14_plus", 14, None),)
#: Spell weeks of the ``measures`` mediator (a measure starting or active in weeks 8-13).
MEASURE_WEEKS: tuple[int, int] = (8, 13)
#: Week standing in for an open end of an outcome window.
_OPEN_END = 10**6

DOSE_COLUMNS: tuple[str, ...] = (
    "window",
    "mediator",
    "coef",
    "se",
    "p_value",
    "p_wild",
    "pct_per_10pp",
    "ci_low_pct",
    "ci_high_pct",
    "n_spells",
)


def pct_per_10pp(coef: np.ndarray | float) -> np.ndarray:
    """Percentage change in the exit rate for +10 percentage points: ``100(exp(0.1 λ) − 1)``."""
    return 100.0 * (np.exp(0.1 * np.asarray(coef, dtype=float)) - 1.0)


@dataclass(frozen=True)
class DoseResponseResult(ResultsBase):
    """Dose-response estimates (immutable).

    Attributes
    ----------
    table
        One row per outcome window, columns :data:`DOSE_COLUMNS`.
    shares
        The jobcentre-month mediator used (jobcentre, month, share, ...).
    fit
        Numerical fit on cells.
    n_person_weeks
        Person-weeks in the estimation sample.
    """

    table: pd.DataFrame
    shares: pd.DataFrame
    fit: GLMFit = field(repr=False)
    n_person_weeks: int = 0

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            "Dose-response: % change in the exit rate to employment per +10 pp of the mediator "
            f"({self.n_person_weeks:,} person-weeks; SEs clustered by jobcentre)"
        )

    def to_frame(self) -> pd.DataFrame:
        """The dose-response table (a copy)."""
        return self.table.copy()

    def plot(
        self, ax: Axes | Sequence[Axes] | None = None, lang: Lang = "en", **kwargs: Any
    ) -> Figure:
        """The % change per +10 pp with its CI per window, and the implied curve.

        Parameters
        ----------
        ax
            Axes (two for the default ``kind="both"``; default: a new figure).
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.dose_response_plot` (``kind``, ``mediator``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        return dose_response_plot(self.table, ax=ax, lang=lang, **kwargs)


# --------------------------------------------------------------------------------------
# Steps of dose_response
# --------------------------------------------------------------------------------------


def _mediator_frame(
    study: StudyData,
    mediator: str | pd.DataFrame,
    visitation: Sequence[int] | None,
    source: MeetingSource,
) -> tuple[str, pd.DataFrame]:
    """The mediator's name and its jobcentre-month table (``jobcentre, month, share``)."""
    if isinstance(mediator, pd.DataFrame):
        missing = {"jobcentre", "month", "share"} - set(mediator.columns)
        if missing:
            raise SofevalError(
                f"mediator: the table lacks the columns {sorted(missing)}; it needs "
                "jobcentre, month (integer month or YYYY-MM) and share."
            )
        frame = mediator.copy()
        if frame["month"].dtype == object:
            frame["month"] = parse_month(frame["month"]).to_numpy()
        bad = frame[(frame["share"] < 0) | (frame["share"] > 1)]
        if len(bad):
            raise SofevalError(
                f"mediator: rule 'share_in_unit_interval' broken by {len(bad)} rows "
                f"(jobcentre: {', '.join(bad['jobcentre'].astype(str).head(10))}); shares "
                "must lie in [0, 1]."
            )
        return "custom", frame
    check_option("mediator", mediator, ("workplace_meetings", "measures"))
    if mediator == "workplace_meetings":
        return mediator, meeting_shares(study, visitation=visitation, source=source)
    return mediator, measure_shares(study, weeks=MEASURE_WEEKS)


def _dose_cells(
    study: StudyData,
    design: StudyDesign | None,
    covariates: Sequence[str],
    cells: SOFCells | None,
    progress: bool | None,
) -> SOFCells:
    """Cells keyed by ``link_month`` (and the covariates): given, checked, or collapsed."""
    if cells is None:
        return sof_cells(study, design, covariates, extra_keys=("link_month",), progress=progress)
    missing = {"link_month", *covariates} - set(cells.cells.keys)
    if missing:
        raise OptionError(
            f"dose_response: cells= must be keyed by {sorted(missing)} as well; build them "
            "with sof_cells(study, design, covariates, extra_keys=('link_month',))."
        )
    return cells


def _window_mask(week: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """Spell weeks inside the outcome window ``lo..hi`` (``hi=None``: open)."""
    return (week >= lo) & (week <= (hi if hi is not None else _OPEN_END))


def _dose_frame(
    sc: SOFCells,
    covariates: Sequence[str],
    shares: pd.DataFrame,
    windows: Sequence[OutcomeWindow],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Model frame with one mediator slope ``S[label]`` per window, on the sample cells.

    The sample is the treated cells inside an outcome window with a mediator value.
    Returns the frame, events, trials and the slope columns.
    """
    frame = sc.cells.frame
    mf = model_frame(sc, covariates)
    s_map = shares.set_index(["jobcentre", "month"])["share"]
    key = pd.MultiIndex.from_arrays([mf["jobcentre"], frame["link_month"].to_numpy()])
    s = s_map.reindex(key).to_numpy(dtype=float)
    week = frame["week"].to_numpy()
    in_window = np.zeros(len(frame), dtype=bool)
    numeric: list[str] = []
    for label, lo, hi in windows:
        m = _window_mask(week, lo, hi)
        in_window |= m
        mf[f"S[{label}]"] = np.where(m, s, 0.0)
        numeric.append(f"S[{label}]")
    keep = (mf["D"].to_numpy() == 1) & in_window & np.isfinite(s)
    if not keep.any():
        raise EstimationError(
            "dose_response: no person-weeks of programme jobcentres inside their window with a "
            "mediator value; check the programme table and the mediator's months."
        )
    events = frame["event"].to_numpy(float)[keep]
    trials = frame["at_risk"].to_numpy(float)[keep]
    return mf[keep].reset_index(drop=True), events, trials, numeric


def _sample_spells(sc: SOFCells, shares: pd.DataFrame) -> pd.DataFrame:
    """Spells in the dose-response sample (treated by week 8, with a mediator value)."""
    sf = sc.spells
    sf = sf[sf["D"].astype(int) == 1]
    have = shares.set_index(["jobcentre", "month"])["share"]
    key = pd.MultiIndex.from_arrays([sf["jobcentre"].astype(str), sf["link_month"].to_numpy()])
    return sf[np.isfinite(have.reindex(key).to_numpy(dtype=float))]


def _window_row(
    label: str,
    mediator: str,
    coef: float,
    se: float,
    p_wild: float,
    n_spells: int,
) -> dict[str, Any]:
    """One row of :data:`DOSE_COLUMNS`: λ with its Wald test and the % change per +10 pp."""
    wald = wald_table([coef], [se]).iloc[0]
    return {
        "window": label,
        "mediator": mediator,
        "coef": coef,
        "se": se,
        "p_value": float(wald["p_value"]) if se > 0 else np.nan,
        "p_wild": p_wild,
        "pct_per_10pp": float(pct_per_10pp(coef)),
        "ci_low_pct": float(pct_per_10pp(wald["ci_low"])),
        "ci_high_pct": float(pct_per_10pp(wald["ci_high"])),
        "n_spells": n_spells,
    }


def _wild_pvalue(
    dm: DesignMatrix,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    fit: GLMFit,
    k: int,
    *,
    draws: int,
    weights: Literal["rademacher", "webb"],
    statistic: BootStatistic,
    seed: int,
    progress: bool | None,
) -> float:
    """Wild cluster bootstrap p-value of λ_k = 0 (NaN without draws or when aliased)."""
    if draws <= 0 or np.asarray(fit.aliased)[k]:
        return np.nan
    with warnings.catch_warnings():  # nuisance separation: see fit_cells
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        return wild_score_bootstrap(
            dm.X, events, trials, family, clusters, k, B=draws,
            weights=weights, seed=seed, progress=progress,
            start=restricted_start(np.asarray(fit.params), np.asarray(fit.cov),
                                   np.eye(len(fit.params))[[k]]),
            statistic=statistic,
        ).p_value


# --------------------------------------------------------------------------------------
# Dose-response
# --------------------------------------------------------------------------------------


def dose_response(
    study: StudyData,
    design: StudyDesign | None = None,
    *,
    mediator: str | pd.DataFrame = "workplace_meetings",
    windows: Sequence[OutcomeWindow] = DEFAULT_WINDOWS,
    visitation: Sequence[int] | None = None,
    source: MeetingSource = "auto",
    covariates: Sequence[str] = (),
    jobcentre_fe: bool = True,
    month_fe: bool = True,
    family: Literal["cloglog", "logit"] = "cloglog",
    progress: bool | None = None,
    cells: SOFCells | None = None,
    bootstrap_draws: int = 0,
    bootstrap_weights: Literal["rademacher", "webb"] = "rademacher",
    bootstrap_statistic: BootStatistic = "wald",
    seed: int = 0,
) -> DoseResponseResult:
    """Relate a jobcentre-month mediator to exit rates, per outcome window.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel rules (treatment by the week-8 date defines the sample).
    mediator
        ``workplace_meetings`` (share of first follow-up meetings at the workplace, from
        ``meetings`` or an overriding ``monitoring`` table), ``measures`` (share of spells in
        a workplace-oriented measure in weeks 8–13), or a table with jobcentre, month, share.
    windows
        Outcome windows ``(label, first_week, last_week or None)``; weeks outside every
        window are left out of the likelihood.
    visitation
        Only first meetings of spells in these visitation categories (e.g. ``(2, 3)``).
    source
        Where meeting shares come from (``auto``: ``monitoring`` when supplied).
    covariates
        Categorical covariates.
    jobcentre_fe, month_fe
        Jobcentre and calendar-month fixed effects (both on by default).
    family
        ``cloglog`` (default) or ``logit``.
    progress
        Progress bars (default: only in an interactive terminal).
    cells
        Cells of :func:`sofeval.analyses.sof_cells` keyed by ``link_month`` (and the
        ``covariates``), to reuse a collapse already done; built from ``study`` when None.
    bootstrap_draws, bootstrap_weights, seed
        Restricted wild cluster bootstrap of λ = 0 per window (``p_wild``; NaN when 0
        draws).
        Only the programme jobcentres enter the sample, so the clustered Wald test rests
        on about 20 clusters and over-rejects (docs/validation.md); the bootstrap p-value
        holds its size there (benchmarks/results/size_mc.csv).
    bootstrap_statistic
        ``wald`` (restricted wild cluster bootstrap-t) or ``score`` (Kline-Santos); see
        :mod:`sofeval.models.bootstrap`.

    Returns
    -------
    DoseResponseResult
    """
    check_option("family", family, SOF_FAMILIES)
    name, shares = _mediator_frame(study, mediator, visitation, source)
    sc = _dose_cells(study, design, covariates, cells, progress)
    mf, events, trials, numeric = _dose_frame(sc, covariates, shares, windows)
    categorical = ["week_block", *covariates]
    if jobcentre_fe:
        categorical.append("jobcentre")
    if month_fe:
        categorical.append("month")
    dm = design_matrix(mf, categorical, numeric, trials)
    fit = fit_cells(dm, events, trials, family, numeric)
    clusters, _ = pd.factorize(mf["jobcentre"], sort=True)
    cov = vcov(fit, dm.X, method="cluster", clusters=clusters, n_obs=int(trials.sum()))
    se_all = np.sqrt(np.clip(np.diag(cov), 0, None))
    names = list(dm.names)
    sample = _sample_spells(sc, shares)
    rows = []
    for i, (label, lo, hi) in enumerate(windows):
        k = names.index(f"S[{label}]")
        p_wild = _wild_pvalue(
            dm, events, trials, family, clusters, fit, k, draws=bootstrap_draws,
            weights=bootstrap_weights, statistic=bootstrap_statistic, seed=seed + i,
            progress=progress,
        )
        hi_w = hi if hi is not None else _OPEN_END
        n_sp = int(((sample["entry_week"] <= hi_w) & (sample["last_week"] >= lo)).sum())
        coef, se = float(np.asarray(fit.params)[k]), float(se_all[k])
        rows.append(_window_row(label, name, coef, se, p_wild, n_sp))
    return DoseResponseResult(
        pd.DataFrame(rows, columns=list(DOSE_COLUMNS)), shares, fit, int(trials.sum())
    )
