"""Covariance estimators of cell GLMs: a registry of named methods.

Cells nest within clusters, so the cluster scores ``s_g = sum_{c in g} X[c] u[c]``
computed on cells equal those of the person-week panel and every covariance here is
exact. :func:`vcov` dispatches on :data:`VCOV_METHODS`; an unknown name raises
:class:`sofeval.errors.OptionError` listing the valid ones.

:func:`score_contributions` gives the per-cluster pieces of the restricted (null-imposed)
score statistic used by the wild cluster score bootstrap (:mod:`sofeval.models.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve

from sofeval.errors import EstimationError, check_option
from sofeval.models.families import Family, fisher_weights
from sofeval.models.glm import GLMFit, fit_glm_cells
from sofeval.models.linalg import (
    Matrix,
    aliased_columns,
    as_matrix,
    column,
    dot,
    gram,
    group_sum,
    operand,
    subset_matrix,
)

__all__ = [
    "CORRECTIONS",
    "VCOV_METHODS",
    "Correction",
    "RestrictedScores",
    "VcovMethod",
    "cluster_codes",
    "cluster_meat",
    "cluster_scores",
    "projected_scores",
    "restricted_scores",
    "score_contributions",
    "vcov",
]

VcovMethod = Literal["model", "cluster"]
VCOV_METHODS: tuple[VcovMethod, ...] = ("model", "cluster")
Correction = Literal["stata", "hc1", "none"]
CORRECTIONS: tuple[Correction, ...] = ("stata", "hc1", "none")


def cluster_codes(clusters: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Integer codes ``0..G-1`` (sorted labels) of one cluster label per cell, checked.

    Parameters
    ----------
    clusters
        Cluster label per cell.
    n
        Number of cells.

    Returns
    -------
    tuple
        ``(codes, G)``.

    Raises
    ------
    EstimationError
        Missing labels, a wrong length, or fewer than 2 clusters.
    """
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


def cluster_scores(X: Matrix, u: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Return the ``G x p`` matrix of cluster scores ``s_g = sum_{c in g} X[c] u[c]``.

    Parameters
    ----------
    X
        Design matrix ``(n, p)``, dense or CSR.
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
    return np.asarray(group_sum(operand(X), codes, n_groups, weights=u))


def cluster_meat(X: Matrix, u: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Return the meat ``sum_g s_g s_g'`` of a cluster covariance, ``(p, p)``.

    When every cell is its own cluster (``n_groups`` equals the number of cells) the
    meat is the weighted gram ``X' diag(u^2) X`` (heteroskedasticity-robust): no
    ``G x p`` score matrix is formed. Otherwise ``S'S`` of :func:`cluster_scores`.

    Parameters
    ----------
    X, u, codes, n_groups
        As for :func:`cluster_scores`.

    Returns
    -------
    numpy.ndarray
    """
    if n_groups == X.shape[0]:  # singletons: s_c = X[c] u[c]
        return gram(X, u * u)
    s = cluster_scores(X, u, codes, n_groups)
    return np.asarray(s.T @ s)


def projected_scores(
    X: Matrix, u: np.ndarray, codes: np.ndarray, n_groups: int, a: np.ndarray
) -> np.ndarray:
    """Return ``S a``: the cluster scores of :func:`cluster_scores` times ``a`` ``(p, m)``.

    When every cell is its own cluster the rows are ``(X[c] a) u[c]``, placed at the
    cells' codes: a sparse design times ``a`` without a dense ``G x p`` score matrix.

    Parameters
    ----------
    X, u, codes, n_groups
        As for :func:`cluster_scores`.
    a
        ``(p,)`` or ``(p, m)``.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` or ``(G, m)``.
    """
    a = np.asarray(a, dtype=np.float64)
    if n_groups != X.shape[0]:
        return np.asarray(cluster_scores(X, u, codes, n_groups) @ a)
    xa = dot(X, a)
    q = np.empty_like(xa)
    q[codes] = xa * (u[:, None] if xa.ndim == 2 else u)
    return q


def vcov(
    fit: GLMFit,
    X: Matrix,
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
        The design matrix the fit used ``(n, p)``, dense or CSR.
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
    X = as_matrix(X)
    codes, G = cluster_codes(clusters, X.shape[0])
    keep = ~np.asarray(fit.aliased)
    bread = np.asarray(fit.cov)[np.ix_(keep, keep)]
    meat = cluster_meat(subset_matrix(X, cols=keep), np.asarray(fit.score_factor), codes, G)
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


@dataclass(frozen=True)
class RestrictedScores:
    """Cluster scores and information of the full model at the restricted estimate.

    Attributes
    ----------
    X
        Design without aliased columns ``(n, p)``, dense or CSR as given.
    scores
        Cluster scores ``s_g`` at the restricted estimate, ``(G, p)``; their nuisance
        components sum to zero (the restricted score equations).
    info
        Full-model Fisher information ``H = X'WX`` at the restricted estimate, ``(p, p)``.
    weights
        Per-cell Fisher weights ``W`` at the restricted estimate.
    codes
        Cluster code per cell.
    n_clusters
        ``G``.
    index
        Position of the tested parameter among the columns of ``X``.
    """

    X: Matrix
    scores: np.ndarray
    info: np.ndarray
    weights: np.ndarray
    codes: np.ndarray
    n_clusters: int
    index: int

    def info_row(self) -> np.ndarray:
        """Row ``k`` of ``H^-1`` (``H`` is symmetric): ``m = H^-1 e_k``."""
        e = np.zeros(self.info.shape[0])
        e[self.index] = 1.0
        return np.asarray(cho_solve(cho_factor(self.info), e))


def restricted_scores(
    X: Matrix,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    test_index: int,
    *,
    offset: np.ndarray | None = None,
    null_value: float = 0.0,
    start: np.ndarray | None = None,
) -> RestrictedScores:
    """Fit the restricted model (``theta_k = null_value`` in the offset) and score the full one.

    Parameters
    ----------
    X, events, trials, family, clusters, test_index, offset, null_value, start
        As for :func:`score_contributions`.

    Returns
    -------
    RestrictedScores

    Raises
    ------
    EstimationError
        ``test_index`` out of range or an aliased tested column.
    """
    X = as_matrix(X)
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
        offset = base + null_value * column(X, test_index)
    r_start = None
    if start is not None:
        r_start = np.nan_to_num(np.asarray(start, dtype=np.float64)[rest], nan=0.0)
    rfit = fit_glm_cells(subset_matrix(X, cols=rest), events, trials, family, offset=offset,
                         start=r_start, covariance=False)
    w = fisher_weights(rfit.eta, n, family)
    u = np.asarray(rfit.score_factor)
    Xk = subset_matrix(X, cols=keep)
    codes, G = cluster_codes(clusters, X.shape[0])
    return RestrictedScores(
        X=Xk,
        scores=cluster_scores(Xk, u, codes, G),
        info=gram(Xk, w),
        weights=w,
        codes=codes,
        n_clusters=G,
        index=int(np.sum(keep[:test_index])),
    )


def score_contributions(
    X: Matrix,
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
    column moves into the offset). At its estimate the full-model cluster scores ``s_g``
    and information ``H = X'WX`` give ``q_g = (H^-1 s_g)_k``, so that
    ``t = sum_g q_g / sqrt(sum_g q_g^2)``.

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.glm.fit_glm_cells` (``X`` dense
        or CSR).
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
    rs = restricted_scores(
        X, events, trials, family, clusters, test_index, offset=offset,
        null_value=null_value, start=start,
    )
    return np.asarray(rs.scores @ rs.info_row())
