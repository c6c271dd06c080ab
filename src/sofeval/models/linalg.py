"""Linear-algebra helpers of the engine: sparse views, products, Gram matrices, group sums.

Hazard designs on cells are mostly dummies (a handful of non-zeros per row). A large,
mostly-zero design gets one cached CSR copy (:func:`sparse_view`, keyed by the identity of
the array through :class:`sofeval.runtime.IdCache`), and every product of the engine
(:func:`dot`, :func:`tdot`, :func:`gram`, :func:`group_sum`) goes through it; small or dense
designs use BLAS. :func:`aliased_columns` finds columns collinear with earlier ones.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import blas

from sofeval.runtime import IdCache

__all__ = [
    "ALIAS_TOL",
    "SPARSE_DENSITY",
    "SPARSE_MIN_SIZE",
    "aliased_columns",
    "dot",
    "gram",
    "group_sum",
    "sparse_view",
    "subset_matrix",
    "tdot",
]

#: Relative residual variance below which a column counts as collinear with the
#: columns before it (Gram-matrix Cholesky; ~ R's qr tolerance 1e-11 on X squared,
#: loosened to what a Gram matrix computed in float64 can resolve).
ALIAS_TOL = 1e-9
#: Designs with at most this share of non-zero entries use sparse products.
SPARSE_DENSITY = 0.15
#: Designs with at most this many entries stay dense (BLAS is fast enough there).
SPARSE_MIN_SIZE = 1_000_000

_SPARSE: IdCache[np.ndarray, sparse.csr_matrix | None] = IdCache()


def _to_sparse(X: np.ndarray) -> sparse.csr_matrix | None:
    return sparse.csr_matrix(X) if np.count_nonzero(X) <= SPARSE_DENSITY * X.size else None


def sparse_view(X: np.ndarray) -> sparse.csr_matrix | None:
    """CSR copy of a large, mostly-zero design (``None`` for small or dense ones).

    Fisher scoring, the bootstrap and randomisation inference compute many Gram matrices
    of the same design; the conversion is cached per array object (through a weak
    reference, so a new array never receives a stale copy).

    Parameters
    ----------
    X
        Dense design ``(n, p)``.

    Returns
    -------
    scipy.sparse.csr_matrix or None
    """
    if X.shape[0] * X.shape[1] <= SPARSE_MIN_SIZE:
        return None
    return _SPARSE.get(X, lambda: _to_sparse(X))


def subset_matrix(
    X: np.ndarray, rows: np.ndarray | None = None, cols: np.ndarray | None = None
) -> np.ndarray:
    """``X[rows][:, cols]`` whose cached sparse copy is cut from ``X``'s (not rebuilt).

    Converting a large dense design to CSR scans every entry; the restricted refits of
    the bootstrap and the fits without separated cells use row and column subsets of one
    design, so their sparse copies are taken from the parent's.

    Parameters
    ----------
    X
        Dense design ``(n, p)``.
    rows, cols
        Boolean masks or integer indices (None: all).

    Returns
    -------
    numpy.ndarray
        ``X`` itself when nothing is cut away.
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
    xs = sparse_view(X)
    if xs is not None:
        if rows is not None:
            xs = xs[rows]
        if cols is not None:
            xs = xs[:, cols]
        cut = sparse.csr_matrix(xs)
        _SPARSE.get(out, lambda: cut)
    return out


def dot(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X @ b``, through the cached sparse copy of a large mostly-zero design.

    Parameters
    ----------
    X
        Dense design ``(n, p)``.
    b
        Vector ``(p,)`` or matrix ``(p, k)``.

    Returns
    -------
    numpy.ndarray
    """
    xs = sparse_view(X)
    return np.asarray(xs @ b) if xs is not None else np.asarray(X @ b)


def tdot(X: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``X.T @ u``, through the cached sparse copy of a large mostly-zero design.

    Parameters
    ----------
    X
        Dense design ``(n, p)``.
    u
        Vector ``(n,)`` or matrix ``(n, k)``.

    Returns
    -------
    numpy.ndarray
    """
    xs = sparse_view(X)
    return np.asarray(xs.T @ u) if xs is not None else np.asarray(X.T @ u)


def gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return ``X' diag(w) X``.

    A sparse product costs O(nnz) instead of O(n p^2) on a mostly-zero design; dense
    designs use a symmetric rank-k update (BLAS ``dsyrk``).

    Parameters
    ----------
    X
        Dense design ``(n, p)``.
    w
        Non-negative row weights ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``(p, p)``, symmetric.
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


def group_sum(
    values: np.ndarray | sparse.spmatrix,
    codes: np.ndarray,
    n_groups: int,
    *,
    weights: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    sparse_out: bool = False,
) -> np.ndarray | sparse.csr_matrix:
    """Grouped sums ``out[g] = sum_{r: codes[r] = g} weights[r] * values[rows[r]]``.

    Computed as one sparse product ``M @ values`` with the ``G x n`` indicator (or weight)
    matrix ``M[codes[r], rows[r]] = weights[r]``; the rows of ``values`` are summed in
    their order.

    Parameters
    ----------
    values
        Dense ``(n,)`` or ``(n, p)`` array or a sparse ``(n, p)`` matrix.
    codes
        Group code ``0..G-1`` of each selected row.
    n_groups
        Number of groups ``G``.
    weights
        Weight per selected row (default 1).
    rows
        Rows of ``values`` that ``codes`` and ``weights`` refer to (default all rows).
    sparse_out
        Return a CSR matrix for sparse ``values`` (default: a dense array).

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        ``(G,)`` or ``(G, p)``.
    """
    n = values.shape[0]
    cols = np.arange(n) if rows is None else np.asarray(rows)
    w = np.ones(cols.size) if weights is None else np.asarray(weights, dtype=np.float64)
    m = sparse.csr_matrix((w, (np.asarray(codes), cols)), shape=(n_groups, n))
    if sparse.issparse(values):
        out = sparse.csr_matrix(m @ values)
        return out if sparse_out else np.asarray(out.toarray())
    return np.asarray(m @ values)
