"""Synthetic studies of any size, written chunk by chunk as (hive-partitioned) Parquet datasets.

:func:`write_synthetic_dataset` writes what :func:`sofeval.data.simulate` would generate for
``n_spells`` spells without ever holding more than one chunk in memory.

Design of the chunking
----------------------
* **One data-generating process.** The structural parameters (calendar, jobcentre size
  weights, workplace shares, baseline hazards, jobcentre and month effects, programme
  effects) are drawn once, exactly as :func:`~sofeval.data.simulate` draws them for ``seed``:
  they are taken from ``simulate(scenario, n_spells=1, seed=seed)`` (whose first draws they
  are), and the size weights are the first draw of ``numpy.random.default_rng(seed)``. Every
  chunk generates its spells from this one process.
* **Chunks.** ``ceil(n_spells / chunk_size)`` chunks of equal size (the first
  ``n_spells mod n_chunks`` get one spell more). Chunk ``i`` draws its spells, outcomes,
  persons, meetings and interventions from its own child seed
  ``SeedSequence(seed).spawn(2)[1].spawn(n_chunks)[i]``, a stream disjoint from the
  recurrence stream of :func:`~sofeval.data.simulate` (``spawn(1)[0]``); the same arguments
  give the same files. The data are a draw from the same process as one ``simulate`` call of
  ``n_spells`` spells, not the same draw.
* **Ids.** Spell ids continue across chunks (``S00000001`` ...); person numbers are offset
  by the spells before the chunk, so persons (pairs of spells, within a chunk) never
  span chunks and ids are unique.
* **Files.** Each chunk appends one file per table and partition:
  ``spells/jobcentre=<name>/part-<chunk>-0.parquet`` with ``partition_by=("jobcentre",)``
  (meetings and interventions are partitioned by the jobcentre of their spell, so a
  partition holds its spells' meetings: the layout the dask engine reads without a
  shuffle), or ``spells/part-<chunk>-0.parquet`` without partitioning. ``programme.parquet``
  and ``monitoring.parquet`` (first meetings summed over the chunks) are written at the end.
* **Truth.** The per-chunk truths are aggregated: ``truth_params.csv`` and
  ``truth_shares.csv`` are those of the process (the same in every chunk);
  ``truth_estimands.csv`` holds the spell-weighted means over the treated spells of all
  chunks (each jobcentre's chunk values weighted by its treated spells in the chunk, the
  pooled value by the jobcentres' treated spells), which is the definition of
  :class:`~sofeval.data.Truth` applied to the union of the chunks. The other truths of the
  second wave (destinations, durations, ...) are not aggregated yet.

Scenarios with recurrence (new spells of a person after a return to work) are not supported:
a recurrence chain may run past a chunk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sofeval.data.synthetic import simulate
from sofeval.data.synthetic_dgp import draw_spells, spell_process
from sofeval.data.synthetic_outcomes import SyntheticProcess, draw_outcomes
from sofeval.data.synthetic_tables import (
    interventions_table,
    meetings_tables,
    monitoring_table,
    pair_persons,
    spell_ids,
    spells_table,
)
from sofeval.data.synthetic_truth import estimands_table, params_table, shares_table
from sofeval.errors import OptionError
from sofeval.runtime import show_progress

__all__ = ["CHUNK_SPELLS", "SyntheticDataset", "chunk_sizes", "write_synthetic_dataset"]

#: Spells per chunk of :func:`write_synthetic_dataset` (about 2-3 GB of peak memory).
CHUNK_SPELLS = 1_000_000

#: Columns the dataset may be partitioned by (the jobcentre of the spell).
PARTITION_OPTIONS: tuple[str, ...] = ("jobcentre",)

_TRUTH_KEYS = ["estimand", "jobcentre"]


@dataclass(frozen=True)
class SyntheticDataset:
    """What :func:`write_synthetic_dataset` wrote.

    Attributes
    ----------
    directory
        The output folder.
    n_spells, n_chunks
        Spells written and chunks used.
    tables
        Table name -> path of its dataset (directory) or file.
    estimands
        Aggregated true estimands (``estimand, jobcentre, value``; see the module docstring).
    """

    directory: Path
    n_spells: int
    n_chunks: int
    tables: dict[str, Path]
    estimands: pd.DataFrame


def chunk_sizes(n_spells: int, chunk_size: int) -> list[int]:
    """Sizes of the chunks: ``ceil(n / chunk_size)`` near-equal parts summing to ``n``."""
    if n_spells < 1 or chunk_size < 1:
        raise OptionError(f"n_spells={n_spells} and chunk_size={chunk_size} must be positive.")
    k = math.ceil(n_spells / chunk_size)
    base, extra = divmod(n_spells, k)
    return [base + (1 if i < extra else 0) for i in range(k)]


def _process(scenario: str, seed: int) -> tuple[SyntheticProcess, np.ndarray]:
    """The structural process of ``simulate(scenario, seed=seed)`` and its size weights."""
    base = simulate(scenario, n_spells=1, seed=seed, progress=False)
    if base.process is None:  # pragma: no cover - simulate always sets it
        raise OptionError("simulate returned no process.")
    if base.process.effects.recurrence:
        raise OptionError(
            f"scenario {scenario!r} has recurrent spells, which the chunked writer does not "
            "support yet (a recurrence chain may run past a chunk); use a scenario without "
            "recurrence or sofeval.data.simulate."
        )
    weights = np.random.default_rng(seed).lognormal(0.0, 0.8, len(base.process.cal.names))
    return base.process, weights


@dataclass(frozen=True)
class _Chunk:
    spells: pd.DataFrame
    meetings: pd.DataFrame
    interventions: pd.DataFrame
    monitoring: pd.DataFrame
    estimands: pd.DataFrame
    n_treated: pd.Series  # treated spells per programme jobcentre


def _chunk(
    base: SyntheticProcess, weights: np.ndarray, scenario: str, n: int, offset: int,
    seed: np.random.SeedSequence,
) -> _Chunk:
    """Simulate one chunk from the common process (the steps of ``simulate``)."""
    rng = np.random.default_rng(seed)
    cal, baseline, effects, shares = base.cal, base.baseline, base.effects, base.shares
    draws = draw_spells(rng, n, cal, weights, effects.frailty_sd)
    proc = spell_process(draws, cal, baseline, effects, shares)
    outcomes = draw_outcomes(rng, proc, draws, cal.d_data, scenario, False)
    process = SyntheticProcess(cal, baseline, effects, shares, draws, proc, outcomes)
    person = pair_persons(
        rng,
        draws.cov_idx["sex"],
        draws.abs_d - draws.age * 365.25,
        draws.abs_d,
        outcomes.end_d,
        outcomes.ended,
    )
    ids = spell_ids(offset + 1, n)
    meetings, first = meetings_tables(rng, draws, outcomes.obs_end, shares.share, cal.m0, ids)
    interventions = interventions_table(rng, draws, outcomes, proc.treated, cal.d_data, ids)
    names = np.array(cal.names, dtype=object)
    programme = np.array(cal.programme, dtype=object)
    counts = np.bincount(proc.jc[proc.treated], minlength=len(names))
    return _Chunk(
        spells=spells_table(ids, person + offset, names, draws, outcomes),
        meetings=meetings,
        interventions=interventions,
        monitoring=monitoring_table(first, names),
        estimands=estimands_table(process),
        n_treated=pd.Series(
            counts[pd.Index(names).get_indexer(programme)], index=programme, dtype="int64"
        ),
    )


def _values(estimands: pd.DataFrame, estimand: str, jobcentres: pd.Index) -> np.ndarray:
    """Per-jobcentre values of one estimand, in the order of ``jobcentres``."""
    rows = estimands[estimands["estimand"] == estimand]
    return pd.Series(rows["value"].to_numpy(float), index=rows["jobcentre"].astype(str)).reindex(
        jobcentres
    ).to_numpy(float)


def _aggregate_estimands(chunks: Sequence[tuple[pd.DataFrame, pd.Series]]) -> pd.DataFrame:
    """Spell-weighted truths over the chunks (see the module docstring).

    Rows in the order of :func:`~sofeval.data.synthetic_truth.estimands_table`.
    """
    first = chunks[0][0]
    jcs = chunks[0][1].index
    w = np.stack([c[1].reindex(jcs).to_numpy(float) for c in chunks])  # chunks x jobcentres
    tot = w.sum(axis=0)
    pooled: list[tuple[str, str, float]] = []
    per: list[tuple[str, str, float]] = []
    for est in ("ex_ante", "programme"):
        vals = np.stack([_values(c[0], est, jcs) for c in chunks])
        value = np.where(tot > 0, (w * vals).sum(axis=0) / np.where(tot > 0, tot, 1), vals[0])
        mean = float(tot @ value / tot.sum()) if tot.sum() > 0 else float(value.mean())
        pooled.append((est, "ALL", mean))
        per += [(est, str(j), float(v)) for j, v in zip(jcs, value, strict=True)]
    lam = first[first["estimand"].str.startswith("lambda")]
    rest = list(zip(lam["estimand"].astype(str), lam["jobcentre"].astype(str),
                    lam["value"].astype(float), strict=True))
    return pd.DataFrame(pooled + per + rest, columns=["estimand", "jobcentre", "value"])


def _write_table(
    frame: pd.DataFrame, directory: Path, chunk: int, partition_by: Sequence[str]
) -> None:
    """Append one chunk of a table to its dataset directory."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    table = pa.Table.from_pandas(frame, preserve_index=False)
    ds.write_dataset(
        table,
        directory,
        format="parquet",
        partitioning=list(partition_by) or None,
        partitioning_flavor="hive" if partition_by else None,
        basename_template=f"part-{chunk:05d}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
    )


def _with_spell_jobcentre(child: pd.DataFrame, spells: pd.DataFrame) -> pd.DataFrame:
    """A child table with the jobcentre of its spell (to partition it like the spells)."""
    pos = pd.Index(spells["spell_id"]).get_indexer(child["spell_id"])
    return child.assign(jobcentre=spells["jobcentre"].to_numpy()[pos])


def write_synthetic_dataset(
    directory: str | os.PathLike[str],
    scenario: str = "report",
    n_spells: int = 30_000,
    seed: int = 0,
    *,
    chunk_size: int = CHUNK_SPELLS,
    partition_by: Sequence[str] = ("jobcentre",),
    progress: bool | None = None,
) -> SyntheticDataset:
    """Write a synthetic study chunk by chunk as Parquet datasets (see the module docstring).

    Parameters
    ----------
    directory
        Output folder: ``spells/``, ``meetings/``, ``interventions/`` (datasets),
        ``programme.parquet``, ``monitoring.parquet`` and ``truth_*.csv``. Existing files of
        an earlier run are not removed: write to a new folder.
    scenario
        A scenario of :data:`sofeval.data.SCENARIOS` without recurrence.
    n_spells
        Total number of spells.
    seed
        Root seed (structural parameters as ``simulate(seed=seed)``; chunk seeds spawned).
    chunk_size
        Spells per chunk (memory grows with it; the data do not depend on it beyond the
        chunk seeds).
    partition_by
        ``("jobcentre",)`` (hive partitions by the spell's jobcentre) or ``()`` (one file per
        chunk and table).
    progress
        Show a progress bar over chunks (default: only in an interactive terminal).

    Returns
    -------
    SyntheticDataset
    """
    bad = [c for c in partition_by if c not in PARTITION_OPTIONS]
    if bad:
        raise OptionError(
            f"partition_by={tuple(partition_by)!r}: choose from {', '.join(PARTITION_OPTIONS)} "
            "or nothing."
        )
    sizes = chunk_sizes(int(n_spells), int(chunk_size))
    base, weights = _process(scenario, seed)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(seed).spawn(2)[1].spawn(len(sizes))
    iterator: Iterable[int] = range(len(sizes))
    if show_progress(progress):
        from tqdm.auto import tqdm

        iterator = tqdm(range(len(sizes)), desc="chunks", unit="chunk")
    monitoring: list[pd.DataFrame] = []
    truths: list[tuple[pd.DataFrame, pd.Series]] = []
    offset = 0
    for i in iterator:
        c = _chunk(base, weights, scenario, sizes[i], offset, seeds[i])
        offset += sizes[i]
        tables = {"spells": c.spells, "meetings": c.meetings, "interventions": c.interventions}
        for name, frame in tables.items():
            if partition_by and name != "spells":
                frame = _with_spell_jobcentre(frame, c.spells)
            _write_table(frame, out / name, i, partition_by)
        monitoring.append(c.monitoring)
        truths.append((c.estimands, c.n_treated))
        del c, tables
    mon = (
        pd.concat(monitoring, ignore_index=True)
        .groupby(["jobcentre", "month"], as_index=False, sort=True)[
            ["first_meetings", "workplace_meetings"]
        ]
        .sum()
    )
    paths = {name: out / name for name in ("spells", "meetings", "interventions")}
    paths["programme"] = out / "programme.parquet"
    paths["monitoring"] = out / "monitoring.parquet"
    base.cal.programme_frame().to_parquet(paths["programme"], index=False)
    mon.to_parquet(paths["monitoring"], index=False)
    estimands = _aggregate_estimands(truths)
    truth_files = {
        "truth_estimands.csv": estimands,
        "truth_params.csv": params_table(base),
        "truth_shares.csv": shares_table(base.cal, base.shares),
    }
    for name, frame in truth_files.items():
        frame.to_csv(out / name, float_format="%.10g", lineterminator="\n", index=False)
    return SyntheticDataset(out, int(n_spells), len(sizes), paths, estimands)
