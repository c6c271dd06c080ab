"""The homogeneity of effects (DESIGN.md §4b), on the joint tests of the engine.

Two kinds of joint test (:mod:`sofeval.models.joint`) serve the event study (all
leads zero), the subgroups (equal effect across the levels of a variable) and the
per-jobcentre effects (equal effect in every programme jobcentre):

* :func:`~sofeval.models.wald_test` -- the clustered Wald test of ``R theta = 0``,

  .. math:: W = (R\\hat\\theta)'(R \\hat V R')^{-1} R\\hat\\theta \\sim \\chi^2_{rank(RVR')};

* :func:`~sofeval.models.wild_joint_test` -- the wild cluster *score* bootstrap of an exclusion
  restriction ``theta_T = 0`` for a set ``T`` of columns, the joint version of
  Kline and Santos (2012) that :func:`sofeval.models.wild_score_bootstrap` runs for one
  column. The restricted model (columns ``T`` dropped) is fitted once; with its cluster
  scores ``s_g`` and the full-model information ``H = X'WX`` at the restricted estimate,
  ``q_g = (H^{-1} s_g)_T`` and

  .. math:: LM = S' V^{+} S, \\qquad S = \\sum_g q_g, \\quad V = \\sum_g q_g q_g'.

  The bootstrap replaces ``q_g`` by ``w_g q_g`` (Rademacher or Webb weights),
  recomputing ``V`` (constant for Rademacher), and ``p = #{LM* >= LM} / B``. An equality
  restriction (``theta_1 = ... = theta_L``) becomes an exclusion restriction by
  reparametrisation: see :func:`equality_design`.

The engine pieces are domain-free (arrays in, numbers out) and live in
:mod:`sofeval.models.joint`; this module holds the reparametrisation of equality
restrictions and the SOF homogeneity tests.

Homogeneity across programme jobcentres (:func:`jobcentre_homogeneity`) cannot be
clustered by jobcentre: each ``theta_j`` is identified by one cluster, whose score for it
is zero at the estimate, so a jobcentre-clustered covariance (and its wild bootstrap) is
degenerate (the per-jobcentre effects of :func:`sofeval.analyses.jobcentre_effects` use
model-based standard errors for the same reason). Clustering by jobcentre x calendar
month does not help: with ~15 window months per jobcentre its Wald test rejected a true
null in 25 % of 24 ``null`` replications. The jobcentre test therefore treats every
cell as its own cluster (heteroskedasticity-robust): under the hazard model the
person-week scores are uncorrelated, so this is valid when the model holds, but it is
not robust to shocks shared by a jobcentre's spells. Its size is reported by
``benchmarks/credibility_montecarlo.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import sparse

from sofeval.analyses.specification import (
    ESTIMANDS,
    SOFCells,
    design_matrix,
    fit_cells,
    model_frame,
)
from sofeval.errors import check_option
from sofeval.models import (
    BootWeights,
    Correction,
    Family,
    Matrix,
    ResultsBase,
    as_matrix,
    restricted_start,
    vcov,
    wald_test,
    wild_joint_test,
)
from sofeval.panel import group_codes
from sofeval.report import Lang, homogeneity_plot

__all__ = [
    "HOMOGENEITY_COLUMNS",
    "HomogeneityResult",
    "SubgroupTests",
    "collapse_patterns",
    "equality_contrast",
    "equality_design",
    "equality_start",
    "homogeneity",
    "jobcentre_homogeneity",
]

HOMOGENEITY_COLUMNS: tuple[str, ...] = (
    "variable",
    "estimand",
    "statistic",
    "df",
    "p_value",
    "p_wild",
)


def equality_design(
    X: Matrix, columns: Sequence[int], params: np.ndarray | None = None
) -> tuple[Matrix, list[int], np.ndarray | None]:
    """Reparametrise ``theta_1 = ... = theta_L`` as the exclusion of ``L - 1`` columns.

    The first of ``columns`` is replaced by the sum of all of them (the common effect);
    the others then measure deviations from it, and equality holds when they are zero.
    The column space, the fit and the likelihood are unchanged.

    Parameters
    ----------
    X
        Design matrix with one column per level ``(n, p)``, dense or CSR (a CSR design
        gives a CSR design, built without a dense copy: ``X T`` with ``T`` the identity
        whose column ``columns[0]`` sums the level columns).
    columns
        Indices of the level columns (at least two).
    params
        Estimates in the level parametrisation (optional), mapped to the new one
        (``theta_l - theta_1`` for the deviation columns) as a start for refits.

    Returns
    -------
    X_alt : numpy.ndarray or scipy.sparse.csr_matrix
        The reparametrised design (a copy, in the form of ``X``).
    test : list of int
        Columns whose exclusion is the equality restriction.
    start : numpy.ndarray or None
        ``params`` in the new parametrisation.
    """
    cols = list(columns)
    out: Matrix
    if sparse.issparse(X):
        p = X.shape[1]
        t = sparse.identity(p, format="lil", dtype=np.float64)
        t[cols, cols[0]] = 1.0
        out = as_matrix(sparse.csr_matrix(X @ t.tocsr()))  # canonical: sorted indices
    else:
        out = np.array(X, dtype=np.float64, copy=True)
        out[:, cols[0]] = out[:, cols].sum(axis=1)
    start = None
    if params is not None:
        start = np.array(params, dtype=np.float64, copy=True)
        start[cols[1:]] -= start[cols[0]]
    return out, cols[1:], start


def equality_contrast(k: int) -> np.ndarray:
    """Contrast matrix ``R`` ``(k - 1, k)`` of ``theta_l - theta_1 = 0`` for ``l = 2..k``."""
    r = np.zeros((max(k - 1, 0), k))
    if k > 1:
        r[:, 0] = -1.0
        r[np.arange(k - 1), np.arange(1, k)] = 1.0
    return r


def equality_start(params: np.ndarray, cov: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """Start values for the refit under ``theta_1 = ... = theta_L`` (the given columns).

    The Wald projection of :func:`sofeval.models.restricted_start` with the contrast of
    :func:`equality_contrast` on ``columns``: the refit from there needs fewer iterations.

    Parameters
    ----------
    params, cov
        Unrestricted estimates ``(p,)`` and their inverse information ``(p, p)``.
    columns
        The level columns.

    Returns
    -------
    numpy.ndarray
        ``(p,)``, in the level parametrisation (pass it to :func:`equality_design`).
    """
    cols = list(columns)
    r = np.zeros((max(len(cols) - 1, 0), len(params)))
    r[:, cols] = equality_contrast(len(cols))
    return restricted_start(params, cov, r)


def collapse_patterns(
    frame: pd.DataFrame, events: np.ndarray, trials: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Sum cells that share a regressor pattern (every column of ``frame``).

    The binomial likelihood depends on the cells only through event and trial counts per
    distinct row of the design, so fits, scores and every covariance clustered by a column
    of ``frame`` (jobcentre) are unchanged; the design gets fewer rows. Cells keyed by
    spell week and link month collapse to week blocks and event quarters, for example.

    Parameters
    ----------
    frame
        Regressor columns, one row per cell.
    events, trials
        Counts per cell.

    Returns
    -------
    tuple
        The frame of distinct patterns (in order of first appearance, index reset) and
        their summed events and trials.
    """
    codes = [pd.factorize(frame[c], sort=False)[0].astype(np.int64) for c in frame.columns]
    inverse, _ = group_codes(codes)
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    first = np.full(n_groups, len(inverse), dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(len(inverse)))
    order = np.argsort(first, kind="stable")
    rank = np.empty(n_groups, dtype=np.int64)
    rank[order] = np.arange(n_groups)
    g = rank[inverse]
    ev = np.bincount(g, weights=np.asarray(events, dtype=np.float64), minlength=n_groups)
    tr = np.bincount(g, weights=np.asarray(trials, dtype=np.float64), minlength=n_groups)
    return frame.iloc[first[order]].reset_index(drop=True), ev, tr


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomogeneityResult(ResultsBase):
    """Joint tests that an effect is equal across levels (immutable).

    Attributes
    ----------
    table
        One row per variable and estimand, columns :data:`HOMOGENEITY_COLUMNS`:
        ``statistic`` the clustered Wald statistic of equality, ``df`` its degrees of
        freedom, ``p_value`` its chi-square p-value and ``p_wild`` the wild cluster score
        bootstrap p-value of the same restriction.
    clusters
        How each variable's test is clustered (``jobcentre``, or ``cell`` for the
        jobcentre test).
    """

    table: pd.DataFrame
    clusters: dict[str, str] = field(default_factory=dict)

    title = "Is the effect the same for everybody? Joint tests of equal effects across levels"

    def header(self) -> list[tuple[str, str]]:
        """The statistics and how each variable's test is clustered."""
        return [
            ("statistic", "clustered Wald (chi-square, df); p_wild: wild cluster score "
                          "bootstrap"),
            *((f"{v} clustered by", c) for v, c in self.clusters.items()),
        ]

    def to_frame(self) -> pd.DataFrame:
        """The homogeneity table (a copy)."""
        return self.table.copy()

    def plot(self, lang: Lang = "en", **kwargs: Any) -> Figure:
        """Bar chart of the homogeneity p-values (Wald and wild) per variable.

        The report's figure function builds the whole house-style figure, so this
        replaces the base's ``plot`` rather than drawing in ``_draw``.

        Parameters
        ----------
        lang
            Label language.
        **kwargs
            Passed to :func:`sofeval.report.homogeneity_plot`.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not registered with pyplot.
        """
        return homogeneity_plot(self.table, lang=lang, **kwargs)


class SubgroupTests(Protocol):
    """What :func:`homogeneity` reads of subgroup effects.

    :class:`~sofeval.analyses.subgroups.SubgroupEffectsResult` has it; it is defined in a
    module that imports this one, and the protocol keeps the imports one way.
    """

    @property
    def homogeneity(self) -> HomogeneityResult:
        """The homogeneity tests of the subgroup variables."""
        ...


# --------------------------------------------------------------------------------------
# Homogeneity across programme jobcentres
# --------------------------------------------------------------------------------------


def _identified(
    events: np.ndarray, trials: np.ndarray, column: np.ndarray
) -> bool:
    """A 0/1 column's parameter is identified: some events and some non-events on it."""
    on = column > 0
    ev, tr = events[on].sum(), trials[on].sum()
    return bool(tr > 0 and 0 < ev < tr)


def jobcentre_homogeneity(
    sc: SOFCells,
    covariates: Sequence[str] = (),
    *,
    family: Family = "cloglog",
    bootstrap_draws: int = 999,
    bootstrap_weights: BootWeights = "rademacher",
    seed: int = 0,
    correction: Correction = "stata",
    progress: bool | None = None,
) -> HomogeneityResult:
    """Joint test that the effect is the same in every programme jobcentre, per estimand.

    The model is the per-jobcentre model of :func:`sofeval.analyses.jobcentre_effects`
    (``theta_EA,j`` and ``theta_P,j`` for every programme jobcentre); the test of
    ``theta_EA,j`` all equal leaves the ``theta_P,j`` free and vice versa. Jobcentre-phase
    pairs without treated events (or with nothing but events) are not identified and
    are left out of the test. Every cell is its own cluster (see the module docstring
    for why not by jobcentre).

    Parameters
    ----------
    sc
        Cells of :func:`sofeval.analyses.sof_cells` (keyed by month, as by default).
    covariates
        Categorical covariates of the cells.
    family
        ``cloglog`` (default) or ``logit``.
    bootstrap_draws, bootstrap_weights, seed
        Wild bootstrap settings (``bootstrap_draws=0`` skips it).
    correction
        Small-sample factor of the clustered covariance.
    progress
        Progress bars (default: only on a terminal).

    Returns
    -------
    HomogeneityResult
        Rows ``variable = "jobcentre"``, one per estimand.
    """
    check_option("family", family, ("cloglog", "logit"))
    mf = model_frame(sc, covariates)
    cells = sc.cells.frame
    events = cells["event"].to_numpy(float)
    trials = cells["at_risk"].to_numpy(float)
    codes, uniques = pd.factorize(mf["jobcentre"])  # names matched once, then codes
    in_programme = np.zeros(len(uniques), dtype=bool)
    in_programme[codes[sc.jc_window.to_numpy() >= 0]] = True
    programme = pd.Index(sorted(uniques[in_programme]))
    base = ["week_block", "jobcentre", "month", *covariates]
    # the per-jobcentre terms are functions of D_early, D_late and the jobcentre: the
    # patterns of those columns are the patterns of the design
    mf, events, trials = collapse_patterns(mf[[*base, "D_early", "D_late"]], events, trials)
    jc = programme.get_indexer(mf["jobcentre"])  # -1: comparison jobcentre
    numeric: list[str] = []
    groups: dict[str, list[str]] = {}
    terms: dict[str, np.ndarray] = {}
    for est, col in zip(ESTIMANDS, ("D_early", "D_late"), strict=True):
        groups[est] = []
        d = mf[col].to_numpy()
        for k, j in enumerate(programme):
            name = f"{col}[{j}]"
            values = d * (jc == k)
            if not values.any():
                continue
            terms[name] = values
            numeric.append(name)
            if _identified(events, trials, values):
                groups[est].append(name)
    mf = pd.concat([mf, pd.DataFrame(terms, index=mf.index)], axis=1)
    dm = design_matrix(mf, base, numeric, trials, csr=True)
    fit = fit_cells(dm, events, trials, family, ())
    clusters = np.arange(len(mf))  # every cell its own cluster: see module docstring
    cov = vcov(fit, dm.X, method="cluster", clusters=clusters,
               correction=correction, n_obs=int(trials.sum()))
    names = list(dm.names)
    params = np.asarray(fit.params)
    rows = []
    for i, est in enumerate(ESTIMANDS):
        idx = [names.index(n) for n in groups[est] if np.isfinite(params[names.index(n)])]
        stat, df, p = wald_test(params[idx], cov[np.ix_(idx, idx)], equality_contrast(len(idx)))
        p_wild = float("nan")
        if len(idx) > 1 and bootstrap_draws > 0:
            x_alt, test, start = equality_design(
                dm.X, idx, equality_start(params, np.asarray(fit.cov), idx))
            jt = wild_joint_test(
                x_alt, events, trials, family, clusters, test, B=bootstrap_draws,
                weights=bootstrap_weights, seed=[seed, 31, i], progress=progress, start=start,
            )
            p_wild = jt.p_wild
        rows.append(("jobcentre", est, stat, df, p, p_wild))
    table = pd.DataFrame(rows, columns=list(HOMOGENEITY_COLUMNS))
    return HomogeneityResult(table, {"jobcentre": "cell (heteroskedasticity-robust)"})


def homogeneity(
    sc: SOFCells,
    subgroups: SubgroupTests | None = None,
    covariates: Sequence[str] = (),
    *,
    family: Family = "cloglog",
    bootstrap_draws: int = 999,
    bootstrap_weights: BootWeights = "rademacher",
    seed: int = 0,
    progress: bool | None = None,
) -> HomogeneityResult:
    """The homogeneity table: each subgroup variable's test and the jobcentre test.

    Parameters
    ----------
    sc
        Cells of :func:`sofeval.analyses.sof_cells` (for the jobcentre test).
    subgroups
        A :class:`~sofeval.analyses.subgroups.SubgroupEffectsResult` whose tests are put
        first (``None``: only the jobcentre rows).
    covariates, family, bootstrap_draws, bootstrap_weights, seed, progress
        As for :func:`jobcentre_homogeneity`.

    Returns
    -------
    HomogeneityResult
    """
    jc = jobcentre_homogeneity(
        sc, covariates, family=family, bootstrap_draws=bootstrap_draws,
        bootstrap_weights=bootstrap_weights, seed=seed, progress=progress,
    )
    if subgroups is None:
        return jc
    sub = subgroups.homogeneity
    table = pd.concat([sub.table, jc.table], ignore_index=True)
    return HomogeneityResult(table[list(HOMOGENEITY_COLUMNS)], {**sub.clusters, **jc.clusters})
