"""Secondary (complementary) suppression: no suppressed count recoverable by subtraction.

Primary suppression (:func:`sofeval.report.disclosure.disclose`) hides every count in
``1 .. threshold-1``. When the tables also publish sums of cells (a half-year total of
monthly counts, a pooled count of per-jobcentre counts, an item that is the sum of other
items), a hidden cell can often be recovered by subtraction. The caller declares that
additive structure as :class:`SumRelation` objects (``total = sum(parts)``, built from
the tables' keys with :func:`sum_relations`), and :func:`protect_tables` suppresses
further cells until no suppressed cell is uniquely determined by the published cells and
the relations.

The criterion is linear algebra. Write every relation as ``total - sum(parts) = 0``; move
the published cells to the right-hand side; the unknowns are the suppressed cells ``S``
and ``A_S`` is the constraint matrix restricted to them. A suppressed cell ``j`` is
determined exactly when the unit vector ``e_j`` lies in the row space of ``A_S``, that is
when every vector of the null space of ``A_S`` has a zero in position ``j``.
:func:`determined_cells` applies this test; :func:`protect_tables` repeats: find the
determined cells, suppress one complementary cell for each (from a relation in which the
determined cell is the only suppressed one when there is such a relation), and test again.
Complementary cells are chosen deterministically: the smallest count ``>= threshold``
first (ties: the order in which the relations declare the cells), a zero only when no
such count is left (a hidden zero beside a small cell would let the sum reveal it), and
from the rest of the connected relations when a determined cell's own relations are
exhausted.

Limits (see ``docs/disclosure-control.md``): the guarantee is against exact recovery by
linear equations; non-negativity still bounds suppressed cells (an interval, not a
value), and differencing across releases of overlapping tables is outside one run.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from scipy.sparse import csgraph

from sofeval.errors import SofevalError, check_option
from sofeval.report.disclosure import (
    SECONDARY_ATTR,
    SUPPRESSED_ATTR,
    CellSet,
    check_threshold,
)

#: Singular values below this (relative to the largest) count as zero in the null-space
#: test; the constraint matrices hold 0 and +-1, so genuine singular values are far above.
NULL_SPACE_RCOND = 1e-10

#: A null-space row with a norm below this marks a determined cell (exact zero up to the
#: rounding of an SVD of a small 0/+-1 matrix).
DETERMINED_TOL = 1e-8


class CellRef(NamedTuple):
    """One published cell: table name, row index label and column."""

    table: str
    row: Hashable
    column: str


@dataclass(frozen=True)
class SumRelation:
    """A published additive relation: ``total = sum(parts)``.

    Attributes
    ----------
    total
        The cell holding the sum.
    parts
        The cells summed.
    """

    total: CellRef
    parts: tuple[CellRef, ...]


def _mask(frame: pd.DataFrame, where: pd.Series | np.ndarray | None) -> pd.DataFrame:
    if where is None:
        return frame
    return frame.loc[np.asarray(where, dtype=bool)]


def sum_relations(
    parts_table: str,
    parts: pd.DataFrame,
    total_table: str,
    total: pd.DataFrame,
    *,
    columns: Sequence[str],
    on: Mapping[str, str] | None = None,
    parts_where: pd.Series | np.ndarray | None = None,
    total_where: pd.Series | np.ndarray | None = None,
    check: Literal["raise", "skip"] = "raise",
) -> list[SumRelation]:
    """Declare that rows of ``parts`` sum to rows of ``total``, column by column.

    Parameters
    ----------
    parts_table, total_table
        Names of the tables (as passed to :func:`protect_tables`); may be the same table.
    parts, total
        The tables before suppression (the relations are checked on their values).
    columns
        Count columns summed (one relation per group and column).
    on
        Key columns of ``parts`` -> key columns of ``total``: the parts with equal keys
        sum to the total row with those keys. ``None``: all parts sum to the single row
        of ``total`` (after ``total_where``).
    parts_where, total_where
        Boolean masks selecting the rows that take part (default: all rows).
    check
        A group whose parts do not sum to its total: ``"raise"`` an error, or ``"skip"``
        it (a relation that does not hold publishes nothing additive).

    Returns
    -------
    list of SumRelation
        In the order of the groups (sorted keys) and of ``columns``.

    Raises
    ------
    SofevalError
        If a column is missing, a group has no total row, the total keys are not unique,
        or (``check="raise"``) a declared sum does not hold.
    """
    check_option("check", check, ("raise", "skip"))
    p = _mask(parts, parts_where)
    t = _mask(total, total_where)
    name = f"relation {parts_table} -> {total_table}"
    keys_p = list(on or {})
    keys_t = [str((on or {})[k]) for k in keys_p]
    for frame, table, need in (
        (p, parts_table, [*keys_p, *columns]),
        (t, total_table, [*keys_t, *columns]),
    ):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise SofevalError(f"{name}: table {table} lacks column(s) {missing}.")
    if keys_p:
        t_index = pd.MultiIndex.from_frame(t[keys_t].astype(object))
        if not t_index.is_unique:
            dup = t_index[t_index.duplicated()].unique().tolist()[:10]
            raise SofevalError(f"{name}: keys {keys_t} of {total_table} not unique: {dup}.")
        t_label = dict(zip(t_index.tolist(), t.index.tolist(), strict=True))
        groups = p.groupby(keys_p, sort=True, dropna=False).indices
        items: list[tuple[tuple[Any, ...], np.ndarray]] = [
            (k if isinstance(k, tuple) else (k,), np.asarray(rows)) for k, rows in groups.items()
        ]
    else:
        if len(t) == 0 and len(p) == 0:
            return []  # nothing published on either side (e.g. no first meetings at all)
        if len(t) != 1:
            raise SofevalError(
                f"{name}: without keys the total must be one row; {total_table} has {len(t)}."
            )
        t_label = {(): t.index[0]}
        items = [((), np.arange(len(p)))]
    for key, _ in items:
        if key not in t_label:
            raise SofevalError(
                f"{name}: no row of {total_table} with {dict(zip(keys_t, key, strict=True))}."
            )
    t_rows = [t_label[key] for key, _ in items]
    got, want = _group_sums(p, total, items, t_rows, columns)
    out: list[SumRelation] = []
    labels_p = p.index.to_numpy()
    for g, (key, rows) in enumerate(items):
        part_rows = labels_p[rows]
        for c, col in enumerate(columns):
            if not np.isclose(got[g, c], want[g, c], rtol=0, atol=1e-9):
                if check == "skip":
                    continue
                raise SofevalError(
                    f"{name}: {col} of the rows with {dict(zip(keys_t, key, strict=True))} "
                    f"sums to {got[g, c]:g}, but the total row {t_rows[g]!r} holds "
                    f"{want[g, c]:g}."
                )
            out.append(
                SumRelation(
                    CellRef(total_table, t_rows[g], col),
                    tuple(CellRef(parts_table, r, col) for r in part_rows),
                )
            )
    return out


def _group_sums(
    parts: pd.DataFrame,
    total: pd.DataFrame,
    items: Sequence[tuple[tuple[Any, ...], np.ndarray]],
    t_rows: Sequence[Hashable],
    columns: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The sums of the parts' groups and the totals they should equal (groups x columns).

    Values that are not numbers count as missing: left out of the sums (an empty sum is
    0), a missing total matches no sum.
    """
    group = np.full(len(parts), -1, dtype=np.int64)
    for g, (_, rows) in enumerate(items):
        group[rows] = g
    used = group >= 0
    got = np.zeros((len(items), len(columns)))
    want = np.zeros((len(items), len(columns)))
    t_pos = total.index.get_indexer(pd.Index(list(t_rows), dtype=object))
    for c, col in enumerate(columns):
        values = pd.to_numeric(parts[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        values = np.where(np.isnan(values), 0.0, values)
        got[:, c] = np.bincount(group[used], weights=values[used], minlength=len(items))
        totals = pd.to_numeric(total[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        want[:, c] = totals[t_pos] if len(t_pos) else []
    return got, want


@dataclass(frozen=True)
class _System:
    """The relations as a sparse matrix over the cells they name, split in components."""

    cells: list[CellRef]
    matrix: sparse.csr_matrix  # relations x cells: +1 total, -1 parts
    by_cell: sparse.csc_matrix  # the same matrix by column
    component: np.ndarray  # connected component of each cell
    comp_cells: list[np.ndarray]  # cells of each component
    comp_dense: list[np.ndarray]  # its relations x its cells, dense


def _system(relations: Sequence[SumRelation]) -> _System:
    index: dict[CellRef, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, rel in enumerate(relations):
        for cell, sign in ((rel.total, 1.0), *((c, -1.0) for c in rel.parts)):
            j = index.setdefault(cell, len(index))
            rows.append(r)
            cols.append(j)
            vals.append(sign)
    a = sparse.csr_matrix((vals, (rows, cols)), shape=(len(relations), len(index)))
    a.sum_duplicates()
    by_cell = a.tocsc()
    pattern = (abs(a).T @ abs(a)).tocsr()
    n_comp, comp = csgraph.connected_components(pattern, directed=False)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(n_comp + 1))
    comp_cells = [order[bounds[c] : bounds[c + 1]] for c in range(n_comp)]
    local = np.empty(len(comp), dtype=np.int64)  # position of a cell within its component
    local[order] = np.arange(len(comp)) - bounds[comp[order]]
    coo = a.tocoo()
    e_order = np.argsort(comp[coo.col], kind="stable")
    e_comp = comp[coo.col][e_order]
    e_bounds = np.searchsorted(e_comp, np.arange(n_comp + 1))
    e_row, e_col, e_val = coo.row[e_order], local[coo.col[e_order]], coo.data[e_order]
    comp_dense = []
    for c in range(n_comp):
        sl = slice(e_bounds[c], e_bounds[c + 1])
        rel_rows, r_local = np.unique(e_row[sl], return_inverse=True)
        dense = np.zeros((len(rel_rows), len(comp_cells[c])))
        dense[r_local, e_col[sl]] = e_val[sl]
        comp_dense.append(dense)
    return _System(list(index), a, by_cell, comp, comp_cells, comp_dense)


def _determined_in(system: _System, c: int, suppressed: np.ndarray) -> np.ndarray:
    """Suppressed cells of component ``c`` that its relations determine."""
    cells = system.comp_cells[c]
    hidden = suppressed[cells]
    if not hidden.any():
        return np.zeros(0, dtype=int)
    m = system.comp_dense[c][:, hidden]
    m = m[np.any(m != 0, axis=1)]
    null = linalg.null_space(m, rcond=NULL_SPACE_RCOND)
    norms = np.linalg.norm(null, axis=1) if null.size else np.zeros(int(hidden.sum()))
    return np.asarray(cells[hidden][norms < DETERMINED_TOL], dtype=int)


def _determined(
    system: _System, suppressed: np.ndarray, components: np.ndarray | None = None
) -> np.ndarray:
    """Suppressed cells that the relations determine (e_j in the row space of A_S).

    Only ``components`` are examined (default: every component holding a suppressed cell).
    """
    if components is None:
        components = np.unique(system.component[suppressed])
    out = [_determined_in(system, int(c), suppressed) for c in components]
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=int)


def _cell_values(
    tables: Mapping[str, pd.DataFrame], cells: Sequence[CellRef]
) -> tuple[np.ndarray, np.ndarray]:
    """Published values (NaN where suppressed or missing) and the suppressed flags."""
    values = np.full(len(cells), np.nan)
    suppressed = np.zeros(len(cells), dtype=bool)
    groups: dict[tuple[str, str], list[int]] = {}
    for k, cell in enumerate(cells):
        groups.setdefault((cell.table, cell.column), []).append(k)
    for (table, column), ks in groups.items():
        frame = tables[table]
        hidden = frame.attrs.get(SUPPRESSED_ATTR, frozenset())
        idx = np.asarray(ks)
        rows = [cells[k].row for k in ks]
        pos = frame.index.get_indexer(pd.Index(rows))
        col = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        values[idx] = col[pos]
        suppressed[idx] = [(r, column) in hidden for r in rows]
    values[suppressed] = np.nan
    return values, suppressed


def _complement(
    system: _System,
    j: int,
    suppressed: np.ndarray,
    values: np.ndarray,
    threshold: int,
) -> int | None:
    """The complementary cell for determined cell ``j`` (``None`` if there is none)."""
    a = system.matrix
    rels = system.by_cell[:, j].nonzero()[0]
    n_hidden = np.asarray(abs(a[rels]) @ suppressed.astype(float)).ravel()
    pools = [rels[n_hidden == 1], rels]
    for k in range(3):
        if k == 2:  # the determined cell's own relations are exhausted: its component's
            comp_cells = np.flatnonzero(system.component == system.component[j])
            pools.append(np.unique(system.by_cell[:, comp_cells].nonzero()[0]))
        pool = pools[k]
        cand = np.unique(a[pool].nonzero()[1]) if len(pool) else np.zeros(0, dtype=int)
        cand = cand[~suppressed[cand] & np.isfinite(values[cand])]
        for ok in (values[cand] >= threshold, values[cand] == 0):
            pick = cand[ok]
            if len(pick):
                return int(pick[np.lexsort((pick, values[pick]))[0]])
    return None


def protect_tables(
    tables: Mapping[str, pd.DataFrame],
    relations: Sequence[SumRelation],
    threshold: int = 5,
    *,
    dependents: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Secondary suppression: hide complementary cells until no hidden count is determined.

    Parameters
    ----------
    tables
        Table name -> frame after primary suppression (from
        :func:`~sofeval.report.disclosure.disclose`; the hidden cells are read from
        ``attrs``). Frames must have unique index labels.
    relations
        The published additive structure (:func:`sum_relations`).
    threshold
        Disclosure threshold: complementary cells are preferably counts ``>= threshold``.
    dependents
        Table name -> statistic columns hidden in every row where a complementary cell
        was hidden (for example the shares computed from the row's counts).

    Returns
    -------
    dict of str to pandas.DataFrame
        Copies of the tables with the complementary cells (and their dependents) set to
        missing and recorded in ``attrs["sofeval_suppressed"]`` and
        ``attrs["sofeval_secondary"]``; tables without new cells are returned as given.

    Raises
    ------
    SofevalError
        If a relation names a table, row or column that is not there.
    """
    check_threshold(threshold)
    for rel in relations:
        for cell in (rel.total, *rel.parts):
            frame = tables.get(cell.table)
            if frame is None or cell.column not in frame.columns or cell.row not in frame.index:
                raise SofevalError(
                    f"protect_tables: relation cell {cell} is not in the tables "
                    f"({sorted(tables)}); declare relations on the published tables."
                )
    system = _system(relations)
    values, suppressed = _cell_values(tables, system.cells)
    primary = suppressed.copy()
    dirty: np.ndarray | None = None  # components to test again (None: all)
    while True:
        determined = _determined(system, suppressed, dirty)
        if len(determined) == 0:
            break
        added: list[int] = []
        for j in determined:
            k = _complement(system, int(j), suppressed, values, threshold)
            if k is not None and not suppressed[k]:
                suppressed[k] = True
                added.append(k)
        if not added:  # pragma: no cover - every cell of the component is hidden already
            break
        dirty = np.unique(system.component[np.asarray(added)])
    new = [system.cells[k] for k in np.flatnonzero(suppressed & ~primary)]
    return _apply(tables, new, dependents or {})


def _apply(
    tables: Mapping[str, pd.DataFrame],
    new: Sequence[CellRef],
    dependents: Mapping[str, Sequence[str]],
) -> dict[str, pd.DataFrame]:
    """Hide the complementary cells and their rows' dependent statistics."""
    out = dict(tables)
    by_table: dict[str, list[CellRef]] = {}
    for cell in new:
        by_table.setdefault(cell.table, []).append(cell)
    for name, cells in by_table.items():
        frame = tables[name].copy()
        hidden = {(c.row, c.column) for c in cells}
        rows = {c.row for c in cells}
        for col in dependents.get(name, ()):
            if col in frame.columns:
                hidden.update((r, col) for r in rows)
        for col in sorted({c for _, c in hidden}):
            labels = [r for r, c in hidden if c == col]
            series = frame[col]
            if pd.api.types.is_integer_dtype(series.dtype):
                series = series.astype("Int64")
            elif series.dtype == bool:
                series = series.astype(object)
            frame[col] = series.mask(frame.index.isin(labels))
        frame.attrs[SUPPRESSED_ATTR] = CellSet(
            set(tables[name].attrs.get(SUPPRESSED_ATTR, frozenset())) | hidden
        )
        frame.attrs[SECONDARY_ATTR] = CellSet(
            set(tables[name].attrs.get(SECONDARY_ATTR, frozenset())) | hidden
        )
        out[name] = frame
    return out


def determined_cells(
    tables: Mapping[str, pd.DataFrame], relations: Sequence[SumRelation]
) -> list[CellRef]:
    """The suppressed cells that the published cells and the relations determine exactly.

    Parameters
    ----------
    tables
        Published tables (hidden cells read from ``attrs``).
    relations
        The additive structure.

    Returns
    -------
    list of CellRef
        Empty when every suppressed cell is protected.
    """
    system = _system(relations)
    _, suppressed = _cell_values(tables, system.cells)
    return [system.cells[k] for k in _determined(system, suppressed)]
