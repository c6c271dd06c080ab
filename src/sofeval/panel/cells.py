"""Collapsed cells: event and at-risk counts per distinct key pattern.

With categorical regressors a binomial (cloglog/logit) or Poisson likelihood depends on the
person-week data only through the at-risk and event counts per distinct regressor pattern
(DESIGN.md §3), so models are fitted on :class:`Cells`. :func:`cells_from_spells` builds
them chunk by chunk straight from the spells, never holding the whole person-week panel:
each chunk's rows are generated as integer codes (:func:`~sofeval.panel.rows.panel_rows`),
grouped without hashing (:func:`~sofeval.panel.grouping.group_codes`) and counted with
``np.bincount``; chunk results are summed at the end the same way.
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
from sofeval.panel.grouping import group_codes
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
    if keys:
        frame = frame.sort_values(list(keys), kind="stable", na_position="last")
    return frame.reset_index(drop=True)


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


def _chunk_cells(
    prep: Prepared,
    keys: list[str],
    ev_cols: Sequence[str],
    col_of_code: np.ndarray,
    starts: Sequence[int],
    chunk_size: int,
    progress: bool,
) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
    """Cell codes and counts of the chunks of used spells beginning at ``starts``."""
    iterator: Iterable[int] = starts
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(starts, desc="cells", unit="chunk")
    parts_codes: list[list[np.ndarray]] = []
    parts_counts: list[np.ndarray] = []
    for lo in iterator:
        hi = min(lo + chunk_size, prep.n)
        rows = panel_rows(prep, lo, hi, keys)
        inverse, uniq = group_codes([rows.columns[k] for k in keys])
        n_cells = len(uniq[0]) if keys else 1
        counts = np.zeros((n_cells, 1 + len(ev_cols)), dtype=np.int64)
        counts[:, 0] = np.bincount(inverse, minlength=n_cells)
        ev_cell = inverse[rows.event_pos]
        ev_col = col_of_code[rows.event_code]
        for j in range(len(ev_cols)):
            counts[:, 1 + j] = np.bincount(ev_cell[ev_col == j], minlength=n_cells)
        parts_codes.append(uniq)
        parts_counts.append(counts)
    return parts_codes, parts_counts


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
    design = design or StudyDesign()
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise OptionError(f"chunk_size={chunk_size!r} must be a positive integer.")
    if chunk_size < 1:
        raise OptionError(f"chunk_size={chunk_size!r} must be a positive integer.")
    covs = check_covariates(covariates, design)
    keys = list(by) if not isinstance(by, str) else [by]
    covs += [k for k in keys if k not in KEY_COLUMNS and k not in covs and k in study.spells]
    keys = _check_keys(keys, [*KEY_COLUMNS, *covs])
    need = set(keys)
    prep, sf = prepare_with_frame(study, design, covs, frozenset(need))
    ev_cols = event_columns(design.event_state)
    of_state = event_column_of_state(design.event_state)  # competing-state index -> column
    col_of_code = np.asarray([ev_cols.index(c) for c in of_state.values()], dtype=np.int64)

    starts = list(range(0, max(prep.n, 1), chunk_size))
    half = len(starts) // 2 if parallel and len(starts) > 1 else len(starts)
    second = Background(
        lambda: _chunk_cells(prep, keys, ev_cols, col_of_code, starts[half:], chunk_size, False),
        enabled=half < len(starts),
    )
    shown = show_progress(progress)
    parts_codes, parts_counts = _chunk_cells(
        prep, keys, ev_cols, col_of_code, starts[:half], chunk_size, shown
    )
    more_codes, more_counts = second.result()
    parts_codes += more_codes
    parts_counts += more_counts

    uniq, summed = _sum_parts(parts_codes, parts_counts, len(keys))
    n_cells = len(summed)
    keep = summed[:, 0] > 0 if keys else np.ones(n_cells, dtype=bool)
    data: dict[str, object] = {k: decode(prep, k, u[keep]) for k, u in zip(keys, uniq, strict=True)}
    data["at_risk"] = summed[keep, 0]
    for j, c in enumerate(ev_cols):
        data[c] = summed[keep, 1 + j]
    frame = _finalise(pd.DataFrame(data), keys, ev_cols)
    return Cells(frame=frame, keys=tuple(keys)), prep, sf


def _sum_parts(
    parts_codes: list[list[np.ndarray]], parts_counts: list[np.ndarray], n_keys: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Key codes of the distinct cells over all chunks and their summed counts."""
    all_counts = np.concatenate(parts_counts, axis=0)
    if n_keys:
        all_codes = [np.concatenate([p[j] for p in parts_codes]) for j in range(n_keys)]
        inverse, uniq = group_codes(all_codes)
        n_cells = len(uniq[0])
    else:
        inverse, uniq, n_cells = np.zeros(len(all_counts), dtype=np.int64), [], 1
    summed = np.zeros((n_cells, all_counts.shape[1]), dtype=np.int64)
    for j in range(all_counts.shape[1]):
        # float64 weights are exact for counts below 2**53
        summed[:, j] = np.rint(np.bincount(inverse, weights=all_counts[:, j], minlength=n_cells))
    return uniq, summed
