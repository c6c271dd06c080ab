"""The dask engine gives the in-process engine's cells and every output, byte for byte.

One two-process LocalCluster serves the module. The data are a small synthetic study: the
in-process run reads its CSV files; the dask run reads a hive-partitioned Parquet copy of the
same raw tables (partitioned by jobcentre, as ``sofeval synth --format parquet`` writes them)
through the command line, or takes the in-memory study cut into partitions (at random in the
hypothesis test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import small_study, write_partitioned
from sofeval.analyses import hazard_frame, km_frame, meeting_shares, sof_cells, success_criteria
from sofeval.cli import main
from sofeval.data import read_study_dir, read_table
from sofeval.engines import reduce_study
from sofeval.montecarlo import monte_carlo
from sofeval.panel import StudyDesign

#: Inference draws of the output comparisons (the equality does not depend on them).
DRAWS = "49"
TABLES = ("spells", "meetings", "interventions", "programme", "monitoring")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small study as CSV files and as a partitioned dataset of the same raw tables."""
    root = tmp_path_factory.mktemp("engine_data")
    small_study().write_csv(root / "csv")
    raw = {t: read_table(root / "csv" / f"{t}.csv", t) for t in TABLES}
    parts = write_partitioned(raw, root / "parts")
    return {"csv": root / "csv", **{f"part_{k}": v for k, v in parts.items()}}


@pytest.fixture(scope="module")
def study(data: dict[str, Path]):
    return read_study_dir(data["csv"])


@pytest.fixture(scope="module")
def local_cells(study):
    return sof_cells(study, StudyDesign(), (), extra_keys=("link_month",), progress=False)


def test_cells_and_summaries_equal_in_process(client, study, local_cells) -> None:
    red = reduce_study(study, StudyDesign(), client=client, partitions=5)
    assert red.n_partitions == 5
    pd.testing.assert_frame_equal(red.cells.cells.frame, local_cells.cells.frame)
    pd.testing.assert_frame_equal(red.cells.audit, local_cells.audit)
    pd.testing.assert_frame_equal(red.cells.windows, local_cells.windows)
    pd.testing.assert_series_equal(red.cells.jc_window, local_cells.jc_window)
    assert red.cells.programme == local_cells.programme
    # what the per-spell consumers read: Kaplan-Meier counts and weekly hazards
    pd.testing.assert_frame_equal(km_frame(red.cells), km_frame(local_cells))
    pd.testing.assert_frame_equal(hazard_frame(red.cells), hazard_frame(local_cells))
    pd.testing.assert_frame_equal(red.meeting_shares(), meeting_shares(study))
    mon, ref = red.success_criteria(), success_criteria(study)
    for name in ("by_month", "by_half_year", "overall", "measures", "did"):
        pd.testing.assert_frame_equal(getattr(mon, name), getattr(ref, name))
    assert red.n_spells == len(study.spells)
    assert red.study is None  # not gathered unless asked


def test_every_output_byte_for_byte(client, data, tmp_path) -> None:
    """``sofeval run`` on the CSV files and ``--engine dask`` on the partitioned copy."""
    draws = ["--bootstrap-draws", DRAWS, "--ri-draws", DRAWS]
    files = [f"--{t}={data['csv'] / f'{t}.csv'}" for t in TABLES]
    assert main(["run", *files, *draws, "--out", str(tmp_path / "local")]) == 0
    parts = [f"--{t}={data[f'part_{t}']}" for t in TABLES]
    address = client.scheduler.address
    dask_args = ["run", "--engine", "dask", "--scheduler", address, *parts, *draws]
    assert main([*dask_args, "--out", str(tmp_path / "dask")]) == 0
    local = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert local == sorted(p.name for p in (tmp_path / "dask").iterdir())
    assert "cox_crosscheck.csv" in local and "report.html" in local
    for name in local:
        a = (tmp_path / "local" / name).read_bytes()
        b = (tmp_path / "dask" / name).read_bytes()
        assert a == b, name


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(n_parts=st.integers(1, 7), seed=st.integers(0, 2**31 - 1))
def test_random_partitionings_give_the_same_cells(client, study, local_cells, n_parts, seed):
    part = np.random.default_rng(seed).integers(0, n_parts, len(study.spells))
    red = reduce_study(study, StudyDesign(), client=client, partitions=part)
    pd.testing.assert_frame_equal(red.cells.cells.frame, local_cells.cells.frame)
    pd.testing.assert_frame_equal(red.cells.audit, local_cells.audit)
    pd.testing.assert_frame_equal(km_frame(red.cells), km_frame(local_cells))
    pd.testing.assert_frame_equal(red.meeting_shares(), meeting_shares(study))


def test_covariates_binned_as_the_whole_study(client, study) -> None:
    """Categorical, age bands, few-valued and quintile-binned numeric covariates."""
    spells = study.spells.assign(
        score=np.random.default_rng(3).normal(size=len(study.spells)).round(2),
        grade=np.arange(len(study.spells)) % 4,
    )
    s = type(study)(spells, study.meetings, study.interventions, study.programme,
                    study.monitoring)
    covs = ("sex", "age", "score", "grade", "visitation_category")
    ref = sof_cells(s, StudyDesign(), covs, extra_keys=("link_month",), progress=False)
    red = reduce_study(s, StudyDesign(), covs, client=client, partitions=3)
    pd.testing.assert_frame_equal(red.cells.cells.frame, ref.cells.frame)


def test_monte_carlo_on_the_client_equals_in_process(client) -> None:
    kw = dict(reps=2, n_spells=1_500, seed=5, bootstrap_draws=9, ri_draws=9)
    here = monte_carlo("null", jobs=1, **kw)
    there = monte_carlo("null", client=client, **kw)
    pd.testing.assert_frame_equal(here.draws, there.draws)
    pd.testing.assert_frame_equal(here.table, there.table)
