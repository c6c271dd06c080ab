"""The weekly draws of spell outcomes and the process behind a synthetic study.

:func:`draw_outcomes` draws each spell's exit week and state from the hazards of
:mod:`sofeval.data.synthetic_dgp`; :class:`SyntheticProcess` keeps everything that
generated a study so that its truths can be computed (:mod:`sofeval.data.synthetic_truth`,
:mod:`sofeval.data.synthetic_durations`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sofeval.data.scenarios import (
    LATE_EXIT_SHARES,
    LATE_EXIT_WEEKLY,
    OTHER_STATES,
    ScenarioEffects,
    Shares,
)
from sofeval.data.synthetic_calendar import MAX_WEEKS, Calendar
from sofeval.data.synthetic_dgp import (
    Baseline,
    SpellDraws,
    SpellProcess,
    employment_hazard,
    exit_probabilities,
)
from sofeval.runtime import show_progress


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


def concat_outcomes(parts: Sequence[Outcomes]) -> Outcomes:
    """The outcomes of several sets of spells, in order.

    Parameters
    ----------
    parts
        Outcomes to join.

    Returns
    -------
    Outcomes
    """
    if len(parts) == 1:
        return parts[0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return Outcomes(
        exit_week=cat("exit_week"),
        exit_state=cat("exit_state"),
        end_d=cat("end_d"),
        ended=cat("ended"),
        obs_end=cat("obs_end"),
    )


def _week_states(
    rng: np.random.Generator, proc: SpellProcess, idx: np.ndarray, t: int, q_cum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One multinomial draw per spell ``idx`` in week ``t``: employment flag, other state.

    The other-state index ``k`` equals ``len(OTHER_STATES)`` where the spell stays.
    """
    if proc.moves_destinations:
        h_ew, h_kw = exit_probabilities(proc, idx, np.array([t]))
        h_e, h_k = h_ew[:, 0], h_kw[:, 0, :]
        cond = np.cumsum(h_k / (1.0 - h_e)[:, None], axis=1)
        u = rng.random(idx.size)
        v = (u - h_e) / (1.0 - h_e)
        return u < h_e, (cond <= v[:, None]).sum(axis=1)
    h_e = employment_hazard(proc, idx, t)
    u = rng.random(idx.size)
    v = (u - h_e) / (1.0 - h_e)
    return u < h_e, np.searchsorted(q_cum[t - 1], v, side="right")


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
        emp, k = _week_states(rng, proc, idx, t, q_cum)
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


@dataclass(frozen=True)
class SyntheticProcess:
    """The data-generating process behind a synthetic study, for computing its truths.

    Everything is per spell of the generated ``spells`` table, in its row order (the
    first ``n_spells`` rows, then the recurrence spells round by round).

    Attributes
    ----------
    cal
        The study calendar.
    baseline
        Baseline parameters (month effects cover every simulated week).
    effects
        The scenario's effects after keyword overrides.
    shares
        True workplace shares.
    draws
        Drawn spell attributes (covariates, entry, frailty).
    proc
        Each spell's hazard inputs.
    outcomes
        Each spell's exit.
    """

    cal: Calendar
    baseline: Baseline
    effects: ScenarioEffects
    shares: Shares
    draws: SpellDraws
    proc: SpellProcess
    outcomes: Outcomes
