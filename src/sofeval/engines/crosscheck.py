"""Contract rules that span partitions, on 64-bit hashes of the ids.

Each partition is validated on its own (:func:`sofeval.data.validate_study`); three rules can
only be judged across partitions:

* ``duplicate_spell_id``: the same spell id in two partitions;
* ``overlapping_spells``: spells of one person in different partitions that overlap;
* children (meetings, interventions) stored in another partition than their spell, which a
  partition reads as ``unknown_spell``.

A partition sends only hashes and days: :func:`spell_keys` gives the ``uint64`` hash of each
spell id and person id (:func:`id_hashes`, ``pandas.util.hash_array``), the absence start and
the benefit end (day numbers). :func:`split_keys` cuts them into hash ranges (buckets), so one
task per bucket sees every spell of its ids and persons, wherever they are stored: the
"shuffle by person" moves 32 bytes per spell, never the spells. Persons found in one partition
only are settled there already and are skipped. The overlap test of the flagged persons is the
contract's own rule (``overlapping_spells`` of :data:`sofeval.data.RULES`) run on those rows.

Two different ids with one 64-bit hash would be taken for a duplicate; among 15 million ids
the chance is about 6e-6, and :func:`check_dropped_ids` refuses the run if it happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from sofeval.data import HINTS, MAX_IDS_SHOWN, RULES, Audience, RuleContext, format_violation
from sofeval.errors import ContractError

__all__ = [
    "MAX_BUCKETS",
    "CrossFlags",
    "SpellKeys",
    "audit_error",
    "bucket_count",
    "by_part",
    "check_dropped_ids",
    "cross_partition_flags",
    "id_hashes",
    "spell_keys",
    "split_hashes",
    "split_keys",
]

#: Buckets of the hash shuffle (at most; one per partition when there are fewer).
MAX_BUCKETS = 32
_NEVER_DAY = np.iinfo(np.int64).max


def id_hashes(values: pd.Series | np.ndarray) -> np.ndarray:
    """``uint64`` hashes of ids (strings; equal ids, equal hashes on every machine)."""
    arr = np.asarray(values, dtype=object)
    return pd.util.hash_array(arr, categorize=False)


def bucket_count(n_parts: int) -> int:
    """Buckets for ``n_parts`` partitions."""
    return max(1, min(MAX_BUCKETS, int(n_parts)))


def _bounds(hashes: np.ndarray, n_buckets: int) -> np.ndarray:
    """Positions splitting sorted ``hashes`` into ``n_buckets`` equal hash ranges."""
    edges = (np.arange(1, n_buckets, dtype=np.float64) * (2.0**64 / n_buckets)).astype(np.uint64)
    inner = np.searchsorted(hashes, edges, side="left")
    return np.concatenate([[0], inner, [len(hashes)]]).astype(np.int64)


@dataclass(frozen=True)
class SpellKeys:
    """Hashes and days of a partition's validated spells (the rows of the shuffle).

    Attributes
    ----------
    part
        Partition number of every row.
    spell, person
        ``uint64`` hashes of ``spell_id`` and ``person_id``.
    start, end
        Day numbers of ``absence_start`` and ``benefit_end`` (the largest ``int64`` for an
        ongoing spell).
    """

    part: np.ndarray
    spell: np.ndarray
    person: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def take(self, idx: np.ndarray | slice) -> SpellKeys:
        """The rows ``idx``."""
        return SpellKeys(
            self.part[idx], self.spell[idx], self.person[idx], self.start[idx], self.end[idx]
        )

    @staticmethod
    def concat(parts: Sequence[SpellKeys]) -> SpellKeys:
        """Rows of several key sets, in order."""
        return SpellKeys(
            *(np.concatenate([getattr(p, a) for p in parts]) for a in SpellKeys.__annotations__)
        )


def spell_keys(part: int, spells: pd.DataFrame) -> SpellKeys:
    """The shuffle rows of one partition's validated spells (see :class:`SpellKeys`)."""
    start = spells["absence_start"].to_numpy("datetime64[D]").astype(np.int64)
    end = spells["benefit_end"].to_numpy("datetime64[D]").astype(np.int64)
    end[spells["benefit_end"].isna().to_numpy()] = _NEVER_DAY
    return SpellKeys(
        np.full(len(spells), part, dtype=np.int32),
        id_hashes(spells["spell_id"]),
        id_hashes(spells["person_id"]),
        start,
        end,
    )


def split_keys(keys: SpellKeys, n_buckets: int) -> list[SpellKeys]:
    """Cut the rows into ``n_buckets`` ranges of the person hash."""
    order = np.argsort(keys.person, kind="stable")
    rows = keys.take(order)
    b = _bounds(rows.person, n_buckets)
    return [rows.take(slice(b[i], b[i + 1])) for i in range(n_buckets)]


def split_hashes(hashes: np.ndarray, n_buckets: int) -> list[np.ndarray]:
    """Cut sorted-or-not ``uint64`` hashes into ``n_buckets`` sorted hash ranges."""
    h = np.sort(np.asarray(hashes, dtype=np.uint64))
    b = _bounds(h, n_buckets)
    return [h[b[i] : b[i + 1]] for i in range(n_buckets)]


@dataclass(frozen=True)
class CrossFlags:
    """What the cross-partition rules found in one bucket (or all of them, concatenated).

    Attributes
    ----------
    duplicate
        ``part`` and ``spell`` hash of every copy of an id stored in two partitions or more.
    overlap
        ``part`` and ``spell`` hash of every spell overlapping a spell of the same person
        stored in another partition.
    misplaced
        ``part`` and ``spell`` hash of children whose spell lives in another partition.
    """

    duplicate: pd.DataFrame
    overlap: pd.DataFrame
    misplaced: pd.DataFrame

    @staticmethod
    def concat(flags: Sequence[CrossFlags]) -> CrossFlags:
        """Flags of several buckets."""

        def cat(name: str) -> pd.DataFrame:
            frames = [getattr(f, name) for f in flags]
            return pd.concat(frames, ignore_index=True) if frames else _flag_frame([], [])

        return CrossFlags(cat("duplicate"), cat("overlap"), cat("misplaced"))

    @property
    def empty(self) -> bool:
        """Nothing was found."""
        return not (len(self.duplicate) or len(self.overlap) or len(self.misplaced))

    def dropped(self) -> dict[int, np.ndarray]:
        """Spell hashes each partition must drop (duplicates and overlaps)."""
        return by_part(pd.concat([self.duplicate, self.overlap], ignore_index=True))


def by_part(flags: pd.DataFrame) -> dict[int, np.ndarray]:
    """The sorted distinct spell hashes of ``flags`` (``part``, ``spell``) per partition."""
    part = flags["part"].to_numpy(np.int64)
    spell = flags["spell"].to_numpy(np.uint64)
    return {int(k): np.unique(spell[part == k]) for k in np.unique(part)}


def _flag_frame(
    part: Sequence[int] | np.ndarray, spell: Sequence[int] | np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {"part": np.asarray(part, dtype=np.int64), "spell": np.asarray(spell, dtype=np.uint64)}
    )


def _overlapping(rows: SpellKeys) -> np.ndarray:
    """Mask of rows broken by the contract's ``overlapping_spells`` rule."""
    rule = next(r for r in RULES if r.name == "overlapping_spells")
    ctx = RuleContext(jobcentres=None)
    ctx.persons = pa.array(rows.person.astype(str), pa.string())
    end = rows.end.astype("datetime64[D]").astype("datetime64[ns]")
    end[rows.end == _NEVER_DAY] = np.datetime64("NaT")
    frame = pd.DataFrame(
        {
            # the rule's message quotes the other spell; only the mask is used here, and the
            # workers' audit names the spells by their own ids
            "spell_id": rows.spell.astype(str),
            "person_id": rows.person.astype(str),
            "absence_start": rows.start.astype("datetime64[D]").astype("datetime64[ns]"),
            "benefit_end": end,
        }
    )
    mask, _ = rule.check({"spells": frame}, ctx)
    return mask.to_numpy(dtype=bool)


def cross_partition_flags(
    ids: Sequence[np.ndarray],
    keys: Sequence[SpellKeys],
    orphans: Sequence[np.ndarray],
    persons_grouped: bool = False,
) -> CrossFlags:
    """Apply the cross-partition rules to one bucket.

    Parameters
    ----------
    ids
        Per partition, the sorted spell-id hashes of the bucket (validated spells).
    keys
        Per partition, the :class:`SpellKeys` rows of the bucket's persons.
    orphans
        Per partition, spell-id hashes of its children that have no spell in it.
    persons_grouped
        The partitioning keeps every person in one partition: skip the overlap rule.

    Returns
    -------
    CrossFlags
    """
    part = np.concatenate([np.full(len(h), k, dtype=np.int64) for k, h in enumerate(ids)])
    spell = np.concatenate([np.asarray(h, dtype=np.uint64) for h in ids]) if ids else np.zeros(
        0, np.uint64
    )
    order = np.argsort(spell, kind="stable")
    s, p = spell[order], part[order]
    rep = np.zeros(len(s), dtype=bool)
    if len(s) > 1:
        same = s[1:] == s[:-1]
        rep[1:] |= same
        rep[:-1] |= same
    duplicate = _flag_frame(p[rep], s[rep])

    orphan_part = np.concatenate(
        [np.full(len(h), k, dtype=np.int64) for k, h in enumerate(orphans)]
    ) if orphans else np.zeros(0, np.int64)
    orphan = np.concatenate([np.asarray(h, np.uint64) for h in orphans]) if orphans else np.zeros(
        0, np.uint64
    )
    found = np.isin(orphan, s)
    misplaced = _flag_frame(orphan_part[found], orphan[found])

    overlap = _flag_frame([], [])
    if not persons_grouped and keys:
        rows = SpellKeys.concat(list(keys))
        rows = rows.take(~np.isin(rows.spell, s[rep]))  # duplicates are settled first
        if len(rows.part):
            codes, uniq = pd.factorize(rows.person)
            n_parts = pd.DataFrame({"c": codes, "p": rows.part}).groupby("c")["p"].nunique()
            spans = np.zeros(len(uniq), dtype=bool)
            spans[n_parts.index.to_numpy()] = n_parts.to_numpy() > 1
            cand = rows.take(spans[codes])
            if len(cand.part):
                bad = _overlapping(cand)
                overlap = _flag_frame(cand.part[bad], cand.spell[bad])
    return CrossFlags(duplicate, overlap, misplaced)


def check_dropped_ids(dropped: pd.DataFrame) -> None:
    """Refuse a hash collision: the ids dropped under one hash must be one id.

    Parameters
    ----------
    dropped
        ``spell`` (hash) and ``spell_id`` of every spell dropped by a cross-partition rule.
    """
    n_ids = dropped.groupby("spell")["spell_id"].nunique()
    if (n_ids > 1).any():
        ids = dropped.loc[dropped["spell"].isin(n_ids.index[n_ids > 1]), "spell_id"]
        raise ContractError(
            "spells: two different spell ids share a 64-bit hash "
            f"({', '.join(map(str, ids.unique()[:MAX_IDS_SHOWN]))}); the dask engine cannot "
            "tell them apart. Renumber one of them.",
            table="spells",
            rule="hash_collision",
            rows=tuple(map(str, ids.unique()[:MAX_IDS_SHOWN])),
        )


_LABELS = {"programme": "jobcentre", "monitoring": "jobcentre month"}


def audit_error(
    audit: pd.DataFrame,
    where: dict[str, list[str]] | None = None,
    audience: Audience = "python",
) -> ContractError:
    """The :class:`ContractError` of ``invalid="error"`` for the rows an audit lists.

    One message per broken rule, in the order of :data:`sofeval.data.RULES`, worded by
    :func:`sofeval.data.format_violation` exactly as :func:`sofeval.data.validate_study`
    words them (the audit's ``detail`` quotes each offending value; rules that only run
    with ``invalid="drop"`` are left out).

    Parameters
    ----------
    audit
        Rows with :data:`sofeval.data.AUDIT_COLUMNS`.
    where
        Optional rule name -> partitions the rule was broken in (added to its message).
    audience
        ``"python"`` or ``"cli"``: how the fix is spelled (``invalid="drop"`` or
        ``--invalid drop``).

    Returns
    -------
    ContractError
    """
    order = {(r.table, r.name): i for i, r in enumerate(RULES)}
    by_rule = {(r.table, r.name): r for r in RULES}
    groups = sorted(
        ((k, g) for k, g in audit.groupby(["table", "rule"], sort=False)),
        key=lambda kg: order.get((str(kg[0][0]), str(kg[0][1])), len(order)),
    )
    hints = HINTS[audience]
    messages: list[tuple[str, str, str, tuple[str, ...]]] = []  # message, table, rule, ids
    for (table_key, rule_key), g in groups:
        table, rule_name = str(table_key), str(rule_key)
        rule = by_rule.get((table, rule_name))
        if rule is not None and rule.drop_only:
            continue
        ids = tuple(pd.unique(g["row_id"].astype(str).to_numpy()).tolist())
        how = "" if rule is None else (
            f"{rule.requirement}; {rule.fix.format(**hints)}, or {hints['drop']}."
        )
        msg = format_violation(
            table, rule_name, _LABELS.get(table, "spell_id"),
            g["row_id"].astype(str).to_numpy(dtype=object),
            g["detail"].astype(str).to_numpy(dtype=object), how,
        )
        if where and where.get(rule_name):
            msg += f"\n  [partitions: {', '.join(where[rule_name][:MAX_IDS_SHOWN])}]"
        messages.append((msg.rstrip(), table, rule_name, ids))
    if not messages:
        return ContractError("no contract rule broken.", table="spells", rule="none")
    head_msg, table, rule_name, head_ids = messages[0]
    text = head_msg if len(messages) == 1 else (
        f"Input data break {len(messages)} contract rules:\n"
        + "\n".join("- " + m for m, _, _, _ in messages)
    )
    return ContractError(text, table=table, rule=rule_name, rows=head_ids)
