"""One partition: its tables, read and validated (the engine's unit of work).

A partition is a piece of the spells with its spells' meetings and interventions (a
:class:`~sofeval.data.DatasetPiece` of each table, frames routed to it, or a slice of an
in-memory study made by :func:`split_study`). :func:`load_tables` reads it and
:func:`validate_part` validates it with :func:`sofeval.data.validate_study` (always with
``invalid="drop"``: the engine keeps the audit and raises for ``invalid="error"`` itself, once
it knows every partition's violations). The passes over the partitions are
:mod:`sofeval.engines.validate` (first) and :mod:`sofeval.engines.summaries` (second).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data import (
    AUDIT_COLUMNS,
    DatasetPiece,
    StudyData,
    as_string,
    empty_table,
    validate_study,
)
from sofeval.errors import ContractError, OptionError

__all__ = [
    "CHILD_TABLES",
    "NAT",
    "SmallTables",
    "TableSource",
    "empty_audit",
    "load_tables",
    "split_study",
    "validate_part",
    "validate_small",
]

#: The child tables of a spell.
CHILD_TABLES: tuple[str, ...] = ("meetings", "interventions")
#: A missing date typed as a timestamp (``pd.NaT`` has its own type for mypy).
NAT: pd.Timestamp = pd.Timestamp("NaT")  # type: ignore[assignment]

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
    given: tuple[str, ...] = CHILD_TABLES


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
    for name, src in zip(CHILD_TABLES, (meetings, interventions), strict=True):
        frame = _read(src) if name in small.given else None
        if frame is not None and frame.empty and not len(frame.columns):
            frame = empty_table(name)
        out[name] = frame
    return out


def _empty_part_audit(tables: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """Children of a partition without spells: every row names an unknown spell."""
    rows = []
    for name in CHILD_TABLES:
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
        for k in CHILD_TABLES:
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


def validate_small(small: SmallTables) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The validated programme and monitoring tables (their rules do not read the spells).

    ``validate_study`` needs a spell: one valid placeholder spell is validated beside them
    and discarded.
    """
    if small.validated:
        prog = small.programme if small.programme is not None else empty_table("programme")
        return prog, small.monitoring
    jc = small.jobcentres[0] if small.jobcentres else "placeholder"
    spell = pd.DataFrame(
        {"spell_id": ["placeholder"], "person_id": ["placeholder"], "jobcentre": [jc],
         "absence_start": ["2000-01-03"], "benefit_end": ["2000-01-10"],
         "exit_state": ["employment"]}
    )
    study = validate_study(
        spell, programme=small.programme, monitoring=small.monitoring, invalid="drop",
        jobcentres=small.jobcentres,
    )
    return study.programme, study.monitoring


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
        for name in CHILD_TABLES
    }
    out = []
    for k in np.unique(part):
        piece = {"spells": study.spells[part == k].reset_index(drop=True)}
        for name in CHILD_TABLES:
            df = getattr(study, name)
            piece[name] = df[child_part[name] == k].reset_index(drop=True)
        out.append(piece)
    return out
