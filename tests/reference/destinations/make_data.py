"""Generate the study and cells of the destinations R reference (run once, committed).

Usage: ``python tests/reference/destinations/make_data.py`` (writes next to this script).

The study is simulated (``homogeneous`` scenario, 25 jobcentres, spells starting in 2017-2018)
and committed as contract CSVs (``spells.csv``, ``programme.csv``; the tests read them, so a
change of the generator does not change the reference). Flexjob, disability pension and
education exits are recoded to ``other`` so that every destination of the reference has enough
exits. ``cells.csv`` holds the cells of the default SOF model with the regressors and one event
count per destination; ``make_reference.R`` expands them to person-weeks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sofeval.analyses import model_frame, sof_cells
from sofeval.data import simulate, validate_study, write_study

HERE = Path(__file__).parent
DESTINATIONS = ("employment", "unemployment", "job_clarification", "other")


def make_study():
    """The reference study (validated)."""
    sim = simulate("homogeneous", n_spells=6_000, seed=20251130, n_jobcentres=25,
                   start="2017-01-01", end="2018-12-31", data_end="2019-06-30", progress=False)
    spells = sim.spells[["spell_id", "person_id", "jobcentre", "absence_start",
                         "benefit_start", "benefit_end", "exit_state"]].copy()
    rare = spells["exit_state"].isin(["flexjob", "disability_pension", "education"])
    spells.loc[rare, "exit_state"] = "other"
    return validate_study(spells, programme=sim.programme)


def cells_frame(study) -> pd.DataFrame:
    """Regressors and counts of the cells, summed over equal regressors (R expands them)."""
    sc = sof_cells(study, progress=False, parallel=False)
    mf = model_frame(sc, ())
    f = sc.cells.frame
    out = pd.DataFrame(
        {
            "jobcentre": mf["jobcentre"],
            "week_block": "w" + mf["week_block"].astype(str),
            "month": "m" + mf["month"].astype(str),
            "D_early": mf["D_early"].astype(int),
            "D_late": mf["D_late"].astype(int),
            "at_risk": f["at_risk"].to_numpy(),
        }
    )
    for d in DESTINATIONS:
        out[f"event_{d}"] = f["event" if d == "employment" else f"event_{d}"].to_numpy()
    keys = ["jobcentre", "week_block", "month", "D_early", "D_late"]
    return out.groupby(keys, sort=True).sum().reset_index()


if __name__ == "__main__":
    study = make_study()
    write_study(study, HERE)
    cells_frame(study).to_csv(HERE / "cells.csv", index=False, lineterminator="\n")
    print(f"wrote {HERE}")
