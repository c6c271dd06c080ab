"""A partitioned study reduced to the SOF cells and summaries of the whole study (map-reduce).

:func:`reduce_study` runs on a ``distributed.Client``:

1. **Partitions.** A :class:`~sofeval.data.StudyDataset` gives one partition per spells piece.
   A child table hive-partitioned like the spells is read beside its spells piece; every
   row of any other child table is routed to the partition of its spell by a spell-id hash
   index (such a table is then held in worker memory once). An in-memory
   :class:`~sofeval.data.StudyData` is cut by :func:`~sofeval.engines.partitions.split_study`
   and scattered.
2. **Validation** (first pass, :func:`~sofeval.engines.partitions.check_part`): each
   partition is validated; the cross-partition rules run on hashed keys, one task per hash
   bucket (:mod:`sofeval.engines.crosscheck`). ``invalid="error"`` raises one
   :class:`~sofeval.errors.ContractError` for every broken rule of every partition;
   ``invalid="drop"`` drops and audits. A validated in-memory study skips this pass.
3. **Global design.** The data end of the whole study, the programme windows and the
   covariate bins are fixed, so every partition builds the same panel.
4. **Cells** (second pass, :func:`~sofeval.engines.partitions.summarise_part`): each
   partition is collapsed with the existing code, then a tree reduction
   (:func:`~sofeval.engines.partitions.combine`) adds the summaries up; only the result
   travels to the client: the cells (a few hundred thousand rows at any size), the spells
   counted by what the per-spell consumers read, first-meeting and measure counts.
5. **Client.** :class:`ReducedStudy` holds the :class:`~sofeval.analyses.SOFCells` of the
   whole study (its per-spell frame rebuilt from the spell counts, without ids) and the
   monitoring counts; fits, bootstraps and reports run there.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from sofeval.analyses import MonitoringResult, SOFCells
from sofeval.data import (
    EXIT_STATES,
    RULES,
    WEEK8_OFFSET,
    StudyData,
    StudyDataset,
    as_string,
    empty_table,
)
from sofeval.engines.covariates import (
    CovariateBins,
    covariate_kind,
    final_categories,
    needs_quintiles,
    quintile_bins,
)
from sofeval.engines.crosscheck import (
    CrossFlags,
    audit_error,
    bucket_count,
    by_part,
    check_dropped_ids,
    cross_partition_flags,
    id_hashes,
)
from sofeval.engines.monitoring import meeting_shares_from_counts, success_criteria_from_counts
from sofeval.engines.partitions import (
    SPELL_KEYS,
    CheckResult,
    PartInfo,
    PartSummary,
    ReducePlan,
    SmallTables,
    check_part,
    combine,
    describe_part,
    empty_audit,
    part_after_drops,
    split_study,
    summarise_part,
)
from sofeval.engines.session import gather, getitem, tree_reduce
from sofeval.errors import ContractError, EstimationError
from sofeval.panel import Cells, StudyDesign, coarsen, programme_windows
from sofeval.runtime import show_progress

__all__ = ["Part", "ReducedStudy", "reduce_study"]

_CHILDREN = ("meetings", "interventions")


@dataclass(frozen=True)
class Part:
    """The sources of one partition (dataset pieces, frames or futures of frames)."""

    label: str
    spells: Any
    meetings: Any
    interventions: Any

    def args(self, index: int) -> tuple[Any, ...]:
        """Positional arguments of the partition tasks."""
        return (index, self.label, self.spells, self.meetings, self.interventions)


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


# --- partitions ----------------------------------------------------------------------------


def _route_children(
    client: Any, ds: StudyDataset, names: Sequence[str], spells_pieces: Sequence[Any]
) -> dict[str, list[list[Any]]]:
    """Per child table in ``names`` and partition, futures of the rows whose spell is there."""
    n_parts = len(spells_pieces)
    index = client.gather(
        [client.submit(_raw_id_hashes, p, pure=False) for p in spells_pieces]
    )
    hashes = np.concatenate(index) if index else np.zeros(0, np.uint64)
    owner = np.concatenate([np.full(len(h), k, np.int64) for k, h in enumerate(index)])
    order = np.argsort(hashes, kind="stable")
    table = client.scatter((hashes[order], owner[order]), broadcast=True)
    out: dict[str, list[list[Any]]] = {}
    for name in names:
        routed = [
            client.submit(_route_piece, piece, table, n_parts, pure=False)
            for piece in ds.children[name].pieces
        ]
        out[name] = [[getitem(client, r, k) for r in routed] for k in range(n_parts)]
    return out


def _raw_id_hashes(piece: Any) -> np.ndarray:
    """Hashes of the (coerced, unvalidated) spell ids of a spells piece."""
    df = piece.read()
    return id_hashes(as_string(df["spell_id"]).fillna("").to_numpy(object))


def _route_piece(piece: Any, table: tuple[np.ndarray, np.ndarray], n_parts: int) -> list[Any]:
    """A child piece cut by the partition of each row's spell (unknown spells: partition 0)."""
    hashes, owner = table
    df = piece.read()
    h = id_hashes(as_string(df["spell_id"]).fillna("").to_numpy(object))
    pos = np.clip(np.searchsorted(hashes, h), 0, max(len(hashes) - 1, 0))
    found = (hashes[pos] == h) if len(hashes) else np.zeros(len(h), dtype=bool)
    part = np.where(found, owner[pos] if len(owner) else 0, 0)
    return [df[part == k].reset_index(drop=True) for k in range(n_parts)]


def _dataset_parts(client: Any, ds: StudyDataset) -> tuple[list[Part], SmallTables]:
    """Partitions of a dataset: co-partitioned children beside their spells, else routed."""
    pieces = list(ds.spells.pieces)
    small = SmallTables(
        ds.programme, ds.monitoring, ds.invalid, ds.jobcentres, False, tuple(ds.children)
    )
    kids: dict[str, list[Any]] = {}
    keys = [p.keys for p in pieces]
    for name, dataset in ds.children.items():
        if not ds.aligned(name):
            continue
        by_key = dataset.by_keys()
        lists: list[Any] = [[by_key[k]] if k in by_key else [] for k in keys]
        lost = [p for k, p in by_key.items() if k not in set(keys)]
        lists[0] = lists[0] + lost  # children without a spells piece: unknown spells
        kids[name] = lists
    routed = [name for name in ds.children if not ds.aligned(name)]
    if routed:
        kids |= _route_children(client, ds, routed, pieces)
    parts = [
        Part(p.label, p, kids.get("meetings", [None] * len(pieces))[k],
             kids.get("interventions", [None] * len(pieces))[k])
        for k, p in enumerate(pieces)
    ]
    return parts, small


def _study_parts(
    client: Any, study: StudyData, partitions: np.ndarray | int
) -> tuple[list[Part], SmallTables]:
    """Partitions of an in-memory validated study, scattered to the workers."""
    pieces = split_study(study, partitions)
    futures = client.scatter(pieces)
    parts = [
        Part(f"part {k}", getitem(client, f, "spells"), getitem(client, f, "meetings"),
             getitem(client, f, "interventions"))
        for k, f in enumerate(futures)
    ]
    small = SmallTables(study.programme, study.monitoring, "error", None, True, _CHILDREN)
    return parts, small


# --- first pass: validation and the cross-partition rules ------------------------------------


def _bucket(result: CheckResult, b: int) -> tuple[Any, Any, Any]:
    return result.ids[b], result.keys[b], result.orphans[b]


def _bucket_flags(persons_grouped: bool, *triples: tuple[Any, Any, Any]) -> CrossFlags:
    ids, keys, orphans = zip(*triples, strict=True) if triples else ((), (), ())
    return cross_partition_flags(list(ids), list(keys), list(orphans), persons_grouped)


def _check(
    client: Any, parts: Sequence[Part], small: SmallTables, persons_grouped: bool,
    progress: bool | None,
) -> tuple[list[PartInfo], CrossFlags]:
    """First pass: validated partitions' infos and the flags of the cross-partition rules."""
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    n_buckets = min(bucket_count(len(parts)), max(2, 2 * n_workers))
    results = [
        client.submit(check_part, *p.args(k), small, n_buckets, pure=False)
        for k, p in enumerate(parts)
    ]
    infos = gather(
        client, [client.submit(operator.attrgetter("info"), r, pure=False) for r in results],
        progress, "validate",
    )
    flags = [
        client.submit(
            _bucket_flags, persons_grouped,
            *[client.submit(_bucket, r, b, pure=False) for r in results], pure=False,
        )
        for b in range(n_buckets)
    ]
    found = CrossFlags.concat(client.gather(flags))
    del results, flags
    return infos, found


def _misplaced_error(infos: Sequence[PartInfo], misplaced: pd.DataFrame) -> ContractError:
    rows = []
    for info in infos:
        a = info.audit[info.audit["rule"] == "unknown_spell"]
        h = id_hashes(a["row_id"].astype(str).to_numpy(object))
        hit = np.isin(h, misplaced.loc[misplaced["part"] == info.index, "spell"].to_numpy())
        rows.append(a[hit].assign(part=info.label))
    bad = pd.concat(rows, ignore_index=True)
    ids = tuple(pd.unique(bad["row_id"].astype(str)).tolist())
    tables = ", ".join(sorted(bad["table"].unique()))
    return ContractError(
        f"{tables}: {len(bad)} row(s) are stored in another partition than their spell "
        f"(spell ids: {', '.join(ids[:10])}; partitions: "
        f"{', '.join(pd.unique(bad['part'])[:10])}). Partition the child tables like the "
        "spells (the same hive keys, a spell's rows beside it), or give them as one file or a "
        "non-hive glob so that the engine routes them by spell id.",
        table=tables.split(", ")[0],
        rule="partition_mismatch",
        rows=ids[:10],
    )


def _cross_audit(
    client: Any, parts: Sequence[Part], small: SmallTables, flags: CrossFlags
) -> pd.DataFrame:
    """Audit rows of the cross-partition rules, with ids (for ``invalid="error"``)."""
    wanted = pd.concat([flags.duplicate, flags.overlap], ignore_index=True)
    frames = client.gather([
        client.submit(describe_part, *parts[k].args(k), small, hashes, pure=False)
        for k, hashes in by_part(wanted).items()
    ])
    named = pd.concat(frames, ignore_index=True).drop_duplicates("spell")
    dup = named[named["spell"].isin(flags.duplicate["spell"])]
    ovl = named[named["spell"].isin(flags.overlap["spell"]) & ~named["spell"].isin(dup["spell"])]
    return pd.concat(
        [
            pd.DataFrame({"table": "spells", "row_id": dup["spell_id"], "rule":
                          "duplicate_spell_id", "detail": "spell_id occurs more than once"}),
            pd.DataFrame({"table": "spells", "row_id": ovl["spell_id"], "rule":
                          "overlapping_spells",
                          "detail": "overlaps another spell of person_id " + ovl["person_id"]}),
        ],
        ignore_index=True,
    )


def _sorted_audit(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
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


# --- second pass and the assembly on the client --------------------------------------------


def _summarise(
    client: Any, parts: Sequence[Part], small: SmallTables, plan: ReducePlan,
    progress: bool | None,
) -> PartSummary:
    futures = [
        client.submit(summarise_part, *p.args(k), small, plan, pure=False)
        for k, p in enumerate(parts)
    ]
    if show_progress(progress):
        gather(client, [client.submit(bool, f, pure=False) for f in futures], progress, "cells")
    total = client.gather(tree_reduce(client, combine, futures))
    if total is None:
        raise EstimationError("spells: no partition has a spell left to analyse.")
    return total


def _bins(covariates: Sequence[str], kinds: dict[str, str]) -> dict[str, CovariateBins]:
    """First attempt: numeric covariates (other than ``age``) binned per value."""
    return {c: CovariateBins("values") for c in covariates if kinds.get(c) == "numeric"}


def _quintiles(total: PartSummary, bins: dict[str, CovariateBins]) -> dict[str, CovariateBins]:
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


def reduce_study(
    source: StudyData | StudyDataset,
    design: StudyDesign | None = None,
    covariates: Sequence[str] = (),
    *,
    client: Any,
    partitions: np.ndarray | int | None = None,
    gather_below: int = 0,
    persons_grouped: bool = False,
    progress: bool | None = None,
) -> ReducedStudy:
    """Reduce a partitioned study to the SOF cells and summaries (see the module docstring).

    Parameters
    ----------
    source
        A :class:`~sofeval.data.StudyDataset` (validated per partition here) or a validated
        :class:`~sofeval.data.StudyData` (cut into ``partitions``).
    design
        Panel rules (default :class:`~sofeval.panel.StudyDesign`).
    covariates
        Covariates of the cells (binned as ``bin_covariates`` bins the whole study).
    client
        A ``distributed.Client``.
    partitions
        For an in-memory study: partition of every spell, or a number of partitions of
        consecutive spells (default: two per worker).
    gather_below
        Gather the validated study to the client when it has at most this many spells.
    persons_grouped
        The spells partitioning keeps every person in one partition: skip the
        cross-partition overlap rule.
    progress
        Progress bars over partitions (default: only on a terminal).

    Returns
    -------
    ReducedStudy
    """
    design = design or StudyDesign()
    covs = tuple(covariates)
    if isinstance(source, StudyDataset):
        parts, small = _dataset_parts(client, source)
        infos, flags = _check(client, parts, small, persons_grouped, progress)
        programme, monitoring = infos[0].programme, infos[0].monitoring
        local = [i.audit for i in infos]
        if not flags.misplaced.empty:
            raise _misplaced_error(infos, flags.misplaced)
        if source.invalid == "error" and (any(len(a) for a in local) or not flags.empty):
            cross = _cross_audit(client, parts, small, flags) if not flags.empty else empty_audit()
            raise audit_error(_sorted_audit([*local, cross]))
        n_spells = sum(i.n_spells for i in infos)
        ends = [i.study_end for i in infos]
        kinds = next((i.kinds for i in infos if i.n_spells), {})
        categories = next((i.categories for i in infos if i.n_spells), {})
        has_visitation = any("visitation_category" in i.columns for i in infos)
    else:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        parts, small = _study_parts(
            client, source, 2 * n_workers if partitions is None else partitions
        )
        programme, monitoring = source.programme, source.monitoring
        local, flags = [source.audit], CrossFlags.concat([])
        n_spells, ends = len(source.spells), [source.data_end()]
        kinds = {str(c): covariate_kind(str(c), source.spells[c]) for c in covs}
        categories = {c: tuple(source.spells[c].cat.categories) for c in covs
                      if kinds[c] == "categorical"}
        has_visitation = "visitation_category" in source.spells.columns
    if programme is None:
        programme = empty_table("programme")
    dropped = flags.dropped()
    plan = ReducePlan(
        design=design,
        study_end=pd.Timestamp("NaT"),
        programme=programme,
        monitoring=monitoring,
        keys=("jobcentre", "week", "month", "exposure", "D", "link_month", *covs),
        covariates=covs,
        duplicate=by_part(flags.duplicate),
        overlap=by_part(flags.overlap),
    )
    if dropped:  # a dropped spell may have held the study's last date
        ends = list(ends)
        counts = {i.index: i.n_spells for i in infos}
        after = client.gather({
            k: client.submit(part_after_drops, *parts[k].args(k), small, plan, pure=False)
            for k in dropped
        })
        for k, (end, n) in after.items():
            ends[k], counts[k] = end, n
        n_spells = sum(counts.values())
    study_end = pd.Series(ends, dtype="datetime64[ns]").max()
    resolved = replace(design, data_end=design.data_end if design.data_end is not None
                       else study_end)
    plan = replace(plan, design=resolved, study_end=study_end,
                   bins=_bins(covs, kinds), gather=n_spells <= gather_below)
    total = _summarise(client, parts, small, plan, progress)
    bins = _quintiles(total, plan.bins)
    if bins != plan.bins:  # a numeric covariate has too many values: bin by global quintiles
        plan = replace(plan, bins=bins)
        total = _summarise(client, parts, small, plan, progress)
    check_dropped_ids(total.dropped)
    cells = _cells(total, plan.keys, kinds, categories, plan.bins)
    return ReducedStudy(
        cells=_sof_cells(cells, total, design, programme),
        audit=_sorted_audit([*local, total.audit]),
        n_spells=n_spells,
        study_end=study_end,
        programme=programme,
        monitoring=monitoring,
        meetings=total.meetings,
        measures=total.measures,
        has_visitation=has_visitation,
        n_partitions=len(parts),
        study=_gathered(total, programme, monitoring) if plan.gather else None,
    )
