"""Monte Carlo of the counterfactual durations: bias and CI coverage, pooled and per jobcentre.

Usage (niced, at most two processes; the machine is shared)::

    python benchmarks/mc_durations.py --scenario null --reps 100 --n-spells 10000 \
        --out benchmarks/results/mc_durations

Each replication simulates a study, fits the destination models
(:func:`sofeval.analyses.destination_effects`, no bootstrap) and g-computes weeks on benefit
within 52 weeks with and without the programme
(:func:`sofeval.analyses.counterfactual_durations`). The truth of weeks saved and of the
cumulative-incidence differences is 0 for every scope in the ``null`` scenario; for the
other scenarios it is read from ``sim.truth.durations`` / ``sim.truth.incidence`` when the
generator provides them (otherwise only the estimates are summarised). Writes
``<scenario>_draws.csv`` (per replication: weeks saved of every scope, pooled incidences),
``<scenario>_summary.csv``
(per scope: truth, mean estimate, bias, SD of the estimates, mean SE, coverage of the 95 %
CI) and ``<scenario>_summary.md``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

REPORT_WEEKS = (13, 26, 52)


def one_replication(args: tuple[str, int, int]) -> pd.DataFrame:
    """Estimates and truths of one replication (one row per scope and quantity)."""
    from sofeval.analyses import counterfactual_durations, destination_effects
    from sofeval.data import simulate, validate_study
    from sofeval.errors import SofevalError, SofevalWarning

    scenario, n_spells, seed = args
    sim = simulate(scenario, n_spells=n_spells, seed=seed, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SofevalWarning)  # rare exits not identified
            dest = destination_effects(study, bootstrap_draws=0, parallel=False)
            res = counterfactual_durations(dest)
    except SofevalError as exc:
        return pd.DataFrame({"seed": [seed], "error": [str(exc)[:200]]})
    d = res.durations
    rows = [pd.DataFrame({"seed": seed, "scope": d["scope"], "quantity": "weeks_saved",
                          "estimate": d["weeks_saved"], "se": d["se"], "ci_low": d["ci_low"],
                          "ci_high": d["ci_high"], "n_spells": d["n_spells"]})]
    inc = res.incidence_at(REPORT_WEEKS)
    rows.append(pd.DataFrame({
        "seed": seed, "scope": inc["scope"],
        "quantity": "F_" + inc["destination"] + "_" + inc["week"].astype(str),
        "estimate": inc["difference"], "se": inc["se"], "ci_low": inc["ci_low"],
        "ci_high": inc["ci_high"],
    }))
    out = pd.concat(rows, ignore_index=True)
    out["truth"] = np.nan
    if scenario == "null":
        out["truth"] = 0.0
    else:
        truth = getattr(sim.truth, "durations", None)
        if truth is not None:
            t = truth[truth["tau_weeks"] == 52].set_index("scope")["weeks_saved"]
            m = out["quantity"] == "weeks_saved"
            out.loc[m, "truth"] = out.loc[m, "scope"].map(t).to_numpy()
        tinc = getattr(sim.truth, "incidence", None)
        if tinc is not None:
            key = "F_" + tinc["destination"] + "_" + tinc["week"].astype(str)
            t = pd.Series(tinc["difference"].to_numpy(), index=[tinc["scope"], key])
            m = out["quantity"] != "weeks_saved"
            idx = pd.MultiIndex.from_arrays([out.loc[m, "scope"], out.loc[m, "quantity"]])
            out.loc[m, "truth"] = t.reindex(idx).to_numpy()
    return out


def summarise(draws: pd.DataFrame) -> pd.DataFrame:
    """Per scope and quantity: bias, SD, mean SE and CI coverage."""
    ok = draws.dropna(subset=["estimate"])
    covered = (ok["ci_low"] <= ok["truth"]) & (ok["truth"] <= ok["ci_high"])
    ok = ok.assign(covered=covered.where(ok["truth"].notna()), err=ok["estimate"] - ok["truth"])
    g = ok.groupby(["quantity", "scope"])
    return pd.DataFrame({
        "truth": g["truth"].mean(), "mean_estimate": g["estimate"].mean(),
        "bias": g["err"].mean(), "sd_estimate": g["estimate"].std(), "mean_se": g["se"].mean(),
        "coverage": g["covered"].mean(), "n_reps": g.size(),
    }).reset_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="null")
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--n-spells", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/mc_durations")
    args = ap.parse_args()
    os.nice(10)
    jobs = max(1, min(args.jobs, 2))
    t0 = time.perf_counter()
    tasks = [(args.scenario, args.n_spells, args.seed + r) for r in range(args.reps)]
    with get_context("fork").Pool(jobs) as pool:
        parts = pool.map(one_replication, tasks, chunksize=1)
    secs = time.perf_counter() - t0
    draws = pd.concat(parts, ignore_index=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(draws)
    # the draws file keeps weeks saved of every scope and the pooled incidences (the summary
    # covers every scope and quantity)
    keep = (draws["quantity"] == "weeks_saved") | (draws["scope"] == "all")
    if "error" in draws:
        keep |= draws["error"].notna()
    draws[keep].to_csv(out / f"{args.scenario}_draws.csv", index=False, float_format="%.8g",
                       lineterminator="\n")
    summary.to_csv(out / f"{args.scenario}_summary.csv", index=False, float_format="%.6g",
                   lineterminator="\n")
    failed = int(draws["error"].notna().sum()) if "error" in draws else 0
    ws = summary[summary["quantity"] == "weeks_saved"]
    per_jc = ws[ws["scope"] != "all"]
    lines = [
        f"# Monte Carlo of the counterfactual durations: scenario `{args.scenario}`\n",
        f"{args.reps} replications of {args.n_spells:,} spells (seeds {args.seed}..."
        f"{args.seed + args.reps - 1}), {secs:.0f} s on {jobs} niced processes; "
        f"{failed} replications failed.\n",
        "Command: `python benchmarks/mc_durations.py --scenario "
        f"{args.scenario} --reps {args.reps} --n-spells {args.n_spells} --seed {args.seed}`\n",
        "## Weeks saved within 52 weeks, pooled\n",
        ws[ws["scope"] == "all"].to_markdown(index=False, floatfmt=".4f") + "\n",
        "## Weeks saved per programme jobcentre\n",
        f"Coverage of the 95 % CI: mean {per_jc['coverage'].mean():.3f}, "
        f"min {per_jc['coverage'].min():.3f}, max {per_jc['coverage'].max():.3f} over "
        f"{len(per_jc)} jobcentres; mean SE / SD of the estimates: "
        f"{(per_jc['mean_se'] / per_jc['sd_estimate']).mean():.3f}.\n",
        per_jc.to_markdown(index=False, floatfmt=".4f") + "\n",
        "## Cumulative-incidence differences, pooled\n",
        summary[(summary["scope"] == "all") & (summary["quantity"] != "weeks_saved")]
        .to_markdown(index=False, floatfmt=".4f") + "\n",
    ]
    (out / f"{args.scenario}_summary.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
