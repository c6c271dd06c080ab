"""True weeks on benefit, cumulative incidences and cause-specific effects of a synthetic study.

Computed from the data-generating hazards
(:func:`sofeval.data.synthetic_dgp.exit_probabilities_both`) over the programme spells
(``D = 1``) of the generated data, with the programme as generated and without it (every
theta, subgroup and destination shift 0 and the workplace share at its base, ``S = b_j``),
each spell with its own drawn frailty. For spell i, week t from its entry week ``e_i`` to
the horizon ``tau``: all-cause ``q_i(t) = h_E + sum_k h_k``,
``S_i(t) = prod_{s<=t} (1 - q_i(s))``, weeks on benefit ``W_i = sum_{t=e_i..tau} S_i(t-1)``
and cumulative incidence ``F_ik(w) = sum_{t=e_i..w} S_i(t-1) h_ik(t)`` (DESIGN.md §4b);
the tables give means over the programme spells, pooled and per programme jobcentre.
Spells are processed in chunks of :data:`CHUNK_SPELLS` (arrays spells x weeks x states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data import contract
from sofeval.data.synthetic_calendar import MAX_WEEKS
from sofeval.data.synthetic_dgp import exit_probabilities_both
from sofeval.data.synthetic_outcomes import SyntheticProcess
from sofeval.errors import OptionError

#: Default horizon tau of weeks on benefit and cumulative incidences.
DURATION_HORIZON = 52
#: Spells per chunk: ~4k spells x 52 weeks x 7 states keeps each array near 12 MB.
CHUNK_SPELLS = 4096
#: Destinations in table order (employment first, as :data:`contract.COMPETING_STATES`).
DESTINATIONS: tuple[str, ...] = contract.COMPETING_STATES
_PHASES = ("ex_ante", "programme")


@dataclass(frozen=True)
class DurationSums:
    """Sums over the programme spells of each programme jobcentre.

    Attributes
    ----------
    horizon
        The horizon tau (weeks).
    n
        ``(k,)`` number of programme spells per programme jobcentre.
    weeks_with, weeks_without
        ``(k,)`` summed expected weeks on benefit within tau.
    events_with, events_without
        ``(k, tau, n_destinations)`` summed expected exits per week and destination
        (``S(t-1) h_k(t)``; their cumulative sums are the incidences).
    weight, weighted_shift
        ``(k, 2, n_destinations)`` per phase (weeks 1-7, week 8+): summed expected exits
        with the programme and the same sum weighted by the spell-week's shift of the
        cloglog of the cause-specific hazard (with minus without).
    """

    horizon: int
    n: np.ndarray
    weeks_with: np.ndarray
    weeks_without: np.ndarray
    events_with: np.ndarray
    events_without: np.ndarray
    weight: np.ndarray
    weighted_shift: np.ndarray


def _check_horizon(horizon: int) -> None:
    if not 1 <= horizon <= MAX_WEEKS:
        raise OptionError(f"horizon={horizon} must lie in 1..{MAX_WEEKS} weeks.")


def _cloglog(h: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.log(-np.log1p(-h))
    return out


def _expected_exits(h_all: np.ndarray, at_risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per spell: expected weeks at risk ``sum S(t-1)`` and exits ``S(t-1) h(t)``."""
    h = h_all * at_risk[..., None]
    surv = np.cumprod(1.0 - h.sum(axis=2), axis=1)
    before = np.concatenate([np.ones((h.shape[0], 1)), surv[:, :-1]], axis=1) * at_risk
    return before.sum(axis=1), before[..., None] * h


def duration_sums(process: SyntheticProcess, horizon: int = DURATION_HORIZON) -> DurationSums:
    """Sum expected weeks and exits with and without the programme over programme spells.

    Parameters
    ----------
    process
        The process of a synthetic study.
    horizon
        The horizon tau (1..52 weeks).

    Returns
    -------
    DurationSums

    Raises
    ------
    OptionError
        If ``horizon`` lies outside 1..52.
    """
    _check_horizon(horizon)
    proc, k = process.proc, len(process.cal.programme)
    n_d, weeks = len(DESTINATIONS), np.arange(1, horizon + 1)
    spells = np.flatnonzero(proc.treated)
    n = np.bincount(proc.jc[spells], minlength=k).astype(float)
    w_with, w_without = np.zeros(k), np.zeros(k)
    ev_with, ev_without = np.zeros((k, horizon, n_d)), np.zeros((k, horizon, n_d))
    weight, shifted = np.zeros((k, 2, n_d)), np.zeros((k, 2, n_d))
    phases = (slice(0, 7), slice(7, horizon))  # weeks 1-7, week 8+
    for lo in range(0, spells.size, CHUNK_SPELLS):
        idx = spells[lo : lo + CHUNK_SPELLS]
        at_risk = weeks[None, :] >= proc.entry[idx][:, None]
        h_e1, h_k1, h_e0, h_k0 = exit_probabilities_both(proc, idx, weeks)
        h1 = np.concatenate([h_e1[..., None], h_k1], axis=2)
        h0 = np.concatenate([h_e0[..., None], h_k0], axis=2)
        wk1, ex1 = _expected_exits(h1, at_risk)
        wk0, ex0 = _expected_exits(h0, at_risk)
        onehot = (proc.jc[idx][None, :] == np.arange(k)[:, None]).astype(float)
        w_with += onehot @ wk1
        w_without += onehot @ wk0
        ev_with += (onehot @ ex1.reshape(idx.size, -1)).reshape(k, horizon, n_d)
        ev_without += (onehot @ ex0.reshape(idx.size, -1)).reshape(k, horizon, n_d)
        shift = _cloglog(h1) - _cloglog(h0)
        for p, cols in enumerate(phases):
            weight[:, p] += onehot @ ex1[:, cols].sum(axis=1)
            shifted[:, p] += onehot @ (ex1[:, cols] * shift[:, cols]).sum(axis=1)
    return DurationSums(horizon, n, w_with, w_without, ev_with, ev_without, weight, shifted)


def _scopes(process: SyntheticProcess, n: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``("all", all jobcentres)`` then each programme jobcentre with programme spells, by name."""
    prog = process.cal.programme
    used = sorted((prog[j], j) for j in np.flatnonzero(n > 0))
    if not used:
        return []
    return [("all", np.flatnonzero(n > 0))] + [(name, np.array([j])) for name, j in used]


def durations_from_sums(process: SyntheticProcess, sums: DurationSums) -> pd.DataFrame:
    """The durations table from :func:`duration_sums` (see :func:`true_durations`).

    Parameters
    ----------
    process
        The process of a synthetic study.
    sums
        Its duration sums.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for scope, js in _scopes(process, sums.n):
        n = sums.n[js].sum()
        with_, without = sums.weeks_with[js].sum() / n, sums.weeks_without[js].sum() / n
        rows.append((scope, sums.horizon, int(n), with_, without, without - with_))
    cols = ["scope", "tau_weeks", "n_spells", "weeks_with", "weeks_without", "weeks_saved"]
    return pd.DataFrame(rows, columns=cols)


def incidence_from_sums(process: SyntheticProcess, sums: DurationSums) -> pd.DataFrame:
    """The cumulative-incidence table from :func:`duration_sums` (see :func:`true_incidence`).

    Parameters
    ----------
    process
        The process of a synthetic study.
    sums
        Its duration sums.

    Returns
    -------
    pandas.DataFrame
    """
    frames = []
    tau, n_d = sums.horizon, len(DESTINATIONS)
    for scope, js in _scopes(process, sums.n):
        n = sums.n[js].sum()
        with_ = np.cumsum(sums.events_with[js].sum(axis=0), axis=0) / n
        without = np.cumsum(sums.events_without[js].sum(axis=0), axis=0) / n
        frames.append(
            pd.DataFrame(
                {
                    "scope": scope,
                    "destination": np.tile(np.array(DESTINATIONS, dtype=object), tau),
                    "week": np.repeat(np.arange(1, tau + 1), n_d),
                    "with": with_.ravel(),
                    "without": without.ravel(),
                }
            )
        )
    if not frames:
        cols = {"scope": object, "destination": object, "week": np.int64, "with": float}
        cols |= {"without": float, "difference": float}
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    out = pd.concat(frames, ignore_index=True)
    out["difference"] = out["with"] - out["without"]
    return out.sort_values(["scope", "destination", "week"], kind="mergesort", ignore_index=True)


def cause_specific_from_sums(process: SyntheticProcess, sums: DurationSums) -> pd.DataFrame:
    """Exit-weighted mean shift of each destination's cloglog hazard over programme spells.

    For destination k and phase (``ex_ante`` weeks 1-7, ``programme`` week 8+): the mean,
    over the spell-weeks of programme spells weighted by their expected k-exits with the
    programme, of ``cloglog h_k(with) - cloglog h_k(without)``. It includes the change of a
    state's probability ``(1 - h_E) q_k`` that comes from a changed employment hazard.

    Parameters
    ----------
    process
        The process of a synthetic study.
    sums
        Its duration sums (horizon 52).

    Returns
    -------
    pandas.DataFrame
        ``destination, estimand, jobcentre`` (``ALL`` pooled), ``cause_specific``.
    """
    rows = []
    for scope, js in _scopes(process, sums.n):
        w, ws = sums.weight[js].sum(axis=0), sums.weighted_shift[js].sum(axis=0)
        value = np.divide(ws, w, out=np.full_like(w, np.nan), where=w > 0)
        label = "ALL" if scope == "all" else scope
        for p, estimand in enumerate(_PHASES):
            rows += [(d, estimand, label, float(value[p, i])) for i, d in enumerate(DESTINATIONS)]
    return pd.DataFrame(rows, columns=["destination", "estimand", "jobcentre", "cause_specific"])


def true_durations(process: SyntheticProcess, horizon: int = DURATION_HORIZON) -> pd.DataFrame:
    """True weeks on benefit within the horizon with and without the programme.

    Parameters
    ----------
    process
        The process of a synthetic study (:attr:`SyntheticStudy.process`).
    horizon
        The horizon tau (1..52 weeks).

    Returns
    -------
    pandas.DataFrame
        ``scope`` (``all`` or the programme jobcentre), ``tau_weeks``, ``n_spells``
        (programme spells), ``weeks_with``, ``weeks_without``, ``weeks_saved``
        (= without - with): means over the programme spells of ``W_i``.

    Raises
    ------
    OptionError
        If ``horizon`` lies outside 1..52.
    """
    return durations_from_sums(process, duration_sums(process, horizon))


def true_incidence(process: SyntheticProcess, horizon: int = DURATION_HORIZON) -> pd.DataFrame:
    """True cumulative incidence of every destination with and without the programme.

    Parameters
    ----------
    process
        The process of a synthetic study (:attr:`SyntheticStudy.process`).
    horizon
        The horizon tau (1..52 weeks).

    Returns
    -------
    pandas.DataFrame
        ``scope, destination, week`` (1..tau), ``with, without`` (means over the programme
        spells of ``F_ik(week)``) and ``difference`` (= with - without).

    Raises
    ------
    OptionError
        If ``horizon`` lies outside 1..52.
    """
    return incidence_from_sums(process, duration_sums(process, horizon))
