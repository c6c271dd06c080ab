"""Restricted wild cluster bootstraps of one GLM parameter: a registry of statistics.

The restricted model (the tested column in the offset at its null value) is fitted once.
At its estimate, with cluster scores ``s_g``, Fisher information ``H`` of the full model
and ``m = H^-1 e_k``, let ``q_g = m' s_g`` and ``r_g = H^-1 s_g``. Each bootstrap draw
multiplies the cluster scores by a weight ``v_g`` (:data:`BOOT_WEIGHTS`); the statistic is
one of :data:`BOOT_STATISTICS`:

* ``"score"`` -- Kline and Santos (2012): ``t* = sum_g v_g q_g / sqrt(sum_g v_g^2 q_g^2)``.
  With Rademacher weights the denominator is the same in every draw, so the bootstrap
  does not reproduce the randomness of the variance estimate: with few clusters the
  test over-rejects (docs/validation.md).
* ``"wald"`` -- the restricted wild cluster bootstrap-t (WCR; Cameron, Gelbach and
  Miller 2008; MacKinnon and Webb 2018; Roodman, MacKinnon, Nielsen and Webb 2019), here
  linearised at the restricted estimate: a draw's unrestricted estimate is one Newton
  step ``theta* - theta_R = H^-1 sum_h v_h s_h`` and its cluster scores at that estimate
  are ``s*_g = v_g s_g - H_g H^-1 sum_h v_h s_h`` (``H_g`` the information of cluster
  ``g``), so its clustered t statistic is

  .. math:: t^* = \\frac{\\sum_h v_h q_h}{\\sqrt{\\sum_g (v_g q_g - \\sum_h C_{gh} v_h)^2}},
      \\qquad C_{gh} = m' H_g r_h,

  and the observed ``t`` is the same with ``v = 1``. The variance is re-estimated from
  each draw's own unrestricted residuals, as in the WCR bootstrap-t; for a linear model
  the linearisation is exact and this is the WCR bootstrap of ``boottest``. Small-sample
  factors cancel. Costs ``O(B G^2)`` after one restricted fit.

The weights:

* ``"rademacher"``: ``v = +-1`` with probability 1/2 (2^G distinct draws);
* ``"webb"``: Webb's (2023) six-point distribution ``+-sqrt(1/2), +-1, +-sqrt(3/2)``, each
  with probability 1/6 (mean 0, variance 1; 6^G draws, for few clusters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from sofeval.errors import EstimationError, check_option
from sofeval.models.covariance import RestrictedScores, restricted_scores
from sofeval.models.families import FAMILIES, Family
from sofeval.models.linalg import Matrix, dot, group_sum, operand
from sofeval.runtime import show_progress

__all__ = [
    "BOOT_STATISTICS",
    "BOOT_WEIGHTS",
    "BootStatistic",
    "WEBB_POINTS",
    "BootWeights",
    "BootstrapResult",
    "draw_weights",
    "rademacher_bits",
    "wald_components",
    "wild_score_bootstrap",
    "wild_t",
    "wild_wald_t",
]

BootStatistic = Literal["score", "wald"]
BOOT_STATISTICS: tuple[BootStatistic, ...] = ("score", "wald")
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


def rademacher_bits(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fair random bits ``u`` of the Rademacher weights ``v = 2 u - 1`` (draws x clusters).

    Each row takes ``ceil(G / 64)`` full-range 64-bit words from ``rng`` and unpacks them
    (little-endian bit order), so a bit costs 1/64 of a random word and the bits of a
    row do not depend on how the rows are split into calls: every wild bootstrap of the
    engine (:func:`draw_weights`, :func:`sofeval.models.wild_joint_test`) that draws
    ``B x G`` Rademacher weights from one seed draws the same weights, whatever its chunks.

    Parameters
    ----------
    rng
        Random generator (the only source of randomness).
    shape
        ``(B, G)``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of zeros and ones, shape ``(B, G)``.
    """
    b, g = shape
    words = rng.integers(0, np.iinfo(np.uint64).max, size=(b, -(-g // 64)), dtype=np.uint64,
                         endpoint=True)
    octets = words.astype("<u8", copy=False).view(np.uint8)
    return np.asarray(np.unpackbits(octets, axis=1, count=g, bitorder="little"))


def draw_weights(
    rng: np.random.Generator, scheme: BootWeights, shape: tuple[int, int]
) -> np.ndarray:
    """Cluster weights ``v`` of a wild bootstrap (rows: draws, columns: clusters).

    Parameters
    ----------
    rng
        Random generator (the only source of randomness).
    scheme
        ``"rademacher"`` (``2 u - 1`` with the bits ``u`` of :func:`rademacher_bits`) or
        ``"webb"``.
    shape
        ``(B, G)``.

    Returns
    -------
    numpy.ndarray
        ``float64`` ``(B, G)``.
    """
    check_option("weights", scheme, BOOT_WEIGHTS)
    if scheme == "rademacher":
        return np.asarray(rademacher_bits(rng, shape) * 2.0 - 1.0)
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


def wald_components(rs: RestrictedScores) -> tuple[np.ndarray, np.ndarray]:
    """``q`` and ``C`` of the linearised restricted wild bootstrap-t (module docstring).

    Parameters
    ----------
    rs
        Restricted fit from :func:`sofeval.models.covariance.restricted_scores`.

    Returns
    -------
    tuple of numpy.ndarray
        ``q`` ``(G,)`` with ``q_g = m' s_g`` and ``C`` ``(G, G)`` with ``C_gh = m' H_g r_h``.
    """
    m = rs.info_row()
    q = np.asarray(rs.scores @ m)
    r = np.asarray(cho_solve(cho_factor(rs.info), rs.scores.T)).T  # rows r_g = H^-1 s_g
    # row g: (H_g m)' = sum_{c in g} w_c (x_c' m) x_c'
    hm = np.asarray(
        group_sum(operand(rs.X), rs.codes, rs.n_clusters, weights=rs.weights * dot(rs.X, m))
    )
    return q, np.asarray(hm @ r.T)


def wild_wald_t(q: np.ndarray, c: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Linearised bootstrap t statistics (module docstring) for rows of ``weights``.

    Parameters
    ----------
    q, c
        From :func:`wald_components`.
    weights
        ``(B, G)`` cluster weights (a row of ones gives the observed statistic).

    Returns
    -------
    numpy.ndarray
        ``(B,)`` statistics.
    """
    num = weights @ q
    d = weights * q[None, :] - weights @ c.T
    den = np.sqrt((d * d).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(num / den)


def wild_score_bootstrap(
    X: Matrix,
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
    statistic: BootStatistic = "score",
) -> BootstrapResult:
    """Restricted wild cluster bootstrap test of ``theta_k = null_value``.

    The restricted model (column ``k`` in the offset) is fitted once. With its cluster
    scores ``s_g`` and the full-model information ``H`` at the restricted estimate, the
    ``"score"`` statistic (Kline and Santos 2012) is ``t = (H^-1 S)_k / sqrt((H^-1 sum_g
    s_g s_g' H^-1)_kk)`` with ``S = sum_g s_g``; the bootstrap replaces ``s_g`` by
    ``w_g s_g`` (``w_g`` Rademacher +-1 or Webb's six-point weights), recomputing the
    denominator. The ``"wald"`` statistic re-estimates the clustered variance from each
    draw's linearised unrestricted residuals (the WCR bootstrap-t; module docstring).
    ``p = #{|t*| >= |t|} / B``. Small-sample constants cancel in ``t``.

    Parameters
    ----------
    X, events, trials, family
        Full-model cell data as for :func:`sofeval.models.glm.fit_glm_cells` (``X`` dense
        or CSR).
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
    statistic
        ``"score"`` (Kline-Santos) or ``"wald"`` (linearised WCR bootstrap-t).

    Returns
    -------
    BootstrapResult

    Raises
    ------
    OptionError
        Unknown ``family``, ``weights`` or ``statistic``.
    """
    check_option("family", family, FAMILIES)
    check_option("weights", weights, BOOT_WEIGHTS)
    check_option("statistic", statistic, BOOT_STATISTICS)
    if B < 1:
        raise EstimationError(f"wild_score_bootstrap: B={B} must be at least 1.")
    rs = restricted_scores(
        X, events, trials, family, clusters, test_index, offset=offset, null_value=null_value,
        start=start,
    )
    if statistic == "score":
        q = np.asarray(rs.scores @ rs.info_row())

        def stat(v: np.ndarray) -> np.ndarray:
            return wild_t(q, v)
    else:
        q, c = wald_components(rs)

        def stat(v: np.ndarray) -> np.ndarray:
            return wild_wald_t(q, c, v)

    t_obs = float(stat(np.ones((1, q.size)))[0])
    rng = np.random.default_rng(seed)
    draws = np.empty(B)
    starts = range(0, B, _CHUNK)
    if show_progress(progress):
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="wild bootstrap", unit="chunk")
    for s0 in starts:
        b = min(_CHUNK, B - s0)
        draws[s0 : s0 + b] = stat(draw_weights(rng, weights, (b, q.size)))
    p = float(np.mean(np.abs(draws) >= abs(t_obs) * (1 - 1e-12)))
    return BootstrapResult(statistic=t_obs, p_value=p, draws=draws)
