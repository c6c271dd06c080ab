"""G-computation of weeks on benefit and cumulative incidences from cause-specific hazards.

Pure functions on arrays (DESIGN.md §4b). Spells that share every regressor of the hazard
models (jobcentre, absence-start day -- which fixes the calendar month of every spell week
--, covariates and entry week) share their predicted hazards; they are one *pattern* with a
count. Week ``t`` of pattern ``i`` reads its predicted hazards from *prediction row*
``U = rows[i, t - 1]`` (``-1`` before the entry week ``e_i``), so the hazards are predicted
once per distinct row, not per spell and week.

For pattern ``i`` with cause-specific hazards ``h_ik(t)`` and all-cause hazard
``q_i(t) = sum_k h_ik(t)``:

.. math::

    S_i(t) = \\prod_{s=e_i}^{t} (1 - q_i(s)),\\quad S_i(e_i - 1) = 1,\\qquad
    W_i = \\sum_{t=e_i}^{\\tau} S_i(t-1),\\qquad
    F_{ik}(w) = \\sum_{t=e_i}^{w} S_i(t-1)\\, h_{ik}(t).

Their derivatives with respect to the hazards (for the delta method) are, for
``e_i <= t <= tau``,

.. math::

    \\frac{\\partial W_i}{\\partial h_{ik}(t)}
        = -\\frac{\\sum_{s=t+1}^{\\tau} S_i(s-1)}{1 - q_i(t)},
    \\qquad
    \\frac{\\partial F_{ik'}(w)}{\\partial h_{ik}(t)} = 1[k = k', t \\le w]\\, S_i(t-1)
        - 1[t < w]\\, \\frac{F_{ik'}(w) - F_{ik'}(t)}{1 - q_i(t)},

summed over the patterns that read the same prediction row (one sparse product for all
weeks ``w`` and destinations ``k'`` at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from sofeval.errors import EstimationError

__all__ = [
    "CHUNK_PATTERNS",
    "GCompGradients",
    "GCompMeans",
    "Patterns",
    "gcomp_gradients",
    "gcomp_means",
    "gcomp_sums",
    "survival_paths",
]

#: Patterns processed at once (bounds the memory of the (destinations x patterns x weeks)
#: arrays at about 7 x 20,000 x 52 doubles).
CHUNK_PATTERNS = 20_000


@dataclass(frozen=True)
class Patterns:
    """Spells grouped by their predicted hazards.

    Attributes
    ----------
    rows
        ``(n, tau)`` ``int64``: prediction row of spell week ``t = 1..tau`` (column
        ``t - 1``), ``-1`` before the pattern's entry week.
    count
        ``(n,)`` spells per pattern.
    scope
        ``(n,)`` ``int64`` scope (e.g. jobcentre) code ``0..n_scopes-1`` of each pattern;
        every prediction row must belong to one scope.
    n_scopes
        Number of scopes.
    """

    rows: np.ndarray
    count: np.ndarray
    scope: np.ndarray
    n_scopes: int

    @property
    def horizon(self) -> int:
        """The horizon ``tau`` in weeks."""
        return int(self.rows.shape[1])

    def n_spells(self) -> np.ndarray:
        """Spells per scope."""
        return np.bincount(self.scope, weights=self.count, minlength=self.n_scopes)


@dataclass(frozen=True)
class GCompMeans:
    """Sums over the spells of each scope (divide by :meth:`Patterns.n_spells` for means).

    Attributes
    ----------
    weeks
        ``(n_scopes,)``: sum of ``W_i``.
    incidence
        ``(n_scopes, K, tau)``: sum of ``F_ik(w)`` for ``w = 1..tau``.
    """

    weeks: np.ndarray
    incidence: np.ndarray


@dataclass(frozen=True)
class GCompGradients:
    """Derivatives of the scope sums with respect to the hazard of each prediction row.

    Attributes
    ----------
    weeks
        ``(n_rows,)``: ``sum_{(i,t) -> U} n_i dW_i / dh_k(t)`` (the same for every ``k``).
    first, second
        ``(n_rows,)`` and ``(n_rows, K, tau)``: the derivative of the sum of
        ``F_ik'(w)`` with respect to the hazard ``h_k`` of row ``U`` is
        ``1[k = k'] 1[week_U <= w] first[U] - second[U, k', w]``.
    week
        ``(n_rows,)``: the spell week of each row (0 for rows no pattern reads).
    scope
        ``(n_rows,)``: the scope of each row (-1 for rows no pattern reads).
    """

    weeks: np.ndarray
    first: np.ndarray
    second: np.ndarray
    week: np.ndarray
    scope: np.ndarray

    def incidence(self, k: int) -> np.ndarray:
        """``(n_rows, K, tau)`` derivative of every incidence sum with respect to ``h_k``."""
        out = -self.second
        tau = out.shape[2]
        upto = self.week[:, None] <= np.arange(1, tau + 1)[None, :]
        out[:, k, :] += np.where(upto, self.first[:, None], 0.0)
        return out


def _chunks(n: int, size: int = CHUNK_PATTERNS) -> Iterator[slice]:
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))


def survival_paths(
    hazard: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Survival, weeks and cumulative incidences of patterns from their hazards.

    Parameters
    ----------
    hazard
        ``(K, n_rows)`` cause-specific hazards of the prediction rows.
    rows
        ``(n, tau)`` prediction row of each pattern and week (``-1``: not yet at risk).

    Returns
    -------
    h : numpy.ndarray
        ``(K, n, tau)`` hazards (0 where not at risk).
    s_prev : numpy.ndarray
        ``(n, tau)``: ``S_i(t - 1)`` (1 before entry).
    weeks : numpy.ndarray
        ``(n,)``: ``W_i``.
    incidence : numpy.ndarray
        ``(K, n, tau)``: ``F_ik(w)``.

    Raises
    ------
    EstimationError
        If the predicted all-cause hazard of a week reaches 1 (separate cause-specific
        models do not bound their sum).
    """
    active = rows >= 0
    h = np.where(active[None], hazard[:, np.where(active, rows, 0)], 0.0)
    q = h.sum(axis=0)
    bad = q >= 1.0
    if bad.any():
        i, t = np.argwhere(bad)[0]
        raise EstimationError(
            f"g-computation: the predicted hazards of all destinations sum to {q[i, t]:.3f} "
            f"(>= 1) in spell week {t + 1} of prediction row {rows[i, t]} "
            f"({int(bad.sum())} pattern-weeks); the destination models predict more exits "
            "than spells. Coarsen sparse categories or shorten the horizon."
        )
    surv = np.cumprod(1.0 - q, axis=1)
    s_prev = np.concatenate([np.ones((len(rows), 1)), surv[:, :-1]], axis=1)
    weeks = (s_prev * active).sum(axis=1)
    incidence = np.cumsum(s_prev[None] * h, axis=2)
    return h, s_prev, weeks, incidence


def _flat(f: np.ndarray) -> np.ndarray:
    """``(K, n, tau)`` -> ``(n, K*tau)`` (a copy)."""
    k, n, tau = f.shape
    return f.transpose(1, 0, 2).reshape(n, k * tau)


def _means_chunk(
    weeks: np.ndarray, inc: np.ndarray, patterns: Patterns, sl: slice,
    w: np.ndarray, f_flat: np.ndarray,
) -> None:
    """Add the scope sums of one chunk of patterns (``W`` and ``F`` as ``(n, K*tau)``)."""
    g, tau = patterns.n_scopes, patterns.horizon
    k = f_flat.shape[1] // tau
    n, sc = patterns.count[sl], patterns.scope[sl]
    weeks += np.bincount(sc, weights=n * w, minlength=g)
    agg = sparse.csr_matrix((n, (sc, np.arange(len(n)))), shape=(g, len(n)))
    inc += np.asarray(agg @ f_flat).reshape(g, k, tau)


@dataclass
class _GradAcc:
    """Accumulators of :func:`gcomp_gradients` over the chunks of patterns."""

    weeks: np.ndarray
    first: np.ndarray
    ac: np.ndarray
    ac_t: np.ndarray
    week: np.ndarray
    scope: np.ndarray

    @classmethod
    def zeros(cls, n_rows: int, k: int, tau: int) -> _GradAcc:
        return cls(np.zeros(n_rows), np.zeros(n_rows), np.zeros((n_rows, k * tau)),
                   np.zeros((n_rows, k)), np.zeros(n_rows, dtype=np.int64),
                   np.full(n_rows, -1, dtype=np.int64))

    def add(
        self, patterns: Patterns, sl: slice,
        h: np.ndarray, s_prev: np.ndarray, w: np.ndarray, f: np.ndarray,
        f_flat: np.ndarray,
    ) -> None:
        """Add one chunk of patterns (its survival paths; ``f_flat``: ``f`` as ``(n, K*tau)``)."""
        k, n_rows = self.ac_t.shape[1], self.ac_t.shape[0]
        tau = patterns.horizon
        rows = patterns.rows[sl]
        n = patterns.count[sl][:, None]
        active = rows >= 0
        u = rows[active]
        one_minus_q = 1.0 - h.sum(axis=0)
        after = w[:, None] - np.cumsum(s_prev * active, axis=1)  # sum_{s>t} S(s-1)
        self.weeks += np.bincount(u, weights=(-n * after / one_minus_q)[active],
                                  minlength=n_rows)
        self.first += np.bincount(u, weights=(n * s_prev)[active], minlength=n_rows)
        a = (n / one_minus_q)[active]
        pat = np.broadcast_to(np.arange(rows.shape[0])[:, None], rows.shape)[active]
        amat = sparse.csr_matrix((a, (u, pat)), shape=(n_rows, rows.shape[0]))
        self.ac += np.asarray(amat @ f_flat)
        tt = np.broadcast_to(np.arange(tau)[None, :], rows.shape)[active]
        f_at_t = f[:, pat, tt]  # (K, n_active): F_ik(t)
        for j in range(k):
            self.ac_t[:, j] += np.bincount(u, weights=a * f_at_t[j], minlength=n_rows)
        self.week[u] = tt + 1
        self.scope[u] = np.broadcast_to(patterns.scope[sl][:, None], rows.shape)[active]

    def result(self, tau: int) -> GCompGradients:
        """The gradients."""
        n_rows, k = self.ac_t.shape
        later = np.arange(1, tau + 1)[None, :] > self.week[:, None]  # w > t_U
        second = (self.ac.reshape(n_rows, k, tau) - self.ac_t[:, :, None]) * later[:, None, :]
        return GCompGradients(weeks=self.weeks, first=self.first, second=second,
                              week=self.week, scope=self.scope)


def gcomp_means(hazard: np.ndarray, patterns: Patterns) -> GCompMeans:
    """Sums of weeks on benefit and cumulative incidences over the spells of every scope.

    Parameters
    ----------
    hazard
        ``(K, n_rows)`` cause-specific hazards of the prediction rows.
    patterns
        The spells, grouped.

    Returns
    -------
    GCompMeans
    """
    k, tau, g = hazard.shape[0], patterns.horizon, patterns.n_scopes
    weeks = np.zeros(g)
    inc = np.zeros((g, k, tau))
    for sl in _chunks(len(patterns.count)):
        _, _, w, f = survival_paths(hazard, patterns.rows[sl])
        _means_chunk(weeks, inc, patterns, sl, w, _flat(f))
    return GCompMeans(weeks=weeks, incidence=inc)


def gcomp_gradients(hazard: np.ndarray, patterns: Patterns) -> GCompGradients:
    """Derivatives of the scope sums of :func:`gcomp_means` with respect to the row hazards.

    Parameters
    ----------
    hazard
        ``(K, n_rows)`` cause-specific hazards of the prediction rows.
    patterns
        The spells, grouped.

    Returns
    -------
    GCompGradients
        The gradients of :func:`gcomp_sums` (which computes the sums beside them at little
        extra cost).
    """
    return gcomp_sums(hazard, patterns)[1]


def gcomp_sums(hazard: np.ndarray, patterns: Patterns) -> tuple[GCompMeans, GCompGradients]:
    """:func:`gcomp_means` and :func:`gcomp_gradients` at once (the survival paths once).

    Parameters
    ----------
    hazard
        ``(K, n_rows)`` cause-specific hazards of the prediction rows.
    patterns
        The spells, grouped.

    Returns
    -------
    tuple of GCompMeans and GCompGradients
        Equal (bit for bit) to the two functions' results.
    """
    k, n_rows = hazard.shape
    tau, g = patterns.horizon, patterns.n_scopes
    weeks = np.zeros(g)
    inc = np.zeros((g, k, tau))
    acc = _GradAcc.zeros(n_rows, k, tau)
    for sl in _chunks(len(patterns.count)):
        h, s_prev, w, f = survival_paths(hazard, patterns.rows[sl])
        f_flat = _flat(f)
        _means_chunk(weeks, inc, patterns, sl, w, f_flat)
        acc.add(patterns, sl, h, s_prev, w, f, f_flat)
    return GCompMeans(weeks=weeks, incidence=inc), acc.result(tau)
