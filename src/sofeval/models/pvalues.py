"""Permutation and multiplicity-adjusted p-values."""

from __future__ import annotations

from typing import Literal

import numpy as np

from sofeval.errors import check_option

__all__ = ["ADJUST_METHODS", "AdjustMethod", "adjust_pvalues", "permutation_pvalue"]

AdjustMethod = Literal["holm", "bh"]
ADJUST_METHODS: tuple[AdjustMethod, ...] = ("holm", "bh")


def permutation_pvalue(observed: float, draws: np.ndarray) -> float:
    """Two-sided randomisation p-value ``(1 + #{|d| >= |obs|}) / (1 + R)``.

    Parameters
    ----------
    observed
        Observed statistic.
    draws
        ``R`` statistics under re-randomisation (NaN draws are ignored).

    Returns
    -------
    float
    """
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not np.isfinite(observed):
        return float("nan")
    return float((1 + np.sum(np.abs(d) >= abs(observed) * (1 - 1e-12))) / (1 + d.size))


def adjust_pvalues(p: np.ndarray, method: AdjustMethod) -> np.ndarray:
    """Multiplicity-adjusted p-values (NaNs are kept and ignored).

    ``"holm"``: with sorted ``p_(1) <= ... <= p_(m)``,
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
    ``"bh"`` (Benjamini-Hochberg): ``p~_(i) = min_{j >= i} min(1, m p_(j) / j)``.

    Parameters
    ----------
    p
        Unadjusted p-values.
    method
        ``"holm"`` or ``"bh"``.

    Returns
    -------
    numpy.ndarray
    """
    check_option("method", method, ADJUST_METHODS)
    arr = np.asarray(p, dtype=np.float64)
    out = np.full(arr.shape, np.nan)
    ok = np.isfinite(arr)
    x = arr[ok]
    m = x.size
    if m == 0:
        return out
    order = np.argsort(x, kind="stable")
    xs = x[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - i + 1) * xs))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * xs / i)[::-1])[::-1]
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
