"""Event study of the SOF difference-in-differences hazard model (DESIGN.md §4b).

Event time of a spell of a programme jobcentre ``j`` is

.. math:: k_i = q(\\text{week-8 date}_i) - q(\\text{start}_j),

``q`` the calendar quarter, binned at the ends: ``k <= min_lead`` (default -6) is one bin
labelled ``min_lead`` and ``k >= K`` one bin labelled ``K``, the first quarter after the
longest programme window (``K = max_j (q(end_j) - q(start_j)) + 1``; no upper bin when a
window is open-ended). In place of ``D`` the model of §4 gets, for programme-jobcentre
spells, one dummy ``1[k_i = k]`` for every ``k != -1`` (the reference quarter), separately
for weeks 1-7 (``ex_ante``) and 8+ (``programme``):

.. math::

    g\\{P(y_{it}=1)\\} = \\alpha_{b(t)} + \\gamma_j + \\delta_{month} + x_i'\\beta
        + \\sum_{k \\ne -1} \\theta^{EA}_k 1[k_i=k] 1[t<8]
        + \\sum_{k \\ne -1} \\theta^{P}_k 1[k_i=k] 1[t\\ge 8].

Leads (``k < 0``) measure whether programme and comparison jobcentres moved together
before the start (parallel trends); lags (``k >= 0``) trace the effect over the window.
Coefficients are log hazard ratios relative to quarter -1, with

* pointwise CIs from the covariance clustered by jobcentre;
* **sup-t simultaneous bands** ``theta_k +- c se_k``, ``c`` the ``level`` quantile of
  ``max_k |Z_k|`` for ``Z ~ N(0, R)``, ``R`` the clustered correlation matrix of one
  estimand's coefficients (simulated with a seeded generator; Montiel Olea and
  Plagborg-Moller 2019);
* a **joint test that all leads are zero**: clustered Wald (chi-square) and the wild
  cluster score bootstrap of :func:`sofeval.analyses.homogeneity.wild_joint_test`.

The coefficients and their covariance are exported in the form HonestDiD
(Rambachan and Roth 2023) takes by :mod:`sofeval.analyses.honestdid` (worked example in
``docs/credibility.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import special

from sofeval.analyses.homogeneity import collapse_patterns
from sofeval.analyses.honestdid import REFERENCE_QUARTER, HonestDiDInputs, honestdid_inputs
from sofeval.analyses.specification import (
    ESTIMANDS,
    SOFCells,
    design_matrix,
    fit_cells,
    model_frame,
    sof_cells,
)
from sofeval.data import StudyData
from sofeval.errors import EstimationError, OptionError, check_option
from sofeval.models import (
    BootWeights,
    Correction,
    Family,
    GLMFit,
    ResultsBase,
    SparseDesign,
    restricted_start,
    vcov,
    wald_test,
    wild_joint_test,
)
from sofeval.panel import StudyDesign
from sofeval.report import Lang, event_study_plot

__all__ = [
    "BAND_DRAWS",
    "EVENT_STUDY_COLUMNS",
    "MIN_LEAD",
    "PRETREND_COLUMNS",
    "REFERENCE_QUARTER",
    "EventStudyResult",
    "event_quarters",
    "event_study",
    "event_window",
    "sup_t_critical",
]

EVENT_STUDY_COLUMNS: tuple[str, ...] = (
    "estimand",
    "event_quarter",
    "coef",
    "se",
    "ci_low",
    "ci_high",
    "band_low",
    "band_high",
    "n_spells",
    "n_events",
)
PRETREND_COLUMNS: tuple[str, ...] = (
    "estimand",
    "n_leads",
    "statistic",
    "df",
    "p_value",
    "p_wild",
)
#: Default lower bin: event quarters at or below -6 share one coefficient.
MIN_LEAD = -6
#: Draws of the sup-t critical value (its Monte Carlo error is ~0.01 at 10,000 draws).
BAND_DRAWS = 10_000


# --------------------------------------------------------------------------------------
# Event time of every cell
# --------------------------------------------------------------------------------------


def _quarter_of(ts: pd.Series) -> np.ndarray:
    """Quarter index ``4 year + (month - 1) // 3`` of timestamps."""
    t = pd.to_datetime(ts)
    return (t.dt.year.to_numpy() * 4 + (t.dt.month.to_numpy() - 1) // 3).astype(np.int64)


def event_window(sc: SOFCells, min_lead: int = MIN_LEAD) -> tuple[int, int | None]:
    """The binning of event time: ``(min_lead, top)``; ``top`` None without an upper bin.

    ``top = max_j (q(end_j) - q(start_j)) + 1`` over the programme windows of ``sc``.
    """
    if min_lead > REFERENCE_QUARTER - 1:
        raise OptionError(f"min_lead={min_lead} must be at most {REFERENCE_QUARTER - 1}.")
    w = sc.windows
    if w.empty:
        raise EstimationError("programme: no programme window; an event study needs one.")
    if w["end"].isna().any():
        return min_lead, None
    span = _quarter_of(w["end"]) - _quarter_of(w["start"])
    return min_lead, int(span.max()) + 1


def event_quarters(
    sc: SOFCells, link_month: np.ndarray, jobcentre: np.ndarray, min_lead: int = MIN_LEAD
) -> np.ndarray:
    """Binned event quarter of rows given their week-8 month and jobcentre.

    Parameters
    ----------
    sc
        SOF cells (for the programme windows and jobcentres).
    link_month
        Month index ``12 year + month - 1`` of the week-8 date of each row.
    jobcentre
        Jobcentre of each row.
    min_lead
        Lower bin.

    Returns
    -------
    numpy.ndarray
        ``int64`` event quarters; rows of comparison jobcentres get ``INT64_MIN``.
    """
    lo, top = event_window(sc, min_lead)
    start_q = dict(zip(sc.windows["k"].to_numpy(), _quarter_of(sc.windows["start"]),
                       strict=True))
    # the window of each jobcentre (its first cell's), matched by jobcentre code, not per row
    cell_codes, cell_jcs = pd.factorize(sc.cells.frame["jobcentre"])
    _, first = np.unique(cell_codes, return_index=True)
    win = sc.jc_window.to_numpy()[first[cell_codes[first] >= 0]]
    names = pd.Index(cell_jcs).astype(str)
    start_of_jc = {j: start_q[int(k)] for j, k in zip(names, win, strict=True) if k >= 0}
    codes, uniques = pd.factorize(np.asarray(jobcentre))
    sq_of = pd.Index(uniques).astype(str).map(start_of_jc).to_numpy(dtype=np.float64)
    sq = np.append(sq_of, np.nan)[codes]  # code -1 (missing jobcentre): no window
    out = np.full(len(sq), np.iinfo(np.int64).min, dtype=np.int64)
    ok = ~np.isnan(sq)
    k = np.asarray(link_month, dtype=np.int64)[ok] // 3 - sq[ok].astype(np.int64)
    k = np.maximum(k, lo)
    if top is not None:
        k = np.minimum(k, top)
    out[ok] = k
    return out


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventStudyResult(ResultsBase):
    """Event-study coefficients, simultaneous bands and the lead test (immutable).

    Attributes
    ----------
    table
        :data:`EVENT_STUDY_COLUMNS`; one row per estimand and event quarter including the
        reference quarter -1 (coef 0, no standard error). ``coef``, CIs and bands on the
        log-hazard-ratio scale; the end quarters stand for their bins (``<= min_lead``,
        ``>= top``).
    pretrend
        :data:`PRETREND_COLUMNS`: joint test that all leads of an estimand are zero.
    names
        Model column of every event coefficient (``ES_<estimand>[<k>]``).
    coef, cov
        Event coefficients (in ``names`` order) and their clustered covariance.
    critical_values
        Sup-t critical value per estimand.
    fit
        The numerical fit on cells.
    family, level, n_clusters, min_lead, top
        Settings and sizes.
    """

    table: pd.DataFrame
    pretrend: pd.DataFrame
    names: tuple[str, ...]
    coef: np.ndarray = field(repr=False)
    cov: np.ndarray = field(repr=False)
    critical_values: dict[str, float]
    fit: GLMFit = field(repr=False)
    family: str
    level: float
    n_clusters: int
    min_lead: int
    top: int | None

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            "Event study: log hazard ratios by quarter of the week-8 date relative to the "
            f"programme start ({self.family} link)"
        )

    def header(self) -> list[tuple[str, str]]:
        """Reference quarter, bins, the pointwise CI and the sup-t critical values."""
        top = "none" if self.top is None else f">= {self.top}"
        return [
            ("reference quarter", str(REFERENCE_QUARTER)),
            ("end bins", f"<= {self.min_lead} and {top}"),
            ("CI", f"pointwise {self.level:.0%}, clustered by jobcentre "
                   f"({self.n_clusters} clusters)"),
            ("band", "sup-t simultaneous, "
                     + ", ".join(f"{e} c = {c:.3f}" for e, c in self.critical_values.items())),
        ]

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """The joint lead tests."""
        return [("Joint test that all leads are zero (clustered Wald; wild cluster score "
                 "bootstrap)", self.pretrend)]

    def to_frame(self) -> pd.DataFrame:
        """The event-study table (a copy)."""
        return self.table.copy()

    def pretrend_frame(self) -> pd.DataFrame:
        """The lead-test table (a copy)."""
        return self.pretrend.copy()

    def honestdid(self, estimand: str) -> HonestDiDInputs:
        """HonestDiD inputs of one estimand (see :func:`~.honestdid.honestdid_inputs`)."""
        return honestdid_inputs(self, estimand)

    def plot(self, lang: Lang = "en", **kwargs: Any) -> Figure:
        """Event-study figure: coefficients, pointwise CIs and the sup-t band.

        The report's figure function builds the whole house-style figure (size, panels,
        layout), so this replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.event_study_plot`.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not registered with pyplot.
        """
        return event_study_plot(self.table, self.pretrend, lang=lang, **kwargs)


# --------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------


def sup_t_critical(
    cov: np.ndarray, level: float = 0.95, draws: int = BAND_DRAWS,
    seed: int | Sequence[int] = 0,
) -> float:
    """Sup-t critical value: the ``level`` quantile of ``max_k |Z_k|``, ``Z ~ N(0, R)``.

    ``R`` is the correlation matrix of ``cov``; a rank-deficient ``R`` (more coefficients
    than clusters) is handled through its eigen-decomposition.

    Parameters
    ----------
    cov
        Covariance of the coefficients ``(k, k)``.
    level
        Simultaneous coverage.
    draws
        Number of simulated vectors.
    seed
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    float
    """
    v = np.asarray(cov, dtype=np.float64)
    if v.size == 0:
        return float("nan")
    sd = np.sqrt(np.diag(v))
    r = v / np.outer(sd, sd)
    lam, vec = np.linalg.eigh((r + r.T) / 2)
    root = vec * np.sqrt(np.clip(lam, 0.0, None))
    z = np.random.default_rng(seed).standard_normal((draws, len(sd))) @ root.T
    return float(np.quantile(np.abs(z).max(axis=1), level))


def _event_counts(sc: SOFCells, k_cell: np.ndarray, min_lead: int) -> pd.DataFrame:
    """Programme-jobcentre spells at risk and events per estimand and event quarter."""
    sf = sc.spells
    cut = sc.design.phase_cut
    k_spell = event_quarters(sc, sf["link_month"].to_numpy(), sf["jobcentre"].to_numpy(),
                             min_lead)
    prog = k_spell != np.iinfo(np.int64).min
    f = sc.cells.frame
    week = f["week"].to_numpy()
    frames = []
    for est, sp_mask, cell_mask in (
        ("ex_ante", sf["entry_week"].to_numpy() < cut, week < cut),
        ("programme", sf["last_week"].to_numpy() >= cut, week >= cut),
    ):
        m = prog & sp_mask
        ns = pd.Series(k_spell[m]).value_counts()
        cm = (k_cell != np.iinfo(np.int64).min) & cell_mask
        ne = pd.Series(f["event"].to_numpy()[cm]).groupby(k_cell[cm]).sum()
        frame = pd.DataFrame({"n_spells": ns, "n_events": ne}).fillna(0).astype(np.int64)
        frame = frame.rename_axis("event_quarter").reset_index()
        frame.insert(0, "estimand", est)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _event_frame(
    sc: SOFCells, covariates: Sequence[str], min_lead: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str], list[tuple[str, int]], np.ndarray]:
    """Regressor patterns with the event dummies, their counts, names, (estimand, k) and k."""
    cells = sc.cells.frame
    events = cells["event"].to_numpy(float)
    trials = cells["at_risk"].to_numpy(float)
    mf = model_frame(sc, covariates)
    k_cell = event_quarters(sc, cells["link_month"].to_numpy(),
                            cells["jobcentre"].to_numpy(), min_lead)
    quarters = sorted(int(k) for k in np.unique(k_cell[k_cell != np.iinfo(np.int64).min]))
    if REFERENCE_QUARTER not in quarters:
        raise EstimationError(
            "spells: no programme-jobcentre spell has its week-8 date in the quarter before "
            "the programme start (event quarter -1, the reference); the event study needs it."
        )
    late = mf["late"].to_numpy()
    numeric: list[str] = []
    meta: list[tuple[str, int]] = []
    dummies: dict[str, np.ndarray] = {}
    for est, phase in (("ex_ante", 0), ("programme", 1)):
        for k in quarters:
            if k == REFERENCE_QUARTER:
                continue
            name = f"ES_{est}[{k}]"
            dummies[name] = ((k_cell == k) & (late == phase)).astype(float)
            numeric.append(name)
            meta.append((est, k))
    base = ["week_block", "jobcentre", "month", *covariates]
    mf = pd.concat([mf[base], pd.DataFrame(dummies, index=mf.index)], axis=1)
    mf, events, trials = collapse_patterns(mf, events, trials)
    return mf, events, trials, numeric, meta, k_cell


# --------------------------------------------------------------------------------------
# Steps of event_study
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EventFit:
    """The event-study model fitted on collapsed cells, with its event coefficients."""

    dm: SparseDesign
    fit: GLMFit
    events: np.ndarray
    trials: np.ndarray
    clusters: np.ndarray
    n_clusters: int
    numeric: tuple[str, ...]
    meta: list[tuple[str, int]]
    k_cell: np.ndarray
    idx: np.ndarray
    coef: np.ndarray
    cov: np.ndarray


def _event_cells(
    study: StudyData | SOFCells,
    design: StudyDesign | None,
    covariates: Sequence[str],
    progress: bool | None,
) -> SOFCells:
    """The cells of the event study (keyed by ``link_month``), built or checked."""
    if isinstance(study, SOFCells):
        sc = study
    else:
        sc = sof_cells(study, design, covariates, extra_keys=("link_month",),
                       progress=progress)
    if "link_month" not in sc.cells.keys:
        raise OptionError(
            "event_study: the cells are not keyed by link_month (the month of the week-8 "
            "date); build them with sof_cells(study, design, covariates, "
            "extra_keys=('link_month',))."
        )
    return sc


def _fit_event_model(
    sc: SOFCells,
    covariates: Sequence[str],
    family: Family,
    min_lead: int,
    correction: Correction,
) -> _EventFit:
    """Fit the model with the event dummies; the coefficients' clustered covariance."""
    mf, events, trials, numeric, meta, k_cell = _event_frame(sc, covariates, min_lead)
    base = ["week_block", "jobcentre", "month", *covariates]
    dm = design_matrix(mf, base, numeric, trials, csr=True)
    fit = fit_cells(dm, events, trials, family, numeric)
    clusters, jc_names = pd.factorize(mf["jobcentre"], sort=True)
    cov_all = vcov(fit, dm.X, method="cluster", clusters=clusters,
                   correction=correction, n_obs=int(trials.sum()))
    names = list(dm.names)
    idx = np.array([names.index(n) for n in numeric])
    return _EventFit(
        dm=dm, fit=fit, events=events, trials=trials, clusters=clusters,
        n_clusters=len(jc_names), numeric=tuple(numeric), meta=meta, k_cell=k_cell,
        idx=idx, coef=np.asarray(fit.params)[idx], cov=cov_all[np.ix_(idx, idx)],
    )


def _bands_and_lead_tests(
    ef: _EventFit,
    family: Family,
    level: float,
    band_draws: int,
    bootstrap_draws: int,
    bootstrap_weights: BootWeights,
    seed: int,
    progress: bool | None,
) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """Pointwise CIs and sup-t bands per coefficient, the joint lead test per estimand.

    Returns the coefficient table (no reference rows yet), the critical value per
    estimand and the :data:`PRETREND_COLUMNS` table.
    """
    coef, cov = ef.coef, ef.cov
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    z = float(special.ndtri(0.5 + level / 2))
    table = pd.DataFrame(ef.meta, columns=["estimand", "event_quarter"])
    table["coef"], table["se"] = coef, se
    table["ci_low"], table["ci_high"] = coef - z * se, coef + z * se
    table["band_low"], table["band_high"] = np.nan, np.nan
    crit: dict[str, float] = {}
    pre_rows = []
    for i, est in enumerate(ESTIMANDS):
        own = (table["estimand"] == est).to_numpy() & np.isfinite(coef)
        c = sup_t_critical(cov[np.ix_(own, own)], level, band_draws, seed=[seed, 1, i])
        crit[est] = c
        table.loc[own, "band_low"] = coef[own] - c * se[own]
        table.loc[own, "band_high"] = coef[own] + c * se[own]
        leads = own & (table["event_quarter"] < 0).to_numpy()
        stat, df, p = wald_test(coef[leads], cov[np.ix_(leads, leads)],
                                np.eye(int(leads.sum())))
        p_wild = float("nan")
        if leads.any() and bootstrap_draws > 0:
            jt = wild_joint_test(
                ef.dm.X, ef.events, ef.trials, family, ef.clusters, ef.idx[leads].tolist(),
                B=bootstrap_draws, weights=bootstrap_weights, seed=[seed, 2, i],
                progress=progress, start=restricted_start(
                    np.asarray(ef.fit.params), np.asarray(ef.fit.cov),
                    np.eye(len(ef.fit.params))[ef.idx[leads]]),
            )
            p_wild = jt.p_wild
        pre_rows.append((est, int(leads.sum()), stat, df, p, p_wild))
    return table, crit, pd.DataFrame(pre_rows, columns=list(PRETREND_COLUMNS))


def _with_reference_and_counts(
    table: pd.DataFrame, sc: SOFCells, k_cell: np.ndarray, min_lead: int
) -> pd.DataFrame:
    """Add the reference quarter (coef 0) and the spell and event counts; sort."""
    ref = pd.DataFrame({"estimand": list(ESTIMANDS), "event_quarter": REFERENCE_QUARTER,
                        "coef": 0.0})
    table = pd.concat([table, ref], ignore_index=True)
    table["_order"] = table["estimand"].map({e: i for i, e in enumerate(ESTIMANDS)})
    table = table.sort_values(["_order", "event_quarter"], kind="stable").drop(columns="_order")
    counts = _event_counts(sc, k_cell, min_lead)
    table = table.merge(counts, on=["estimand", "event_quarter"], how="left")
    table[["n_spells", "n_events"]] = table[["n_spells", "n_events"]].fillna(0).astype(np.int64)
    return table[list(EVENT_STUDY_COLUMNS)].reset_index(drop=True)


def event_study(
    study: StudyData | SOFCells,
    design: StudyDesign | None = None,
    *,
    covariates: Sequence[str] = (),
    family: Family = "cloglog",
    min_lead: int = MIN_LEAD,
    level: float = 0.95,
    band_draws: int = BAND_DRAWS,
    bootstrap_draws: int = 999,
    bootstrap_weights: BootWeights = "rademacher",
    seed: int = 0,
    correction: Correction = "stata",
    progress: bool | None = None,
) -> EventStudyResult:
    """Estimate the event study, its sup-t bands and the joint lead test.

    Parameters
    ----------
    study
        Validated study tables, or cells of :func:`sofeval.analyses.sof_cells` keyed by
        ``link_month`` (``sof_cells(study, design, covariates, extra_keys=("link_month",))``).
    design
        Panel rules (ignored when ``study`` is already cells).
    covariates
        Categorical covariates.
    family
        ``cloglog`` (default) or ``logit``.
    min_lead
        Event quarters at or below it share one bin (default -6).
    level
        Coverage of the pointwise CIs and the simultaneous bands.
    band_draws
        Simulated vectors for the sup-t critical value.
    bootstrap_draws, bootstrap_weights
        Wild cluster score bootstrap of the lead test (``0`` skips it).
    seed
        Seed of the band simulation and the bootstrap.
    correction
        Small-sample factor of the clustered covariance (``stata``: G/(G-1)).
    progress
        Progress bars (default: only on a terminal).

    Returns
    -------
    EventStudyResult

    Raises
    ------
    OptionError
        Cells without the ``link_month`` key, or a bad option.
    EstimationError
        No programme window, or no programme-jobcentre spell in the reference quarter.
    """
    check_option("family", family, ("cloglog", "logit"))
    if not 0 < level < 1:
        raise OptionError(f"level={level} must lie strictly between 0 and 1.")
    sc = _event_cells(study, design, covariates, progress)
    ef = _fit_event_model(sc, covariates, family, min_lead, correction)
    table, crit, pretrend = _bands_and_lead_tests(
        ef, family, level, band_draws, bootstrap_draws, bootstrap_weights, seed, progress
    )
    lo, top = event_window(sc, min_lead)
    return EventStudyResult(
        table=_with_reference_and_counts(table, sc, ef.k_cell, min_lead),
        pretrend=pretrend,
        names=ef.numeric,
        coef=ef.coef,
        cov=ef.cov,
        critical_values=crit,
        fit=ef.fit,
        family=family,
        level=level,
        n_clusters=ef.n_clusters,
        min_lead=lo,
        top=top,
    )
