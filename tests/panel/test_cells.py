"""Tests of collapsed cells: collapse() and the chunked cells_from_spells()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofeval.data import StudyData
from sofeval.errors import ContractError, OptionError
from sofeval.panel import (
    Cells,
    CodeIndex,
    StudyDesign,
    build_panel,
    cells_for_key_sets,
    cells_from_spells,
    coarsen,
    collapse,
    event_columns,
    group_codes,
    panel_rows,
    prepare,
)
from test_panel import BASE, day, make_study, spell, studies

KEY_SETS: tuple[tuple[str, ...], ...] = (
    ("jobcentre", "week", "month", "D"),
    ("jobcentre", "week", "month", "D", "exposure", "link_month"),
    ("phase", "met", "met_workplace", "in_measure"),
    ("spell_id", "week"),
    ("person_id", "D", "phase"),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies(), st.sampled_from(KEY_SETS), st.booleans())
def test_chunked_cells_equal_collapsed_panel(
    case: tuple[StudyData, StudyDesign], by: tuple[str, ...], parallel: bool
) -> None:
    """Chunked cells equal the collapsed panel, with half the chunks in a forked process."""
    study, design = case
    panel = build_panel(study, design)
    full = collapse(panel, by)
    chunked, audit = cells_from_spells(
        study, design, by=by, chunk_size=3, progress=False, parallel=parallel
    )
    pd.testing.assert_frame_equal(chunked.frame, full.frame)
    assert chunked.keys == full.keys == by
    # totals equal the panel's
    totals = full.totals()
    assert totals["at_risk"] == len(panel.data) == audit.value("person_weeks")
    for c in event_columns():
        assert totals[c] == panel.data[c].sum()
    pd.testing.assert_frame_equal(audit.summary, panel.audit.summary)


def synthetic_like(n: int, seed: int) -> StudyData:
    """A few hundred random spells with covariates, meetings and interventions."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a = day(int(rng.integers(-300, 300)))
        dur = int(rng.integers(0, 400))
        ongoing = rng.random() < 0.1
        state = "censored" if ongoing else str(rng.choice(["employment", "unemployment", "other"]))
        rows.append(
            spell(
                f"s{i:04d}",
                a,
                None if ongoing else a + pd.Timedelta(days=28 + dur),
                state,
                person_id=f"p{i // 2}",
                jobcentre=str(rng.choice(["A", "B", "C", "D"])),
                benefit_start=a + pd.Timedelta(days=int(rng.choice([0, 28]))),
                age=int(rng.integers(18, 67)),
                sex=str(rng.choice(["F", "M"])),
                income=float(rng.normal()),
                visitation_category=int(rng.integers(1, 4)),
            )
        )
    meetings = [
        (f"s{i:04d}", day(int(rng.integers(0, 90)), rows[i]["absence_start"]), loc)  # type: ignore[arg-type]
        for i in range(n)
        for loc in rng.choice(["workplace", "jobcentre"], size=int(rng.integers(0, 3)))
    ]
    ivs = [
        (f"s{i:04d}", day(s0, rows[i]["absence_start"]), day(s0 + 21, rows[i]["absence_start"]))  # type: ignore[arg-type]
        for i in range(n)
        if rng.random() < 0.3
        for s0 in [int(rng.integers(0, 100))]
    ]
    return make_study(rows, meetings, ivs)


@pytest.mark.parametrize("treatment", ["week8", "calendar"])
def test_chunk_size_7_equals_collapse_with_covariates(treatment: str) -> None:
    study = synthetic_like(300, seed=3)
    design = StudyDesign(data_end=day(400), treatment=treatment)  # type: ignore[arg-type]
    covs = ["age", "sex", "income", "visitation_category"]
    panel = build_panel(study, design, covariates=covs)
    for by in [
        ("jobcentre", "week", "month", "D", "exposure"),
        ("jobcentre", "week", "month", "D", "link_month", "age", "sex"),
        ("phase", "income", "visitation_category", "met", "in_measure"),
    ]:
        full = collapse(panel, by)
        chunked, _ = cells_from_spells(study, design, by=by, covariates=covs, chunk_size=7)
        pd.testing.assert_frame_equal(chunked.frame, full.frame)
        assert full.person_weeks == len(panel.data)


@pytest.mark.parametrize("parallel", [False, True])
def test_one_pass_for_several_key_sets_equals_separate_passes(parallel: bool) -> None:
    """Rows generated once and counted per key set give each key set's own cells."""
    study = synthetic_like(300, seed=5)
    design = StudyDesign(data_end=day(400))
    key_sets = [
        ("jobcentre", "week", "month", "exposure", "D", "link_month"),
        ("jobcentre", "week", "month", "exposure", "D", "sex"),
        ("jobcentre", "week", "month", "exposure", "D", "age", "income"),
        ("jobcentre", "week", "month", "exposure", "D"),
    ]
    many, prep, sf = cells_for_key_sets(
        study, design, key_sets, chunk_size=7, progress=False, parallel=parallel
    )
    assert len(many) == len(key_sets)
    for by, cells in zip(key_sets, many, strict=True):
        alone, audit = cells_from_spells(study, design, by=by, chunk_size=7, parallel=False)
        pd.testing.assert_frame_equal(cells.frame, alone.frame)
        assert cells.keys == by
        pd.testing.assert_frame_equal(prep.audit.summary, audit.summary)
    assert len(sf) == prep.n
    # key sets without a common key are grouped one by one
    disjoint = [("week",), ("sex", "phase")]
    for by, cells in zip(disjoint, cells_for_key_sets(study, design, disjoint)[0], strict=True):
        pd.testing.assert_frame_equal(cells.frame, cells_from_spells(study, design, by=by)[0].frame)


def test_covariate_named_only_in_by_is_added() -> None:
    study = synthetic_like(60, seed=1)
    design = StudyDesign(data_end=day(400))
    cells, _ = cells_from_spells(study, design, by=("week", "sex"), chunk_size=7)
    panel = build_panel(study, design, covariates=["sex"])
    pd.testing.assert_frame_equal(cells.frame, collapse(panel, ("week", "sex")).frame)


def test_cells_frame_layout_and_properties() -> None:
    study = make_study(
        [
            spell("a", BASE, day(13), "employment"),  # weeks 1, 2; event in 2
            spell("b", BASE, day(20), "unemployment"),  # weeks 1..3; competing exit in 3
        ]
    )
    cells = collapse(build_panel(study, StudyDesign(data_end=day(100))), ["week"])
    assert isinstance(cells, Cells)
    assert list(cells.frame.columns) == ["week", "at_risk", *event_columns()]
    f = cells.frame
    assert f["week"].tolist() == [1, 2, 3]
    assert f["at_risk"].tolist() == [2, 2, 1]
    assert f["event"].tolist() == [0, 1, 0]
    assert f["event_unemployment"].tolist() == [0, 0, 1]
    assert cells.n_cells == 3 and cells.person_weeks == 5
    assert cells.totals()[["at_risk", "event", "event_unemployment"]].tolist() == [5, 1, 1]
    assert str(f["at_risk"].dtype) == "int64" and str(f["event"].dtype) == "int64"


def test_cells_are_sorted_by_keys_and_nan_covariates_kept() -> None:
    study = synthetic_like(80, seed=2)
    study.spells.loc[study.spells.index[:5], "sex"] = None
    design = StudyDesign(data_end=day(400))
    cells, _ = cells_from_spells(study, design, by=("sex", "week"), chunk_size=11)
    f = cells.frame
    assert f["sex"].isna().any()
    assert cells.person_weeks == build_panel(study, design).audit.value("person_weeks")
    full = collapse(build_panel(study, design, covariates=["sex"]), ("sex", "week"))
    pd.testing.assert_frame_equal(f, full.frame)
    # the documented order: pandas' stable sort by the keys, missing values last
    for by in [("sex", "week"), ("jobcentre", "month", "D", "spell_id"), ("person_id", "phase")]:
        frame = cells_from_spells(study, design, by=by, chunk_size=11)[0].frame
        ordered = frame.sort_values(list(by), kind="stable", na_position="last")
        pd.testing.assert_frame_equal(frame, ordered.reset_index(drop=True))


def test_unknown_key_and_bad_chunk_size_raise() -> None:
    study = synthetic_like(10, seed=0)
    with pytest.raises(OptionError, match="unknown cell key"):
        cells_from_spells(study, by=("week", "nope"))
    with pytest.raises(OptionError, match="chunk_size"):
        cells_from_spells(study, chunk_size=0)
    with pytest.raises(OptionError, match="repeated"):
        collapse(build_panel(study), ["week", "week"])


def test_group_fallback_for_huge_key_space() -> None:
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 2**40, 50) for _ in range(2)]
    codes[0][:10] = codes[0][10:20]
    codes[1][:10] = codes[1][10:20]
    inverse, uniq = group_codes(codes)
    assert len(uniq[0]) == 40
    for j in range(2):
        assert (uniq[j][inverse] == codes[j]).all()


def test_group_dense_and_hashed_paths_agree() -> None:
    rng = np.random.default_rng(1)
    small = [rng.integers(0, 5, 1000), rng.integers(-3, 3, 1000)]
    inv, uniq = group_codes(small)
    for j in range(2):
        assert (uniq[j][inv] == small[j]).all()
    assert len(uniq[0]) == len(set(zip(small[0], small[1], strict=True)))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=4),
    st.integers(1, 3),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_code_index_ids_are_stable_across_chunks(
    sizes: list[int], n_columns: int, small_tables: bool, seed: int
) -> None:
    """A row gets one id in every chunk, distinct rows distinct ids, and codes() inverts
    ids(), with lookup tables and (when tables would be too large) with sorted keys."""
    rng = np.random.default_rng(seed)
    index = CodeIndex(n_columns)
    seen: dict[tuple[int, ...], int] = {}
    with pytest.MonkeyPatch.context() as mp:
        if small_tables:
            mp.setattr("sofeval.panel.grouping.MAX_LOOKUP", 4)
        for size in sizes:  # later chunks reach codes outside the first chunk's range
            cols = [rng.integers(-3, 3 + 4 * len(seen), size=size) for _ in range(n_columns)]
            ids = index.ids(cols)
            for row, i in zip(zip(*(c.tolist() for c in cols), strict=True), ids.tolist(),
                              strict=True):
                assert seen.setdefault(row, i) == i
    assert sorted(seen.values()) == list(range(index.n))
    start, codes = index.codes(np.arange(index.n))
    assert (start == 0).all()
    back = {tuple(int(c[i]) for c in codes): i for i in range(index.n)}
    assert back == seen


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=30),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_code_index_ids_of_runs_equal_ids_of_rows(
    repeats: list[int], of_runs: list[bool], start_of_runs: bool, small_tables: bool, seed: int
) -> None:
    """Columns and start ids given once per run (with ``repeats``) give the ids of the same
    columns repeated to the rows, chunk after chunk, whatever columns are per run (with
    lookup tables and with sorted keys)."""
    rng = np.random.default_rng(seed)
    by_runs, by_rows = CodeIndex(3), CodeIndex(3)
    with pytest.MonkeyPatch.context() as mp:
        if small_tables:
            mp.setattr("sofeval.panel.grouping.MAX_LOOKUP", 4)
        for chunk in range(2):
            reps = np.asarray(repeats[chunk:] or repeats, dtype=np.int64)
            runs = [rng.integers(-2, 5 + 3 * chunk, size=len(reps)) for _ in of_runs]
            rows = [np.repeat(c, reps) for c in runs]
            start_runs = rng.integers(0, 3, size=len(reps))
            start_rows = np.repeat(start_runs, reps)
            pairs = zip(runs, rows, of_runs, strict=True)
            given_cols = [r if runs_ else w for r, w, runs_ in pairs]
            got = by_runs.ids(given_cols, start_runs if start_of_runs else start_rows, 3, reps)
            want = by_rows.ids(rows, start_rows, 3)
            np.testing.assert_array_equal(got, want)
    assert by_runs.n == by_rows.n


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies())
def test_panel_rows_per_spell_repeat_to_the_rows(case: tuple[StudyData, StudyDesign]) -> None:
    """With ``per_spell=True`` the spell-constant columns, repeated by ``rows.repeats``, are
    the columns of the rows; the other columns are unchanged."""
    study, design = case
    prep = prepare(study, design)
    need = ["spell_id", "person_id", "jobcentre", "week", "month", "D", "exposure",
            "link_month", "phase", "met", "in_measure"]
    rows = panel_rows(prep, 0, prep.n, need)
    per_spell = panel_rows(prep, 0, prep.n, need, per_spell=True)
    assert per_spell.n_rows == rows.n_rows == int(per_spell.repeats.sum())
    for name in need:
        col = per_spell.columns[name]
        if len(col) != rows.n_rows:
            col = np.repeat(col, per_spell.repeats)
        np.testing.assert_array_equal(col, rows.columns[name])


def test_coarsen_equals_collapsing_by_fewer_keys():
    """Cells by (jobcentre, week, month, exposure, D, link_month) summed over link_month are
    exactly the cells by the other keys, for the plain and the SOF cells."""
    from sofeval.analyses import coarsen_cells, sof_cells
    from sofeval.data import simulate, validate_study

    sim = simulate("report", n_spells=8_000, seed=5, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    fine = sof_cells(study, extra_keys=("link_month",), progress=False)
    direct = sof_cells(study, progress=False)
    coarse = coarsen_cells(fine, ("link_month",))
    assert len(fine.cells.frame) > len(direct.cells.frame)
    pd.testing.assert_frame_equal(coarse.cells.frame, direct.cells.frame)
    pd.testing.assert_series_equal(coarse.jc_window, direct.jc_window)
    assert coarse.cells.keys == direct.cells.keys
    total = coarsen(fine.cells, list(fine.cells.keys))
    assert total.keys == () and int(total.frame["at_risk"].iloc[0]) == fine.cells.person_weeks
    with pytest.raises(OptionError, match="unknown cell key"):
        coarsen(fine.cells, ["sex"])


def test_duplicate_spell_ids_refused_where_ids_identify_rows() -> None:
    """A study that bypassed validation with a repeated spell id: cells keyed by meetings or
    spell ids are refused (they would attach one spell's meetings to two spells)."""
    study = synthetic_like(40, 5)
    spells = study.spells.copy()
    spells.loc[1, "spell_id"] = spells.loc[0, "spell_id"]
    bad = StudyData(spells=spells, meetings=study.meetings, programme=study.programme)
    with pytest.raises(ContractError, match="spell_id is not unique"):
        cells_from_spells(bad, by=("week", "met"))
    with pytest.raises(ContractError, match="spell_id is not unique"):
        cells_from_spells(bad, by=("spell_id",))
    cells, _ = cells_from_spells(bad, by=("week",))  # no lookup by id: every row a spell
    good, _ = cells_from_spells(study, by=("week",))
    assert cells.totals()["at_risk"] == good.totals()["at_risk"]
