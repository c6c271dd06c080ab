"""Shared helpers of the engine tests: small studies written as partitioned datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from sofeval.data import SyntheticStudy, simulate

#: Spells of the small synthetic study of the engine tests (fast, every analysis runs).
N_SPELLS = 4_000
SEED = 20171001


def small_study(n_spells: int = N_SPELLS, seed: int = SEED) -> SyntheticStudy:
    """A small synthetic ``report`` study (raw tables, not validated)."""
    return simulate("report", n_spells=n_spells, seed=seed, progress=False)


def write_partitioned(
    tables: dict[str, pd.DataFrame], out: Path, regions: int | None = None
) -> dict[str, Path]:
    """Write spells, meetings and interventions as hive datasets partitioned like the spells.

    Partitioned by ``jobcentre``, or with ``regions`` by a ``region`` column added to the
    spells (jobcentre number in sorted order modulo ``regions``: fewer, larger partitions).
    Child rows go to the partition of their spell.
    """
    spells = tables["spells"]
    by = "jobcentre"
    if regions is not None:
        codes = {j: i % regions for i, j in enumerate(sorted(spells["jobcentre"].unique()))}
        spells = spells.assign(region=spells["jobcentre"].map(codes).map("r{}".format))
        tables = tables | {"spells": spells}
        by = "region"
    key = dict(zip(spells["spell_id"].astype(str), spells[by].astype(str), strict=False))
    paths = {}
    for name in ("spells", "meetings", "interventions"):
        df = tables[name]
        if name != "spells":
            df = df.assign(**{by: df["spell_id"].astype(str).map(key).fillna("none")})
        ds.write_dataset(
            pa.Table.from_pandas(df, preserve_index=False),
            out / name,
            format="parquet",
            partitioning=[by],
            partitioning_flavor="hive",
            existing_data_behavior="overwrite_or_ignore",
        )
        paths[name] = out / name
    for name in ("programme", "monitoring"):
        paths[name] = out / f"{name}.parquet"
        tables[name].to_parquet(paths[name], index=False)
    return paths
