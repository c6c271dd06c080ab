"""The hazards of the synthetic generator and the weekly draws of spell outcomes.

The steps of :func:`sofeval.data.simulate` that define *when and where a spell ends*:
the baseline parameters (:func:`draw_baseline`), the spells and their covariates
(:func:`draw_spells`), each spell's treatment and effects (:func:`spell_process`) and the
weekly competing-risk draws (:func:`draw_outcomes`). The process is documented in the
docstring of :mod:`sofeval.data.synthetic`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sofeval.data.scenarios import (
    AGE_CENTRE,
    ALPHA_A0,
    BETA_AGE,
    COVARIATE_LEVELS,
    LATE_EXIT_SHARES,
    LATE_EXIT_WEEKLY,
    OTHER_HAZARDS,
    OTHER_STATES,
    REASSESSMENT_HAZARD,
    REASSESSMENT_WEEK,
    ScenarioEffects,
)
from sofeval.data.synthetic_calendar import MAX_WEEKS, Calendar, month_numbers
from sofeval.runtime import show_progress


@dataclass(frozen=True)
class Baseline:
    """Baseline parameters of the employment hazard and the other exit states.

    Attributes
    ----------
    alpha
        Week effects ``alpha(t)``, ``t = 1..MAX_WEEKS``.
    gamma
        Jobcentre effects, in the order of :attr:`Calendar.names`.
    month_ids
        Month numbers ``m0..m_last`` of the month effects.
    delta
        Month effects, one per ``month_ids``.
    q
        ``(MAX_WEEKS, n_other_states)`` weekly conditional probabilities of the other states.
    """

    alpha: np.ndarray
    gamma: np.ndarray
    month_ids: np.ndarray
    delta: np.ndarray
    q: np.ndarray


def draw_baseline(rng: np.random.Generator, cal: Calendar) -> Baseline:
    """Draw the jobcentre and month effects; set the week effects and other-state hazards.

    Parameters
    ----------
    rng
        The generator's random stream.
    cal
        The study calendar.

    Returns
    -------
    Baseline
    """
    gamma = rng.normal(0.0, 0.12, len(cal.names))
    month_ids = np.arange(cal.m0, cal.m_last + 1)
    delta = 0.06 * np.sin(2 * np.pi * (month_ids % 12) / 12) + rng.normal(0, 0.03, month_ids.size)
    alpha = np.array(
        [ALPHA_A0 - 0.45 * np.log(t / 5.0) + 0.3 * (t <= 4) for t in range(1, MAX_WEEKS + 1)]
    )
    q = np.tile(np.array([OTHER_HAZARDS[s] for s in OTHER_STATES]), (MAX_WEEKS, 1))
    q[REASSESSMENT_WEEK - 1, OTHER_STATES.index("job_clarification")] = REASSESSMENT_HAZARD
    return Baseline(alpha=alpha, gamma=gamma, month_ids=month_ids, delta=delta, q=q)


@dataclass(frozen=True)
class SpellDraws:
    """The drawn attributes of each spell (arrays of length ``n``).

    Attributes
    ----------
    jc
        Jobcentre index into :attr:`Calendar.names`.
    abs_d, bs_d
        Day numbers of ``absence_start`` and ``benefit_start``.
    cov_idx
        Level index per covariate of :data:`COVARIATE_LEVELS`.
    age
        Age in years.
    xb
        Covariate part ``x'beta`` of the employment log-hazard.
    entry, entry_day
        Entry week (delayed entry) and the day of that week on which benefit starts.
    frail
        Mean-one gamma frailty (ones without frailty).
    """

    jc: np.ndarray
    abs_d: np.ndarray
    bs_d: np.ndarray
    cov_idx: dict[str, np.ndarray]
    age: np.ndarray
    xb: np.ndarray
    entry: np.ndarray
    entry_day: np.ndarray
    frail: np.ndarray


def _pick(
    rng: np.random.Generator, levels: tuple[object, ...], p: tuple[float, ...], n: int
) -> np.ndarray:
    return rng.choice(len(levels), size=n, p=np.asarray(p) / np.sum(p))


def draw_spells(
    rng: np.random.Generator,
    n: int,
    cal: Calendar,
    weights: np.ndarray,
    frailty_sd: float,
) -> SpellDraws:
    """Draw jobcentre, absence start, covariates, entry week and frailty of ``n`` spells.

    Parameters
    ----------
    rng
        The generator's random stream.
    n
        Number of spells.
    cal
        The study calendar.
    weights
        Jobcentre size weights.
    frailty_sd
        Standard deviation of the gamma frailty (0 = none; nothing is drawn then).

    Returns
    -------
    SpellDraws
    """
    jc = rng.choice(len(cal.names), size=n, p=weights / weights.sum())
    abs_d = rng.integers(cal.d0, cal.d1 + 1, size=n)
    cov_idx = {c: _pick(rng, lv, p, n) for c, (lv, p, _) in COVARIATE_LEVELS.items()}
    age = np.clip(np.rint(rng.normal(45, 11, n)), 18, 66).astype(np.int64)
    xb = BETA_AGE * (age - AGE_CENTRE)
    for c, (_, _, b) in COVARIATE_LEVELS.items():
        xb = xb + np.asarray(b)[cov_idx[c]]
    u_entry = rng.random(n)
    entry = np.where(u_entry < 0.75, 5, np.where(u_entry < 0.90, 1, rng.integers(2, 9, n)))
    entry_day = np.where(entry == 1, 0, rng.integers(0, 7, n))
    bs_d = abs_d + 7 * (entry - 1) + entry_day
    fsd = frailty_sd
    frail = rng.gamma(1.0 / fsd**2, fsd**2, n) if fsd > 0 else np.ones(n)
    return SpellDraws(
        jc=jc,
        abs_d=abs_d,
        bs_d=bs_d,
        cov_idx=cov_idx,
        age=age,
        xb=xb,
        entry=entry,
        entry_day=entry_day,
        frail=frail,
    )


@dataclass(frozen=True)
class SpellProcess:
    """Everything the weekly hazards of each spell depend on.

    Attributes
    ----------
    jc, abs_d, entry
        Jobcentre index, absence-start day and entry week per spell.
    static
        ``gamma_j + x'beta + log(v_i)`` per spell.
    eff_early, eff_late
        Effect terms added in weeks 1-7 / week 8+: ``theta D + lambda S_{j,m}``.
    treated
        ``D``: the week-8 date lies in the jobcentre's programme window.
    link
        Month number of the week-8 date.
    s_link
        True workplace share of the spell's jobcentre in its link month.
    baseline
        The week, month and other-state parameters.
    m0
        Month number of ``baseline.delta[0]``.
    """

    jc: np.ndarray
    abs_d: np.ndarray
    entry: np.ndarray
    static: np.ndarray
    eff_early: np.ndarray
    eff_late: np.ndarray
    treated: np.ndarray
    link: np.ndarray
    s_link: np.ndarray
    baseline: Baseline
    m0: int


def spell_process(
    draws: SpellDraws,
    cal: Calendar,
    baseline: Baseline,
    effects: ScenarioEffects,
    share: np.ndarray,
) -> SpellProcess:
    """Treatment status, link month, share and effect terms of each spell.

    Parameters
    ----------
    draws
        The drawn spells.
    cal
        The study calendar.
    baseline
        Baseline parameters.
    effects
        The scenario's effects.
    share
        True workplace shares ``S[j, m - m0]``.

    Returns
    -------
    SpellProcess
    """
    jc, n_other = draws.jc, len(cal.names) - len(cal.programme)
    w8 = draws.abs_d + 49
    is_prog = jc < len(cal.programme)
    win_a = np.array([cal.windows[j][0] for j in cal.programme] + [0] * n_other)[jc]
    win_b = np.array([cal.windows[j][1] for j in cal.programme] + [-1] * n_other)[jc]
    treated = is_prog & (w8 >= win_a) & (w8 <= win_b)
    link = month_numbers(w8)
    s_link = share[jc, link - cal.m0]
    th_ea_all = np.concatenate([effects.theta_ea, np.zeros(n_other)])[jc]
    th_p_all = np.concatenate([effects.theta_p, np.zeros(n_other)])[jc]
    return SpellProcess(
        jc=jc,
        abs_d=draws.abs_d,
        entry=draws.entry,
        static=baseline.gamma[jc] + draws.xb + np.log(draws.frail),
        eff_early=th_ea_all * treated + effects.lam1 * s_link,
        eff_late=th_p_all * treated + effects.lam2 * s_link,
        treated=treated,
        link=link,
        s_link=s_link,
        baseline=baseline,
        m0=cal.m0,
    )


def employment_hazard(proc: SpellProcess, idx: np.ndarray, t: int) -> np.ndarray:
    """Weekly employment hazard ``h_E = 1 - exp(-exp(eta))`` of spells ``idx`` in week ``t``.

    Parameters
    ----------
    proc
        The spell process.
    idx
        Spell indices.
    t
        Spell week (1-based).

    Returns
    -------
    numpy.ndarray
    """
    b = proc.baseline
    mon = month_numbers(proc.abs_d[idx] + 7 * (t - 1)) - proc.m0
    eff = proc.eff_early[idx] if t <= 7 else proc.eff_late[idx]
    h_e: np.ndarray = -np.expm1(-np.exp(b.alpha[t - 1] + proc.static[idx] + b.delta[mon] + eff))
    return h_e


@dataclass(frozen=True)
class Outcomes:
    """Exit week, state and end day of each spell.

    Attributes
    ----------
    exit_week
        Spell week of the exit (beyond 52 for late exits).
    exit_state
        0 employment, ``1 + k`` for :data:`OTHER_STATES` ``[k]``.
    end_d
        Day number of the last day on benefit (may lie after ``data_end``).
    ended
        The exit is observed (``end_d <= data_end``).
    obs_end
        Last observed day on benefit (``end_d`` or ``data_end``).
    """

    exit_week: np.ndarray
    exit_state: np.ndarray
    end_d: np.ndarray
    ended: np.ndarray
    obs_end: np.ndarray


def draw_outcomes(
    rng: np.random.Generator,
    proc: SpellProcess,
    draws: SpellDraws,
    d_data: int,
    label: str,
    progress: bool | None,
) -> Outcomes:
    """Draw each spell's exit week and state, week by week from its entry week.

    Parameters
    ----------
    rng
        The generator's random stream.
    proc
        The spell process.
    draws
        The drawn spells (entry week and day).
    d_data
        Day number of ``data_end``.
    label
        Name shown on the progress bar.
    progress
        Show a progress bar over weeks (``None``: :func:`sofeval.runtime.show_progress`).

    Returns
    -------
    Outcomes
    """
    n = proc.abs_d.size
    q_cum = np.cumsum(proc.baseline.q, axis=1)
    alive = np.ones(n, dtype=bool)
    exit_week = np.zeros(n, dtype=np.int64)
    exit_state = np.full(n, -1, dtype=np.int64)  # 0 employment, 1.. other states
    weeks: Iterable[int] = range(1, MAX_WEEKS + 1)
    if show_progress(progress):
        from tqdm.auto import tqdm

        weeks = tqdm(weeks, desc=f"simulate {label}", unit="week")
    for t in weeks:
        idx = np.flatnonzero(alive & (proc.entry <= t))
        h_e = employment_hazard(proc, idx, t)
        u = rng.random(idx.size)
        emp = u < h_e
        v = (u - h_e) / (1.0 - h_e)
        k = np.searchsorted(q_cum[t - 1], v, side="right")
        out = emp | (k < len(OTHER_STATES))
        exit_state[idx[out]] = np.where(emp[out], 0, k[out] + 1)
        exit_week[idx[out]] = t
        alive[idx[out]] = False
    late = np.flatnonzero(alive)
    exit_week[late] = MAX_WEEKS + rng.geometric(LATE_EXIT_WEEKLY, late.size)
    late_p = np.array([LATE_EXIT_SHARES[s] for s in ("employment", *OTHER_STATES)])
    exit_state[late] = rng.choice(late_p.size, size=late.size, p=late_p / late_p.sum())
    u_day = rng.random(n)
    lo = np.where(exit_week == draws.entry, draws.entry_day, 0)
    end_d = draws.abs_d + 7 * (exit_week - 1) + lo + np.floor(u_day * (7 - lo)).astype(np.int64)
    ended = end_d <= d_data
    return Outcomes(
        exit_week=exit_week,
        exit_state=exit_state,
        end_d=end_d,
        ended=ended,
        obs_end=np.where(ended, end_d, d_data),
    )
