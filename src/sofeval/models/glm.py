"""Binomial (cloglog/logit) and Poisson GLMs fitted on collapsed cells.

A cell ``c`` is a distinct regressor pattern with a row ``X[c]`` of the design
matrix, ``events[c]`` (count of events) and ``trials[c]`` (person-weeks at
risk). The binomial likelihood (cloglog or logit link) of the person-week
panel depends on the data only through these counts, and so does the Poisson
likelihood of the piecewise-exponential model (``events ~ Poisson(trials *
exp(eta))``). Fitting on cells therefore reproduces the person-week GLM
exactly, at a fraction of the memory.

:func:`fit_glm_cells` runs four named steps:

1. :func:`check_separation` and set-aside: indicator columns whose support has no events
   (or only events) diverge; they and their cells are set aside, and columns collinear
   with earlier ones are flagged (:func:`sofeval.models.linalg.aliased_columns`);
2. start values: weighted least squares of the linked smoothed cell means;
3. iterate: Fisher scoring with step halving;
4. finalise: divergence by size, covariance, per-cell outputs on every cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve

from sofeval.errors import (
    ConvergenceWarning,
    EstimationError,
    NotIdentifiedWarning,
    check_option,
)
from sofeval.models.families import (
    EPS,
    FAMILIES,
    Family,
    link,
    loglik,
    mean_functions,
    saturated_loglik,
)
from sofeval.models.linalg import (
    Matrix,
    aliased_columns,
    as_matrix,
    binary_columns,
    dot,
    gram,
    rows_dot,
    rows_touching,
    sparse_view,
    subset_matrix,
    tdot,
    to_dense,
)

__all__ = ["SEPARATION_BOUND", "SLOW_ITER", "GLMFit", "check_separation", "fit_glm_cells"]

#: |coefficient| beyond which the parameter of a 0/1 column is taken as diverging
#: (a hazard ratio of e^25 is not an estimate, it is perfect prediction).
SEPARATION_BOUND = 25.0
_MAX_HALVING = 30
#: Iterations after which the deviance criterion alone declares convergence.
SLOW_ITER = 25


@dataclass(frozen=True)
class GLMFit:
    """State of a fitted GLM on cells (all arrays ``float64``).

    Attributes
    ----------
    params
        Coefficients, shape ``(p,)``; NaN for columns set aside (``aliased``).
    cov
        Inverse expected (Fisher) information, ``(p, p)``; NaN rows/columns for
        columns set aside. This is R ``vcov(glm)`` and statsmodels' IRLS ``cov_params``.
    score_factor
        Per-cell ``u`` such that the score of cell ``c`` is ``X[c] * u[c]``;
        binomial ``u = (y - n mu) mu'(eta) / (mu (1 - mu))``, Poisson ``u = y - n mu``.
    weights
        Per-cell Fisher weights ``n mu'(eta)^2 / V(mu)`` (the Hessian is ``X' W X``);
        zero on cells set aside.
    eta, mu
        Linear predictor (including any offset) and per-trial mean (probability for
        binomial families, rate for Poisson) of each cell. Cells of a separated
        category have ``eta = -inf`` (``+inf``) and ``mu = 0`` (``1``).
    loglik
        Log-likelihood of the person-week panel (binomial: ``sum y log mu + (n - y)
        log(1 - mu)``; Poisson with unit exposure: ``sum y log mu - n mu``).
    deviance
        Deviance of the cell data against the saturated cell model.
    n_iter, converged
        Fisher-scoring iterations used and whether the deviance criterion was met.
    aliased
        Boolean mask ``(p,)`` of columns set aside: collinear with earlier columns or
        separated (see ``separated``).
    separated
        Names of parameters that diverge to +-inf (perfect prediction).
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.
    n_trials
        Sum of ``trials`` (person-weeks).
    names
        Column names used in messages (``x0``, ``x1``, ... if none were given).
    """

    params: np.ndarray
    cov: np.ndarray
    score_factor: np.ndarray
    weights: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    loglik: float
    deviance: float
    n_iter: int
    converged: bool
    aliased: np.ndarray
    separated: tuple[str, ...]
    family: Family
    n_trials: float
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Sample:
    """The cells that enter the likelihood and the columns that are estimated."""

    active: np.ndarray  # cells kept (trials > 0, outside separated categories)
    dropped_rows: np.ndarray  # cells of separated categories
    sep_neg: np.ndarray
    sep_pos: np.ndarray
    alias: np.ndarray  # separated or collinear columns
    keep: np.ndarray  # ~alias
    Xk: Matrix  # active rows, kept columns
    y: np.ndarray
    n: np.ndarray
    off: np.ndarray
    gram_n: np.ndarray  # X_k' diag(n) X_k (the start's normal equations)


@dataclass(frozen=True)
class _Iterates:
    """Where Fisher scoring stopped."""

    beta: np.ndarray
    ll: float
    fn: tuple[np.ndarray, ...]
    eta: np.ndarray
    dev: float
    n_iter: int
    converged: bool


# ----------------------------------------------------------------------------
# Step 1: inputs, separation and aliasing
# ----------------------------------------------------------------------------


def _check_inputs(X: Matrix, y: np.ndarray, n: np.ndarray, family: str) -> None:
    if X.ndim != 2 or y.shape != (X.shape[0],) or n.shape != (X.shape[0],):
        raise EstimationError(
            f"fit_glm_cells: X must be (n, p) and events/trials (n,); got {X.shape}, "
            f"{y.shape}, {n.shape}."
        )
    xv = X.data if sparse.issparse(X) else X  # a CSR design: its stored entries
    for nm, a in (("X", xv), ("events", y), ("trials", n)):
        if not np.all(np.isfinite(a)):
            raise EstimationError(f"fit_glm_cells: {nm} has non-finite values; drop them.")
    bad = np.flatnonzero((y < 0) | (n < 0) | ((y > n) & (family != "poisson")))
    if bad.size:
        raise EstimationError(
            f"cells: {bad.size} cells have events < 0, trials < 0 or events > trials "
            f"(rows {bad[:10].tolist()}); recount the cells."
        )
    if y.sum() <= 0:
        raise EstimationError("cells: there are no events; the hazard cannot be estimated.")
    if family != "poisson" and (n - y).sum() <= 0:
        raise EstimationError(
            "cells: every trial is an event (no non-events); the hazard cannot be estimated."
        )


def check_separation(
    X: Matrix, events: np.ndarray, trials: np.ndarray, family: str
) -> tuple[np.ndarray, np.ndarray]:
    """Flag indicator columns whose support has no events (-inf) or only events (+inf).

    A 0/1 column (some zeros) with ``trials > 0`` in its support and no events there has
    its maximum-likelihood coefficient at ``-inf``; with only events (binomial families)
    at ``+inf``. Cells with ``trials = 0`` carry no information.

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.
    events, trials
        Events and trials per cell.
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"`` (no ``+inf`` separation for Poisson).

    Returns
    -------
    tuple of numpy.ndarray
        Boolean masks ``(p,)``: diverging to ``-inf`` and to ``+inf``.
    """
    xs = sparse_view(X)
    if xs is not None:  # indicator: every stored entry is 1 and some entry is 0
        not_one = np.bincount(xs.indices[xs.data != 1], minlength=X.shape[1]) > 0
        nnz = np.bincount(xs.indices, minlength=X.shape[1])
        is_ind = ~not_one & (nnz < X.shape[0])
    else:
        xd = to_dense(X)
        is_ind = np.all((xd == 0) | (xd == 1), axis=0) & (xd.min(axis=0) == 0)
    ev = tdot(X, events)  # for 0/1 columns: events in the support of the column
    tr = tdot(X, trials)
    neg = is_ind & (tr > 0) & (ev == 0)
    posv = is_ind & (tr > 0) & (ev == tr) & (family != "poisson")
    return neg, posv


def _set_aside(
    X: Matrix, y: np.ndarray, n: np.ndarray, off: np.ndarray, family: str,
    cnames: tuple[str, ...],
) -> _Sample:
    """Set aside separated columns with their cells, then flag collinear columns."""
    sep_neg, sep_pos = check_separation(X, y, n, family)
    sep = sep_neg | sep_pos
    dropped_rows = rows_touching(X, sep) if sep.any() else np.zeros(len(y), bool)
    active = (n > 0) & ~dropped_rows
    if active.all():
        ya, na, Xa, oa = y, n, X, off
    else:
        ya, na, Xa, oa = y[active], n[active], subset_matrix(X, rows=active), off[active]
    if ya.sum() <= 0 or (family != "poisson" and (na - ya).sum() <= 0):
        raise EstimationError(
            "cells: no events (or no non-events) remain outside the "
            f"separated categories {[cnames[j] for j in np.flatnonzero(sep)]}."
        )
    alias = sep.copy()
    g = gram(subset_matrix(Xa, cols=~sep) if sep.any() else Xa, na)
    alias[~sep] = aliased_columns(g)
    collinear = alias & ~sep
    if collinear.any():
        warnings.warn(
            f"{int(collinear.sum())} column(s) are collinear with earlier columns and are "
            f"not identified (set to NaN): {[cnames[j] for j in np.flatnonzero(collinear)]}.",
            NotIdentifiedWarning,
            stacklevel=3,
        )
    keep = ~alias
    Xk = Xa if keep.all() else subset_matrix(Xa, cols=keep)
    k = keep[~sep]  # the same sums: a column subset of the aliasing gram
    gram_n = g if k.all() else g[np.ix_(k, k)]
    return _Sample(active, dropped_rows, sep_neg, sep_pos, alias, keep, Xk, ya, na, oa, gram_n)


# ----------------------------------------------------------------------------
# Steps 2 and 3: start values and Fisher scoring
# ----------------------------------------------------------------------------


def _start(s: _Sample, family: str, start: np.ndarray | None) -> np.ndarray:
    """Given start values, or weighted least squares of the linked smoothed cell means.

    R's rule ``(y + 0.5) / (n + 1)`` for binomial families. (Smoothing towards the overall
    rate instead saves Fisher-scoring iterations for rare outcomes, but on the embedded
    data it led the dose-response fit into a spurious separation of a sparse month.)
    """
    if start is not None:
        beta = np.asarray(start, dtype=np.float64)[s.keep].copy()
        return np.asarray(np.where(np.isfinite(beta), beta, 0.0))
    if family == "poisson":
        z0 = link((s.y + 0.1) / np.maximum(s.n, EPS), family)
    else:
        z0 = link((s.y + 0.5) / (s.n + 1.0), family)
    return np.asarray(cho_solve(cho_factor(s.gram_n), tdot(s.Xk, s.n * (z0 - s.off))))


def _iterate(
    s: _Sample, family: str, beta: np.ndarray, tol: float, max_iter: int
) -> _Iterates:
    """Fisher scoring ``beta += (X'WX)^-1 X'u``, halving the step while the fit worsens."""
    ya, na, oa, Xk = s.y, s.n, s.off, s.Xk

    def evaluate(b: np.ndarray) -> tuple[float, tuple[np.ndarray, ...], np.ndarray]:
        eta_ = dot(Xk, b) + oa
        fn_ = mean_functions(eta_, family)
        return loglik(ya, na, fn_[0], fn_[3], fn_[4], family), fn_, eta_

    ll_sat = saturated_loglik(ya, na, family)
    ll, fn, eta = evaluate(beta)
    dev = 2.0 * (ll_sat - ll)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        mu, dmu, var = fn[0], fn[1], fn[2]
        u = (ya - na * mu) * dmu / var
        w = na * dmu * dmu / var  # fisher_weights(eta, ...) without recomputing fn
        grad = tdot(Xk, u)
        try:
            step = cho_solve(cho_factor(gram(Xk, w)), grad)
        except np.linalg.LinAlgError:  # information lost: parameters running to +-inf
            break
        new = beta + step
        ll_new, fn_new, eta_new = evaluate(new)
        halvings = 0
        while (
            not np.isfinite(ll_new) or ll_new < ll - 1e-12 * abs(ll)
        ) and halvings < _MAX_HALVING:
            step = step / 2.0
            new = beta + step
            ll_new, fn_new, eta_new = evaluate(new)
            halvings += 1
        dev_new = 2.0 * (ll_sat - ll_new)
        crit = abs(dev_new - dev) / (abs(dev_new) + 0.1)
        # Fisher scoring is only linearly convergent for cloglog: also require a tiny step
        small_step = float(np.max(np.abs(step), initial=0.0)) < 100 * tol
        beta, ll, fn, eta, dev = new, ll_new, fn_new, eta_new, dev_new
        # after SLOW_ITER iterations a deviance stable to tol is accepted (R's rule): a
        # weakly identified parameter (a near-separated small category) may creep on
        # while the likelihood no longer changes
        if (crit < tol and (small_step or it >= SLOW_ITER)) or halvings == _MAX_HALVING:
            converged = crit < tol
            break
    return _Iterates(beta, ll, fn, eta, dev, it, converged)


# ----------------------------------------------------------------------------
# Step 4: finalise
# ----------------------------------------------------------------------------


def _finalise(
    X: Matrix, y: np.ndarray, n: np.ndarray, off: np.ndarray, family: Family,
    s: _Sample, r: _Iterates, cnames: tuple[str, ...], covariance: bool = True,
) -> GLMFit:
    """Divergence by size, covariance of the identified columns, per-cell outputs."""
    alias = s.alias.copy()
    sep = s.sep_neg | s.sep_pos
    keep = s.keep
    # divergence not caught by the indicator check: huge coefficients
    # (indicator columns only: a numeric regressor on a small scale may have a large slope)
    diverging = np.abs(r.beta) > SEPARATION_BOUND
    if diverging.any():
        diverging &= binary_columns(s.Xk)
        kidx = np.flatnonzero(keep)
        alias[kidx[diverging]] = True
        sep[kidx[diverging]] = True
    if sep.any():
        warnings.warn(
            "perfect prediction (separation): these parameters diverge to +-inf and are "
            f"reported as NaN: {[cnames[j] for j in np.flatnonzero(sep)]}; merge sparse "
            "categories or drop them.",
            NotIdentifiedWarning,
            stacklevel=3,
        )
    p = X.shape[1]
    mu, dmu, var = r.fn[0], r.fn[1], r.fn[2]
    w = s.n * dmu * dmu / var  # fisher_weights(r.eta, ...) from the final fn
    params = np.full(p, np.nan)
    params[keep] = r.beta
    params[sep] = np.nan
    final = keep & ~sep
    sub = np.flatnonzero(final[keep])
    cov = np.full((p, p), np.nan)
    if sub.size and covariance:
        h = gram(s.Xk if sub.size == s.Xk.shape[1] else subset_matrix(s.Xk, cols=sub), w)
        try:
            cov[np.ix_(final, final)] = cho_solve(cho_factor(h), np.eye(sub.size))
        except np.linalg.LinAlgError:  # singular after divergence: pseudo-inverse
            cov[np.ix_(final, final)] = np.linalg.pinv(h)

    # per-cell outputs on all cells
    active = s.active
    full_eta = np.empty_like(y)
    full_mu = np.empty_like(y)
    full_u = np.zeros_like(y)
    full_w = np.zeros_like(y)
    full_eta[active] = r.eta
    full_mu[active] = mu
    full_u[active] = (s.y - s.n * mu) * dmu / var
    full_w[active] = w
    rest = ~active
    if rest.any():
        b0 = np.where(np.isfinite(params), params, 0.0)
        eta_r = rows_dot(X, rest, b0) + off[rest]
        full_eta[rest], full_mu[rest] = eta_r, mean_functions(eta_r, family)[0]
        if s.dropped_rows.any():
            neg_rows = rows_touching(X, s.sep_neg) & rest
            pos_rows = rows_touching(X, s.sep_pos) & rest
            full_eta[neg_rows], full_mu[neg_rows] = -np.inf, 0.0
            full_eta[pos_rows], full_mu[pos_rows] = np.inf, 1.0
    return GLMFit(
        params=params,
        cov=cov,
        score_factor=full_u,
        weights=full_w,
        eta=full_eta,
        mu=full_mu,
        loglik=r.ll,
        deviance=r.dev,
        n_iter=r.n_iter,
        converged=r.converged,
        aliased=alias,
        separated=tuple(cnames[j] for j in np.flatnonzero(sep)),
        family=family,
        n_trials=float(n.sum()),
        names=cnames,
    )


def fit_glm_cells(
    X: Matrix,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family = "cloglog",
    *,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    names: Sequence[str] | None = None,
    covariance: bool = True,
) -> GLMFit:
    """Fit a binomial (cloglog/logit) or Poisson GLM on collapsed cells.

    Fisher scoring: ``beta <- beta + (X'WX)^-1 X'u`` with the per-cell score factor
    ``u`` and Fisher weights ``W`` of :class:`GLMFit`, halving the step while the
    log-likelihood does not increase. Converged when ``|dev - dev_old| / (|dev| + 0.1)
    < tol`` (R's ``glm.control`` criterion) and the largest coefficient change is below
    ``100 * tol`` (Fisher scoring converges only linearly for the non-canonical cloglog
    link, so the deviance criterion alone leaves errors of ~1e-7 in the coefficients).

    Parameters
    ----------
    X
        Design matrix ``(n_cells, p)``: a dense array or a CSR matrix (products, subsets
        and separation checks then stay sparse; no dense copy of a large design is made).
    events
        Events per cell.
    trials
        Person-weeks at risk per cell (Poisson: exposure; ``log(trials)`` is the offset).
    family
        ``"cloglog"`` (grouped-time proportional hazards), ``"logit"`` or ``"poisson"``.
    offset
        Optional additional offset in the linear predictor.
    start
        Optional starting coefficients ``(p,)``.
    tol
        Relative deviance convergence tolerance.
    max_iter
        Maximum number of Fisher-scoring iterations.
    names
        Column names used in warnings and ``GLMFit.separated``.
    covariance
        Compute ``GLMFit.cov`` (one more weighted gram); ``False`` leaves it NaN, for
        refits that only need the scores and weights (restricted fits of score tests).

    Returns
    -------
    GLMFit

    Raises
    ------
    EstimationError
        No events, no non-events, or invalid counts.

    Warns
    -----
    NotIdentifiedWarning
        Collinear (aliased) or separated columns, reported as NaN.
    ConvergenceWarning
        The iteration limit was reached.
    """
    check_option("family", family, FAMILIES)
    X = as_matrix(X)
    y = np.asarray(events, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    _check_inputs(X, y, n, family)
    cnames = tuple(names) if names is not None else tuple(f"x{j}" for j in range(X.shape[1]))
    off = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=np.float64)

    sample = _set_aside(X, y, n, off, family, cnames)
    beta = _start(sample, family, start)
    r = _iterate(sample, family, beta, tol, max_iter)
    if start is not None and (
        not r.converged or not np.isfinite(r.ll) or np.any(np.abs(r.beta) > SEPARATION_BOUND)
    ):
        # a warm start at a near-separated estimate (weights underflow, the line search
        # stalls) can fail or settle where the default start does not: start afresh (a
        # genuine separation is then found from the default start as well)
        return fit_glm_cells(
            X, events, trials, family, offset=offset, tol=tol, max_iter=max_iter, names=names,
            covariance=covariance,
        )
    if not r.converged:
        warnings.warn(
            f"fit_glm_cells ({family}) did not converge in {r.n_iter} iterations; "
            "increase max_iter or check for separation.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return _finalise(X, y, n, off, family, sample, r, cnames, covariance)
