"""Dose-response: recovery of λ, λ = 0 under the null, the +10 pp transformation, sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sofeval.analyses import DOSE_COLUMNS, dose_response, pct_per_10pp
from sofeval.data import simulate, validate_study
from sofeval.errors import SofevalError

#: The generator's hazard depends on covariates; leaving them out attenuates any hazard
#: coefficient (neglected heterogeneity), so recovery tests control for them.
DGP_COVARIATES = ("sex", "age", "diagnosis_group", "visitation_category", "sector",
                  "partial_sick_listing")
N_SE = 3.0


def _study(scenario: str, n: int, seed: int, **kw):
    sim = simulate(scenario, n_spells=n, seed=seed, progress=False, **kw)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    return sim, study


@pytest.fixture(scope="module")
def strong():
    """The dose_response scenario with a large λ so that 40k spells identify it well."""
    return _study("dose_response", 40_000, 17, lam_early=1.5, lam_late=0.6)


def test_recovers_lambda_with_true_shares(strong):
    sim, study = strong
    res = dose_response(study, mediator=sim.truth.shares, covariates=DGP_COVARIATES)
    truth = {"weeks_1_7": 1.5, "weeks_8_plus": 0.6}
    assert list(res.table.columns) == list(DOSE_COLUMNS)
    for row in res.table.itertuples():
        assert abs(row.coef - truth[row.window]) < N_SE * row.se, row
        assert row.n_spells > 100


def test_observed_meeting_shares_find_the_relation(strong):
    """Shares estimated from meetings are noisy (attenuation), but the relation shows."""
    _, study = strong
    res = dose_response(study, covariates=DGP_COVARIATES, source="meetings")
    early = res.table.set_index("window").loc["weeks_1_7"]
    assert early["coef"] > 0 and early["p_value"] < 0.05
    assert early["coef"] < 1.5 + N_SE * early["se"]


def test_null_finds_no_relation():
    sim, study = _study("null", 30_000, 4)
    res = dose_response(study, mediator=sim.truth.shares)
    for row in res.table.itertuples():
        assert abs(row.coef) < N_SE * row.se, row


def test_plus_10pp_transformation_and_ci(strong):
    sim, study = strong
    res = dose_response(study, mediator=sim.truth.shares)
    z = stats.norm.ppf(0.975)
    for row in res.table.itertuples():
        assert row.pct_per_10pp == pytest.approx(100 * (np.exp(0.1 * row.coef) - 1), rel=1e-12)
        assert row.ci_low_pct == pytest.approx(100 * (np.exp(0.1 * (row.coef - z * row.se)) - 1))
        assert row.ci_high_pct == pytest.approx(
            100 * (np.exp(0.1 * (row.coef + z * row.se)) - 1))
        assert row.ci_low_pct < row.pct_per_10pp < row.ci_high_pct
    # the report's figure: λ = 0.129 is +1.3 % per +10 pp
    assert float(pct_per_10pp(np.log(1.013) / 0.1)) == pytest.approx(1.3)


def test_monitoring_table_overrides_meetings(strong):
    sim, study = strong
    via_monitoring = dose_response(study, source="monitoring")
    via_meetings = dose_response(study, source="meetings")
    # the generator's monitoring counts are the realised first meetings: same shares
    pd.testing.assert_frame_equal(via_monitoring.table, via_meetings.table, rtol=1e-8)
    # a monitoring table with different counts changes the estimate
    mon = study.monitoring.copy()
    mon["workplace_meetings"] = (mon["first_meetings"] * 0.5).round().astype("int64")
    from sofeval.data import StudyData

    other = StudyData(study.spells, study.meetings, study.interventions, study.programme, mon)
    changed = dose_response(other, source="monitoring")
    assert not np.allclose(changed.table["coef"], via_meetings.table["coef"])


def test_bad_mediator_table_is_refused(strong):
    _, study = strong
    bad = pd.DataFrame({"jobcentre": ["Vejle"], "month": ["2018-01"], "share": [1.4]})
    with pytest.raises(SofevalError, match="share_in_unit_interval"):
        dose_response(study, mediator=bad)
    with pytest.raises(SofevalError, match="jobcentre, month"):
        dose_response(study, mediator=bad.drop(columns="share"))


def test_measure_mediator_runs_with_its_own_window(strong):
    from sofeval.analyses import MEASURE_WINDOWS

    _, study = strong
    res = dose_response(study, mediator="measures", windows=MEASURE_WINDOWS)
    assert list(res.table["window"]) == ["weeks_14_plus"]
    # measures have no causal effect in the generator
    row = res.table.iloc[0]
    assert abs(row["coef"]) < N_SE * row["se"]


def test_prepared_cells_give_the_same_result_and_are_checked(strong):
    """cells= reuses a collapse (as the pipeline does); keys are checked."""
    from sofeval.analyses import coarsen_cells, sof_cells
    from sofeval.errors import OptionError

    _, study = strong
    sc = sof_cells(study, extra_keys=("link_month",), progress=False)
    a = dose_response(study).table
    b = dose_response(study, cells=sc).table
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(OptionError, match="link_month"):
        dose_response(study, cells=coarsen_cells(sc, ("link_month",)))


def test_wild_bootstrap_p_values(strong):
    """p_wild: NaN unless asked for; seeded; rejects λ = 0 where the Wald test is
    overwhelming (λ_early = 1.5, z ≈ 10)."""
    sim, study = strong
    plain = dose_response(study, mediator=sim.truth.shares, covariates=DGP_COVARIATES)
    assert plain.table["p_wild"].isna().all()
    a = dose_response(study, mediator=sim.truth.shares, covariates=DGP_COVARIATES,
                      bootstrap_draws=199, seed=4)
    b = dose_response(study, mediator=sim.truth.shares, covariates=DGP_COVARIATES,
                      bootstrap_draws=199, seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.table["p_wild"].between(0, 1).all()
    pd.testing.assert_series_equal(a.table["coef"], plain.table["coef"])
    early = a.table.set_index("window").loc["weeks_1_7"]
    assert abs(early["coef"] / early["se"]) > 5
    assert early["p_wild"] < 0.01
