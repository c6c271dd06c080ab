"""Size of the few-cluster tests under the null (issue 14, item 4).

Simulates ``null`` data sets (no programme effect, no mediator effect) and computes, per
data set, only the tests in question:

* the pooled effects (``ex_ante``, ``programme``; 94 jobcentres, 20 treated): clustered
  Wald, the Kline-Santos wild score bootstrap (``score``) and the restricted wild cluster
  bootstrap-t (``wald``), the two bootstraps from one restricted fit and the same weights;
* the dose-response slopes (weeks 1-7, weeks 8+; the 20 programme jobcentres as clusters):
  clustered Wald and both bootstraps (through :func:`sofeval.analyses.dose_response`).

Usage (niced, two worker processes at most on a shared machine)::

    nice -n 10 .venv/bin/python benchmarks/size_mc.py --reps 1000 --n-spells 8000 \
        --draws 399 --jobs 2 --out benchmarks/results/size_mc.csv

Writes the per-replication p-values (``size_mc_reps.csv``) and the rejection rates at 5 %
with Monte Carlo standard errors ``sqrt(p (1 - p) / R)`` (``--out``). ``--minutes`` stops
submitting replications after that wall time, so R is what fitted in the time; ``--start``
continues the same seed sequence in a later run, and ``--merge`` summarises the per-replication
files of several runs into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ALPHA = 0.05


def one_replication(args: tuple[int, int, int, int]) -> list[dict[str, object]]:
    """p-values of every test on one null data set."""
    rep, seed, n_spells, draws = args
    from sofeval.analyses import (
        coarsen_cells,
        design_matrix,
        dose_response,
        fit_cells,
        model_frame,
        sof_cells,
    )
    from sofeval.data import simulate, validate_study
    from sofeval.errors import NotIdentifiedWarning, SofevalError
    from sofeval.models import (
        draw_weights,
        restricted_scores,
        vcov,
        wald_components,
        wald_table,
        wild_t,
        wild_wald_t,
    )

    rows: list[dict[str, object]] = []
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", NotIdentifiedWarning)
            sim = simulate("null", n_spells=n_spells, seed=seed, progress=False)
            study = validate_study(
                sim.spells, sim.meetings, sim.interventions, sim.programme, sim.monitoring
            )
            sc = sof_cells(study, extra_keys=("link_month",), progress=False, parallel=False)
            # pooled effects: one fit, one restricted fit per estimand, both statistics
            pc = coarsen_cells(sc, ["link_month"])
            mf = model_frame(pc, ())
            events = pc.cells.frame["event"].to_numpy(float)
            trials = pc.cells.frame["at_risk"].to_numpy(float)
            dm = design_matrix(mf, ["week_block", "jobcentre", "month"], ["D_early", "D_late"],
                               trials)
            fit = fit_cells(dm, events, trials, "cloglog", ("D_early", "D_late"))
            clusters, _ = pd.factorize(mf["jobcentre"], sort=True)
            se = np.sqrt(np.diag(vcov(fit, dm.X, method="cluster", clusters=clusters)))
            names = list(dm.names)
            for i, (est, col) in enumerate((("ex_ante", "D_early"), ("programme", "D_late"))):
                k = names.index(col)
                p_cl = float(wald_table([fit.params[k]], [se[k]])["p_value"].iloc[0])
                rs = restricted_scores(dm.X, events, trials, "cloglog", clusters, k,
                                       start=np.asarray(fit.params))
                q_s = rs.scores @ rs.info_row()
                q_w, c_w = wald_components(rs)
                rng = np.random.default_rng([seed, i])
                v = draw_weights(rng, "rademacher", (draws, q_s.size))
                one = np.ones((1, q_s.size))
                t_s, t_w = wild_t(q_s, one)[0], wild_wald_t(q_w, c_w, one)[0]
                p_s = float(np.mean(np.abs(wild_t(q_s, v)) >= abs(t_s) * (1 - 1e-12)))
                p_w = float(np.mean(np.abs(wild_wald_t(q_w, c_w, v)) >= abs(t_w) * (1 - 1e-12)))
                rows.append({"rep": rep, "seed": seed, "test": est, "p_cluster": p_cl,
                             "p_score": p_s, "p_wald": p_w, "coef": fit.params[k],
                             "se": se[k], "n_clusters": int(clusters.max()) + 1})
            # dose-response: both bootstraps through the analysis itself
            tabs = {
                stat: dose_response(study, cells=sc, bootstrap_draws=draws, seed=seed,
                                    bootstrap_statistic=stat, progress=False).table
                for stat in ("score", "wald")
            }
            for j, label in enumerate(("lambda_early", "lambda_late")):
                r = tabs["score"].iloc[j]
                rows.append({"rep": rep, "seed": seed, "test": label,
                             "p_cluster": float(r["p_value"]), "p_score": float(r["p_wild"]),
                             "p_wald": float(tabs["wald"].iloc[j]["p_wild"]),
                             "coef": float(r["coef"]), "se": float(r["se"]),
                             "n_clusters": 20})
    except (SofevalError, np.linalg.LinAlgError) as exc:
        rows = [{"rep": rep, "seed": seed, "test": "error", "error": f"{exc}"[:200]}]
    return rows


def summarise(reps: pd.DataFrame) -> pd.DataFrame:
    """Rejection rate at 5 % and its Monte Carlo standard error per test and method."""
    ok = reps[reps["test"] != "error"]
    out = []
    for test, g in ok.groupby("test", sort=False):
        for method in ("cluster", "score", "wald"):
            p = g[f"p_{method}"].to_numpy(float)
            p = p[np.isfinite(p)]
            rate = float(np.mean(p < ALPHA)) if p.size else np.nan
            out.append({
                "test": test,
                "method": {"cluster": "clustered Wald (CR1, normal)",
                           "score": "wild score bootstrap (Kline-Santos)",
                           "wald": "restricted wild cluster bootstrap-t (WCR)"}[method],
                "option": method,
                "reject_5pct": rate,
                "mc_se": float(np.sqrt(rate * (1 - rate) / p.size)) if p.size else np.nan,
                "R": int(p.size),
                "sd_coef": float(g["coef"].std()),
                "mean_se": float(g["se"].mean()),
            })
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--n-spells", type=int, default=8000)
    ap.add_argument("--draws", type=int, default=399)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=float("inf"))
    ap.add_argument("--start", type=int, default=0, help="first replication of this run")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/size_mc.csv"))
    ap.add_argument("--merge", type=Path, nargs="*", default=None,
                    help="per-replication files to summarise (no simulation)")
    a = ap.parse_args()
    if a.merge:
        reps = pd.concat([pd.read_csv(f) for f in a.merge], ignore_index=True)
        reps = reps.drop_duplicates(["rep", "test"]).sort_values(["rep", "test"])
        reps.to_csv(a.out.with_name(a.out.stem + "_reps.csv"), index=False, float_format="%.6g")
        summary = summarise(reps)
        summary.to_csv(a.out, index=False, float_format="%.4f")
        print(f"{reps['rep'].nunique()} replications")
        print(summary.to_string(index=False))
        return
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    seeds = np.random.SeedSequence(a.seed).generate_state(a.reps, dtype=np.uint32)
    tasks = [(i, int(s), a.n_spells, a.draws) for i, s in enumerate(seeds)][a.start :]
    t0 = time.time()
    rows: list[dict[str, object]] = []
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        # submit in small waves so that --minutes can stop the run between waves
        for start in range(0, len(tasks), 4 * a.jobs):
            if (time.time() - t0) / 60 > a.minutes:
                break
            for res in ex.map(one_replication, tasks[start : start + 4 * a.jobs]):
                rows.extend(res)
    reps = pd.DataFrame(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    reps.to_csv(a.out.with_name(a.out.stem + "_reps.csv"), index=False, float_format="%.6g")
    summary = summarise(reps)
    summary.to_csv(a.out, index=False, float_format="%.4f")
    print(f"{reps['rep'].nunique()} replications in {time.time() - t0:.0f} s")
    print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
