"""Linear-algebra helpers of the engine: sparse designs, products, Gram matrices, group sums.

Hazard designs on cells are mostly dummies (a handful of non-zeros per row). Every helper
takes a design as a dense array or a CSR matrix (:data:`Matrix`). Products run on one
*operand* per design (:func:`operand`): a large, mostly-zero design is multiplied in CSR
form (a dense one through one cached CSR copy, :func:`sparse_view`), a small or dense one
through BLAS (a CSR one through one cached dense copy), both caches keyed by the identity
of the design through :class:`sofeval.runtime.IdCache`. The rule depends only on the
entries, so a dense design and its CSR copy give the same numbers. Row and column subsets
(:func:`subset_matrix`) keep the form and the product path of their parent, and cut
their gram structure from the parent's.
:func:`aliased_columns` finds columns collinear with earlier ones.
"""

from __future__ import annotations

import weakref
from typing import TypeAlias

import numpy as np
from scipy import sparse
from scipy.linalg import blas, lapack

from sofeval.runtime import IdCache

__all__ = [
    "ALIAS_TOL",
    "PAIR_BUDGET",
    "SPARSE_DENSITY",
    "SPARSE_MIN_SIZE",
    "Matrix",
    "aliased_columns",
    "as_matrix",
    "binary_columns",
    "column",
    "dot",
    "gram",
    "group_sum",
    "operand",
    "rows_dot",
    "rows_touching",
    "sparse_view",
    "subset_matrix",
    "tdot",
    "to_dense",
]

#: A design matrix: dense ``(n, p)`` float64 array or CSR matrix.
Matrix: TypeAlias = np.ndarray | sparse.csr_matrix

#: Relative residual variance below which a column counts as collinear with the
#: columns before it (Gram-matrix Cholesky; ~ R's qr tolerance 1e-11 on X squared,
#: loosened to what a Gram matrix computed in float64 can resolve).
ALIAS_TOL = 1e-9
#: Designs with at most this share of non-zero entries use sparse products.
SPARSE_DENSITY = 0.15
#: Designs with at most this many entries stay dense (BLAS is fast enough there).
SPARSE_MIN_SIZE = 1_000_000

_ROW_BLOCK = 20_000  # rows made dense at once by rows_dot
#: A CSR design's gram lists its pairs of non-zeros per row (see ``gram``) while they
#: number at most this many per stored entry (about 16 non-zeros per row); a design with
#: denser rows uses scipy's sparse product.
PAIR_BUDGET = 8


class _GramPlan:
    """What every weighted gram of one CSR design shares: its pairs of non-zeros.

    ``X' W X`` is a sum over rows of products of pairs of a row's non-zeros. A hazard
    design has a few non-zeros per row (about one per dummy block), so the pairs are
    listed once per design, as a CSR matrix ``P`` with one row per entry ``(i, j)``, ``i
    <= j``, of the upper triangle and one column per design row: ``P[(i, j), r] = x_ri
    x_rj``; each gram is then the one product ``P w`` (a gather in the order of the rows,
    as scipy's sparse product sums). Two kinds of entries need no pairs: those of a unit
    column (all ones, the intercept), ``(X' W X)_uj = (X' w)_j``, and the diagonal of a
    0/1 column, ``(X' W X)_jj = (X' w)_j``; a column of other values keeps its diagonal
    pairs. A design whose rows hold many non-zeros (more than :data:`PAIR_BUDGET` pairs
    per non-zero) keeps scipy's sparse product ``X' (W X)`` on its cached CSC structure.
    On a 0/1 design both give scipy's sums bit for bit. The plan of a row or column
    subset of a design is cut from the design's plan (:meth:`cut`), not built again.
    """

    def __init__(
        self, binary: np.ndarray, unit: np.ndarray,
        op: sparse.csr_matrix | sparse.csc_matrix,
    ) -> None:
        self.binary = binary  # 0/1 columns: diagonal from X'w
        self.unit = unit  # all-ones columns: row and column from X'w
        self.op = op  # P (CSR, pairs x rows) or the CSC design (scipy's product)

    @classmethod
    def build(cls, xs: sparse.csr_matrix) -> _GramPlan:
        """The plan of the CSR design ``xs``, listing its pairs of non-zeros."""
        n, p = xs.shape
        if not xs.has_canonical_format:
            xs = sparse.csr_matrix(xs, copy=True)
            xs.sum_duplicates()
        not_one = xs.data != 1
        binary = np.ones(p, dtype=bool)
        if not_one.any():
            binary = np.bincount(xs.indices[not_one], minlength=p) == 0
        unit = binary & (np.bincount(xs.indices, minlength=p) == n)
        idx = np.int64 if max(xs.nnz, n, p * p) >= np.iinfo(np.int32).max else np.int32
        # the entries of the other columns (a canonical row holds each unit column once);
        # an entry pairs with the later ones of its row, and with itself unless it is 0/1
        keep = ~unit[xs.indices]
        ind = xs.indices[keep].astype(idx)
        val = xs.data[keep]
        n_unit = int(unit.sum())
        ends = np.asarray(xs.indptr - n_unit * np.arange(n + 1), dtype=idx)
        first_partner = np.arange(ind.size, dtype=idx) + binary[ind].astype(idx)
        cnt = np.repeat(ends[1:], np.diff(ends)) - first_partner
        before = np.zeros(ind.size + 1, dtype=np.int64)  # pairs of the entries before
        np.cumsum(cnt, out=before[1:])
        n_pairs = int(before[-1])
        if n_pairs > PAIR_BUDGET * max(xs.nnz, 1) or n_pairs >= np.iinfo(idx).max:
            return cls(binary, unit, sparse.csc_matrix(xs.tocsc()))  # scipy's product
        before = before.astype(idx)
        second = np.arange(n_pairs, dtype=idx) - np.repeat(before[:-1] - first_partner, cnt)
        lin = np.repeat(ind * idx(p), cnt) + ind[second]  # i <= j: sorted indices
        prod = np.ones(n_pairs) if binary.all() else np.repeat(val, cnt) * val[second]
        # rows of P' in row order; the CSC form of P' is P in CSR, each pair's rows ascending
        pt = sparse.csr_matrix((prod, lin, before[ends]), shape=(n, p * p))
        c = pt.tocsc()
        return cls(binary, unit, sparse.csr_matrix((c.data, c.indices, c.indptr),
                                                   shape=(p * p, n)))

    def cut(self, rows: np.ndarray | None, cols: np.ndarray | None,
            nnz: int) -> _GramPlan | None:
        """The plan of the subset ``X[rows][:, cols]`` (``nnz`` non-zeros) cut from this one.

        The pairs of the subset are the pairs of the kept columns (rows of ``P``) in the
        kept design rows (columns of ``P``), in the same order, so its grams are the
        sums of :meth:`build` on the subset bit for bit: a column that only becomes
        all-ones or 0/1 in the subset keeps pairs whose products are its entries (and
        ones), the same numbers as ``X' w``. ``None`` when the subset needs its own
        plan: this one uses scipy's product, the indices are not ascending, or the
        subset holds more pairs than :data:`PAIR_BUDGET` allows (where :meth:`build`
        might choose scipy's product).

        Parameters
        ----------
        rows, cols
            Boolean masks or ascending integer indices of the kept rows and columns
            (None: all).
        nnz
            Number of non-zeros of the subset.

        Returns
        -------
        _GramPlan or None
        """
        op = self.op
        if not isinstance(op, sparse.csr_matrix):
            return None
        if any(ix is not None and ix.dtype != bool and np.any(np.diff(ix) <= 0)
               for ix in (rows, cols)):
            return None
        binary, unit = self.binary, self.unit
        if cols is not None:
            p = binary.size
            keep = np.flatnonzero(cols) if cols.dtype == bool else np.asarray(cols)
            op = op[(keep[:, None] * p + keep[None, :]).ravel()]  # pair (i, j): i q + j
            binary, unit = binary[keep], unit[keep]
        if rows is not None:
            op = op[:, rows]
        if op.nnz > PAIR_BUDGET * max(nnz, 1):
            return None
        return _GramPlan(binary, unit, sparse.csr_matrix(op))


    def gram(self, xs: sparse.csr_matrix, w: np.ndarray) -> np.ndarray:
        """``X' diag(w) X`` (``(p, p)``, symmetric) of the design ``xs`` of the plan.

        The plan keeps no reference to its design (the cache of plans holds its key
        weakly).
        """
        op = self.op
        if isinstance(op, sparse.csc_matrix):
            xwc = sparse.csc_matrix((op.data * w[op.indices], op.indices, op.indptr),
                                    shape=op.shape)
            return np.asarray((xs.T @ xwc).toarray())
        p = xs.shape[1]
        upper = np.asarray(op @ w).reshape(p, p)
        s = np.asarray(xs.T @ w)  # sum_r x_rj w_r in the order of the rows
        d = np.flatnonzero(self.binary)
        upper[d, d] = s[d]
        u = np.flatnonzero(self.unit)
        upper[u, :] = s
        upper[:, u] = s[:, None]
        upper = np.triu(upper)
        return np.asarray(upper + np.triu(upper, 1).T)


_PLANS: IdCache[sparse.csr_matrix, _GramPlan] = IdCache()  # pairs of non-zeros for gram
_Recipe: TypeAlias = tuple[
    "weakref.ref[sparse.csr_matrix]", np.ndarray | None, np.ndarray | None
]
# a CSR subset made by subset_matrix: its parent (weakly), rows and columns
_CUTS: IdCache[sparse.csr_matrix, _Recipe | None] = IdCache()
_SPARSE: IdCache[np.ndarray, sparse.csr_matrix | None] = IdCache()
# dense copy of a small or dense CSR design; None: the CSR design is its own operand
_DENSE: IdCache[sparse.csr_matrix, np.ndarray | None] = IdCache()


def _note_subset(
    sub: sparse.csr_matrix, parent: sparse.csr_matrix,
    rows: np.ndarray | None, cols: np.ndarray | None,
) -> None:
    """Remember that ``sub`` is ``parent[rows][:, cols]`` (its gram plan is cut, not built)."""
    copies = tuple(None if ix is None else np.array(ix) for ix in (rows, cols))
    _CUTS.get(sub, lambda: (weakref.ref(parent), copies[0], copies[1]))


def _plan(xs: sparse.csr_matrix) -> _GramPlan:
    """The gram plan of a CSR operand: cut from its parent's for a subset, else built."""
    recipe = _CUTS.get(xs, lambda: None)
    parent = None if recipe is None else recipe[0]()
    if recipe is not None and parent is not None:
        cut = _PLANS.get(parent, lambda: _plan(parent)).cut(recipe[1], recipe[2], xs.nnz)
        if cut is not None:
            return cut
    return _GramPlan.build(xs)


def _to_sparse(X: np.ndarray) -> sparse.csr_matrix | None:
    return sparse.csr_matrix(X) if np.count_nonzero(X) <= SPARSE_DENSITY * X.size else None


def _to_dense(X: sparse.csr_matrix) -> np.ndarray | None:
    size = X.shape[0] * X.shape[1]
    if size <= SPARSE_MIN_SIZE or X.nnz > SPARSE_DENSITY * size:
        return np.asarray(X.toarray())
    return None


def as_matrix(X: object) -> Matrix:
    """A design as the engine takes it: a float64 array, or a canonical float64 CSR matrix.

    A CSR matrix that is already canonical (sorted indices, no duplicates, no stored zeros)
    and float64 is returned as it is (its cached operand is kept); any other sparse input
    is converted once. Everything else goes through :func:`numpy.asarray`.

    Parameters
    ----------
    X
        Array-like or scipy sparse matrix ``(n, p)``.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
    """
    if not sparse.issparse(X):
        return np.asarray(X, dtype=np.float64)
    xs = X if isinstance(X, sparse.csr_matrix) else sparse.csr_matrix(X)
    if (
        xs.dtype == np.float64
        and xs.has_canonical_format
        and bool(np.all(xs.data != 0))
    ):
        return xs
    out = sparse.csr_matrix(xs, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    return out


def sparse_view(X: Matrix) -> sparse.csr_matrix | None:
    """The CSR operand of a large, mostly-zero design (``None`` for small or dense ones).

    Fisher scoring, the bootstrap and randomisation inference compute many Gram matrices
    of the same design; the conversion of a dense design is cached per array object
    (through a weak reference, so a new array never receives a stale copy). A CSR design
    that qualifies is its own view.

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.

    Returns
    -------
    scipy.sparse.csr_matrix or None
    """
    op = operand(X)
    return op if sparse.issparse(op) else None


def operand(X: Matrix) -> np.ndarray | sparse.csr_matrix:
    """What the products of a design run on: CSR when large and mostly zero, dense otherwise.

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        ``X`` itself, its cached CSR copy (dense ``X``) or its cached dense copy (CSR ``X``
        with at most :data:`SPARSE_MIN_SIZE` entries or more than :data:`SPARSE_DENSITY`
        non-zeros).
    """
    if sparse.issparse(X):
        dense = _DENSE.get(X, lambda: _to_dense(X))
        return X if dense is None else dense
    if X.shape[0] * X.shape[1] <= SPARSE_MIN_SIZE:
        return X
    xs = _SPARSE.get(X, lambda: _to_sparse(X))
    return X if xs is None else xs


def to_dense(X: Matrix) -> np.ndarray:
    """A dense array of the design (``X`` itself when it is dense).

    Parameters
    ----------
    X
        Design, dense or CSR.

    Returns
    -------
    numpy.ndarray
    """
    if not isinstance(X, np.ndarray):
        op = operand(X)
        return op if isinstance(op, np.ndarray) else np.asarray(X.toarray())
    return np.asarray(X)


def _as_index(idx: np.ndarray | None) -> np.ndarray | None:
    if idx is not None and idx.dtype == bool and idx.all():
        return None
    return idx


def subset_matrix(
    X: Matrix, rows: np.ndarray | None = None, cols: np.ndarray | None = None
) -> Matrix:
    """``X[rows][:, cols]`` in the form of ``X``, products on the path of ``X``.

    Converting a large dense design to CSR scans every entry; the restricted refits of
    the bootstrap and the fits without separated cells use row and column subsets of one
    design, so the sparse copy of a dense subset is cut from the parent's (not rebuilt),
    and the subset of a CSR design multiplied in CSR form is multiplied in CSR form too;
    the subset's gram structure (pairs of non-zeros) is cut from the parent's as well.

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.
    rows, cols
        Boolean masks or integer indices (None: all).

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        ``X`` itself when nothing is cut away.
    """
    rows, cols = _as_index(rows), _as_index(cols)
    if rows is None and cols is None:
        return X
    if sparse.issparse(X):
        out_s = X if rows is None else X[rows]
        out_s = sparse.csr_matrix(out_s if cols is None else out_s[:, cols])
        if sparse.issparse(operand(X)) and out_s.shape[0] * out_s.shape[1] > SPARSE_MIN_SIZE:
            _DENSE.get(out_s, lambda: None)
            _note_subset(out_s, X, rows, cols)
        return out_s
    out = X
    if rows is not None:
        out = out[rows]
    if cols is not None:
        out = out[:, cols]
    parent = sparse_view(X)
    if parent is not None:
        xs = parent if rows is None else parent[rows]
        if cols is not None:
            xs = xs[:, cols]
        cut = sparse.csr_matrix(xs)
        _SPARSE.get(out, lambda: cut)
        _note_subset(cut, parent, rows, cols)
    return np.asarray(out)


def column(X: Matrix, j: int) -> np.ndarray:
    """Column ``j`` of a design as a dense vector.

    Parameters
    ----------
    X
        Design, dense or CSR.
    j
        Column index.

    Returns
    -------
    numpy.ndarray
        ``(n,)``.
    """
    if not isinstance(X, np.ndarray):
        return np.asarray(X[:, [j]].toarray()).ravel()
    return np.asarray(X[:, j])


def rows_touching(X: Matrix, cols: np.ndarray) -> np.ndarray:
    """Rows with a non-zero entry in any of the columns ``cols`` (``(X[:, cols] != 0).any(1)``).

    Parameters
    ----------
    X
        Design, dense or CSR (canonical: no stored zeros, see :func:`as_matrix`).
    cols
        Boolean mask or integer indices of columns.

    Returns
    -------
    numpy.ndarray
        Boolean ``(n,)``.
    """
    if sparse.issparse(X):
        sub = sparse.csr_matrix(X[:, cols])
        return np.asarray(np.diff(sub.indptr) > 0)
    return np.asarray((X[:, cols] != 0).any(axis=1))


def binary_columns(X: Matrix) -> np.ndarray:
    """Columns whose entries are all 0 or 1.

    Parameters
    ----------
    X
        Design, dense or CSR.

    Returns
    -------
    numpy.ndarray
        Boolean ``(p,)``.
    """
    if not isinstance(X, np.ndarray):
        return np.asarray(np.bincount(X.indices[X.data != 1], minlength=X.shape[1]) == 0)
    return np.asarray(np.all((X == 0) | (X == 1), axis=0))


def rows_dot(X: Matrix, rows: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X[rows] @ b`` as a dense matrix-vector product, whatever the form of ``X``.

    Meant for a few rows (the cells a fit sets aside): the rows of a CSR design are made
    dense in blocks of 20,000, so the numbers equal those of a dense design.

    Parameters
    ----------
    X
        Design, dense or CSR.
    rows
        Boolean mask or integer indices.
    b
        Coefficients ``(p,)``.

    Returns
    -------
    numpy.ndarray
    """
    if isinstance(X, np.ndarray):
        return np.asarray(X[rows] @ b)
    idx = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows)
    parts = [np.asarray(X[idx[i : i + _ROW_BLOCK]].toarray() @ b)
             for i in range(0, idx.size, _ROW_BLOCK)]
    return np.concatenate(parts) if parts else np.zeros(0)


def dot(X: Matrix, b: np.ndarray) -> np.ndarray:
    """``X @ b`` on the operand of the design (:func:`operand`).

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.
    b
        Vector ``(p,)`` or matrix ``(p, k)``.

    Returns
    -------
    numpy.ndarray
    """
    return np.asarray(operand(X) @ b)


def tdot(X: Matrix, u: np.ndarray) -> np.ndarray:
    """``X.T @ u`` on the operand of the design (:func:`operand`).

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.
    u
        Vector ``(n,)`` or matrix ``(n, k)``.

    Returns
    -------
    numpy.ndarray
    """
    return np.asarray(operand(X).T @ u)


def gram(X: Matrix, w: np.ndarray) -> np.ndarray:
    """Return ``X' diag(w) X``.

    A mostly-zero design costs one sparse product with its pairs of non-zeros per row,
    listed once per design (O(pairs) instead of O(n p^2)); dense designs use a symmetric
    rank-k update (BLAS ``dsyrk``).

    Parameters
    ----------
    X
        Design ``(n, p)``, dense or CSR.
    w
        Non-negative row weights ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``(p, p)``, symmetric.
    """
    xs = operand(X)
    if not isinstance(xs, np.ndarray):
        plan = _PLANS.get(xs, lambda: _plan(xs))
        return plan.gram(xs, np.asarray(w, dtype=np.float64))
    xw = xs * np.sqrt(w)[:, None]
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

    A design without aliased columns (the rule) is recognised by one LAPACK Cholesky
    factorisation whose pivots (the same residual variances up to rounding, ~1e-13)
    all exceed ``2 tol``; any other matrix is factorised column by column.

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
    if not alias.any() and _clearly_full_rank(g, tol):
        return alias
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


def _clearly_full_rank(g: np.ndarray, tol: float) -> bool:
    """Whether every Cholesky pivot of ``g`` (squared) is at least ``2 tol``."""
    factor, info = lapack.dpotrf(g, lower=1, clean=0)
    if info != 0:
        return False
    piv = np.diag(factor)
    return bool(np.all(piv * piv >= 2.0 * tol))


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
