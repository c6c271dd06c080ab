"""Parser of ``r_output.json`` (written by ``make_reference.R``).

R names treatment-coded dummies ``<factor><level>`` and the intercept ``(Intercept)``; the
cells file prefixes week blocks with ``w`` and months with ``m`` (so that R reads them as
factors). sofeval names them ``<factor>[<level>]`` and ``Intercept``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

OUTPUT = Path(__file__).with_name("r_output.json")
_PREFIX = {"week_block": "w", "month": "m", "jobcentre": ""}


def sofeval_name(r_term: str) -> str:
    """Translate an R coefficient name to sofeval's naming."""
    if r_term == "(Intercept)":
        return "Intercept"
    for factor, prefix in _PREFIX.items():
        if r_term.startswith(factor + prefix) and r_term not in ("D_early", "D_late"):
            return f"{factor}[{r_term[len(factor) + len(prefix):]}]"
    return r_term


def load_r_reference(path: Path = OUTPUT) -> tuple[dict[str, pd.DataFrame], dict[tuple[str, str],
                                                                                  np.ndarray]]:
    """Per destination a frame (index: sofeval term; coef, se_cluster) and the suest blocks.

    The second value maps ``(a, b)`` to the 2 x 2 covariance of ``(D_early, D_late)`` of
    destination ``a`` with those of ``b``.
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    models = {}
    for d, m in raw["models"].items():
        models[d] = pd.DataFrame(
            {"coef": m["coef"], "se_cluster": m["se_cluster"]},
            index=[sofeval_name(t) for t in m["term"]],
        )
    cross = {
        tuple(k.split(":")): np.asarray(v, dtype=float).reshape(2, 2)
        for k, v in raw["cross"].items()
    }
    return models, cross  # type: ignore[return-value]
