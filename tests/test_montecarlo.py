"""Monte Carlo harness: failures recorded, coverage of the inverted tests, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sofeval import montecarlo
from sofeval.errors import EstimationError
from sofeval.montecarlo import monte_carlo, summarise


def test_failed_replication_is_recorded_not_fatal(monkeypatch):
    real = montecarlo._replication_rows

    def flaky(task):
        if task.rep == 1:
            raise EstimationError("spells: no exit to employment in the estimation sample.")
        return real(task)

    monkeypatch.setattr(montecarlo, "_replication_rows", flaky)
    mc = monte_carlo("null", reps=3, n_spells=3_000, seed=4, jobs=1, bootstrap_draws=19,
                     ri_draws=19)
    assert list(mc.failed["rep"]) == [1]
    assert "no exit to employment" in mc.failed["error"].iloc[0]
    assert sorted(mc.draws["rep"].unique()) == [0, 2]
    assert (mc.table.loc[mc.table["jobcentre"] == "ALL", "n_reps"] == 2).all()


def test_all_replications_failing_raises(monkeypatch):
    def broken(task):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(montecarlo, "_replication_rows", broken)
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
