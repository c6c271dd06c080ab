"""Cost of the second-wave analyses at register scale, each on the cells of one collapse.

Usage: ``python benchmarks/bench_second_wave.py DATA_DIR [--out FILE.json]`` where DATA_DIR holds
the CSV tables of ``sofeval synth --scenario report --n-spells 1500000 --seed 20171001``.
Times every analysis of ``sofeval run`` one after the other in this process (wall and CPU
seconds) with the settings of the default run, so the cost of each is visible; the run itself
spreads them over two lanes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from typing import Any

import sofeval as sf
from sofeval.analyses import (
    coarsen_cells,
    counterfactual_durations,
    default_subgroups,
    destination_effects,
    event_study,
    jobcentre_homogeneity,
    placebo_time,
    recurrence_effects,
    subgroup_effects,
)
from sofeval.config import RunConfig
from sofeval.panel import StudyDesign


def timed(name: str, fn: Callable[[], Any], rows: list[dict[str, Any]]) -> Any:
    """Run ``fn`` and record its wall and CPU seconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    rows.append({"step": name, "wall_s": round(time.perf_counter() - w0, 2),
                 "cpu_s": round(time.process_time() - c0, 2)})
    print(rows[-1], flush=True)
    return out


def main() -> None:
    """Time the steps."""
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--out", default="benchmarks/results/bench_second_wave.json")
    args = p.parse_args()
    cfg = RunConfig()
    kw: dict[str, Any] = {"bootstrap_draws": cfg.bootstrap_draws, "seed": cfg.seed}
    rows: list[dict[str, Any]] = []
    study = timed("load and validate", lambda: sf.read_study_dir(args.data), rows)
    design = StudyDesign()
    sc_dose = timed("cells (one collapse)", lambda: sf.sof_cells(
        study, design, extra_keys=("link_month",), parallel=False), rows)
    sc = coarsen_cells(sc_dose, ("link_month",))
    eff = timed("pooled effects (first wave)", lambda: sf.estimate_effects(sc, **kw,
                ri_draws=cfg.ri_draws), rows)
    dest = timed("destination effects", lambda: destination_effects(
        sc, effects=eff, parallel=False, **kw), rows)
    timed("counterfactual durations", lambda: counterfactual_durations(dest, study), rows)
    timed("recurrence", lambda: recurrence_effects(study, design, cells=sc), rows)
    timed("event study", lambda: event_study(sc_dose, **kw), rows)
    timed("placebo in time", lambda: placebo_time(study, design, **kw), rows)
    timed("jobcentre homogeneity", lambda: jobcentre_homogeneity(sc, **kw), rows)
    variables = default_subgroups(study)
    for v in variables:
        timed(f"subgroups: {v}", lambda v=v: subgroup_effects(study, design, [v], **kw), rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    res = {"n_spells": len(study.spells), "steps": rows, "peak_gb": round(peak, 2),
           "load_average": os.getloadavg()}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
