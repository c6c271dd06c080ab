"""Synthetic register data with known truth (DESIGN.md §6).

:func:`simulate` generates every contract table (``spells``, ``meetings``,
``interventions``, ``programme``, ``monitoring``) from a documented data-generating
process (DGP) whose parameters, and the true value of every estimand, are returned as
:class:`Truth`. Randomness comes only from ``numpy.random.default_rng(seed)`` and, for
recurrence spells, its child stream ``numpy.random.SeedSequence(seed).spawn(1)[0]`` (so the
scenarios without recurrence draw exactly what they drew before it existed); the same
arguments give identical tables. The steps live in :mod:`~sofeval.data.scenarios`
(parameters, effects per scenario, shares), :mod:`~sofeval.data.synthetic_dgp` (hazards),
:mod:`~sofeval.data.synthetic_outcomes` (weekly draws), :mod:`~sofeval.data.synthetic_tables`
(contract tables), :mod:`~sofeval.data.synthetic_recurrence`,
:mod:`~sofeval.data.synthetic_truth` and :mod:`~sofeval.data.synthetic_durations` (truths).

Data-generating process
-----------------------
**Jobcentres.** ``n_jobcentres`` (default 94): the 20 programme jobcentres of
:data:`sofeval.data.contract.SOF_JOBCENTRES` (window 2017-10-01..2018-12-31; Billund leaves
early, window end 2018-03-31) plus real Danish municipality names (Tårnby and Dragør
are one jobcentre). Sizes are lognormal weights (sd 0.8 on the log scale).

**Spells.** ``absence_start`` uniform on ``[start, end]``; covariates ``sex`` (F 58 %),
``age`` (N(45, 11) rounded, clipped to 18..66), ``diagnosis_group`` (mental,
musculoskeletal, cancer, other), ``visitation_category`` (1/2/3), ``sector``
(public 35 %), ``partial_sick_listing`` (25 %). Entry week ``e`` (delayed entry):
75 % week 5 (``benefit_start`` = absence_start + 28..34 days), 15 % week 1
(``benefit_start`` = absence_start), 10 % uniform on weeks 2..8.

**Weekly competing risks.** From week ``e`` to 52 (left truncation: nothing is simulated
before entry), in spell week ``t`` one multinomial outcome is drawn with
``P(employment) = h_E = 1 - exp(-exp(eta))``, ``P(state k) = (1 - h_E) q_k(t)`` for
the other exit states and ``P(stay)`` the rest, so ``h_E`` is exactly the
cause-specific discrete hazard of the cloglog model (DESIGN.md §4) and the sum stays
below one. The linear predictor is::

    eta = alpha(t) + gamma_j + delta_month(t) + x'beta
          + theta_EA,j D 1[t<=7] + theta_P,j D 1[t>=8]
          + lambda_1 S_{j,m} 1[t<=7] + lambda_2 S_{j,m} 1[t>=8] + log(v_i)

with ``alpha(t) = A0 - 0.45 log(t/5) + 0.3 1[t<=4]`` (``A0 = -2.32``, calibrated
so that the ``report`` scenario has ~78 % exits to employment and ~13 person-weeks
per spell); ``gamma_j ~ N(0, 0.12)``;
``delta`` per calendar month ``0.06 sin(2 pi month_of_year / 12) + N(0, 0.03)``, where
month(t) is the month of ``absence_start + 7(t-1)`` days; ``beta``: sex M +0.05,
age -0.01 per year above 45, diagnosis mental -0.35 / musculoskeletal 0 / cancer -0.6 /
other +0.15, visitation 1 +0.35 / 2 0 / 3 -0.45, sector public -0.05, partial
sick-listing -0.10. ``D = 1`` when the jobcentre has a window containing
``absence_start + 49 days``; ``m`` is the month of that week-8 date; ``S_{j,m}`` the true
workplace share (below); ``v_i`` gamma frailty with mean 1 and variance
``frailty_sd**2`` (frailty scenario only). Other states: ``q_k(t)`` constant per week
(unemployment 0.005, job_clarification 0.003, flexjob 0.0006, disability_pension
0.0004, education 0.0005, other 0.0035) except job_clarification = 0.04 in week 22
(reassessment). Spells alive after week 52 leave after a further geometric number of
weeks (p = 0.05) to a state drawn from :data:`LATE_EXIT_SHARES`. ``benefit_end`` is a
day of the exit week (``absence_start + 7(t-1) + 0..6`` days, never before
``benefit_start``); spells whose end passes ``data_end`` are ongoing (``benefit_end``
NaT, ``exit_state`` ``censored``). All parameters are listed in ``Truth.params``
(``parameter, jobcentre, value``; ``jobcentre`` is ``"ALL"`` for global parameters).

**Persons.** Spells are paired into one person (about 2-3 % of spells) when they have
the same sex, birth dates within a year, and the earlier spell ended before the later
one began, so no person has overlapping spells.

**Workplace shares** ``S_{j,m}``: base ``b_j ~ U(0.10, 0.15)`` plus N(0, 0.01) noise
per month; inside a programme window ``b_j + L_j r(k) + N(0, 0.025)`` with
``r(k) = 0.45 + 0.55 k / 14`` (k = months since 2017-10), ``L_j ~ U(0.50, 0.65)`` for
eight jobcentres (:data:`HIGH_IMPLEMENTERS`) and ``U(0.06, 0.18)`` otherwise, all
rescaled so that the size-weighted mean in-window share is 0.33 (about 0.38 in H2
2018), then clipped to [0.02, 0.76]. In the ``dose_response`` scenario in-window shares
are ``U(0.05, 0.80)`` independently per jobcentre-month so that ``lambda`` is well identified.

**Meetings.** The first follow-up meeting is planned in week 5..8 (80 %), 9..12 (15 %)
or 13..20 (5 %), not before entry, and held only if the spell is still on benefit and
before ``data_end``; it is at the workplace with probability ``S_{j, meeting month}``,
else jobcentre/phone/digital (55/30/15 %). Up to two later meetings follow 4..8 weeks
apart (probability 0.6 each), at the workplace with probability ``S/2``.
``monitoring`` holds the realised first-meeting counts per jobcentre and meeting month.

**Interventions.** With probability 0.25 (+0.01 when ``D = 1``) a workplace-oriented
measure (internship 30 %, wage_subsidy 20 %, graded_return 50 %) is planned to start in
week 8..13 (85 %) or 14..26; it exists only if the spell is on benefit then, lasts
14..84 days, ends no later than ``benefit_end`` and is ``NaT`` when still running at
``data_end``. Measures have no causal effect on the hazard.

**Programme effects on other exit states** (``destinations``). For a treated spell the
cause-specific probability of another state k in week t is
``h_k = 1 - (1 - h_k0)^exp(theta_k)``, where ``h_k0 = (1 - h_E0) q_k(t)`` is its probability
without the programme (``h_E0`` the employment hazard without the programme): the
programme shifts the *cloglog of the cause-specific hazard* of k by exactly ``theta_k``
(``theta_ea[k]`` in weeks 1-7, ``theta_p[k]`` from week 8; unemployment +0.30 and
job_clarification -0.20 from week 8). The states without a shift keep
``(1 - h_E) q_k``, so their hazards move a little with the employment hazard
(``Truth.destinations.cause_specific`` measures that).

**Pre-trend** (``pretrend``). Spells of programme jobcentres whose week-8 date lies ``k``
calendar quarters before their jobcentre's programme start (``k < 0``) get
``0.05 k`` added to the employment log-hazard in all weeks; there is no programme effect.

**Subgroup effect** (``subgroup``). Treated spells with ``visitation_category`` 2 get
theta_P = 0.25 (weeks 8+); theta_EA = 0 and every other spell has no effect.

**Recurrence** (``destinations``, ``pretrend``, ``subgroup``, or ``recurrence=True``).
After an observed exit to employment the person may start a new spell in week
``w = 1..52`` after ``benefit_end``, with hazard
``1 - exp(-exp(-4.4 - 0.5 log(w) + gamma_j + rho D))`` (``rho = -0.25``; 0 in
``pretrend``) and no recurrence later; the new spell keeps jobcentre, sex and sector,
ages with the calendar, draws its other covariates, entry week and frailty anew, and may
recur itself (:mod:`~sofeval.data.synthetic_recurrence`). New spells starting after
``data_end`` are not generated. With recurrence, spells are not paired into persons
otherwise, so every second spell of a person is a recurrence.

Scenarios and estimands
-----------------------
``null``: all theta and lambda 0. ``homogeneous``: theta_EA = 0.05, theta_P = 0.10 in
every programme jobcentre. ``heterogeneous``: theta_EA,j, theta_P,j ~ N(0, 0.15).
``dose_response``: theta = 0, lambda_1 = 0.13 (about log(1.013)/0.1), lambda_2 = 0.
``frailty``: homogeneous thetas plus gamma frailty with variance 0.5. ``report``
(DESIGN.md §1): theta_P,j = 0.2 in Gentofte, Fredericia, Vejle and Herning, -0.2 in
Faxe; theta_EA,j = 0.25 in Herning; lambda_1 = 0.13, lambda_2 = 0; the other programme
jobcentres share one theta_P and one theta_EA (each clipped to [-0.08, 0]) chosen so that
the expected pooled estimands (below) are about zero, as in the report. ``destinations``:
theta as ``homogeneous`` plus the shifts of unemployment and job clarification above.
``pretrend``: no effect, a pre-trend. ``subgroup``: the subgroup effect only. Keyword
overrides replace the scenario's values (a theta override makes that theta homogeneous;
subgroup and destination effects stay).

``Truth.estimands`` (log-hazard scale) gives, for ``ex_ante`` and ``programme``, the
effect a difference-in-differences cloglog model with ``D`` identifies: the
*spell-weighted mean over treated spells* (``D = 1``) of
``theta_j + lambda (S_{j,m} - b_j)`` (the structural theta plus the part of the
effect running through the raised workplace share), pooled (``jobcentre = "ALL"``)
and per programme jobcentre (the structural theta where a jobcentre has no treated
spell). With frailty the estimands are the *conditional* (structural) effects; a
model without frailty is expected to be attenuated. ``lambda_early`` / ``lambda_late``
are lambda_1 / lambda_2. In ``subgroup`` the spell-weighted mean includes the subgroup
term; in ``pretrend`` the estimands are 0 (the pre-trend is not a programme effect, so a
DiD that ignores it is biased).

The other truths (DESIGN.md §4b; column names equal the output tables) are computed from
the data-generating hazards over the programme spells (``D = 1``) of the generated data,
never from a fitted model. *Without the programme* means every theta, subgroup and
destination shift 0 and the workplace share at its base (``S = b_j``), as
``Truth.estimands`` attributes ``lambda (S - b_j)`` to the programme; each spell keeps its
own drawn frailty, so with frailty these are means over the realised spells.

- ``Truth.destinations``: per destination the structural effect (above; employment rows
  equal ``Truth.estimands``) and the exit-weighted cause-specific one.
- ``Truth.durations`` / ``Truth.incidence``: weeks on benefit within 52 weeks and the
  cumulative incidence of every destination by week, with and without the programme
  (:func:`~sofeval.data.synthetic_durations.true_durations` for other horizons).
- ``Truth.recurrence``: probability of a new spell within 26 and 52 weeks of a
  programme return (a treated spell ending in employment), with ``rho`` and with 0.
- ``Truth.event_study``: the coefficient per event quarter relative to quarter -1.
- ``Truth.subgroups``: the effect per level of each spell covariate (age in bands).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sofeval.data import contract
from sofeval.data.scenarios import (
    OTHER_JOBCENTRES,
    SCENARIOS,
    ScenarioEffects,
    Shares,
    scenario_effects,
    workplace_shares,
)
from sofeval.data.synthetic_calendar import MAX_WEEKS, Calendar, month_numbers, study_calendar
from sofeval.data.synthetic_dgp import (
    Baseline,
    concat_draws,
    draw_baseline,
    draw_spells,
    extend_months,
    spell_process,
)
from sofeval.data.synthetic_outcomes import (
    SyntheticProcess,
    concat_outcomes,
    draw_outcomes,
)
from sofeval.data.synthetic_recurrence import Recurrences, draw_recurrences
from sofeval.data.synthetic_tables import (
    interventions_table,
    meetings_tables,
    monitoring_table,
    pair_persons,
    spell_ids,
    spells_table,
)
from sofeval.data.synthetic_truth import Truth, build_truth
from sofeval.errors import OptionError, check_option

#: CSV files of :meth:`SyntheticStudy.write_csv`: table, source attribute, sort keys.
CSV_TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("spells", "spells", ("spell_id",)),
    ("meetings", "meetings", ("spell_id", "date", "location")),
    ("interventions", "interventions", ("spell_id", "start", "type")),
    ("programme", "programme", ("jobcentre",)),
    ("monitoring", "monitoring", ("jobcentre", "month")),
    ("truth_estimands", "truth.estimands", ("estimand", "jobcentre")),
    ("truth_params", "truth.params", ("parameter", "jobcentre")),
    ("truth_shares", "truth.shares", ("jobcentre", "month")),
    ("truth_destinations", "truth.destinations", ("destination", "estimand", "jobcentre")),
    ("truth_durations", "truth.durations", ("scope",)),
    ("truth_incidence", "truth.incidence", ("scope", "destination", "week")),
    ("truth_recurrence", "truth.recurrence", ("scope", "horizon_weeks")),
    ("truth_event_study", "truth.event_study", ("estimand", "event_quarter")),
    ("truth_subgroups", "truth.subgroups", ("variable", "level", "estimand")),
)


@dataclass(frozen=True)
class SyntheticStudy:
    """Contract tables of a synthetic study plus its truth.

    Attributes
    ----------
    spells, meetings, interventions, programme, monitoring
        Contract tables (DESIGN.md §2): string ids, ``datetime64[ns]`` dates, ``NaT``
        for ongoing spells and interventions.
    truth
        The :class:`Truth` behind the data.
    data_end
        Last day of observation.
    process
        The :class:`SyntheticProcess` that generated the data, for truths at other
        settings (:func:`sofeval.data.true_durations` with another horizon, ...).
    """

    spells: pd.DataFrame
    meetings: pd.DataFrame
    interventions: pd.DataFrame
    programme: pd.DataFrame
    monitoring: pd.DataFrame
    truth: Truth
    data_end: pd.Timestamp
    process: SyntheticProcess | None = field(default=None, repr=False, compare=False)

    def write_csv(self, directory: str | os.PathLike[str]) -> None:
        """Write all tables and the truth as CSV files, deterministically.

        Writes the files of :data:`CSV_TABLES` (``spells.csv``, ..., ``truth_params.csv``,
        ``truth_durations.csv``, ...): ISO dates, empty cells for missing dates, rows
        sorted, no index, so the same seed gives byte-identical files.

        Parameters
        ----------
        directory
            Output folder (created if missing).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, source, keys in CSV_TABLES:
            owner, _, attr = source.rpartition(".")
            frame: pd.DataFrame = getattr(self.truth if owner else self, attr)
            if frame.empty and not len(frame.columns):
                continue
            frame.sort_values(list(keys), kind="mergesort").to_csv(
                out / f"{name}.csv",
                index=False,
                date_format="%Y-%m-%d",
                na_rep="",
                float_format="%.10g",
                lineterminator="\n",
                encoding="utf-8",
            )


def _check_options(
    scenario: str,
    n_spells: int,
    n_jobcentres: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    data_end: pd.Timestamp,
) -> None:
    """Raise :class:`OptionError` for an unknown scenario or impossible sizes or dates."""
    check_option("scenario", scenario, SCENARIOS)
    n_other = n_jobcentres - len(contract.SOF_JOBCENTRES)
    if not 0 <= n_other <= len(OTHER_JOBCENTRES):
        hi = len(contract.SOF_JOBCENTRES) + len(OTHER_JOBCENTRES)
        n_sof = len(contract.SOF_JOBCENTRES)
        raise OptionError(f"n_jobcentres={n_jobcentres} must lie in {n_sof}..{hi}.")
    if n_spells < 1:
        raise OptionError(f"n_spells={n_spells} must be a positive integer.")
    if end < start or data_end < end + pd.Timedelta(days=56):
        raise OptionError("Need start <= end and data_end at least 56 days after end.")


def _parameters(
    rng: np.random.Generator, scenario: str, cal: Calendar
) -> tuple[np.ndarray, Shares, ScenarioEffects, Baseline]:
    """Jobcentre sizes, true workplace shares, the scenario's effects, baseline hazards."""
    weights = rng.lognormal(0.0, 0.8, len(cal.names))
    shares = workplace_shares(
        scenario, cal.names, cal.window_months, cal.m0, cal.m_data, weights, rng
    )
    k_prog = len(cal.programme)
    in_win = [
        shares.share[j, cal.window_months[p][0] - cal.m0 : cal.window_months[p][1] - cal.m0 + 1]
        for j, p in enumerate(cal.programme)
    ]
    treated_w = weights[:k_prog] * np.array([x.size for x in in_win])
    extra = np.array([x.mean() for x in in_win]) - shares.base[:k_prog]
    effects = scenario_effects(scenario, cal.programme, treated_w, extra, rng)
    return weights, shares, effects, draw_baseline(rng, cal)


def _with_recurrences(
    process: SyntheticProcess, rec: Recurrences, person: np.ndarray
) -> tuple[SyntheticProcess, np.ndarray]:
    """The process and person numbers of the first spells followed by the recurrences."""
    draws = concat_draws([process.draws, rec.draws])
    joint = SyntheticProcess(
        cal=process.cal,
        baseline=process.baseline,
        effects=process.effects,
        shares=process.shares,
        draws=draws,
        proc=spell_process(draws, process.cal, process.baseline, process.effects, process.shares),
        outcomes=concat_outcomes([process.outcomes, rec.outcomes]),
    )
    return joint, np.concatenate([person, rec.person])


def _recurrence_tables(
    rng: np.random.Generator,
    rec: Recurrences,
    process: SyntheticProcess,
    first_id: int,
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Meetings, first meetings and interventions with those of the recurrence spells added."""
    ids = spell_ids(first_id, rec.draws.jc.size)
    meetings, first = meetings_tables(
        rng, rec.draws, rec.outcomes.obs_end, process.shares.share, process.cal.m0, ids
    )
    interventions = interventions_table(
        rng, rec.draws, rec.outcomes, rec.proc.treated, process.cal.d_data, ids
    )
    return (
        pd.concat([tables[0], meetings], ignore_index=True)
        .sort_values(["spell_id", "date"], kind="mergesort")
        .reset_index(drop=True),
        pd.concat([tables[1], first], ignore_index=True),
        pd.concat([tables[2], interventions], ignore_index=True),
    )


def simulate(
    scenario: str = "report",
    n_spells: int = 30_000,
    seed: int = 0,
    *,
    start: str | pd.Timestamp = "2016-01-01",
    end: str | pd.Timestamp = "2019-12-31",
    data_end: str | pd.Timestamp = "2020-06-30",
    n_jobcentres: int = 94,
    theta_ea: float | None = None,
    theta_p: float | None = None,
    lam_early: float | None = None,
    lam_late: float | None = None,
    frailty_sd: float | None = None,
    recurrence: bool | None = None,
    rho: float | None = None,
    progress: bool | None = None,
) -> SyntheticStudy:
    """Simulate a register-like study with known truth (see the module docstring).

    Parameters
    ----------
    scenario
        One of :data:`SCENARIOS`.
    n_spells
        Number of sickness-benefit spells (recurrence adds new spells to these).
    seed
        Seed of ``numpy.random.default_rng``, the only source of randomness (recurrences
        draw from its child stream ``SeedSequence(seed).spawn(1)[0]``).
    start, end
        Range of ``absence_start`` (uniform).
    data_end
        Last day of observation; must be at least 8 weeks after ``end``.
    n_jobcentres
        Total number of jobcentres (20 programme jobcentres plus 0..77 others).
    theta_ea, theta_p
        Override the scenario's ex-ante / programme effect (homogeneous over jobcentres).
    lam_early, lam_late
        Override the dose-response coefficients lambda_1 (weeks 1-7) / lambda_2 (week 8+).
    frailty_sd
        Override the standard deviation of the mean-one gamma frailty (0 = none).
    recurrence
        Override whether persons returning to employment may start new spells (on in
        ``destinations``, ``pretrend`` and ``subgroup``, off in the other scenarios).
    rho
        Override the programme effect on the recurrence hazard.
    progress
        Show a progress bar over weeks; ``None`` shows it only on an interactive
        terminal outside CI.

    Returns
    -------
    SyntheticStudy
        The contract tables and their :class:`Truth`.

    Raises
    ------
    OptionError
        For an unknown scenario or an impossible size or date option.
    """
    t_start, t_end, t_data = pd.Timestamp(start), pd.Timestamp(end), pd.Timestamp(data_end)
    _check_options(scenario, n_spells, n_jobcentres, t_start, t_end, t_data)
    rng, n = np.random.default_rng(seed), int(n_spells)
    child = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    n_other = n_jobcentres - len(contract.SOF_JOBCENTRES)
    cal = study_calendar(OTHER_JOBCENTRES[:n_other], t_start, t_end, t_data)
    weights, shares, effects, baseline = _parameters(rng, scenario, cal)
    effects = effects.override(theta_ea, theta_p, lam_early, lam_late, frailty_sd, recurrence, rho)
    if effects.recurrence:  # month effects for recurrence spells starting up to data_end
        last = int(month_numbers(np.array([cal.d_data + 7 * MAX_WEEKS]))[0])
        baseline = extend_months(baseline, last, child)

    # the first spells, their hazards and outcomes (main stream)
    draws = draw_spells(rng, n, cal, weights, effects.frailty_sd)
    proc = spell_process(draws, cal, baseline, effects, shares)
    outcomes = draw_outcomes(rng, proc, draws, cal.d_data, scenario, progress)
    process = SyntheticProcess(cal, baseline, effects, shares, draws, proc, outcomes)
    person = pair_persons(
        rng,
        draws.cov_idx["sex"],
        draws.abs_d - draws.age * 365.25,
        draws.abs_d,
        outcomes.end_d,
        outcomes.ended,
    )
    ids = spell_ids(1, n)
    meetings, first = meetings_tables(rng, draws, outcomes.obs_end, shares.share, cal.m0, ids)
    interventions = interventions_table(rng, draws, outcomes, proc.treated, cal.d_data, ids)

    # new spells after returns to employment (child stream); with recurrence, persons
    # with several spells come from recurrence only, so every recurrence is generated
    if effects.recurrence:
        person = np.arange(1, n + 1)
        rec = draw_recurrences(child, process, person)
        if rec is not None:
            meetings, first, interventions = _recurrence_tables(
                child, rec, process, n + 1, (meetings, first, interventions)
            )
            process, person = _with_recurrences(process, rec, person)
            ids = np.concatenate([ids, spell_ids(n + 1, rec.draws.jc.size)])

    names = np.array(cal.names, dtype=object)
    return SyntheticStudy(
        spells=spells_table(ids, person, names, process.draws, process.outcomes),
        meetings=meetings,
        interventions=interventions,
        programme=cal.programme_frame(),
        monitoring=monitoring_table(first, names),
        truth=build_truth(scenario, seed, process),
        data_end=t_data,
        process=process,
    )
