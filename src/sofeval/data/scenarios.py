"""Scenarios of the synthetic generator: names, fixed parameters and effects per scenario.

The data-generating process itself is documented in :mod:`sofeval.data.synthetic`; this
module holds its constants (hazards of the other exit states, covariate effects, the
calibrated baseline, the recurrence hazard), the effects of each named scenario
(:func:`scenario_effects`) and the true workplace shares (:func:`workplace_shares`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sofeval.data import contract
from sofeval.data.synthetic_calendar import day_number, month_numbers

SCENARIOS: tuple[str, ...] = (
    "null",
    "homogeneous",
    "heterogeneous",
    "dose_response",
    "frailty",
    "report",
    "destinations",
    "pretrend",
    "subgroup",
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

#: The exit states other than employment, in the order of their draws.
OTHER_STATES: tuple[str, ...] = tuple(s for s in contract.COMPETING_STATES if s != "employment")
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
#: Calibrated intercept of alpha(t) (report scenario: ~77 % exits to employment).
ALPHA_A0 = -2.32

#: Spell covariates: ``name: (levels, probabilities, beta per level)``.
COVARIATE_LEVELS: dict[str, tuple[tuple[object, ...], tuple[float, ...], tuple[float, ...]]] = {
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
#: Effect of age per year above :data:`AGE_CENTRE` on the employment log-hazard.
BETA_AGE, AGE_CENTRE = -0.01, 45

#: ``destinations``: cloglog shifts of the other states' cause-specific hazards for
#: treated spells in weeks 1-7 (ex ante) and week 8+ (programme).
DESTINATION_THETA_EA: dict[str, float] = {}
DESTINATION_THETA_P: dict[str, float] = {"unemployment": 0.30, "job_clarification": -0.20}
#: ``pretrend``: log-hazard trend per calendar quarter of programme-jobcentre spells before
#: their jobcentre's programme start (event quarter k < 0 adds ``PRETREND_SLOPE * k``).
PRETREND_SLOPE = 0.05
#: ``subgroup``: ``(covariate, level, theta_EA, theta_P)`` of the only effect.
SUBGROUP_EFFECT: tuple[str, object, float, float] = ("visitation_category", 2, 0.0, 0.25)
#: Recurrence hazard ``1 - exp(-exp(kappa0 + slope log(w) + gamma_j + rho D))`` in week ``w``
#: since a return to employment (``w = 1..RECURRENCE_WEEKS``; none later).
RECURRENCE_KAPPA0, RECURRENCE_SLOPE, RECURRENCE_WEEKS = -4.4, -0.5, 52
#: Programme effect on the recurrence hazard in the new scenarios (``pretrend``: 0).
RECURRENCE_RHO = -0.25


@dataclass(frozen=True)
class ScenarioEffects:
    """The programme and mediator effects of one scenario.

    Attributes
    ----------
    theta_ea, theta_p
        Ex-ante (weeks 1-7) and programme (week 8+) effects per programme jobcentre.
    lam1, lam2
        Effect of the workplace share in weeks 1-7 / week 8+.
    frailty_sd
        Standard deviation of the mean-one gamma frailty (0 = none).
    destination_ea, destination_p
        Cloglog shift of the cause-specific hazard of another exit state for treated
        spells in weeks 1-7 / week 8+, per state (absent = 0).
    subgroup
        ``(covariate, level)`` of a subgroup effect, or ``None``.
    subgroup_ea, subgroup_p
        Extra effect of treated spells in that subgroup in weeks 1-7 / week 8+.
    pretrend
        Log-hazard trend per event quarter before the programme start (0 = none).
    recurrence
        Generate new spells of persons who returned to employment.
    rho
        Programme effect on the recurrence hazard (treated returns).
    """

    theta_ea: np.ndarray
    theta_p: np.ndarray
    lam1: float
    lam2: float
    frailty_sd: float
    destination_ea: dict[str, float] = field(default_factory=dict)
    destination_p: dict[str, float] = field(default_factory=dict)
    subgroup: tuple[str, object] | None = None
    subgroup_ea: float = 0.0
    subgroup_p: float = 0.0
    pretrend: float = 0.0
    recurrence: bool = False
    rho: float = 0.0

    def override(
        self,
        theta_ea: float | None = None,
        theta_p: float | None = None,
        lam_early: float | None = None,
        lam_late: float | None = None,
        frailty_sd: float | None = None,
        recurrence: bool | None = None,
        rho: float | None = None,
    ) -> ScenarioEffects:
        """A copy with the given values replacing the scenario's (``None`` keeps them).

        A theta override makes that theta homogeneous over the programme jobcentres (a
        subgroup or destination effect of the scenario stays).

        Parameters
        ----------
        theta_ea, theta_p, lam_early, lam_late, frailty_sd, recurrence, rho
            Keyword overrides of :func:`sofeval.data.simulate`.

        Returns
        -------
        ScenarioEffects
        """
        k = self.theta_ea.size
        return replace(
            self,
            theta_ea=self.theta_ea if theta_ea is None else np.full(k, float(theta_ea)),
            theta_p=self.theta_p if theta_p is None else np.full(k, float(theta_p)),
            lam1=self.lam1 if lam_early is None else float(lam_early),
            lam2=self.lam2 if lam_late is None else float(lam_late),
            frailty_sd=self.frailty_sd if frailty_sd is None else float(frailty_sd),
            recurrence=self.recurrence if recurrence is None else bool(recurrence),
            rho=self.rho if rho is None else float(rho),
        )


def scenario_effects(
    scenario: str,
    programme: tuple[str, ...],
    weight: np.ndarray,
    extra: np.ndarray,
    rng: np.random.Generator,
) -> ScenarioEffects:
    """Per-programme-jobcentre thetas, lambdas and frailty sd of a scenario.

    Parameters
    ----------
    scenario
        One of :data:`SCENARIOS`.
    programme
        The programme jobcentres.
    weight
        Expected number of treated spells per programme jobcentre (``report`` uses it to
        centre the pooled effects near zero).
    extra
        Mean in-window share lift per programme jobcentre (idem).
    rng
        The generator's random stream (two normal vectors are drawn in every scenario).

    Returns
    -------
    ScenarioEffects
    """
    # Drawn in every scenario so that all scenarios share the same random stream.
    het_ea = rng.normal(0.0, 0.15, len(programme))
    het_p = rng.normal(0.0, 0.15, len(programme))
    k = len(programme)
    zeros = np.zeros(k)
    if scenario == "null":
        return ScenarioEffects(zeros, zeros, 0.0, 0.0, 0.0)
    if scenario in ("homogeneous", "frailty"):
        sd = float(np.sqrt(0.5)) if scenario == "frailty" else 0.0
        return ScenarioEffects(np.full(k, 0.05), np.full(k, 0.10), 0.0, 0.0, sd)
    if scenario == "heterogeneous":
        return ScenarioEffects(het_ea, het_p, 0.0, 0.0, 0.0)
    if scenario == "dose_response":
        return ScenarioEffects(zeros, zeros, 0.13, 0.0, 0.0)
    if scenario in ("destinations", "pretrend", "subgroup"):
        return _new_scenario_effects(scenario, k)
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
    return ScenarioEffects(th_ea, th_p, lam1, 0.0, 0.0)


def _new_scenario_effects(scenario: str, k: int) -> ScenarioEffects:
    """Effects of the scenarios with destinations, pre-trends, subgroups and recurrence."""
    zeros = np.zeros(k)
    if scenario == "destinations":
        return ScenarioEffects(
            np.full(k, 0.05),
            np.full(k, 0.10),
            0.0,
            0.0,
            0.0,
            destination_ea=dict(DESTINATION_THETA_EA),
            destination_p=dict(DESTINATION_THETA_P),
            recurrence=True,
            rho=RECURRENCE_RHO,
        )
    if scenario == "pretrend":
        return ScenarioEffects(
            zeros, zeros, 0.0, 0.0, 0.0, pretrend=PRETREND_SLOPE, recurrence=True
        )
    variable, level, sub_ea, sub_p = SUBGROUP_EFFECT
    return ScenarioEffects(
        zeros,
        zeros,
        0.0,
        0.0,
        0.0,
        subgroup=(variable, level),
        subgroup_ea=sub_ea,
        subgroup_p=sub_p,
        recurrence=True,
        rho=RECURRENCE_RHO,
    )


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


def workplace_shares(
    scenario: str,
    names: tuple[str, ...],
    windows: dict[str, tuple[int, int]],
    m0: int,
    m1: int,
    weights: np.ndarray,
    rng: np.random.Generator,
) -> Shares:
    """True workplace shares ``S[j, m - m0]`` for months ``m0..m1``, base ``b_j``, lift ``L_j``.

    Lifts are rescaled so that the size-weighted mean in-window share is
    :data:`TARGET_SHARE` (before clipping); in ``dose_response`` the in-window shares are
    uniform on [0.05, 0.80].

    Parameters
    ----------
    scenario
        One of :data:`SCENARIOS`.
    names
        All jobcentres.
    windows
        Programme window months ``(first, last)`` per programme jobcentre.
    m0, m1
        First and last month number.
    weights
        Jobcentre size weights.
    rng
        The generator's random stream.

    Returns
    -------
    Shares
    """
    n_j, n_m = len(names), m1 - m0 + 1
    base = rng.uniform(0.10, 0.15, n_j)
    noise = rng.normal(0.0, 0.01, (n_j, n_m))
    share = np.clip(base[:, None] + noise, 0.09, 0.16)
    high = np.array([n in HIGH_IMPLEMENTERS for n in names])
    lift_draw = np.where(high, rng.uniform(0.50, 0.65, n_j), rng.uniform(0.06, 0.18, n_j))
    in_noise = rng.normal(0.0, 0.025, (n_j, n_m))
    dose = rng.uniform(0.05, 0.80, (n_j, n_m))
    sof_m = int(month_numbers(np.array([day_number(contract.SOF_START)]))[0])
    months = np.arange(m0, m1 + 1)
    inside = np.zeros((n_j, n_m), dtype=bool)
    for j, name in enumerate(names):
        if name in windows:
            inside[j] = (months >= windows[name][0]) & (months <= windows[name][1])
    if scenario == "dose_response":
        share[inside] = dose[inside]
        lift = np.where(inside.any(axis=1), lift_draw, 0.0)
        return Shares(share, base, lift)
    r = 0.45 + 0.55 * (months - sof_m) / 14.0
    w = weights[:, None] * inside
    gap = TARGET_SHARE - np.sum(w * base[:, None]) / w.sum()
    lift = np.where(inside.any(axis=1), lift_draw, 0.0)
    lift = lift * gap / (np.sum(w * lift[:, None] * r[None, :]) / w.sum())
    raised = np.clip(base[:, None] + lift[:, None] * r[None, :] + in_noise, 0.02, 0.76)
    share[inside] = raised[inside]
    return Shares(share, base, lift)
