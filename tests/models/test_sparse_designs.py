"""CSR designs end to end: the sparse path gives the dense path's fit, covariance and tests.

The engine multiplies a large mostly-zero design in CSR form and a small one through BLAS
(:func:`sofeval.models.operand`). Here a small design is pushed through either path by
moving the thresholds (:data:`sofeval.models.SPARSE_MIN_SIZE`,
:data:`sofeval.models.SPARSE_DENSITY`), and a CSR design is compared with its dense twin.
"""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from sofeval.errors import NotIdentifiedWarning
from sofeval.models import (
    as_matrix,
    binary_columns,
    build_design,
    build_sparse_design,
    check_separation,
    cluster_meat,
    cluster_scores,
    column,
    fit_glm_cells,
    gram,
    linalg,
    operand,
    projected_scores,
    restricted_scores,
    restricted_start,
    rows_dot,
    rows_touching,
    subset_matrix,
    to_dense,
    vcov,
    wald_components,
    wild_joint_test,
    wild_score_bootstrap,
)

#: Sparse and dense products sum the same terms in another order: the fits (converged to
#: a 1e-10 deviance criterion from the same start) agree to far below this.
PATH_TOL = 1e-10
B = 199
SEED = 7


@pytest.fixture()
def force_sparse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CSR design (and dense design's CSR copy) is multiplied in CSR form."""
    monkeypatch.setattr(linalg, "SPARSE_MIN_SIZE", 0)
    monkeypatch.setattr(linalg, "SPARSE_DENSITY", 1.0)


def cells(seed: int = 3):
    """Cells with clusters, a treatment, two factors, an event-free level and an alias."""
    rng = np.random.default_rng(seed)
    n = 1500
    frame = pd.DataFrame({
        "a": rng.integers(0, 8, n),
        "b": rng.integers(0, 5, n),
        "g": rng.integers(0, 14, n),
    })
    frame["D"] = ((frame["g"] < 7) & (rng.uniform(size=n) < 0.6)).astype(float)
    frame["D_copy"] = frame["D"]  # collinear with D: aliased
    eta = -2.0 + 0.15 * frame["a"] - 0.1 * frame["b"] + 0.3 * frame["D"]
    trials = rng.poisson(20, n) + 1.0
    events = rng.binomial(trials.astype(int), 1 - np.exp(-np.exp(eta))).astype(float)
    events[frame["a"].to_numpy() == 7] = 0.0  # level a=7 has no events: separated
    spec = {"categorical": ["a", "b"], "numeric": ["D", "D_copy"]}
    dense = build_design(frame, **spec)
    csr = build_sparse_design(frame, **spec)
    return dense, csr, events, trials, frame["g"].to_numpy()


def fit_quietly(X, events, trials, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        return fit_glm_cells(X, events, trials, "cloglog", **kw)


def test_sparse_builder_equals_dense_builder():
    dense, csr, *_ = cells()
    assert csr.names == dense.names
    np.testing.assert_array_equal(csr.X.toarray(), dense.X)
    assert as_matrix(csr.X) is csr.X  # canonical float64 CSR is taken as it is


def test_as_matrix_canonicalises_sparse_input():
    coo = sparse.coo_matrix((np.array([1, 0, 2, 3]), (np.array([0, 0, 1, 1]),
                                                         np.array([1, 0, 0, 0]))), shape=(2, 2))
    out = as_matrix(coo)
    assert sparse.issparse(out) and out.dtype == np.float64 and out.has_canonical_format
    np.testing.assert_array_equal(out.toarray(), [[0.0, 1.0], [5.0, 0.0]])
    assert out.nnz == 2  # the stored zero is gone


def test_helpers_agree_on_both_forms(force_sparse):
    dense, csr, events, trials, _ = cells()
    X, S = dense.X, csr.X
    assert sparse.issparse(operand(S)) and sparse.issparse(operand(X))
    sel = np.zeros(X.shape[1], bool)
    sel[[1, 4]] = True
    np.testing.assert_array_equal(rows_touching(S, sel), rows_touching(X, sel))
    np.testing.assert_array_equal(binary_columns(S), binary_columns(X))
    np.testing.assert_array_equal(column(S, 3), X[:, 3])
    rows = np.arange(X.shape[0]) % 3 == 0
    b = np.linspace(-1, 1, X.shape[1])
    np.testing.assert_allclose(rows_dot(S, rows, b), X[rows] @ b, rtol=PATH_TOL)
    sub = subset_matrix(S, rows=rows, cols=~sel)
    assert sparse.issparse(sub) and sparse.issparse(operand(sub))
    np.testing.assert_array_equal(to_dense(sub), X[rows][:, ~sel])
    np.testing.assert_array_equal(gram(S, trials), gram(X, trials))  # same CSR operand
    for a, c in zip(check_separation(S, events, trials, "cloglog"),
                    check_separation(X, events, trials, "cloglog"), strict=True):
        np.testing.assert_array_equal(a, c)


def test_small_csr_design_is_multiplied_densely():
    _, csr, *_ = cells()
    op = operand(csr.X)
    assert isinstance(op, np.ndarray) and operand(csr.X) is op  # one cached dense copy


def test_csr_fit_equals_dense_fit_on_either_path(force_sparse, monkeypatch):
    dense, csr, events, trials, g = cells()
    sp = fit_quietly(csr.X, events, trials, names=csr.names)
    monkeypatch.setattr(linalg, "SPARSE_MIN_SIZE", 10**12)  # dense input: BLAS path
    de = fit_quietly(dense.X, events, trials, names=dense.names)
    assert sp.separated == de.separated == ("a[7]",)
    np.testing.assert_array_equal(sp.aliased, de.aliased)
    np.testing.assert_allclose(sp.params, de.params, rtol=PATH_TOL, atol=PATH_TOL)
    np.testing.assert_allclose(sp.cov, de.cov, rtol=PATH_TOL, atol=PATH_TOL)
    np.testing.assert_allclose(sp.mu, de.mu, rtol=PATH_TOL, atol=PATH_TOL)
    np.testing.assert_allclose(sp.loglik, de.loglik, rtol=PATH_TOL)
    v_sp = vcov(sp, csr.X, method="cluster", clusters=g)
    v_de = vcov(de, dense.X, method="cluster", clusters=g)
    np.testing.assert_allclose(v_sp, v_de, rtol=PATH_TOL, atol=PATH_TOL)


def test_csr_and_dense_inputs_give_identical_fits(force_sparse):
    dense, csr, events, trials, g = cells()
    sp = fit_quietly(csr.X, events, trials)
    de = fit_quietly(dense.X, events, trials)  # its cached CSR copy: the same products
    np.testing.assert_array_equal(sp.params, de.params)
    np.testing.assert_array_equal(vcov(sp, csr.X, method="cluster", clusters=g),
                                  vcov(de, dense.X, method="cluster", clusters=g))


@pytest.mark.parametrize("statistic", ["score", "wald"])
def test_wild_bootstrap_equal_on_both_paths(force_sparse, monkeypatch, statistic):
    dense, csr, events, trials, g = cells()
    k = dense.names.index("D")
    kw = {"B": B, "seed": SEED, "statistic": statistic, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotIdentifiedWarning)
        rs_sp = restricted_scores(csr.X, events, trials, "cloglog", g, k)
        sp = wild_score_bootstrap(csr.X, events, trials, "cloglog", g, k, **kw)
        monkeypatch.setattr(linalg, "SPARSE_MIN_SIZE", 10**12)
        rs_de = restricted_scores(dense.X, events, trials, "cloglog", g, k)
        de = wild_score_bootstrap(dense.X, events, trials, "cloglog", g, k, **kw)
    assert sparse.issparse(rs_sp.X) and isinstance(rs_de.X, np.ndarray)
    np.testing.assert_allclose(rs_sp.scores, rs_de.scores, rtol=PATH_TOL, atol=PATH_TOL)
    for a, c in zip(wald_components(rs_sp), wald_components(rs_de), strict=True):
        np.testing.assert_allclose(a, c, rtol=PATH_TOL, atol=PATH_TOL)
    np.testing.assert_allclose(sp.statistic, de.statistic, rtol=PATH_TOL)
    np.testing.assert_allclose(sp.draws, de.draws, rtol=PATH_TOL, atol=PATH_TOL)
    assert sp.p_value == de.p_value


def test_wild_joint_test_equal_on_both_paths(force_sparse, monkeypatch):
    dense, csr, events, trials, g = cells()
    test = [dense.names.index(c) for c in ("b[1]", "b[2]", "b[3]")]
    sp = wild_joint_test(csr.X, events, trials, "cloglog", g, test, B=B, seed=SEED,
                         progress=False)
    monkeypatch.setattr(linalg, "SPARSE_MIN_SIZE", 10**12)
    de = wild_joint_test(dense.X, events, trials, "cloglog", g, test, B=B, seed=SEED,
                         progress=False)
    assert sp.tested == de.tested and sp.df == de.df == 3
    np.testing.assert_allclose(sp.statistic, de.statistic, rtol=PATH_TOL)
    np.testing.assert_allclose(sp.draws, de.draws, rtol=PATH_TOL)
    assert sp.p_wild == de.p_wild


def test_sparse_gram_is_the_weighted_sparse_product(force_sparse):
    dense, csr, _, trials, _ = cells()
    S = csr.X
    xw = S.copy()
    xw.data *= np.repeat(trials, np.diff(S.indptr))
    ref = (S.T @ xw).toarray()
    np.testing.assert_array_equal(gram(S, trials), ref)  # the same sums, bit for bit
    np.testing.assert_array_equal(gram(S, trials), gram(S, trials))  # cached structure
    np.testing.assert_allclose(gram(S, trials), (dense.X * trials[:, None]).T @ dense.X,
                               rtol=PATH_TOL)


def _scipy_gram(S, w):
    """``X' W X`` as scipy's sparse product sums it (the reference of the engine's gram)."""
    xw = S.copy()
    xw.data *= np.repeat(w, np.diff(S.indptr))
    return (S.T @ xw).toarray()


@pytest.mark.parametrize("dense_rows", [False, True])
def test_sparse_gram_pairs_on_any_csr_design(force_sparse, monkeypatch, dense_rows):
    """The pairs of non-zeros give X' W X for numeric, 0/1, unit and non-canonical columns."""
    if dense_rows:  # more pairs than the budget allows: scipy's product on the CSC copy
        monkeypatch.setattr(linalg, "PAIR_BUDGET", 0)
    rng = np.random.default_rng(5)
    n = 400
    block = np.eye(6)[rng.integers(0, 6, n)][:, 1:]  # one-hot, reference level dropped
    numeric = np.where(rng.uniform(size=n) < 0.5, rng.normal(size=n), 0.0)
    dense = np.column_stack([block[:, :2], np.ones(n), numeric, block[:, 2:], np.ones(n)])
    w = rng.gamma(2.0, size=n)
    S = sparse.csr_matrix(dense)
    ref = (dense * w[:, None]).T @ dense
    np.testing.assert_allclose(gram(S, w), ref, rtol=PATH_TOL, atol=PATH_TOL)
    binary = np.r_[0, 1, 2, 4, 5, 6, 7]  # 0/1 and unit columns: scipy's sums exactly
    np.testing.assert_array_equal(gram(S, w)[np.ix_(binary, binary)],
                                  _scipy_gram(S, w)[np.ix_(binary, binary)])
    g = gram(S, w)
    np.testing.assert_array_equal(g, g.T)
    # the same entries stored out of order and split in two: the same matrix
    parts = [(S.indices[a:b][::-1], S.data[a:b][::-1] / 2, S.indices[a:b], S.data[a:b] / 2)
             for a, b in zip(S.indptr[:-1], S.indptr[1:], strict=True)]
    messy = sparse.csr_matrix(
        (np.concatenate([np.r_[d1, d2] for _, d1, _, d2 in parts]),
         np.concatenate([np.r_[i1, i2] for i1, _, i2, _ in parts]), 2 * S.indptr),
        shape=S.shape,
    )
    assert not messy.has_canonical_format
    np.testing.assert_allclose(gram(messy, w), ref, rtol=PATH_TOL, atol=PATH_TOL)
    alive = weakref.ref(messy)  # the cached pairs do not keep their design alive
    del messy
    gc.collect()
    assert alive() is None


@pytest.mark.parametrize("dense_parent", [False, True])
def test_gram_of_a_subset_equals_its_own_pairs_bit_for_bit(force_sparse, dense_parent):
    """A subset's gram (pairs cut from the parent's) sums as a fresh copy's own pairs.

    Row and column subsets, boolean masks and ascending indices, a subset of a subset;
    the subset turns a dummy into a unit column and a numeric column into a 0/1 one.
    """
    rng = np.random.default_rng(11)
    n = 600
    block = np.eye(5)[rng.integers(0, 5, n)][:, 1:]
    numeric = np.where(rng.uniform(size=n) < 0.5, rng.normal(size=n), 0.0)
    first = block[:, 0] == 1
    numeric[first] = rng.integers(0, 2, first.sum())  # 0/1 on the rows of the first level
    dense = np.column_stack([np.ones(n), block, numeric, block[:, 1] * numeric])
    w = rng.gamma(2.0, size=n)
    parent = dense if dense_parent else sparse.csr_matrix(dense)
    gram(parent, w)  # the parent's pairs exist before its subsets are cut
    subsets = [
        (first, None),  # column 1 all ones, column 5 0/1 in the subset
        (np.flatnonzero(~first), None),
        (None, np.array([True, False, True, True, False, True, True])),
        (None, np.array([0, 2, 5])),
        (rng.uniform(size=n) < 0.7, np.array([0, 1, 3, 5, 6])),
    ]
    for rows, cols in subsets:
        sub = subset_matrix(parent, rows=rows, cols=cols)
        own = sparse.csr_matrix(to_dense(sub))  # a new design: its own pairs
        np.testing.assert_array_equal(gram(sub, w if rows is None else w[rows]),
                                      gram(own, w if rows is None else w[rows]))
    sub = subset_matrix(parent, cols=np.array([0, 1, 2, 5, 6]))
    subsub = subset_matrix(sub, rows=~first, cols=np.array([0, 2, 3, 4]))
    np.testing.assert_array_equal(gram(subsub, w[~first]),
                                  gram(sparse.csr_matrix(to_dense(subsub)), w[~first]))
    # indices out of order: the subset builds its own pairs
    shuffled = subset_matrix(parent, cols=np.array([5, 0, 2]))
    np.testing.assert_allclose(gram(shuffled, w), (dense[:, [5, 0, 2]] * w[:, None]).T
                               @ dense[:, [5, 0, 2]], rtol=PATH_TOL, atol=PATH_TOL)


@pytest.mark.parametrize("sparse_path", [True, False])
def test_singleton_clusters_skip_the_score_matrix(sparse_path, monkeypatch):
    # every cell its own cluster (labels shuffled): the meat is X' diag(u^2) X and the
    # projected scores (X a) u, equal to the G x p score-matrix path
    if sparse_path:
        monkeypatch.setattr(linalg, "SPARSE_MIN_SIZE", 0)
        monkeypatch.setattr(linalg, "SPARSE_DENSITY", 1.0)
    _, csr, events, trials, _ = cells()
    fit = fit_quietly(csr.X, events, trials)
    keep = ~np.asarray(fit.aliased)
    X = subset_matrix(csr.X, cols=keep)
    u = np.asarray(fit.score_factor)
    n = X.shape[0]
    codes = np.random.default_rng(SEED).permutation(n)
    s = cluster_scores(X, u, codes, n)
    np.testing.assert_allclose(cluster_meat(X, u, codes, n), s.T @ s, rtol=PATH_TOL,
                               atol=PATH_TOL * np.abs(s.T @ s).max())
    a = np.random.default_rng(SEED).normal(size=(X.shape[1], 3))
    ref = s @ a
    np.testing.assert_allclose(projected_scores(X, u, codes, n, a), ref, rtol=PATH_TOL,
                               atol=PATH_TOL * np.abs(ref).max())
    np.testing.assert_allclose(projected_scores(X, u, codes, n, a[:, 0]), ref[:, 0],
                               rtol=PATH_TOL, atol=PATH_TOL * np.abs(ref).max())
    g = np.arange(n) % 14  # real clusters: the score-matrix path itself
    np.testing.assert_array_equal(cluster_meat(X, u, g, 14),
                                  cluster_scores(X, u, g, 14).T @ cluster_scores(X, u, g, 14))


#: Two converged fits of one model from different starts: the criterion (relative
#: deviance change < 1e-10 and a largest step < 1e-8) leaves differences far below this.
START_TOL = 1e-8


def test_restricted_start_satisfies_the_restriction_and_saves_iterations():
    _, csr, events, trials, _ = cells()
    fit = fit_quietly(csr.X, events, trials)
    names = list(csr.names)
    cols = [names.index(c) for c in ("b[1]", "b[2]", "b[3]")]
    params, cov = np.asarray(fit.params), np.asarray(fit.cov)
    r = np.zeros((2, len(params)))
    r[:, cols] = [[-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]
    start = restricted_start(params, cov, r)
    np.testing.assert_allclose(start[cols], start[cols[0]], rtol=1e-12)  # equal effects
    np.testing.assert_array_equal(np.isnan(start), np.isnan(params))  # set-aside stay NaN
    # exclusion of one column at a value (not D: its copy would take over): the refit
    # from the projection equals the refits from the unrestricted estimates and from the
    # default start, and starts nearer to the restricted estimate
    k = names.index("b[2]")
    rest = np.ones(len(params), bool)
    rest[k] = False
    off = -0.5 * column(csr.X, k)
    xr = subset_matrix(csr.X, cols=rest)
    proj = restricted_start(params, cov, np.eye(len(params))[[k]], -0.5)
    assert proj[k] == pytest.approx(-0.5, abs=1e-12)
    fits = [fit_quietly(xr, events, trials, offset=off, start=s)
            for s in (np.nan_to_num(proj[rest]), np.nan_to_num(params[rest]), None)]
    for other in fits[1:]:
        np.testing.assert_allclose(fits[0].params, other.params, rtol=START_TOL,
                                   atol=START_TOL)
    est = np.nan_to_num(np.asarray(fits[0].params))
    dist = [np.abs(np.nan_to_num(s[rest]) - est).max() for s in (proj, params)]
    assert dist[0] < dist[1] / 5
    assert fits[0].n_iter <= fits[1].n_iter
    lean = fit_quietly(xr, events, trials, offset=off, start=np.nan_to_num(proj[rest]),
                       covariance=False)
    np.testing.assert_array_equal(lean.params, fits[0].params)
    np.testing.assert_array_equal(lean.score_factor, fits[0].score_factor)
    assert np.isnan(lean.cov).all()

