"""Monte Carlo of the credibility checks in the ``null`` scenario (issue 16).

In ``null`` nothing happens: no programme effect, no pre-trend, equal (zero) effects in
every subgroup and jobcentre. Every test should reject at its nominal 5 % rate and the
sup-t bands should cover the whole (zero) event-study path in 95 % of the replications.

Per replication: ``simulate("null", n_spells, seed=rep)``; the event study (lead test,
clustered Wald and wild score bootstrap; pointwise and simultaneous coverage of all
event coefficients), the placebo in time, the homogeneity of the effect across
visitation categories (3 levels) and across programme jobcentres.

Usage (niced, at most 2 processes; the machine is shared)::

    .venv/bin/python benchmarks/credibility_montecarlo.py --reps 100 --n-spells 8000 \
        --processes 2 --nice 5 --out benchmarks/results/credibility

Writes ``credibility_draws.csv`` (one row per replication) and ``credibility_summary.csv``
(rejection rate or coverage with its Monte Carlo standard error ``sqrt(p(1-p)/R)``).
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

ALPHA = 0.05


def one_rep(args: tuple[int, int, int]) -> dict[str, float]:
    """All credibility statistics of one replication."""
    rep, n_spells, draws = args
    from sofeval.analyses import (
        event_study,
        jobcentre_homogeneity,
        placebo_time,
        sof_cells,
        subgroup_effects,
    )
    from sofeval.data import simulate, validate_study
    from sofeval.errors import SofevalWarning

    warnings.simplefilter("ignore", SofevalWarning)
    sim = simulate("null", n_spells=n_spells, seed=rep, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    out: dict[str, float] = {"rep": rep}
    t0 = time.perf_counter()
    es = event_study(study, bootstrap_draws=draws, seed=rep, progress=False)
    for row in es.pretrend.itertuples():
        out[f"lead_p_{row.estimand}"] = row.p_value
        out[f"lead_pwild_{row.estimand}"] = row.p_wild
    t = es.table[es.table["event_quarter"] != -1]
    for est, g in t.groupby("estimand"):
        out[f"band_cover_{est}"] = float(((g["band_low"] <= 0) & (g["band_high"] >= 0)).all())
        out[f"pointwise_cover_{est}"] = float(((g["ci_low"] <= 0) & (g["ci_high"] >= 0)).mean())
    pl = placebo_time(study, bootstrap_draws=draws, seed=rep, progress=False)
    for row in pl.table.itertuples():
        out[f"placebo_p_{row.estimand}"] = row.p_value
        out[f"placebo_pwild_{row.estimand}"] = row.p_wild
    sg = subgroup_effects(study, variables=["visitation_category"], bootstrap_draws=draws,
                          seed=rep, progress=False)
    for row in sg.homogeneity.table.itertuples():
        out[f"hom_visitation_p_{row.estimand}"] = row.p_value
        out[f"hom_visitation_pwild_{row.estimand}"] = row.p_wild
    jh = jobcentre_homogeneity(sof_cells(study, progress=False), bootstrap_draws=draws,
                               seed=rep, progress=False)
    for row in jh.table.itertuples():
        out[f"hom_jobcentre_p_{row.estimand}"] = row.p_value
        out[f"hom_jobcentre_pwild_{row.estimand}"] = row.p_wild
    out["seconds"] = time.perf_counter() - t0
    return out


def summarise(draws: pd.DataFrame) -> pd.DataFrame:
    """Rejection rates (p < 5 %) and coverages with Monte Carlo standard errors."""
    rows = []
    for col in draws.columns:
        if col in ("rep", "seconds"):
            continue
        x = draws[col].dropna().to_numpy(float)
        if col.startswith(("band_cover", "pointwise_cover")):
            kind, nominal, rate = "coverage", 1 - ALPHA, float(x.mean())
        else:
            kind, nominal, rate = "rejection", ALPHA, float((x < ALPHA).mean())
        r = len(x)
        rows.append({"statistic": col, "kind": kind, "nominal": nominal, "rate": rate,
                     "mc_se": float(np.sqrt(rate * (1 - rate) / r)) if r else np.nan,
                     "n_reps": r})
    return pd.DataFrame(rows)


def main() -> None:
    """Run the Monte Carlo and write its draws and summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--first-rep", type=int, default=0, help="seed of the first replication")
    ap.add_argument("--n-spells", type=int, default=8_000)
    ap.add_argument("--draws", type=int, default=199, help="wild bootstrap draws")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/credibility")
    ap.add_argument("--nice", type=int, default=5, help="niceness increment (shared machine)")
    a = ap.parse_args()
    os.nice(a.nice)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tasks = [(rep, a.n_spells, a.draws) for rep in range(a.first_rep, a.first_rep + a.reps)]
    rows = []
    with get_context("fork").Pool(min(a.processes, 2)) as pool:
        for i, row in enumerate(pool.imap_unordered(one_rep, tasks, chunksize=1), 1):
            rows.append(row)
            if i % 10 == 0:
                print(f"{i}/{a.reps} replications, {time.perf_counter() - t0:.0f} s", flush=True)
    draws = pd.DataFrame(rows)
    print(f"mean seconds per replication: {draws.pop('seconds').mean():.1f}")
    path = out / "credibility_draws.csv"
    if a.first_rep > 0 and path.exists():  # a further batch: append to the earlier draws
        draws = pd.concat([pd.read_csv(path), draws], ignore_index=True)
    draws = draws.drop_duplicates("rep", keep="last").sort_values("rep")
    draws.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
    summary = summarise(draws)
    summary.to_csv(out / "credibility_summary.csv", index=False, float_format="%.4f",
                   lineterminator="\n")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{len(draws)} replications of {a.n_spells} spells "
          f"(this batch {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
