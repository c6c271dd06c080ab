"""The chunked synthetic writer: sizes, determinism, one process, aggregated truth."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from sofeval.data import (
    chunk_sizes,
    open_study_dataset,
    simulate,
    write_synthetic_dataset,
)
from sofeval.errors import OptionError


def _digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_chunk_sizes() -> None:
    assert chunk_sizes(10, 3) == [3, 3, 2, 2]
    assert chunk_sizes(6, 10) == [6]
    assert sum(chunk_sizes(15_000_001, 1_000_000)) == 15_000_001
    with pytest.raises(OptionError):
        chunk_sizes(0, 5)


def test_same_arguments_same_files_and_unique_ids(tmp_path) -> None:
    a = write_synthetic_dataset(tmp_path / "a", "report", 3_000, seed=4, chunk_size=1_100)
    write_synthetic_dataset(tmp_path / "b", "report", 3_000, seed=4, chunk_size=1_100)
    assert a.n_chunks == 3
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    study = open_study_dataset(*(a.tables[t] for t in a.tables)).load()  # validates
    assert len(study.spells) == 3_000
    assert study.spells["spell_id"].is_unique
    assert len(study.audit) == 0


def test_one_process_for_every_chunk(tmp_path) -> None:
    """Structural parameters are simulate's for the seed; the chunks differ in their spells."""
    out = write_synthetic_dataset(tmp_path, "report", 2_000, seed=9, chunk_size=1_000,
                                  partition_by=())
    params = pd.read_csv(tmp_path / "truth_params.csv")
    ref = simulate("report", n_spells=50, seed=9).truth.params
    np.testing.assert_allclose(params["value"].to_numpy(), ref["value"].to_numpy(), rtol=1e-9)
    files = sorted((tmp_path / "spells").glob("*.parquet"))
    assert len(files) == out.n_chunks == 2
    first, second = (pd.read_parquet(f) for f in files)
    assert first["spell_id"].iloc[-1] < second["spell_id"].iloc[0]
    assert not first["absence_start"].equals(second["absence_start"])


def test_aggregated_truth_of_a_homogeneous_scenario(tmp_path) -> None:
    """Without a mediator the truth of every programme jobcentre is the scenario's theta."""
    out = write_synthetic_dataset(tmp_path, "homogeneous", 2_000, seed=2, chunk_size=700)
    est = out.estimands.set_index(["estimand", "jobcentre"])["value"]
    np.testing.assert_allclose(est.loc["ex_ante"].to_numpy(), 0.05, atol=1e-12)
    np.testing.assert_allclose(est.loc["programme"].to_numpy(), 0.10, atol=1e-12)
    on_disk = pd.read_csv(tmp_path / "truth_estimands.csv")
    assert list(on_disk["estimand"].unique()) == list(out.estimands["estimand"].unique())


def test_recurrence_scenarios_are_refused(tmp_path) -> None:
    with pytest.raises(OptionError, match="recurren"):
        write_synthetic_dataset(tmp_path, "destinations", 500, seed=1)


def test_command_line_writes_partitioned_parquet(tmp_path, capsys) -> None:
    from sofeval.cli import main

    args = ["synth", "--format", "parquet", "--partition-by", "jobcentre", "--n-spells",
            "1200", "--chunk-size", "500", "--seed", "3", "--out", str(tmp_path / "d")]
    assert main(args) == 0
    assert "1,200 spells in 3 chunks" in capsys.readouterr().out
    assert any(p.name.startswith("jobcentre=") for p in (tmp_path / "d" / "meetings").iterdir())
    assert main(["synth", "--partition-by", "jobcentre", "--out", str(tmp_path / "e")]) == 2
