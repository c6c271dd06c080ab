"""Covariate bins that are the same in every partition.

:func:`sofeval.panel.bin_covariates` bins a covariate over the spells used: strings and
small-valued numbers become one category per value seen, ``age`` fixed bands, and a numeric
covariate with more than :data:`sofeval.panel.MAX_DISTINCT_NUMERIC` distinct values quintiles.
A partition sees only its spells, so the engine fixes the bins before the partitions are
collapsed (:func:`prebin`) and the categories after (:func:`final_categories`):

* ``age`` (numeric) and categorical columns are left to ``bin_covariates`` (their categories
  do not depend on the data);
* other numeric columns are made categorical per value (``"values"``) on the first attempt,
  and the partitions count the values of their used spells; when more than
  ``MAX_DISTINCT_NUMERIC`` distinct values turn up over all partitions, the quintile edges
  are computed on the client from the summed counts (``pandas.qcut`` of the values repeated
  by their counts, the same multiset ``bin_covariates`` sees) and the partitions are collapsed
  again with those bins (``"bins"``);
* the categories of the cells are then those of the whole study: the sorted union of the
  values seen, the fixed labels, or the quintile labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sofeval.panel import AGE_LABELS, MAX_DISTINCT_NUMERIC

__all__ = [
    "CovariateBins",
    "covariate_kind",
    "final_categories",
    "needs_quintiles",
    "prebin",
    "quintile_bins",
]


@dataclass(frozen=True)
class CovariateBins:
    """How the partitions bin one covariate.

    Attributes
    ----------
    mode
        ``"native"`` (leave it to ``bin_covariates``), ``"values"`` (one category per
        value) or ``"bins"`` (the quintile ``edges`` with their ``labels``).
    edges, labels
        Bin edges and labels for ``"bins"``.
    """

    mode: str = "native"
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()


def covariate_kind(name: str, values: pd.Series) -> str:
    """``categorical``, ``age``, ``numeric`` (binned by value or quintile) or ``other``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return "categorical"
    is_num = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if is_num:
        return "age" if name == "age" else "numeric"
    return "other"


def prebin(spells: pd.DataFrame, bins: Mapping[str, CovariateBins]) -> pd.DataFrame:
    """The spells with the ``values``/``bins`` covariates made categorical (a copy if changed)."""
    changes: dict[str, Any] = {}
    for name, spec in bins.items():
        if name not in spells.columns or covariate_kind(name, spells[name]) != "numeric":
            continue
        if spec.mode == "values":
            changes[name] = pd.Categorical(spells[name])
        elif spec.mode == "bins":
            edges: Any = np.asarray(spec.edges, dtype=np.float64)
            cut: Any = pd.cut(
                spells[name], edges, include_lowest=True, duplicates="drop", labels=False
            )
            codes = np.asarray(pd.Series(cut).fillna(-1), dtype=np.int64)
            changes[name] = pd.Categorical.from_codes(codes, categories=pd.Index(spec.labels))
    return spells.assign(**changes) if changes else spells


def quintile_bins(values: np.ndarray, counts: np.ndarray) -> CovariateBins:
    """Quintile bins of the values repeated by their counts, as ``bin_covariates`` makes them."""
    full = pd.Series(np.repeat(values, counts.astype(np.int64)))
    cut, edges = pd.qcut(full, 5, duplicates="drop", retbins=True)
    labels = tuple(str(iv) for iv in cut.cat.categories)
    return CovariateBins("bins", tuple(float(e) for e in edges), labels)


def final_categories(kind: str, observed: pd.Index, fixed: Sequence[object] | None) -> pd.Index:
    """Categories of a covariate in the whole study's cells.

    Parameters
    ----------
    kind
        :func:`covariate_kind` of the column.
    observed
        The values present in the cells, sorted (the categories ``bin_covariates`` gives a
        column binned per value).
    fixed
        The categories of a categorical column or the labels of the quintile bins.
    """
    if fixed is not None:
        return pd.Index(list(fixed))
    if kind == "age":
        return pd.Index(list(AGE_LABELS))
    return observed


def needs_quintiles(kind: str, n_values: int) -> bool:
    """Whether a covariate binned per value must be binned into quintiles instead."""
    return kind == "numeric" and n_values > MAX_DISTINCT_NUMERIC
