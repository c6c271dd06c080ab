"""Second pass over a partition: its cells and counts, and adding summaries up.

:func:`summarise_study` collapses a validated partition with the existing code
(:func:`sofeval.panel.cells_with_spell_frame`) under the study's global design: the data end
and programme windows of the whole study, covariate bins fixed in advance, after dropping what
the cross-partition rules flagged. It returns a :class:`PartSummary`: the cells, the spells
counted by what the per-spell consumers read, the first-meeting and measure counts of the
monitoring and the panel audit. :func:`combine` adds summaries up; the engine calls it in a
tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from sofeval.data import AUDIT_COLUMNS, StudyData
from sofeval.engines.covariates import CovariateBins, covariate_kind, prebin
from sofeval.engines.crosscheck import id_hashes
from sofeval.engines.monitoring import measure_counts, meeting_counts
from sofeval.engines.partitions import (
    CHILD_TABLES,
    NAT,
    SmallTables,
    TableSource,
    empty_audit,
    load_tables,
    validate_part,
)
from sofeval.panel import CHUNK_SIZE, StudyDesign, cells_with_spell_frame

__all__ = [
    "SPELL_KEYS",
    "PartSummary",
    "ReducePlan",
    "combine",
    "local_bins",
    "part_after_drops",
    "summarise_part",
    "summarise_study",
]

#: Columns of the per-spell frame the spell counts keep (what its consumers read).
SPELL_KEYS: tuple[str, ...] = (
    "jobcentre",
    "w8_date",
    "entry_week",
    "last_week",
    "event_state",
    "link_month",
    "exposure",
    "D",
)
@dataclass(frozen=True)
class ReducePlan:
    """What the second pass needs to know about the whole study.

    Attributes
    ----------
    design
        Panel rules with the study's ``data_end`` resolved.
    study_end
        ``StudyData.data_end()`` of the whole study (the measure sample's data end).
    programme, monitoring
        The validated small tables.
    keys, covariates
        Cell keys and covariates (as ``sof_cells`` keys them).
    bins
        How each covariate is binned (:class:`~sofeval.engines.covariates.CovariateBins`);
        ``None``: each partition applies :func:`local_bins` (the first attempt).
    duplicate, overlap
        Per partition, the spell-id hashes the cross-partition rules flagged.
    gather
        Return the validated tables too (small studies: the Cox cross-check).
    """

    design: StudyDesign
    study_end: pd.Timestamp
    programme: pd.DataFrame
    monitoring: pd.DataFrame | None
    keys: tuple[str, ...]
    covariates: tuple[str, ...]
    bins: dict[str, CovariateBins] | None = field(default_factory=dict)
    duplicate: dict[int, np.ndarray] = field(default_factory=dict)
    overlap: dict[int, np.ndarray] = field(default_factory=dict)
    gather: bool = False


@dataclass(frozen=True)
class PartSummary:
    """What a partition (or several, combined) contributes to the whole study.

    Attributes
    ----------
    cells
        Cell frame (keys, ``at_risk``, event counts); jobcentre and covariates categorical.
    spells
        Used spells counted by :data:`SPELL_KEYS` (``n``); not re-grouped when combined.
    meetings, measures
        :func:`~sofeval.engines.monitoring.meeting_counts` and
        :func:`~sofeval.engines.monitoring.measure_counts`.
    panel_audit
        Panel audit summary (``item``, ``value``).
    jobcentres
        Jobcentres of every validated spell (the cells' categories).
    audit
        Rows dropped with the spells of the cross-partition rules (``invalid="drop"``).
    dropped
        ``spell`` (hash) and ``spell_id`` of those spells (to rule out hash collisions).
    values
        Per covariate binned per value: counts of each value over the used spells.
    tables
        The validated partitions when the plan gathers them, in partition order.
    """

    cells: pd.DataFrame
    spells: pd.DataFrame
    meetings: pd.DataFrame
    measures: pd.DataFrame
    panel_audit: pd.DataFrame
    jobcentres: frozenset[str]
    audit: pd.DataFrame
    dropped: pd.DataFrame
    values: dict[str, pd.Series] = field(default_factory=dict)
    tables: tuple[StudyData, ...] = ()


def _drop_flagged(
    study: StudyData, plan: ReducePlan, index: int
) -> tuple[StudyData, pd.DataFrame, pd.DataFrame]:
    """Drop the spells the cross-partition rules flagged and their children, with an audit."""
    dup = plan.duplicate.get(index, np.zeros(0, np.uint64))
    ovl = plan.overlap.get(index, np.zeros(0, np.uint64))
    none = pd.DataFrame({"spell": pd.Series([], dtype=np.uint64), "spell_id": []})
    if not len(dup) and not len(ovl):
        return study, empty_audit(), none
    sp = study.spells
    h = id_hashes(sp["spell_id"])
    is_dup, is_ovl = np.isin(h, dup), np.isin(h, ovl) & ~np.isin(h, dup)
    ids = sp["spell_id"].astype(str)
    rows = [
        pd.DataFrame({"table": "spells", "row_id": ids[is_dup].to_numpy(object),
                      "rule": "duplicate_spell_id", "detail": "spell_id occurs more than once"}),
        pd.DataFrame({"table": "spells", "row_id": ids[is_ovl].to_numpy(object),
                      "rule": "overlapping_spells",
                      "detail": ("overlaps another spell of person_id "
                                 + sp.loc[is_ovl, "person_id"].astype(str)).to_numpy(object)}),
    ]
    gone = set(ids[is_dup | is_ovl])
    kids: dict[str, pd.DataFrame] = {}
    for name in CHILD_TABLES:
        df = getattr(study, name)
        hit = df["spell_id"].astype(str).isin(gone).to_numpy()
        rows.append(pd.DataFrame({"table": name, "row_id": df.loc[hit, "spell_id"].astype(str),
                                  "rule": "parent_spell_dropped",
                                  "detail": "its spell was dropped"}))
        kids[name] = df.loc[~hit].reset_index(drop=True)
    keep = ~(is_dup | is_ovl)
    out = replace(study, spells=sp.loc[keep].reset_index(drop=True), **kids)
    dropped = pd.DataFrame({"spell": h[~keep], "spell_id": ids[~keep].to_numpy(object)})
    return out, pd.concat(rows, ignore_index=True)[list(AUDIT_COLUMNS)], dropped


def _spell_counts(sf: pd.DataFrame) -> pd.DataFrame:
    """Used spells counted by :data:`SPELL_KEYS` (compact dtypes)."""
    frame = sf.loc[:, list(SPELL_KEYS)]
    frame = frame.assign(jobcentre=pd.Categorical(frame["jobcentre"].astype(str)))
    return (
        frame.groupby(list(SPELL_KEYS), observed=True, sort=False, dropna=False)
        .size()
        .rename("n")
        .astype("int32")
        .reset_index()
    )


def local_bins(covariates: Sequence[str], spells: pd.DataFrame) -> dict[str, CovariateBins]:
    """First-attempt bins: numeric covariates (other than ``age``) binned per value.

    The client decides the same from the partitions' column kinds; a partition that sees
    another dtype than the others makes the client summarise again with its bins.
    """
    return {
        c: CovariateBins("values")
        for c in covariates
        if c in spells.columns and covariate_kind(c, spells[c]) == "numeric"
    }


def summarise_study(index: int, study: StudyData, plan: ReducePlan) -> PartSummary | None:
    """Summarise one validated partition (see the module docstring); ``None`` if empty."""
    study, audit, dropped = _drop_flagged(study, plan, index)
    if len(study.spells) == 0:
        return None
    bins = plan.bins if plan.bins is not None else local_bins(plan.covariates, study.spells)
    study = replace(
        study,
        spells=prebin(study.spells, bins),
        programme=plan.programme,
        monitoring=plan.monitoring,
    )
    covs = list(plan.covariates)
    cells, prep, sf = cells_with_spell_frame(
        study, plan.design, plan.keys, covs or None, CHUNK_SIZE, False, False
    )
    values = {
        c: study.spells.loc[sf.index, c].astype(object).value_counts(dropna=True)
        for c, b in bins.items()
        if b.mode == "values" and c in study.spells.columns
    }
    return PartSummary(
        cells=cells.frame,
        spells=_spell_counts(sf),
        meetings=meeting_counts(study),
        measures=measure_counts(study, plan.study_end, plan.programme),
        panel_audit=prep.audit.summary,
        jobcentres=frozenset(map(str, prep.jc_categories)),
        audit=audit,
        dropped=dropped,
        values=values,
        tables=(study,) if plan.gather else (),
    )


def summarise_part(
    index: int,
    label: str,
    spells: TableSource,
    meetings: TableSource,
    interventions: TableSource,
    small: SmallTables,
    plan: ReducePlan,
) -> PartSummary | None:
    """Read, validate and summarise one partition; ``None`` without spells."""
    tables = load_tables(spells, meetings, interventions, small)
    study, _ = validate_part(tables, small, label)
    return None if study is None else summarise_study(index, study, plan)


def part_after_drops(
    index: int,
    label: str,
    spells: TableSource,
    meetings: TableSource,
    interventions: TableSource,
    small: SmallTables,
    plan: ReducePlan,
) -> tuple[pd.Timestamp, int]:
    """``StudyData.data_end()`` and spells of a partition after the cross-partition drops."""
    tables = load_tables(spells, meetings, interventions, small)
    study, _ = validate_part(tables, small, label)
    if study is None:
        return NAT, 0
    study, _, _ = _drop_flagged(study, plan, index)
    n = len(study.spells)
    return (study.data_end() if n else NAT), n


def _union_categoricals(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """The frames with every categorical column recoded to the sorted union of categories."""
    cols = [c for c in frames[0].columns if isinstance(frames[0][c].dtype, pd.CategoricalDtype)]
    out = [f.copy() for f in frames]
    for c in cols:
        u = union_categoricals([f[c] for f in frames], sort_categories=True, ignore_order=True)
        for f in out:
            f[c] = f[c].cat.set_categories(u.categories)
    return out


def _sum_by(frames: Sequence[pd.DataFrame], keys: Sequence[str], counts: Sequence[str]) -> Any:
    frames = [f for f in frames if f is not None]
    both = pd.concat(_union_categoricals(frames), ignore_index=True)
    if not keys:
        return both[list(counts)].sum().to_frame().T
    g = both.groupby(list(keys), observed=True, dropna=False, sort=False)[list(counts)].sum()
    return g.reset_index()


def combine(*parts: PartSummary | None) -> PartSummary | None:
    """Add partition summaries up (counts summed, spell counts and tables concatenated)."""
    got = [p for p in parts if p is not None]
    if len(got) <= 1:
        return got[0] if got else None
    cell_counts = [c for c in got[0].cells.columns if c == "at_risk" or c.startswith("event")]
    cell_keys = [c for c in got[0].cells.columns if c not in cell_counts]
    audit_sum = got[0].panel_audit.copy()
    audit_sum["value"] = np.sum([p.panel_audit["value"].to_numpy() for p in got], axis=0)
    values: dict[str, pd.Series] = {}
    for p in got:
        for c, v in p.values.items():
            values[c] = v if c not in values else values[c].add(v, fill_value=0).astype("int64")
    return PartSummary(
        cells=_sum_by([p.cells for p in got], cell_keys, cell_counts),
        spells=pd.concat(_union_categoricals([p.spells for p in got]), ignore_index=True),
        meetings=_sum_by([p.meetings for p in got], ["jobcentre", "month", "v23"],
                         ["first_meetings", "workplace_meetings"]),
        measures=_sum_by([p.measures for p in got], ["jobcentre", "link_month", "D", "measure"],
                         ["n"]),
        panel_audit=audit_sum,
        jobcentres=frozenset().union(*(p.jobcentres for p in got)),
        audit=pd.concat([p.audit for p in got], ignore_index=True),
        dropped=pd.concat([p.dropped for p in got], ignore_index=True),
        values=values,
        tables=tuple(t for p in got for t in p.tables),
    )
