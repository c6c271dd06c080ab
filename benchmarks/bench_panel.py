"""Benchmark: spells -> collapsed cells at register scale.

Usage::

    python benchmarks/bench_panel.py --n-spells 1500000 --json out.json

Generates spells with ``sofeval.data.synthetic.simulate("report", n, seed=1)`` (falls back to a
vectorised stand-in when the synthetic module is unavailable), then times
:func:`sofeval.panel.cells.cells_from_spells` with the default SOF keys
(``jobcentre, week, month, D, exposure``) and a ``link_month`` variant. Reports wall time
per run, peak resident memory (``ru_maxrss``; tracemalloc is off) and cell counts as JSON.
Target (DESIGN.md §3): 1.5 million spells (~20 million person-weeks) in under 30 s and
under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import pandas as pd

from sofeval.data import SOF_JOBCENTRES, StudyData
from sofeval.panel import StudyDesign, cells_from_spells

SOF_KEYS = ("jobcentre", "week", "month", "D", "exposure")


def _peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def standin_study(n: int, seed: int = 1) -> StudyData:
    """Vectorised stand-in generator (used only when sofeval.data.synthetic is missing)."""
    rng = np.random.default_rng(seed)
    jcs = np.array(list(SOF_JOBCENTRES) + [f"JC{i:02d}" for i in range(74)])
    start = np.datetime64("2016-01-01")
    abs_d = start + rng.integers(0, 4 * 365, n).astype("timedelta64[D]")
    entry = rng.choice([0, 28], n, p=[0.2, 0.8]).astype("timedelta64[D]")
    dur = np.ceil(rng.exponential(90, n)).astype(int) + 28
    end = abs_d + dur.astype("timedelta64[D]")
    data_end = np.datetime64("2020-06-30")
    state = rng.choice(["employment", "unemployment", "other"], n, p=[0.8, 0.1, 0.1])
    ongoing = end > data_end
    spells = pd.DataFrame(
        {
            "spell_id": np.char.add("S", np.arange(n).astype(str)),
            "person_id": np.char.add("P", np.arange(n).astype(str)),
            "jobcentre": jcs[rng.integers(0, len(jcs), n)],
            "absence_start": abs_d.astype("datetime64[ns]"),
            "benefit_start": (abs_d + entry).astype("datetime64[ns]"),
            "benefit_end": pd.Series(end.astype("datetime64[ns]")).where(~ongoing),
            "exit_state": np.where(ongoing, "censored", state),
        }
    )
    programme = pd.DataFrame(
        {
            "jobcentre": list(SOF_JOBCENTRES),
            "start": pd.Timestamp("2017-10-01"),
            "end": [pd.Timestamp("2018-03-31")] + [pd.Timestamp("2018-12-31")] * 19,
        }
    )
    return StudyData(spells=spells, programme=programme)


def make_study(n: int) -> tuple[StudyData, str]:
    """Synthetic study of ``n`` spells and the name of the generator used."""
    try:
        from sofeval.data import simulate
    except ImportError:
        return standin_study(n), "standin"
    syn = simulate("report", n, seed=1, progress=False)
    study = StudyData(
        spells=syn.spells,
        meetings=syn.meetings,
        interventions=syn.interventions,
        programme=syn.programme,
    )
    return study, "sofeval.data.synthetic.simulate('report')"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spells", type=int, default=1_500_000)
    parser.add_argument("--chunk-size", type=int, default=200_000)
    parser.add_argument("--json", dest="json_out", default=None, help="write results here")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    study, generator = make_study(args.n_spells)
    gen_s = time.perf_counter() - t0
    rss_after_gen = _peak_mb()
    design = StudyDesign()
    runs = []
    for label, keys in (("sof", SOF_KEYS), ("sof+link_month", (*SOF_KEYS, "link_month"))):
        t = time.perf_counter()
        cells, audit = cells_from_spells(
            study, design, by=keys, chunk_size=args.chunk_size, progress=False
        )
        wall = time.perf_counter() - t
        runs.append(
            {
                "keys": list(keys),
                "label": label,
                "wall_s": round(wall, 2),
                "person_weeks": cells.person_weeks,
                "n_cells": cells.n_cells,
                "events": int(cells.frame["event"].sum()),
                "peak_rss_mb_so_far": round(_peak_mb(), 1),
            }
        )
        print(json.dumps(runs[-1]), file=sys.stderr)
    result = {
        "n_spells": args.n_spells,
        "chunk_size": args.chunk_size,
        "generator": generator,
        "generate_s": round(gen_s, 2),
        "peak_rss_mb_after_generate": round(rss_after_gen, 1),
        "spells_used": audit.value("spells_used"),
        "runs": runs,
        "peak_rss_mb": round(_peak_mb(), 1),
        "tracemalloc": "off",
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
