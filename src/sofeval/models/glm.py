"""Discrete-time hazard models fitted on collapsed cells.

A cell ``c`` is a distinct regressor pattern with a row ``X[c]`` of the design
matrix, ``events[c]`` (count of events) and ``trials[c]`` (person-weeks at
risk). The binomial likelihood (cloglog or logit link) of the person-week
panel depends on the data only through these counts, and so does the Poisson
likelihood of the piecewise-exponential model (``events ~ Poisson(trials *
exp(eta))``). Fitting on cells therefore reproduces the person-week GLM
exactly, at a fraction of the memory.

The numerics are pure functions on arrays returning frozen dataclasses:

* :func:`build_design` -- dummy-coded design matrix from a frame of cells;
* :func:`fit_glm_cells` -- Fisher scoring (IRLS) with step halving, aliasing
  and separation checks;
* :func:`fit_cox_panel` -- a continuous-time cross-check with lifelines;
* :func:`fit_hazard` -- the generic public entry point returning
  :class:`sofeval.models.results.HazardResults`.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.linalg import blas, cho_factor, cho_solve
from scipy.special import xlogy

from sofeval.errors import (
    ContractError,
    ConvergenceWarning,
    EstimationError,
    NotIdentifiedWarning,
    check_option,
)

Family = Literal["cloglog", "logit", "poisson"]
FAMILIES: tuple[Family, ...] = ("cloglog", "logit", "poisson")

#: Relative residual variance below which a column counts as collinear with the
#: columns before it (Gram-matrix Cholesky; ~ R's qr tolerance 1e-11 on X squared,
#: loosened to what a Gram matrix computed in float64 can resolve).
ALIAS_TOL = 1e-9
#: |coefficient| beyond which the parameter of a 0/1 column is taken as diverging
#: (a hazard ratio of e^25 is not an estimate, it is perfect prediction).
SEPARATION_BOUND = 25.0
_EPS = np.finfo(float).eps
_MAX_HALVING = 30
#: Iterations after which the deviance criterion alone declares convergence.
SLOW_ITER = 25


@dataclass(frozen=True)
class DesignMatrix:
    """A dense design matrix with column names.

    Attributes
    ----------
    X
        ``float64`` array of shape ``(n_cells, p)``.
    names
        Column names (``"Intercept"``, ``"jobcentre[Vejle]"``, numeric column names).
    """

    X: np.ndarray
    names: tuple[str, ...]


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
        Per-cell Fisher weights ``n mu'(eta)^2 / V(mu)`` (the Hessian is ``X' W X``).
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


# ----------------------------------------------------------------------------
# Design matrices
# ----------------------------------------------------------------------------


def build_design(
    frame: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    intercept: bool = True,
    reference: Mapping[str, object] | None = None,
) -> DesignMatrix:
    """Build a dummy-coded design matrix from a frame of cells.

    Parameters
    ----------
    frame
        One row per cell.
    categorical
        Columns turned into treatment-coded dummies named ``"col[level]"``; the
        reference level (dropped) is the first sorted level unless given in ``reference``.
    numeric
        Columns used as they are.
    intercept
        Prepend a column of ones named ``"Intercept"``.
    reference
        Optional reference level per categorical column.

    Returns
    -------
    DesignMatrix

    Raises
    ------
    ContractError
        If a column is missing, has missing values, or a reference level is absent.
    """
    reference = dict(reference or {})
    cols = list(categorical) + list(numeric)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ContractError(
            f"design: columns {missing} are not in the data (available: "
            f"{list(frame.columns)[:20]}); fix the model specification.",
            table="design",
            rule="missing_column",
        )
    n = len(frame)
    blocks: list[tuple[str, np.ndarray, list[object], int]] = []
    p = int(intercept)
    for col in categorical:
        codes, levels = pd.factorize(frame[col], sort=True)
        if (codes < 0).any():
            rows = np.flatnonzero(codes < 0)
            raise ContractError(
                f"design: column {col!r} has {rows.size} missing values (rows "
                f"{rows[:10].tolist()}); fill or drop them before fitting.",
                table="design",
                rule="missing_value",
            )
        lev = list(levels)
        ref = 0
        if col in reference:
            if reference[col] not in lev:
                raise ContractError(
                    f"design: reference level {reference[col]!r} of {col!r} is not among "
                    f"its levels {lev[:10]}.",
                    table="design",
                    rule="reference_level",
                )
            ref = lev.index(reference[col])
        blocks.append((col, codes, lev, ref))
        p += len(lev) - 1
    p += len(numeric)
    X = np.zeros((n, p), dtype=np.float64)
    names: list[str] = []
    j = 0
    if intercept:
        X[:, 0] = 1.0
        names.append("Intercept")
        j = 1
    rows_all = np.arange(n)
    for col, codes, lev, ref in blocks:
        # column index of each level within this block (-1 for the reference)
        pos = np.arange(len(lev)) - (np.arange(len(lev)) > ref)
        pos[ref] = -1
        cpos = pos[codes]
        sel = cpos >= 0
        X[rows_all[sel], j + cpos[sel]] = 1.0
        names.extend(f"{col}[{lv}]" for k, lv in enumerate(lev) if k != ref)
        j += len(lev) - 1
    for col in numeric:
        vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(vals)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ContractError(
                f"design: numeric column {col!r} has {rows.size} missing or non-numeric "
                f"values (rows {rows[:10].tolist()}); fix or drop them.",
                table="design",
                rule="missing_value",
            )
        X[:, j] = vals
        names.append(col)
        j += 1
    return DesignMatrix(X=X, names=tuple(names))


# ----------------------------------------------------------------------------
# Family helpers
# ----------------------------------------------------------------------------


def mean_functions(eta: np.ndarray, family: str) -> tuple[np.ndarray, ...]:
    """Return ``mu, dmu/deta, V(mu), log mu, log(1 - mu)`` for a linear predictor."""
    if family == "cloglog":
        e = np.exp(np.clip(eta, -700.0, 6.5))
        mu = np.clip(-np.expm1(-e), _EPS, 1 - _EPS)
        dmu = np.maximum(np.exp(np.clip(eta, -700.0, 6.5) - e), _EPS)
        var = mu * (1 - mu)
        log_mu = np.log(mu)
        log_1mmu = np.maximum(-e, np.log(_EPS))
    elif family == "logit":
        et = np.clip(eta, -36.0, 36.0)
        mu = np.clip(1.0 / (1.0 + np.exp(-et)), _EPS, 1 - _EPS)
        dmu = np.maximum(mu * (1 - mu), _EPS)
        var = mu * (1 - mu)
        log_mu = -np.logaddexp(0.0, -et)
        log_1mmu = -np.logaddexp(0.0, et)
    else:
        et = np.minimum(eta, 700.0)
        mu = np.maximum(np.exp(et), np.finfo(float).tiny)
        dmu = mu
        var = mu
        log_mu = et
        log_1mmu = np.zeros_like(mu)
    return mu, dmu, var, log_mu, log_1mmu


def _loglik(
    y: np.ndarray,
    n: np.ndarray,
    mu: np.ndarray,
    log_mu: np.ndarray,
    log_1mmu: np.ndarray,
    family: str,
) -> float:
    """Person-week log-likelihood (no combinatorial constants)."""
    if family == "poisson":
        return float(np.sum(y * log_mu - n * mu))
    return float(np.sum(y * log_mu + (n - y) * log_1mmu))


def _saturated_loglik(y: np.ndarray, n: np.ndarray, family: str) -> float:
    """Log-likelihood of the saturated cell model (cell means ``y / n``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(n > 0, y / np.where(n > 0, n, 1.0), 0.0)
    if family == "poisson":
        return float(np.sum(xlogy(y, r) - y))
    return float(np.sum(xlogy(y, r) + xlogy(n - y, 1.0 - r)))


#: Designs with at most this share of non-zero entries use a sparse Gram product.
SPARSE_DENSITY = 0.15


_SPARSE_CACHE: dict[int, tuple[weakref.ref[np.ndarray], sparse.csr_matrix | None]] = {}


def sparse_view(X: np.ndarray) -> sparse.csr_matrix | None:
    """CSR copy of a large, mostly-zero design (``None`` for small or dense ones).

    Fisher scoring, the bootstrap and randomisation inference compute many Gram matrices
    of the same design; the conversion is cached per array object (checked through a
    weak reference, so a new array never receives a stale copy).
    """
    if X.shape[0] * X.shape[1] <= 1_000_000:
        return None
    hit = _SPARSE_CACHE.get(id(X))
    if hit is not None and hit[0]() is X:
        return hit[1]
    xs = sparse.csr_matrix(X) if np.count_nonzero(X) <= SPARSE_DENSITY * X.size else None
    for key in [k for k, (ref, _) in _SPARSE_CACHE.items() if ref() is None]:
        del _SPARSE_CACHE[key]
    _SPARSE_CACHE[id(X)] = (weakref.ref(X), xs)
    return xs


def subset_matrix(
    X: np.ndarray, rows: np.ndarray | None = None, cols: np.ndarray | None = None
) -> np.ndarray:
    """``X[rows][:, cols]`` whose cached sparse copy is cut from ``X``'s (not rebuilt).

    Converting a large dense design to CSR scans every entry; the restricted refits of
    the bootstrap and the fits without separated cells use row and column subsets of one
    design, so their sparse copies are taken from the parent's cached one.
    """
    if rows is not None and rows.dtype == bool and rows.all():
        rows = None
    if cols is not None and cols.dtype == bool and cols.all():
        cols = None
    out = X
    if rows is not None:
        out = out[rows]
    if cols is not None:
        out = out[:, cols]
    if out is X:
        return X
    parent = _SPARSE_CACHE.get(id(X))
    if parent is not None and parent[0]() is X and parent[1] is not None:
        xs = parent[1]
        if rows is not None:
            xs = xs[rows]
        if cols is not None:
            xs = xs[:, cols]
        _SPARSE_CACHE[id(out)] = (weakref.ref(out), sparse.csr_matrix(xs))
    return out


def _dot(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X @ b``, through the cached sparse copy of a large mostly-zero design."""
    xs = sparse_view(X)
    return np.asarray(xs @ b) if xs is not None else X @ b


def _tdot(X: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``X.T @ u``, through the cached sparse copy of a large mostly-zero design."""
    xs = sparse_view(X)
    return np.asarray(xs.T @ u) if xs is not None else X.T @ u


def gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return ``X' diag(w) X``.

    Hazard designs on cells are mostly dummies (a handful of non-zeros per row), so a
    sparse product costs O(nnz) instead of O(n p^2); dense designs use a symmetric rank-k
    update (BLAS ``dsyrk``).
    """
    xs = sparse_view(X)
    if xs is not None:
        xw = xs.copy()
        xw.data *= np.repeat(w, np.diff(xs.indptr))
        return np.asarray((xs.T @ xw).toarray())
    xw = X * np.sqrt(w)[:, None]
    if xw.flags.f_contiguous:  # no copies: BLAS reads either layout as it is
        g = blas.dsyrk(1.0, xw, trans=1)
    else:
        g = blas.dsyrk(1.0, np.asfortranarray(xw.T))  # C (n x p) is F (p x n)
    g = np.triu(g)
    return np.asarray(g + np.triu(g, 1).T)


def aliased_columns(gram: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Flag columns linearly dependent on earlier columns (in column order, as R does).

    A Cholesky factorisation of the scaled Gram matrix ``D^-1/2 X'WX D^-1/2`` is
    built column by column; a column whose residual variance (share not explained
    by the kept earlier columns) is below ``tol`` is aliased and skipped.

    Parameters
    ----------
    gram
        ``X' W X`` of shape ``(p, p)``.
    tol
        Relative residual-variance tolerance.

    Returns
    -------
    numpy.ndarray
        Boolean mask of aliased columns.
    """
    p = gram.shape[0]
    d = np.diag(gram).copy()
    alias = ~(d > 0)
    s = np.where(alias, 1.0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)))
    g = gram * s[:, None] * s[None, :]
    L = np.zeros((p, p))
    kept: list[int] = []
    for j in range(p):
        if alias[j]:
            continue
        lj = L[j, kept]
        v = g[j, j] - lj @ lj
        if v < tol:
            alias[j] = True
            continue
        L[j, j] = np.sqrt(v)
        if j + 1 < p:
            L[j + 1 :, j] = (g[j + 1 :, j] - L[j + 1 :, kept] @ lj) / L[j, j]
        kept.append(j)
    return alias


def _support_separation(
    X: np.ndarray, y: np.ndarray, n: np.ndarray, family: str
) -> tuple[np.ndarray, np.ndarray]:
    """Flag indicator columns whose support has no events (-inf) or only events (+inf)."""
    # cells with n == 0 carry no information; as counts are 0 there they add nothing below
    xs = sparse_view(X)
    if xs is not None:  # indicator: every stored entry is 1 and some entry is 0
        not_one = np.bincount(xs.indices[xs.data != 1], minlength=X.shape[1]) > 0
        nnz = np.bincount(xs.indices, minlength=X.shape[1])
        is_ind = ~not_one & (nnz < X.shape[0])
    else:
        is_ind = np.all((X == 0) | (X == 1), axis=0) & (X.min(axis=0) == 0)
    ev = _tdot(X, y)  # for 0/1 columns: events in the support of the column
    tr = _tdot(X, n)
    neg = is_ind & (tr > 0) & (ev == 0)
    posv = is_ind & (tr > 0) & (ev == tr) & (family != "poisson")
    return neg, posv


# ----------------------------------------------------------------------------
# Fisher scoring
# ----------------------------------------------------------------------------


def _check_inputs(X: np.ndarray, y: np.ndarray, n: np.ndarray, family: str) -> None:
    if X.ndim != 2 or y.shape != (X.shape[0],) or n.shape != (X.shape[0],):
        raise EstimationError(
            f"fit_glm_cells: X must be (n, p) and events/trials (n,); got {X.shape}, "
            f"{y.shape}, {n.shape}."
        )
    for nm, a in (("X", X), ("events", y), ("trials", n)):
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


def fit_glm_cells(
    X: np.ndarray,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family = "cloglog",
    *,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    names: Sequence[str] | None = None,
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
        Design matrix ``(n_cells, p)``.
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
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(events, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    _check_inputs(X, y, n, family)
    p = X.shape[1]
    cnames = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    off = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=np.float64)

    # perfect prediction by indicator columns: set the column and its cells aside
    sep_neg, sep_pos = _support_separation(X, y, n, family)
    sep = sep_neg | sep_pos
    dropped_rows = (X[:, sep] != 0).any(axis=1) if sep.any() else np.zeros(len(y), bool)
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
    alias[~sep] = aliased_columns(gram(subset_matrix(Xa, cols=~sep) if sep.any() else Xa, na))
    collinear = alias & ~sep
    if collinear.any():
        warnings.warn(
            f"{int(collinear.sum())} column(s) are collinear with earlier columns and are "
            f"not identified (set to NaN): {[cnames[j] for j in np.flatnonzero(collinear)]}.",
            NotIdentifiedWarning,
            stacklevel=2,
        )
    keep = ~alias
    Xk = Xa if keep.all() else subset_matrix(Xa, cols=keep)

    # starting values
    if start is not None:
        beta = np.asarray(start, dtype=np.float64)[keep].copy()
        beta = np.where(np.isfinite(beta), beta, 0.0)
    else:
        if family == "poisson":
            r0 = (ya + 0.1) / np.maximum(na, _EPS)
            z0 = np.log(r0)
        else:
            m0 = (ya + 0.5) / (na + 1.0)
            z0 = np.log(-np.log1p(-m0)) if family == "cloglog" else np.log(m0 / (1 - m0))
        g0 = gram(Xk, na)
        beta = cho_solve(cho_factor(g0), _tdot(Xk, na * (z0 - oa)))

    def evaluate(b: np.ndarray) -> tuple[float, tuple[np.ndarray, ...], np.ndarray]:
        eta_ = _dot(Xk, b) + oa
        fn = mean_functions(eta_, family)
        return _loglik(ya, na, fn[0], fn[3], fn[4], family), fn, eta_

    ll_sat = _saturated_loglik(ya, na, family)
    ll, fn, eta = evaluate(beta)
    dev = 2.0 * (ll_sat - ll)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        mu, dmu, var = fn[0], fn[1], fn[2]
        u = (ya - na * mu) * dmu / var
        w = na * dmu * dmu / var
        grad = _tdot(Xk, u)
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
    if start is not None and (
        not converged or not np.isfinite(ll) or np.any(np.abs(beta) > SEPARATION_BOUND)
    ):
        # a warm start at a near-separated estimate (weights underflow, the line search
        # stalls) can fail or settle where the default start does not: start afresh (a
        # genuine separation is then found from the default start as well)
        return fit_glm_cells(
            X, events, trials, family, offset=offset, tol=tol, max_iter=max_iter, names=names
        )
    if not converged:
        warnings.warn(
            f"fit_glm_cells ({family}) did not converge in {it} iterations; "
            "increase max_iter or check for separation.",
            ConvergenceWarning,
            stacklevel=2,
        )

    # divergence not caught by the indicator check: huge coefficients
    # (indicator columns only: a numeric regressor on a small scale may have a large slope)
    diverging = np.abs(beta) > SEPARATION_BOUND
    if diverging.any():
        diverging &= np.all((Xk == 0) | (Xk == 1), axis=0)
        kidx = np.flatnonzero(keep)
        alias[kidx[diverging]] = True
        sep[kidx[diverging]] = True
    if sep.any():
        warnings.warn(
            "perfect prediction (separation): these parameters diverge to +-inf and are "
            f"reported as NaN: {[cnames[j] for j in np.flatnonzero(sep)]}; merge sparse "
            "categories or drop them.",
            NotIdentifiedWarning,
            stacklevel=2,
        )

    mu, dmu, var = fn[0], fn[1], fn[2]
    w = na * dmu * dmu / var
    params = np.full(p, np.nan)
    params[keep] = beta
    params[sep] = np.nan
    final = keep & ~sep
    sub = np.flatnonzero(final[keep])
    cov = np.full((p, p), np.nan)
    if sub.size:
        h = gram(Xk if sub.size == Xk.shape[1] else Xk[:, sub], w)
        try:
            cov[np.ix_(final, final)] = cho_solve(cho_factor(h), np.eye(sub.size))
        except np.linalg.LinAlgError:  # singular after divergence: pseudo-inverse
            cov[np.ix_(final, final)] = np.linalg.pinv(h)

    # per-cell outputs on all cells
    full_eta = np.empty_like(y)
    full_mu = np.empty_like(y)
    full_u = np.zeros_like(y)
    full_w = np.zeros_like(y)
    full_eta[active] = eta
    full_mu[active] = mu
    full_u[active] = (ya - na * mu) * dmu / var
    full_w[active] = w
    rest = ~active
    if rest.any():
        b0 = np.where(np.isfinite(params), params, 0.0)
        eta_r = X[rest] @ b0 + off[rest]
        fn_r = mean_functions(eta_r, family)
        full_eta[rest], full_mu[rest] = eta_r, fn_r[0]
        if dropped_rows.any():
            neg_rows = (X[:, sep_neg] != 0).any(axis=1) & rest
            pos_rows = (X[:, sep_pos] != 0).any(axis=1) & rest
            full_eta[neg_rows], full_mu[neg_rows] = -np.inf, 0.0
            full_eta[pos_rows], full_mu[pos_rows] = np.inf, 1.0
    return GLMFit(
        params=params,
        cov=cov,
        score_factor=full_u,
        weights=full_w,
        eta=full_eta,
        mu=full_mu,
        loglik=ll,
        deviance=dev,
        n_iter=it,
        converged=converged,
        aliased=alias,
        separated=tuple(cnames[j] for j in np.flatnonzero(sep)),
        family=family,
        n_trials=float(n.sum()),
        names=cnames,
    )
