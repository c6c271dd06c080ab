"""Joint tests of several restrictions and the homogeneity of effects (DESIGN.md §4b).

Two kinds of joint test serve the event study (all leads zero), the subgroups (equal
effect across the levels of a variable) and the per-jobcentre effects (equal effect in
every programme jobcentre):

* :func:`wald_test` -- the clustered Wald test of ``R theta = 0``,

  .. math:: W = (R\\hat\\theta)'(R \\hat V R')^{-1} R\\hat\\theta \\sim \\chi^2_{rank(RVR')};

* :func:`wild_joint_test` -- the wild cluster *score* bootstrap of an exclusion
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

The engine pieces are domain-free (arrays in, numbers out) and belong in
``sofeval.models`` once the engine restructuring lands; they live here until then.

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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from sofeval.analyses.specification import (
    ESTIMANDS,
    SOFCells,
    design_matrix,
    fit_cells,
    model_frame,
)
from sofeval.errors import EstimationError, NotIdentifiedWarning, check_option
from sofeval.models import (
    BOOT_WEIGHTS,
    FAMILIES,
    BootWeights,
    Correction,
    Family,
    aliased_columns,
    cluster_scores,
    fit_glm_cells,
    gram,
    subset_matrix,
    vcov,
)
from sofeval.panel import group_codes
from sofeval.runtime import show_progress

if TYPE_CHECKING:  # subgroups imports this module
    from sofeval.analyses.subgroups import SubgroupEffectsResult

HOMOGENEITY_COLUMNS: tuple[str, ...] = (
    "variable",
    "estimand",
    "statistic",
    "df",
    "p_value",
    "p_wild",
)
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
_CHUNK = 1024
_MAX_ENTRIES = 2_000_000  # bootstrap weights held at once (draws x clusters)
#: Relative eigenvalue below which a score covariance direction counts as zero.
RANK_TOL = 1e-10


# --------------------------------------------------------------------------------------
# Engine pieces: Wald and joint wild score bootstrap
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JointTest:
    """Result of a joint wild cluster score bootstrap.

    Attributes
    ----------
    statistic
        Observed robust score statistic ``LM``.
    df
        Number of independent restrictions tested (rank of ``V``).
    p_value
        Asymptotic p-value ``P(chi2_df >= LM)``.
    p_wild
        Share of bootstrap draws with ``LM* >= LM``.
    tested
        Column indices actually tested (aliased columns are left out).
    draws
        The ``B`` bootstrap statistics.
    """

    statistic: float
    df: int
    p_value: float
    p_wild: float
    tested: tuple[int, ...]
    draws: np.ndarray = field(repr=False)


def _pinv_psd(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Moore-Penrose inverse and rank of a symmetric positive semi-definite matrix."""
    lam, vec = np.linalg.eigh((v + v.T) / 2)
    top = float(lam.max(initial=0.0))
    ok = lam > RANK_TOL * max(top, np.finfo(float).tiny)
    inv = (vec[:, ok] / lam[ok]) @ vec[:, ok].T
    return inv, int(ok.sum())


def wald_test(coef: np.ndarray, cov: np.ndarray, contrast: np.ndarray) -> tuple[float, int, float]:
    """Wald test of ``R theta = 0``: statistic, degrees of freedom and chi-square p-value.

    Parameters
    ----------
    coef
        Estimates ``theta`` ``(k,)``.
    cov
        Their covariance ``(k, k)`` (clustered or model-based).
    contrast
        Restriction matrix ``R`` ``(r, k)``.

    Returns
    -------
    tuple
        ``(W, df, p)`` with ``W = (R theta)' (R V R')^+ (R theta)``, ``df`` the rank of
        ``R V R'`` and ``p = P(chi2_df >= W)``; ``(nan, 0, nan)`` when nothing is testable.
    """
    r = np.atleast_2d(np.asarray(contrast, dtype=np.float64))
    b = np.asarray(coef, dtype=np.float64)
    v = np.asarray(cov, dtype=np.float64)
    if r.shape[0] == 0 or not (np.all(np.isfinite(b)) and np.all(np.isfinite(v))):
        return float("nan"), 0, float("nan")
    rb = r @ b
    inv, rank = _pinv_psd(r @ v @ r.T)
    if rank == 0:
        return float("nan"), 0, float("nan")
    w = float(rb @ inv @ rb)
    return w, rank, float(stats.chi2.sf(w, rank))


def joint_score_contributions(
    X: np.ndarray,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    test_indices: Sequence[int],
    *,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Per-cluster contributions ``q_g = (H^{-1} s_g)_T`` to the joint score statistic.

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.fit_glm_cells`.
    clusters
        Cluster label per cell (cells must nest within clusters).
    test_indices
        Columns ``T`` restricted to zero.
    offset
        Optional offset.
    start
        Full-model coefficients to start the restricted fit from (saves iterations).

    Returns
    -------
    q : numpy.ndarray
        ``(G, m)`` for the ``m`` tested columns that are identified.
    tested : tuple of int
        Those columns' indices in ``X``.

    Raises
    ------
    EstimationError
        If no tested column is identified.
    """
    X = np.asarray(X, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    test = np.zeros(X.shape[1], dtype=bool)
    test[list(test_indices)] = True
    keep = ~aliased_columns(gram(X, n))
    rest = keep & ~test
    r_start = None
    if start is not None:
        r_start = np.nan_to_num(np.asarray(start, dtype=np.float64)[rest], nan=0.0)
    with warnings.catch_warnings():  # nuisance separation is routine (see fit_cells)
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        rfit = fit_glm_cells(subset_matrix(X, cols=rest), events, trials, family,
                             offset=offset, start=r_start)
    used = rest.copy()
    used[np.flatnonzero(rest)[np.asarray(rfit.aliased)]] = False
    used |= test & keep
    w = np.nan_to_num(np.asarray(rfit.weights), nan=0.0, posinf=0.0)
    u = np.nan_to_num(np.asarray(rfit.score_factor), nan=0.0, posinf=0.0, neginf=0.0)
    cols = np.flatnonzero(used)
    xu = subset_matrix(X, cols=used)
    h = gram(xu, w)
    # tested columns with no information left at the restricted fit are not testable
    ok = ~aliased_columns(h)
    t_pos = np.flatnonzero(test[cols] & ok)
    if t_pos.size == 0:
        raise EstimationError(
            "joint test: none of the tested columns "
            f"{sorted(int(i) for i in test_indices)} is identified in the data."
        )
    cols, xu, h = cols[ok], subset_matrix(xu, cols=ok), h[np.ix_(ok, ok)]
    t_pos = np.flatnonzero(test[cols])
    a = np.linalg.solve(h, np.eye(h.shape[0])[:, t_pos])  # columns T of H^-1
    codes, uniq = pd.factorize(pd.Series(np.asarray(clusters)), sort=True)
    if (codes < 0).any():
        raise EstimationError(f"joint test: {(codes < 0).sum()} cells have no cluster label.")
    q = cluster_scores(xu, u, codes.astype(np.int64), len(uniq)) @ a
    return q, tuple(int(c) for c in cols[t_pos])


def _lm(s: np.ndarray, v_inv: np.ndarray) -> np.ndarray:
    return np.einsum("bi,ij,bj->b", s, v_inv, s)


def wild_joint_test(
    X: np.ndarray,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    test_indices: Sequence[int],
    *,
    B: int = 999,
    weights: BootWeights = "rademacher",
    seed: int | Sequence[int] = 0,
    progress: bool | None = None,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> JointTest:
    """Wild cluster score bootstrap of the joint restriction ``theta_T = 0``.

    See the module docstring for the statistic. ``B = 0`` skips the bootstrap
    (``p_wild`` is NaN).

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.fit_glm_cells`.
    clusters
        Cluster label per cell.
    test_indices
        Columns restricted to zero.
    B
        Number of bootstrap draws.
    weights
        ``"rademacher"`` or ``"webb"``.
    seed
        Seed (or seed sequence) of :func:`numpy.random.default_rng`.
    progress
        Show a tqdm bar (default: only on a terminal).
    offset, start
        As for :func:`joint_score_contributions`.

    Returns
    -------
    JointTest
    """
    check_option("family", family, FAMILIES)
    check_option("weights", weights, BOOT_WEIGHTS)
    if B < 0:
        raise EstimationError(f"wild_joint_test: B={B} must be at least 0.")
    q, tested = joint_score_contributions(
        X, events, trials, family, clusters, test_indices, offset=offset, start=start
    )
    v_inv, rank = _pinv_psd(q.T @ q)
    stat = float(_lm(q.sum(axis=0)[None, :], v_inv)[0])
    p_chi = float(stats.chi2.sf(stat, rank)) if rank else float("nan")
    draws = np.empty(B)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(_CHUNK, _MAX_ENTRIES // max(q.shape[0], 1)))  # bounded memory
    starts = range(0, B, chunk)
    if show_progress(progress):
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="wild joint test", unit="chunk")
    for s0 in starts:
        b = min(chunk, B - s0)
        if weights == "rademacher":
            w = rng.integers(0, 2, size=(b, q.shape[0])) * 2.0 - 1.0
            draws[s0 : s0 + b] = _lm(w @ q, v_inv)
        else:
            w = _WEBB[rng.integers(0, 6, size=(b, q.shape[0]))]
            v_b = np.einsum("bg,gi,gj->bij", w * w, q, q)
            s_b = w @ q
            inv_b = np.linalg.pinv(v_b, hermitian=True)
            draws[s0 : s0 + b] = np.einsum("bi,bij,bj->b", s_b, inv_b, s_b)
    p_wild = float(np.mean(draws >= stat * (1 - 1e-12))) if B else float("nan")
    return JointTest(stat, rank, p_chi, p_wild, tested, draws)


def equality_design(
    X: np.ndarray, columns: Sequence[int], params: np.ndarray | None = None
) -> tuple[np.ndarray, list[int], np.ndarray | None]:
    """Reparametrise ``theta_1 = ... = theta_L`` as the exclusion of ``L - 1`` columns.

    The first of ``columns`` is replaced by the sum of all of them (the common effect);
    the others then measure deviations from it, and equality holds when they are zero.
    The column space, the fit and the likelihood are unchanged.

    Parameters
    ----------
    X
        Design matrix with one column per level ``(n, p)``.
    columns
        Indices of the level columns (at least two).
    params
        Estimates in the level parametrisation (optional), mapped to the new one
        (``theta_l - theta_1`` for the deviation columns) as a start for refits.

    Returns
    -------
    X_alt : numpy.ndarray
        The reparametrised design (a copy).
    test : list of int
        Columns whose exclusion is the equality restriction.
    start : numpy.ndarray or None
        ``params`` in the new parametrisation.
    """
    cols = list(columns)
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
class HomogeneityResult:
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

    def to_frame(self) -> pd.DataFrame:
        """The homogeneity table (a copy)."""
        return self.table.copy()

    tidy = to_frame

    def summary(self) -> str:
        """Text table of the homogeneity tests."""
        head = (
            "Is the effect the same for everybody? Joint tests of equal effects across levels\n"
            "statistic: clustered Wald (chi-square, df); p_wild: wild cluster score bootstrap"
        )
        notes = "".join(f"\n  {v}: clustered by {c}" for v, c in self.clusters.items())
        body = self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        return f"{head}{notes}\n{body}"

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return "<p><b>Homogeneity of the effects</b></p>" + self.table.to_html(
            index=False, float_format=lambda v: f"{v:.4f}"
        )

    def plot(self, lang: str = "en") -> object:
        """Bar chart of the homogeneity p-values (Wald and wild) per variable."""
        from sofeval.report import homogeneity_plot

        return homogeneity_plot(self.table, lang=lang)  # type: ignore[arg-type]


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
    jc = mf["jobcentre"].to_numpy()
    programme = sorted(set(jc[sc.jc_window.to_numpy() >= 0]))
    numeric: list[str] = []
    groups: dict[str, list[str]] = {}
    for est, col in zip(ESTIMANDS, ("D_early", "D_late"), strict=True):
        groups[est] = []
        for j in programme:
            name = f"{col}[{j}]"
            values = mf[col].to_numpy() * (jc == j)
            if not values.any():
                continue
            mf[name] = values
            numeric.append(name)
            if _identified(events, trials, values):
                groups[est].append(name)
    base = ["week_block", "jobcentre", "month", *covariates]
    mf, events, trials = collapse_patterns(mf[[*base, *numeric]], events, trials)
    dm = design_matrix(mf, base, numeric, trials)
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
            x_alt, test, start = equality_design(dm.X, idx, params)
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
    subgroups: SubgroupEffectsResult | None = None,
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
