"""The truth of a synthetic study: its parameters and the estimands they imply.

:class:`Truth` holds tidy tables; they are computed from the data-generating process
(never from a fitted model) over the spells of the generated data. Definitions are in the
docstring of :mod:`sofeval.data.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sofeval.data import contract
from sofeval.data.scenarios import (
    AGE_CENTRE,
    BETA_AGE,
    COVARIATE_LEVELS,
    LATE_EXIT_SHARES,
    LATE_EXIT_WEEKLY,
    OTHER_STATES,
    RECURRENCE_KAPPA0,
    RECURRENCE_SLOPE,
    RECURRENCE_WEEKS,
    Shares,
)
from sofeval.data.synthetic_calendar import MAX_WEEKS, Calendar, month_labels
from sofeval.data.synthetic_dgp import level_mask
from sofeval.data.synthetic_durations import (
    cause_specific_from_sums,
    duration_sums,
    durations_from_sums,
    incidence_from_sums,
)
from sofeval.data.synthetic_outcomes import SyntheticProcess
from sofeval.data.synthetic_recurrence import true_recurrence

#: Labels and lower edges of the age bands (as ``sofeval.panel.AGE_LABELS`` bins age:
#: left-closed, ages below 30 in the first band).
AGE_BANDS: tuple[str, ...] = ("16-29", "30-39", "40-49", "50-59", "60+")
AGE_BAND_EDGES: tuple[int, ...] = (30, 40, 50, 60)
#: Spell covariates of the subgroup truths (``age`` in :data:`AGE_BANDS`).
SUBGROUP_VARIABLES: tuple[str, ...] = tuple(contract.SPELL_COVARIATES)
#: Lowest event-time bin (``<= -6`` quarters before the programme start).
EVENT_QUARTER_LOWEST = -6


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
    destinations
        ``destination, estimand`` (ex_ante, programme), ``jobcentre`` (``ALL`` pooled),
        ``value``: the structural cause-specific log-hazard effect (employment rows equal
        :attr:`estimands`; another state's value is its programme shift, 0 where the DGP
        has none), and ``cause_specific``: the exit-weighted mean change of that state's
        cloglog hazard over programme spells, including the part that comes through a
        changed employment hazard (see :func:`cause_specific_from_sums`).
    durations
        ``scope, tau_weeks, n_spells, weeks_with, weeks_without, weeks_saved``
        (:func:`sofeval.data.true_durations`, tau = 52).
    incidence
        ``scope, destination, week, with, without, difference``
        (:func:`sofeval.data.true_incidence`, weeks 1..52).
    recurrence
        ``scope, horizon_weeks, n_returns, recurrence_with, recurrence_without,
        difference`` (empty without recurrence; :func:`true_recurrence`).
    event_study
        ``estimand, event_quarter, n_spells, value`` (:func:`true_event_study`).
    subgroups
        ``variable, level, estimand, n_spells, value`` (:func:`true_subgroups`).
    """

    scenario: str
    seed: int
    params: pd.DataFrame
    estimands: pd.DataFrame
    shares: pd.DataFrame
    destinations: pd.DataFrame = field(default_factory=pd.DataFrame)
    durations: pd.DataFrame = field(default_factory=pd.DataFrame)
    incidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    recurrence: pd.DataFrame = field(default_factory=pd.DataFrame)
    event_study: pd.DataFrame = field(default_factory=pd.DataFrame)
    subgroups: pd.DataFrame = field(default_factory=pd.DataFrame)


def params_table(process: SyntheticProcess) -> pd.DataFrame:
    """Every parameter of the DGP: ``parameter, jobcentre, value`` (``"ALL"`` = global).

    Parameters
    ----------
    process
        The process of a synthetic study.

    Returns
    -------
    pandas.DataFrame
    """
    cal, b, e, shares = process.cal, process.baseline, process.effects, process.shares
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
    rows += _new_feature_params(process)
    return pd.DataFrame(rows, columns=["parameter", "jobcentre", "value"])


def _new_feature_params(process: SyntheticProcess) -> list[tuple[str, str, float]]:
    """Rows of the destination, subgroup, pre-trend and recurrence parameters (when on)."""
    e = process.effects
    rows = [(f"theta_ea[{k}]", "ALL", float(v)) for k, v in e.destination_ea.items()]
    rows += [(f"theta_p[{k}]", "ALL", float(v)) for k, v in e.destination_p.items()]
    if e.subgroup is not None:
        variable, level = e.subgroup
        rows += [
            (f"theta_ea_subgroup[{variable}={level}]", "ALL", e.subgroup_ea),
            (f"theta_p_subgroup[{variable}={level}]", "ALL", e.subgroup_p),
        ]
    if e.pretrend != 0:
        rows += [("pretrend_per_quarter", "ALL", e.pretrend)]
    if e.recurrence:
        rows += [
            ("recurrence_kappa0", "ALL", RECURRENCE_KAPPA0),
            ("recurrence_slope", "ALL", RECURRENCE_SLOPE),
            ("recurrence_weeks", "ALL", float(RECURRENCE_WEEKS)),
            ("rho", "ALL", e.rho),
        ]
    return rows


def estimands_table(process: SyntheticProcess) -> pd.DataFrame:
    """True estimands: spell-weighted mean over treated spells of ``theta_j + lambda (S - b_j)``.

    A subgroup effect adds its mean over the treated spells.

    Parameters
    ----------
    process
        The process of a synthetic study.

    Returns
    -------
    pandas.DataFrame
        ``estimand, jobcentre, value``.
    """
    cal, e, proc = process.cal, process.effects, process.proc
    jc, treated = proc.jc, proc.treated
    extra = proc.s_link - process.shares.base[jc]
    tr = pd.DataFrame(
        {"j": jc[treated], "ea": (e.lam1 * extra)[treated], "p": (e.lam2 * extra)[treated]}
    )
    if e.subgroup is not None:
        in_sub = level_mask(process.draws, *e.subgroup)[treated]
        tr["ea"] += e.subgroup_ea * in_sub
        tr["p"] += e.subgroup_p * in_sub
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


def destinations_table(process: SyntheticProcess, estimands: pd.DataFrame) -> pd.DataFrame:
    """Structural cause-specific log-hazard effect per destination (see :class:`Truth`).

    Parameters
    ----------
    process
        The process of a synthetic study.
    estimands
        Its :func:`estimands_table` (the employment rows).

    Returns
    -------
    pandas.DataFrame
        ``destination, estimand, jobcentre, value``.
    """
    e = process.effects
    emp = estimands[estimands["estimand"].isin(["ex_ante", "programme"])]
    frames = [emp.assign(destination="employment")]
    for state in OTHER_STATES:
        value = {"ex_ante": e.destination_ea.get(state, 0.0)}
        value["programme"] = e.destination_p.get(state, 0.0)
        frames.append(emp.assign(destination=state, value=emp["estimand"].map(value).astype(float)))
    out = pd.concat(frames, ignore_index=True)
    return out[["destination", "estimand", "jobcentre", "value"]]


def true_event_study(
    process: SyntheticProcess, lowest: int = EVENT_QUARTER_LOWEST, highest: int | None = None
) -> pd.DataFrame:
    """True event-study coefficients relative to event quarter -1.

    Event time is the calendar quarter of a spell's week-8 date minus the quarter of its
    jobcentre's programme start, binned to ``[lowest, highest]`` (``highest`` defaults to
    the first quarter after the window, :attr:`Calendar.first_post_quarter`). For each
    bin and phase (``ex_ante`` weeks 1-7, ``programme`` week 8+): the spell-weighted mean
    over the programme-jobcentre spells in the bin of their effect on the employment
    log-hazard relative to the comparison jobcentres (the programme part
    ``(theta + subgroup) D + lambda (S - b_j) D`` plus any pre-trend term), minus the same
    mean in bin -1. Leads are 0 except in ``pretrend``.

    Parameters
    ----------
    process
        The process of a synthetic study.
    lowest, highest
        The end bins (``<= lowest`` and ``>= highest``).

    Returns
    -------
    pandas.DataFrame
        ``estimand, event_quarter, n_spells, value`` (no row for the reference -1).
    """
    proc = process.proc
    top = process.cal.first_post_quarter if highest is None else highest
    sel = proc.in_programme_jobcentre
    frame = pd.DataFrame(
        {
            "event_quarter": np.clip(proc.event_quarter[sel], lowest, top),
            "ex_ante": (proc.prog_early + proc.trend)[sel],
            "programme": (proc.prog_late + proc.trend)[sel],
        }
    )
    g = frame.groupby("event_quarter", sort=True)
    means = g[["ex_ante", "programme"]].mean()
    ref = means.loc[-1] if -1 in means.index else pd.Series(np.nan, index=means.columns)
    rel = (means - ref).drop(index=-1, errors="ignore")
    rel["n_spells"] = g.size().reindex(rel.index).astype(np.int64)
    out = rel.reset_index().melt(
        id_vars=["event_quarter", "n_spells"],
        value_vars=["ex_ante", "programme"],
        var_name="estimand",
    )
    out = out.sort_values(["estimand", "event_quarter"], kind="mergesort", ignore_index=True)
    return out[["estimand", "event_quarter", "n_spells", "value"]]


def subgroup_levels(process: SyntheticProcess, variable: str) -> np.ndarray:
    """The level of ``variable`` of every spell as a string (``age``: its band).

    Parameters
    ----------
    process
        The process of a synthetic study.
    variable
        One of :data:`SUBGROUP_VARIABLES`.

    Returns
    -------
    numpy.ndarray
        Object array of strings.
    """
    draws = process.draws
    if variable == "age":
        band = np.searchsorted(np.array(AGE_BAND_EDGES), draws.age, side="right")
        return np.array(AGE_BANDS, dtype=object)[band]
    levels = np.array([str(v) for v in COVARIATE_LEVELS[variable][0]], dtype=object)
    return levels[draws.cov_idx[variable]]


def true_subgroups(process: SyntheticProcess) -> pd.DataFrame:
    """True effect per level of each spell covariate, over the treated spells of that level.

    The spell-weighted mean over treated spells with that level of the programme part of
    the employment log-hazard ``(theta_j + subgroup) + lambda (S - b_j)``, per phase.

    Parameters
    ----------
    process
        The process of a synthetic study.

    Returns
    -------
    pandas.DataFrame
        ``variable, level`` (a string; ``age`` in :data:`AGE_BANDS`), ``estimand``,
        ``n_spells``, ``value``.
    """
    proc = process.proc
    tr = proc.treated
    rows: list[tuple[str, str, str, int, float]] = []
    for variable in SUBGROUP_VARIABLES:
        levels, code = np.unique(subgroup_levels(process, variable)[tr], return_inverse=True)
        n = np.bincount(code, minlength=levels.size)
        for estimand, prog in (("ex_ante", proc.prog_early), ("programme", proc.prog_late)):
            mean = np.bincount(code, weights=prog[tr], minlength=levels.size) / n
            rows += [
                (variable, str(lv), estimand, int(k), float(v))
                for lv, k, v in zip(levels, n, mean, strict=True)
            ]
    out = pd.DataFrame(rows, columns=["variable", "level", "estimand", "n_spells", "value"])
    return out.sort_values(["variable", "level", "estimand"], kind="mergesort", ignore_index=True)


def build_truth(scenario: str, seed: int, process: SyntheticProcess) -> Truth:
    """Assemble the tidy truth tables of a simulated study.

    Parameters
    ----------
    scenario, seed
        As given to :func:`sofeval.data.simulate`.
    process
        The process that generated the study.

    Returns
    -------
    Truth
    """
    estimands = estimands_table(process)
    sums = duration_sums(process)
    destinations = destinations_table(process, estimands).merge(
        cause_specific_from_sums(process, sums),
        on=["destination", "estimand", "jobcentre"],
        how="left",
    )
    return Truth(
        scenario=scenario,
        seed=seed,
        params=params_table(process),
        estimands=estimands,
        shares=shares_table(process.cal, process.shares),
        destinations=destinations,
        durations=durations_from_sums(process, sums),
        incidence=incidence_from_sums(process, sums),
        recurrence=true_recurrence(process),
        event_study=true_event_study(process),
        subgroups=true_subgroups(process),
    )
