"""Validation on a cluster: rules per partition and the rules that span partitions.

The in-process ``validate_study`` of the whole table is the reference: with
``invalid="drop"`` the dask engine drops the same rows under the same rules and gives the
same cells; with ``invalid="error"`` it raises for the same rules.
"""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import small_study, write_partitioned
from sofeval.analyses import meeting_shares, sof_cells
from sofeval.data import open_study_dataset, validate_study
from sofeval.engines import reduce_study
from sofeval.errors import ContractError
from sofeval.panel import StudyDesign

TABLES = ("spells", "meetings", "interventions", "programme", "monitoring")
N_SPELLS = 1_500
#: Partitions of the test datasets (jobcentres grouped into regions: fewer tasks).
REGIONS = 6


def _broken_tables() -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Raw tables with rules broken across jobcentre partitions; named ids of the cases."""
    sim = small_study(N_SPELLS, seed=11)
    sp = sim.spells.copy()
    ended = sp[sp["benefit_end"].notna()].reset_index(drop=True)
    jcs = sorted(sp["jobcentre"].unique())
    a_rows = ended[ended["jobcentre"] == jcs[0]]
    b = jcs[1]
    day = pd.Timedelta(days=1)
    s1, s2, x, w = (a_rows.iloc[i] for i in range(4))
    new = []
    # 1. the same spell id in two partitions
    new.append(s1.to_dict() | {"jobcentre": b, "person_id": "PDUP"})
    # 2. spells of one person in two partitions that overlap
    new.append(s2.to_dict() | {"spell_id": "SOVL", "jobcentre": b,
                               "absence_start": s2["absence_start"] + 2 * day,
                               "benefit_start": s2["absence_start"] + 2 * day})
    # 3. a chain: X and Y overlap in one partition, Z in another overlaps Y only
    y = x.to_dict() | {"spell_id": "SY", "absence_start": x["benefit_end"] - 3 * day,
                       "benefit_start": x["benefit_end"] - 3 * day,
                       "benefit_end": x["benefit_end"] + 40 * day}
    z = x.to_dict() | {"spell_id": "SZ", "jobcentre": b,
                       "absence_start": x["benefit_end"] + 30 * day,
                       "benefit_start": x["benefit_end"] + 30 * day,
                       "benefit_end": x["benefit_end"] + 90 * day}
    new += [y, z]
    # 4. an unknown exit state (a later rule) overlapping a spell in another partition
    sp.loc[sp["spell_id"] == w["spell_id"], "exit_state"] = "bogus"
    new.append(w.to_dict() | {"spell_id": "SV", "jobcentre": b,
                              "absence_start": w["absence_start"] + day,
                              "benefit_start": w["absence_start"] + day})
    spells = pd.concat([sp, pd.DataFrame(new)], ignore_index=True)
    tables = {"spells": spells, "meetings": sim.meetings, "interventions": sim.interventions,
              "programme": sim.programme, "monitoring": sim.monitoring}
    return tables, {"s1": s1["spell_id"], "s2": s2["spell_id"], "x": x["spell_id"],
                    "w": w["spell_id"]}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory):
    tables, ids = _broken_tables()
    paths = write_partitioned(tables, tmp_path_factory.mktemp("broken"), REGIONS)
    return tables, ids, paths


def _rows(audit: pd.DataFrame) -> set[tuple[str, str, str]]:
    return set(zip(audit["table"], audit["row_id"].astype(str), audit["rule"], strict=True))


def test_drop_mode_drops_what_the_whole_table_drops(client, broken) -> None:
    tables, ids, paths = broken
    ref = validate_study(*(tables[t] for t in TABLES), invalid="drop")
    ds = open_study_dataset(*(paths[t] for t in TABLES), invalid="drop")
    red = reduce_study(ds, StudyDesign(), client=client)
    got, want = _rows(red.audit), _rows(ref.audit)
    # documented difference: a row broken by a rule of its partition (the unknown exit state)
    # and by a cross-partition rule is audited under its partition's rule
    assert ("spells", ids["w"], "unknown_exit_state") in got
    assert ("spells", ids["w"], "overlapping_spells") in want
    got.discard(("spells", ids["w"], "unknown_exit_state"))
    want.discard(("spells", ids["w"], "overlapping_spells"))
    assert got == want
    for spell in (ids["s1"], ids["s2"], "SOVL", ids["x"], "SY", "SZ", "SV"):
        assert any(r[1] == spell for r in got), spell
    assert red.n_spells == len(ref.spells)
    local = sof_cells(ref, StudyDesign(), (), extra_keys=("link_month",), progress=False)
    pd.testing.assert_frame_equal(red.cells.cells.frame, local.cells.frame)


def test_error_mode_raises_for_rules_across_partitions(client, broken) -> None:
    tables, ids, paths = broken
    ds = open_study_dataset(*(paths[t] for t in TABLES))
    with pytest.raises(ContractError) as err:
        reduce_study(ds, StudyDesign(), client=client)
    msg = str(err.value)
    assert err.value.rule == "duplicate_spell_id"
    assert ids["s1"] in err.value.rows
    for rule in ("duplicate_spell_id", "overlapping_spells", "unknown_exit_state"):
        assert f"rule '{rule}'" in msg
    assert "SOVL" in msg and "SZ" in msg


def test_children_in_the_wrong_partition_are_refused(client, tmp_path) -> None:
    sim = small_study(N_SPELLS, seed=12)
    tables = {t: getattr(sim, t) for t in TABLES}
    paths = write_partitioned(tables, tmp_path, REGIONS)
    first = sorted((paths["meetings"]).iterdir())[:2]
    moved = pd.read_parquet(next(first[0].iterdir()))
    moved.head(1).to_parquet(first[1] / "extra.parquet", index=False)  # one meeting misplaced
    ds = open_study_dataset(*(paths[t] for t in TABLES))
    with pytest.raises(ContractError, match="another partition than their spell") as err:
        reduce_study(ds, StudyDesign(), client=client)
    assert err.value.rule == "partition_mismatch"
    assert err.value.rows == (str(moved["spell_id"].iloc[0]),)


def test_children_not_partitioned_like_the_spells_are_routed(client, tmp_path) -> None:
    sim = small_study(N_SPELLS, seed=13)
    tables = {t: getattr(sim, t) for t in TABLES}
    paths = write_partitioned(tables, tmp_path, REGIONS)
    sim.meetings.to_parquet(tmp_path / "meetings.parquet", index=False)  # one file
    ds = open_study_dataset(paths["spells"], tmp_path / "meetings.parquet",
                            *(paths[t] for t in TABLES[2:]))
    assert not ds.co_partitioned
    red = reduce_study(ds, StudyDesign(), client=client)
    ref = validate_study(*(tables[t] for t in TABLES))
    local = sof_cells(ref, StudyDesign(), (), extra_keys=("link_month",), progress=False)
    pd.testing.assert_frame_equal(red.cells.cells.frame, local.cells.frame)
    pd.testing.assert_frame_equal(red.meeting_shares(), meeting_shares(ref))


def test_error_messages_speak_to_their_reader(client, broken) -> None:
    """The command line names --invalid drop, Python invalid="drop" (as validate_study)."""
    _, _, paths = broken
    said = {}
    for audience in ("python", "cli"):
        ds = open_study_dataset(*(paths[t] for t in TABLES), audience=audience)
        with pytest.raises(ContractError) as err:
            reduce_study(ds, StudyDesign(), client=client)
        said[audience] = str(err.value)
    assert 'invalid="drop"' in said["python"] and "--invalid drop" not in said["python"]
    assert "--invalid drop" in said["cli"] and 'invalid="drop"' not in said["cli"]
