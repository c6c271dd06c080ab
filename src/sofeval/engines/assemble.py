"""The whole study on the client, assembled from the reduced partition summaries.

:func:`assemble` turns the sum of the partitions' summaries into a :class:`ReducedStudy`: the
:class:`~sofeval.analyses.SOFCells` of the whole study (cells with the study's categories and
order; the per-spell frame rebuilt from the spell counts, without ids), the audit and the
monitoring counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sofeval.analyses import MonitoringResult, SOFCells
from sofeval.data import EXIT_STATES, RULES, WEEK8_OFFSET, StudyData, empty_table
from sofeval.engines.covariates import (
    CovariateBins,
    final_categories,
    needs_quintiles,
    quintile_bins,
)
from sofeval.engines.monitoring import meeting_shares_from_counts, success_criteria_from_counts
from sofeval.engines.partitions import empty_audit
from sofeval.engines.summaries import SPELL_KEYS, PartSummary
from sofeval.panel import Cells, StudyDesign, coarsen, programme_windows

__all__ = ["ReducedStudy", "assemble", "quintiles", "sorted_audit"]


@dataclass(frozen=True)
class ReducedStudy:
    """The whole study as the client sees it after the reduction.

    Attributes
    ----------
    cells
        :class:`~sofeval.analyses.SOFCells` keyed by ``link_month`` as well (as
        ``sof_cells(..., extra_keys=("link_month",))``); its ``spells`` frame has one row per
        used spell with the columns the per-spell consumers read (``jobcentre``,
        ``absence_start``, ``entry_week``, ``last_week``, ``event_state``, ``w8_date``,
        ``link_month``, ``exposure``, ``D``), but no ``spell_id`` or ``person_id``.
    audit
        Validation audit (rows dropped with ``invalid="drop"``).
    n_spells
        Validated spells.
    study_end
        ``StudyData.data_end()`` of the whole study.
    programme, monitoring
        The validated small tables.
    meetings, measures
        First-meeting and measure counts (:mod:`sofeval.engines.monitoring`).
    has_visitation
        Whether the spells have ``visitation_category``.
    n_partitions
        Partitions of the run.
    study
        The whole validated study when it was small enough to gather (else ``None``).
    """

    cells: SOFCells
    audit: pd.DataFrame
    n_spells: int
    study_end: pd.Timestamp
    programme: pd.DataFrame
    monitoring: pd.DataFrame | None
    meetings: pd.DataFrame
    measures: pd.DataFrame
    has_visitation: bool
    n_partitions: int
    study: StudyData | None = None

    def meeting_shares(self) -> pd.DataFrame:
        """``meeting_shares(study, source="auto")`` of the whole study."""
        return meeting_shares_from_counts(self.meetings, self.monitoring)

    def success_criteria(self) -> MonitoringResult:
        """``success_criteria(study)`` of the whole study (default settings)."""
        return success_criteria_from_counts(
            self.meetings,
            self.measures,
            self.programme,
            self.monitoring,
            has_visitation=self.has_visitation,
        )


def sorted_audit(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Audit rows in rule order, then partition and row order (as ``validate_study``)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_audit()
    audit = pd.concat(frames, ignore_index=True)
    order = {(r.table, r.name): i for i, r in enumerate(RULES)}
    rank = [order.get((t, r), len(order)) for t, r in zip(audit["table"], audit["rule"],
                                                              strict=True)]
    pos = np.argsort(np.asarray(rank), kind="stable")
    return audit.iloc[pos].reset_index(drop=True).astype(object)


def quintiles(total: PartSummary, bins: dict[str, CovariateBins]) -> dict[str, CovariateBins]:
    """Quintile bins for the per-value covariates with too many values (else unchanged)."""
    out = dict(bins)
    for c, counts in total.values.items():
        if needs_quintiles("numeric", len(counts)):
            vals = counts.sort_index()
            out[c] = quintile_bins(vals.index.to_numpy(dtype=float), vals.to_numpy())
    return out


def _cells(
    total: PartSummary, keys: Sequence[str], kinds: dict[str, str],
    categories: dict[str, tuple[object, ...]], bins: dict[str, CovariateBins],
) -> Cells:
    """The reduced cells with the whole study's categories, sorted as ``cells_from_spells``."""
    frame = total.cells.copy()
    frame["jobcentre"] = frame["jobcentre"].cat.set_categories(sorted(total.jobcentres))
    for c in keys:
        if c in ("jobcentre",) or not isinstance(frame[c].dtype, pd.CategoricalDtype):
            continue
        col = frame[c]
        observed = col.cat.categories[np.unique(col.cat.codes[col.cat.codes >= 0])]
        b = bins.get(c)
        fixed = categories.get(c) or (b.labels if b is not None and b.mode == "bins" else None)
        frame[c] = col.cat.set_categories(final_categories(kinds.get(c, "other"), observed, fixed))
    return coarsen(Cells(frame, tuple(keys)), [])


def _spell_frame(counts: pd.DataFrame) -> pd.DataFrame:
    """The used spells' frame rebuilt from the spell counts (one row per spell, no ids)."""
    n = counts["n"].to_numpy(np.int64)
    rep = {c: np.repeat(counts[c].to_numpy(), n) for c in SPELL_KEYS}
    w8 = rep["w8_date"].astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "jobcentre": np.repeat(counts["jobcentre"].astype(str).to_numpy(object), n),
            "absence_start": w8 - np.timedelta64(WEEK8_OFFSET.days, "D"),
            "entry_week": rep["entry_week"].astype(np.int64),
            "last_week": rep["last_week"].astype(np.int64),
            "event_state": pd.Categorical(
                np.repeat(counts["event_state"].astype(str).to_numpy(object), n),
                categories=list(EXIT_STATES),
            ),
            "w8_date": w8,
            "link_month": rep["link_month"].astype(np.int32),
            "exposure": rep["exposure"].astype(np.int16),
            "D": rep["D"].astype(np.int8),
        }
    )


def _sof_cells(
    cells: Cells, total: PartSummary, design: StudyDesign, programme: pd.DataFrame
) -> SOFCells:
    windows, jc_map = programme_windows(programme)
    jcs = cells.frame["jobcentre"].astype(str)
    jc_window = pd.Series(
        jcs.map(jc_map).fillna(-1).astype(int).to_numpy(), index=cells.frame.index
    )
    return SOFCells(
        cells, _spell_frame(total.spells), design, windows, jc_window, total.panel_audit,
        tuple(sorted(str(j) for j in jc_map)),
    )


def _gathered(total: PartSummary, programme: pd.DataFrame, monitoring: Any) -> StudyData:
    """The partitions put together, spells ordered by id.

    That is the in-process engine's order for files sorted by spell id (as ``write_study``
    and ``SyntheticStudy.write_csv`` write them).
    """

    def cat(name: str, keys: list[str]) -> pd.DataFrame:
        frames = [getattr(t, name) for t in total.tables]
        out = pd.concat(frames, ignore_index=True) if frames else empty_table(name)
        return out.sort_values(keys, kind="mergesort").reset_index(drop=True)

    return StudyData(
        spells=cat("spells", ["spell_id"]),
        meetings=cat("meetings", ["spell_id"]),
        interventions=cat("interventions", ["spell_id"]),
        programme=programme,
        monitoring=monitoring,
    )


def assemble(
    total: PartSummary,
    *,
    keys: Sequence[str],
    kinds: dict[str, str],
    categories: dict[str, tuple[object, ...]],
    bins: dict[str, CovariateBins],
    design: StudyDesign,
    programme: pd.DataFrame,
    monitoring: pd.DataFrame | None,
    audits: Sequence[pd.DataFrame],
    n_spells: int,
    study_end: pd.Timestamp,
    has_visitation: bool,
    n_partitions: int,
    gathered: bool,
) -> ReducedStudy:
    """The :class:`ReducedStudy` of the summed partition summaries ``total``.

    ``audits`` are the partitions' validation audits (the rows the cross-partition rules
    dropped are in ``total``); ``gathered`` says whether ``total`` holds the partitions'
    tables (small studies).
    """
    cells = _cells(total, keys, kinds, categories, bins)
    return ReducedStudy(
        cells=_sof_cells(cells, total, design, programme),
        audit=sorted_audit([*audits, total.audit]),
        n_spells=n_spells,
        study_end=study_end,
        programme=programme,
        monitoring=monitoring,
        meetings=total.meetings,
        measures=total.measures,
        has_visitation=has_visitation,
        n_partitions=n_partitions,
        study=_gathered(total, programme, monitoring) if gathered else None,
    )
