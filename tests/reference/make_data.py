"""Generate ``cloglog_cells.csv``, the cell data of the R reference (run once, committed).

Usage: ``python tests/reference/make_data.py`` (writes next to this script).
Cells: 12 clusters x 4 week blocks x 3 months x 2 phases, with a treatment x phase
dummy; about 4,000 person-weeks. Events are drawn from a cloglog model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make_cells(seed: int = 20240917) -> pd.DataFrame:
    """Return the simulated cells (columns cluster, week_block, month, phase, D_early,
    D_late, events, trials)."""
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product(
        [range(12), range(4), range(3), ("early", "late")],
        names=["c", "w", "m", "phase"],
    ).to_frame(index=False)
    treated = (grid["c"] < 6) & (grid["m"] >= 1)
    grid["D_early"] = (treated & (grid["phase"] == "early")).astype(int)
    grid["D_late"] = (treated & (grid["phase"] == "late")).astype(int)
    fe_c = rng.normal(0.0, 0.3, 12)
    eta = (
        -2.0
        - 0.3 * grid["w"].to_numpy()
        + fe_c[grid["c"]]
        + 0.1 * grid["m"].to_numpy()
        + 0.25 * grid["D_early"].to_numpy()
        - 0.2 * grid["D_late"].to_numpy()
    )
    trials = rng.poisson(13, len(grid)) + 1
    events = rng.binomial(trials, 1.0 - np.exp(-np.exp(eta)))
    return pd.DataFrame(
        {
            "cluster": [f"C{c:02d}" for c in grid["c"]],
            "week_block": [f"w{w}" for w in grid["w"]],
            "month": [f"m{m}" for m in grid["m"]],
            "phase": grid["phase"],
            "D_early": grid["D_early"],
            "D_late": grid["D_late"],
            "events": events,
            "trials": trials,
        }
    )


if __name__ == "__main__":
    out = Path(__file__).with_name("cloglog_cells.csv")
    make_cells().to_csv(out, index=False)
    print(f"wrote {out}")
