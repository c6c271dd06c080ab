"""The truth of a synthetic study: its parameters and the estimands they imply.

:class:`Truth` holds tidy tables; they are computed from the data-generating process
(never from a fitted model) over the spells of the generated data. Definitions are in the
docstring of :mod:`sofeval.data.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data.scenarios import (
    AGE_CENTRE,
    BETA_AGE,
    COVARIATE_LEVELS,
    LATE_EXIT_SHARES,
    LATE_EXIT_WEEKLY,
    OTHER_STATES,
    ScenarioEffects,
)
from sofeval.data.synthetic_calendar import MAX_WEEKS, Calendar, month_labels
from sofeval.data.synthetic_dgp import Baseline, SpellProcess


@dataclass(frozen=True)
class Truth:
    """The true parameters of one synthetic study.

    Attributes
    ----------
    scenario, seed
        Scenario name and seed given to :func:`simulate`.
    params
        Every parameter of the DGP, tidy: ``parameter, jobcentre, value``.
    estimands
        ``estimand`` (ex_ante, programme, lambda_early, lambda_late), ``jobcentre``
        (``"ALL"`` for pooled) and ``value`` on the log-hazard scale.
    shares
        ``jobcentre, month`` (``YYYY-MM``), ``share``: true probability that a first
        follow-up meeting in that jobcentre-month is held at the workplace.
    """

    scenario: str
    seed: int
    params: pd.DataFrame
    estimands: pd.DataFrame
    shares: pd.DataFrame


@dataclass(frozen=True)
class Shares:
    """True workplace shares and their parts.

    Attributes
    ----------
    share
        ``(n_jobcentres, n_months)`` shares ``S[j, m - m0]`` for months ``m0..m_data``.
    base
        Base share ``b_j`` per jobcentre.
    lift
        Lift ``L_j`` per jobcentre (0 outside the programme).
    """

    share: np.ndarray
    base: np.ndarray
    lift: np.ndarray


def params_table(
    cal: Calendar, baseline: Baseline, effects: ScenarioEffects, shares: Shares
) -> pd.DataFrame:
    """Every parameter of the DGP: ``parameter, jobcentre, value`` (``"ALL"`` = global).

    Parameters
    ----------
    cal
        The study calendar.
    baseline
        Baseline parameters.
    effects
        The scenario's effects.
    shares
        True workplace shares.

    Returns
    -------
    pandas.DataFrame
    """
    b, e = baseline, effects
    rows: list[tuple[str, str, float]] = []
    rows += [(f"alpha[{t:02d}]", "ALL", float(a)) for t, a in enumerate(b.alpha, start=1)]
    rows += [
        (f"delta[{lab}]", "ALL", float(d))
        for lab, d in zip(month_labels(b.month_ids), b.delta, strict=True)
    ]
    rows += [("gamma", j, float(g)) for j, g in zip(cal.names, b.gamma, strict=True)]
    rows += [("beta[age]", "ALL", BETA_AGE), ("age_centre", "ALL", float(AGE_CENTRE))]
    for c, (lv, _, beta) in COVARIATE_LEVELS.items():
        rows += [(f"beta[{c}={level}]", "ALL", float(v)) for level, v in zip(lv, beta, strict=True)]
    rows += [("theta_ea", j, float(v)) for j, v in zip(cal.programme, e.theta_ea, strict=True)]
    rows += [("theta_p", j, float(v)) for j, v in zip(cal.programme, e.theta_p, strict=True)]
    rows += [
        ("lambda_1", "ALL", e.lam1),
        ("lambda_2", "ALL", e.lam2),
        ("frailty_gamma_variance", "ALL", e.frailty_sd**2),
    ]
    for k, s in enumerate(OTHER_STATES):
        rows += [(f"q_{s}[{t:02d}]", "ALL", float(b.q[t - 1, k])) for t in range(1, MAX_WEEKS + 1)]
    rows += [(f"late_exit_share[{s}]", "ALL", v) for s, v in LATE_EXIT_SHARES.items()]
    rows += [("late_exit_weekly", "ALL", LATE_EXIT_WEEKLY)]
    rows += [("share_base", j, float(v)) for j, v in zip(cal.names, shares.base, strict=True)]
    rows += [("share_lift", j, float(shares.lift[i])) for i, j in enumerate(cal.programme)]
    return pd.DataFrame(rows, columns=["parameter", "jobcentre", "value"])


def estimands_table(
    cal: Calendar, effects: ScenarioEffects, shares: Shares, proc: SpellProcess
) -> pd.DataFrame:
    """True estimands: spell-weighted mean over treated spells of ``theta_j + lambda (S - b_j)``.

    Parameters
    ----------
    cal
        The study calendar.
    effects
        The scenario's effects.
    shares
        True workplace shares.
    proc
        The spell process (treatment, jobcentre and link share per spell).

    Returns
    -------
    pandas.DataFrame
        ``estimand, jobcentre, value``.
    """
    jc, treated, e = proc.jc, proc.treated, effects
    extra = proc.s_link - shares.base[jc]
    tr = pd.DataFrame(
        {"j": jc[treated], "ea": (e.lam1 * extra)[treated], "p": (e.lam2 * extra)[treated]}
    )
    k = len(cal.programme)
    ea_j, p_j = e.theta_ea + 0.0, e.theta_p + 0.0
    n_tr = np.zeros(k)
    if len(tr):
        g = tr.groupby("j").agg(n=("ea", "size"), ea=("ea", "mean"), p=("p", "mean"))
        ids = g.index.to_numpy()
        n_tr[ids] = g["n"].to_numpy()
        ea_j[ids] += g["ea"].to_numpy()
        p_j[ids] += g["p"].to_numpy()
    w = n_tr / n_tr.sum() if n_tr.sum() > 0 else np.full(k, 1.0 / k)
    est = [("ex_ante", "ALL", float(w @ ea_j)), ("programme", "ALL", float(w @ p_j))]
    est += [("ex_ante", j, float(v)) for j, v in zip(cal.programme, ea_j, strict=True)]
    est += [("programme", j, float(v)) for j, v in zip(cal.programme, p_j, strict=True)]
    est += [("lambda_early", "ALL", e.lam1), ("lambda_late", "ALL", e.lam2)]
    return pd.DataFrame(est, columns=["estimand", "jobcentre", "value"])


def shares_table(cal: Calendar, shares: Shares) -> pd.DataFrame:
    """True workplace shares, tidy: ``jobcentre, month, share``.

    Parameters
    ----------
    cal
        The study calendar.
    shares
        True workplace shares.

    Returns
    -------
    pandas.DataFrame
    """
    n_m = shares.share.shape[1]
    return pd.DataFrame(
        {
            "jobcentre": np.repeat(np.array(cal.names, dtype=object), n_m),
            "month": np.tile(month_labels(np.arange(cal.m0, cal.m0 + n_m)), len(cal.names)),
            "share": shares.share.ravel(),
        }
    )


def build_truth(
    scenario: str,
    seed: int,
    cal: Calendar,
    baseline: Baseline,
    effects: ScenarioEffects,
    shares: Shares,
    proc: SpellProcess,
) -> Truth:
    """Assemble the tidy truth tables of a simulated study.

    Parameters
    ----------
    scenario, seed
        As given to :func:`sofeval.data.simulate`.
    cal
        The study calendar.
    baseline
        Baseline parameters.
    effects
        The scenario's effects.
    shares
        True workplace shares.
    proc
        The spell process.

    Returns
    -------
    Truth
    """
    return Truth(
        scenario=scenario,
        seed=seed,
        params=params_table(cal, baseline, effects, shares),
        estimands=estimands_table(cal, effects, shares, proc),
        shares=shares_table(cal, shares),
    )
