"""Wild cluster score bootstrap (Kline and Santos 2012) of one GLM parameter.

The restricted model (the tested column in the offset at its null value) is fitted
once; its cluster contributions ``q_g`` (:func:`sofeval.models.covariance.score_contributions`)
give the statistic ``t = sum_g q_g / sqrt(sum_g q_g^2)``, and each bootstrap draw multiplies
``q_g`` by a cluster weight ``v_g`` from one of :data:`BOOT_WEIGHTS`:

* ``"rademacher"``: ``v = +-1`` with probability 1/2 (2^G distinct draws);
* ``"webb"``: Webb's (2023) six-point distribution ``+-sqrt(1/2), +-1, +-sqrt(3/2)``, each
  with probability 1/6 (mean 0, variance 1; 6^G draws, for few clusters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sofeval.errors import EstimationError, check_option
from sofeval.models.covariance import score_contributions
from sofeval.models.families import FAMILIES, Family
from sofeval.runtime import show_progress

__all__ = [
    "BOOT_WEIGHTS",
    "WEBB_POINTS",
    "BootWeights",
    "BootstrapResult",
    "draw_weights",
    "wild_score_bootstrap",
    "wild_t",
]

BootWeights = Literal["rademacher", "webb"]
BOOT_WEIGHTS: tuple[BootWeights, ...] = ("rademacher", "webb")
#: Support of Webb's six-point weight distribution (equal probabilities).
WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
_CHUNK = 2048


@dataclass(frozen=True)
class BootstrapResult:
    """Result of a wild cluster score bootstrap.

    Attributes
    ----------
    statistic
        Observed score statistic ``t``.
    p_value
        Share of bootstrap draws with ``|t*| >= |t|``.
    draws
        The ``B`` bootstrap statistics ``t*``.
    """

    statistic: float
    p_value: float
    draws: np.ndarray


def draw_weights(
    rng: np.random.Generator, scheme: BootWeights, shape: tuple[int, int]
) -> np.ndarray:
    """Cluster weights ``v`` of a wild bootstrap (rows: draws, columns: clusters).

    Parameters
    ----------
    rng
        Random generator (the only source of randomness).
    scheme
        ``"rademacher"`` or ``"webb"``.
    shape
        ``(B, G)``.

    Returns
    -------
    numpy.ndarray
    """
    check_option("weights", scheme, BOOT_WEIGHTS)
    if scheme == "rademacher":
        return np.asarray(rng.integers(0, 2, size=shape) * 2.0 - 1.0)
    return np.asarray(WEBB_POINTS[rng.integers(0, 6, size=shape)])


def wild_t(q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Score statistics ``t* = sum_g w_g q_g / sqrt(sum_g w_g^2 q_g^2)`` for rows of ``weights``.

    Parameters
    ----------
    q
        Cluster contributions ``(G,)`` from
        :func:`sofeval.models.covariance.score_contributions`.
    weights
        ``(B, G)`` cluster weights.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` statistics.
    """
    num = weights @ q
    den = np.sqrt((weights * weights) @ (q * q))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(num / den)


def wild_score_bootstrap(
    X: np.ndarray,
    events: np.ndarray,
    trials: np.ndarray,
    family: Family,
    clusters: np.ndarray,
    test_index: int,
    *,
    B: int = 999,
    weights: BootWeights = "rademacher",
    seed: int,
    progress: bool | None = None,
    offset: np.ndarray | None = None,
    null_value: float = 0.0,
    start: np.ndarray | None = None,
) -> BootstrapResult:
    """Kline-Santos (2012) wild cluster score bootstrap test of ``theta_k = null_value``.

    The restricted model (column ``k`` in the offset) is fitted once. With its cluster
    scores ``s_g`` and the full-model information ``H`` at the restricted estimate, the
    statistic is ``t = (H^-1 S)_k / sqrt((H^-1 sum_g s_g s_g' H^-1)_kk)`` with
    ``S = sum_g s_g``; the bootstrap replaces ``s_g`` by ``w_g s_g`` (``w_g``
    Rademacher +-1 or Webb's six-point weights), recomputing the denominator, and
    ``p = #{|t*| >= |t|} / B``. Small-sample constants cancel in ``t``.

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.glm.fit_glm_cells`.
    clusters
        Cluster label per cell (cells nest within clusters).
    test_index
        Column of the tested parameter.
    B
        Number of bootstrap draws.
    weights
        ``"rademacher"`` or ``"webb"``.
    seed
        Seed of :func:`numpy.random.default_rng`.
    progress
        Show a tqdm bar; None shows it only on a terminal with ``CI`` unset.
    offset
        Optional offset.
    null_value
        Value of ``theta_k`` under the null (default 0).
    start
        Starting coefficients for the restricted fit (see
        :func:`sofeval.models.covariance.score_contributions`).

    Returns
    -------
    BootstrapResult
    """
    check_option("family", family, FAMILIES)
    check_option("weights", weights, BOOT_WEIGHTS)
    if B < 1:
        raise EstimationError(f"wild_score_bootstrap: B={B} must be at least 1.")
    q = score_contributions(
        X, events, trials, family, clusters, test_index, offset=offset, null_value=null_value,
        start=start,
    )
    t_obs = float(wild_t(q, np.ones((1, q.size)))[0])
    rng = np.random.default_rng(seed)
    draws = np.empty(B)
    starts = range(0, B, _CHUNK)
    if show_progress(progress):
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="wild bootstrap", unit="chunk")
    for s0 in starts:
        b = min(_CHUNK, B - s0)
        draws[s0 : s0 + b] = wild_t(q, draw_weights(rng, weights, (b, q.size)))
    p = float(np.mean(np.abs(draws) >= abs(t_obs) * (1 - 1e-12)))
    return BootstrapResult(statistic=t_obs, p_value=p, draws=draws)
