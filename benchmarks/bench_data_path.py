"""Cost of the data path at register scale: load + validate, prepare, and the run's cells.

Usage: ``python benchmarks/bench_data_path.py DATA_DIR [--out FILE.json]`` where DATA_DIR holds
the CSV tables of ``sofeval synth --scenario report --n-spells 1500000 --seed 20171001``.
Times, one after the other in this process (wall seconds, and CPU seconds of this process and
of its forked lanes), :func:`sofeval.data.load_study`, :func:`sofeval.panel.prepare_with_frame`,
the cells of the effects models (keyed by ``link_month``) in one and in two lanes, and the
cells of the run's first pass (those and every subgroup variable's,
:func:`sofeval.analyses.sof_cells_with_subgroups`) in one and in two lanes.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sofeval.analyses import (
    CellSpec,
    default_subgroups,
    sof_cells,
    sof_cells_many,
    sof_cells_with_subgroups,
    subgroup_spec,
)
from sofeval.data import load_study
from sofeval.panel import StudyDesign, prepare_with_frame


def cpu_seconds() -> float:
    """User and system CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(name: str, fn: Callable[[], Any], rows: list[dict[str, Any]]) -> Any:
    """Run ``fn`` and record its wall and CPU seconds."""
    w0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    rows.append({"step": name, "wall_s": round(time.perf_counter() - w0, 2),
                 "cpu_s": round(cpu_seconds() - c0, 2)})
    print(f"{name:48s} wall {rows[-1]['wall_s']:6.2f} s  cpu {rows[-1]['cpu_s']:6.2f} s",
          flush=True)
    return out


def main() -> None:
    """Time the data path's stages on the tables of DATA_DIR."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    tables = {t: args.data / f"{t}.csv"
              for t in ("meetings", "interventions", "programme", "monitoring")}
    study = timed("load_study (read + validate)",
                  lambda: load_study(args.data / "spells.csv", **tables), rows)
    design = StudyDesign()
    variables = default_subgroups(study)
    need = frozenset({"jobcentre", "week", "month", "exposure", "D", "link_month"})
    timed("prepare_with_frame", lambda: prepare_with_frame(study, design, [], need), rows)
    for parallel in (False, True):
        lanes = "two lanes" if parallel else "one lane"
        timed(f"cells of the effects models, {lanes}", partial(
            sof_cells, study, design, extra_keys=("link_month",), parallel=parallel), rows)
    specs = [CellSpec(extra_keys=("link_month",)), *(subgroup_spec(v) for v in variables)]
    timed("first pass (+ subgroup cells), one lane",
          lambda: sof_cells_many(study, design, specs, parallel=False), rows)
    timed("first pass (+ subgroup cells), two lanes",
          lambda: sof_cells_with_subgroups(study, design, (), variables), rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
