"""Tests of sofeval.data.io: readers, round trips, deterministic writing, the KMD mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from sofeval.data import (
    CSV_NA_VALUES,
    RegisterMapping,
    StudyData,
    ValueMap,
    apply_mapping,
    load_study,
    read_study_dir,
    read_table,
    validate_study,
    write_study,
)
from sofeval.errors import ContractError, OptionError


def spells_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spell_id": ["0012", "0003", "7"],
            "person_id": ["010101-1234", "P2", "00042"],
            "jobcentre": ["Herning", "Vejle", "Tårnby/Dragør"],
            "absence_start": pd.to_datetime(["2018-01-01", "2018-02-01", "2018-03-05"]),
            "benefit_start": pd.to_datetime(["2018-02-01", "2018-02-01", "2018-04-02"]),
            "benefit_end": pd.to_datetime(["2018-03-20", None, "2018-05-01"]),
            "exit_state": ["employment", "censored", "flexjob"],
        }
    )


def meetings_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spell_id": ["0012", "0003"],
            "date": pd.to_datetime(["2018-02-15", "2018-03-01"]),
            "location": ["workplace", "phone"],
        }
    )


def programme_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "jobcentre": ["Herning"],
            "start": pd.to_datetime(["2017-10-01"]),
            "end": pd.to_datetime(["2018-12-31"]),
        }
    )


def check_spells(study: StudyData) -> None:
    sp = study.spells.sort_values("absence_start").reset_index(drop=True)
    assert list(sp["spell_id"]) == ["0012", "0003", "7"]
    assert list(sp["person_id"]) == ["010101-1234", "P2", "00042"]
    assert sp["absence_start"].dtype == "datetime64[ns]"
    expected = spells_frame()
    pd.testing.assert_series_equal(sp["absence_start"], expected["absence_start"])
    pd.testing.assert_series_equal(sp["benefit_end"], expected["benefit_end"])
    assert list(sp["jobcentre"]) == ["Herning", "Vejle", "Tårnby/Dragør"]


def test_dataframe_is_copied_not_mutated() -> None:
    df = spells_frame()
    out = read_table(df, "spells")
    out.loc[0, "spell_id"] = "changed"
    assert df.loc[0, "spell_id"] == "0012"
    check_spells(load_study(df, meetings_frame(), programme=programme_frame()))


def test_csv_round_trip_keeps_ids_as_text(tmp_path: Path) -> None:
    path = tmp_path / "spells.csv"
    spells_frame().to_csv(path, index=False)
    raw = read_table(path, "spells")
    assert raw.loc[0, "spell_id"] == "0012"
    check_spells(load_study(path))


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "spells.parquet"
    spells_frame().to_parquet(path)
    check_spells(load_study(path))


def test_stata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "spells.dta"
    pyreadstat.write_dta(spells_frame(), str(path))
    check_spells(load_study(path))


def test_sas_transport_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "spells.xpt"
    # SAS transport: names up to 8 characters, so write register names and map them
    df = spells_frame().rename(
        columns={
            "spell_id": "sagsnr",
            "person_id": "pnr",
            "jobcentre": "jc",
            "absence_start": "foerfrav",
            "benefit_start": "foerber",
            "benefit_end": "sidber",
            "exit_state": "exit",
        }
    )
    pyreadstat.write_xport(df, str(path))
    mapping = RegisterMapping(
        columns={
            "spells": {
                "sagsnr": "spell_id",
                "pnr": "person_id",
                "jc": "jobcentre",
                "foerfrav": "absence_start",
                "foerber": "benefit_start",
                "sidber": "benefit_end",
                "exit": "exit_state",
            }
        }
    )
    check_spells(load_study(path, mapping=mapping))


def test_numeric_ids_from_stata_lose_no_digits(tmp_path: Path) -> None:
    df = spells_frame().assign(spell_id=[12, 3, 7], person_id=[1.0, 2.0, 3.0])
    path = tmp_path / "spells.dta"
    pyreadstat.write_dta(df, str(path))
    sp = load_study(path).spells
    assert list(sp["spell_id"]) == ["12", "3", "7"]
    assert list(sp["person_id"]) == ["1", "2", "3"]


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"\.sas7bdat"):
        read_table(tmp_path / "spells.xlsx", "spells")
    with pytest.raises(ContractError) as info:
        read_table(tmp_path / "nope.csv", "meetings")
    assert (info.value.table, info.value.rule) == ("meetings", "missing_file")
    assert "nope.csv" in str(info.value)


def test_write_study_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    spells = spells_frame().assign(age=[30, 40, 50])
    monitoring = pd.DataFrame(
        {
            "jobcentre": ["Herning", "Herning"],
            "month": ["2018-02", "2018-01"],
            "first_meetings": [4, 5],
            "workplace_meetings": [1, 2],
        }
    )
    study = load_study(spells, meetings_frame(), programme=programme_frame(), monitoring=monitoring)
    shuffled = load_study(
        spells.iloc[::-1][spells.columns[::-1]],
        meetings_frame().iloc[::-1],
        programme=programme_frame(),
        monitoring=monitoring.iloc[::-1],
    )
    a = write_study(study, tmp_path / "a")
    b = write_study(shuffled, tmp_path / "b")
    assert set(a) == {"spells", "meetings", "interventions", "programme", "monitoring"}
    for table in a:
        assert a[table].read_bytes() == b[table].read_bytes()
    text = a["spells"].read_text("utf-8").splitlines()
    assert text[0] == (
        "spell_id,person_id,jobcentre,absence_start,benefit_start,benefit_end,exit_state,age"
    )
    assert "0003,P2,Vejle,2018-02-01,2018-02-01,,censored,40" in text
    back = read_study_dir(tmp_path / "a")
    pd.testing.assert_frame_equal(
        back.spells.sort_values("spell_id").reset_index(drop=True),
        study.spells.sort_values("spell_id").reset_index(drop=True),
        check_dtype=False,
    )
    assert back.monitoring is not None and list(back.monitoring["month"]) == [
        "2018-01",
        "2018-02",
    ]


def test_read_study_dir_without_optional_tables(tmp_path: Path) -> None:
    spells_frame().to_csv(tmp_path / "spells.csv", index=False)
    study = read_study_dir(tmp_path)
    assert study.meetings.empty and study.monitoring is None
    check_spells(study)


# --- register mapping --------------------------------------------------------------------


def kmd_extract() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sagsnr": ["K1", "K2", "K3"],
            "cpr": ["0101801234", "0202802345", "0303803456"],
            "kommune": [657, 630, 999],
            "foerfrav": ["20180101", "20180205", "20180310"],
            "foerber": ["20180201", "", "20180401"],
            "sidber": ["20180315", "99991231", "20180501"],
            "ophoersaa": ["01", "", "4"],
            "diagnose": ["F32", "M54", "S82"],
        }
    )


def test_kmd_mapping_on_small_extract(tmp_path: Path) -> None:
    mapping = RegisterMapping.kmd()
    raw = kmd_extract()
    study = load_study(raw, mapping=mapping)
    sp = study.spells
    assert list(sp["spell_id"]) == ["K1", "K2", "K3"]
    assert list(sp["person_id"]) == ["0101801234", "0202802345", "0303803456"]
    assert list(sp["jobcentre"]) == ["Herning", "Vejle", "999"]  # unlisted code kept
    assert list(sp["exit_state"]) == ["employment", "censored", "flexjob"]
    assert sp.loc[0, "absence_start"] == pd.Timestamp("2018-01-01")
    assert sp.loc[1, "benefit_start"] == pd.Timestamp("2018-02-05")  # default absence_start
    assert pd.isna(sp.loc[1, "benefit_end"])  # 99991231 = ongoing
    assert "diagnose" in sp.columns
    assert list(raw["sagsnr"]) == ["K1", "K2", "K3"]  # input untouched
    # the same from a CSV file: codes stay text
    path = tmp_path / "kmd.csv"
    raw.to_csv(path, index=False)
    from_csv = load_study(path, mapping=mapping).spells
    pd.testing.assert_frame_equal(from_csv, sp, check_dtype=False)


def test_kmd_unmapped_exit_code_is_a_clear_error() -> None:
    raw = kmd_extract().assign(ophoersaa=["01", "42", "x9"])
    with pytest.raises(ContractError) as info:
        apply_mapping(raw, RegisterMapping.kmd(), "spells")
    err = info.value
    assert (err.table, err.rule) == ("spells", "unmapped_code")
    assert set(err.rows) == {"42", "x9"}
    assert "'42'" in str(err) and "[spells.values.exit_state.codes]" in str(err)


def test_kmd_bad_date_reaches_validation() -> None:
    raw = kmd_extract().assign(foerfrav=["20180101", "2018-02-31", "20180310"])
    with pytest.raises(ContractError) as info:
        load_study(raw, mapping=RegisterMapping.kmd())
    assert (info.value.rule, info.value.rows) == ("unparseable_date", ("K2",))


def test_mapping_conflict_cpr_and_pnr() -> None:
    raw = kmd_extract().assign(pnr="x")
    with pytest.raises(ContractError, match="cpr, pnr") as info:
        apply_mapping(raw, RegisterMapping.kmd(), "spells")
    assert info.value.rule == "mapping_conflict"


def test_mapping_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[spells.columns]\nid = "spell_id"\n'
        '[spells.values.exit_state]\nunmapped = "keep"\n'
        '[spells.values.exit_state.codes]\nA = "employment"\n',
        encoding="utf-8",
    )
    mapping = RegisterMapping.from_toml(path)
    assert mapping.columns["spells"] == {"id": "spell_id"}
    assert mapping.values["spells"]["exit_state"] == ValueMap({"A": "employment"}, "keep")
    df = pd.DataFrame({"id": ["1"], "exit_state": ["A"]})
    assert apply_mapping(df, mapping, "spells").to_dict("list") == {
        "spell_id": ["1"],
        "exit_state": ["employment"],
    }
    path.write_text('[spells.values.exit_state]\nunmapped = "ignore"\n', encoding="utf-8")
    with pytest.raises(OptionError, match="'error', 'keep'"):
        RegisterMapping.from_toml(path)


def test_open_end_sentinel_in_real_date_column() -> None:
    ends = pd.Series(pd.array(["2018-03-15", "9999-12-31"], dtype="datetime64[us]"))
    raw = kmd_extract().iloc[:2].assign(sidber=ends)
    sp = load_study(raw, mapping=RegisterMapping.kmd()).spells
    assert sp.loc[0, "benefit_end"] == pd.Timestamp("2018-03-15")
    assert pd.isna(sp.loc[1, "benefit_end"])


_SPELLS_HEADER = "spell_id,person_id,jobcentre,absence_start,benefit_start,benefit_end,exit_state"
_CLEAN_ROWS = (
    "0012, 010101-1234 ,Herning,2018-01-01,2018-02-01,2018-03-20,employment\n"
    "0003,P2,Vejle,2018-02-01,,NA,Censored\n"
    "7,00042,Tårnby/Dragør,2018-03-05,2018-04-02,2018-05-01,flexjob\n"
    '8,P8,"Vejle",2018-03-05,.,2018-03-01,employment\n'  # end before start: a rule breaks
)


@pytest.mark.parametrize(
    ("extra_header", "extra_values", "arrow_reads"),
    [
        ("", ("",) * 4, True),
        (",age,empty,flag", (",30,,true", ",41,,false", ",NA,,true", ",52,,false"), True),
        (",note", (",2019-01-01", ",x", ",", ",y"), True),  # text with a date: pandas keeps text
        (",day", (",2019-01-01", ",2019-01-02", ",", ",2019-01-03"), False),  # Arrow: a date
    ],
)
def test_arrow_csv_reader_equals_pandas_reader(
    tmp_path: Path,
    extra_header: str,
    extra_values: tuple[str, ...],
    arrow_reads: bool,
) -> None:
    import sofeval.data.io as sio

    rows = [r + v for r, v in zip(_CLEAN_ROWS.splitlines(), extra_values, strict=True)]
    path = tmp_path / "spells.csv"
    path.write_text(_SPELLS_HEADER + extra_header + "\n" + "\n".join(rows) + "\n", "utf-8")
    header = pd.read_csv(path, nrows=0).columns
    text = {"spell_id", "person_id", "jobcentre", "exit_state"}
    fast = sio.read_csv_arrow(path, "spells", header, text)
    assert (fast is not None) == arrow_reads
    via_arrow = load_study(path, invalid="drop")  # with the reader's Arrow text if it read
    dtype = dict.fromkeys(_SPELLS_HEADER.split(","), str)  # the pandas reader of read_table
    raw = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=list(CSV_NA_VALUES))
    via_pandas = validate_study(raw, invalid="drop")
    pd.testing.assert_frame_equal(via_arrow.spells, via_pandas.spells)
    pd.testing.assert_frame_equal(via_arrow.audit, via_pandas.audit)
    assert list(via_arrow.audit["rule"]) == ["end_before_start"]
    assert list(via_arrow.spells["spell_id"]) == ["0012", "0003", "7"]


@pytest.mark.parametrize(
    ("bad", "kept"),
    [
        ("2018-13-01", ["2"]),
        ("01/02/2018", ["2"]),
        ("2018-01-01 10:00", ["1", "2"]),
        ("9999-12-31", ["2"]),
    ],
)
def test_dates_arrow_cannot_read_fall_back_to_the_pandas_reader(
    tmp_path: Path, bad: str, kept: list[str]
) -> None:
    import sofeval.data.io as sio

    path = tmp_path / "spells.csv"
    path.write_text(
        _SPELLS_HEADER + "\n" + f"1,P1,Vejle,2018-01-01,2018-01-01,{bad},employment\n"
        "2,P2,Vejle,2018-01-01,2018-01-01,2018-02-01,employment\n",
        "utf-8",
    )
    header = pd.read_csv(path, nrows=0).columns
    assert sio.read_csv_arrow(path, "spells", header, {"spell_id"}) is None
    study = load_study(path, invalid="drop")
    assert list(study.spells["spell_id"]) == kept
