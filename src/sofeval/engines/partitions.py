"""What one partition computes: validation, cross-partition keys, cells and summaries.

Every function here is pure and runs on a worker (or in this process for tests): it takes the
tables of one partition and returns small results. A partition is a piece of the spells with
its spells' meetings and interventions (:mod:`sofeval.data.partitioned`, or a slice of an
in-memory study made by :func:`split_study`).

* :func:`check_part` (first pass): validate the partition (``validate_study`` with
  ``invalid="drop"``, its audit kept for either mode), report its data end, jobcentres,
  columns and covariate kinds, and the hash keys of the cross-partition rules
  (:mod:`sofeval.engines.crosscheck`), cut into buckets.
* :func:`summarise_part` (second pass): validate again, drop what the cross-partition rules
  flagged, and collapse the partition with the existing code
  (:func:`sofeval.panel.cells_with_spell_frame`) under the study's global design: the data end
  and programme windows of the whole study, covariate bins fixed in advance. It returns a
  :class:`PartSummary`: the cells, the spells counted by what the per-spell consumers read,
  the first-meeting and measure counts of the monitoring, the panel audit.
* :func:`combine` adds summaries up; the engine calls it in a tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from sofeval.data import (
    AUDIT_COLUMNS,
    DatasetPiece,
    StudyData,
    as_string,
    empty_table,
    parse_dates,
    validate_study,
)
from sofeval.engines.covariates import CovariateBins, covariate_kind, prebin
from sofeval.engines.crosscheck import SpellKeys, id_hashes, spell_keys, split_hashes, split_keys
from sofeval.engines.monitoring import measure_counts, meeting_counts
from sofeval.errors import ContractError, OptionError
from sofeval.panel import CHUNK_SIZE, StudyDesign, cells_with_spell_frame

__all__ = [
    "SPELL_KEYS",
    "CheckResult",
    "PartInfo",
    "PartSummary",
    "ReducePlan",
    "SmallTables",
    "check_part",
    "combine",
    "describe_part",
    "empty_audit",
    "load_tables",
    "part_after_drops",
    "split_study",
    "summarise_part",
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
_CHILDREN = ("meetings", "interventions")
#: A missing date typed as a timestamp (``pd.NaT`` has its own type for mypy).
_NAT: pd.Timestamp = pd.Timestamp("NaT")  # type: ignore[assignment]
_SPELL_TABLES = ("spells", "meetings", "interventions")

#: A table source of a partition: a dataset piece, a frame, several of them, or not given.
TableSource = DatasetPiece | pd.DataFrame | Sequence[DatasetPiece | pd.DataFrame] | None


def empty_audit() -> pd.DataFrame:
    """An audit without rows (as ``validate_study`` returns it)."""
    return pd.DataFrame(columns=list(AUDIT_COLUMNS), dtype=object)


@dataclass(frozen=True)
class SmallTables:
    """What every partition shares: the small tables and how to validate.

    Attributes
    ----------
    programme, monitoring
        Raw (or, with ``validated``, validated) small tables.
    invalid
        Validation mode of the run (partitions always validate with ``"drop"`` and keep
        the audit; the engine raises for ``"error"``).
    jobcentres
        Known jobcentres (rule ``unknown_jobcentre``) or ``None``.
    validated
        The partitions are slices of a validated study: no validation.
    given
        Which child tables were given at all (a table not given is not validated).
    """

    programme: pd.DataFrame | None = None
    monitoring: pd.DataFrame | None = None
    invalid: str = "error"
    jobcentres: tuple[str, ...] | None = None
    validated: bool = False
    given: tuple[str, ...] = _CHILDREN


def _read(source: TableSource) -> pd.DataFrame | None:
    if source is None:
        return None
    items = [source] if isinstance(source, (DatasetPiece, pd.DataFrame)) else list(source)
    frames = [s.read() if isinstance(s, DatasetPiece) else s for s in items]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def load_tables(
    spells: TableSource, meetings: TableSource, interventions: TableSource, small: SmallTables
) -> dict[str, pd.DataFrame | None]:
    """Raw tables of a partition (``None`` for a child table not given)."""
    out: dict[str, pd.DataFrame | None] = {"spells": _read(spells)}
    for name, src in zip(_CHILDREN, (meetings, interventions), strict=True):
        frame = _read(src) if name in small.given else None
        if frame is not None and frame.empty and not len(frame.columns):
            frame = empty_table(name)
        out[name] = frame
    return out


def _empty_part_audit(tables: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """Children of a partition without spells: every row names an unknown spell."""
    rows = []
    for name in _CHILDREN:
        df = tables.get(name)
        if df is None or df.empty or "spell_id" not in df.columns:
            continue
        ids = as_string(df["spell_id"]).fillna("missing").astype(str)
        rows.append(
            pd.DataFrame(
                {"table": name, "row_id": ids.to_numpy(object), "rule": "unknown_spell",
                 "detail": "spell_id not in spells"}
            )
        )
    return pd.concat(rows, ignore_index=True) if rows else empty_audit()


def validate_part(
    tables: Mapping[str, pd.DataFrame | None], small: SmallTables, label: str
) -> tuple[StudyData | None, pd.DataFrame]:
    """The validated partition (``None`` without spells) and its audit."""
    spells = tables["spells"]
    if spells is None or len(spells) == 0:
        return None, _empty_part_audit(tables)
    if small.validated:
        kids: dict[str, pd.DataFrame] = {}
        for k in _CHILDREN:
            frame = tables[k]
            kids[k] = empty_table(k) if frame is None else frame
        programme = small.programme if small.programme is not None else empty_table("programme")
        study = StudyData(spells, kids["meetings"], kids["interventions"], programme,
                          small.monitoring)
        return study, empty_audit()
    try:
        study = validate_study(
            spells,
            tables["meetings"],
            tables["interventions"],
            small.programme,
            small.monitoring,
            invalid="drop",
            jobcentres=small.jobcentres,
        )
    except ContractError as exc:
        raise ContractError(
            f"partition {label}: {exc}", table=exc.table, rule=exc.rule, rows=exc.rows
        ) from exc
    return study, study.audit


@dataclass(frozen=True)
class PartInfo:
    """The small results of :func:`check_part` (gathered on the client).

    Attributes
    ----------
    index, label
        Partition number and name.
    n_spells
        Validated spells.
    study_end
        ``StudyData.data_end()`` of the partition (``NaT`` without spells).
    jobcentres
        Jobcentres of its validated spells.
    columns
        Columns of its validated spells.
    kinds
        :func:`~sofeval.engines.covariates.covariate_kind` of every spells column;
        ``categories`` the categories of categorical columns.
    audit
        Its validation audit (the small tables' rows only in partition 0).
    programme, monitoring
        The validated small tables (partition 0 only).
    """

    index: int
    label: str
    n_spells: int
    study_end: pd.Timestamp
    jobcentres: tuple[str, ...]
    columns: tuple[str, ...]
    kinds: dict[str, str]
    categories: dict[str, tuple[object, ...]]
    audit: pd.DataFrame
    programme: pd.DataFrame | None = None
    monitoring: pd.DataFrame | None = None


@dataclass(frozen=True)
class CheckResult:
    """:class:`PartInfo` and the bucketed keys of the cross-partition rules."""

    info: PartInfo
    ids: list[np.ndarray]
    keys: list[SpellKeys]
    orphans: list[np.ndarray]


def check_part(
    index: int,
    label: str,
    spells: TableSource,
    meetings: TableSource,
    interventions: TableSource,
    small: SmallTables,
    n_buckets: int,
) -> CheckResult:
    """First pass over one partition (see the module docstring)."""
    tables = load_tables(spells, meetings, interventions, small)
    study, audit = validate_part(tables, small, label)
    if index != 0:
        audit = audit[audit["table"].isin(_SPELL_TABLES)].reset_index(drop=True)
    orphan_ids = audit.loc[audit["rule"] == "unknown_spell", "row_id"].astype(str)
    orphans = split_hashes(id_hashes(orphan_ids.to_numpy(object)), n_buckets)
    if study is None:
        info = PartInfo(index, label, 0, _NAT, (), (), {}, {}, audit)
        empty = spell_keys(index, _no_spells())
        return CheckResult(
            info, split_hashes(np.zeros(0, np.uint64), n_buckets),
            split_keys(empty, n_buckets), orphans,
        )
    sp = study.spells
    kinds = {str(c): covariate_kind(str(c), sp[c]) for c in sp.columns}
    cats = {
        c: tuple(sp[c].cat.categories.tolist()) for c, k in kinds.items() if k == "categorical"
    }
    info = PartInfo(
        index=index,
        label=label,
        n_spells=len(sp),
        study_end=study.data_end(),
        jobcentres=tuple(sorted(sp["jobcentre"].astype(str).unique())),
        columns=tuple(map(str, sp.columns)),
        kinds=kinds,
        categories=cats,
        audit=audit,
        programme=study.programme if index == 0 else None,
        monitoring=study.monitoring if index == 0 else None,
    )
    raw = cast(pd.DataFrame, tables["spells"])  # not None: a partition without spells returned
    keys = spell_keys(index, _overlap_candidates(raw, sp, audit))
    ids = _raw_ids(raw)
    return CheckResult(
        info, split_hashes(np.unique(id_hashes(ids[ids.notna()])), n_buckets),
        split_keys(keys, n_buckets), orphans,
    )


#: Spell rules that run at or after ``overlapping_spells``: their rows take part in it.
_AT_OR_AFTER_OVERLAP = ("overlapping_spells", "unknown_exit_state", "unknown_jobcentre")


def _raw_ids(raw: pd.DataFrame) -> pd.Series:
    """Spell ids of the raw rows as the validation coerces them (``None`` if missing)."""
    return as_string(raw["spell_id"])


def _overlap_candidates(raw: pd.DataFrame, kept: pd.DataFrame, audit: pd.DataFrame) -> Any:
    """The spells the overlap rule sees in this partition: kept, or dropped by it or later.

    ``validate_study`` runs ``overlapping_spells`` before the exit-state and jobcentre rules
    and on the spells the earlier rules left, so a spell dropped here by one of those still
    counts when another partition holds an overlapping spell of the same person.
    """
    a = audit[(audit["table"] == "spells") & audit["rule"].isin(_AT_OR_AFTER_OVERLAP)]
    if a.empty:
        return kept
    ids = _raw_ids(raw)
    later = ids.isin(set(a["row_id"].astype(str))) & ~ids.duplicated(keep=False)
    rows = raw.loc[later.to_numpy()]
    extra = pd.DataFrame(
        {
            "spell_id": ids[later].to_numpy(object),
            "person_id": as_string(rows["person_id"]).to_numpy(object),
            "absence_start": parse_dates(rows["absence_start"])[0].to_numpy(),
            "benefit_end": parse_dates(rows["benefit_end"])[0].to_numpy(),
        }
    )
    cols = ["spell_id", "person_id", "absence_start", "benefit_end"]
    return pd.concat([kept[cols], extra], ignore_index=True)


def _no_spells() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spell_id": pd.Series([], dtype=object),
            "person_id": pd.Series([], dtype=object),
            "absence_start": pd.Series([], dtype="datetime64[ns]"),
            "benefit_end": pd.Series([], dtype="datetime64[ns]"),
        }
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
        How each covariate is binned (:class:`~sofeval.engines.covariates.CovariateBins`).
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
    bins: dict[str, CovariateBins] = field(default_factory=dict)
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
    for name in _CHILDREN:
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


def summarise_part(
    index: int,
    label: str,
    spells: TableSource,
    meetings: TableSource,
    interventions: TableSource,
    small: SmallTables,
    plan: ReducePlan,
) -> PartSummary | None:
    """Second pass over one partition (see the module docstring); ``None`` without spells."""
    tables = load_tables(spells, meetings, interventions, small)
    study, _ = validate_part(tables, small, label)
    if study is None:
        return None
    study, audit, dropped = _drop_flagged(study, plan, index)
    if len(study.spells) == 0:
        return None
    study = replace(
        study,
        spells=prebin(study.spells, plan.bins),
        programme=plan.programme,
        monitoring=plan.monitoring,
    )
    covs = list(plan.covariates)
    cells, prep, sf = cells_with_spell_frame(
        study, plan.design, plan.keys, covs or None, CHUNK_SIZE, False, False
    )
    values = {
        c: study.spells.loc[sf.index, c].astype(object).value_counts(dropna=True)
        for c, b in plan.bins.items()
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


def describe_part(
    index: int,
    label: str,
    spells: TableSource,
    meetings: TableSource,
    interventions: TableSource,
    small: SmallTables,
    hashes: np.ndarray,
) -> pd.DataFrame:
    """``spell`` (hash), ``spell_id`` and ``person_id`` of the validated spells with ``hashes``.

    For the messages of the cross-partition rules (which travel as hashes).
    """
    tables = load_tables(spells, meetings, interventions, small)
    study, _ = validate_part(tables, small, label)
    if study is None:
        return pd.DataFrame({"spell": pd.Series([], dtype=np.uint64), "spell_id": [],
                             "person_id": []})
    sp = study.spells
    h = id_hashes(sp["spell_id"])
    hit = np.isin(h, hashes)
    return pd.DataFrame(
        {
            "spell": h[hit],
            "spell_id": sp.loc[hit, "spell_id"].astype(str).to_numpy(object),
            "person_id": sp.loc[hit, "person_id"].astype(str).to_numpy(object),
        }
    )


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
        return _NAT, 0
    study, _, _ = _drop_flagged(study, plan, index)
    n = len(study.spells)
    return (study.data_end() if n else _NAT), n


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


def split_study(study: StudyData, assignment: np.ndarray | int) -> list[dict[str, pd.DataFrame]]:
    """Cut an in-memory study into partitions; children follow their spells.

    Parameters
    ----------
    study
        A (validated) study.
    assignment
        Partition number of every spell (rows of ``study.spells``), or a number of
        partitions of consecutive spells.

    Returns
    -------
    list of dict
        Per partition (in number order, empty ones left out) its ``spells``, ``meetings``
        and ``interventions``, rows in table order.
    """
    n = len(study.spells)
    if isinstance(assignment, (int, np.integer)):
        k = max(1, min(int(assignment), n))
        sizes = np.diff(np.linspace(0, n, k + 1).astype(np.int64))
        part = np.repeat(np.arange(k, dtype=np.int64), sizes.astype(np.int64))
    else:
        part = np.asarray(assignment, dtype=np.int64)
        if part.shape != (n,):
            raise OptionError(f"assignment has {part.shape[0]} entries for {n} spells.")
    ids = pd.Index(study.spells["spell_id"].astype(str))
    child_part = {
        name: part[ids.get_indexer(getattr(study, name)["spell_id"].astype(str))]
        for name in _CHILDREN
    }
    out = []
    for k in np.unique(part):
        piece = {"spells": study.spells[part == k].reset_index(drop=True)}
        for name in _CHILDREN:
            df = getattr(study, name)
            piece[name] = df[child_part[name] == k].reset_index(drop=True)
        out.append(piece)
    return out
