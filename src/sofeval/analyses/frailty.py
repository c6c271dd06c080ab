"""Mixed proportional hazards: the SOF model with discrete (Heckman–Singer) frailty.

The default SOF model (DESIGN.md §4) assumes that, given the regressors, spells are
homogeneous. When they are not (unobserved heterogeneity, "frailty"), the spells that
survive to week 8 are increasingly the low-hazard ones, and a treatment that raises
everyone's hazard changes the composition of the survivors: the estimated effect of a
model without frailty is attenuated towards zero (dynamic selection; see
``docs/frailty.md``).

This module fits the discrete-time cause-specific hazard with a spell-level
multiplicative frailty whose distribution has ``K`` mass points (Heckman and Singer
1984, the nonparametric maximum likelihood approach):

.. math::

    \\operatorname{cloglog} P(y_{it}=1 \\mid v_k) = x_{it}'\\beta + a_k, \\qquad
    P(v = v_k) = \\pi_k, \\quad k = 1..K,

with the default regressors :math:`x_{it}` of :mod:`sofeval.analyses.specification` (week blocks,
jobcentre, calendar month, optional covariates, ``D_early``, ``D_late``) and the
normalisation :math:`a_1 = 0` (the intercept is the location of the first point). The
marginal log-likelihood sums over spells
:math:`\\log \\sum_k \\pi_k \\exp \\ell_{ik}` with the per-spell log-likelihood
:math:`\\ell_{ik} = \\sum_t y_{it} \\log(1 - e^{-e_{itk}}) - (1 - y_{it}) e_{itk}`,
:math:`e_{itk} = \\exp(x_{it}'\\beta + a_k)`; the per-spell sums are ``np.bincount`` over
spell codes of the person-week panel.

Estimation
----------
The SOF design is built here (:func:`frailty_design`); the estimation is the engine's
:func:`sofeval.models.frailty.fit_mass_points`:

1. ``K = 1`` (no frailty: the default model) by Fisher scoring on person-weeks;
2. EM (Heckman and Singer): E-step posterior weights :math:`w_{ik}` of each spell over
   the mass points; M-step :math:`\\pi_k = \\bar w_{\\cdot k}` in closed form and one
   Fisher-scoring step of the weighted cloglog GLM on (person-week, mass point) rows
   with weights :math:`w_{ik}` for :math:`(\\beta, a)` (a generalised EM step, with
   step halving so that the marginal log-likelihood never decreases);
3. Newton–Raphson on the marginal log-likelihood with the exact observed information
   (Louis 1982) to finish, falling back to EM steps whenever a Newton step does not
   increase the log-likelihood.

Standard errors
---------------
``observed``: the inverse of the observed information of the marginal likelihood in
all free parameters (:math:`\\beta`, :math:`a_{2..K}` and the logits of
:math:`\\pi_{2..K}`), computed analytically by Louis' formula

.. math::

    I(\\hat\\vartheta) = \\sum_i \\sum_k w_{ik} \\bigl(-\\nabla^2 \\ell^c_{ik}\\bigr)
        - \\sum_i \\Bigl(\\sum_k w_{ik} s_{ik} s_{ik}' - \\bar s_i \\bar s_i'\\Bigr),
    \\qquad \\bar s_i = \\sum_k w_{ik} s_{ik},

where :math:`\\ell^c_{ik}` and :math:`s_{ik}` are the complete-data log-likelihood and
score of spell ``i`` in class ``k``; the standard errors of ``D_early`` and ``D_late``
are taken from the full inverse (nuisance parameters are not held fixed). ``cluster``:
the sandwich :math:`I^{-1} (\\sum_g \\bar s_g \\bar s_g') I^{-1} \\cdot G/(G-1)` with the
marginal spell scores summed by jobcentre (the default inference of the SOF model).
Both ignore that ``K`` was chosen by the user; with too many points the information
becomes singular (points merge or get probability zero), which is reported.
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
from scipy import sparse

from sofeval.analyses.effects import pooled_forest
from sofeval.analyses.specification import ESTIMANDS, INTEREST
from sofeval.data import StudyData
from sofeval.errors import EstimationError, NotIdentifiedWarning, OptionError, check_option
from sofeval.models import (
    MAX_POINTS,
    MIN_PROBABILITY,
    MassPointFit,
    ResultsBase,
    build_sparse_design,
    fit_mass_points,
    wald_table,
)
from sofeval.panel import Panel, StudyDesign, build_panel, week_block
from sofeval.report import Lang

__all__ = [
    "FRAILTY_COLUMNS",
    "MAX_POINTS",
    "MIN_PROBABILITY",
    "VCOV_OPTIONS",
    "FrailtyDesign",
    "FrailtyResult",
    "Vcov",
    "fit_npmle_frailty",
    "frailty_design",
]

Vcov = Literal["observed", "cluster"]
VCOV_OPTIONS: tuple[str, ...] = ("observed", "cluster")
FRAILTY_COLUMNS: tuple[str, ...] = (
    "estimand",
    "coef",
    "se",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
)


# --------------------------------------------------------------------------------------
# Design on the person-week panel
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrailtyDesign:
    """Sparse design of the default SOF model on person-week rows.

    Attributes
    ----------
    X
        CSR matrix ``(n_rows, p)``: intercept, treatment-coded dummies (reference = the
        level with most person-weeks), ``D_early``, ``D_late``.
    names
        Column names (``Intercept``, ``week_block[05]``, ``jobcentre[Vejle]``, ...).
    y
        0/1 event (exit to employment) per row.
    spell
        Spell code (0..n_spells-1) of each row.
    cluster
        Jobcentre code of each spell.
    n_clusters
        Number of jobcentres.
    """

    X: sparse.csr_matrix
    names: tuple[str, ...]
    y: np.ndarray
    spell: np.ndarray
    cluster: np.ndarray
    n_clusters: int


def frailty_design(panel: Panel, covariates: Sequence[str] = ()) -> FrailtyDesign:
    """Build the sparse default-model design on the rows of a person-week panel.

    Parameters
    ----------
    panel
        Output of :func:`sofeval.panel.build.build_panel` (with the covariates as columns).
    covariates
        Categorical covariates (columns of ``panel.data``).

    Returns
    -------
    FrailtyDesign

    Raises
    ------
    OptionError
        If a covariate is not a column of the panel.
    EstimationError
        If the panel is empty.
    ContractError
        If a regressor has missing values (``bin_covariates`` keeps missing values missing).
    """
    data = panel.data
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise OptionError(
            f"covariate(s) {', '.join(missing)} are not panel columns; build the panel with "
            f"build_panel(study, covariates=[...]) (panel columns: {', '.join(data.columns)})."
        )
    if len(data) == 0:
        raise EstimationError("panel: no person-weeks at risk; nothing to estimate.")
    week = data["week"].to_numpy().astype(np.int64)
    late = (week >= panel.design.phase_cut).astype(np.float64)
    d = data["D"].to_numpy().astype(np.float64)
    frame = pd.DataFrame(
        {
            "week_block": week_block(week),
            "jobcentre": data["jobcentre"].astype(str).to_numpy(),
            "month": data["month"].to_numpy(),
            **{c: data[c].astype(str).to_numpy() for c in covariates},
            "D_early": d * (1 - late),
            "D_late": d * late,
        }
    )
    sd = build_sparse_design(
        frame,
        categorical=["week_block", "jobcentre", "month", *covariates],
        numeric=list(INTEREST),
        base="largest",
    )
    spell_codes, _ = pd.factorize(data["spell_id"].astype(str).to_numpy())
    jc_codes, jc_names = pd.factorize(data["jobcentre"].astype(str).to_numpy(), sort=True)
    n_spells = int(spell_codes.max()) + 1
    cluster = np.zeros(n_spells, dtype=np.int64)
    cluster[spell_codes] = jc_codes
    return FrailtyDesign(
        X=sd.X,
        names=sd.names,
        y=data["event"].to_numpy().astype(np.float64),
        spell=spell_codes.astype(np.int64),
        cluster=cluster,
        n_clusters=len(jc_names),
    )


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrailtyResult(ResultsBase):
    """SOF model with discrete frailty (immutable).

    Attributes
    ----------
    table
        ``estimand`` (ex_ante, programme), ``coef`` (log hazard ratio), ``se``,
        ``hazard_ratio``, 95 % ``ci_low``/``ci_high`` (hazard-ratio scale), ``p_value``;
        ``se`` is the one chosen by ``vcov``.
    params
        Every free parameter: ``term``, ``coef``, ``se`` (observed information),
        ``se_cluster``. Mass-point locations are ``mass_point[k]`` (``a_k``, with
        ``a_1 = 0``) and probability logits ``logit_pi[k]``.
    support
        One row per mass point: ``point``, ``location`` (``a_k`` minus its
        probability-weighted mean: the log-frailty), ``frailty`` (``exp`` of the location
        rescaled to mean one), ``probability``.
    loglik
        Marginal log-likelihood at the estimate.
    n_points
        Number of mass points ``K``.
    frailty_variance
        Variance of the mean-one frailty implied by the support (0 for ``K = 1``).
    vcov
        ``observed`` or ``cluster``.
    cov, cov_cluster
        Covariance matrices of the free parameters (order of ``params``).
    n_iter_em, n_iter_newton
        Iterations used.
    converged
        Whether the Newton decrement fell below the tolerance.
    gradient_norm
        Largest absolute score component at the estimate.
    n_spells, n_person_weeks, n_clusters
        Sample sizes.
    """

    table: pd.DataFrame
    params: pd.DataFrame
    support: pd.DataFrame
    loglik: float
    n_points: int
    frailty_variance: float
    vcov: str
    cov: np.ndarray = field(repr=False)
    cov_cluster: np.ndarray = field(repr=False)
    n_iter_em: int
    n_iter_newton: int
    converged: bool
    gradient_norm: float
    n_spells: int
    n_person_weeks: int
    n_clusters: int

    @property
    def title(self) -> str:  # type: ignore[override]
        """Heading of the summary."""
        return (
            f"SOF programme effects with discrete frailty ({self.n_points} mass point(s), "
            f"cloglog; se: {self.vcov})"
        )

    def header(self) -> list[tuple[str, str]]:
        """Sample sizes and fit statistics."""
        return [
            ("spells", f"{self.n_spells:,}"),
            ("person-weeks", f"{self.n_person_weeks:,}"),
            ("log-likelihood", f"{self.loglik:.3f}"),
            ("implied frailty variance", f"{self.frailty_variance:.3f}"),
            ("converged", str(self.converged)),
        ]

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        """The support of the frailty distribution."""
        return [("Support of the frailty distribution", self.support)]

    def to_frame(self) -> pd.DataFrame:
        """The effects table (a copy)."""
        return self.table.copy()

    def plot(
        self, ax: Axes | Sequence[Axes] | None = None, lang: Lang = "en", **kwargs: Any
    ) -> Figure:
        """Hazard ratios with 95 % CIs of the two estimands (a small forest plot).

        Parameters
        ----------
        ax
            One axes per estimand (default: a new figure).
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.forest`.

        Returns
        -------
        matplotlib.figure.Figure
        """
        label = f"Frailty model, {self.n_points} mass point(s)"
        return pooled_forest(self.table, label, ax=ax, lang=lang, **kwargs)


# --------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------


def fit_npmle_frailty(
    data: StudyData | Panel,
    design: StudyDesign | None = None,
    *,
    covariates: Sequence[str] = (),
    n_points: int = 3,
    vcov: Vcov = "observed",
    max_em: int = 25,
    em_tol: float = 1e-7,
    newton_tol: float = 1e-9,
    max_newton: int = 50,
) -> FrailtyResult:
    """Fit the default SOF model with a discrete (mass-point) frailty distribution.

    Parameters
    ----------
    data
        Validated study tables (the person-week panel is built with ``design`` and
        ``covariates``) or a :class:`~sofeval.panel.build.Panel` holding the covariates.
    design
        Panel rules (ignored for a ``Panel``).
    covariates
        Categorical covariates of the hazard (continuous ones are binned by
        :func:`sofeval.panel.build.bin_covariates`).
    n_points
        Number of mass points ``K`` (1 = no frailty, the default model).
    vcov
        ``observed`` (inverse Louis observed information, default) or ``cluster``
        (sandwich clustered by jobcentre, factor ``G/(G-1)``) for the ``se`` column.
    max_em, em_tol, newton_tol, max_newton
        Iteration controls of :func:`sofeval.models.frailty.fit_mass_points`.

    Returns
    -------
    FrailtyResult

    Raises
    ------
    OptionError
        For an invalid ``n_points`` or ``vcov``.
    EstimationError
        No person-weeks, no exits to employment or no non-exits.

    Warns
    -----
    NotIdentifiedWarning
        ``D_early``/``D_late`` not identified (no treated person-weeks or events), or a
        mass point with probability below ``MIN_PROBABILITY`` (fewer points suffice).
    ConvergenceWarning
        Newton–Raphson did not reach ``newton_tol``.
    """
    check_option("vcov", vcov, VCOV_OPTIONS)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)):
        raise OptionError(f"n_points={n_points!r} must be an integer in 1..{MAX_POINTS}.")
    if not 1 <= n_points <= MAX_POINTS:
        raise OptionError(f"n_points={n_points} must lie in 1..{MAX_POINTS}.")
    panel = data if isinstance(data, Panel) else build_panel(data, design, covariates)
    fd = frailty_design(panel, covariates)
    if fd.y.sum() == 0:
        raise EstimationError("spells: no exit to employment in the estimation sample.")
    if fd.y.sum() == fd.y.size:
        raise EstimationError("spells: every person-week is an exit; the hazard is not estimable.")
    # only the nuisance dummies are set aside when they have no events; D_early/D_late
    # without events are reported as not identified below
    separable = np.array([not n.startswith("D_") and n != "Intercept" for n in fd.names])
    fit = fit_mass_points(
        fd.X, fd.y, fd.spell, fd.cluster, n_points=int(n_points), names=fd.names,
        separable=separable, intercept=fd.names.index("Intercept"), max_em=max_em,
        em_tol=em_tol, newton_tol=newton_tol, max_newton=max_newton,
    )
    bad = [n for n in INTEREST if n not in fit.names]
    if bad:
        warnings.warn(
            f"not identified (reported as NaN): {bad} (no treated person-weeks, no events, "
            "or collinear)",
            NotIdentifiedWarning,
            stacklevel=2,
        )
    return _result(fit, vcov)


def _result(fit: MassPointFit, vcov: str) -> FrailtyResult:
    """The SOF estimands and tables of an engine fit."""
    labels = list(fit.names)
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None))
    se_cl = np.sqrt(np.clip(np.diag(fit.cov_cluster), 0, None))
    params = pd.DataFrame({"term": labels, "coef": fit.theta, "se": se, "se_cluster": se_cl})
    chosen = se if vcov == "observed" else se_cl
    coef = np.array([fit.theta[labels.index(n)] if n in labels else np.nan for n in INTEREST])
    sev = np.array([chosen[labels.index(n)] if n in labels else np.nan for n in INTEREST])
    table = wald_table(coef, sev, ci_scale="hazard_ratio")
    table.insert(0, "estimand", list(ESTIMANDS))
    return FrailtyResult(
        table=table[list(FRAILTY_COLUMNS)],
        params=params,
        support=fit.support(),
        loglik=fit.loglik,
        n_points=fit.n_points,
        frailty_variance=fit.frailty_variance,
        vcov=vcov,
        cov=fit.cov,
        cov_cluster=fit.cov_cluster,
        n_iter_em=fit.n_iter_em,
        n_iter_newton=fit.n_iter_newton,
        converged=fit.converged,
        gradient_norm=fit.gradient_norm,
        n_spells=fit.n_units,
        n_person_weeks=fit.n_rows,
        n_clusters=fit.n_clusters,
    )
