"""Synthetic register data with known truth (DESIGN.md §6).

:func:`simulate` generates every contract table (``spells``, ``meetings``,
``interventions``, ``programme``, ``monitoring``) from a documented data-generating
process (DGP) whose parameters are returned as :class:`Truth`. Randomness comes only
from ``numpy.random.default_rng(seed)``; the same arguments give identical tables.

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

Scenarios and estimands
-----------------------
``null``: all theta and lambda 0. ``homogeneous``: theta_EA = 0.05, theta_P = 0.10 in
every programme jobcentre. ``heterogeneous``: theta_EA,j, theta_P,j ~ N(0, 0.15).
``dose_response``: theta = 0, lambda_1 = 0.13 (about log(1.013)/0.1), lambda_2 = 0.
``frailty``: homogeneous thetas plus gamma frailty with variance 0.5. ``report``
(DESIGN.md §1): theta_P,j = 0.2 in Gentofte, Fredericia, Vejle and Herning, -0.2 in
Faxe; theta_EA,j = 0.25 in Herning; lambda_1 = 0.13, lambda_2 = 0; the other programme
jobcentres share one theta_P and one theta_EA (each clipped to [-0.08, 0]) chosen so that
the expected pooled estimands (below) are about zero, as in the report. Keyword overrides
replace the scenario's values (a theta override makes that theta homogeneous).

``Truth.estimands`` (log-hazard scale) gives, for ``ex_ante`` and ``programme``, the
effect a difference-in-differences cloglog model with ``D`` identifies: the
*spell-weighted mean over treated spells* (``D = 1``) of
``theta_j + lambda (S_{j,m} - b_j)`` (the structural theta plus the part of the
effect running through the raised workplace share), pooled (``jobcentre = "ALL"``)
and per programme jobcentre (the structural theta where a jobcentre has no treated
spell). With frailty the estimands are the *conditional* (structural) effects; a
model without frailty is expected to be attenuated. ``lambda_early`` / ``lambda_late``
are lambda_1 / lambda_2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sofeval.data import contract
from sofeval.errors import OptionError, check_option
from sofeval.runtime import show_progress

SCENARIOS: tuple[str, ...] = (
    "null",
    "homogeneous",
    "heterogeneous",
    "dose_response",
    "frailty",
    "report",
)

#: Non-programme jobcentres (real municipality names; Tårnby and Dragør are one, in SOF).
OTHER_JOBCENTRES: tuple[str, ...] = tuple(
    (
        "København, Aarhus, Odense, Aalborg, Esbjerg, Randers, Horsens, Silkeborg, Næstved, "
        "Frederiksberg, Roskilde, Holbæk, Slagelse, Sønderborg, Hjørring, Helsingør, Køge, "
        "Guldborgsund, Holstebro, Frederikshavn, Svendborg, Aabenraa, Hillerød, Skanderborg, "
        "Haderslev, Gladsaxe, Høje-Taastrup, Hvidovre, Greve, Ikast-Brande, Kalundborg, "
        "Frederikssund, Varde, Skive, Ringkøbing-Skjern, Lyngby-Taarbæk, Rudersdal, Furesø, "
        "Egedal, Fredensborg, Gribskov, Halsnæs, Hørsholm, Albertslund, Brøndby, Glostrup, "
        "Herlev, Ishøj, Rødovre, Vallensbæk, Bornholm, Solrød, Odsherred, Sorø, Vordingborg, "
        "Lolland, Assens, Kerteminde, Langeland, Middelfart, Nordfyns, Nyborg, Ærø, Fanø, Tønder, "
        "Struer, Syddjurs, Norddjurs, Favrskov, Samsø, Brønderslev, Jammerbugt, Mariagerfjord, "
        "Morsø, Thisted, Vesthimmerlands, Læsø"
    ).split(", ")
)

#: Programme jobcentres with months at 50-76 % workplace meetings (report-style shares).
HIGH_IMPLEMENTERS: tuple[str, ...] = (
    "Gentofte",
    "Fredericia",
    "Vejle",
    "Herning",
    "Kolding",
    "Odder",
    "Rebild",
    "Lejre",
)
BILLUND_END = pd.Timestamp("2018-03-31")
#: Named per-jobcentre effects of the ``report`` scenario (the others offset them).
REPORT_THETA_P: dict[str, float] = {
    "Gentofte": 0.2,
    "Fredericia": 0.2,
    "Vejle": 0.2,
    "Herning": 0.2,
    "Faxe": -0.2,
}
REPORT_THETA_EA: dict[str, float] = {"Herning": 0.25}
#: Size-weighted mean workplace share inside programme windows (report-style shares).
TARGET_SHARE = 0.33

_STATES: tuple[str, ...] = tuple(s for s in contract.COMPETING_STATES if s != "employment")
#: Weekly conditional probabilities q_k of the other exit states (given no employment exit).
OTHER_HAZARDS: dict[str, float] = {
    "unemployment": 0.005,
    "job_clarification": 0.003,
    "flexjob": 0.0006,
    "disability_pension": 0.0004,
    "education": 0.0005,
    "other": 0.0035,
}
REASSESSMENT_WEEK, REASSESSMENT_HAZARD = 22, 0.04
#: Exit-state distribution of spells still on benefit after week 52.
LATE_EXIT_SHARES: dict[str, float] = {
    "employment": 0.45,
    "unemployment": 0.10,
    "job_clarification": 0.20,
    "flexjob": 0.10,
    "disability_pension": 0.10,
    "education": 0.0,
    "other": 0.05,
}
LATE_EXIT_WEEKLY = 0.05
MAX_WEEKS = 52
#: Calibrated intercept of alpha(t) (report scenario: ~77 % exits to employment).
ALPHA_A0 = -2.32

_LEVELS: dict[str, tuple[tuple[object, ...], tuple[float, ...], tuple[float, ...]]] = {
    # covariate: (levels, probabilities, beta per level)
    "sex": (("F", "M"), (0.58, 0.42), (0.0, 0.05)),
    "diagnosis_group": (
        ("mental", "musculoskeletal", "cancer", "other"),
        (0.30, 0.35, 0.07, 0.28),
        (-0.35, 0.0, -0.6, 0.15),
    ),
    "visitation_category": ((1, 2, 3), (0.30, 0.50, 0.20), (0.35, 0.0, -0.45)),
    "sector": (("private", "public"), (0.65, 0.35), (0.0, -0.05)),
    "partial_sick_listing": ((0, 1), (0.75, 0.25), (0.0, -0.10)),
}
BETA_AGE, AGE_CENTRE = -0.01, 45
_OTHER_LOCATIONS = ("jobcentre", "phone", "digital")
_INTERVENTION_TYPES = ("internship", "wage_subsidy", "graded_return")
_EPOCH_MONTH = 1970 * 12


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
    """

    spells: pd.DataFrame
    meetings: pd.DataFrame
    interventions: pd.DataFrame
    programme: pd.DataFrame
    monitoring: pd.DataFrame
    truth: Truth
    data_end: pd.Timestamp

    def write_csv(self, directory: str | os.PathLike[str]) -> None:
        """Write all tables and the truth as CSV files, deterministically.

        Writes ``spells.csv, meetings.csv, interventions.csv, programme.csv,
        monitoring.csv, truth_estimands.csv, truth_params.csv, truth_shares.csv``:
        ISO dates, empty cells for missing dates, rows sorted, no index, so the
        same seed gives byte-identical files.

        Parameters
        ----------
        directory
            Output folder (created if missing).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tables = {
            "spells": (self.spells, ["spell_id"]),
            "meetings": (self.meetings, ["spell_id", "date", "location"]),
            "interventions": (self.interventions, ["spell_id", "start", "type"]),
            "programme": (self.programme, ["jobcentre"]),
            "monitoring": (self.monitoring, ["jobcentre", "month"]),
            "truth_estimands": (self.truth.estimands, ["estimand", "jobcentre"]),
            "truth_params": (self.truth.params, ["parameter", "jobcentre"]),
            "truth_shares": (self.truth.shares, ["jobcentre", "month"]),
        }
        for name, (frame, keys) in tables.items():
            frame.sort_values(keys, kind="mergesort").to_csv(
                out / f"{name}.csv",
                index=False,
                date_format="%Y-%m-%d",
                na_rep="",
                float_format="%.10g",
                lineterminator="\n",
                encoding="utf-8",
            )


def _months(days: np.ndarray) -> np.ndarray:
    """Contract month index (12*year + month - 1) of integer days since 1970-01-01."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + _EPOCH_MONTH


def _days(ts: pd.Timestamp) -> int:
    return int((ts - pd.Timestamp("1970-01-01")).days)


def _to_dates(days: np.ndarray, valid: np.ndarray | None = None) -> pd.Series:
    out = pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))
    if valid is not None:
        out[~valid] = pd.NaT
    return out


def _labels(months: np.ndarray) -> np.ndarray:
    return np.array([f"{m // 12:04d}-{m % 12 + 1:02d}" for m in months.tolist()], dtype=object)


def _scenario_effects(
    scenario: str,
    programme: list[str],
    weight: np.ndarray,
    extra: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Per-programme-jobcentre thetas, lambdas and frailty sd of a scenario.

    ``weight`` is the expected number of treated spells per programme jobcentre and
    ``extra`` its mean in-window share lift; ``report`` uses them to centre the pooled
    effects near zero.
    """
    # Drawn in every scenario so that all scenarios share the same random stream.
    het_ea = rng.normal(0.0, 0.15, len(programme))
    het_p = rng.normal(0.0, 0.15, len(programme))
    k = len(programme)
    zeros = np.zeros(k)
    if scenario == "null":
        return zeros, zeros, 0.0, 0.0, 0.0
    if scenario in ("homogeneous", "frailty"):
        sd = float(np.sqrt(0.5)) if scenario == "frailty" else 0.0
        return np.full(k, 0.05), np.full(k, 0.10), 0.0, 0.0, sd
    if scenario == "heterogeneous":
        return het_ea, het_p, 0.0, 0.0, 0.0
    if scenario == "dose_response":
        return zeros, zeros, 0.13, 0.0, 0.0
    lam1 = 0.13
    th_p = np.array([REPORT_THETA_P.get(j, np.nan) for j in programme])
    th_ea = np.array([REPORT_THETA_EA.get(j, np.nan) for j in programme])
    rest_p, rest_ea = np.isnan(th_p), np.isnan(th_ea)
    w = weight / weight.sum()
    # The rest offsets the named jobcentres (and the share-lift channel), within [-0.08, 0].
    off_p = -np.nansum(w * th_p) / w[rest_p].sum()
    off_ea = -(np.nansum(w * th_ea) + lam1 * np.sum(w * extra)) / w[rest_ea].sum()
    th_p[rest_p] = np.clip(off_p, -0.08, 0.0)
    th_ea[rest_ea] = np.clip(off_ea, -0.08, 0.0)
    return th_ea, th_p, lam1, 0.0, 0.0


def _shares(
    scenario: str,
    names: list[str],
    windows: dict[str, tuple[int, int]],
    m0: int,
    m1: int,
    weights: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True workplace shares S[j, m - m0] for months m0..m1, base b_j and lift L_j.

    Lifts are rescaled so that the size-weighted mean in-window share is
    :data:`TARGET_SHARE` (before clipping).
    """
    n_j, n_m = len(names), m1 - m0 + 1
    base = rng.uniform(0.10, 0.15, n_j)
    noise = rng.normal(0.0, 0.01, (n_j, n_m))
    share = np.clip(base[:, None] + noise, 0.09, 0.16)
    high = np.array([n in HIGH_IMPLEMENTERS for n in names])
    lift_draw = np.where(high, rng.uniform(0.50, 0.65, n_j), rng.uniform(0.06, 0.18, n_j))
    in_noise = rng.normal(0.0, 0.025, (n_j, n_m))
    dose = rng.uniform(0.05, 0.80, (n_j, n_m))
    sof_m = int(_months(np.array([_days(contract.SOF_START)]))[0])
    months = np.arange(m0, m1 + 1)
    inside = np.zeros((n_j, n_m), dtype=bool)
    for j, name in enumerate(names):
        if name in windows:
            inside[j] = (months >= windows[name][0]) & (months <= windows[name][1])
    if scenario == "dose_response":
        share[inside] = dose[inside]
        lift = np.where(inside.any(axis=1), lift_draw, 0.0)
        return share, base, lift
    r = 0.45 + 0.55 * (months - sof_m) / 14.0
    w = weights[:, None] * inside
    gap = TARGET_SHARE - np.sum(w * base[:, None]) / w.sum()
    lift = np.where(inside.any(axis=1), lift_draw, 0.0)
    lift = lift * gap / (np.sum(w * lift[:, None] * r[None, :]) / w.sum())
    raised = np.clip(base[:, None] + lift[:, None] * r[None, :] + in_noise, 0.02, 0.76)
    share[inside] = raised[inside]
    return share, base, lift


def _pick(
    rng: np.random.Generator, levels: tuple[object, ...], p: tuple[float, ...], n: int
) -> np.ndarray:
    return rng.choice(len(levels), size=n, p=np.asarray(p) / np.sum(p))


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
    progress: bool | None = None,
) -> SyntheticStudy:
    """Simulate a register-like study with known truth (see the module docstring).

    Parameters
    ----------
    scenario
        One of :data:`SCENARIOS`.
    n_spells
        Number of sickness-benefit spells.
    seed
        Seed of ``numpy.random.default_rng``, the only source of randomness.
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
    check_option("scenario", scenario, SCENARIOS)
    n_other = n_jobcentres - len(contract.SOF_JOBCENTRES)
    if not 0 <= n_other <= len(OTHER_JOBCENTRES):
        hi = len(contract.SOF_JOBCENTRES) + len(OTHER_JOBCENTRES)
        n_sof = len(contract.SOF_JOBCENTRES)
        raise OptionError(f"n_jobcentres={n_jobcentres} must lie in {n_sof}..{hi}.")
    if n_spells < 1:
        raise OptionError(f"n_spells={n_spells} must be a positive integer.")
    t_start, t_end, t_data = pd.Timestamp(start), pd.Timestamp(end), pd.Timestamp(data_end)
    if t_end < t_start or t_data < t_end + pd.Timedelta(days=56):
        raise OptionError("Need start <= end and data_end at least 56 days after end.")
    rng = np.random.default_rng(seed)
    n = int(n_spells)

    # --- jobcentres, windows, effects, shares -------------------------------------------
    programme = list(contract.SOF_JOBCENTRES)
    names = programme + list(OTHER_JOBCENTRES[:n_other])
    n_j = len(names)
    prog_frame = pd.DataFrame(
        {
            "jobcentre": programme,
            "start": pd.Series([contract.SOF_START] * len(programme), dtype="datetime64[ns]"),
            "end": pd.Series(
                [BILLUND_END if j == "Billund" else contract.SOF_END for j in programme],
                dtype="datetime64[ns]",
            ),
        }
    )
    win_days = {
        j: (_days(contract.SOF_START), _days(BILLUND_END if j == "Billund" else contract.SOF_END))
        for j in programme
    }
    win_months = {
        j: (int(_months(np.array([a]))[0]), int(_months(np.array([b]))[0]))
        for j, (a, b) in win_days.items()
    }
    d0, d1, d_data = _days(t_start), _days(t_end), _days(t_data)
    m0, m_data = int(_months(np.array([d0]))[0]), int(_months(np.array([d_data]))[0])
    m_last = int(_months(np.array([d1 + 7 * MAX_WEEKS]))[0])
    weights = rng.lognormal(0.0, 0.8, n_j)
    share, base, lift = _shares(scenario, names, win_months, m0, m_data, weights, rng)
    k_prog = len(programme)
    in_win = [
        share[j, win_months[p][0] - m0 : win_months[p][1] - m0 + 1] for j, p in enumerate(programme)
    ]
    treated_w = weights[:k_prog] * np.array([x.size for x in in_win])
    extra = np.array([x.mean() for x in in_win]) - base[:k_prog]
    th_ea, th_p, lam1, lam2, fsd = _scenario_effects(scenario, programme, treated_w, extra, rng)
    if theta_ea is not None:
        th_ea = np.full(len(programme), float(theta_ea))
    if theta_p is not None:
        th_p = np.full(len(programme), float(theta_p))
    lam1 = lam1 if lam_early is None else float(lam_early)
    lam2 = lam2 if lam_late is None else float(lam_late)
    fsd = fsd if frailty_sd is None else float(frailty_sd)
    gamma = rng.normal(0.0, 0.12, n_j)
    month_ids = np.arange(m0, m_last + 1)
    delta = 0.06 * np.sin(2 * np.pi * (month_ids % 12) / 12) + rng.normal(0, 0.03, month_ids.size)
    alpha = np.array(
        [ALPHA_A0 - 0.45 * np.log(t / 5.0) + 0.3 * (t <= 4) for t in range(1, MAX_WEEKS + 1)]
    )
    q = np.tile(np.array([OTHER_HAZARDS[s] for s in _STATES]), (MAX_WEEKS, 1))
    q[REASSESSMENT_WEEK - 1, _STATES.index("job_clarification")] = REASSESSMENT_HAZARD
    q_cum = np.cumsum(q, axis=1)

    # --- spells and covariates ----------------------------------------------------------
    jc = rng.choice(n_j, size=n, p=weights / weights.sum())
    abs_d = rng.integers(d0, d1 + 1, size=n)
    cov_idx = {c: _pick(rng, lv, p, n) for c, (lv, p, _) in _LEVELS.items()}
    age = np.clip(np.rint(rng.normal(45, 11, n)), 18, 66).astype(np.int64)
    xb = BETA_AGE * (age - AGE_CENTRE)
    for c, (_, _, b) in _LEVELS.items():
        xb = xb + np.asarray(b)[cov_idx[c]]
    u_entry = rng.random(n)
    entry = np.where(u_entry < 0.75, 5, np.where(u_entry < 0.90, 1, rng.integers(2, 9, n)))
    entry_day = np.where(entry == 1, 0, rng.integers(0, 7, n))
    bs_d = abs_d + 7 * (entry - 1) + entry_day
    frail = rng.gamma(1.0 / fsd**2, fsd**2, n) if fsd > 0 else np.ones(n)
    w8 = abs_d + 49
    is_prog = jc < len(programme)
    win_a = np.array([win_days[j][0] for j in programme] + [0] * n_other)[jc]
    win_b = np.array([win_days[j][1] for j in programme] + [-1] * n_other)[jc]
    treated = is_prog & (w8 >= win_a) & (w8 <= win_b)
    link = _months(w8)
    s_link = share[jc, link - m0]
    th_ea_all = np.concatenate([th_ea, np.zeros(n_other)])[jc]
    th_p_all = np.concatenate([th_p, np.zeros(n_other)])[jc]
    eff_early = th_ea_all * treated + lam1 * s_link
    eff_late = th_p_all * treated + lam2 * s_link
    static = gamma[jc] + xb + np.log(frail)

    # --- weekly competing risks, vectorised over spells ---------------------------------
    alive = np.ones(n, dtype=bool)
    exit_week = np.zeros(n, dtype=np.int64)
    exit_state = np.full(n, -1, dtype=np.int64)  # 0 employment, 1.. other states
    weeks: Iterable[int] = range(1, MAX_WEEKS + 1)
    if show_progress(progress):
        from tqdm.auto import tqdm

        weeks = tqdm(weeks, desc=f"simulate {scenario}", unit="week")
    for t in weeks:
        idx = np.flatnonzero(alive & (entry <= t))
        mon = _months(abs_d[idx] + 7 * (t - 1)) - m0
        eff = eff_early[idx] if t <= 7 else eff_late[idx]
        h_e = -np.expm1(-np.exp(alpha[t - 1] + static[idx] + delta[mon] + eff))
        u = rng.random(idx.size)
        emp = u < h_e
        v = (u - h_e) / (1.0 - h_e)
        k = np.searchsorted(q_cum[t - 1], v, side="right")
        out = emp | (k < len(_STATES))
        exit_state[idx[out]] = np.where(emp[out], 0, k[out] + 1)
        exit_week[idx[out]] = t
        alive[idx[out]] = False
    late = np.flatnonzero(alive)
    exit_week[late] = MAX_WEEKS + rng.geometric(LATE_EXIT_WEEKLY, late.size)
    late_p = np.array([LATE_EXIT_SHARES[s] for s in ("employment", *_STATES)])
    exit_state[late] = rng.choice(late_p.size, size=late.size, p=late_p / late_p.sum())
    u_day = rng.random(n)
    lo = np.where(exit_week == entry, entry_day, 0)
    end_d = abs_d + 7 * (exit_week - 1) + lo + np.floor(u_day * (7 - lo)).astype(np.int64)
    ended = end_d <= d_data
    obs_end = np.where(ended, end_d, d_data)
    state_names = np.array(("employment", *_STATES, "censored"), dtype=object)
    exit_label = np.where(ended, state_names[exit_state], "censored")

    person = _persons(rng, cov_idx["sex"], abs_d - age * 365.25, abs_d, end_d, ended)
    spell_ids = np.array([f"S{i:07d}" for i in range(1, n + 1)], dtype=object)
    name_arr = np.array(names, dtype=object)
    spells = pd.DataFrame(
        {
            "spell_id": spell_ids,
            "person_id": np.array([f"P{p:07d}" for p in person.tolist()], dtype=object),
            "jobcentre": name_arr[jc],
            "absence_start": _to_dates(abs_d),
            "benefit_start": _to_dates(bs_d),
            "benefit_end": _to_dates(end_d, ended),
            "exit_state": exit_label.astype(object),
            "age": age,
        }
    )
    for c, (lv, _, _) in _LEVELS.items():
        spells[c] = np.array(lv, dtype=object)[cov_idx[c]]
        if isinstance(lv[0], int):
            spells[c] = spells[c].astype(np.int64)
    spells = spells[
        [
            *contract.REQUIRED_COLUMNS["spells"][:4],
            "benefit_start",
            "benefit_end",
            "exit_state",
            *contract.SPELL_COVARIATES,
        ]
    ]

    meetings, monitoring = _meetings(
        rng, jc, abs_d, entry, entry_day, obs_end, share, m0, spell_ids, name_arr
    )
    interventions = _interventions(
        rng, abs_d, entry, entry_day, obs_end, end_d, ended, treated, d_data, spell_ids
    )
    truth = _truth(
        scenario,
        seed,
        names,
        programme,
        alpha,
        delta,
        month_ids,
        gamma,
        th_ea,
        th_p,
        lam1,
        lam2,
        fsd,
        q,
        share,
        base,
        lift,
        m0,
        jc,
        treated,
        s_link,
    )
    return SyntheticStudy(
        spells=spells,
        meetings=meetings,
        interventions=interventions,
        programme=prog_frame,
        monitoring=monitoring,
        truth=truth,
        data_end=t_data,
    )


def _persons(
    rng: np.random.Generator,
    sex: np.ndarray,
    birth: np.ndarray,
    abs_d: np.ndarray,
    end_d: np.ndarray,
    ended: np.ndarray,
) -> np.ndarray:
    """Person numbers: a few pairs of same-sex, same-birth-year, non-overlapping spells."""
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


def _meetings(
    rng: np.random.Generator,
    jc: np.ndarray,
    abs_d: np.ndarray,
    entry: np.ndarray,
    entry_day: np.ndarray,
    obs_end: np.ndarray,
    share: np.ndarray,
    m0: int,
    spell_ids: np.ndarray,
    names: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Follow-up meetings (first one mostly in weeks 5-8) and monitoring counts."""
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
    month = _months(date)
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
        m = np.minimum(_months(nxt) - m0, share.shape[1] - 1)
        wp = rng.random(n) < 0.5 * share[jc, m]
        oth = np.array(_OTHER_LOCATIONS, dtype=object)[rng.choice(3, size=n, p=[0.55, 0.30, 0.15])]
        lab = np.where(wp, "workplace", oth)
        rows.append((np.flatnonzero(has), nxt[has], lab[has]))
        prev = nxt
    meetings = (
        pd.DataFrame(
            {
                "spell_id": np.concatenate([spell_ids[r[0]] for r in rows]),
                "date": _to_dates(np.concatenate([r[1] for r in rows])),
                "location": np.concatenate([r[2] for r in rows]).astype(object),
            }
        )
        .sort_values(["spell_id", "date"], kind="mergesort")
        .reset_index(drop=True)
    )
    agg = (
        mon.groupby(["j", "month"], sort=True)
        .agg(first_meetings=("wp", "size"), workplace_meetings=("wp", "sum"))
        .reset_index()
    )
    monitoring = (
        pd.DataFrame(
            {
                "jobcentre": names[agg["j"].to_numpy()],
                "month": _labels(agg["month"].to_numpy()),
                "first_meetings": agg["first_meetings"].to_numpy(np.int64),
                "workplace_meetings": agg["workplace_meetings"].to_numpy(np.int64),
            }
        )
        .sort_values(["jobcentre", "month"], kind="mergesort")
        .reset_index(drop=True)
    )
    return meetings, monitoring


def _interventions(
    rng: np.random.Generator,
    abs_d: np.ndarray,
    entry: np.ndarray,
    entry_day: np.ndarray,
    obs_end: np.ndarray,
    end_d: np.ndarray,
    ended: np.ndarray,
    treated: np.ndarray,
    d_data: int,
    spell_ids: np.ndarray,
) -> pd.DataFrame:
    """Workplace-oriented measures, mostly starting in weeks 8-13, inside their spell."""
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
            "spell_id": spell_ids[keep],
            "start": _to_dates(start[keep]),
            "end": _to_dates(stop[keep], stop_ok[keep]),
            "type": kind[keep],
        }
    ).reset_index(drop=True)


def _truth(
    scenario: str,
    seed: int,
    names: list[str],
    programme: list[str],
    alpha: np.ndarray,
    delta: np.ndarray,
    month_ids: np.ndarray,
    gamma: np.ndarray,
    th_ea: np.ndarray,
    th_p: np.ndarray,
    lam1: float,
    lam2: float,
    fsd: float,
    q: np.ndarray,
    share: np.ndarray,
    base: np.ndarray,
    lift: np.ndarray,
    m0: int,
    jc: np.ndarray,
    treated: np.ndarray,
    s_link: np.ndarray,
) -> Truth:
    """Assemble the tidy truth tables."""
    rows: list[tuple[str, str, float]] = []
    rows += [(f"alpha[{t:02d}]", "ALL", float(a)) for t, a in enumerate(alpha, start=1)]
    rows += [
        (f"delta[{lab}]", "ALL", float(d)) for lab, d in zip(_labels(month_ids), delta, strict=True)
    ]
    rows += [("gamma", j, float(g)) for j, g in zip(names, gamma, strict=True)]
    rows += [("beta[age]", "ALL", BETA_AGE), ("age_centre", "ALL", float(AGE_CENTRE))]
    for c, (lv, _, b) in _LEVELS.items():
        rows += [(f"beta[{c}={level}]", "ALL", float(v)) for level, v in zip(lv, b, strict=True)]
    rows += [("theta_ea", j, float(v)) for j, v in zip(programme, th_ea, strict=True)]
    rows += [("theta_p", j, float(v)) for j, v in zip(programme, th_p, strict=True)]
    rows += [
        ("lambda_1", "ALL", lam1),
        ("lambda_2", "ALL", lam2),
        ("frailty_gamma_variance", "ALL", fsd**2),
    ]
    for k, s in enumerate(_STATES):
        rows += [(f"q_{s}[{t:02d}]", "ALL", float(q[t - 1, k])) for t in range(1, MAX_WEEKS + 1)]
    rows += [(f"late_exit_share[{s}]", "ALL", v) for s, v in LATE_EXIT_SHARES.items()]
    rows += [("late_exit_weekly", "ALL", LATE_EXIT_WEEKLY)]
    rows += [("share_base", j, float(v)) for j, v in zip(names, base, strict=True)]
    rows += [("share_lift", j, float(lift[i])) for i, j in enumerate(programme)]
    params = pd.DataFrame(rows, columns=["parameter", "jobcentre", "value"])

    # Estimands: spell-weighted mean over treated spells of theta_j + lambda (S - b_j).
    extra = s_link - base[jc]
    tr = pd.DataFrame(
        {"j": jc[treated], "ea": (lam1 * extra)[treated], "p": (lam2 * extra)[treated]}
    )
    k = len(programme)
    ea_j, p_j = th_ea + 0.0, th_p + 0.0
    n_tr = np.zeros(k)
    if len(tr):
        g = tr.groupby("j").agg(n=("ea", "size"), ea=("ea", "mean"), p=("p", "mean"))
        ids = g.index.to_numpy()
        n_tr[ids] = g["n"].to_numpy()
        ea_j[ids] += g["ea"].to_numpy()
        p_j[ids] += g["p"].to_numpy()
    w = n_tr / n_tr.sum() if n_tr.sum() > 0 else np.full(k, 1.0 / k)
    est = [("ex_ante", "ALL", float(w @ ea_j)), ("programme", "ALL", float(w @ p_j))]
    est += [("ex_ante", j, float(v)) for j, v in zip(programme, ea_j, strict=True)]
    est += [("programme", j, float(v)) for j, v in zip(programme, p_j, strict=True)]
    est += [("lambda_early", "ALL", lam1), ("lambda_late", "ALL", lam2)]
    estimands = pd.DataFrame(est, columns=["estimand", "jobcentre", "value"])

    n_m = share.shape[1]
    shares = pd.DataFrame(
        {
            "jobcentre": np.repeat(np.array(names, dtype=object), n_m),
            "month": np.tile(_labels(np.arange(m0, m0 + n_m)), len(names)),
            "share": share.ravel(),
        }
    )
    return Truth(scenario=scenario, seed=seed, params=params, estimands=estimands, shares=shares)
