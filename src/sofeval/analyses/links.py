"""The study's string ids as integer positions and codes, computed once per study.

Joins on string ids (a meeting to its spell, a spell to its jobcentre's programme window)
cost a hash of every string each time they are made. The analyses make them on integer
positions and codes instead: :func:`spell_rows` hashes the ids once (Arrow), and
:func:`table_spells` and :func:`spell_jobcentres` keep the result per study object
(validated tables are not modified after validation; an entry goes with its study).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data import StudyData, validated_spell_rows
from sofeval.runtime import IdCache

__all__ = [
    "JobcentreCodes",
    "TableSpells",
    "spell_jobcentres",
    "spell_rows",
    "table_spells",
]


def spell_rows(ids: pd.Series, spell_ids: pd.Series) -> np.ndarray:
    """Position of each id of ``ids`` in ``spell_ids`` (``-1`` where absent).

    Parameters
    ----------
    ids
        Spell ids of a table's rows (e.g. ``meetings["spell_id"]``); compared as strings.
    spell_ids
        The spells' ids (a repeated id takes its first position).

    Returns
    -------
    numpy.ndarray
        ``int64`` positions, one per row of ``ids``.
    """
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    found = pc.index_in(
        pa.array(ids.astype(str).to_numpy(), type=pa.string()),
        value_set=pa.array(spell_ids.astype(str).to_numpy(), type=pa.string()),
    )
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True)
class JobcentreCodes:
    """Each spell's jobcentre as a code into the sorted jobcentre names.

    Attributes
    ----------
    code
        ``int64`` code of each spell's jobcentre (position in ``names``; ``-1`` if missing).
    names
        Distinct jobcentre names as strings, sorted.
    """

    code: np.ndarray
    names: pd.Index

    def positions_in(self, labels: pd.Series) -> np.ndarray:
        """Position in ``labels`` (strings) of each spell's jobcentre, ``-1`` if absent."""
        pos = np.append(pd.Index(labels.astype(str)).get_indexer(self.names), -1)
        return pos[self.code]  # a missing jobcentre (code -1) takes the appended -1


@dataclass(frozen=True)
class TableSpells:
    """Position in ``study.spells`` of the spell of each meeting and intervention.

    Attributes
    ----------
    meetings
        ``int64``, one per row of ``study.meetings`` (``-1``: no such spell).
    interventions
        ``int64``, one per row of ``study.interventions`` (``-1``: no such spell).
    """

    meetings: np.ndarray
    interventions: np.ndarray


_TABLE_SPELLS: IdCache[StudyData, TableSpells] = IdCache()
_JOBCENTRES: IdCache[StudyData, JobcentreCodes] = IdCache()


def table_spells(study: StudyData) -> TableSpells:
    """The spell positions of the meetings and interventions, cached per study.

    Those validation found (:func:`sofeval.data.validated_spell_rows`) when it made the
    study, else computed here.

    Both tables are looked up in one pass (the spells' ids are hashed once).

    Parameters
    ----------
    study
        Validated study tables.

    Returns
    -------
    TableSpells
    """
    return _TABLE_SPELLS.get(study, lambda: _table_spells(study))


def _table_spells(study: StudyData) -> TableSpells:
    known = validated_spell_rows(study)  # the join rules of validation found them already
    if known is not None:
        return TableSpells(*known)
    n_meetings = len(study.meetings)
    ids = pd.concat(
        [study.meetings["spell_id"], study.interventions["spell_id"]], ignore_index=True
    )
    pos = spell_rows(ids, study.spells["spell_id"])
    return TableSpells(pos[:n_meetings], pos[n_meetings:])


def spell_jobcentres(study: StudyData) -> JobcentreCodes:
    """Each spell's jobcentre as an integer code (see :class:`JobcentreCodes`), cached.

    Parameters
    ----------
    study
        Validated study tables.

    Returns
    -------
    JobcentreCodes
    """
    return _JOBCENTRES.get(study, lambda: _jobcentre_codes(study.spells["jobcentre"]))


def _jobcentre_codes(jobcentre: pd.Series) -> JobcentreCodes:
    codes, uniques = pd.factorize(jobcentre)  # few distinct names: sorted afterwards
    names = pd.Index(uniques).astype(str)
    order = np.argsort(names.to_numpy(dtype=object), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return JobcentreCodes(np.where(codes < 0, -1, rank[codes]), names[order])
