"""The truths of the second-wave estimands against independent computations.

Every truth of :class:`sofeval.data.Truth` is recomputed here from the *published* tables
only (``spells``, ``programme``, ``truth.params``, ``truth.shares``), week by week, without
the generator's code; plus closed forms on a one-spell case, the zero differences of
``null``, and checks against the generated data themselves.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sofeval.data import (
    AGE_BANDS,
    SCENARIOS,
    SyntheticStudy,
    contract,
    simulate,
    true_durations,
    true_event_study,
    true_incidence,
    true_recurrence,
)
from sofeval.errors import OptionError
from sofeval.panel import AGE_LABELS, bin_covariates

#: Hand and generator compute the same sums in a different order: float64 rounding only.
RTOL_SAME = 1e-9
#: |z| bound for a generated mean against its truth (sampling noise of ~2,000 spells).
Z_MAX = 4.0
TAU = 52
OTHER = tuple(s for s in contract.COMPETING_STATES if s != "employment")


@pytest.fixture(scope="module")
def dest() -> SyntheticStudy:
    return simulate("destinations", n_spells=30_000, seed=4)


@pytest.fixture(scope="module")
def report() -> SyntheticStudy:
    return simulate("report", n_spells=8_000, seed=2)


@pytest.fixture(scope="module")
def subgroup() -> SyntheticStudy:
    return simulate("subgroup", n_spells=8_000, seed=3)


@pytest.fixture(scope="module")
def pretrend() -> SyntheticStudy:
    return simulate("pretrend", n_spells=8_000, seed=5)


# --- an independent reimplementation from the published tables --------------------------


def _params(study: SyntheticStudy) -> tuple[pd.Series, pd.DataFrame]:
    p = study.truth.params
    glob = p[p["jobcentre"] == "ALL"].set_index("parameter")["value"]
    per_jc = p[p["jobcentre"] != "ALL"].pivot(
        index="jobcentre", columns="parameter", values="value"
    )
    return glob, per_jc


def _treated(study: SyntheticStudy) -> pd.DataFrame:
    """Spells with D = 1 (week-8 date inside their jobcentre's window), from the tables."""
    sp = study.spells.merge(study.programme, on="jobcentre", how="left")
    w8 = sp["absence_start"] + contract.WEEK8_OFFSET
    return sp[(w8 >= sp["start"]) & (w8 <= sp["end"])].reset_index(drop=True)


def _hand_hazards(study: SyntheticStudy, sp: pd.DataFrame) -> dict[str, np.ndarray]:
    """Weekly cause-specific probabilities of spells ``sp`` with and without the programme."""
    glob, per_jc = _params(study)
    shares = study.truth.shares.set_index(["jobcentre", "month"])["share"]
    n = len(sp)
    xb = per_jc.loc[sp["jobcentre"], "gamma"].to_numpy() + glob["beta[age]"] * (
        sp["age"].to_numpy() - glob["age_centre"]
    )
    for c in ("sex", "diagnosis_group", "visitation_category", "sector", "partial_sick_listing"):
        xb = xb + np.array([glob[f"beta[{c}={v}]"] for v in sp[c]])
    w8 = sp["absence_start"] + contract.WEEK8_OFFSET
    s_link = shares.loc[list(zip(sp["jobcentre"], w8.dt.strftime("%Y-%m"), strict=True))]
    base = per_jc.loc[sp["jobcentre"], "share_base"].to_numpy()
    sub = {"theta_ea": np.zeros(n), "theta_p": np.zeros(n)}
    for key in (k for k in glob.index if "_subgroup[" in k):
        var, level = key[key.index("[") + 1 : -1].split("=")
        sub[key.split("_subgroup")[0]] += glob[key] * (sp[var].astype(str).to_numpy() == level)
    out = {k: np.zeros((n, TAU)) for k in ("e1", "e0")}
    out |= {k: np.zeros((n, TAU, len(OTHER))) for k in ("k1", "k0")}
    for t in range(1, TAU + 1):
        month = (sp["absence_start"] + pd.Timedelta(days=7 * (t - 1))).dt.strftime("delta[%Y-%m]")
        eta = glob[f"alpha[{t:02d}]"] + xb + month.map(glob).to_numpy()
        early = t <= 7
        name = "theta_ea" if early else "theta_p"
        theta = per_jc.loc[sp["jobcentre"], name].to_numpy() + sub[name]
        lam = glob["lambda_1" if early else "lambda_2"]
        h1 = 1 - np.exp(-np.exp(eta + theta + lam * s_link.to_numpy()))
        h0 = 1 - np.exp(-np.exp(eta + lam * base))
        out["e1"][:, t - 1], out["e0"][:, t - 1] = h1, h0
        for i, state in enumerate(OTHER):
            q = glob[f"q_{state}[{t:02d}]"]
            shift = glob.get(f"theta_{'ea' if early else 'p'}[{state}]", 0.0)
            k0 = (1 - h0) * q
            out["k0"][:, t - 1, i] = k0
            out["k1"][:, t - 1, i] = 1 - (1 - k0) ** np.exp(shift) if shift else (1 - h1) * q
    entry = contract.spell_week(sp["benefit_start"], sp["absence_start"]).to_numpy()
    out["at_risk"] = np.arange(1, TAU + 1)[None, :] >= entry[:, None]
    return out


def _hand_weeks_and_incidence(h_e: np.ndarray, h_k: np.ndarray, at_risk: np.ndarray):
    """Per spell: W = sum_{t>=e} S(t-1) and F_k(w) = sum_{e<=t<=w} S(t-1) h_k(t), by a loop."""
    n = h_e.shape[0]
    alive = np.ones(n)
    weeks = np.zeros(n)
    inc = np.zeros((n, TAU, 1 + len(OTHER)))
    running = np.zeros((n, 1 + len(OTHER)))
    for t in range(TAU):
        r = at_risk[:, t]
        weeks += np.where(r, alive, 0.0)
        h = np.column_stack([h_e[:, t], h_k[:, t, :]])
        running += np.where(r[:, None], alive[:, None] * h, 0.0)
        inc[:, t, :] = running
        alive = np.where(r, alive * (1 - h.sum(axis=1)), alive)
    return weeks, inc


@pytest.mark.parametrize("name", ["dest", "report", "subgroup"])
def test_durations_and_incidence_equal_a_hand_computation(
    name: str, request: pytest.FixtureRequest
) -> None:
    study: SyntheticStudy = request.getfixturevalue(name)
    sp = _treated(study)
    h = _hand_hazards(study, sp)
    w1, f1 = _hand_weeks_and_incidence(h["e1"], h["k1"], h["at_risk"])
    w0, f0 = _hand_weeks_and_incidence(h["e0"], h["k0"], h["at_risk"])
    dur = study.truth.durations.set_index("scope")
    assert dur.loc["all", "n_spells"] == len(sp)
    np.testing.assert_allclose(dur.loc["all", "weeks_with"], w1.mean(), rtol=RTOL_SAME)
    np.testing.assert_allclose(dur.loc["all", "weeks_without"], w0.mean(), rtol=RTOL_SAME)
    by_jc = pd.Series(w0 - w1).groupby(sp["jobcentre"].to_numpy()).mean()
    np.testing.assert_allclose(dur.loc[by_jc.index, "weeks_saved"], by_jc, rtol=1e-7, atol=1e-12)
    inc = study.truth.incidence.set_index(["scope", "destination", "week"])
    for i, dest in enumerate(contract.COMPETING_STATES):
        for week in (7, 13, 26, 52):
            row = inc.loc[("all", dest, week)]
            np.testing.assert_allclose(row["with"], f1[:, week - 1, i].mean(), rtol=RTOL_SAME)
            np.testing.assert_allclose(row["without"], f0[:, week - 1, i].mean(), rtol=RTOL_SAME)


def test_one_spell_closed_form(report: SyntheticStudy) -> None:
    """Constant hazards: W = (1 - (1-Q)^n) / Q and F_E(w) = h_E (1 - (1-Q)^(w-e+1)) / Q."""
    proc, alpha, theta, q, entry, tau = report.process.proc, -2.5, 0.3, 0.012, 3, 20
    one = {k: getattr(proc, k)[:1] for k in ("abs_d", "link", "s_link")}
    one |= {"jc": np.array([0]), "event_quarter": np.array([0])}  # a programme jobcentre
    base = replace(
        proc.baseline,
        alpha=np.full(52, alpha),
        delta=np.zeros_like(proc.baseline.delta),
        q=np.full((52, len(OTHER)), q / len(OTHER)),
    )
    eff = np.array([theta])
    proc1 = replace(
        proc,
        **one,
        entry=np.array([entry]),
        static=np.zeros(1),
        eff_early=eff,
        eff_late=eff,
        prog_early=eff,
        prog_late=eff,
        trend=np.zeros(1),
        treated=np.array([True]),
        in_programme_jobcentre=np.array([True]),
        baseline=base,
    )
    process = replace(report.process, proc=proc1)
    dur = true_durations(process, horizon=tau).set_index("scope").loc["all"]
    inc = true_incidence(process, horizon=tau).set_index(["scope", "destination", "week"])
    n = tau - entry + 1
    for col, eta in (("with", alpha + theta), ("without", alpha)):
        h_e = 1 - np.exp(-np.exp(eta))
        big_q = 1 - (1 - h_e) * (1 - q)
        assert dur[f"weeks_{col}"] == pytest.approx((1 - (1 - big_q) ** n) / big_q, rel=1e-12)
        for w in (entry, 10, tau):
            expected = h_e * (1 - (1 - big_q) ** (w - entry + 1)) / big_q
            assert inc.loc[("all", "employment", w), col] == pytest.approx(expected, rel=1e-12)
        assert inc.loc[("all", "employment", entry - 1), col] == 0.0
    assert dur["weeks_saved"] == pytest.approx(dur["weeks_without"] - dur["weeks_with"])


def test_horizon_varies_and_is_checked(report: SyntheticStudy) -> None:
    short = true_durations(report.process, horizon=26).set_index("scope")
    full = report.truth.durations.set_index("scope")
    assert (short["tau_weeks"] == 26).all() and (full["tau_weeks"] == 52).all()
    assert (short["weeks_with"] < full["weeks_with"]).all()
    inc26 = true_incidence(report.process, horizon=26)
    pd.testing.assert_frame_equal(
        inc26.reset_index(drop=True),
        report.truth.incidence[report.truth.incidence["week"] <= 26].reset_index(drop=True),
        rtol=1e-12,
    )
    for bad in (0, 53):
        with pytest.raises(OptionError, match="horizon"):
            true_durations(report.process, horizon=bad)


# --- destinations -------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_employment_destination_rows_equal_estimands(scenario: str) -> None:
    truth = simulate(scenario, n_spells=1_500, seed=6).truth
    dest = truth.destinations
    assert list(dest.columns) == ["destination", "estimand", "jobcentre", "value", "cause_specific"]
    emp = dest[dest["destination"] == "employment"].drop(columns=["destination", "cause_specific"])
    est = truth.estimands[truth.estimands["estimand"].isin(["ex_ante", "programme"])]
    pd.testing.assert_frame_equal(emp.reset_index(drop=True), est.reset_index(drop=True))
    assert set(dest["destination"]) == set(contract.COMPETING_STATES)


def test_destination_shifts(dest: SyntheticStudy) -> None:
    d = dest.truth.destinations.set_index(["destination", "estimand", "jobcentre"])
    assert d.loc[("unemployment", "programme", "ALL"), "value"] == 0.30
    assert d.loc[("job_clarification", "programme", "ALL"), "value"] == -0.20
    assert d.loc[("unemployment", "ex_ante", "ALL"), "value"] == 0.0
    assert d.loc[("flexjob", "programme", "Vejle"), "value"] == 0.0
    # a shifted state moves by exactly its shift on the cloglog scale
    for state, shift in (("unemployment", 0.30), ("job_clarification", -0.20)):
        assert d.loc[(state, "programme", "ALL"), "cause_specific"] == pytest.approx(shift)
    # an unshifted state moves a little, against the employment effect (1 - h_E) q_k
    spill = d.loc[("flexjob", "programme", "ALL"), "cause_specific"]
    assert -0.02 < spill < 0.0
    assert d.loc[("employment", "programme", "ALL"), "cause_specific"] == pytest.approx(0.10)


# --- null: nothing differs ------------------------------------------------------------------


def test_null_has_zero_differences() -> None:
    truth = simulate("null", n_spells=3_000, seed=2, recurrence=True).truth
    np.testing.assert_array_equal(truth.durations["weeks_saved"], 0.0)
    np.testing.assert_array_equal(truth.incidence["difference"], 0.0)
    assert len(truth.recurrence) and (truth.recurrence["difference"] == 0.0).all()
    for frame in (truth.destinations, truth.event_study, truth.subgroups):
        np.testing.assert_array_equal(frame["value"], 0.0)
    np.testing.assert_array_equal(truth.destinations["cause_specific"], 0.0)


# --- recurrence -----------------------------------------------------------------------------


def test_recurrence_equals_a_product_of_weekly_hazards(dest: SyntheticStudy) -> None:
    glob, per_jc = _params(dest)
    sp = _treated(dest)
    returns = sp[sp["exit_state"] == "employment"]
    offset = per_jc.loc[returns["jobcentre"], "gamma"].to_numpy()
    rec = dest.truth.recurrence.set_index(["scope", "horizon_weeks"])
    for h in (26, 52):
        w = np.arange(1, h + 1)
        kappa = glob["recurrence_kappa0"] + glob["recurrence_slope"] * np.log(w)
        for col, rho in (("recurrence_with", glob["rho"]), ("recurrence_without", 0.0)):
            r = 1 - np.exp(-np.exp(kappa[None, :] + offset[:, None] + rho))
            hand = 1 - np.prod(1 - r, axis=1)
            assert rec.loc[("all", h), col] == pytest.approx(hand.mean(), rel=RTOL_SAME)
        assert rec.loc[("all", h), "n_returns"] == len(returns)
    assert glob["rho"] < 0 and (dest.truth.recurrence["difference"] < 0).all()
    with pytest.raises(OptionError, match="horizon"):
        true_recurrence(dest.process, horizons=(53,))


def test_no_recurrence_table_without_recurrence(report: SyntheticStudy) -> None:
    rec = report.truth.recurrence
    assert rec.empty
    assert list(rec.columns) == [
        "scope",
        "horizon_weeks",
        "n_returns",
        "recurrence_with",
        "recurrence_without",
        "difference",
    ]


# --- event study and subgroups --------------------------------------------------------------


def _event_quarters(study: SyntheticStudy) -> pd.DataFrame:
    sp = study.spells.merge(study.programme, on="jobcentre", how="inner")
    w8 = sp["absence_start"] + contract.WEEK8_OFFSET
    quarter = w8.dt.year * 4 + (w8.dt.month - 1) // 3
    start = sp["start"].dt.year * 4 + (sp["start"].dt.month - 1) // 3
    return sp.assign(k=(quarter - start).to_numpy(), d=((w8 >= sp["start"]) & (w8 <= sp["end"])))


def test_event_study_pretrend(pretrend: SyntheticStudy) -> None:
    glob, _ = _params(pretrend)
    slope = glob["pretrend_per_quarter"]
    sp = _event_quarters(pretrend)
    effect = slope * np.minimum(sp["k"], 0)
    binned = sp["k"].clip(-6, 5)
    mean = effect.groupby(binned).mean()
    expected = (mean - mean.loc[-1]).drop(-1)
    es = pretrend.truth.event_study
    for estimand in ("ex_ante", "programme"):
        got = es[es["estimand"] == estimand].set_index("event_quarter")
        np.testing.assert_allclose(got["value"], expected.loc[got.index], rtol=RTOL_SAME)
        assert got.loc[-2, "value"] == pytest.approx(-slope)
        assert got.loc[0, "value"] == pytest.approx(slope)
        np.testing.assert_array_equal(got["n_spells"], binned.value_counts().loc[got.index])
    assert -1 not in set(es["event_quarter"])
    assert pretrend.truth.estimands["value"].abs().max() == 0.0


def test_event_study_homogeneous() -> None:
    study = simulate("homogeneous", n_spells=6_000, seed=1)
    es = study.truth.event_study.set_index(["estimand", "event_quarter"])["value"]
    for estimand, theta in (("ex_ante", 0.05), ("programme", 0.10)):
        assert (es.loc[estimand].loc[:-2] == 0).all()
        assert es.loc[(estimand, 0)] == pytest.approx(theta)
        assert es.loc[(estimand, 1)] == pytest.approx(theta)
        assert 0 < es.loc[(estimand, 3)] < theta  # Billund's window ended: D = 0 there
        assert es.loc[(estimand, 5)] == 0.0
    pd.testing.assert_frame_equal(
        true_event_study(study.process, lowest=-6, highest=5), study.truth.event_study
    )


def test_subgroups(subgroup: SyntheticStudy) -> None:
    sg = subgroup.truth.subgroups
    assert list(sg.columns) == ["variable", "level", "estimand", "n_spells", "value"]
    assert set(sg["variable"]) == set(contract.SPELL_COVARIATES)
    got = sg.set_index(["variable", "level", "estimand"])["value"]
    assert got.loc[("visitation_category", "2", "programme")] == 0.25
    assert got.loc[("visitation_category", "1", "programme")] == 0.0
    assert got.loc[("visitation_category", "3", "programme")] == 0.0
    assert (sg.loc[sg["estimand"] == "ex_ante", "value"] == 0).all()
    # other variables: 0.25 times the share of category 2 among that level's treated spells
    sp = _treated(subgroup)
    share = (sp["visitation_category"] == 2).groupby(sp["diagnosis_group"]).mean()
    diag = got.loc["diagnosis_group"].xs("programme", level="estimand")
    np.testing.assert_allclose(diag.loc[share.index], 0.25 * share, rtol=RTOL_SAME)
    # the age bands are the panel's
    assert AGE_BANDS == AGE_LABELS
    bands = bin_covariates(sp, ["age"])["age"].astype(str).value_counts()
    n_age = sg[(sg["variable"] == "age") & (sg["estimand"] == "programme")]
    np.testing.assert_array_equal(n_age.set_index("level")["n_spells"], bands.loc[n_age["level"]])


def test_subgroup_estimands_include_the_subgroup_term(subgroup: SyntheticStudy) -> None:
    sp = _treated(subgroup)
    pooled = subgroup.truth.estimands.set_index(["estimand", "jobcentre"])["value"]
    assert pooled.loc[("programme", "ALL")] == pytest.approx(
        0.25 * (sp["visitation_category"] == 2).mean(), rel=RTOL_SAME
    )


# --- the truths against the generated data -------------------------------------------------


def test_generated_weeks_on_benefit_match_the_truth(dest: SyntheticStudy) -> None:
    sp = _treated(dest)
    entry = contract.spell_week(sp["benefit_start"], sp["absence_start"])
    last = contract.spell_week(sp["benefit_end"].fillna(dest.data_end), sp["absence_start"])
    weeks = (np.minimum(last, TAU) - entry + 1).to_numpy(float)
    truth = dest.truth.durations.set_index("scope").loc["all", "weeks_with"]
    z = (weeks.mean() - truth) / (weeks.std() / np.sqrt(weeks.size))
    assert abs(z) < Z_MAX, (weeks.mean(), truth, z)
    inc = dest.truth.incidence.set_index(["scope", "destination", "week"])["with"]
    for state in ("employment", "unemployment", "job_clarification"):
        p = inc.loc[("all", state, TAU)]
        observed = ((sp["exit_state"] == state) & (last <= TAU)).mean()
        z = (observed - p) / np.sqrt(p * (1 - p) / len(sp))
        assert abs(z) < Z_MAX, (state, observed, p, z)
