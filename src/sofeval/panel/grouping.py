"""Grouping rows by integer code columns without hashing (used to collapse cells).

:func:`group_codes` folds code columns into one mixed-radix ``int64`` key, renumbering it
densely with a bincount over the key space whenever the space would outgrow the rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_DENSE", "group_codes"]

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
