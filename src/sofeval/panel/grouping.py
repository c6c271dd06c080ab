"""Grouping rows by integer code columns without hashing (used to collapse cells).

:func:`group_codes` folds code columns into one mixed-radix ``int64`` key, renumbering it
densely with a bincount over the key space whenever the space would outgrow the rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_DENSE", "MAX_LOOKUP", "CodeIndex", "group_codes"]

#: Key spaces up to this size are renumbered with a dense bincount (else with a sort).
MAX_DENSE = 2**24


def _dense_ids(key: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Ids ``0..k-1`` of the distinct values of ``key`` (in ``[0, size)``), in sorted order."""
    if size <= min(MAX_DENSE, 4 * len(key)):
        present = np.bincount(key, minlength=size) > 0
        slot = np.cumsum(present) - 1
        return slot[key], int(slot[-1]) + 1
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.reshape(-1), len(uniq)


def group_codes(codes: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group rows by integer code columns.

    Returns the group index of each row and the code columns of each group (groups in no
    promised order). The columns are folded in one at a time, narrowest first, into a
    mixed-radix key that is renumbered densely (a bincount over the key space) whenever the
    next column would make the space larger than the rows allow, so no hashing is needed;
    correlated columns (spell week, calendar month, link month) then keep the space small.
    """
    n = len(codes[0]) if codes else 0
    if not codes:
        return np.zeros(n, dtype=np.int64), []
    if n == 0:
        return np.zeros(0, dtype=np.int64), [c[:0] for c in codes]
    key = np.zeros(n, dtype=np.int64)
    size = 1
    lows = [int(c.min()) for c in codes]
    spans = [int(c.max()) - low + 1 for c, low in zip(codes, lows, strict=True)]
    for j in sorted(range(len(codes)), key=lambda j: spans[j]):
        low, span = lows[j], spans[j]
        part = codes[j].astype(np.int64) - low
        if span > 4 * n:  # sparse codes (e.g. hashes): renumber them first, span <= n
            part, span = _dense_ids(part, span)
        if size > 1 and size * span > min(MAX_DENSE, 4 * n):
            key, size = _dense_ids(key, size)
        key *= span
        key += part
        size *= span
    inverse, n_groups = _dense_ids(key, size)
    first = np.empty(n_groups, dtype=np.int64)
    first[inverse[::-1]] = np.arange(n - 1, -1, -1)  # a row of each group
    return inverse.astype(np.int64), [np.asarray(c)[first] for c in codes]


#: Largest lookup table (entries) of one :class:`CodeIndex` level; beyond it, sorted keys.
MAX_LOOKUP = 2**25
_SHIFT = np.int64(2**32)  # sorted-key mode: key = previous id * 2**32 + code + 2**31
_OFFSET = np.int64(2**31)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Distinct values, ascending (a sort: faster than hashing for integer keys)."""
    v = np.sort(values)
    return v[np.concatenate([[True], v[1:] != v[:-1]])] if len(v) else v


def _spread(values: np.ndarray, repeats: np.ndarray | None) -> np.ndarray:
    """``values`` repeated ``repeats`` times each (as they are without ``repeats``)."""
    return values if repeats is None else np.repeat(values, repeats)


class _Level:
    """One column of a :class:`CodeIndex`: ids of (previous id, code) pairs, kept across calls.

    Pairs are looked up in a table indexed by ``previous id * span + code - low`` while it
    stays under :data:`MAX_LOOKUP` entries (rebuilt, from the pairs seen, whenever codes or
    previous ids outgrow it), else in sorted keys by binary search.
    """

    def __init__(self) -> None:
        self.n = 0
        self.prev = np.zeros(0, dtype=np.int64)
        self.code = np.zeros(0, dtype=np.int64)
        self.low, self.span, self.cap = 0, 0, 0
        self.table: np.ndarray | None = None
        self.sorted_keys: np.ndarray | None = None
        self.sorted_ids = np.zeros(0, dtype=np.int64)

    def _fit(self, low: int, high: int, n_prev: int) -> None:
        """Make the lookup table cover codes ``low..high`` and ``n_prev`` previous ids."""
        if self.sorted_keys is not None:
            return
        if (
            self.table is not None
            and low >= self.low
            and high < self.low + self.span
            and (n_prev <= self.cap)
        ):
            return
        if self.table is not None:
            low, high = min(low, self.low), max(high, self.low + self.span - 1)
        span = high - low + 1
        cap = max(n_prev + n_prev // 4, 1)
        if cap * span > MAX_LOOKUP:
            keys = self.prev * _SHIFT + self.code + _OFFSET
            order = np.argsort(keys)
            self.sorted_keys, self.sorted_ids = keys[order], order.astype(np.int64)
            self.table = None
            return
        self.low, self.span, self.cap = low, span, cap
        self.table = np.full(cap * span, -1, dtype=np.int32)
        self.table[self.prev * span + self.code - low] = np.arange(self.n)

    def _add(self, prev: np.ndarray, code: np.ndarray) -> None:
        self.prev = np.concatenate([self.prev, prev])
        self.code = np.concatenate([self.code, code])
        self.n = len(self.prev)

    def ids(
        self,
        prev: np.ndarray,
        code: np.ndarray,
        n_prev: int,
        repeats: np.ndarray | None = None,
    ) -> np.ndarray:
        """Ids of the pairs ``(prev, code)``, numbering new pairs after the known ones.

        With ``repeats``, ``code`` holds one value per run of rows of ``prev`` (its range
        is then found, and its offset applied, per run before it is repeated to the rows).
        """
        if len(prev) == 0:
            return np.zeros(0, dtype=np.int64)
        self._fit(int(code.min()), int(code.max()), n_prev)
        # the keys are built in place on an int64 copy of ``prev`` (codes may be narrower)
        if self.table is not None:
            key = prev * np.int64(self.span)
            key += _spread(np.subtract(code, self.low, dtype=np.int64), repeats)
            return self._table_ids(self.table, key)
        key = prev * _SHIFT
        key += _spread(code + _OFFSET, repeats)
        return self._sorted_ids(key)

    def _table_ids(self, table: np.ndarray, key: np.ndarray) -> np.ndarray:
        out = table[key].astype(np.int64)
        if out.min() < 0:  # new pairs (one pass when there are none)
            miss = out < 0
            seen = np.zeros(len(table), dtype=bool)
            seen[key[miss]] = True
            new = np.flatnonzero(seen)
            table[new] = np.arange(self.n, self.n + len(new))
            self._add(new // self.span, new % self.span + self.low)
            out[miss] = table[key[miss]]
        return out

    def _sorted_ids(self, key: np.ndarray) -> np.ndarray:
        known = self.sorted_keys if self.sorted_keys is not None else np.zeros(0, np.int64)
        pos = np.searchsorted(known, key)
        out = np.full(len(key), -1, dtype=np.int64)
        hit = pos < len(known)
        hit[hit] = known[pos[hit]] == key[hit]
        out[hit] = self.sorted_ids[pos[hit]]
        if not hit.all():
            new = _sorted_unique(key[~hit])
            new_ids = np.arange(self.n, self.n + len(new))
            self._add(new // _SHIFT, new % _SHIFT - _OFFSET)
            keys = np.concatenate([known, new])
            ids = np.concatenate([self.sorted_ids, new_ids])
            order = np.argsort(keys, kind="stable")
            self.sorted_keys, self.sorted_ids = keys[order], ids[order]
            out[~hit] = new_ids[np.searchsorted(new, key[~hit])]
        return out


class CodeIndex:
    """Ids of distinct rows of integer code columns, kept stable across calls (chunks).

    Unlike :func:`group_codes`, which numbers the groups of one array, a ``CodeIndex`` gives
    a row seen in an earlier call the id it got then, so the counts of a stream of chunks
    can be summed by id without grouping the chunks' cells again. The columns are folded in
    one at a time onto a starting id (0, or the ids of another index for keys it covers).
    """

    def __init__(self, n_columns: int) -> None:
        self._levels = [_Level() for _ in range(n_columns)]
        self._order: list[int] | None = None
        self._n_start = 1

    @property
    def n(self) -> int:
        """Number of possible ids (ids run from 0 to ``n - 1``)."""
        return self._levels[-1].n if self._levels else self._n_start

    def ids(
        self,
        columns: list[np.ndarray],
        start: np.ndarray | None = None,
        n_start: int = 1,
        repeats: np.ndarray | None = None,
    ) -> np.ndarray:
        """Ids of the rows of ``columns`` after ``start`` (ids ``0..n_start-1``; default 0).

        Parameters
        ----------
        columns
            One integer array per column, all of one length (see ``repeats``).
        start
            Ids the rows already have (for example of an index of shared keys).
        n_start
            Number of possible ``start`` ids.
        repeats
            Rows per run (a spell's weeks, say; at least one each). When given, ``start``
            and any column may hold one value per run instead of per row; the leading
            columns of runs are then indexed once per run, before the ids are repeated to
            the rows, and the others repeated as they are needed.

        Returns
        -------
        numpy.ndarray
            ``int64`` ids, one per row.
        """
        if start is None:
            n = len(repeats) if repeats is not None else len(columns[0]) if columns else 0
            start = np.zeros(n, dtype=np.int64)
        cur = start.astype(np.int64, copy=False)
        self._n_start = max(self._n_start, n_start)
        if self._order is None:  # narrowest columns first keeps the lookup tables small
            spans = [int(c.max()) - int(c.min()) if len(c) else 0 for c in columns]
            self._order = sorted(range(len(columns)), key=lambda j: spans[j])
        n_prev = n_start
        for j, level in zip(self._order, self._levels, strict=True):
            column, runs = columns[j], None
            if repeats is not None and len(column) != len(cur):
                if len(cur) == len(repeats):  # the first column of rows: ids to the rows
                    cur = np.repeat(cur, repeats)
                else:  # a column of runs on ids of rows: repeated in the lookup
                    runs = repeats
            cur = level.ids(cur, column, n_prev, runs)
            n_prev = level.n
        if repeats is not None and len(cur) == len(repeats):
            cur = np.repeat(cur, repeats)
        return cur

    def codes(self, ids: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The starting ids and the column codes of the rows with ``ids``."""
        out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(self._levels)
        cur = np.asarray(ids, dtype=np.int64)
        order = self._order or list(range(len(self._levels)))
        for j, level in reversed(list(zip(order, self._levels, strict=True))):
            out[j] = level.code[cur]
            cur = level.prev[cur]
        return cur, out
