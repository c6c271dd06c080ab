"""Cross-partition rules on hashed keys, against the contract's rules on the whole table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sofeval.data import validate_study
from sofeval.engines import cross_partition_flags, id_hashes, spell_keys
from sofeval.engines.crosscheck import audit_error, split_hashes, split_keys
from sofeval.errors import ContractError


def _spells(rows: list[tuple[str, str, str, str | None]]) -> pd.DataFrame:
    """spell_id, person_id, absence_start, benefit_end (None: ongoing)."""
    df = pd.DataFrame(rows, columns=["spell_id", "person_id", "absence_start", "benefit_end"])
    return df.assign(
        jobcentre="J",
        exit_state=np.where(df["benefit_end"].isna(), "censored", "employment"),
        absence_start=pd.to_datetime(df["absence_start"]),
        benefit_end=pd.to_datetime(df["benefit_end"]),
    )


def _flags(parts: list[pd.DataFrame], n_buckets: int = 3):
    ids, keys, orphans = [], [], []
    for k, p in enumerate(parts):
        kk = spell_keys(k, p)
        ids.append(split_hashes(np.unique(kk.spell), n_buckets))
        keys.append(split_keys(kk, n_buckets))
        orphans.append(split_hashes(np.zeros(0, np.uint64), n_buckets))
    per_bucket = [
        cross_partition_flags([i[b] for i in ids], [k[b] for k in keys], [o[b] for o in orphans])
        for b in range(n_buckets)
    ]
    from sofeval.engines import CrossFlags

    return CrossFlags.concat(per_bucket)


def test_duplicates_and_overlaps_across_partitions() -> None:
    a = _spells([("S1", "P1", "2018-01-01", "2018-02-01"), ("S2", "P2", "2018-01-01", None),
                 ("S3", "P3", "2018-01-01", "2018-01-10")])
    b = _spells([("S1", "P9", "2018-05-01", "2018-06-01"), ("S4", "P2", "2019-03-01", None),
                 ("S5", "P3", "2018-01-11", "2018-02-01")])
    f = _flags([a, b])
    assert sorted(f.duplicate["part"]) == [0, 1]
    assert set(f.duplicate["spell"]) == {id_hashes(np.array(["S1"], dtype=object))[0]}
    # P2's ongoing spell is open-ended: S4 overlaps it; P3's spells do not overlap
    want = set(id_hashes(np.array(["S2", "S4"], dtype=object)))
    assert set(f.overlap["spell"]) == want
    assert f.misplaced.empty


rows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 120), st.integers(0, 40), st.booleans(),
              st.integers(0, 3)),
    min_size=1, max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_overlaps_equal_the_whole_table_rule(data) -> None:
    """Spells of persons in several partitions: flags = the whole table's overlap rule."""
    day0 = pd.Timestamp("2018-01-01")
    frame = _spells([
        (f"S{i}", f"P{p}", str((day0 + pd.Timedelta(days=s)).date()),
         None if ongoing else str((day0 + pd.Timedelta(days=s + d)).date()))
        for i, (p, s, d, ongoing, _) in enumerate(data)
    ] + [("SX", "PX", "2017-01-01", "2017-02-01")])  # a valid spell: never all dropped
    part = np.array([r[4] for r in data] + [0])
    ref = validate_study(frame, invalid="drop").audit
    whole = set(ref.loc[ref["rule"] == "overlapping_spells", "row_id"])
    parts = [frame[part == k].reset_index(drop=True) for k in range(4)]
    flagged = _flags(parts).overlap
    n_parts = pd.Series(part, index=frame.index).groupby(frame["person_id"]).nunique()
    spans = frame["person_id"].map(n_parts).gt(1)
    by_hash = dict(zip(id_hashes(frame["spell_id"]), frame["spell_id"], strict=True))
    got = {by_hash[h] for h in flagged["spell"]}
    assert got == whole & set(frame.loc[spans, "spell_id"])


def test_audit_error_words_a_rule_as_validate_study() -> None:
    frame = _spells([("S1", "P1", "2018-01-01", "2018-02-01"),
                     ("S1", "P2", "2018-03-01", "2018-04-01"),
                     ("S2", "P3", "2018-03-01", "2018-02-01"),
                     ("S3", "P3", "2018-03-01", None)])
    with pytest.raises(ContractError) as ref:
        validate_study(frame)
    audit = validate_study(frame, invalid="drop").audit
    err = audit_error(audit)
    assert str(err) == str(ref.value)
    assert (err.table, err.rule, err.rows) == (ref.value.table, ref.value.rule, ref.value.rows)
