"""A partitioned study reduced to the SOF cells and summaries of the whole study (map-reduce).

:func:`reduce_study` runs on a ``distributed.Client``:

1. **Partitions.** A :class:`~sofeval.data.StudyDataset` gives one partition per spells piece.
   A child table hive-partitioned like the spells is read beside its spells piece; every
   row of any other child table is routed to the partition of its spell by a spell-id hash
   index (such a table is then held in worker memory once). An in-memory
   :class:`~sofeval.data.StudyData` is cut by :func:`~sofeval.engines.partitions.split_study`
   and scattered.
2. **First pass** (:func:`~sofeval.engines.validate.check_part`). The spells' date columns are
   read alone for a provisional data end; then each partition is validated, its hash keys go
   to the cross-partition rules (one task per hash bucket, :mod:`sofeval.engines.crosscheck`)
   and it is summarised under the provisional plan. ``invalid="error"`` raises one
   :class:`~sofeval.errors.ContractError` for every broken rule of every partition;
   ``invalid="drop"`` drops and audits. A validated in-memory study skips this pass.
3. **Global design.** The data end of the whole study (after the cross-partition drops), the
   programme windows and the covariate bins are fixed, so every partition builds the same
   panel.
4. **Second pass** (:func:`~sofeval.engines.summaries.summarise_part`), only where the
   provisional summary is not final (a partition that lost spells to a cross-partition rule,
   or every partition when the validated data end differs from the raw one or a covariate
   needs quintiles): each partition is collapsed with the existing code; then a tree
   reduction (:func:`~sofeval.engines.summaries.combine`) adds the summaries up. Only the
   result travels to the client: the cells (a few hundred thousand rows at any size), the
   spells counted by what the per-spell consumers read, first-meeting and measure counts.
5. **Client.** :func:`~sofeval.engines.assemble.assemble` gives the
   :class:`~sofeval.engines.assemble.ReducedStudy`: the :class:`~sofeval.analyses.SOFCells` of
   the whole study and the monitoring counts; fits, bootstraps and reports run there.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from sofeval.data import StudyData, StudyDataset, as_string
from sofeval.engines.assemble import ReducedStudy, assemble, quintiles, sorted_audit
from sofeval.engines.covariates import CovariateBins, covariate_kind
from sofeval.engines.crosscheck import (
    CrossFlags,
    audit_error,
    bucket_count,
    by_part,
    check_dropped_ids,
    cross_partition_flags,
    id_hashes,
)
from sofeval.engines.partitions import SmallTables, empty_audit, split_study, validate_small
from sofeval.engines.session import gather, getitem, tree_reduce
from sofeval.engines.summaries import (
    PartSummary,
    ReducePlan,
    combine,
    part_after_drops,
    summarise_part,
)
from sofeval.engines.validate import CheckResult, PartInfo, check_part, describe_part, raw_dates
from sofeval.errors import ContractError, EstimationError
from sofeval.panel import StudyDesign
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


# --- the passes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _FirstPass:
    """What the client knows after the first pass (or, for a validated study, at once)."""

    parts: list[Part]
    small: SmallTables
    programme: pd.DataFrame
    monitoring: pd.DataFrame | None
    audits: list[pd.DataFrame]
    flags: CrossFlags
    counts: dict[int, int]
    ends: dict[int, pd.Timestamp]
    kinds: dict[str, str]
    categories: dict[str, tuple[object, ...]]
    consistent: bool
    has_visitation: bool
    plan: ReducePlan | None = None
    summaries: list[Any] | None = None


def _keys(covariates: Sequence[str]) -> tuple[str, ...]:
    return ("jobcentre", "week", "month", "exposure", "D", "link_month", *covariates)


def _resolved(design: StudyDesign, study_end: pd.Timestamp) -> StudyDesign:
    return replace(design, data_end=design.data_end if design.data_end is not None else study_end)


def _first_pass(
    client: Any, ds: StudyDataset, design: StudyDesign, covs: tuple[str, ...],
    gather_below: int, persons_grouped: bool, progress: bool | None,
) -> _FirstPass:
    """Validate every partition, apply the cross-partition rules and summarise provisionally.

    The provisional plan takes the data end from the raw dates (read alone first); when the
    validated dates agree and nothing is dropped across partitions, the provisional summaries
    are the final ones and the data are read once.
    """
    parts, small = _dataset_parts(client, ds)
    programme, monitoring = validate_small(small)
    dates = client.gather([client.submit(raw_dates, p.spells, pure=False) for p in parts])
    raw_end = pd.Series([d for _, d in dates], dtype="datetime64[ns]").max()
    plan0 = ReducePlan(
        design=_resolved(design, raw_end), study_end=raw_end, programme=programme,
        monitoring=monitoring, keys=_keys(covs), covariates=covs, bins=None,
        gather=sum(n for n, _ in dates) <= gather_below,
    )
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    n_buckets = min(bucket_count(len(parts)), max(2, 2 * n_workers))
    results = [
        client.submit(check_part, *p.args(k), small, n_buckets, plan0, pure=False)
        for k, p in enumerate(parts)
    ]
    infos: list[PartInfo] = gather(
        client, [client.submit(operator.attrgetter("info"), r, pure=False) for r in results],
        progress, "validate",
    )
    flags = CrossFlags.concat(client.gather([
        client.submit(
            _bucket_flags, persons_grouped,
            *[client.submit(_bucket, r, b, pure=False) for r in results], pure=False,
        )
        for b in range(n_buckets)
    ]))
    audits = [i.audit for i in infos]
    if not flags.misplaced.empty:
        raise _misplaced_error(infos, flags.misplaced)
    if ds.invalid == "error" and (any(len(a) for a in audits) or not flags.empty):
        cross = _cross_audit(client, parts, small, flags) if not flags.empty else empty_audit()
        raise audit_error(sorted_audit([*audits, cross]), audience=ds.audience)
    filled = [i for i in infos if i.n_spells]
    kinds = {c: filled[0].kinds[c] for c in covs if filled and c in filled[0].kinds}
    return _FirstPass(
        parts=parts,
        small=small,
        programme=programme,
        monitoring=monitoring,
        audits=audits,
        flags=flags,
        counts={i.index: i.n_spells for i in infos},
        ends={i.index: i.study_end for i in infos},
        kinds=kinds,
        categories=next((i.categories for i in filled), {}),
        consistent=all({c: i.kinds.get(c) for c in kinds} == kinds for i in filled),
        has_visitation=any("visitation_category" in i.columns for i in infos),
        plan=plan0,
        summaries=[client.submit(operator.attrgetter("summary"), r, pure=False)
                   for r in results],
    )


def _in_memory(
    client: Any, study: StudyData, covs: tuple[str, ...], partitions: np.ndarray | int | None
) -> _FirstPass:
    """A validated in-memory study: cut, scattered, nothing to validate."""
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    cut = 2 * n_workers if partitions is None else partitions
    parts, small = _study_parts(client, study, cut)
    programme, monitoring = validate_small(small)
    kinds = {str(c): covariate_kind(str(c), study.spells[c]) for c in covs}
    return _FirstPass(
        parts=parts,
        small=small,
        programme=programme,
        monitoring=monitoring,
        audits=[study.audit],
        flags=CrossFlags.concat([]),
        counts={0: len(study.spells)},
        ends={0: study.data_end()},
        kinds=kinds,
        categories={c: tuple(study.spells[c].cat.categories) for c in covs
                    if kinds[c] == "categorical"},
        consistent=True,
        has_visitation="visitation_category" in study.spells.columns,
    )


def _bins(covariates: Sequence[str], kinds: dict[str, str]) -> dict[str, CovariateBins]:
    """First attempt: numeric covariates (other than ``age``) binned per value."""
    return {c: CovariateBins("values") for c in covariates if kinds.get(c) == "numeric"}


def _final_plan(
    client: Any, first: _FirstPass, design: StudyDesign, covs: tuple[str, ...],
    gather_below: int,
) -> tuple[ReducePlan, int, pd.Timestamp]:
    """The plan of the whole study: its data end and size after the cross-partition drops."""
    plan = ReducePlan(
        design=design, study_end=pd.Timestamp("NaT"), programme=first.programme,
        monitoring=first.monitoring, keys=_keys(covs), covariates=covs,
        bins=_bins(covs, first.kinds), duplicate=by_part(first.flags.duplicate),
        overlap=by_part(first.flags.overlap),
    )
    counts, ends = dict(first.counts), dict(first.ends)
    dropped = first.flags.dropped()
    if dropped:  # a dropped spell may have held the study's last date
        after = client.gather({
            k: client.submit(part_after_drops, *first.parts[k].args(k), first.small, plan,
                             pure=False)
            for k in dropped
        })
        for k, (end, n) in after.items():
            ends[k], counts[k] = end, n
    n_spells = sum(counts.values())
    study_end = pd.Series(list(ends.values()), dtype="datetime64[ns]").max()
    plan = replace(plan, design=_resolved(design, study_end), study_end=study_end,
                   gather=n_spells <= gather_below)
    return plan, n_spells, study_end


def _reusable(first: _FirstPass, plan: ReducePlan) -> set[int]:
    """Partitions whose provisional summary is final."""
    p0 = first.plan
    if p0 is None or first.summaries is None or not first.consistent:
        return set()
    same = (p0.design == plan.design and p0.study_end == plan.study_end
            and p0.gather == plan.gather)
    if not same:
        return set()
    return set(range(len(first.parts))) - set(first.flags.dropped())


def _second_pass(
    client: Any, first: _FirstPass, plan: ReducePlan, reuse: set[int], progress: bool | None
) -> PartSummary:
    """Summaries of every partition (recomputed where the provisional one is not final)."""
    futures = [
        first.summaries[k] if first.summaries is not None and k in reuse else
        client.submit(summarise_part, *p.args(k), first.small, plan, pure=False)
        for k, p in enumerate(first.parts)
    ]
    if show_progress(progress) and len(reuse) < len(futures):
        gather(client, [client.submit(bool, f, pure=False) for f in futures], progress, "cells")
    total = client.gather(tree_reduce(client, combine, futures))
    if total is None:
        raise EstimationError("spells: no partition has a spell left to analyse.")
    return total


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
        first = _first_pass(client, source, design, covs, gather_below, persons_grouped,
                            progress)
    else:
        first = _in_memory(client, source, covs, partitions)
    plan, n_spells, study_end = _final_plan(client, first, design, covs, gather_below)
    total = _second_pass(client, first, plan, _reusable(first, plan), progress)
    bins = quintiles(total, plan.bins or {})
    if bins != plan.bins:  # a numeric covariate has too many values: bin by global quintiles
        plan = replace(plan, bins=bins)
        total = _second_pass(client, first, plan, set(), progress)
    check_dropped_ids(total.dropped)
    return assemble(
        total,
        keys=plan.keys,
        kinds=first.kinds,
        categories=first.categories,
        bins=plan.bins or {},
        design=design,
        programme=first.programme,
        monitoring=first.monitoring,
        audits=first.audits,
        n_spells=n_spells,
        study_end=study_end,
        has_visitation=first.has_visitation,
        n_partitions=len(first.parts),
        gathered=plan.gather,
    )
