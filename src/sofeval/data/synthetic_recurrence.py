"""Recurrence: new spells of persons who returned to employment, and their true probability.

The recurrence hazard in week ``w = 1..RECURRENCE_WEEKS`` since a return to employment
(``benefit_end``) is ``r_i(w) = 1 - exp(-exp(kappa(w) + gamma_j + rho D_i))`` with
``kappa(w) = RECURRENCE_KAPPA0 + RECURRENCE_SLOPE log(w)``, ``gamma_j`` the jobcentre
effect of the employment hazard and ``D_i`` the returning spell's treatment; no
recurrence after week ``RECURRENCE_WEEKS``. Because the hazard is proportional on the
cloglog scale, the probability of a new spell within ``h`` weeks is
``1 - exp(-exp(gamma_j + rho D_i) K(h))`` with ``K(h) = sum_{w<=h} exp(kappa(w))``, and the
week of recurrence is drawn exactly by inverting it with one exponential variate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sofeval.data.scenarios import RECURRENCE_KAPPA0, RECURRENCE_SLOPE, RECURRENCE_WEEKS
from sofeval.data.synthetic_dgp import (
    SpellDraws,
    SpellProcess,
    concat_draws,
    spell_attributes,
    spell_process,
)
from sofeval.data.synthetic_outcomes import (
    Outcomes,
    SyntheticProcess,
    concat_outcomes,
    draw_outcomes,
)
from sofeval.errors import OptionError

#: Recurrence horizons (weeks after the return) of the truth table.
RECURRENCE_HORIZONS: tuple[int, ...] = (26, 52)
#: Covariates a new spell of the same person keeps (the others are drawn anew).
KEPT_COVARIATES: tuple[str, ...] = ("sex", "sector")
_MAX_AGE = 66


def recurrence_cumulative_baseline() -> np.ndarray:
    """``K(w) = sum_{s<=w} exp(kappa(s))`` for ``w = 1..RECURRENCE_WEEKS``.

    Returns
    -------
    numpy.ndarray
    """
    w = np.arange(1, RECURRENCE_WEEKS + 1)
    return np.cumsum(np.exp(RECURRENCE_KAPPA0 + RECURRENCE_SLOPE * np.log(w)))


def recurrence_offset(proc: SpellProcess, idx: np.ndarray, rho: float) -> np.ndarray:
    """Spell part ``gamma_j + rho D_i`` of the recurrence predictor of spells ``idx``.

    Parameters
    ----------
    proc
        The spell process.
    idx
        Indices of the returning spells.
    rho
        Programme effect (0 for the counterfactual without the programme).

    Returns
    -------
    numpy.ndarray
    """
    offset: np.ndarray = proc.baseline.gamma[proc.jc[idx]] + rho * proc.treated[idx]
    return offset


def recurrence_probability(offset: np.ndarray, horizon: int) -> np.ndarray:
    """Probability of a new spell within ``horizon`` weeks of the return.

    Parameters
    ----------
    offset
        ``gamma_j + rho D_i`` per return (:func:`recurrence_offset`).
    horizon
        Weeks after ``benefit_end`` (1..``RECURRENCE_WEEKS``).

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    OptionError
        If ``horizon`` lies outside 1..``RECURRENCE_WEEKS``.
    """
    if not 1 <= horizon <= RECURRENCE_WEEKS:
        raise OptionError(f"horizon={horizon} must lie in 1..{RECURRENCE_WEEKS} weeks.")
    k = recurrence_cumulative_baseline()[horizon - 1]
    p: np.ndarray = -np.expm1(-np.exp(offset) * k)
    return p


@dataclass(frozen=True)
class Recurrences:
    """The new spells of all recurrence rounds, in round order.

    Attributes
    ----------
    draws, proc, outcomes
        Their attributes, hazard inputs and exits.
    person
        Person number per new spell (that of the spell it follows).
    """

    draws: SpellDraws
    proc: SpellProcess
    outcomes: Outcomes
    person: np.ndarray


def _one_round(
    rng: np.random.Generator,
    process: SyntheticProcess,
    draws: SpellDraws,
    proc: SpellProcess,
    outcomes: Outcomes,
) -> tuple[np.ndarray, SpellDraws]:
    """Parents (indices into this round) and the drawn new spells of the next round."""
    cal, effects = process.cal, process.effects
    idx = np.flatnonzero(outcomes.ended & (outcomes.exit_state == 0))
    scaled = rng.standard_exponential(idx.size) * np.exp(-recurrence_offset(proc, idx, effects.rho))
    week = np.searchsorted(recurrence_cumulative_baseline(), scaled, side="left") + 1
    start = outcomes.end_d[idx] + 7 * (week - 1) + 1 + rng.integers(0, 7, idx.size)
    ok = (week <= RECURRENCE_WEEKS) & (start <= cal.d_data)
    par, start = idx[ok], start[ok]
    keep = {c: draws.cov_idx[c][par] for c in KEPT_COVARIATES}
    keep["age"] = np.minimum(draws.age[par] + (start - draws.abs_d[par]) // 365, _MAX_AGE)
    return par, spell_attributes(rng, draws.jc[par], start, effects.frailty_sd, keep)


def draw_recurrences(
    rng: np.random.Generator, process: SyntheticProcess, person: np.ndarray
) -> Recurrences | None:
    """Draw new spells after returns to employment, round after round, until none is left.

    Each observed exit to employment (of the first spells and of every new spell) may be
    followed by a new spell of the same person, in the same jobcentre, with the same sex
    and sector, an age that has grown with the calendar, other covariates, entry week and
    frailty drawn anew, starting ``1..7`` days into the week of recurrence; a new spell
    that would start after ``data_end`` is not generated. Spells of one person never
    overlap: each new spell starts after the end of the spell it follows.

    Parameters
    ----------
    rng
        The child random stream of recurrences (the main stream is untouched).
    process
        The process of the first spells.
    person
        Person number of each first spell.

    Returns
    -------
    Recurrences or None
        ``None`` when no spell recurs.
    """
    cal, baseline, effects, shares = process.cal, process.baseline, process.effects, process.shares
    draws, proc, outcomes, persons = process.draws, process.proc, process.outcomes, person
    parts: list[tuple[SpellDraws, Outcomes, np.ndarray]] = []
    while True:
        parents, new = _one_round(rng, process, draws, proc, outcomes)
        if parents.size == 0:
            break
        persons = persons[parents]
        draws = new
        proc = spell_process(draws, cal, baseline, effects, shares)
        outcomes = draw_outcomes(rng, proc, draws, cal.d_data, "recurrences", False)
        parts.append((draws, outcomes, persons))
    if not parts:
        return None
    joint = concat_draws([p[0] for p in parts])
    return Recurrences(
        draws=joint,
        proc=spell_process(joint, cal, baseline, effects, shares),
        outcomes=concat_outcomes([p[1] for p in parts]),
        person=np.concatenate([p[2] for p in parts]),
    )


def true_recurrence(
    process: SyntheticProcess, horizons: Sequence[int] = RECURRENCE_HORIZONS
) -> pd.DataFrame:
    """True probability of a new spell within h weeks of a programme return.

    Programme returns are the spells with ``D = 1`` whose observed exit is employment
    (first spells and recurrence spells alike); the probability is the mean over them of
    ``1 - exp(-exp(gamma_j + rho D) K(h))`` with ``rho`` (``recurrence_with``) and with
    ``rho = 0`` (``recurrence_without``); ``difference`` = with - without. Empty (with
    the columns) when the study has no recurrence.

    Parameters
    ----------
    process
        The process of a synthetic study.
    horizons
        Weeks after the return.

    Returns
    -------
    pandas.DataFrame
        ``scope`` (``all`` or the jobcentre), ``horizon_weeks``, ``n_returns``,
        ``recurrence_with``, ``recurrence_without``, ``difference``.
    """
    cols = [
        "scope",
        "horizon_weeks",
        "n_returns",
        "recurrence_with",
        "recurrence_without",
        "difference",
    ]
    proc, out = process.proc, process.outcomes
    idx = np.flatnonzero(proc.treated & out.ended & (out.exit_state == 0))
    if not process.effects.recurrence or idx.size == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "scope" else float) for c in cols})
    names = np.array(process.cal.names, dtype=object)
    frame = pd.DataFrame({"scope": names[proc.jc[idx]]})
    rows = []
    for h in horizons:
        with_p = recurrence_probability(recurrence_offset(proc, idx, process.effects.rho), h)
        without = recurrence_probability(recurrence_offset(proc, idx, 0.0), h)
        f = frame.assign(w=with_p, wo=without)
        g = f.groupby("scope", sort=True).agg(n=("w", "size"), w=("w", "mean"), wo=("wo", "mean"))
        g.loc["all"] = [idx.size, with_p.mean(), without.mean()]
        g = g.reindex(["all", *[s for s in g.index if s != "all"]])
        rows.append(g.reset_index().assign(horizon_weeks=h))
    res = pd.concat(rows, ignore_index=True).rename(
        columns={"n": "n_returns", "w": "recurrence_with", "wo": "recurrence_without"}
    )
    res["n_returns"] = res["n_returns"].astype(np.int64)
    res["difference"] = res["recurrence_with"] - res["recurrence_without"]
    return res[cols]
