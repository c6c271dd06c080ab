"""The scenarios with destinations, pre-trends, subgroups and recurrence: data and contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sofeval.data import SyntheticStudy, contract, simulate, validate_study

NEW_SCENARIOS = ("destinations", "pretrend", "subgroup")
TRUTH_FILES = {
    "truth_destinations.csv": ["destination", "estimand", "jobcentre", "value", "cause_specific"],
    "truth_durations.csv": [
        "scope",
        "tau_weeks",
        "n_spells",
        "weeks_with",
        "weeks_without",
        "weeks_saved",
    ],
    "truth_incidence.csv": ["scope", "destination", "week", "with", "without", "difference"],
    "truth_recurrence.csv": [
        "scope",
        "horizon_weeks",
        "n_returns",
        "recurrence_with",
        "recurrence_without",
        "difference",
    ],
    "truth_event_study.csv": ["estimand", "event_quarter", "n_spells", "value"],
    "truth_subgroups.csv": ["variable", "level", "estimand", "n_spells", "value"],
}


@pytest.fixture(scope="module")
def dest() -> SyntheticStudy:
    return simulate("destinations", n_spells=12_000, seed=8)


@pytest.mark.parametrize("scenario", NEW_SCENARIOS)
def test_new_scenarios_pass_validation(scenario: str) -> None:
    sim = simulate(scenario, n_spells=5_000, seed=1)
    study = validate_study(
        sim.spells, sim.meetings, sim.interventions, sim.programme, sim.monitoring
    )
    assert len(study.spells) == len(sim.spells) > 5_000  # recurrence adds spells


def test_recurrence_spells(dest: SyntheticStudy) -> None:
    sp = dest.spells
    assert sp["spell_id"].is_unique and sp["spell_id"].is_monotonic_increasing
    by = sp.sort_values(["person_id", "absence_start"], kind="mergesort")
    same = by["person_id"].eq(by["person_id"].shift()).to_numpy()
    prev = by.shift()
    assert 0.05 < same.mean() < 0.2  # about one return in ten recurs within a year
    nxt, before = by[same], prev[same]
    # never overlapping: a new spell starts after the previous one ended in employment
    assert (nxt["absence_start"] > before["benefit_end"]).all()
    assert (before["exit_state"] == "employment").all()
    gap = (nxt["absence_start"] - before["benefit_end"]).dt.days
    assert gap.between(1, 7 * 52).all()
    for col in ("jobcentre", "sex", "sector"):
        assert (nxt[col].to_numpy() == before[col].to_numpy()).all(), col
    assert (nxt["age"].to_numpy() >= before["age"].to_numpy()).all()
    assert (nxt["absence_start"] <= dest.data_end).all()
    # recurrence spells come after the first n_spells, numbered on
    assert (nxt["spell_id"] > "S0012000").all() and len(sp) == 12_000 + same.sum()


def test_recurrence_keeps_the_first_spells(dest: SyntheticStudy) -> None:
    """Recurrence draws from a child stream: the first spells are those drawn without it."""
    plain = simulate("destinations", n_spells=12_000, seed=8, recurrence=False)
    assert len(plain.spells) == 12_000 and plain.truth.recurrence.empty
    first = dest.spells.iloc[:12_000].drop(columns="person_id")
    pd.testing.assert_frame_equal(first, plain.spells.drop(columns="person_id"))
    ids = set(plain.spells["spell_id"])
    pd.testing.assert_frame_equal(
        dest.meetings[dest.meetings["spell_id"].isin(ids)].reset_index(drop=True),
        plain.meetings,
    )


def test_existing_scenario_with_recurrence_on_request() -> None:
    off = simulate("homogeneous", n_spells=4_000, seed=2)
    on = simulate("homogeneous", n_spells=4_000, seed=2, recurrence=True, rho=-0.5)
    assert len(off.spells) == 4_000 and off.truth.recurrence.empty
    assert len(on.spells) > 4_000
    rec = on.truth.recurrence
    assert (rec["difference"] < 0).all()
    params = on.truth.params.set_index("parameter")["value"]
    assert params["rho"] == -0.5
    pd.testing.assert_frame_equal(
        on.spells.iloc[:4_000].drop(columns="person_id"), off.spells.drop(columns="person_id")
    )


def test_new_scenario_is_deterministic(tmp_path: Path) -> None:
    a = simulate("subgroup", n_spells=3_000, seed=9)
    b = simulate("subgroup", n_spells=3_000, seed=9)
    a.write_csv(tmp_path / "a")
    b.write_csv(tmp_path / "b")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert set(TRUTH_FILES) <= set(files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    for f, columns in TRUTH_FILES.items():
        assert list(pd.read_csv(tmp_path / "a" / f).columns) == columns, f


def test_destination_shifts_move_the_generated_exits() -> None:
    """Programme spells leave more often to unemployment, less to job clarification."""
    with_ = simulate("destinations", n_spells=30_000, seed=3)
    without = simulate("homogeneous", n_spells=30_000, seed=3)  # same first spells' stream

    def shares(sim: SyntheticStudy) -> pd.Series:
        sp = sim.spells.iloc[:30_000].merge(sim.programme, on="jobcentre")
        w8 = sp["absence_start"] + contract.WEEK8_OFFSET
        treated = sp[(w8 >= sp["start"]) & (w8 <= sp["end"])]
        return treated["exit_state"].value_counts(normalize=True)

    a, b = shares(with_), shares(without)
    assert a["unemployment"] > b["unemployment"]
    assert a["job_clarification"] < b["job_clarification"]


def test_pretrend_parameters() -> None:
    sim = simulate("pretrend", n_spells=2_000, seed=4)
    params = sim.truth.params.set_index("parameter")["value"]
    assert params["pretrend_per_quarter"] == 0.05 and params["rho"] == 0.0
    assert (sim.truth.params.query("parameter in ['theta_ea', 'theta_p']")["value"] == 0).all()
    rec = sim.truth.recurrence
    np.testing.assert_array_equal(rec["recurrence_with"], rec["recurrence_without"])
