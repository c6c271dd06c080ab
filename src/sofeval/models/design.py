"""The one dummy-coded design builder of the engine (dense or sparse).

:func:`build_design` turns a frame of cells (or rows) into a dense
:class:`DesignMatrix`; :func:`build_sparse_design` builds the same columns as a CSR
matrix (:class:`SparseDesign`) for long person-week designs and for the large cell models
of the analyses, which the whole engine fits, scores and bootstraps without a dense copy.
Categorical columns are treatment-coded as ``"col[level]"`` with one reference level
dropped: the first sorted level, a level given per column, or (``base="largest"``) the
level with the largest total weight (row count by default; Stata's ``fvset base most``),
which keeps every contrast well determined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from sofeval.errors import ContractError, check_option

__all__ = [
    "BASES",
    "Base",
    "DesignMatrix",
    "SparseDesign",
    "build_design",
    "build_sparse_design",
]

Base = Literal["first", "largest"]
BASES: tuple[Base, ...] = ("first", "largest")


@dataclass(frozen=True)
class DesignMatrix:
    """A dense design matrix with column names.

    Attributes
    ----------
    X
        ``float64`` array of shape ``(n_cells, p)``.
    names
        Column names (``"Intercept"``, ``"jobcentre[Vejle]"``, numeric column names).
    """

    X: np.ndarray
    names: tuple[str, ...]


@dataclass(frozen=True)
class SparseDesign:
    """A sparse (CSR) design matrix with column names.

    Attributes
    ----------
    X
        ``float64`` CSR matrix of shape ``(n_rows, p)``.
    names
        Column names, as in :class:`DesignMatrix`.
    """

    X: sparse.csr_matrix
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Block:
    """One categorical column: level codes per row, levels, reference index."""

    col: str
    codes: np.ndarray
    levels: list[object]
    ref: int

    def positions(self) -> np.ndarray:
        """Column offset of each row's level within the block (-1 for the reference)."""
        k = len(self.levels)
        pos = np.arange(k) - (np.arange(k) > self.ref)
        pos[self.ref] = -1
        return np.asarray(pos[self.codes])

    def names(self) -> list[str]:
        return [f"{self.col}[{lv}]" for k, lv in enumerate(self.levels) if k != self.ref]


def _check_columns(frame: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ContractError(
            f"design: columns {missing} are not in the data (available: "
            f"{list(frame.columns)[:20]}); fix the model specification.",
            table="design",
            rule="missing_column",
        )


def _blocks(
    frame: pd.DataFrame,
    categorical: Sequence[str],
    reference: Mapping[str, object],
    base: Base,
    weights: np.ndarray | None,
) -> list[_Block]:
    """Factorise each categorical column and choose its reference level."""
    blocks: list[_Block] = []
    for col in categorical:
        codes, levels = pd.factorize(frame[col], sort=True)
        if (codes < 0).any():
            rows = np.flatnonzero(codes < 0)
            raise ContractError(
                f"design: column {col!r} has {rows.size} missing values (rows "
                f"{rows[:10].tolist()}); fill or drop them before fitting.",
                table="design",
                rule="missing_value",
            )
        lev = list(levels)
        ref = 0
        if col in reference:
            if reference[col] not in lev:
                raise ContractError(
                    f"design: reference level {reference[col]!r} of {col!r} is not among "
                    f"its levels {lev[:10]}.",
                    table="design",
                    rule="reference_level",
                )
            ref = lev.index(reference[col])
        elif base == "largest":
            tot = np.bincount(codes, weights=weights, minlength=len(lev))
            ref = int(np.argmax(tot))
        blocks.append(_Block(col, codes, lev, ref))
    return blocks


def _numeric(frame: pd.DataFrame, col: str) -> np.ndarray:
    vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ContractError(
            f"design: numeric column {col!r} has {rows.size} missing or non-numeric "
            f"values (rows {rows[:10].tolist()}); fix or drop them.",
            table="design",
            rule="missing_value",
        )
    return np.asarray(vals)


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def build_design(
    frame: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    intercept: bool = True,
    reference: Mapping[str, object] | None = None,
    base: Base = "first",
    weights: np.ndarray | None = None,
) -> DesignMatrix:
    """Build a dense dummy-coded design matrix from a frame of cells.

    Parameters
    ----------
    frame
        One row per cell.
    categorical
        Columns turned into treatment-coded dummies named ``"col[level]"``.
    numeric
        Columns used as they are.
    intercept
        Prepend a column of ones named ``"Intercept"``.
    reference
        Optional reference level per categorical column (overrides ``base``).
    base
        Reference level of the other categorical columns: ``"first"`` sorted level or
        the ``"largest"`` level by total ``weights`` (first sorted level on ties).
    weights
        Row weights for ``base="largest"`` (default: row counts).

    Returns
    -------
    DesignMatrix

    Raises
    ------
    ContractError
        If a column is missing, has missing values, or a reference level is absent.
    OptionError
        Unknown ``base``.
    """
    check_option("base", base, BASES)
    _check_columns(frame, [*categorical, *numeric])
    blocks = _blocks(frame, categorical, dict(reference or {}), base, weights)
    n = len(frame)
    p = int(intercept) + sum(len(b.levels) - 1 for b in blocks) + len(numeric)
    X = np.zeros((n, p), dtype=np.float64)
    names: list[str] = []
    j = 0
    if intercept:
        X[:, 0] = 1.0
        names.append("Intercept")
        j = 1
    rows_all = np.arange(n)
    for b in blocks:
        cpos = b.positions()
        sel = cpos >= 0
        X[rows_all[sel], j + cpos[sel]] = 1.0
        names.extend(b.names())
        j += len(b.levels) - 1
    for col in numeric:
        X[:, j] = _numeric(frame, col)
        names.append(col)
        j += 1
    return DesignMatrix(X=X, names=tuple(names))


def build_sparse_design(
    frame: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    intercept: bool = True,
    reference: Mapping[str, object] | None = None,
    base: Base = "first",
    weights: np.ndarray | None = None,
) -> SparseDesign:
    """The columns of :func:`build_design` as a CSR matrix (only non-zeros are stored).

    Parameters
    ----------
    frame, categorical, numeric, intercept, reference, base, weights
        As for :func:`build_design`.

    Returns
    -------
    SparseDesign
    """
    check_option("base", base, BASES)
    _check_columns(frame, [*categorical, *numeric])
    blocks = _blocks(frame, categorical, dict(reference or {}), base, weights)
    n = len(frame)
    r_list: list[np.ndarray] = []
    c_list: list[np.ndarray] = []
    v_list: list[np.ndarray] = []
    names: list[str] = []
    j = 0
    if intercept:
        r_list.append(np.arange(n))
        c_list.append(np.zeros(n, dtype=np.int64))
        v_list.append(np.ones(n))
        names.append("Intercept")
        j = 1
    for b in blocks:
        cpos = b.positions()
        sel = cpos >= 0
        r_list.append(np.flatnonzero(sel))
        c_list.append(j + cpos[sel])
        v_list.append(np.ones(int(sel.sum())))
        names.extend(b.names())
        j += len(b.levels) - 1
    for col in numeric:
        v = _numeric(frame, col)
        nz = np.flatnonzero(v)
        r_list.append(nz)
        c_list.append(np.full(nz.size, j))
        v_list.append(v[nz])
        names.append(col)
        j += 1
    X = sparse.csr_matrix(
        (_concat(v_list, np.float64), (_concat(r_list, np.int64), _concat(c_list, np.int64))),
        shape=(n, j),
    )
    return SparseDesign(X=X, names=tuple(names))
