"""Subgroup effects and homogeneity: references, additive counts, known truths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.figure import Figure
from scipy import sparse

from presentation import assert_shared_presentation
from sofeval.analyses import (
    HOMOGENEITY_COLUMNS,
    SUBGROUP_COLUMNS,
    coarsen_cells,
    default_subgroups,
    equality_contrast,
    equality_design,
    estimate_effects,
    homogeneity,
    jobcentre_homogeneity,
    sof_cells,
    sof_cells_with_subgroups,
    subgroup_effects,
    subgroup_spec,
)
from sofeval.data import simulate, validate_study
from sofeval.errors import ContractError
from sofeval.models import (
    build_design,
    build_sparse_design,
    fit_glm_cells,
    wald_test,
    wild_joint_test,
    wild_score_bootstrap,
)
from sofeval.panel import week_block

#: Cells fits of sofeval and statsmodels agree to their convergence tolerance.
TOL_COEF = 1e-6
#: Identities that hold in exact arithmetic, checked to float64 rounding.
TOL_EXACT = 1e-8
#: Recovery of the simulated truth: within this many standard errors.
N_SE = 3.0





def _study(scenario: str, n: int, seed: int, **kw):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False, **kw)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    return sim, study


@pytest.fixture(scope="module")
def null_study():
    return _study("null", 20_000, 4)


@pytest.fixture(scope="module")
def sex_result(null_study):
    _, study = null_study
    return subgroup_effects(study, variables=["sex", "age"], bootstrap_draws=99, seed=1)


def test_layout_and_additive_counts(null_study, sex_result):
    _, study = null_study
    res = sex_result
    assert tuple(res.table.columns) == SUBGROUP_COLUMNS
    assert tuple(res.homogeneity.table.columns) == HOMOGENEITY_COLUMNS
    assert sorted(res.table.loc[res.table["variable"] == "age", "level"].unique()) == [
        "16-29", "30-39", "40-49", "50-59", "60+"]
    pooled = estimate_effects(study, inference=("cluster",)).table.set_index("estimand")
    sums = res.table.groupby(["variable", "estimand"])[["n_spells", "n_events"]].sum()
    for (_, est), row in sums.iterrows():  # subgroup counts add up to the pooled counts
        assert row["n_spells"] == pooled.loc[est, "n_spells"]
        assert row["n_events"] == pooled.loc[est, "n_events"]
    h = res.homogeneity.table
    assert h["df"].tolist() == [1, 1, 4, 4]
    assert h["p_wild"].between(0, 1).all()
    assert_shared_presentation(res, res.table, res.homogeneity.table)
    assert_shared_presentation(res.homogeneity, res.homogeneity.table)
    assert isinstance(res.plot(), Figure)


def test_one_pass_cells_equal_one_collapse_per_variable(null_study, sex_result):
    """Cells of every subgroup variable from one pass equal separate collapses, and the
    results from cells built beforehand equal those built inside."""
    _, study = null_study
    dose, cells = sof_cells_with_subgroups(study, None, (), ["sex", "age", "no_such"])
    assert sorted(cells) == ["age", "sex"]
    for var, sc in cells.items():  # the cells of one collapse per variable, summed over exposure
        alone = coarsen_cells(sof_cells(study, None, [var]), ["exposure"])
        pd.testing.assert_frame_equal(sc.cells.frame, alone.cells.frame)
        pd.testing.assert_series_equal(sc.jc_window, alone.jc_window)
        pd.testing.assert_frame_equal(sc.audit, alone.audit)
    alone = sof_cells(study, None, (), extra_keys=("link_month",))
    pd.testing.assert_frame_equal(dose.cells.frame, alone.cells.frame)
    res = subgroup_effects(study, variables=["sex", "age"], bootstrap_draws=99, seed=1,
                           cells={"age": cells["age"]})
    pd.testing.assert_frame_equal(res.table, sex_result.table)
    pd.testing.assert_frame_equal(res.homogeneity.table, sex_result.homogeneity.table)
    spec = subgroup_spec("sex", ["age", "sex"])
    assert spec.keys() == ("jobcentre", "week", "month", "D", "age", "sex")
    # cells given with exposure among their keys are summed over it
    with_exposure = subgroup_effects(study, variables=["sex"], bootstrap_draws=99, seed=1,
                                     cells={"sex": sof_cells(study, None, ["sex"])})
    pd.testing.assert_frame_equal(
        with_exposure.table, sex_result.table[sex_result.table["variable"] == "sex"])


def test_sex_effects_equal_statsmodels_on_the_same_cells():
    _, study = _study("homogeneous", 10_000, 6, n_jobcentres=40)
    result = subgroup_effects(study, variables=["sex"], bootstrap_draws=0)
    sc = sof_cells(study, covariates=["sex"], progress=False)
    f = sc.cells.frame
    d = f["D"].to_numpy().astype(float)
    late = f["week"].to_numpy() >= 8
    sex = f["sex"].astype(str).to_numpy()
    frame = pd.DataFrame({
        "event": f["event"].to_numpy(float),
        "trials": f["at_risk"].to_numpy(float),
        "week_block": week_block(f["week"].to_numpy()),
        "jobcentre": f["jobcentre"].astype(str).to_numpy(),
        "month": f["month"].astype(str).to_numpy(),
        "sex": sex,
    })
    cols = []
    for name, phase in (("ex_ante", False), ("programme", True)):
        for lv in ("F", "M"):
            frame[f"{name}{lv}"] = d * (late == phase) * (sex == lv)
            cols.append(f"{name}{lv}")
    for col in ("jobcentre", "week_block", "month"):
        frame = frame[frame.groupby(col)["event"].transform("sum") > 0]
    # one row per distinct regressor pattern (the likelihood depends on nothing else)
    frame = frame.groupby([c for c in frame.columns if c not in ("event", "trials")],
                          as_index=False)[["event", "trials"]].sum()
    dm = build_design(frame, categorical=["week_block", "jobcentre", "month", "sex"],
                      numeric=cols)
    y = np.column_stack([frame["event"], frame["trials"] - frame["event"]])
    ref = sm.GLM(y, dm.X, family=sm.families.Binomial(sm.families.links.CLogLog())).fit(
        tol=1e-13, maxiter=200)
    expected = ref.params[[dm.names.index(c) for c in cols]]
    ours = result.table
    np.testing.assert_allclose(ours["coef"].to_numpy(), expected, atol=TOL_COEF)


def test_wald_test_by_hand():
    b = np.array([0.3, -0.1, 0.2])
    v = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
    r = equality_contrast(3)
    rb = r @ b
    w_hand = rb @ np.linalg.solve(r @ v @ r.T, rb)
    w, df, p = wald_test(b, v, r)
    assert df == 2 and abs(w - w_hand) < TOL_EXACT
    assert abs(p - np.exp(-w_hand / 2)) < TOL_EXACT  # chi2 with 2 df: survival exp(-w/2)


def test_joint_test_of_one_restriction_is_the_engines_wild_bootstrap(null_study):
    """With one restriction LM = t^2 and the Rademacher draws coincide at the same seed."""
    _, study = null_study
    sc = sof_cells(study, progress=False)
    f = sc.cells.frame
    frame = pd.DataFrame({
        "week_block": week_block(f["week"].to_numpy()),
        "jobcentre": f["jobcentre"].astype(str).to_numpy(),
        "month": f["month"].astype(str).to_numpy(),
        "D_early": f["D"].to_numpy() * (f["week"].to_numpy() < 8).astype(float),
        "D_late": f["D"].to_numpy() * (f["week"].to_numpy() >= 8).astype(float),
    })
    dm = build_design(frame, categorical=["week_block", "jobcentre", "month"],
                      numeric=["D_early", "D_late"])
    ev, tr = f["event"].to_numpy(float), f["at_risk"].to_numpy(float)
    k = dm.names.index("D_late")
    jc = frame["jobcentre"].to_numpy()
    one = wild_score_bootstrap(dm.X, ev, tr, "cloglog", jc, k, B=499, seed=9)
    joint = wild_joint_test(dm.X, ev, tr, "cloglog", jc, [k], B=499, seed=9)
    assert joint.df == 1 and joint.tested == (k,)
    assert abs(joint.statistic - one.statistic**2) < TOL_EXACT * max(1.0, joint.statistic)
    np.testing.assert_allclose(joint.draws, one.draws**2, rtol=1e-9)
    assert joint.p_wild == one.p_value


def test_equality_design_keeps_the_fit(null_study):
    _, study = null_study
    sc = sof_cells(study, covariates=["sex"], progress=False)
    f = sc.cells.frame
    d = f["D"].to_numpy().astype(float)
    frame = pd.DataFrame({
        "jobcentre": f["jobcentre"].astype(str).to_numpy(),
        "week_block": week_block(f["week"].to_numpy()),
        "F": d * (f["sex"].astype(str).to_numpy() == "F"),
        "M": d * (f["sex"].astype(str).to_numpy() == "M"),
    })
    dm = build_design(frame, categorical=["week_block", "jobcentre"], numeric=["F", "M"])
    ev, tr = f["event"].to_numpy(float), f["at_risk"].to_numpy(float)
    a = fit_glm_cells(dm.X, ev, tr)
    cols = [dm.names.index("F"), dm.names.index("M")]
    x_alt, test, start = equality_design(dm.X, cols, a.params)
    b = fit_glm_cells(x_alt, ev, tr)
    assert abs(a.loglik - b.loglik) < TOL_EXACT * abs(a.loglik)
    np.testing.assert_allclose(b.params[test], start[test], atol=TOL_COEF)


def test_equality_design_of_a_csr_design_equals_the_dense_one():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.integers(0, 6, 300), "L1": rng.integers(0, 2, 300),
                          "L2": rng.integers(0, 2, 300), "L3": rng.integers(0, 2, 300)})
    spec = {"categorical": ["a"], "numeric": ["L1", "L2", "L3"]}
    dense, csr = build_design(frame, **spec), build_sparse_design(frame, **spec)
    cols = [dense.names.index(c) for c in ("L1", "L2", "L3")]
    params = rng.normal(size=len(dense.names))
    xd, td, sd = equality_design(dense.X, cols, params)
    xs, ts, ss = equality_design(csr.X, cols, params)
    assert sparse.issparse(xs) and xs.has_canonical_format and td == ts
    np.testing.assert_array_equal(xs.toarray(), xd)
    np.testing.assert_array_equal(ss, sd)
    np.testing.assert_array_equal(csr.X.toarray(), dense.X)  # the input is not changed


def test_jobcentre_homogeneity_rejects_heterogeneous_effects():
    """`heterogeneous`: theta_j ~ N(0, 0.15) per programme jobcentre."""
    _, study = _study("heterogeneous", 80_000, 2)
    res = jobcentre_homogeneity(sof_cells(study, progress=False), bootstrap_draws=199, seed=0)
    row = res.table.set_index("estimand").loc["programme"]
    assert row["p_value"] < 0.01 and row["p_wild"] < 0.05, res.table


def test_homogeneity_table_combines_subgroups_and_jobcentres(null_study, sex_result):
    _, study = null_study
    res = homogeneity(sof_cells(study, progress=False), sex_result, bootstrap_draws=99)
    assert res.table["variable"].tolist() == ["sex", "sex", "age", "age", "jobcentre",
                                              "jobcentre"]
    assert_shared_presentation(res, res.table)
    assert ("jobcentre clustered by", "cell (heteroskedasticity-robust)") in res.header()


def test_missing_values_form_their_own_level():
    sim = simulate("null", n_spells=6_000, seed=5, progress=False)
    spells = sim.spells.copy()
    spells.loc[spells.index[::10], "sector"] = np.nan
    study = validate_study(spells, sim.meetings, sim.interventions, sim.programme)
    res = subgroup_effects(study, variables=["sector"], bootstrap_draws=0)
    assert "missing" in set(res.table["level"])
    assert res.table["n_spells"].sum() > 0
    assert res.homogeneity.table["p_wild"].isna().all()  # no bootstrap asked for


def test_default_and_unknown_variables(null_study):
    _, study = null_study
    assert default_subgroups(study) == ("sex", "age", "diagnosis_group",
                                        "visitation_category", "sector",
                                        "partial_sick_listing")
    with pytest.raises(ContractError, match="shoe_size"):
        subgroup_effects(study, variables=["shoe_size"])


# --------------------------------------------------------------------------------------
# Known truth: needs the `subgroup` scenario of sofeval.data.simulate (another branch)
# --------------------------------------------------------------------------------------


def test_subgroup_scenario_recovers_truth_and_rejects_equality():
    sim, study = _study("subgroup", 60_000, 3)
    truth = sim.truth.subgroups
    res = subgroup_effects(study, variables=sorted(truth["variable"].unique()),
                           bootstrap_draws=199, seed=0)
    t = res.table.set_index(["variable", "level", "estimand"])
    for row in truth.itertuples():
        est = t.loc[(row.variable, str(row.level), row.estimand)]
        assert abs(est["coef"] - row.value) < N_SE * est["se"], row
    h = res.homogeneity.table
    assert (h["p_value"] < 0.05).any() and (h["p_wild"] < 0.05).any(), h
