"""Monte Carlo validation over the synthetic scenarios (``sofeval montecarlo``).

Each replication draws a data set from :func:`sofeval.data.synthetic.simulate` with its own
seed (spawned from one :class:`numpy.random.SeedSequence`, so results do not depend on the
number of worker processes), runs the default pooled model with every inference method, the
per-jobcentre model and (where the scenario has a mediator) the dose-response model, and
records estimates, standard errors and p-values beside the generator's truth.

Summary per estimand (and jobcentre): bias, RMSE, mean SE against the SD of the estimates,
95 % CI coverage of the clustered (pooled) or model-based (per-jobcentre) Wald interval, and
the rejection rate of θ = 0 at 5 % for each inference method (clustered Wald, wild cluster
score bootstrap, randomisation inference). Under the ``null`` scenario the rejection rate is
the size of the test; in the other scenarios it is the power. Coverage of the interval
implied by each test (``coverage_wild``, ``coverage_ri``) is one minus the rejection rate of
the test of θ = truth: the wild bootstrap and randomisation tests are rerun with the true
effects as their null (see ``null`` in :func:`sofeval.analyses.effects.estimate_effects`) whenever
the truth is not zero.

A replication that fails numerically (for example a model that cannot be fitted on a very
small draw) is recorded in :attr:`MonteCarloResult.failed` with its seed and error and left
out of the summary; it does not stop the run.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from sofeval.analyses import dose_response, estimate_effects, jobcentre_effects, sof_cells
from sofeval.data import SCENARIOS, simulate, validate_study
from sofeval.engines import map_on_client
from sofeval.errors import EstimationError, SofevalError, check_option
from sofeval.runtime import show_progress

SCENARIOS_WITH_MEDIATOR = ("dose_response", "report", "null")
ALPHA = 0.05


@dataclass(frozen=True)
class _Task:
    scenario: str
    n_spells: int
    seed: int
    rep: int
    bootstrap_draws: int
    ri_draws: int


def _one_replication(task: _Task) -> pd.DataFrame:
    """One replication; a numerical failure comes back as a one-row ``error`` frame."""
    try:
        with np.errstate(all="ignore"):
            return _replication_rows(task)
    except (SofevalError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return pd.DataFrame(
            {"rep": [task.rep], "seed": [task.seed], "error": [f"{type(exc).__name__}: {exc}"]}
        )


def _replication_rows(task: _Task) -> pd.DataFrame:
    sim = simulate(task.scenario, n_spells=task.n_spells, seed=task.seed, progress=False)
    study = validate_study(
        sim.spells, sim.meetings, sim.interventions, sim.programme, sim.monitoring
    )
    truth = sim.truth.estimands
    tmap = {(r.estimand, r.jobcentre): r.value for r in truth.itertuples()}
    sc = sof_cells(study, extra_keys=("link_month",), progress=False)
    inference = ["cluster"]
    if task.bootstrap_draws:
        inference.append("wild")
    if task.ri_draws:
        inference.append("ri")
    effects = partial(
        estimate_effects,
        sc,
        inference=inference,
        bootstrap_draws=task.bootstrap_draws,
        ri_draws=task.ri_draws,
        seed=task.seed,
        progress=False,
    )
    eff = effects()
    null = (
        float(tmap.get(("ex_ante", "ALL"), 0.0)),  # type: ignore[arg-type]
        float(tmap.get(("programme", "ALL"), 0.0)),  # type: ignore[arg-type]
    )
    at_truth = eff.table[["p_wild", "p_ri"]].to_numpy()
    if any(null) and len(inference) > 1:
        at_truth = effects(null=null).table[["p_wild", "p_ri"]].to_numpy()
    rows = []
    for i, r in enumerate(eff.table.itertuples()):
        rows.append(
            {
                "estimand": r.estimand,
                "jobcentre": "ALL",
                "coef": r.coef,
                "se": r.se,
                "p_cluster": r.p_value,
                "p_wild": r.p_wild,
                "p_ri": r.p_ri,
                "p_wild_truth": at_truth[i, 0],
                "p_ri_truth": at_truth[i, 1],
                "truth": tmap.get((r.estimand, "ALL"), np.nan),
            }
        )
    jce = jobcentre_effects(sc, placebo=True)
    for r in jce.table.itertuples():
        rows.append(
            {
                "estimand": r.estimand,
                "jobcentre": r.jobcentre,
                "coef": r.coef,
                "se": r.se,
                "p_cluster": r.p_value,
                "p_wild": np.nan,
                "p_ri": r.p_placebo,
                "truth": tmap.get((r.estimand, r.jobcentre), np.nan),
            }
        )
    if task.scenario in SCENARIOS_WITH_MEDIATOR:
        dr = dose_response(
            study, progress=False, cells=sc, bootstrap_draws=task.bootstrap_draws, seed=task.seed
        )
        for r, est in zip(dr.table.itertuples(), ("lambda_early", "lambda_late"), strict=False):
            lam = float(tmap.get((est, "ALL"), 0.0))  # type: ignore[arg-type]
            rows.append(
                {
                    "estimand": est,
                    "jobcentre": "ALL",
                    "coef": r.coef,
                    "se": r.se,
                    "p_cluster": r.p_value,
                    "p_wild": r.p_wild,
                    "p_ri": np.nan,
                    # the bootstrap tests λ = 0: its coverage is known only at a zero truth
                    "p_wild_truth": r.p_wild if lam == 0 else np.nan,
                    "truth": lam,
                }
            )
    out = pd.DataFrame(rows)
    out.insert(0, "rep", task.rep)
    return out


@dataclass(frozen=True)
class MonteCarloResult:
    """Replication-level draws and their summary (immutable)."""

    scenario: str
    draws: pd.DataFrame
    table: pd.DataFrame
    failed: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The summary table (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """Text summary (pooled estimands and λ's; per-jobcentre rows averaged)."""
        t = self.table
        pooled = t[t["jobcentre"] == "ALL"]
        per = t[t["jobcentre"] != "ALL"]
        lines = [
            f"Monte Carlo, scenario {self.scenario!r}, {self.draws['rep'].nunique()} reps",
            pooled.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ]
        if len(per):
            avg = per.groupby("estimand")[
                ["bias", "rmse", "coverage", "reject_cluster", "reject_ri"]
            ].mean()
            lines.append(
                "per-jobcentre estimands, averaged over jobcentres (reject_ri = placebo-in-space):"
            )
            lines.append(avg.to_string(float_format=lambda v: f"{v:.4f}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format=lambda v: f"{v:.4f}")

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``mc_draws.csv`` and ``mc_summary.csv`` (deterministic formatting)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "mc_draws.csv", out / "mc_summary.csv", out / "mc_failed.csv"]
        for frame, path in zip((self.draws, self.table, self.failed), paths, strict=True):
            frame.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
        return paths


def summarise(draws: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Bias, RMSE, SE calibration, coverage and rejection rates per estimand and jobcentre."""
    z = stats.norm.ppf(0.5 + level / 2)
    d = draws.copy()
    d["err"] = d["coef"] - d["truth"]
    d["sq_err"] = d["err"] ** 2
    d["covered"] = (np.abs(d["err"]) <= z * d["se"]).astype(float)
    d.loc[~np.isfinite(d["coef"]), "covered"] = np.nan
    for m in ("cluster", "wild", "ri"):
        d[f"reject_{m}"] = (d[f"p_{m}"] < ALPHA).astype(float).where(d[f"p_{m}"].notna())
    for m in ("wild", "ri"):
        col = d.get(f"p_{m}_truth", pd.Series(np.nan, index=d.index))
        d[f"coverage_{m}"] = (col >= ALPHA).astype(float).where(col.notna())
    g = d.groupby(["estimand", "jobcentre"], sort=True)
    out = pd.DataFrame(
        {
            "truth": g["truth"].mean(),
            "mean_estimate": g["coef"].mean(),
            "bias": g["err"].mean(),
            "rmse": np.sqrt(g["sq_err"].mean()),
            "mean_se": g["se"].mean(),
            "sd_estimate": g["coef"].std(ddof=1),
            "coverage": g["covered"].mean(),
            "coverage_wild": g["coverage_wild"].mean(),
            "coverage_ri": g["coverage_ri"].mean(),
            "reject_cluster": g["reject_cluster"].mean(),
            "reject_wild": g["reject_wild"].mean(),
            "reject_ri": g["reject_ri"].mean(),
            "n_reps": g["coef"].count(),
        }
    ).reset_index()
    return out


def monte_carlo(
    scenario: str = "null",
    *,
    reps: int = 50,
    n_spells: int = 20_000,
    seed: int = 0,
    jobs: int | None = None,
    progress: bool | None = None,
    bootstrap_draws: int = 199,
    ri_draws: int = 199,
    client: Any = None,
) -> MonteCarloResult:
    """Run a Monte Carlo over one synthetic scenario.

    Parameters
    ----------
    scenario
        A scenario of :data:`sofeval.data.synthetic.SCENARIOS`.
    reps
        Replications.
    n_spells
        Spells per replication.
    seed
        Root seed; replication seeds are spawned from it.
    jobs
        Worker processes (default: all cores; 1 runs in this process).
    progress
        Progress bar (default: only in an interactive terminal).
    bootstrap_draws, ri_draws
        Draws of the wild bootstrap and of randomisation inference (0 switches off).
    client
        A ``distributed.Client``: the replications run as tasks on its cluster (``jobs`` is
        ignored). Results do not depend on where a replication runs.

    Returns
    -------
    MonteCarloResult
    """
    check_option("scenario", scenario, tuple(SCENARIOS))
    seeds = np.random.SeedSequence(seed).generate_state(reps, dtype=np.uint32)
    tasks = [
        _Task(scenario, n_spells, int(s), r, bootstrap_draws, ri_draws) for r, s in enumerate(seeds)
    ]
    jobs = jobs or os.cpu_count() or 1
    show = show_progress(progress)
    if client is not None:
        results = map_on_client(client, _one_replication, tasks, progress, "reps")
    elif jobs == 1:
        results = [_one_replication(t) for t in tqdm(tasks, disable=not show, desc="reps")]
    else:
        # one BLAS thread per worker: the workers already use every core, and BLAS threads
        # spinning against each other slow small dense solves down a hundredfold
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as ex:
            results = list(
                tqdm(ex.map(_one_replication, tasks), total=reps, disable=not show, desc="reps")
            )
    ok = [r for r in results if "error" not in r.columns]
    bad = [r for r in results if "error" in r.columns]
    failed = (
        pd.concat(bad, ignore_index=True)
        if bad
        else pd.DataFrame({"rep": pd.Series(dtype=int), "seed": pd.Series(dtype=int),
                           "error": pd.Series(dtype=str)})
    )
    if not ok:
        raise EstimationError(
            f"monte_carlo: all {reps} replications failed; first error: {failed['error'].iloc[0]}"
        )
    draws = pd.concat(ok, ignore_index=True)
    return MonteCarloResult(scenario, draws, summarise(draws), failed)
