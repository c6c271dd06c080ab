"""Parser of ``r_output.json`` (written by ``make_reference.R``).

R names treatment-coded dummies ``<factor><level>`` and the intercept
``(Intercept)``; sofeval names them ``<factor>[<level>]`` and ``Intercept``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

FACTORS = ("week_block", "cluster", "month", "phase")
OUTPUT = Path(__file__).with_name("r_output.json")


def sofeval_name(r_term: str) -> str:
    """Translate an R coefficient name to sofeval's naming."""
    if r_term == "(Intercept)":
        return "Intercept"
    for f in FACTORS:
        if r_term.startswith(f) and r_term != f:
            return f"{f}[{r_term[len(f) :]}]"
    return r_term


def load_r_reference(path: Path = OUTPUT) -> dict[str, pd.DataFrame]:
    """Return one frame per link (index: sofeval term; coef, se_model, se_cluster_hc1)."""
    raw = json.loads(path.read_text())
    out = {}
    for link, m in raw["models"].items():
        frame = pd.DataFrame(
            {k: m[k] for k in ("coef", "se_model", "se_cluster_hc1")},
            index=[sofeval_name(t) for t in m["term"]],
        )
        frame.attrs["loglik"] = m["loglik"][0]
        frame.attrs["n_obs"] = raw["n_obs"][0]
        out[link] = frame
    return out
