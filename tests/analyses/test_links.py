"""Tests of the id positions and codes of :mod:`sofeval.analyses.links` against plain lookups."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sofeval.analyses import spell_jobcentres, spell_rows, table_spells
from sofeval.data import StudyData, simulate, validate_study, validated_spell_rows


@pytest.fixture(scope="module")
def small_study() -> StudyData:
    sim = simulate("homogeneous", n_spells=2_000, seed=5, progress=False)
    return validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                          sim.monitoring)


def test_spell_rows_matches_a_dictionary_lookup() -> None:
    spell_ids = pd.Series(["S3", "S1", "S2", "S1"], dtype=object)  # a repeat takes its first
    ids = pd.Series(["S2", "S9", "S1", "S3", "S2"], dtype=object)
    first: dict[str, int] = {}
    for i, s in enumerate(spell_ids):
        first.setdefault(s, i)
    expected = [first.get(s, -1) for s in ids]
    np.testing.assert_array_equal(spell_rows(ids, spell_ids), expected)
    assert spell_rows(ids.iloc[:0], spell_ids).dtype == np.int64


def test_table_spells_point_at_the_spells_of_the_rows(small_study: StudyData) -> None:
    links = table_spells(small_study)
    ids = small_study.spells["spell_id"].to_numpy()
    for table, pos in (("meetings", links.meetings), ("interventions", links.interventions)):
        frame = getattr(small_study, table)
        assert len(pos) == len(frame)
        assert (pos >= 0).all()
        np.testing.assert_array_equal(ids[pos], frame["spell_id"].to_numpy())
    assert table_spells(small_study) is links  # computed once per study


def test_table_spells_of_a_changed_study_are_its_own(small_study: StudyData) -> None:
    fewer = replace(small_study, spells=small_study.spells.iloc[::2])
    pos = table_spells(fewer).meetings
    kept = set(fewer.spells["spell_id"])
    np.testing.assert_array_equal(pos >= 0, small_study.meetings["spell_id"].isin(kept))


def test_spell_jobcentres_codes_sorted_names(small_study: StudyData) -> None:
    jc = spell_jobcentres(small_study)
    names = small_study.spells["jobcentre"].astype(str)
    assert list(jc.names) == sorted(names.unique())
    np.testing.assert_array_equal(jc.names.to_numpy()[jc.code], names.to_numpy())
    prog = small_study.programme["jobcentre"]
    own = dict(zip(prog.astype(str), range(len(prog)), strict=True))
    np.testing.assert_array_equal(jc.positions_in(prog), [own.get(n, -1) for n in names])


def test_validation_keeps_the_spell_rows_it_found_and_they_equal_the_lookup() -> None:
    """The join rules' positions serve table_spells; a changed study computes its own."""
    raw = simulate("homogeneous", n_spells=800, seed=11, progress=False)
    meetings = raw.meetings.sample(frac=1.0, random_state=3)  # rows out of spell order
    study = validate_study(raw.spells, meetings, raw.interventions, raw.programme)
    known = validated_spell_rows(study)
    assert known is not None
    direct = (spell_rows(study.meetings["spell_id"], study.spells["spell_id"]),
              spell_rows(study.interventions["spell_id"], study.spells["spell_id"]))
    for got, want in zip(known, direct, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(table_spells(study).meetings, direct[0])
    changed = replace(study, meetings=study.meetings.iloc[::-1].reset_index(drop=True))
    assert validated_spell_rows(changed) is None
    np.testing.assert_array_equal(table_spells(changed).meetings, direct[0][::-1])
