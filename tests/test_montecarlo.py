"""Monte Carlo harness: failures recorded, coverage of the inverted tests, determinism, the
study's configuration applied, and the CI gate's criteria."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sofeval import montecarlo
from sofeval.config import CheckSettings, RunConfig
from sofeval.errors import EstimationError, OptionError
from sofeval.montecarlo import (
    CRITERIA_COLUMNS,
    gate_criteria,
    monte_carlo,
    summarise,
    truth_comparable,
)
from sofeval.panel import StudyDesign


def test_failed_replication_is_recorded_not_fatal(monkeypatch):
    real = montecarlo.replication_rows

    def flaky(task):
        if task.rep == 1:
            raise EstimationError("spells: no exit to employment in the estimation sample.")
        return real(task)

    monkeypatch.setattr(montecarlo, "replication_rows", flaky)
    mc = monte_carlo("null", reps=3, n_spells=3_000, seed=4, jobs=1, bootstrap_draws=19,
                     ri_draws=19)
    assert list(mc.failed["rep"]) == [1]
    assert "no exit to employment" in mc.failed["error"].iloc[0]
    assert sorted(mc.draws["rep"].unique()) == [0, 2]
    assert (mc.table.loc[mc.table["jobcentre"] == "ALL", "n_reps"] == 2).all()


def test_all_replications_failing_raises(monkeypatch):
    def broken(task):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(montecarlo, "replication_rows", broken)
    with pytest.raises(EstimationError, match="all 2 replications failed"):
        monte_carlo("null", reps=2, n_spells=2_000, seed=1, jobs=1)


def test_homogeneous_reports_coverage_of_inverted_tests(tmp_path):
    """Non-zero truth: the wild and RI tests are rerun at the truth, so their coverage is
    defined; the run is reproducible byte for byte."""
    kw = dict(reps=2, n_spells=4_000, seed=8, jobs=1, bootstrap_draws=19, ri_draws=19)
    mc = monte_carlo("homogeneous", **kw)
    pooled = mc.table[mc.table["jobcentre"] == "ALL"].set_index("estimand")
    assert (pooled.loc[["ex_ante", "programme"], "truth"] != 0).all()
    for col in ("coverage_wild", "coverage_ri"):
        assert pooled.loc[["ex_ante", "programme"], col].between(0, 1).all()
    d = mc.draws[mc.draws["jobcentre"] == "ALL"]
    # the tests at the truth differ from the tests of zero
    assert not np.allclose(d["p_wild"], d["p_wild_truth"])
    a = mc.write(tmp_path / "a")
    b = monte_carlo("homogeneous", **kw).write(tmp_path / "b")
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()


def test_summarise_by_hand():
    draws = pd.DataFrame(
        {
            "rep": [0, 1, 2, 3],
            "estimand": "programme",
            "jobcentre": "ALL",
            "coef": [0.1, 0.3, 0.2, 0.4],
            "se": [0.1, 0.1, 0.1, 0.1],
            "p_cluster": [0.5, 0.01, 0.2, 0.001],
            "p_wild": [0.6, 0.04, 0.3, 0.02],
            "p_ri": [0.7, 0.2, 0.3, 0.04],
            "p_wild_truth": [0.6, 0.5, 0.03, 0.9],
            "p_ri_truth": [0.7, 0.2, 0.3, 0.01],
            "truth": 0.2,
        }
    )
    row = summarise(draws).iloc[0]
    assert row["bias"] == pytest.approx(0.05)
    assert row["rmse"] == pytest.approx(np.sqrt((0.01 + 0.01 + 0 + 0.04) / 4))
    assert row["coverage"] == pytest.approx(0.75)  # |0.2| > 1.96 * 0.1 for rep 3
    assert row["coverage_wild"] == pytest.approx(0.75)
    assert row["coverage_ri"] == pytest.approx(0.75)
    assert row["reject_cluster"] == pytest.approx(0.5)
    assert row["reject_wild"] == pytest.approx(0.5)
    assert row["reject_ri"] == pytest.approx(0.25)


def test_study_configuration_reaches_every_replication(monkeypatch):
    """The study's covariates, link and design are what each replication fits."""
    seen = []
    real = montecarlo.estimate_effects

    def spy(cells, **kw):
        seen.append((cells.design.max_weeks, tuple(kw["covariates"]), kw["family"]))
        return real(cells, **kw)

    monkeypatch.setattr(montecarlo, "estimate_effects", spy)
    config = RunConfig(design={"max_weeks": 30}, covariates=("sex",), family="logit")
    mc = monte_carlo("null", reps=2, n_spells=2_000, seed=5, jobs=1, bootstrap_draws=0,
                     ri_draws=0, config=config, parts=("pooled",))
    assert seen == [(30, ("sex",), "logit")] * 2
    assert set(mc.draws["estimand"]) == {"ex_ante", "programme"}  # pooled only
    with pytest.raises(OptionError, match="parts"):
        monte_carlo("null", reps=1, parts=("everything",))


def _summary(**values: float) -> pd.DataFrame:
    row = {"estimand": "programme", "jobcentre": "ALL", "bias": 0.01, "sd_estimate": 0.1,
           "coverage": 0.9, "coverage_wild": 0.94, "coverage_ri": np.nan,
           "reject_cluster": 0.1, "reject_wild": 0.25, "reject_ri": np.nan, "n_reps": 100}
    return pd.DataFrame([row | values])


def test_gate_criteria_by_hand():
    settings = CheckSettings(max_abs_bias=0.02, min_coverage=0.92, max_size=0.2)
    null = pd.DataFrame(gate_criteria("null", _summary(), settings, True))
    assert list(null.columns) == list(CRITERIA_COLUMNS)
    assert list(zip(null["criterion"], null["method"], null["passed"], strict=True)) == [
        ("abs_bias", "estimate", True), ("size", "cluster", True), ("size", "wild", False),
    ]  # RI switched off: no row
    assert null["mc_se"].iloc[0] == pytest.approx(0.1 / 10)  # SD / sqrt(reps)
    assert null["mc_se"].iloc[1] == pytest.approx(np.sqrt(0.05 * 0.95 / 100))
    hom = pd.DataFrame(gate_criteria("homogeneous", _summary(bias=-0.03), settings, True))
    assert list(zip(hom["criterion"], hom["method"], hom["passed"], strict=True)) == [
        ("abs_bias", "estimate", False), ("coverage", "cluster", False),
        ("coverage", "wild", True),
    ]
    assert hom["value"].iloc[0] == pytest.approx(0.03)
    # a design whose estimand is not the generator's: nothing to compare in homogeneous
    assert gate_criteria("homogeneous", _summary(), settings, False) == []
    assert len(gate_criteria("null", _summary(), settings, False)) == 3


def test_truth_comparable():
    assert truth_comparable(StudyDesign())
    assert truth_comparable(StudyDesign(max_weeks=30, entry="absence_start"))
    assert not truth_comparable(StudyDesign(phase_cut=10))
    assert not truth_comparable(StudyDesign(treatment="spell_start"))


def test_monte_carlo_result_is_a_results_object() -> None:
    from matplotlib.figure import Figure

    from sofeval.models import ResultsBase

    mc = montecarlo.monte_carlo("null", reps=2, n_spells=2000, seed=1, jobs=1,
                                bootstrap_draws=0, ri_draws=0)
    assert isinstance(mc, ResultsBase)
    assert "scenario 'null'" in str(mc)
    assert mc.tidy().equals(mc.to_frame())
    fig = mc.plot()
    assert isinstance(fig, Figure) and fig.canvas.manager is None
    assert "<table" in mc._repr_html_()
