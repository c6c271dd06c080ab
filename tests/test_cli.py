"""The command line: the main job, data errors without tracebacks, the audit, determinism,
`sofeval check`, warnings as notes, and the users' CI gate (`montecarlo --check`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sofeval.analyses import BENEFIT_PER_WEEK
from sofeval.cli import EXIT_DATA_ERROR, build_parser, main, run_config
from sofeval.config import RunConfig
from sofeval.errors import OptionError
from test_pipeline import HONESTDID_FILES, NEW_TABLES

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "synthetic"
# two subgroup variables (one per lane) instead of the six present keep the runs cheap
FAST = ["--bootstrap-draws", "49", "--ri-draws", "49", "--subgroups", "sex,age"]
OUTPUTS = ("effects.csv", "jobcentre_effects.csv", "dose_response.csv", "success_criteria.csv",
           "data_audit.csv", "sofeval_results.xlsx", "report.html",
           *(f"{name}.csv" for name in NEW_TABLES), *HONESTDID_FILES)


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
    for name, columns in NEW_TABLES.items():  # the tables of issues 15 and 16, as specified
        table = pd.read_csv(out / f"{name}.csv")
        assert list(table.columns) == columns, name
        for c in ("n_spells", "n_events", "n_returns"):
            if c in table.columns:
                assert not ((table[c] > 0) & (table[c] < 5)).any(), (name, c)


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


PROFILE_FILES = ("profile_tables.csv", "profile_summary.csv", "profile_exit_states.csv",
                 "profile_dates.csv", "profile_jobcentres.csv", "profile_jobcentre_years.csv",
                 "profile_entry_weeks.csv", "profile_first_meeting_locations.csv")


def _broken(small_data: Path, tmp_path: Path) -> Path:
    """The small study with an unknown exit state, an impossible date and a duplicated id."""
    spells = pd.read_csv(small_data / "spells.csv", dtype=str, keep_default_na=False)
    spells.loc[3, "exit_state"] = "holiday"
    spells.loc[5, "benefit_end"] = "2018-13-45"
    spells = pd.concat([spells, spells.iloc[[7]]])
    bad = tmp_path / "broken"
    bad.mkdir()
    spells.to_csv(bad / "spells.csv", index=False)
    for name in ("programme.csv", "meetings.csv", "interventions.csv"):
        (bad / name).write_bytes((small_data / name).read_bytes())
    return bad


def test_check_on_clean_data_writes_audit_profile_and_page(small_data, tmp_path, capsys):
    out = tmp_path / "check"
    assert main(["check", *_args(small_data), "--out", str(out)]) == 0
    assert "pass every contract rule" in capsys.readouterr().out
    for name in ("data_audit.csv", "check.html", "warnings.csv", *PROFILE_FILES):
        assert (out / name).is_file(), name
    assert pd.read_csv(out / "data_audit.csv").empty
    assert pd.read_csv(out / "warnings.csv").empty
    summary = pd.read_csv(out / "profile_summary.csv").set_index("item")["count"]
    assert summary["spells"] == 6000
    assert "No rows were dropped" in (out / "check.html").read_text("utf-8")
    years = pd.read_csv(out / "profile_jobcentre_years.csv")
    assert not ((years["spells"] >= 1) & (years["spells"] < 5)).any()
    strict = tmp_path / "strict"
    assert main(["check", *_args(small_data), "--threshold", "100", "--out", str(strict)]) == 0
    assert pd.read_csv(strict / "profile_jobcentre_years.csv")["spells"].isna().any()


def test_check_refuses_a_broken_extract_without_traceback(small_data, tmp_path):
    bad = _broken(small_data, tmp_path)
    out = tmp_path / "o"
    proc = subprocess.run(
        [sys.executable, "-m", "sofeval.cli", "check", *_args(bad), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == EXIT_DATA_ERROR
    err = proc.stderr
    assert "Traceback" not in err and err.startswith("sofeval: error: ")
    for quoted in ("exit_state 'holiday'", "benefit_end '2018-13-45'", "occurs 2 times",
                   "--invalid drop"):
        assert quoted in err, quoted
    assert 'invalid="drop"' not in err  # the command line speaks command line
    audit = pd.read_csv(out / "data_audit.csv", dtype=str)  # every offending row listed
    assert {"duplicate_spell_id", "unparseable_date", "unknown_exit_state"} <= set(audit["rule"])


def test_check_with_invalid_drop_audits_the_rows(small_data, tmp_path):
    bad = _broken(small_data, tmp_path)
    out = tmp_path / "dropped"
    assert main(["check", *_args(bad), "--invalid", "drop", "--out", str(out)]) == 0
    audit = pd.read_csv(out / "data_audit.csv", dtype=str)
    spells = audit[audit["table"] == "spells"].set_index("rule")["detail"]
    assert spells["unknown_exit_state"] == "exit_state 'holiday'"
    assert spells["unparseable_date"].startswith("benefit_end '2018-13-45'")
    rows = pd.read_csv(out / "profile_tables.csv").set_index("table")["rows"]
    assert rows["spells"] == 6000 - 3 and rows["audit (rows dropped)"] == len(audit)
    assert "rows were dropped" in (out / "check.html").read_text("utf-8")


def test_missing_column_message_names_the_mapping_option(small_data, tmp_path, capsys):
    bad = tmp_path / "renamed"
    bad.mkdir()
    spells = pd.read_csv(small_data / "spells.csv", dtype=str)
    spells.rename(columns={"exit_state": "ophoersaa"}).to_csv(bad / "spells.csv", index=False)
    assert main(["check", "--spells", str(bad / "spells.csv"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing_columns" in err and "--mapping FILE.toml" in err and "ophoersaa" in err


def test_library_warnings_become_one_line_notes(small_data, tmp_path, capsys):
    """No meetings: the measure DiD of the monitoring is not identified (a warning) and the
    dose-response is not estimated (a note of the run)."""
    out = tmp_path / "no_meetings"
    args = ["--spells", str(small_data / "spells.csv"), "--programme",
            str(small_data / "programme.csv")]
    assert main(["run", *args, "--out", str(out), "--bootstrap-draws", "0",
                 "--ri-draws", "0", "--subgroups", "sex"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line]
    assert all(line.startswith("sofeval: note: ") for line in notes), err
    assert sum("measure_did" in line for line in notes) == 1  # once, however often raised
    assert "Warning:" not in err and ".py:" not in err  # no raw warning, no source line
    warned = pd.read_csv(out / "warnings.csv")
    assert list(warned.columns) == ["category", "message"]
    assert "NotIdentifiedWarning" in set(warned["category"])
    assert warned.duplicated().sum() == 0


GATE = """
[model]
covariates = ["sex"]

[check]
reps = 2
n_spells = 2500
bootstrap_draws = 9
ri_draws = 9
{tolerances}
"""


def test_montecarlo_check_gate_exit_status(tmp_path, capsys):
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(GATE.format(tolerances="max_abs_bias = 10.0\nmin_coverage = 0.0\n"
                                              "max_size = 1.0"))
    out = tmp_path / "gate"
    assert main(["montecarlo", "--config", str(lenient), "--check", "--jobs", "1",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "the check passed" in text and "FAIL" not in text
    crit = pd.read_csv(out / "check_criteria.csv", keep_default_na=False)  # "null" is a name
    assert set(crit["scenario"]) == {"null", "homogeneous"}
    assert {"abs_bias", "size", "coverage"} == set(crit["criterion"])
    impossible = tmp_path / "impossible.toml"
    impossible.write_text(GATE.format(tolerances='scenarios = ["null"]\nmax_abs_bias = 0.0'))
    assert main(["montecarlo", "--config", str(impossible), "--check", "--jobs", "1"]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "the check failed" in captured.err
    assert main(["montecarlo", "--check", "--jobs", "1"]) == 2  # no config: a clean error
    assert "--check needs --config" in capsys.readouterr().err


# --- run settings: study.toml and options ------------------------------------------------


OUTCOMES = """
[outcomes]
horizon = 26
benefit_per_week = 4355

[credibility]
subgroups = ["sex", "age"]
"""


def _run_args(*extra: str) -> list[str]:
    return ["run", "--out", "o", *extra]


def test_run_settings_from_study_toml_and_options(tmp_path):
    default = run_config(build_parser().parse_args(_run_args()))
    assert (default.horizon_weeks, default.benefit_per_week, default.subgroups) == (
        52, BENEFIT_PER_WEEK, None)
    assert RunConfig(design={"max_weeks": 40}).horizon_weeks == 40
    cfg = tmp_path / "study.toml"
    cfg.write_text(OUTCOMES)
    from_file = run_config(build_parser().parse_args(_run_args("--config", str(cfg))))
    assert (from_file.horizon_weeks, from_file.benefit_per_week, from_file.subgroups) == (
        26, 4355, ("sex", "age"))
    options = run_config(build_parser().parse_args(_run_args(
        "--config", str(cfg), "--horizon", "13", "--benefit-per-week", "1000.5",
        "--subgroups", "sector, partial_sick_listing")))
    assert (options.horizon_weeks, options.benefit_per_week, options.subgroups) == (
        13, 1000.5, ("sector", "partial_sick_listing"))
    off = run_config(build_parser().parse_args(_run_args("--subgroups", "none")))
    assert off.subgroups == ()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (["--horizon", "60"], r"horizon=60 .* 1\.\.52"),
        (["--horizon", "0"], r"horizon=0 .* 1\.\.52"),
        (["--benefit-per-week", "-1"], r"benefit_per_week=-1\.0 must be a number of kroner >= 0"),
        (["--subgroups", "sex,region"], r"subgroups='region' .* 'sex', 'age', 'diagnosis_group'"),
    ],
)
def test_bad_run_settings_list_the_valid_values(options, match, capsys):
    with pytest.raises(OptionError, match=match):
        run_config(build_parser().parse_args(_run_args(*options)))
    assert main(_run_args(*options)) == EXIT_DATA_ERROR  # before any data is read
    err = capsys.readouterr().err
    assert re.search(match, err) and "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[outcomes]\nhorizon = 53\n", r"1\.\.52"),
        ("[design]\nmax_weeks = 30\n[outcomes]\nhorizon = 31\n", r"1\.\.30"),
        ('[outcomes]\nbenefit_per_week = "4300"\n', "number of kroner"),
        ('[credibility]\nsubgroups = ["region"]\n', "'partial_sick_listing'"),
        ("[outcomes]\nweeks = 52\n", "'horizon', 'benefit_per_week'"),
    ],
)
def test_bad_study_toml_settings_are_refused(tmp_path, text, match):
    path = tmp_path / "study.toml"
    path.write_text(text)
    with pytest.raises(OptionError, match=match):
        RunConfig.from_toml(path)
