"""First pass over a partition: validation, the keys of the cross-partition rules, a summary.

:func:`check_part` validates a partition, reports what the client needs to know about it
(:class:`PartInfo`: size, data end, jobcentres, columns, covariate kinds, audit) and the hash
keys of the cross-partition rules cut into buckets (:mod:`sofeval.engines.crosscheck`). Given
a provisional :class:`~sofeval.engines.summaries.ReducePlan` (the data end read from the raw
dates by :func:`raw_dates`) it also summarises the partition, so that a study without
cross-partition drops is read once. :func:`describe_part` names the spells behind hashes (for
error messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from sofeval.data import DATE_COLUMNS, DatasetPiece, as_string, parse_dates
from sofeval.engines.covariates import covariate_kind
from sofeval.engines.crosscheck import SpellKeys, id_hashes, spell_keys, split_hashes, split_keys
from sofeval.engines.partitions import (
    NAT,
    SmallTables,
    TableSource,
    load_tables,
    validate_part,
)
from sofeval.engines.summaries import PartSummary, ReducePlan, summarise_study

__all__ = ["CheckResult", "PartInfo", "check_part", "describe_part", "raw_dates"]

_SPELL_TABLES = ("spells", "meetings", "interventions")

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
    """:class:`PartInfo`, the bucketed keys of the cross-partition rules, the summary.

    ``summary`` is the partition summarised under the provisional plan (``None`` without a
    plan or without spells).
    """

    info: PartInfo
    ids: list[np.ndarray]
    keys: list[SpellKeys]
    orphans: list[np.ndarray]
    summary: PartSummary | None = None


def check_part(
    index: int,
    label: str,
    spells: TableSource,
    meetings: TableSource,
    interventions: TableSource,
    small: SmallTables,
    n_buckets: int,
    plan: ReducePlan | None = None,
) -> CheckResult:
    """First pass over one partition (see the module docstring).

    Parameters
    ----------
    index, label
        Partition number and name.
    spells, meetings, interventions
        Its table sources.
    small
        The small tables and the validation settings.
    n_buckets
        Buckets of the cross-partition keys.
    plan
        A provisional plan: summarise the partition as well.

    Returns
    -------
    CheckResult
    """
    tables = load_tables(spells, meetings, interventions, small)
    study, audit = validate_part(tables, small, label)
    if index != 0:
        audit = audit[audit["table"].isin(_SPELL_TABLES)].reset_index(drop=True)
    orphan_ids = audit.loc[audit["rule"] == "unknown_spell", "row_id"].astype(str)
    orphans = split_hashes(id_hashes(orphan_ids.to_numpy(object)), n_buckets)
    if study is None:
        info = PartInfo(index, label, 0, NAT, (), (), {}, {}, audit)
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
    summary = None if plan is None else summarise_study(index, study, plan)
    return CheckResult(
        info, split_hashes(np.unique(id_hashes(ids[ids.notna()])), n_buckets),
        split_keys(keys, n_buckets), orphans, summary,
    )


def raw_dates(spells: TableSource) -> tuple[int, pd.Timestamp]:
    """Rows and latest date of a partition's raw spells (only the date columns are read).

    The date is ``StudyData.data_end()`` of the partition when validation drops no row (the
    dates coerced as the validation coerces them); the engine checks that after the first
    pass.
    """
    cols = list(DATE_COLUMNS["spells"])
    if isinstance(spells, DatasetPiece):
        raw = spells.read(columns=cols)
    else:
        frames = load_tables(spells, None, None, SmallTables(given=())).get("spells")
        raw = frames if frames is not None else pd.DataFrame()
    dates = [parse_dates(raw[c])[0] for c in cols if c in raw.columns]
    if not dates or not len(raw):
        return len(raw), NAT
    return len(raw), pd.Timestamp(pd.concat(dates, ignore_index=True).max())


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
