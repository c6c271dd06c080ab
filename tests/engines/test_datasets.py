"""Partitioned datasets: discovery of pieces and hive keys, reading, fsspec URLs."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest

from helpers import small_study, write_partitioned
from sofeval.data import (
    is_dataset_location,
    open_study_dataset,
    open_table_dataset,
    validate_study,
)
from sofeval.errors import ContractError

TABLES = ("spells", "meetings", "interventions", "programme", "monitoring")


@pytest.fixture(scope="module")
def sim():
    return small_study(800, seed=21)


@pytest.fixture(scope="module")
def parts(sim, tmp_path_factory):
    return write_partitioned({t: getattr(sim, t) for t in TABLES}, tmp_path_factory.mktemp("p"))


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    cols = sorted(df.columns)
    return df[cols].sort_values(["spell_id", *cols[:1]], kind="mergesort").reset_index(drop=True)


def test_hive_directory_one_piece_per_partition_keys_decoded(sim, parts) -> None:
    ds = open_table_dataset(parts["spells"], "spells")
    assert ds.partition_columns == ("jobcentre",)
    assert len(ds.pieces) == sim.spells["jobcentre"].nunique()
    assert {p.keys[0][1] for p in ds.pieces} == set(sim.spells["jobcentre"])
    assert "Tårnby/Dragør" in {p.label.split("=", 1)[1] for p in ds.pieces}
    assert [p.files[0] for p in ds.pieces] == sorted(p.files[0] for p in ds.pieces)
    back = ds.read()
    pd.testing.assert_frame_equal(_sorted(back), _sorted(sim.spells), check_like=True)


def test_child_pieces_leave_out_the_spells_key(parts) -> None:
    meetings = open_table_dataset(parts["meetings"], "meetings")
    assert "jobcentre" not in meetings.pieces[0].read().columns


def test_glob_file_and_url_give_the_same_rows(sim, parts, tmp_path) -> None:
    by_dir = open_table_dataset(parts["spells"], "spells").read()
    by_glob = open_table_dataset(f"{parts['spells']}/*/*.parquet", "spells").read()
    by_url = open_table_dataset(f"file://{parts['spells']}", "spells").read()
    for other in (by_glob, by_url):
        pd.testing.assert_frame_equal(_sorted(other), _sorted(by_dir))
    sim.spells.to_csv(tmp_path / "spells.csv", index=False)
    one = open_table_dataset(tmp_path / "spells.csv", "spells")
    assert len(one.pieces) == 1 and one.pieces[0].file_format == "csv"
    assert len(one.read()) == len(sim.spells)


def test_fsspec_memory_filesystem(sim) -> None:
    fs = fsspec.filesystem("memory")
    with fs.open("memory://sofeval-test/spells/part-0.parquet", "wb") as fh:
        sim.spells.iloc[:300].to_parquet(fh, index=False)
    with fs.open("memory://sofeval-test/spells/part-1.parquet", "wb") as fh:
        sim.spells.iloc[300:].to_parquet(fh, index=False)
    ds = open_table_dataset("memory://sofeval-test/spells", "spells")
    assert [p.protocol for p in ds.pieces] == ["memory", "memory"]
    pd.testing.assert_frame_equal(ds.read(), sim.spells.reset_index(drop=True))
    fs.rm("memory://sofeval-test", recursive=True)


def test_study_dataset_loads_as_the_whole_tables(sim, parts) -> None:
    ds = open_study_dataset(*(parts[t] for t in TABLES))
    assert ds.co_partitioned and ds.aligned("meetings")
    study = ds.load()
    ref = validate_study(*(getattr(sim, t) for t in TABLES))
    assert len(study.spells) == len(ref.spells)
    assert len(study.meetings) == len(ref.meetings)
    pd.testing.assert_frame_equal(study.programme, ref.programme)


def test_locations_and_missing_data(tmp_path, parts) -> None:
    assert is_dataset_location(parts["spells"])
    assert is_dataset_location("s3://bucket/spells/")
    assert is_dataset_location("spells/*.parquet")
    assert not is_dataset_location(None)
    (tmp_path / "x.csv").write_text("a\n1\n")
    assert not is_dataset_location(tmp_path / "x.csv")
    with pytest.raises(ContractError, match="missing_file"):
        open_table_dataset(tmp_path / "empty", "spells")
