"""Collapsed cells: event and at-risk counts per distinct key pattern.

With categorical regressors a binomial (cloglog/logit) or Poisson likelihood depends on the
person-week data only through the at-risk and event counts per distinct regressor pattern
(DESIGN.md §3), so models are fitted on :class:`Cells`. :func:`cells_from_spells` builds
them chunk by chunk straight from the spells, never holding the whole person-week panel:
each chunk's rows are generated as integer codes (:func:`~sofeval.panel.rows.panel_rows`),
given cell ids that stay the same from chunk to chunk (:class:`~sofeval.panel.grouping.CodeIndex`,
lookup tables instead of hashing) and counted with ``np.bincount`` into running totals.
:func:`cells_for_key_sets` counts the rows of each chunk for several key sets (the subgroup
models' cells, for example), generating them once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data import StudyData
from sofeval.errors import ContractError, OptionError
from sofeval.panel.build import Panel
from sofeval.panel.design import (
    KEY_COLUMNS,
    StudyDesign,
    event_column_of_state,
    event_columns,
)
from sofeval.panel.grouping import CodeIndex, group_codes
from sofeval.panel.rows import (
    PanelAudit,
    Prepared,
    decode,
    panel_rows,
    prepare_with_frame,
)
from sofeval.panel.spells import check_covariates
from sofeval.runtime import Background, show_progress

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_KEYS",
    "Cells",
    "cells_for_key_sets",
    "cells_from_spells",
    "cells_with_spell_frame",
    "coarsen",
    "collapse",
]

#: Default cell keys of the SOF model (jobcentre and month fixed effects, weeks, D).
DEFAULT_KEYS: tuple[str, ...] = ("jobcentre", "week", "month", "D")
#: Spells per chunk in :func:`cells_from_spells`.
CHUNK_SIZE = 200_000


@dataclass(frozen=True)
class Cells:
    """Event and at-risk counts per cell.

    Attributes
    ----------
    frame
        Key columns (panel dtypes), ``at_risk`` (``int64`` person-weeks) and one ``int64``
        count column per event (``event``, ``event_<state>``), sorted by the keys, one row
        per observed key pattern.
    keys
        Names of the key columns.
    """

    frame: pd.DataFrame
    keys: tuple[str, ...]

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return len(self.frame)

    @property
    def person_weeks(self) -> int:
        """Total person-weeks at risk."""
        return int(self.frame["at_risk"].sum())

    @property
    def event_columns(self) -> tuple[str, ...]:
        """Names of the event count columns."""
        return tuple(c for c in self.frame.columns if c == "event" or c.startswith("event_"))

    def totals(self) -> pd.Series:
        """Total person-weeks and events (``int64`` Series indexed by column name)."""
        cols = ["at_risk", *self.event_columns]
        return self.frame[cols].sum().astype("int64")


def _finalise(frame: pd.DataFrame, keys: Sequence[str], counts: Sequence[str]) -> pd.DataFrame:
    """Order columns and rows deterministically and fix the count dtypes."""
    frame = frame.loc[:, [*keys, "at_risk", *counts]]
    frame = frame.astype({c: "int64" for c in ("at_risk", *counts)})
    if keys:  # as sort_values(keys, kind="stable", na_position="last"), on integer arrays
        frame = frame.take(np.lexsort([_sort_key(frame[k]) for k in reversed(keys)]))
    return frame.reset_index(drop=True)


def _sort_key(values: pd.Series) -> np.ndarray:
    """Integers ordered as pandas sorts ``values``, missing last (categories by code)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        return np.where(codes < 0, len(values.cat.categories), codes)
    if pd.api.types.is_integer_dtype(values.dtype) and not values.hasnans:
        return values.to_numpy()
    return pd.factorize(values, sort=True, use_na_sentinel=True)[0] % (values.nunique() + 1)


def _check_keys(by: Sequence[str], available: Iterable[str]) -> list[str]:
    keys = list(by)
    if isinstance(by, str):
        keys = [by]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise OptionError(f"cell keys repeated: {', '.join(dup)}; give each key once.")
    avail = set(available)
    bad = [k for k in keys if k not in avail]
    if bad:
        raise OptionError(
            f"unknown cell key(s) {', '.join(bad)}; choose from {', '.join(sorted(avail))}."
        )
    return keys


def collapse(panel: Panel | pd.DataFrame, by: Sequence[str]) -> Cells:
    """Collapse a person-week panel into cells.

    Parameters
    ----------
    panel
        A :class:`~sofeval.panel.build.Panel` or its ``data`` frame.
    by
        Key columns.

    Returns
    -------
    Cells
        Sums of the event columns and the number of rows (``at_risk``) per observed key
        pattern (missing covariate values form their own cell), sorted by the keys.
    """
    data = panel.data if isinstance(panel, Panel) else panel
    counts = [c for c in data.columns if c == "event" or c.startswith("event_")]
    if "event" not in counts:
        raise ContractError(
            "panel: no `event` column; build it with sofeval.panel.build.build_panel.",
            table="panel",
            rule="missing_column",
        )
    keys = _check_keys(by, [c for c in data.columns if c not in counts])
    if not keys:
        sums = data[counts].sum().to_frame().T
        sums["at_risk"] = len(data)
        return Cells(frame=_finalise(sums, keys, counts), keys=())
    grouped = data.groupby(keys, observed=True, dropna=False, sort=False)
    frame = grouped[counts].sum()
    frame["at_risk"] = grouped.size()
    return Cells(frame=_finalise(frame.reset_index(), keys, counts), keys=tuple(keys))


def coarsen(cells: Cells, drop: Sequence[str]) -> Cells:
    """Sum cells over the keys in ``drop`` (cells of the remaining keys).

    Collapsing spells by ``(a, b)`` and coarsening over ``b`` gives exactly the cells of
    collapsing by ``a``: counts are sums, so the order of summation does not matter.

    Parameters
    ----------
    cells
        Cells to coarsen.
    drop
        Key columns to sum over.

    Returns
    -------
    Cells
    """
    drop = _check_keys(drop, cells.keys)
    keys = [k for k in cells.keys if k not in drop]
    counts = ["at_risk", *cells.event_columns]
    f = cells.frame
    if not keys:
        sums = f[counts].sum().to_frame().T
        return Cells(frame=_finalise(sums, keys, list(cells.event_columns)), keys=())
    frame = f.groupby(keys, observed=True, dropna=False, sort=False)[counts].sum()
    return Cells(
        frame=_finalise(frame.reset_index(), keys, list(cells.event_columns)), keys=tuple(keys)
    )


#: Per key set: the key codes of a lane's cells and their counts (one row per count column:
#: ``at_risk``, then the event columns; one column per cell).
_Parts = list[tuple[list[np.ndarray], np.ndarray]]


def _common_keys(key_sets: Sequence[Sequence[str]]) -> list[str]:
    """Keys of the first key set that every key set has (indexed once per chunk)."""
    if len(key_sets) < 2:
        return []
    return [k for k in key_sets[0] if all(k in ks for ks in key_sets[1:])]


def _plus(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``counts`` (as long as ``total`` or longer) with ``total`` added to its first entries."""
    counts[: len(total)] += total
    return counts


def _counts_matrix(
    at_risk: np.ndarray, ev_ids: list[np.ndarray], ev_cols: list[np.ndarray], n_events: int
) -> np.ndarray:
    """Rows ``at_risk`` and one count per event column of the cells (columns)."""
    n_cells = len(at_risk)
    counts = np.empty((1 + n_events, n_cells), dtype=np.int64)
    counts[0] = at_risk
    ids = np.concatenate([np.zeros(0, np.int64), *ev_ids])
    cols = np.concatenate([np.zeros(0, np.int64), *ev_cols])
    per_event = np.bincount(cols * n_cells + ids, minlength=n_events * n_cells)
    counts[1:] = per_event.reshape(n_events, n_cells)
    return counts


def _chunk_cells(
    prep: Prepared,
    key_sets: Sequence[Sequence[str]],
    ev_cols: Sequence[str],
    col_of_code: np.ndarray,
    starts: Sequence[int],
    chunk_size: int,
    progress: bool,
) -> _Parts:
    """Cell codes and counts, per key set, of the chunks of used spells beginning at ``starts``.

    Each chunk's rows are generated once, with the union of the key sets' columns. Cells
    keep their ids from chunk to chunk (:class:`~sofeval.panel.grouping.CodeIndex`): the
    keys every set shares are indexed once, then each set's further keys on top of them.
    The at-risk counts are summed chunk by chunk; the exits (few) are counted once, at the
    end, from the cell ids and event columns of every chunk.
    """
    iterator: Iterable[int] = starts
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(starts, desc="cells", unit="chunk")
    union = list(dict.fromkeys(k for ks in key_sets for k in ks))
    common = _common_keys(key_sets)
    extras = [[k for k in ks if k not in common] for ks in key_sets]
    shared = CodeIndex(len(common))
    own = [CodeIndex(len(ex)) for ex in extras]
    at_risk = [np.zeros(0, dtype=np.int64) for _ in key_sets]
    ev_ids: list[list[np.ndarray]] = [[] for _ in key_sets]
    ev_of: list[np.ndarray] = []
    for lo in iterator:
        hi = min(lo + chunk_size, prep.n)
        rows = panel_rows(prep, lo, hi, union, per_spell=True)
        ev_of.append(col_of_code[rows.event_code])
        start = np.zeros(hi - lo, dtype=np.int64)  # one per spell until a column of rows
        if common:
            start = shared.ids([rows.columns[k] for k in common], start, 1, rows.repeats)
        for s, ex in enumerate(extras):
            ids = own[s].ids([rows.columns[k] for k in ex], start, shared.n, rows.repeats)
            at_risk[s] = _plus(at_risk[s], np.bincount(ids, minlength=own[s].n))
            ev_ids[s].append(ids[rows.event_pos])
    parts: _Parts = []
    for s, ks in enumerate(key_sets):
        counts = _counts_matrix(at_risk[s][: own[s].n], ev_ids[s], ev_of, len(ev_cols))
        start_ids, codes_of = own[s].codes(np.arange(counts.shape[1]))
        by_key = dict(zip(extras[s], codes_of, strict=True))
        if common:
            by_key |= dict(zip(common, shared.codes(start_ids)[1], strict=True))
        parts.append(([by_key[k] for k in ks], counts))
    return parts


def cells_from_spells(
    study: StudyData,
    design: StudyDesign | None = None,
    by: Sequence[str] = DEFAULT_KEYS,
    covariates: Sequence[str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: bool | None = None,
    parallel: bool = True,
) -> tuple[Cells, PanelAudit]:
    """Cells straight from the spells, chunk by chunk (no full person-week panel).

    Equal, column for column and row for row, to
    ``collapse(build_panel(study, design, covariates), by)``.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel settings (default :class:`~sofeval.panel.design.StudyDesign()`).
    by
        Cell keys: panel columns (:data:`~sofeval.panel.design.KEY_COLUMNS`) or covariates of
        ``spells`` (added to ``covariates`` when named here only).
    covariates
        Covariates to bin (globally, over all spells used) with
        :func:`~sofeval.panel.spells.bin_covariates`.
    chunk_size
        Spells per chunk (memory is roughly ``chunk_size × weeks per spell × keys``).
    progress
        Show a tqdm bar over chunks; ``None`` shows it only when stderr is a terminal and
        the ``CI`` environment variable is unset.
    parallel
        With two chunks or more, collapse the second half of the chunks in a forked process
        (:mod:`sofeval.runtime`); the cells are identical either way.

    Returns
    -------
    cells : Cells
        Counts per key pattern, sorted by the keys.
    audit : PanelAudit
        Spells in, used, excluded (with reasons), person-weeks, exits.
    """
    cells, prep, _ = cells_with_spell_frame(
        study, design, by, covariates, chunk_size, progress, parallel
    )
    return cells, prep.audit


def cells_with_spell_frame(
    study: StudyData,
    design: StudyDesign | None,
    by: Sequence[str],
    covariates: Sequence[str] | None,
    chunk_size: int,
    progress: bool | None,
    parallel: bool,
) -> tuple[Cells, Prepared, pd.DataFrame]:
    """:func:`cells_from_spells`, also returning the prepared spells and their spell frame.

    The third value is :func:`sofeval.panel.spells.spell_frame` of the spells used, so callers that
    need both the cells and the per-spell frame compute the frame once.
    """
    cells, prep, sf = cells_for_key_sets(
        study, design, [by], covariates, chunk_size, progress, parallel
    )
    return cells[0], prep, sf


def cells_for_key_sets(
    study: StudyData,
    design: StudyDesign | None,
    key_sets: Sequence[Sequence[str]],
    covariates: Sequence[str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: bool | None = None,
    parallel: bool = True,
) -> tuple[tuple[Cells, ...], Prepared, pd.DataFrame]:
    """The cells of several key sets from one pass over the spells.

    Each chunk's person-week rows are generated once (with the union of the keys) and
    counted per key set, so ``cells_for_key_sets(study, design, [a, b])[0]`` equals
    ``(cells_from_spells(study, design, a)[0], cells_from_spells(study, design, b)[0])``
    for the same covariates, cell for cell.

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel settings (default :class:`~sofeval.panel.design.StudyDesign()`).
    key_sets
        Cell keys of each result, as ``by`` of :func:`cells_from_spells` (covariates of
        ``spells`` named in a key set are added to ``covariates``).
    covariates, chunk_size, progress
        As :func:`cells_from_spells`.
    parallel
        With two chunks or more, a forked process builds every other key set's cells (with
        one key set: the second half of the chunks); the cells are identical either way.

    Returns
    -------
    cells : tuple of Cells
        One per key set, in order.
    prep : Prepared
        The prepared spells used (``prep.audit`` is the panel audit).
    spell_frame : pandas.DataFrame
        :func:`sofeval.panel.spells.spell_frame` of the spells used.
    """
    design = design or StudyDesign()
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise OptionError(f"chunk_size={chunk_size!r} must be a positive integer.")
    if chunk_size < 1:
        raise OptionError(f"chunk_size={chunk_size!r} must be a positive integer.")
    covs = check_covariates(covariates, design)
    sets = [list(by) if not isinstance(by, str) else [by] for by in key_sets]
    for keys in sets:
        covs += [k for k in keys if k not in KEY_COLUMNS and k not in covs and k in study.spells]
    sets = [_check_keys(keys, [*KEY_COLUMNS, *covs]) for keys in sets]
    need = {k for keys in sets for k in keys}
    prep, sf = prepare_with_frame(study, design, covs, frozenset(need))
    ev_cols = event_columns(design.event_state)
    of_state = event_column_of_state(design.event_state)  # competing-state index -> column
    col_of_code = np.asarray([ev_cols.index(c) for c in of_state.values()], dtype=np.int64)

    starts = list(range(0, max(prep.n, 1), chunk_size))
    shown = show_progress(progress)
    if parallel and len(sets) > 1 and len(starts) > 1:
        cells = _sets_in_two_lanes(prep, sets, ev_cols, col_of_code, starts, chunk_size, shown)
        return cells, prep, sf
    half = len(starts) // 2 if parallel and len(starts) > 1 else len(starts)
    second = Background(
        lambda: _chunk_cells(prep, sets, ev_cols, col_of_code, starts[half:], chunk_size, False),
        enabled=half < len(starts),
    )
    parts = _chunk_cells(prep, sets, ev_cols, col_of_code, starts[:half], chunk_size, shown)
    more = second.result() if half < len(starts) else None
    cells = tuple(
        _cells_of_parts(prep, keys, ev_cols, [part, *([] if more is None else [more[s]])])
        for s, (keys, part) in enumerate(zip(sets, parts, strict=True))
    )
    return cells, prep, sf


def _sets_in_two_lanes(
    prep: Prepared,
    sets: list[list[str]],
    ev_cols: Sequence[str],
    col_of_code: np.ndarray,
    starts: Sequence[int],
    chunk_size: int,
    progress: bool,
) -> tuple[Cells, ...]:
    """Cells of several key sets, every other set in a forked lane over all the chunks.

    Splitting the key sets rather than the chunks sends each set's finished cells back
    once, with nothing to merge.
    """

    def lane(which: list[int], shown: bool) -> list[Cells]:
        chosen = [sets[i] for i in which]
        parts = _chunk_cells(prep, chosen, ev_cols, col_of_code, starts, chunk_size, shown)
        return [
            _cells_of_parts(prep, keys, ev_cols, [part])
            for keys, part in zip(chosen, parts, strict=True)
        ]

    mine, theirs = list(range(0, len(sets), 2)), list(range(1, len(sets), 2))
    second = Background(lambda: lane(theirs, False))
    done = dict(zip(mine, lane(mine, progress), strict=True))
    done |= dict(zip(theirs, second.result(), strict=True))
    return tuple(done[i] for i in range(len(sets)))


def _cells_of_parts(
    prep: Prepared,
    keys: list[str],
    ev_cols: Sequence[str],
    parts: list[tuple[list[np.ndarray], np.ndarray]],
) -> Cells:
    """The cells of one key set from its lanes' codes and counts."""
    if len(parts) == 1:
        uniq, summed = parts[0]
    else:
        uniq, summed = _sum_parts([p[0] for p in parts], [p[1] for p in parts], len(keys))
    codes, counts = uniq, summed
    keep = summed[0] > 0
    if keys and not keep.all():
        codes, counts = [u[keep] for u in uniq], summed[:, keep]
    if keys:  # the order of _finalise, found on the codes: one frame is built, in order
        order = _sorted_order(
            [_code_sort_key(prep, k, c) for k, c in zip(keys, codes, strict=True)]
        )
        codes, counts = [c[order] for c in codes], counts[:, order]
    data: dict[str, object] = {k: decode(prep, k, c) for k, c in zip(keys, codes, strict=True)}
    for j, c in enumerate(["at_risk", *ev_cols]):
        data[c] = counts[j]
    return Cells(frame=pd.DataFrame(data), keys=tuple(keys))


def _code_sort_key(prep: Prepared, name: str, codes: np.ndarray) -> np.ndarray:
    """Codes of column ``name`` ordered as its decoded values sort (missing last)."""
    if isinstance(decode(prep, name, codes[:0]).dtype, pd.CategoricalDtype):
        return np.where(codes < 0, codes.max(initial=0) + 1, codes)
    return codes


#: Largest folded key of :func:`_sorted_order` (beyond it the keys are sorted one by one).
_MAX_FOLDED = 2**62


def _sorted_order(sort_keys: list[np.ndarray]) -> np.ndarray:
    """Order of distinct rows by several integer keys, the first key first.

    As ``np.lexsort`` of the keys reversed. The rows must be distinct (cells are): the keys
    are folded into one mixed-radix ``int64`` key, whose sort then needs no stability.
    """
    n = len(sort_keys[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    folded = np.zeros(n, dtype=np.int64)
    size = 1
    for key in sort_keys:
        low = int(key.min())
        span = int(key.max()) - low + 1
        if size * span > _MAX_FOLDED:
            return np.lexsort(sort_keys[::-1])
        folded *= span
        folded += key
        folded -= low
        size *= span
    return np.argsort(folded)


def _sum_parts(
    parts_codes: list[list[np.ndarray]], parts_counts: list[np.ndarray], n_keys: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Key codes of the distinct cells over all chunks and their summed counts."""
    all_counts = np.concatenate(parts_counts, axis=1)
    if n_keys:
        all_codes = [np.concatenate([p[j] for p in parts_codes]) for j in range(n_keys)]
        inverse, uniq = group_codes(all_codes)
        n_cells = len(uniq[0])
    else:
        inverse, uniq, n_cells = np.zeros(all_counts.shape[1], dtype=np.int64), [], 1
    summed = np.zeros((len(all_counts), n_cells), dtype=np.int64)
    for j, row in enumerate(all_counts):
        # float64 weights are exact for counts below 2**53
        summed[j] = np.rint(np.bincount(inverse, weights=row, minlength=n_cells))
    return uniq, summed
