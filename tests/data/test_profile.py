"""The data profile of `sofeval check`: counts against independent computations, disclosure
control (primary and secondary suppression), determinism and the page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sofeval.analyses import first_meetings
from sofeval.data import (
    EXIT_STATES,
    PROFILE_TABLES,
    DataProfile,
    StudyData,
    profile_study,
    simulate,
    suppress_counts,
    validate_study,
)


@pytest.fixture(scope="module")
def study() -> StudyData:
    sim = simulate("report", n_spells=3_000, seed=11, progress=False)
    return validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)


@pytest.fixture(scope="module")
def profile(study: StudyData) -> DataProfile:
    return profile_study(study, first_meetings=first_meetings(study))


def test_counts_match_independent_computations(study: StudyData, profile: DataProfile) -> None:
    t = profile.tables
    assert tuple(t) == PROFILE_TABLES
    sp = study.spells
    states = t["exit_states"].set_index("exit_state")
    truth = sp["exit_state"].value_counts().reindex(list(EXIT_STATES), fill_value=0)
    shown = states["spells"].notna()
    assert (states.loc[shown, "spells"] == truth[shown]).all()
    summary = t["summary"].set_index("item")["count"]
    assert summary["spells"] == len(sp) and summary["persons"] == sp["person_id"].nunique()
    assert summary["ongoing"] == sp["benefit_end"].isna().sum()
    assert summary["with_first_meeting"] == study.meetings["spell_id"].nunique()
    assert summary["jobcentres"] == sp["jobcentre"].nunique()
    years = t["jobcentre_years"]
    by_hand = sp.groupby([sp["jobcentre"], sp["absence_start"].dt.year]).size()
    got = years.set_index(["jobcentre", "year"])["spells"].dropna()
    assert (got == by_hand.reindex(got.index)).all()
    weeks = ((sp["benefit_start"] - sp["absence_start"]).dt.days // 7 + 1).clip(upper=14)
    entry = t["entry_weeks"].set_index("entry_week")["spells"]
    assert entry.iloc[:5].tolist() == [int((weeks == w).sum()) for w in range(1, 6)]
    dates = t["dates"].set_index(["table", "column"])
    end = dates.loc[("spells", "benefit_end")]
    assert end["missing"] == sp["benefit_end"].isna().sum()
    months = sp["absence_start"].dt.strftime("%Y-%m").value_counts()
    assert dates.loc[("spells", "absence_start"), "first_month"] == months[months >= 5].index.min()


def test_every_published_count_rests_on_enough_persons(profile: DataProfile) -> None:
    for name, frame in profile.tables.items():
        for col in frame.columns:
            if col in ("spells", "count", "first_meetings", "missing", "rows"):
                values = pd.to_numeric(frame[col], errors="coerce").dropna()
                assert not ((values >= 1) & (values < 5)).any(), (name, col)


def test_threshold_changes_what_is_shown(study: StudyData) -> None:
    strict = profile_study(study, threshold=200).tables["jobcentre_years"]
    lax = profile_study(study, threshold=1).tables["jobcentre_years"]
    assert strict["spells"].isna().sum() > 0 and lax["spells"].isna().sum() == 0


def test_primary_and_secondary_suppression_by_hand() -> None:
    frame = pd.DataFrame({"key": list("abcd"), "n": [1, 7, 20, 3], "share": [0.1] * 4})
    out = suppress_counts(frame, "n", shares=["share"])
    # 1 and 3 are small; together they add up to 4 < 5, so the next smallest (7) goes too
    assert out["n"].isna().tolist() == [True, True, False, True]
    assert out["share"].isna().tolist() == [True, True, False, True]
    out = suppress_counts(frame.assign(n=[2, 10, 30, 40]), "n")
    assert out["n"].isna().tolist() == [True, True, False, False]
    # counts of 0 are shown; without secondary suppression only the small cell goes
    out = suppress_counts(frame.assign(n=[0, 2, 30, 40]), "n", secondary=False)
    assert out["n"].tolist()[0] == 0 and out["n"].isna().tolist() == [False, True, False, False]
    # persons decide: six spells of three persons are suppressed
    out = suppress_counts(frame.assign(n=[6, 9, 9, 9], p=[3, 9, 9, 9]), "n", persons="p")
    assert "p" not in out and out["n"].isna().sum() == 2
    # margins: each group on its own
    grouped = pd.DataFrame({"g": ["x", "x", "x", "y", "y"], "n": [1, 8, 9, 50, 60]})
    out = suppress_counts(grouped, "n", by=["g"])
    assert out["n"].isna().tolist() == [True, True, False, False, False]


def test_no_suppressed_count_is_recovered_from_a_published_total(profile: DataProfile) -> None:
    """The attacker knows each table's total (published in `summary` or `jobcentres`) and
    every shown cell; a suppressed cell is recovered only when it is alone in its margin."""
    margins = {"exit_states": None, "entry_weeks": None, "first_meeting_locations": None,
               "jobcentres": None, "jobcentre_years": "jobcentre"}
    for name, by in margins.items():
        frame = profile.tables[name]
        count = "spells"
        groups = [frame] if by is None else [g for _, g in frame.groupby(by)]
        for g in groups:
            hidden = int(g[count].isna().sum())
            assert hidden != 1, (name, g.iloc[0].tolist())


def test_secondary_suppression_holds_against_subtraction() -> None:
    """The attacker knows the total and every shown cell, so he knows the sum S of the hidden
    cells: each hidden cell lies in [0, S]. It is pinned down only if it is hidden alone, and
    known to be small only if S < threshold; neither may happen (unless every other cell is
    0, when there is nothing left to hide it with)."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = rng.integers(0, 12, size=int(rng.integers(2, 8)))
        hidden = suppress_counts(pd.DataFrame({"n": n}), "n")["n"].isna().to_numpy()
        small = (n >= 1) & (n < 5)
        assert hidden[small].all()  # primary
        others_zero = (n[~hidden] == 0).all()
        if hidden.any() and not others_zero:
            assert hidden.sum() >= 2 and n[hidden].sum() >= 5


def test_profile_is_deterministic_and_the_page_shows_it(
    study: StudyData, profile: DataProfile, tmp_path
) -> None:
    a = profile.write_csv(tmp_path / "a")
    b = profile_study(study, first_meetings=first_meetings(study)).write_csv(tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes()
    html = profile.to_html(study.audit, ["a <caveat>"], source="test data")
    assert html.startswith("<!DOCTYPE html>") and "No rows were dropped" in html
    assert "&lt;caveat&gt;" in html  # escaped
    for name in PROFILE_TABLES:
        assert f"<h2>{name.replace('_', ' ')}</h2>" in html
    assert "http" not in html.replace("http-equiv", "")  # self-contained: nothing fetched
