"""Tests of the engine's building blocks: families, linalg, design, results base, Wald table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import sparse, stats

from sofeval.errors import ContractError, OptionError, SofevalError
from sofeval.models import (
    ALIAS_TOL,
    FAMILIES,
    ResultsBase,
    aliased_columns,
    build_design,
    build_sparse_design,
    check_separation,
    dot,
    fisher_weights,
    gram,
    group_sum,
    inverse_link,
    link,
    sparse_view,
    subset_matrix,
    tdot,
    wald_table,
)

# Hand computations repeat the same float64 operations in another order.
HAND_TOL = 1e-12
# statsmodels' link derivatives are computed by other (but exact) formulas.
REF_TOL = 1e-10

SM_LINKS = {
    "cloglog": sm.families.Binomial(link=sm.families.links.CLogLog()),
    "logit": sm.families.Binomial(link=sm.families.links.Logit()),
    "poisson": sm.families.Poisson(),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_fisher_weights_match_statsmodels(family):
    eta = np.linspace(-4.0, 1.0, 11) if family != "poisson" else np.linspace(-3.0, 2.0, 11)
    n = np.arange(1.0, 12.0)
    fam = SM_LINKS[family]
    mu = fam.link.inverse(eta)
    # statsmodels' IRLS weights are 1 / (g'(mu)^2 V(mu)) per trial
    ref = n / (fam.link.deriv(mu) ** 2 * fam.variance(mu))
    np.testing.assert_allclose(fisher_weights(eta, n, family), ref, rtol=REF_TOL)
    np.testing.assert_allclose(inverse_link(eta, family), mu, rtol=REF_TOL)
    np.testing.assert_allclose(link(mu, family), eta, rtol=REF_TOL, atol=REF_TOL)


def test_fisher_weights_stay_finite_at_separated_cells():
    w = fisher_weights(np.array([-np.inf, np.inf, 0.0]), np.array([3.0, 3.0, 0.0]), "cloglog")
    assert np.all(np.isfinite(w)) and w[2] == 0.0 and np.all(w[:2] < 1e-14)


@pytest.mark.parametrize(
    ("residual", "aliased"),
    # far above the tolerance (one LAPACK factorisation decides), just above it (the
    # column-by-column factorisation decides), below it
    [(1e-6, False), (1.5 * ALIAS_TOL, False), (0.5 * ALIAS_TOL, True)],
)
def test_aliased_columns_at_the_tolerance(residual, aliased):
    # columns 0 and 2 have correlation r: column 2 keeps the residual variance 1 - r^2
    r = np.sqrt(1.0 - residual)
    g = np.array([[1.0, 0.2, r], [0.2, 1.0, 0.2 * r], [r, 0.2 * r, 1.0]]) * 4.0
    np.testing.assert_array_equal(aliased_columns(g), [False, False, aliased])
    np.testing.assert_array_equal(aliased_columns(np.eye(3)), [False, False, False])
    assert aliased_columns(np.diag([1.0, 0.0, 2.0])).tolist() == [False, True, False]


@pytest.fixture()
def big_sparse_design():
    rng = np.random.default_rng(0)
    n, p = 40_000, 30  # 1.2M entries: above SPARSE_MIN_SIZE, so the sparse path is used
    X = np.zeros((n, p))
    X[:, 0] = 1.0
    X[np.arange(n), 1 + rng.integers(0, p - 1, n)] = 1.0
    return X


def test_sparse_products_equal_dense_ones(big_sparse_design):
    X = big_sparse_design
    assert sparse_view(X) is not None and sparse_view(X) is sparse_view(X)  # cached
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, X.shape[0])
    b = rng.normal(size=X.shape[1])
    np.testing.assert_allclose(gram(X, w), (X * w[:, None]).T @ X, rtol=HAND_TOL)
    np.testing.assert_allclose(dot(X, b), X @ b, rtol=HAND_TOL)
    np.testing.assert_allclose(tdot(X, w), X.T @ w, rtol=HAND_TOL)
    rows = rng.uniform(size=X.shape[0]) < 0.95  # the cut stays above SPARSE_MIN_SIZE
    cols = np.arange(X.shape[1]) != 3
    sub = subset_matrix(X, rows=rows, cols=cols)
    np.testing.assert_array_equal(sub, X[rows][:, cols])
    xs = sparse_view(sub)
    assert xs is not None
    np.testing.assert_array_equal(xs.toarray(), sub)
    assert subset_matrix(X, rows=np.ones(X.shape[0], bool)) is X


def test_group_sum_equals_groupby():
    rng = np.random.default_rng(2)
    n, g = 500, 7
    codes = rng.integers(0, g, n)
    x = rng.normal(size=(n, 4))
    w = rng.uniform(size=n)
    ref = pd.DataFrame(x * w[:, None]).groupby(codes).sum().reindex(range(g)).to_numpy()
    np.testing.assert_allclose(group_sum(x, codes, g, weights=w), ref, rtol=HAND_TOL)
    np.testing.assert_allclose(
        group_sum(sparse.csr_matrix(x), codes, g, weights=w), ref, rtol=HAND_TOL
    )
    out = group_sum(sparse.csr_matrix(x), codes, g, sparse_out=True)
    assert sparse.issparse(out)
    np.testing.assert_allclose(np.asarray(out.toarray()), pd.DataFrame(x).groupby(codes).sum())
    np.testing.assert_allclose(group_sum(x[:, 0], codes, g), np.bincount(codes, x[:, 0], g))
    rows = np.flatnonzero(codes != 0)
    sub = group_sum(x, codes[rows], g, rows=rows)
    np.testing.assert_allclose(sub[1:], ref_unweighted(x, codes, g)[1:], rtol=HAND_TOL)
    assert np.all(sub[0] == 0.0)


def ref_unweighted(x: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    return pd.DataFrame(x).groupby(codes).sum().reindex(range(g)).to_numpy()


def test_check_separation_flags_empty_and_full_supports():
    X = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 0]], dtype=float)
    events = np.array([0.0, 0, 5, 1])
    trials = np.array([4.0, 3, 5, 6])
    neg, pos = check_separation(X, events, trials, "cloglog")
    assert neg.tolist() == [False, True, False] and pos.tolist() == [False, False, True]
    _, pos_p = check_separation(X, events, trials, "poisson")
    assert not pos_p.any()


def frame():
    return pd.DataFrame(
        {
            "a": ["x", "y", "y", "z", "y", "x"],
            "b": [3, 1, 2, 3, 3, 1],
            "v": [0.5, 0.0, 1.5, -2.0, 0.0, 1.0],
        }
    )


def test_design_reference_levels():
    f = frame()
    first = build_design(f, categorical=["a", "b"], numeric=["v"])
    assert first.names == ("Intercept", "a[y]", "a[z]", "b[2]", "b[3]", "v")
    largest = build_design(f, categorical=["a", "b"], base="largest")
    assert largest.names == ("Intercept", "a[x]", "a[z]", "b[1]", "b[2]")  # y and 3 most often
    w = np.array([10.0, 1, 1, 1, 1, 10])
    weighted = build_design(f, categorical=["a"], base="largest", weights=w)
    assert weighted.names == ("Intercept", "a[y]", "a[z]")
    given = build_design(f, categorical=["a"], reference={"a": "z"})
    np.testing.assert_array_equal(given.X[:, 1], (f["a"] == "x").to_numpy(float))
    with pytest.raises(OptionError):
        build_design(f, categorical=["a"], base="most")  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="reference level"):
        build_design(f, categorical=["a"], reference={"a": "w"})


def test_sparse_design_equals_dense_design():
    f = frame()
    kw = {"categorical": ["a", "b"], "numeric": ["v"], "base": "largest"}
    dense = build_design(f, **kw)
    sp = build_sparse_design(f, **kw)
    assert sp.names == dense.names and sparse.issparse(sp.X)
    np.testing.assert_array_equal(sp.X.toarray(), dense.X)
    assert sp.X.nnz == np.count_nonzero(dense.X)


def test_wald_table_by_hand():
    coef, se = np.array([0.2, -1.0, 0.0]), np.array([0.1, 0.5, np.nan])
    q = stats.norm.ppf(0.95)
    tab = wald_table(coef, se, level=0.9, names=["a", "b", "c"])
    assert list(tab.columns) == [
        "term", "coef", "se", "z", "p_value", "ci_low", "ci_high", "hazard_ratio", "pct_change"
    ]
    np.testing.assert_allclose(tab["z"][:2], [2.0, -2.0], rtol=HAND_TOL)
    np.testing.assert_allclose(tab["p_value"][:2], 2 * stats.norm.sf(2.0), rtol=HAND_TOL)
    np.testing.assert_allclose(tab["ci_low"][:2], coef[:2] - q * se[:2], rtol=HAND_TOL)
    np.testing.assert_allclose(tab["pct_change"], 100 * (np.exp(coef) - 1), rtol=HAND_TOL)
    assert np.isnan(tab.loc[2, "p_value"])
    hr = wald_table(coef, se, ci_scale="hazard_ratio")
    np.testing.assert_allclose(
        hr["ci_high"][:2], np.exp(coef[:2] + stats.norm.ppf(0.975) * se[:2]), rtol=HAND_TOL
    )
    with pytest.raises(SofevalError):
        wald_table(coef, se, level=1.5)


def test_results_base_gives_summary_html_and_figure():
    from dataclasses import dataclass

    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    @dataclass(frozen=True)
    class XResult(ResultsBase):
        table: pd.DataFrame
        title = "X <effects>"

        def header(self) -> list[tuple[str, str]]:
            return [("rows", str(len(self.table)))]

        def to_frame(self) -> pd.DataFrame:
            return self.table.copy()

        def _draw(self, fig: Figure, colour: str = "black") -> None:
            fig.add_subplot().plot(self.table["coef"], color=colour)

    res = XResult(wald_table([0.1, 0.2], [0.05, 0.1], names=["a", "b"]))
    text = res.summary()
    assert text.startswith("X <effects>\nrows: 2\n") and str(res) == text
    assert "0.1000" in text
    pd.testing.assert_frame_equal(res.tidy(), res.table)
    html = res._repr_html_()
    assert "X &lt;effects&gt;" in html and "<table" in html
    before = plt.get_fignums()
    fig = res.plot(colour="red")
    assert isinstance(fig, Figure) and len(fig.axes) == 1 and plt.get_fignums() == before
    with pytest.raises(AttributeError):
        res.table = pd.DataFrame()  # type: ignore[misc]


def test_results_base_without_plot_says_so():
    class Bare(ResultsBase):
        def to_frame(self) -> pd.DataFrame:
            return pd.DataFrame({"a": [1]})

    with pytest.raises(NotImplementedError, match="Bare has no plot"):
        Bare().plot()
