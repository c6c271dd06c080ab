"""The hazards of the synthetic generator.

The steps of :func:`sofeval.data.simulate` that define the weekly hazards: the baseline
parameters (:func:`draw_baseline`), the spells and their covariates (:func:`draw_spells`),
each spell's treatment and effects (:func:`spell_process`), and the cause-specific exit
probabilities they imply (:func:`exit_probabilities`), which both the draws and the truth
use. The process is documented in the docstring of :mod:`sofeval.data.synthetic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sofeval.data.scenarios import (
    AGE_CENTRE,
    ALPHA_A0,
    BETA_AGE,
    COVARIATE_LEVELS,
    OTHER_HAZARDS,
    OTHER_STATES,
    REASSESSMENT_HAZARD,
    REASSESSMENT_WEEK,
    ScenarioEffects,
    Shares,
)
from sofeval.data.synthetic_calendar import MAX_WEEKS, Calendar, month_numbers, quarter_numbers


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
    delta = _month_effects(month_ids, rng)
    alpha = np.array(
        [ALPHA_A0 - 0.45 * np.log(t / 5.0) + 0.3 * (t <= 4) for t in range(1, MAX_WEEKS + 1)]
    )
    q = np.tile(np.array([OTHER_HAZARDS[s] for s in OTHER_STATES]), (MAX_WEEKS, 1))
    q[REASSESSMENT_WEEK - 1, OTHER_STATES.index("job_clarification")] = REASSESSMENT_HAZARD
    return Baseline(alpha=alpha, gamma=gamma, month_ids=month_ids, delta=delta, q=q)


def _month_effects(month_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``0.06 sin(2 pi month_of_year / 12) + N(0, 0.03)`` per month."""
    season: np.ndarray = 0.06 * np.sin(2 * np.pi * (month_ids % 12) / 12)
    return season + rng.normal(0, 0.03, month_ids.size)


def extend_months(baseline: Baseline, last_month: int, rng: np.random.Generator) -> Baseline:
    """The baseline with month effects drawn for the months after its last one.

    Parameters
    ----------
    baseline
        Baseline parameters.
    last_month
        Month number up to which month effects are needed.
    rng
        The random stream for the new months (a child stream: the main one is untouched).

    Returns
    -------
    Baseline
        ``baseline`` itself when it already covers ``last_month``.
    """
    first = int(baseline.month_ids[-1]) + 1
    if last_month < first:
        return baseline
    new = np.arange(first, last_month + 1)
    return replace(
        baseline,
        month_ids=np.concatenate([baseline.month_ids, new]),
        delta=np.concatenate([baseline.delta, _month_effects(new, rng)]),
    )


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
    return spell_attributes(rng, jc, abs_d, frailty_sd)


def spell_attributes(
    rng: np.random.Generator,
    jc: np.ndarray,
    abs_d: np.ndarray,
    frailty_sd: float,
    keep: dict[str, np.ndarray] | None = None,
) -> SpellDraws:
    """Draw covariates, entry week and frailty of spells with given jobcentre and start.

    Parameters
    ----------
    rng
        The random stream.
    jc, abs_d
        Jobcentre index and absence-start day per spell.
    frailty_sd
        Standard deviation of the gamma frailty (0 = none; nothing is drawn then).
    keep
        Covariate level indices (or ``age``) to use instead of the drawn ones (a new
        spell of the same person keeps sex, sector and age).

    Returns
    -------
    SpellDraws
    """
    n = jc.size
    cov_idx = {c: _pick(rng, lv, p, n) for c, (lv, p, _) in COVARIATE_LEVELS.items()}
    age = np.clip(np.rint(rng.normal(45, 11, n)), 18, 66).astype(np.int64)
    if keep is not None:
        cov_idx.update({c: v for c, v in keep.items() if c in cov_idx})
        age = keep.get("age", age)
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


def concat_draws(parts: Sequence[SpellDraws]) -> SpellDraws:
    """The spells of several draws, in order.

    Parameters
    ----------
    parts
        Draws to join.

    Returns
    -------
    SpellDraws
    """
    if len(parts) == 1:
        return parts[0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return SpellDraws(
        jc=cat("jc"),
        abs_d=cat("abs_d"),
        bs_d=cat("bs_d"),
        cov_idx={c: np.concatenate([p.cov_idx[c] for p in parts]) for c in parts[0].cov_idx},
        age=cat("age"),
        xb=cat("xb"),
        entry=cat("entry"),
        entry_day=cat("entry_day"),
        frail=cat("frail"),
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
        Effect terms added in weeks 1-7 / week 8+ as generated:
        ``theta D + lambda S_{j,m}`` (+ subgroup and pre-trend terms where a scenario has them).
    prog_early, prog_late
        The part of ``eff_*`` the programme causes: ``(theta + subgroup) D + lambda (S - b_j) D``.
    trend
        Pre-trend term (in both phases) of programme-jobcentre spells before the start.
    treated
        ``D``: the week-8 date lies in the jobcentre's programme window.
    link
        Month number of the week-8 date.
    s_link
        True workplace share of the spell's jobcentre in its link month.
    in_programme_jobcentre
        The spell's jobcentre has a programme window.
    event_quarter
        Quarter of the week-8 date minus the quarter of the jobcentre's programme start
        (0 for spells of other jobcentres).
    dest_ea, dest_p
        Cloglog shift of each other state's hazard (:data:`OTHER_STATES` order) for treated
        spells in weeks 1-7 / week 8+.
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
    prog_early: np.ndarray
    prog_late: np.ndarray
    trend: np.ndarray
    treated: np.ndarray
    link: np.ndarray
    s_link: np.ndarray
    in_programme_jobcentre: np.ndarray
    event_quarter: np.ndarray
    dest_ea: np.ndarray
    dest_p: np.ndarray
    baseline: Baseline
    m0: int

    @property
    def moves_destinations(self) -> bool:
        """Whether the programme shifts another state's hazard directly."""
        return bool(np.any(self.dest_ea != 0) or np.any(self.dest_p != 0))


def spell_process(
    draws: SpellDraws,
    cal: Calendar,
    baseline: Baseline,
    effects: ScenarioEffects,
    shares: Shares,
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
    shares
        True workplace shares.

    Returns
    -------
    SpellProcess
    """
    jc, k_prog = draws.jc, len(cal.programme)
    n_other = len(cal.names) - k_prog
    w8 = draws.abs_d + 49
    is_prog = jc < k_prog
    win_a = np.array([cal.windows[j][0] for j in cal.programme] + [0] * n_other)[jc]
    win_b = np.array([cal.windows[j][1] for j in cal.programme] + [-1] * n_other)[jc]
    treated = is_prog & (w8 >= win_a) & (w8 <= win_b)
    link = month_numbers(w8)
    # spells of later rounds (recurrences) may link to months after data_end: last share
    s_link = shares.share[jc, np.minimum(link - cal.m0, shares.share.shape[1] - 1)]
    th_ea_all = np.concatenate([effects.theta_ea, np.zeros(n_other)])[jc]
    th_p_all = np.concatenate([effects.theta_p, np.zeros(n_other)])[jc]
    eff_early = th_ea_all * treated + effects.lam1 * s_link
    eff_late = th_p_all * treated + effects.lam2 * s_link
    start_q = quarter_numbers(np.array([cal.window_months[j][0] for j in cal.programme] + [0]))
    event_quarter = np.where(is_prog, quarter_numbers(link) - start_q[np.minimum(jc, k_prog)], 0)
    sub_ea, sub_p = np.zeros(jc.size), np.zeros(jc.size)
    if effects.subgroup is not None:
        variable, level = effects.subgroup
        in_sub = level_mask(draws, variable, level)
        sub_ea, sub_p = (
            effects.subgroup_ea * in_sub * treated,
            effects.subgroup_p * in_sub * treated,
        )
        eff_early, eff_late = eff_early + sub_ea, eff_late + sub_p
    trend = np.zeros(jc.size)
    if effects.pretrend != 0:
        trend = effects.pretrend * np.minimum(event_quarter, 0) * is_prog
        eff_early, eff_late = eff_early + trend, eff_late + trend
    extra = (s_link - shares.base[jc]) * treated
    return SpellProcess(
        jc=jc,
        abs_d=draws.abs_d,
        entry=draws.entry,
        static=baseline.gamma[jc] + draws.xb + np.log(draws.frail),
        eff_early=eff_early,
        eff_late=eff_late,
        prog_early=th_ea_all * treated + sub_ea + effects.lam1 * extra,
        prog_late=th_p_all * treated + sub_p + effects.lam2 * extra,
        trend=trend,
        treated=treated,
        link=link,
        s_link=s_link,
        in_programme_jobcentre=is_prog,
        event_quarter=event_quarter,
        dest_ea=np.array([effects.destination_ea.get(k, 0.0) for k in OTHER_STATES]),
        dest_p=np.array([effects.destination_p.get(k, 0.0) for k in OTHER_STATES]),
        baseline=baseline,
        m0=cal.m0,
    )


def level_mask(draws: SpellDraws, variable: str, level: object) -> np.ndarray:
    """Spells whose covariate ``variable`` has the value ``level``.

    Parameters
    ----------
    draws
        The drawn spells.
    variable
        A covariate of :data:`COVARIATE_LEVELS`.
    level
        One of its levels.

    Returns
    -------
    numpy.ndarray
        Boolean mask.
    """
    levels = COVARIATE_LEVELS[variable][0]
    return np.asarray(draws.cov_idx[variable] == levels.index(level))


def cloglog_inverse(eta: np.ndarray) -> np.ndarray:
    """Discrete hazard ``1 - exp(-exp(eta))`` of a complementary log-log predictor.

    Parameters
    ----------
    eta
        Linear predictor.

    Returns
    -------
    numpy.ndarray
    """
    h: np.ndarray = -np.expm1(-np.exp(eta))
    return h


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
    return cloglog_inverse(b.alpha[t - 1] + proc.static[idx] + b.delta[mon] + eff)


def exit_probabilities(
    proc: SpellProcess, idx: np.ndarray, weeks: np.ndarray, with_programme: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Cause-specific weekly exit probabilities of spells ``idx`` in spell weeks ``weeks``.

    Employment: ``h_E = 1 - exp(-exp(eta))``; another state k: ``h_k = (1 - h_E) q_k(t)``,
    except where the programme shifts it: ``h_k = 1 - (1 - h_k0)^exp(theta_k)`` with
    ``h_k0`` that state's probability without the programme (a shift of ``theta_k`` on
    the cloglog scale). Without the programme, the programme's part of the predictor
    (:attr:`SpellProcess.prog_early` / ``prog_late``) and every shift are removed.

    Parameters
    ----------
    proc
        The spell process.
    idx
        Spell indices (``m`` of them).
    weeks
        Spell weeks (``w`` of them, 1-based, at most :data:`MAX_WEEKS`).
    with_programme
        ``False`` for the counterfactual without the programme.

    Returns
    -------
    h_e : numpy.ndarray
        ``(m, w)`` employment probabilities.
    h_k : numpy.ndarray
        ``(m, w, n_other_states)`` probabilities of the other states.
    """
    h_e, h_k, h_e0, h_k0 = exit_probabilities_both(proc, idx, weeks)
    return (h_e, h_k) if with_programme else (h_e0, h_k0)


def exit_probabilities_both(
    proc: SpellProcess, idx: np.ndarray, weeks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`exit_probabilities` with and without the programme, computed together.

    Parameters
    ----------
    proc
        The spell process.
    idx
        Spell indices (``m`` of them).
    weeks
        Spell weeks (``w`` of them).

    Returns
    -------
    h_e, h_k, h_e0, h_k0 : numpy.ndarray
        With the programme ``(m, w)`` and ``(m, w, n_other_states)``, then without it.
    """
    b, w = proc.baseline, np.asarray(weeks)
    mon = month_numbers(proc.abs_d[idx][:, None] + 7 * (w[None, :] - 1)) - proc.m0
    early = (w <= 7)[None, :]
    eff = np.where(early, proc.eff_early[idx][:, None], proc.eff_late[idx][:, None])
    prog = np.where(early, proc.prog_early[idx][:, None], proc.prog_late[idx][:, None])
    base = b.alpha[w - 1][None, :] + proc.static[idx][:, None] + b.delta[mon]
    q = b.q[w - 1][None, :, :]
    h_e0 = cloglog_inverse(base + (eff - prog))
    h_k0 = (1.0 - h_e0)[..., None] * q
    h_e = cloglog_inverse(base + eff)
    h_k = (1.0 - h_e)[..., None] * q
    if proc.moves_destinations:
        theta = np.where(early[..., None], proc.dest_ea, proc.dest_p)
        shift = theta * proc.treated[idx][:, None, None]
        moved = -np.expm1(np.exp(shift) * np.log1p(-h_k0))
        h_k = np.where(shift != 0, moved, h_k)
    return h_e, h_k, h_e0, h_k0
