"""Inference for hazard models fitted on cells: a registry of named methods.

* :func:`vcov` -- covariance estimators ``"model"`` and ``"cluster"``;
* :func:`wild_score_bootstrap` -- Kline-Santos (2012) wild cluster score bootstrap;
* :func:`permutation_pvalue` -- randomisation-inference p-value from draws;
* :func:`adjust_pvalues` -- Holm and Benjamini-Hochberg adjustments.

Cells nest within clusters, so the cluster scores ``s_g = sum_{c in g} X[c] u[c]``
computed on cells equal those of the person-week panel and every covariance here
is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve

from sofeval.errors import EstimationError, check_option
from sofeval.models.glm import (
    FAMILIES,
    Family,
    GLMFit,
    aliased_columns,
    fit_glm_cells,
    gram,
    mean_functions,
    sparse_view,
    subset_matrix,
)
from sofeval.runtime import show_progress

VcovMethod = Literal["model", "cluster"]
VCOV_METHODS: tuple[VcovMethod, ...] = ("model", "cluster")
Correction = Literal["stata", "hc1", "none"]
CORRECTIONS: tuple[Correction, ...] = ("stata", "hc1", "none")
BootWeights = Literal["rademacher", "webb"]
BOOT_WEIGHTS: tuple[BootWeights, ...] = ("rademacher", "webb")
AdjustMethod = Literal["holm", "bh"]
ADJUST_METHODS: tuple[AdjustMethod, ...] = ("holm", "bh")

_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
_CHUNK = 2048


@dataclass(frozen=True)
class BootstrapResult:
    """Result of a wild cluster score bootstrap.

    Attributes
    ----------
    statistic
        Observed score statistic ``t``.
    p_value
        Share of bootstrap draws with ``|t*| >= |t|``.
    draws
        The ``B`` bootstrap statistics ``t*``.
    """

    statistic: float
    p_value: float
    draws: np.ndarray


def _cluster_codes(clusters: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 for cluster labels, with checks."""
    if clusters is None:
        raise EstimationError("vcov: method='cluster' needs clusters= (one label per cell).")
    arr = np.asarray(clusters)
    if arr.shape != (n,):
        raise EstimationError(
            f"vcov: clusters has shape {arr.shape}; expected ({n},), one label per cell."
        )
    codes, uniq = pd.factorize(pd.Series(arr), sort=True)
    if (codes < 0).any():
        raise EstimationError(f"vcov: {(codes < 0).sum()} cells have a missing cluster label.")
    if len(uniq) < 2:
        raise EstimationError("vcov: cluster-robust covariance needs at least 2 clusters.")
    return codes.astype(np.int64), len(uniq)


def cluster_scores(X: np.ndarray, u: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Return the ``G x p`` matrix of cluster scores ``s_g = sum_{c in g} X[c] u[c]``.

    Parameters
    ----------
    X
        Design matrix ``(n, p)``.
    u
        Per-cell score factors ``(n,)``.
    codes
        Cluster codes ``0..G-1`` per cell.
    n_groups
        Number of clusters ``G``.

    Returns
    -------
    numpy.ndarray
    """
    n = X.shape[0]
    agg = sparse.csr_matrix((u, (codes, np.arange(n))), shape=(n_groups, n))
    xs = sparse_view(X)
    if xs is not None:
        return np.asarray((agg @ xs).toarray())
    return np.asarray(agg @ X)


def vcov(
    fit: GLMFit,
    X: np.ndarray,
    *,
    method: VcovMethod,
    clusters: np.ndarray | None = None,
    correction: Correction = "stata",
    n_obs: int | None = None,
) -> np.ndarray:
    """Covariance matrix of a cell GLM by a named method.

    ``"model"``: ``V = H^-1`` with the expected (Fisher) information ``H = X'WX``
    (``fit.cov``; R ``vcov(glm)``).

    ``"cluster"``: ``V = c H^-1 (sum_g s_g s_g') H^-1`` with cluster scores
    ``s_g = sum_{c in g} X[c] u[c]`` and correction ``c``:

    * ``"stata"`` (default): ``c = G / (G - 1)`` (Stata's ML ``vce(cluster)``);
    * ``"hc1"``: ``c = G / (G - 1) * (N - 1) / (N - K)`` with ``N`` person-weeks
      (``n_obs``, default ``sum(trials)``) and ``K`` non-aliased parameters: R
      ``sandwich::vcovCL(type = "HC1")`` on the person-week panel and statsmodels'
      ``cov_type="cluster"``;
    * ``"none"``: ``c = 1``.

    Parameters
    ----------
    fit
        A fit from :func:`sofeval.models.glm.fit_glm_cells`.
    X
        The design matrix the fit used ``(n, p)``.
    method
        ``"model"`` or ``"cluster"``.
    clusters
        Cluster label per cell (cells must nest within clusters).
    correction
        Small-sample correction of the cluster covariance.
    n_obs
        Number of person-weeks ``N`` for ``"hc1"``.

    Returns
    -------
    numpy.ndarray
        ``(p, p)``; NaN rows and columns for aliased parameters.

    Raises
    ------
    OptionError
        Unknown ``method`` or ``correction``.
    """
    check_option("method", method, VCOV_METHODS)
    check_option("correction", correction, CORRECTIONS)
    if method == "model":
        return np.array(fit.cov, copy=True)
    X = np.asarray(X, dtype=np.float64)
    codes, G = _cluster_codes(clusters, X.shape[0])
    keep = ~np.asarray(fit.aliased)
    bread = np.asarray(fit.cov)[np.ix_(keep, keep)]
    s = cluster_scores(subset_matrix(X, cols=keep), np.asarray(fit.score_factor), codes, G)
    meat = s.T @ s
    k = int(keep.sum())
    c = 1.0
    if correction in ("stata", "hc1"):
        c = G / (G - 1.0)
    if correction == "hc1":
        N = float(n_obs) if n_obs is not None else fit.n_trials
        c *= (N - 1.0) / (N - k)
    out = np.full(fit.cov.shape, np.nan)
    out[np.ix_(keep, keep)] = c * bread @ meat @ bread
    return out


def score_contributions(
    X: np.ndarray,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    test_index: int,
    *,
    offset: np.ndarray | None = None,
    null_value: float = 0.0,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Per-cluster contributions ``q_g`` to the restricted score statistic of one parameter.

    The restricted model fixes ``theta_k = null_value`` for column ``k = test_index`` (the
    column moves into the offset). At its estimate
    the full-model cluster scores ``s_g`` and information ``H = X'WX`` give
    ``q_g = (H^-1 s_g)_k``, so that ``t = sum_g q_g / sqrt(sum_g q_g^2)``.

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.glm.fit_glm_cells`.
    clusters
        Cluster label per cell.
    test_index
        Column of the tested parameter.
    offset
        Optional offset.
    null_value
        Value of ``theta_k`` under the null hypothesis (0 by default; a non-zero value
        gives the test that inverts into a confidence interval).
    start
        Full-model coefficients (length ``p``) to start the restricted fit from, such as
        the unrestricted estimates; saves IRLS iterations, not the result.

    Returns
    -------
    numpy.ndarray
        ``q`` of shape ``(G,)``.
    """
    X = np.asarray(X, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    p = X.shape[1]
    if not 0 <= test_index < p:
        raise EstimationError(
            f"wild_score_bootstrap: test_index={test_index} is outside 0..{p - 1}."
        )
    alias = aliased_columns(gram(X, n))
    if alias[test_index]:
        raise EstimationError(
            f"wild_score_bootstrap: column {test_index} is aliased (collinear "
            "with others); its effect is not identified."
        )
    keep = ~alias
    rest = keep.copy()
    rest[test_index] = False
    if null_value:
        base = np.zeros(X.shape[0]) if offset is None else np.asarray(offset, dtype=np.float64)
        offset = base + null_value * X[:, test_index]
    r_start = None
    if start is not None:
        r_start = np.nan_to_num(np.asarray(start, dtype=np.float64)[rest], nan=0.0)
    rfit = fit_glm_cells(subset_matrix(X, cols=rest), events, trials, family, offset=offset,
                         start=r_start)
    mu, dmu, var = mean_functions(rfit.eta, family)[:3]
    w = n * dmu * dmu / var
    u = np.asarray(rfit.score_factor)
    Xk = subset_matrix(X, cols=keep)
    h = gram(Xk, w)
    kpos = int(np.sum(keep[:test_index]))
    e = np.zeros(h.shape[0])
    e[kpos] = 1.0
    a = cho_solve(cho_factor(h), e)  # row k of H^-1 (H symmetric)
    codes, G = _cluster_codes(clusters, X.shape[0])
    return cluster_scores(Xk, u, codes, G) @ a


def wild_t(q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Score statistics ``t* = sum_g w_g q_g / sqrt(sum_g w_g^2 q_g^2)`` for rows of ``weights``.

    Parameters
    ----------
    q
        Cluster contributions ``(G,)`` from :func:`score_contributions`.
    weights
        ``(B, G)`` cluster weights.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` statistics.
    """
    num = weights @ q
    den = np.sqrt((weights * weights) @ (q * q))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(num / den)


def wild_score_bootstrap(
    X: np.ndarray,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    test_index: int,
    *,
    B: int = 999,
    weights: BootWeights = "rademacher",
    seed: int,
    progress: bool | None = None,
    offset: np.ndarray | None = None,
    null_value: float = 0.0,
    start: np.ndarray | None = None,
) -> BootstrapResult:
    """Kline-Santos (2012) wild cluster score bootstrap test of ``theta_k = null_value``.

    The restricted model (column ``k`` dropped) is fitted once. With its cluster scores
    ``s_g`` and the full-model information ``H`` at the restricted estimate, the
    statistic is ``t = (H^-1 S)_k / sqrt((H^-1 sum_g s_g s_g' H^-1)_kk)`` with
    ``S = sum_g s_g``; the bootstrap replaces ``s_g`` by ``w_g s_g`` (``w_g``
    Rademacher +-1 or Webb's six-point weights), recomputing the denominator, and
    ``p = #{|t*| >= |t|} / B``. Small-sample constants cancel in ``t``.

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.glm.fit_glm_cells`.
    clusters
        Cluster label per cell (cells nest within clusters).
    test_index
        Column of the tested parameter.
    B
        Number of bootstrap draws.
    weights
        ``"rademacher"`` or ``"webb"``.
    seed
        Seed of :func:`numpy.random.default_rng`.
    progress
        Show a tqdm bar; None shows it only on a terminal with ``CI`` unset.
    offset
        Optional offset.
    null_value
        Value of ``theta_k`` under the null (default 0).
    start
        Starting coefficients for the restricted fit (see :func:`score_contributions`).

    Returns
    -------
    BootstrapResult
    """
    check_option("family", family, FAMILIES)
    check_option("weights", weights, BOOT_WEIGHTS)
    if B < 1:
        raise EstimationError(f"wild_score_bootstrap: B={B} must be at least 1.")
    q = score_contributions(
        X, events, trials, family, clusters, test_index, offset=offset, null_value=null_value,
        start=start,
    )
    t_obs = float(wild_t(q, np.ones((1, q.size)))[0])
    rng = np.random.default_rng(seed)
    draws = np.empty(B)
    starts = range(0, B, _CHUNK)
    if show_progress(progress):
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="wild bootstrap", unit="chunk")
    for s0 in starts:
        b = min(_CHUNK, B - s0)
        if weights == "rademacher":
            w = rng.integers(0, 2, size=(b, q.size)) * 2.0 - 1.0
        else:
            w = _WEBB[rng.integers(0, 6, size=(b, q.size))]
        draws[s0 : s0 + b] = wild_t(q, w)
    p = float(np.mean(np.abs(draws) >= abs(t_obs) * (1 - 1e-12)))
    return BootstrapResult(statistic=t_obs, p_value=p, draws=draws)


def permutation_pvalue(observed: float, draws: np.ndarray) -> float:
    """Two-sided randomisation p-value ``(1 + #{|d| >= |obs|}) / (1 + R)``.

    Parameters
    ----------
    observed
        Observed statistic.
    draws
        ``R`` statistics under re-randomisation (NaN draws are ignored).

    Returns
    -------
    float
    """
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not np.isfinite(observed):
        return float("nan")
    return float((1 + np.sum(np.abs(d) >= abs(observed) * (1 - 1e-12))) / (1 + d.size))


def adjust_pvalues(p: np.ndarray, method: AdjustMethod) -> np.ndarray:
    """Multiplicity-adjusted p-values (NaNs are kept and ignored).

    ``"holm"``: with sorted ``p_(1) <= ... <= p_(m)``,
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
    ``"bh"`` (Benjamini-Hochberg): ``p~_(i) = min_{j >= i} min(1, m p_(j) / j)``.

    Parameters
    ----------
    p
        Unadjusted p-values.
    method
        ``"holm"`` or ``"bh"``.

    Returns
    -------
    numpy.ndarray
    """
    check_option("method", method, ADJUST_METHODS)
    arr = np.asarray(p, dtype=np.float64)
    out = np.full(arr.shape, np.nan)
    ok = np.isfinite(arr)
    x = arr[ok]
    m = x.size
    if m == 0:
        return out
    order = np.argsort(x, kind="stable")
    xs = x[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - i + 1) * xs))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * xs / i)[::-1])[::-1]
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
