"""Joint tests of several restrictions in a cell GLM: Wald and wild cluster score bootstrap.

For restrictions ``theta_T = 0`` on the columns ``T`` of a cell GLM:

* :func:`wald_test` -- the Wald statistic ``(R b)' (R V R')^+ (R b)`` of any contrast
  matrix ``R`` under a covariance ``V``, referred to chi-square with rank(R V R') degrees
  of freedom;
* :func:`joint_score_contributions` -- the per-cluster contributions
  ``q_g = (H^{-1} s_g)_T`` of the restricted fit (the restricted model refitted once);
* :func:`wild_joint_test` -- the robust score statistic ``LM = (Σ q_g)' V^+ (Σ q_g)``,
  ``V = Σ q_g q_g'``, and its wild cluster bootstrap ``LM* = (Σ w_g q_g)' V*^+ (Σ w_g q_g)``
  (Kline and Santos 2012, extended to several restrictions). With one restriction it
  equals :func:`sofeval.models.wild_score_bootstrap` with ``statistic="score"``.

Domain-free: used by the event-study lead test and the homogeneity tests of
:mod:`sofeval.analyses`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from sofeval.errors import EstimationError, NotIdentifiedWarning, check_option
from sofeval.models.bootstrap import BOOT_WEIGHTS, WEBB_POINTS, BootWeights, rademacher_bits
from sofeval.models.covariance import projected_scores
from sofeval.models.families import FAMILIES, Family
from sofeval.models.glm import fit_glm_cells
from sofeval.models.linalg import (
    Matrix,
    aliased_columns,
    as_matrix,
    gram,
    sparse_view,
    subset_matrix,
)
from sofeval.runtime import show_progress

__all__ = [
    "RANK_TOL",
    "JointTest",
    "joint_score_contributions",
    "pinv_psd",
    "restricted_start",
    "wald_test",
    "wild_joint_test",
]

_CHUNK = 1024
_MAX_ENTRIES = 2_000_000  # bootstrap weights held at once (draws x clusters), as float64
_CLUSTER_BLOCK = 4096  # clusters per block of the Rademacher product
#: Relative eigenvalue below which a score covariance direction counts as zero.
RANK_TOL = 1e-10


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


def pinv_psd(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Moore-Penrose inverse and rank of a symmetric positive semi-definite matrix.

    Eigenvalues below :data:`RANK_TOL` times the largest count as zero.
    """
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
    inv, rank = pinv_psd(r @ v @ r.T)
    if rank == 0:
        return float("nan"), 0, float("nan")
    w = float(rb @ inv @ rb)
    return w, rank, float(special.chdtrc(rank, w))


def restricted_start(
    params: np.ndarray, cov: np.ndarray, contrast: np.ndarray, value: np.ndarray | float = 0.0
) -> np.ndarray:
    """Start values for a refit under ``R theta = r``: the Wald projection of the estimates.

    ``theta_R = theta - V R' (R V R')^+ (R theta - r)`` minimises the quadratic
    approximation of the log-likelihood, ``(b - theta)' V^-1 (b - theta)``, subject to the
    restriction, when ``V`` is the inverse information (``GLMFit.cov``): one Newton step of
    the restricted problem from the unrestricted estimate, exact in the limit of a
    quadratic likelihood. A restricted refit started there needs fewer Fisher-scoring
    iterations; its convergence criterion, and so its estimate, is unchanged.

    Parameters
    ----------
    params
        Unrestricted estimates ``(p,)``; NaN for columns set aside.
    cov
        Their inverse information ``(p, p)``; NaN rows and columns for those columns.
    contrast
        ``R`` ``(r, p)``; rows touching a column set aside are left out.
    value
        ``r`` (scalar or ``(r,)``).

    Returns
    -------
    numpy.ndarray
        ``(p,)``; columns set aside stay NaN.
    """
    b = np.array(params, dtype=np.float64, copy=True)
    v = np.asarray(cov, dtype=np.float64)
    r = np.atleast_2d(np.asarray(contrast, dtype=np.float64))
    rhs = np.broadcast_to(np.asarray(value, dtype=np.float64), (r.shape[0],))
    ok = np.isfinite(b) & np.isfinite(np.diag(v))
    rows = ~np.any(r[:, ~ok] != 0, axis=1)
    if not rows.any() or not ok.any():
        return b
    rk, vk = r[np.ix_(rows, ok)], v[np.ix_(ok, ok)]
    if not np.all(np.isfinite(vk)):
        return b
    inv, _ = pinv_psd(rk @ vk @ rk.T)
    b[ok] -= vk @ rk.T @ (inv @ (rk @ b[ok] - rhs[rows]))
    return b


def joint_score_contributions(
    X: Matrix,
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
        Full-model cell data as for :func:`sofeval.models.fit_glm_cells` (``X`` dense or
        CSR).
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
    X = as_matrix(X)
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
                             offset=offset, start=r_start, covariance=False)
    used = rest.copy()
    used[np.flatnonzero(rest)[np.asarray(rfit.aliased)]] = False
    used |= test & keep
    w = np.nan_to_num(np.asarray(rfit.weights), nan=0.0, posinf=0.0)
    u = np.nan_to_num(np.asarray(rfit.score_factor), nan=0.0, posinf=0.0, neginf=0.0)
    cols = np.flatnonzero(used)
    xu = subset_matrix(X, cols=used)
    if sparse_view(X) is not None and sparse_view(xu) is not None:
        h = gram(X, w)[np.ix_(cols, cols)]  # the same sums, on the cached pairs of X
    else:
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
    q = projected_scores(xu, u, codes.astype(np.int64), len(uniq), a)
    return q, tuple(int(c) for c in cols[t_pos])


def _rademacher_sums(u: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``sum_g (2 u_g - 1) q_g = 2 sum_g u_g q_g - sum_g q_g`` for rows of bits ``u``.

    The product runs over blocks of :data:`_CLUSTER_BLOCK` clusters (a block of ``q``
    stays in cache while every draw of the chunk passes it), the bits made float64 one
    block at a time.
    """
    s = np.zeros((u.shape[0], q.shape[1]))
    for g0 in range(0, q.shape[0], _CLUSTER_BLOCK):
        s += u[:, g0 : g0 + _CLUSTER_BLOCK].astype(np.float64) @ q[g0 : g0 + _CLUSTER_BLOCK]
    return np.asarray(2.0 * s - q.sum(axis=0))


def _lm(s: np.ndarray, v_inv: np.ndarray) -> np.ndarray:
    return np.einsum("bi,ij,bj->b", s, v_inv, s)


def wild_joint_test(
    X: Matrix,
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
    v_inv, rank = pinv_psd(q.T @ q)
    stat = float(_lm(q.sum(axis=0)[None, :], v_inv)[0])
    p_chi = float(special.chdtrc(rank, stat)) if rank else float("nan")
    draws = np.empty(B)
    rng = np.random.default_rng(seed)
    n_clusters = max(q.shape[0], 1)
    if weights == "rademacher":  # bits: 1 byte per weight
        chunk = max(1, min(B, _MAX_ENTRIES * 8 // n_clusters))
    else:
        chunk = max(1, min(_CHUNK, _MAX_ENTRIES // n_clusters))  # bounded memory
    starts = range(0, B, chunk)
    if show_progress(progress):
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="wild joint test", unit="chunk")
    for s0 in starts:
        b = min(chunk, B - s0)
        if weights == "rademacher":
            draws[s0 : s0 + b] = _lm(_rademacher_sums(rademacher_bits(rng, (b, q.shape[0])), q),
                                     v_inv)
        else:
            w = WEBB_POINTS[rng.integers(0, 6, size=(b, q.shape[0]))]
            v_b = np.einsum("bg,gi,gj->bij", w * w, q, q)
            s_b = w @ q
            inv_b = np.linalg.pinv(v_b, hermitian=True)
            draws[s0 : s0 + b] = np.einsum("bi,bij,bj->b", s_b, inv_b, s_b)
    p_wild = float(np.mean(draws >= stat * (1 - 1e-12))) if B else float("nan")
    return JointTest(stat, rank, p_chi, p_wild, tested, draws)
