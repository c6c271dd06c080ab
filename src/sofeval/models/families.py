"""Families and links of the cell GLM: mean functions, log-likelihoods, Fisher weights.

A cell ``c`` has ``events[c]`` events in ``trials[c]`` person-weeks. The binomial
families (complementary log-log and logit links) model the per-trial probability
``mu = g^-1(eta)``; the Poisson family (piecewise exponential) models the rate
``mu = exp(eta)`` with the exposure in the offset. Everything here is a pure function of
arrays and shared by the GLM fit, the covariance estimators, the bootstrap and the
analyses (one definition of each quantity).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import xlogy

__all__ = [
    "EPS",
    "FAMILIES",
    "Family",
    "fisher_weights",
    "inverse_link",
    "link",
    "loglik",
    "mean_functions",
    "saturated_loglik",
]

Family = Literal["cloglog", "logit", "poisson"]
FAMILIES: tuple[Family, ...] = ("cloglog", "logit", "poisson")

#: Machine epsilon: probabilities are kept in ``[EPS, 1 - EPS]`` and ``dmu/deta >= EPS``
#: so that weights and logarithms stay finite at extreme linear predictors.
EPS = float(np.finfo(float).eps)


def link(mu: np.ndarray, family: str) -> np.ndarray:
    """Linear predictor ``eta = g(mu)`` of a mean.

    ``cloglog``: ``log(-log(1 - mu))``; ``logit``: ``log(mu / (1 - mu))``; ``poisson``:
    ``log(mu)``.

    Parameters
    ----------
    mu
        Per-trial probabilities (binomial) or rates (Poisson).
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.

    Returns
    -------
    numpy.ndarray
    """
    mu = np.asarray(mu, dtype=np.float64)
    if family == "cloglog":
        return np.asarray(np.log(-np.log1p(-mu)))
    if family == "logit":
        return np.asarray(np.log(mu / (1 - mu)))
    return np.asarray(np.log(mu))


def inverse_link(eta: np.ndarray, family: str) -> np.ndarray:
    """Mean ``mu = g^-1(eta)`` (clipped as in :func:`mean_functions`).

    Parameters
    ----------
    eta
        Linear predictor.
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.

    Returns
    -------
    numpy.ndarray
    """
    return mean_functions(np.asarray(eta, dtype=np.float64), family)[0]


def mean_functions(eta: np.ndarray, family: str) -> tuple[np.ndarray, ...]:
    """Return ``mu, dmu/deta, V(mu), log mu, log(1 - mu)`` for a linear predictor.

    Binomial families have ``V(mu) = mu (1 - mu)``; the Poisson family ``V(mu) = mu`` and
    ``log(1 - mu) = 0`` (unused). ``eta`` is clipped where ``exp`` would overflow.

    Parameters
    ----------
    eta
        Linear predictor (any shape).
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(mu, dmu, var, log_mu, log_1mmu)``.
    """
    if family == "cloglog":  # one clip, and in-place steps: the same values, fewer passes
        eta = np.asarray(eta, dtype=np.float64)
        if eta.ndim == 0:
            return tuple(np.asarray(a).reshape(()) for a in mean_functions(eta[None], family))
        ce = np.clip(eta, -700.0, 6.5)
        e = np.exp(ce)
        neg_e = np.negative(e)
        mu = np.negative(np.expm1(neg_e))
        np.clip(mu, EPS, 1 - EPS, out=mu)
        dmu = np.subtract(ce, e, out=ce)
        np.exp(dmu, out=dmu)
        np.maximum(dmu, EPS, out=dmu)
        var = np.subtract(1, mu)
        var *= mu
        log_mu = np.log(mu)
        log_1mmu = np.maximum(neg_e, np.log(EPS), out=neg_e)
    elif family == "logit":
        et = np.clip(eta, -36.0, 36.0)
        mu = np.clip(1.0 / (1.0 + np.exp(-et)), EPS, 1 - EPS)
        dmu = np.maximum(mu * (1 - mu), EPS)
        var = mu * (1 - mu)
        log_mu = -np.logaddexp(0.0, -et)
        log_1mmu = -np.logaddexp(0.0, et)
    else:
        et = np.minimum(eta, 700.0)
        mu = np.maximum(np.exp(et), np.finfo(float).tiny)
        dmu = mu
        var = mu
        log_mu = et
        log_1mmu = np.zeros_like(mu)
    return mu, dmu, var, log_mu, log_1mmu


def fisher_weights(eta: np.ndarray, trials: np.ndarray, family: str) -> np.ndarray:
    """Per-cell Fisher (IRLS) weights ``n (dmu/deta)^2 / V(mu)``.

    The expected information of the cell GLM is ``X' diag(w) X`` with these weights.
    Cells at ``eta = +-inf`` (separated categories) get the weight at the clipped
    linear predictor, about ``n * EPS``.

    Parameters
    ----------
    eta
        Linear predictor per cell (including any offset).
    trials
        Person-weeks ``n`` per cell.
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.

    Returns
    -------
    numpy.ndarray
    """
    _, dmu, var = mean_functions(np.asarray(eta, dtype=np.float64), family)[:3]
    return np.asarray(np.asarray(trials, dtype=np.float64) * dmu * dmu / var)


def loglik(
    y: np.ndarray,
    n: np.ndarray,
    mu: np.ndarray,
    log_mu: np.ndarray,
    log_1mmu: np.ndarray,
    family: str,
) -> float:
    """Person-week log-likelihood of cell counts (no combinatorial constants).

    Binomial: ``sum y log mu + (n - y) log(1 - mu)``; Poisson with unit exposure:
    ``sum y log mu - n mu``.

    Parameters
    ----------
    y, n
        Events and trials per cell.
    mu, log_mu, log_1mmu
        Mean and its logarithms from :func:`mean_functions`.
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.

    Returns
    -------
    float
    """
    if family == "poisson":
        return float(np.sum(y * log_mu - n * mu))
    return float(np.sum(y * log_mu + (n - y) * log_1mmu))


def saturated_loglik(y: np.ndarray, n: np.ndarray, family: str) -> float:
    """Log-likelihood of the saturated cell model (cell means ``y / n``).

    Parameters
    ----------
    y, n
        Events and trials per cell.
    family
        ``"cloglog"``, ``"logit"`` or ``"poisson"``.

    Returns
    -------
    float
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(n > 0, y / np.where(n > 0, n, 1.0), 0.0)
    if family == "poisson":
        return float(np.sum(xlogy(y, r) - y))
    return float(np.sum(xlogy(y, r) + xlogy(n - y, 1.0 - r)))
