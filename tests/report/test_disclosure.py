"""Disclosure control: keys are kept, counts named, and no hidden count recoverable.

The attacker below is written independently of :mod:`sofeval.report.secondary`: it reads
the *published* values (missing where suppressed), derives the additive structure from the
tables' keys with pandas, and asks for every hidden cell whether its unit vector lies in the
row space of the equations restricted to the hidden cells (then its value is determined).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph

from sofeval import report
from sofeval.analyses import success_criteria
from sofeval.data import read_study_dir
from sofeval.errors import SofevalError

DATA = Path(__file__).resolve().parents[2] / "data" / "synthetic"
COUNTS = ["first_meetings", "workplace_meetings", "first_meetings_v23", "workplace_meetings_v23"]
#: Rank decisions on 0/+-1 matrices: singular values are far from this tolerance.
RANK_TOL = 1e-8

Cell = tuple[str, int, str]
Equation = list[tuple[Cell, float]]


def _value(tables: dict[str, pd.DataFrame], cell: Cell) -> float:
    name, row, col = cell
    return float(pd.to_numeric(tables[name][col], errors="coerce").astype(float).at[row])


def _sums(parts: str, pf: pd.DataFrame, total: str, tf: pd.DataFrame, cols: list[str],
          pkeys: list[str], tkeys: list[str]) -> list[Equation]:
    """Equations 'total row = sum of part rows with the same keys', per column."""
    eqs: list[Equation] = []
    t_rows = {tuple(k): i for i, k in zip(tf.index, tf[tkeys].itertuples(index=False),
                                           strict=True)}
    for key, grp in pf.groupby(pkeys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for col in cols:
            eq: Equation = [((total, t_rows[key], col), 1.0)]
            eq += [((parts, i, col), -1.0) for i in grp.index]
            eqs.append(eq)
    return eqs


def attack(tables: dict[str, pd.DataFrame], equations: list[Equation]) -> list[Cell]:
    """The hidden cells that the published values and the equations determine exactly."""
    numeric = {(name, col): pd.to_numeric(frame[col], errors="coerce").astype(float)
               for name, frame in tables.items() for col in frame.columns}
    unknown: dict[Cell, int] = {}
    for eq in equations:
        for cell in (c for c, _ in eq):
            if np.isnan(numeric[cell[0], cell[2]].at[cell[1]]):
                unknown.setdefault(cell, len(unknown))
    if not unknown:
        return []
    rows, cols, vals = [], [], []
    for r, eq in enumerate(equations):
        for cell, coef in eq:
            if cell in unknown:
                rows.append(r)
                cols.append(unknown[cell])
                vals.append(coef)
    m = sparse.csr_matrix((vals, (rows, cols)), shape=(len(equations), len(unknown)))
    # unknowns linked by an equation form independent blocks of the system
    _, block = csgraph.connected_components(abs(m).T @ abs(m), directed=False)
    cells = list(unknown)
    found = []
    for b in np.unique(block):
        members = np.flatnonzero(block == b)
        sub = m[:, members].toarray()
        sub = sub[np.any(sub != 0, axis=1)]
        if len(sub) == 0:
            continue
        # e_j lies in the row space exactly when the orthogonal projection onto the row
        # space maps it to itself: P_jj = sum_k V_kj^2 = 1 over the right singular vectors
        _, sv, vt = np.linalg.svd(sub, full_matrices=False)
        diag = (vt[sv > RANK_TOL * sv.max()] ** 2).sum(axis=0)
        found += [cells[members[j]] for j in np.flatnonzero(diag > 1 - RANK_TOL)]
    return sorted(found, key=str)


# --- keys and counts ------------------------------------------------------------------


def test_keys_are_never_blanked_and_all_counts_are_suppressed() -> None:
    df = pd.DataFrame({
        "jobcentre": ["A", "A"], "month": np.array([24194, 24195], dtype="int32"),
        "month_label": ["2016-03", "2016-04"], "programme": [True, True],
        "in_window": [False, True], "first_meetings": [3, 20], "workplace_meetings": [0, 9],
        "first_meetings_v23": [8, 2], "share": [0.0, 0.45], "n_leads": [3, 3],
        "mystery": [1.5, 2.5]})
    out = report.auto_disclose(df)
    for key in ("jobcentre", "month", "month_label", "programme", "in_window", "n_leads"):
        assert out[key].notna().all(), key
    assert out["month"].tolist() == [24194, 24195]
    # every count in 1..4 is hidden (the v23 counts too), zeros are shown
    assert out["first_meetings"].isna().tolist() == [True, False]
    assert out["first_meetings_v23"].isna().tolist() == [False, True]
    assert out.loc[0, "workplace_meetings"] == 0
    # an unknown numeric column is a dependent statistic: hidden with the row's counts
    assert out["mystery"].isna().all() and out["share"].isna().all()
    assert report.is_count_column("n_events") and not report.is_count_column("n_leads")
    items = pd.DataFrame({"item": ["exits_flexjob", "censored"], "value": [3, 40]})
    assert report.auto_disclose(items)["value"].notna().all()  # no count column by name
    named = report.auto_disclose(items, count_columns=["value"])
    assert named["value"].isna().tolist() == [True, False]


# --- the attacker on hand-made tables ---------------------------------------------------


def _grid(values: np.ndarray) -> dict[str, pd.DataFrame]:
    """A two-way table with row totals, column totals and the grand total."""
    r, c = values.shape
    cells = pd.DataFrame({"jobcentre": np.repeat([f"J{i}" for i in range(r)], c),
                          "month": np.tile(np.arange(c), r), "n_spells": values.ravel()})
    rows = cells.groupby("jobcentre", as_index=False)["n_spells"].sum()
    cols = cells.groupby("month", as_index=False)["n_spells"].sum()
    grand = pd.DataFrame({"all": ["all"], "n_spells": [int(values.sum())]})
    return {"cells": cells, "rows": rows, "cols": cols, "grand": grand}


def _grid_relations(raw: dict[str, pd.DataFrame]) -> list[report.SumRelation]:
    cells, rows, cols, grand = raw["cells"], raw["rows"], raw["cols"], raw["grand"]
    return [
        *report.sum_relations("cells", cells, "rows", rows, columns=["n_spells"],
                              on={"jobcentre": "jobcentre"}),
        *report.sum_relations("cells", cells, "cols", cols, columns=["n_spells"],
                              on={"month": "month"}),
        *report.sum_relations("rows", rows, "grand", grand, columns=["n_spells"]),
        *report.sum_relations("cols", cols, "grand", grand, columns=["n_spells"]),
    ]


def _grid_equations(pub: dict[str, pd.DataFrame]) -> list[Equation]:
    cells, rows, cols, grand = pub["cells"], pub["rows"], pub["cols"], pub["grand"]
    col = ["n_spells"]
    eqs = _sums("cells", cells, "rows", rows, col, ["jobcentre"], ["jobcentre"])
    eqs += _sums("cells", cells, "cols", cols, col, ["month"], ["month"])
    eqs += _sums("rows", rows.assign(k=0), "grand", grand.assign(k=0), col, ["k"], ["k"])
    eqs += _sums("cols", cols.assign(k=0), "grand", grand.assign(k=0), col, ["k"], ["k"])
    return eqs


def test_without_secondary_suppression_the_attacker_recovers_the_cell() -> None:
    raw = _grid(np.array([[2, 10, 7], [8, 9, 12], [6, 30, 11]]))
    primary = {k: report.auto_disclose(v) for k, v in raw.items()}
    assert primary["cells"]["n_spells"].isna().sum() == 1
    assert attack(primary, _grid_equations(primary)) == [("cells", 0, "n_spells")]
    protected = report.protect_tables(primary, _grid_relations(raw))
    assert attack(protected, _grid_equations(protected)) == []
    assert report.determined_cells(protected, _grid_relations(raw)) == []
    # the complementary cells are the smallest counts >= 5, shown as ".."
    hidden = protected["cells"]["n_spells"].isna()
    assert sorted(raw["cells"].loc[hidden, "n_spells"]) == [2, 6, 7, 11]  # a rectangle
    assert report.secondary_mask(protected["cells"]).sum() == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.tuples(st.integers(2, 5), st.integers(2, 5)),
    data=st.data(),
)
def test_no_hidden_cell_of_a_two_way_table_is_determined(
    shape: tuple[int, int], data: st.DataObject
) -> None:
    n = shape[0] * shape[1]
    values = data.draw(st.lists(st.one_of(st.integers(0, 4), st.integers(5, 40)),
                                min_size=n, max_size=n))
    raw = _grid(np.array(values).reshape(shape))
    primary = {k: report.auto_disclose(v) for k, v in raw.items()}
    protected = report.protect_tables(primary, _grid_relations(raw))
    assert attack(protected, _grid_equations(protected)) == []
    for name, frame in primary.items():  # every primary cell stays hidden
        assert protected[name]["n_spells"][frame["n_spells"].isna()].isna().all()


def test_relations_are_checked_against_the_tables() -> None:
    raw = _grid(np.array([[2, 10], [8, 9]]))
    bad = raw["rows"].assign(n_spells=raw["rows"]["n_spells"] + 1)
    with pytest.raises(SofevalError, match="sums to 12"):
        report.sum_relations("cells", raw["cells"], "rows", bad, columns=["n_spells"],
                             on={"jobcentre": "jobcentre"})
    assert report.sum_relations("cells", raw["cells"], "rows", bad, columns=["n_spells"],
                                on={"jobcentre": "jobcentre"}, check="skip") == []


# --- the attacker on the embedded data -------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    mon = success_criteria(read_study_dir(DATA))
    panel = pd.DataFrame({"item": ["spells_in", "spells_excluded", "spells_used",
                                   "excluded_outside_cohort", "excluded_no_weeks_at_risk",
                                   "exits_employment", "exits_flexjob", "censored"],
                          "value": [130, 3, 127, 2, 1, 100, 4, 23]})
    out = tmp_path_factory.mktemp("pub")
    report.build_report(out, success_criteria=mon.by_month, success_half_year=mon.by_half_year,
                        success_overall=mon.overall, panel_summary=panel, parallel=False)
    tables = {name: pd.read_csv(out / f"{name}.csv", keep_default_na=False,
                                na_values=[""]) for name in
              ("success_criteria", "success_criteria_half_year", "success_criteria_overall")}
    sheet = pd.read_excel(out / "sofeval_results.xlsx", sheet_name="panel_summary")
    sheet.columns = ["item", "value"]  # the workbook shows headers for readers
    tables["panel_summary"] = sheet.assign(value=pd.to_numeric(sheet["value"], errors="coerce"))
    tables["raw_month"] = mon.by_month
    return tables


def _criteria_equations(pub: dict[str, pd.DataFrame]) -> list[Equation]:
    month, half = pub["success_criteria"], pub["success_criteria_half_year"]
    overall = pub["success_criteria_overall"]
    eqs = _sums("success_criteria", month, "success_criteria_half_year", half, COUNTS,
                ["jobcentre", "half_year"], ["jobcentre", "half_year"])
    inw = month.loc[month["programme"].astype(bool) & month["in_window"].astype(bool)]
    periods = overall.loc[overall["period"] != "overall"]
    eqs += _sums("success_criteria", inw, "success_criteria_overall", periods, COUNTS,
                 ["half_year"], ["period"])
    eqs += _sums("success_criteria_overall", periods.assign(k=0), "success_criteria_overall",
                 overall.loc[overall["period"] == "overall"].assign(k=0), COUNTS, ["k"], ["k"])
    return eqs


def _panel_equations(pub: dict[str, pd.DataFrame]) -> list[Equation]:
    p = pub["panel_summary"]
    row = {item: i for i, item in enumerate(p["item"])}
    groups = {"spells_in": ["spells_excluded", "spells_used"],
              "spells_excluded": ["excluded_outside_cohort", "excluded_no_weeks_at_risk"],
              "spells_used": ["exits_employment", "exits_flexjob", "censored"]}
    return [[(("panel_summary", row[t], "value"), 1.0),
             *((("panel_summary", row[c], "value"), -1.0) for c in parts)]
            for t, parts in groups.items()]


def test_embedded_success_criteria_keep_keys_and_resist_the_attacker(
    published: dict[str, pd.DataFrame],
) -> None:
    month = published["success_criteria"]
    assert month["month"].notna().all() and month["month_label"].notna().all()
    hidden = month[COUNTS].isna().to_numpy().sum()
    assert hidden > 0
    assert attack(published, _criteria_equations(published)) == []


def test_embedded_success_criteria_without_secondary_step_are_recoverable(
    published: dict[str, pd.DataFrame],
) -> None:
    raw = published["raw_month"]
    mon = success_criteria(read_study_dir(DATA))
    primary = {
        "success_criteria": report.auto_disclose(raw),
        "success_criteria_half_year": report.auto_disclose(mon.by_half_year),
        "success_criteria_overall": report.auto_disclose(mon.overall),
    }
    assert len(attack(primary, _criteria_equations(primary))) > 0


def test_panel_summary_items_resist_the_attacker(published: dict[str, pd.DataFrame]) -> None:
    p = published["panel_summary"]
    assert p["value"].isna().sum() >= 4  # 3, 2, 1, 4 primary and their complements
    assert attack(published, _panel_equations(published)) == []
