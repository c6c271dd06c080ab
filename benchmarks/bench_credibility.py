"""Cost of the credibility analyses on ``simulate("report", n_spells=300_000)``.

Usage::

    .venv/bin/python benchmarks/bench_credibility.py --n-spells 300000 \
        --out benchmarks/results/credibility/bench_credibility.json

Times each public entry point once with the pipeline's default draws (999 bootstrap
draws, 10,000 band draws) and records the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from pathlib import Path


def main() -> None:
    """Time event_study, placebo_time, subgroup_effects and homogeneity."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-spells", type=int, default=300_000)
    ap.add_argument("--draws", type=int, default=999)
    ap.add_argument("--out", default="benchmarks/results/credibility/bench_credibility.json")
    a = ap.parse_args()
    from sofeval.analyses import (
        event_study,
        homogeneity,
        placebo_time,
        sof_cells,
        subgroup_effects,
    )
    from sofeval.data import simulate, validate_study
    from sofeval.errors import SofevalWarning

    warnings.simplefilter("ignore", SofevalWarning)
    sim = simulate("report", n_spells=a.n_spells, seed=1, progress=False)
    study = validate_study(sim.spells, sim.meetings, sim.interventions, sim.programme,
                           sim.monitoring)
    seconds: dict[str, float] = {}

    def timed(name, fn):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        out = fn()
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {seconds[name]} s", flush=True)
        return out

    timed("event_study", lambda: event_study(study, bootstrap_draws=a.draws, progress=False))
    timed("placebo_time", lambda: placebo_time(study, bootstrap_draws=a.draws, progress=False))
    sg = timed("subgroup_effects (6 variables)",
               lambda: subgroup_effects(study, bootstrap_draws=a.draws, progress=False))
    sc = timed("sof_cells (default keys)", lambda: sof_cells(study, progress=False))
    timed("homogeneity (jobcentre rows)",
          lambda: homogeneity(sc, sg, bootstrap_draws=a.draws, progress=False))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    result = {"n_spells": a.n_spells, "bootstrap_draws": a.draws, "seconds": seconds,
              "peak_rss_gb": round(peak, 2)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
