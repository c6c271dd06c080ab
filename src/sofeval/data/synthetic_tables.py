"""The contract tables of a synthetic study: spells, persons, meetings, interventions.

Steps of :func:`sofeval.data.simulate` after the spell outcomes are drawn; the process is
documented in the docstring of :mod:`sofeval.data.synthetic`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sofeval.data import contract
from sofeval.data.scenarios import COVARIATE_LEVELS, OTHER_STATES
from sofeval.data.synthetic_calendar import month_labels, month_numbers, to_dates
from sofeval.data.synthetic_dgp import SpellDraws
from sofeval.data.synthetic_outcomes import Outcomes

_OTHER_LOCATIONS = ("jobcentre", "phone", "digital")
_INTERVENTION_TYPES = ("internship", "wage_subsidy", "graded_return")


def pair_persons(
    rng: np.random.Generator,
    sex: np.ndarray,
    birth: np.ndarray,
    abs_d: np.ndarray,
    end_d: np.ndarray,
    ended: np.ndarray,
) -> np.ndarray:
    """Person numbers: a few pairs of same-sex, same-birth-year, non-overlapping spells.

    Parameters
    ----------
    rng
        The generator's random stream.
    sex
        Sex level index per spell.
    birth
        Birth day number per spell.
    abs_d, end_d
        First and last day of each spell.
    ended
        The spell's end is observed.

    Returns
    -------
    numpy.ndarray
        Person number (1-based) per spell.
    """
    n = sex.size
    person = np.arange(1, n + 1)
    cand = np.flatnonzero(ended & (rng.random(n) < 0.08))
    cand = cand[np.lexsort((birth[cand], sex[cand]))]
    a, b = cand[0:-1:2], cand[1::2]
    first = np.where(abs_d[a] <= abs_d[b], a, b)
    second = np.where(abs_d[a] <= abs_d[b], b, a)
    ok = (sex[a] == sex[b]) & (np.abs(birth[a] - birth[b]) < 365) & (end_d[first] < abs_d[second])
    person[second[ok]] = person[first[ok]]
    return person


def spell_ids(first: int, n: int) -> np.ndarray:
    """Spell ids ``S0000001``... numbered from ``first``.

    Parameters
    ----------
    first
        Number of the first spell.
    n
        Number of spells.

    Returns
    -------
    numpy.ndarray
        Object array of strings.
    """
    return np.array([f"S{i:07d}" for i in range(first, first + n)], dtype=object)


def spells_table(
    ids: np.ndarray,
    person: np.ndarray,
    names: np.ndarray,
    draws: SpellDraws,
    outcomes: Outcomes,
) -> pd.DataFrame:
    """The contract table ``spells`` with every covariate.

    Parameters
    ----------
    ids
        Spell ids.
    person
        Person number per spell.
    names
        Jobcentre names (object array) indexed by ``draws.jc``.
    draws
        The drawn spells.
    outcomes
        Their exits.

    Returns
    -------
    pandas.DataFrame
    """
    state_names = np.array(("employment", *OTHER_STATES, "censored"), dtype=object)
    exit_label = np.where(outcomes.ended, state_names[outcomes.exit_state], "censored")
    spells = pd.DataFrame(
        {
            "spell_id": ids,
            "person_id": np.array([f"P{p:07d}" for p in person.tolist()], dtype=object),
            "jobcentre": names[draws.jc],
            "absence_start": to_dates(draws.abs_d),
            "benefit_start": to_dates(draws.bs_d),
            "benefit_end": to_dates(outcomes.end_d, outcomes.ended),
            "exit_state": exit_label.astype(object),
            "age": draws.age,
        }
    )
    for c, (lv, _, _) in COVARIATE_LEVELS.items():
        spells[c] = np.array(lv, dtype=object)[draws.cov_idx[c]]
        if isinstance(lv[0], int):
            spells[c] = spells[c].astype(np.int64)
    return spells[
        [
            *contract.REQUIRED_COLUMNS["spells"][:4],
            "benefit_start",
            "benefit_end",
            "exit_state",
            *contract.SPELL_COVARIATES,
        ]
    ]


def meetings_tables(
    rng: np.random.Generator,
    draws: SpellDraws,
    obs_end: np.ndarray,
    share: np.ndarray,
    m0: int,
    ids: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Follow-up meetings (first one mostly in weeks 5-8) and the first meetings held.

    Parameters
    ----------
    rng
        The generator's random stream.
    draws
        The drawn spells.
    obs_end
        Last observed day on benefit per spell.
    share
        True workplace shares ``S[j, m - m0]``.
    m0
        Month number of ``share[:, 0]``.
    ids
        Spell ids.

    Returns
    -------
    meetings : pandas.DataFrame
        The contract table ``meetings``.
    first : pandas.DataFrame
        One row per first meeting held: jobcentre index ``j``, ``month`` number and
        workplace flag ``wp`` (the input of :func:`monitoring_table`).
    """
    jc, abs_d, entry, entry_day = draws.jc, draws.abs_d, draws.entry, draws.entry_day
    n = jc.size
    u = rng.random(n)
    week = np.where(
        u < 0.80,
        rng.integers(5, 9, n),
        np.where(u < 0.95, rng.integers(9, 13, n), rng.integers(13, 21, n)),
    )
    week = np.maximum(week, entry)
    lo = np.where(week == entry, entry_day, 0)
    date = abs_d + 7 * (week - 1) + lo + np.floor(rng.random(n) * (7 - lo)).astype(np.int64)
    held = date <= obs_end
    month = month_numbers(date)
    s = share[jc, np.minimum(month - m0, share.shape[1] - 1)]
    workplace = rng.random(n) < s
    other_loc = rng.choice(3, size=n, p=[0.55, 0.30, 0.15])
    loc = np.where(workplace, "workplace", np.array(_OTHER_LOCATIONS, dtype=object)[other_loc])
    rows = [(np.flatnonzero(held), date[held], loc[held])]
    mon = pd.DataFrame({"j": jc[held], "month": month[held], "wp": workplace[held]})
    prev, has = date.copy(), held.copy()
    for _ in range(2):
        nxt = prev + 7 * rng.integers(4, 9, n) + rng.integers(0, 7, n)
        has = has & (rng.random(n) < 0.6) & (nxt <= obs_end)
        m = np.minimum(month_numbers(nxt) - m0, share.shape[1] - 1)
        wp = rng.random(n) < 0.5 * share[jc, m]
        oth = np.array(_OTHER_LOCATIONS, dtype=object)[rng.choice(3, size=n, p=[0.55, 0.30, 0.15])]
        lab = np.where(wp, "workplace", oth)
        rows.append((np.flatnonzero(has), nxt[has], lab[has]))
        prev = nxt
    meetings = (
        pd.DataFrame(
            {
                "spell_id": np.concatenate([ids[r[0]] for r in rows]),
                "date": to_dates(np.concatenate([r[1] for r in rows])),
                "location": np.concatenate([r[2] for r in rows]).astype(object),
            }
        )
        .sort_values(["spell_id", "date"], kind="mergesort")
        .reset_index(drop=True)
    )
    return meetings, mon


def monitoring_table(first: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """Realised first meetings per jobcentre and month: ``first_meetings, workplace_meetings``.

    Parameters
    ----------
    first
        First meetings held (second output of :func:`meetings_tables`).
    names
        Jobcentre names (object array) indexed by ``first["j"]``.

    Returns
    -------
    pandas.DataFrame
        The contract table ``monitoring``.
    """
    agg = (
        first.groupby(["j", "month"], sort=True)
        .agg(first_meetings=("wp", "size"), workplace_meetings=("wp", "sum"))
        .reset_index()
    )
    return (
        pd.DataFrame(
            {
                "jobcentre": names[agg["j"].to_numpy()],
                "month": month_labels(agg["month"].to_numpy()),
                "first_meetings": agg["first_meetings"].to_numpy(np.int64),
                "workplace_meetings": agg["workplace_meetings"].to_numpy(np.int64),
            }
        )
        .sort_values(["jobcentre", "month"], kind="mergesort")
        .reset_index(drop=True)
    )


def interventions_table(
    rng: np.random.Generator,
    draws: SpellDraws,
    outcomes: Outcomes,
    treated: np.ndarray,
    d_data: int,
    ids: np.ndarray,
) -> pd.DataFrame:
    """Workplace-oriented measures, mostly starting in weeks 8-13, inside their spell.

    Parameters
    ----------
    rng
        The generator's random stream.
    draws
        The drawn spells.
    outcomes
        Their exits.
    treated
        ``D`` per spell (treated spells get a measure slightly more often).
    d_data
        Day number of ``data_end``.
    ids
        Spell ids.

    Returns
    -------
    pandas.DataFrame
    """
    abs_d, entry, entry_day = draws.abs_d, draws.entry, draws.entry_day
    obs_end, end_d, ended = outcomes.obs_end, outcomes.end_d, outcomes.ended
    n = abs_d.size
    planned = rng.random(n) < 0.25 + 0.01 * treated
    week = np.where(rng.random(n) < 0.85, rng.integers(8, 14, n), rng.integers(14, 27, n))
    week = np.maximum(week, entry)
    lo = np.where(week == entry, entry_day, 0)
    start = abs_d + 7 * (week - 1) + lo + np.floor(rng.random(n) * (7 - lo)).astype(np.int64)
    stop = start + rng.integers(14, 85, n)
    kind = np.array(_INTERVENTION_TYPES, dtype=object)[rng.choice(3, size=n, p=[0.3, 0.2, 0.5])]
    keep = planned & (start <= obs_end)
    stop = np.where(ended, np.minimum(stop, end_d), stop)
    stop_ok = ended | (stop <= d_data)
    return pd.DataFrame(
        {
            "spell_id": ids[keep],
            "start": to_dates(start[keep]),
            "end": to_dates(stop[keep], stop_ok[keep]),
            "type": kind[keep],
        }
    ).reset_index(drop=True)
