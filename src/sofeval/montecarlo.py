"""Monte Carlo validation over the synthetic scenarios (``sofeval validate``).

Each replication draws a data set from :func:`sofeval.synthetic.simulate` with its own
seed (spawned from one :class:`numpy.random.SeedSequence`, so results do not depend on the
number of worker processes), runs the default pooled model with every inference method, the
per-jobcentre model and (where the scenario has a mediator) the dose-response model, and
records estimates, standard errors and p-values beside the generator's truth.

Summary per estimand (and jobcentre): bias, RMSE, mean SE against the SD of the estimates,
95 % CI coverage of the clustered (pooled) or model-based (per-jobcentre) Wald interval, and
the rejection rate of θ = 0 at 5 % for each inference method (clustered Wald, wild cluster
score bootstrap, randomisation inference). Under the ``null`` scenario the rejection rate is
the size of the test and 1 − rejection is the coverage of each method's implied interval at
the truth; in the other scenarios it is the power. The bootstrap and randomisation tests
are tests of θ = 0 (the sharp null for randomisation inference), so their coverage of a
non-zero truth is not defined here.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sofeval.errors import check_option

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
    from sofeval.dose_response import dose_response
    from sofeval.effects import estimate_effects, jobcentre_effects, sof_cells
    from sofeval.synthetic import simulate
    from sofeval.validation import validate_study

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
    eff = estimate_effects(
        sc,
        inference=inference,
        bootstrap_draws=task.bootstrap_draws,
        ri_draws=task.ri_draws,
        seed=task.seed,
        progress=False,
    )
    rows = []
    for r in eff.table.itertuples():
        rows.append(
            {
                "estimand": r.estimand,
                "jobcentre": "ALL",
                "coef": r.coef,
                "se": r.se,
                "p_cluster": r.p_value,
                "p_wild": r.p_wild,
                "p_ri": r.p_ri,
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
        dr = dose_response(study, progress=False)
        for r, est in zip(dr.table.itertuples(), ("lambda_early", "lambda_late"), strict=False):
            rows.append(
                {
                    "estimand": est,
                    "jobcentre": "ALL",
                    "coef": r.coef,
                    "se": r.se,
                    "p_cluster": r.p_value,
                    "p_wild": np.nan,
                    "p_ri": np.nan,
                    "truth": tmap.get((est, "ALL"), 0.0),
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
        paths = [out / "mc_draws.csv", out / "mc_summary.csv"]
        self.draws.to_csv(paths[0], index=False, float_format="%.10g", lineterminator="\n")
        self.table.to_csv(paths[1], index=False, float_format="%.10g", lineterminator="\n")
        return paths


def summarise(draws: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Bias, RMSE, SE calibration, coverage and rejection rates per estimand and jobcentre."""
    z = stats.norm.ppf(0.5 + level / 2)
    d = draws.copy()
    d["err"] = d["coef"] - d["truth"]
    d["covered"] = (np.abs(d["err"]) <= z * d["se"]).astype(float)
    d.loc[~np.isfinite(d["coef"]), "covered"] = np.nan
    for m in ("cluster", "wild", "ri"):
        d[f"reject_{m}"] = (d[f"p_{m}"] < ALPHA).astype(float).where(d[f"p_{m}"].notna())
    g = d.groupby(["estimand", "jobcentre"], sort=True)
    out = pd.DataFrame(
        {
            "truth": g["truth"].mean(),
            "mean_estimate": g["coef"].mean(),
            "bias": g["err"].mean(),
            "rmse": g["err"].apply(lambda e: float(np.sqrt(np.nanmean(e**2)))),
            "mean_se": g["se"].mean(),
            "sd_estimate": g["coef"].std(ddof=1),
            "coverage": g["covered"].mean(),
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
) -> MonteCarloResult:
    """Run a Monte Carlo over one synthetic scenario.

    Parameters
    ----------
    scenario
        A scenario of :data:`sofeval.synthetic.SCENARIOS`.
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

    Returns
    -------
    MonteCarloResult
    """
    from tqdm.auto import tqdm

    from sofeval.synthetic import SCENARIOS

    check_option("scenario", scenario, tuple(SCENARIOS))
    seeds = np.random.SeedSequence(seed).generate_state(reps, dtype=np.uint32)
    tasks = [
        _Task(scenario, n_spells, int(s), r, bootstrap_draws, ri_draws) for r, s in enumerate(seeds)
    ]
    jobs = jobs or os.cpu_count() or 1
    show = progress if progress is not None else False
    if jobs == 1:
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
    draws = pd.concat(results, ignore_index=True)
    return MonteCarloResult(scenario, draws, summarise(draws))
