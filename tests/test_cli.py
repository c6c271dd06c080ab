"""The command line: the main job, data errors without tracebacks, the audit, determinism."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sofeval.cli import main

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "synthetic"
FAST = ["--bootstrap-draws", "49", "--ri-draws", "49"]
OUTPUTS = ("effects.csv", "jobcentre_effects.csv", "dose_response.csv", "success_criteria.csv",
           "data_audit.csv", "sofeval_results.xlsx", "report.html")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """A small synthetic study written by `sofeval synth`."""
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--scenario", "report", "--n-spells", "6000", "--seed", "3",
                 "--out", str(out)]) == 0
    return out


def _args(d: Path) -> list[str]:
    return ["--spells", str(d / "spells.csv"), "--programme", str(d / "programme.csv"),
            "--meetings", str(d / "meetings.csv"), "--interventions",
            str(d / "interventions.csv")]


def test_run_on_embedded_data_writes_every_output(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), *FAST]) == 0
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    eff = pd.read_csv(out / "effects.csv")
    assert list(eff.columns) == ["estimand", "coef", "se", "hazard_ratio", "ci_low", "ci_high",
                                 "p_value", "p_wild", "p_ri", "n_spells", "n_events"]
    assert list(eff["estimand"]) == ["ex_ante", "programme"]
    jc = pd.read_csv(out / "jobcentre_effects.csv")
    assert list(jc.columns) == ["jobcentre", "estimand", "coef", "se", "hazard_ratio", "ci_low",
                                "ci_high", "p_value", "p_holm", "q_bh", "p_placebo", "n_spells",
                                "n_events", "flag"]
    counts = pd.concat([jc["n_spells"], jc["n_events"], eff["n_spells"], eff["n_events"]])
    assert not ((counts > 0) & (counts < 5)).any(), "disclosure control broken"


def test_two_runs_are_byte_identical(small_data, tmp_path, monkeypatch):
    """Two runs give the same bytes, and so does a run without the forked second lane."""
    from sofeval.runtime import SERIAL_ENV, fork_available

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "serial"
    assert main(["run", *_args(small_data), "--out", str(a), *FAST]) == 0
    assert main(["run", *_args(small_data), "--out", str(b), *FAST]) == 0
    monkeypatch.setenv(SERIAL_ENV, "1")
    assert not fork_available()
    assert main(["run", *_args(small_data), "--out", str(c), *FAST]) == 0
    names = sorted(p.name for p in a.iterdir())
    for other in (b, c):
        assert names == sorted(p.name for p in other.iterdir())
        for name in names:
            assert (a / name).read_bytes() == (other / name).read_bytes(), (other.name, name)


def test_bad_input_is_refused_without_traceback(small_data, tmp_path):
    spells = pd.read_csv(small_data / "spells.csv", dtype=str)
    bad = pd.concat([spells, spells.iloc[[0, 1]]])
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad.to_csv(bad_dir / "spells.csv", index=False)
    for name in ("programme.csv", "meetings.csv", "interventions.csv"):
        (bad_dir / name).write_bytes((small_data / name).read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "sofeval.cli", "run", *_args(bad_dir), "--out",
         str(tmp_path / "o"), *FAST],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "spells" in proc.stderr and "duplicate" in proc.stderr
    assert str(spells["spell_id"].iloc[0]) in proc.stderr

    out = tmp_path / "dropped"
    assert main(["run", *_args(bad_dir), "--invalid", "drop", "--out", str(out), *FAST]) == 0
    audit = pd.read_csv(out / "data_audit.csv", dtype=str)
    assert len(audit) >= 2
    assert set(spells["spell_id"].iloc[[0, 1]]) <= set(audit["row_id"])


def test_missing_file_and_bad_option_are_clean_errors(tmp_path, capsys):
    assert main(["run", "--spells", str(tmp_path / "nope.csv"), "--programme",
                 str(tmp_path / "nope2.csv"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "missing_file" in err and "Traceback" not in err
    cfg = tmp_path / "study.toml"
    cfg.write_text('[model]\nfamily = "probit"\n')
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "cloglog" in capsys.readouterr().err


def test_synth_is_deterministic(tmp_path):
    for d in ("x", "y"):
        assert main(["synth", "--scenario", "null", "--n-spells", "500", "--seed", "1",
                     "--out", str(tmp_path / d)]) == 0
    for p in (tmp_path / "x").iterdir():
        assert p.read_bytes() == (tmp_path / "y" / p.name).read_bytes()


def test_montecarlo_command_replaces_validate(capsys):
    with pytest.raises(SystemExit) as info:
        main(["validate", "--out", "x"])
    assert info.value.code == 2
    assert "invalid choice: 'validate'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["montecarlo", "--help"])
    assert "--reps" in capsys.readouterr().out
