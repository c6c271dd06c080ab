"""Reading and writing contract tables; register mappings (DESIGN.md §2).

* :func:`read_table` reads one table from a DataFrame (copied), CSV, Parquet, SAS
  (``.sas7bdat``, ``.xpt``) or Stata (``.dta``) file and applies a :class:`RegisterMapping`.
* :func:`load_study` reads every table and validates them
  (:func:`sofeval.data.validation.validate_study`).
* :func:`write_study` / :func:`read_study_dir` write and read the contract CSVs of a study
  (deterministic: equal studies give byte-identical files).
* :class:`RegisterMapping` renames register columns (KMD's ``foerfrav``, ``sidber``, ...) and
  recodes values (exit-state codes, municipality codes). :meth:`RegisterMapping.kmd` loads the
  packaged, documented ``data/kmd_mapping.toml``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sofeval.data.contract import DATE_COLUMNS, REQUIRED_COLUMNS, TABLES, StudyData
from sofeval.data.validation import (
    STRING_COLUMNS,
    Audience,
    Invalid,
    as_string,
    validate_tables,
)
from sofeval.errors import ContractError, OptionError, check_option

#: File suffixes :func:`read_table` understands, and the reader used for each.
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".sas7bdat": "sas7bdat",
    ".xpt": "xport",
    ".dta": "stata",
}

#: Values read as missing in CSV files (nothing else: ids such as "NA" are rare but an id
#: like "0012" must stay text).
CSV_NA_VALUES: tuple[str, ...] = ("", "NA", "NaN", "nan", "NULL", ".")

#: Id columns, nearly all values distinct (read without deduplicating their strings).
ID_COLUMNS: frozenset[str] = frozenset({"spell_id", "person_id"})

#: Columns that are numbers in the contract (everything else known is text or a date).
NUMERIC_COLUMNS: frozenset[str] = frozenset({"first_meetings", "workplace_meetings", "age"})

#: Sort keys of each table in :func:`write_study`.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "spells": ("spell_id",),
    "meetings": ("spell_id", "date", "location"),
    "interventions": ("spell_id", "start", "end", "type"),
    "programme": ("jobcentre", "start", "end"),
    "monitoring": ("jobcentre", "month"),
}

_SPELL_ORDER: tuple[str, ...] = (
    "spell_id",
    "person_id",
    "jobcentre",
    "absence_start",
    "benefit_start",
    "benefit_end",
    "exit_state",
)


@dataclass(frozen=True)
class ValueMap:
    """Recoding of one column's register codes into contract values.

    Attributes
    ----------
    codes
        Register code (as text) -> contract value.
    unmapped
        ``"error"``: a code not in ``codes`` raises :class:`ContractError` listing the codes;
        ``"keep"``: such codes are kept unchanged.
    missing
        Value used for empty fields (``None``: keep them empty).
    """

    codes: Mapping[str, str]
    unmapped: Literal["error", "keep"] = "error"
    missing: str | None = None


@dataclass(frozen=True)
class RegisterMapping:
    """How a register extract maps onto the data contract.

    Attributes
    ----------
    columns
        Per table, register column name -> contract column name.
    values
        Per table, contract column name -> :class:`ValueMap` applied after renaming.
    date_format
        ``strptime`` format of date columns stored as text (``None``: ISO dates).
    open_end
        Register value meaning "no end date" (e.g. ``"99991231"``); end dates equal to it
        become empty (ongoing).
    name
        Label used in messages.
    """

    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, ValueMap]] = field(default_factory=dict)
    date_format: str | None = None
    open_end: str | None = None
    name: str = "register mapping"

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> RegisterMapping:
        """Build a mapping from the TOML layout documented in ``data/kmd_mapping.toml``.

        Parameters
        ----------
        spec
            Parsed TOML document.

        Returns
        -------
        RegisterMapping
            The mapping.
        """
        unknown = set(spec) - {*TABLES, "date_format", "open_end", "name"}
        if unknown:
            raise OptionError(
                f"register mapping: unknown top-level keys {sorted(unknown)}; allowed are "
                f"the table names {', '.join(TABLES)} and date_format, open_end, name."
            )
        columns: dict[str, dict[str, str]] = {}
        values: dict[str, dict[str, ValueMap]] = {}
        for table in TABLES:
            section = spec.get(table, {})
            columns[table] = {str(k): str(v) for k, v in section.get("columns", {}).items()}
            values[table] = {}
            for col, vm in section.get("values", {}).items():
                unmapped = vm.get("unmapped", "error")
                check_option(f"{table}.values.{col}.unmapped", unmapped, ("error", "keep"))
                values[table][col] = ValueMap(
                    codes={str(k): str(v) for k, v in vm.get("codes", {}).items()},
                    unmapped=unmapped,
                    missing=vm.get("missing"),
                )
        return cls(
            columns=columns,
            values=values,
            date_format=spec.get("date_format"),
            open_end=None if spec.get("open_end") is None else str(spec["open_end"]),
            name=str(spec.get("name", "register mapping")),
        )

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> RegisterMapping:
        """Read a mapping from a TOML file (layout: see ``data/kmd_mapping.toml``).

        Parameters
        ----------
        path
            TOML file.

        Returns
        -------
        RegisterMapping
            The mapping.
        """
        with open(path, "rb") as fh:
            return cls.from_dict(tomllib.load(fh))

    @classmethod
    def kmd(cls) -> RegisterMapping:
        """The packaged mapping of KMD's sickness-benefit register (``data/kmd_mapping.toml``).

        Returns
        -------
        RegisterMapping
            The KMD mapping; copy the TOML file to adapt it.
        """
        text = resources.files("sofeval").joinpath("data/kmd_mapping.toml").read_text("utf-8")
        return cls.from_dict(tomllib.loads(text))

    def text_columns(self, table: str) -> set[str]:
        """Register column names that map to contract text or date columns."""
        return {
            src for src, dst in self.columns.get(table, {}).items() if dst not in NUMERIC_COLUMNS
        }


def _recode(values: pd.Series, vm: ValueMap, table: str, col: str, label: str) -> pd.Series:
    text = as_string(values)
    out = text.map(vm.codes)
    unmapped = text.notna() & out.isna()
    if unmapped.any():
        if vm.unmapped == "keep":
            out = out.where(~unmapped, text)
        else:
            codes = sorted(pd.unique(text[unmapped].to_numpy()).tolist())
            shown = ", ".join(repr(c) for c in codes[:10])
            more = f", ... ({len(codes) - 10} more)" if len(codes) > 10 else ""
            raise ContractError(
                f"{table}: rule 'unmapped_code' broken by {int(unmapped.sum())} rows "
                f"({col} codes: {shown}{more}). The {label} has no entry for these codes; "
                f"add them under [{table}.values.{col}.codes] in the mapping file.",
                table=table,
                rule="unmapped_code",
                rows=tuple(codes),
            )
    if vm.missing is not None:
        out = out.where(text.notna(), vm.missing)
    return out.astype(object)


def _parse_register_dates(values: pd.Series, mapping: RegisterMapping, end: bool) -> pd.Series:
    """Parse text dates with the mapping's format; unparseable text is left for validation."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if mapping.open_end is None or not end:
            return values
        fmt = mapping.date_format or "%Y-%m-%d"
        sentinel = np.datetime64(datetime.strptime(mapping.open_end, fmt).date(), "D")
        return values.where(values.to_numpy().astype("datetime64[D]") != sentinel)
    text = as_string(values)
    if mapping.open_end is not None and end:
        text = text.where(text != mapping.open_end, None)
    if mapping.date_format is None:
        return text
    parsed = pd.to_datetime(text, format=mapping.date_format, errors="coerce")
    failed = text.notna() & parsed.isna()
    if not failed.any():
        return parsed
    out = parsed.astype(object)
    out[failed] = text[failed]  # validation reports these as 'unparseable_date'
    return out


def apply_mapping(df: pd.DataFrame, mapping: RegisterMapping, table: str) -> pd.DataFrame:
    """Rename register columns and recode register values of one table.

    Parameters
    ----------
    df
        Register extract (not modified).
    mapping
        The register mapping.
    table
        Contract table name.

    Returns
    -------
    pandas.DataFrame
        A new frame with contract column names and values.

    Raises
    ------
    ContractError
        If two register columns map to one contract column (rule ``mapping_conflict``) or
        a code has no entry in a strict value map (rule ``unmapped_code``).
    """
    check_option("table", table, TABLES)
    renames = {s: t for s, t in mapping.columns.get(table, {}).items() if s in df.columns}
    targets: dict[str, list[str]] = {}
    for src, dst in renames.items():
        targets.setdefault(dst, []).append(src)
    for dst, srcs in targets.items():
        clash = srcs + ([dst] if dst in df.columns and dst not in renames else [])
        if len(clash) > 1:
            raise ContractError(
                f"{table}: rule 'mapping_conflict': columns {', '.join(clash)} all map to "
                f"'{dst}' under {mapping.name}; drop all but one before loading.",
                table=table,
                rule="mapping_conflict",
                rows=tuple(clash),
            )
    out = df.rename(columns=renames)
    for col in DATE_COLUMNS[table]:
        if col in out and (mapping.date_format is not None or mapping.open_end is not None):
            is_end = col in ("benefit_end", "end")
            out[col] = _parse_register_dates(out[col], mapping, is_end)
    for col, vm in mapping.values.get(table, {}).items():
        if col in out:
            out[col] = _recode(out[col], vm, table, col, mapping.name)
    return out


def _read_csv(
    path: Path, table: str, mapping: RegisterMapping | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The raw CSV table and, when Arrow read it, its text columns as Arrow arrays."""
    header = pd.read_csv(path, nrows=0).columns
    text = {c for c in REQUIRED_COLUMNS[table] + DATE_COLUMNS[table] if c not in NUMERIC_COLUMNS}
    if table == "spells":
        text |= {"sex", "diagnosis_group", "visitation_category", "sector"}
    if mapping is not None:
        text |= mapping.text_columns(table)
    else:
        fast = _read_csv_arrow(path, table, header, text)
        if fast is not None:
            return fast
    dtype = {c: str for c in header if c in text}
    na = list(CSV_NA_VALUES)
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=na), {}


def read_csv_arrow(
    path: Path, table: str, header: pd.Index, text: set[str]
) -> pd.DataFrame | None:
    """Multithreaded CSV reading by Arrow, giving the same frame as the pandas reader.

    Contract dates are parsed by Arrow as ISO dates; other text columns stay text. Returns
    ``None`` (the caller then uses the pandas reader, whose result validation explains row by
    row) when Arrow cannot read the file exactly so: a date that is not a plain ISO date, text
    that is not UTF-8, a ragged row, a duplicated column name, or an extra column Arrow would
    read as a date or time (pandas keeps those as text).
    """
    fast = _read_csv_arrow(path, table, header, text)
    return None if fast is None else fast[0]


def _read_csv_arrow(
    path: Path, table: str, header: pd.Index, text: set[str]
) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """:func:`read_csv_arrow`, also returning the text columns as Arrow string arrays."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [str(c) for c in header]
    if len(set(names)) != len(names):
        return None
    dates = {c for c in DATE_COLUMNS[table] if c in names}
    types = {c: pa.string() for c in names if c in text and c not in dates}
    types |= {c: pa.date32() for c in dates}
    options = pacsv.ConvertOptions(
        column_types=types,
        null_values=list(CSV_NA_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        tab = pacsv.read_csv(path, convert_options=options)
        if tab.column_names != names:
            return None
        for i, field_ in enumerate(tab.schema):
            if field_.name in dates:  # nanoseconds, as pandas and the validation use
                tab = tab.set_column(i, field_.name, tab.column(i).cast(pa.timestamp("ns")))
            elif field_.name in types:
                continue
            elif pa.types.is_temporal(field_.type):
                return None
            elif pa.types.is_null(field_.type):  # an empty column: pandas reads float NaN
                tab = tab.set_column(i, field_.name, tab.column(i).cast(pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    # ids are nearly all distinct: building their strings without deduplication (hashing
    # every value) is many times faster; labels repeat, so theirs are deduplicated
    ids = [c for c in names if c in ID_COLUMNS]
    df = tab.drop_columns(ids).to_pandas(date_as_object=False)
    if ids:
        plain = tab.select(ids).to_pandas(deduplicate_objects=False)
        for c in sorted(ids, key=names.index):  # back in their places, left to right
            df.insert(names.index(c), c, plain[c])
    for field_ in tab.schema:  # missing text outside the contract is NaN, as pandas reads it
        if field_.name not in types and pa.types.is_string(field_.type):
            df[field_.name] = df[field_.name].fillna(np.nan)
    strings = STRING_COLUMNS[table]  # what validation hashes or checks
    arrow = {c: tab.column(c).combine_chunks() for c in types if c in strings}
    return df, arrow


def read_table(
    source: pd.DataFrame | str | os.PathLike[str],
    table: str,
    mapping: RegisterMapping | None = None,
) -> pd.DataFrame:
    """Read one contract table from a DataFrame or a file.

    Parameters
    ----------
    source
        A DataFrame (copied, never modified) or a path to a ``.csv``, ``.parquet``/``.pq``,
        ``.sas7bdat``, ``.xpt`` or ``.dta`` file. CSV id, label and date columns are read
        as text, so ids such as ``"0012"`` keep their leading zeros.
    table
        Contract table name (``spells``, ``meetings``, ...), used for messages and mapping.
    mapping
        Optional register mapping applied after reading.

    Returns
    -------
    pandas.DataFrame
        The raw table (validate it with :func:`sofeval.data.validation.validate_study`).

    Raises
    ------
    ContractError
        If the file does not exist (rule ``missing_file``).
    OptionError
        For an unknown file suffix or table name.
    """
    return _read(source, table, mapping)[0]


def _read(
    source: pd.DataFrame | str | os.PathLike[str], table: str, mapping: RegisterMapping | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`read_table`, also returning text columns as Arrow arrays when Arrow read them."""
    check_option("table", table, TABLES)
    arrow: dict[str, Any] = {}
    if isinstance(source, pd.DataFrame):
        df = source.copy(deep=True)
    else:
        path = Path(source)
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise OptionError(
                f"{table}: cannot read {str(path)!r}: unknown file suffix {path.suffix!r}; "
                f"supported suffixes are {', '.join(SUFFIXES)}."
            )
        if not path.is_file():
            raise ContractError(
                f"{table}: rule 'missing_file': file {str(path)!r} not found. Check the path.",
                table=table,
                rule="missing_file",
                rows=(str(path),),
            )
        if kind == "csv":
            df, arrow = _read_csv(path, table, mapping)
        elif kind == "parquet":
            df = pd.read_parquet(path, engine="pyarrow")
        else:
            import pyreadstat

            reader: Any = {
                "sas7bdat": pyreadstat.read_sas7bdat,
                "xport": pyreadstat.read_xport,
                "stata": pyreadstat.read_dta,
            }[kind]
            df, _meta = reader(str(path), dates_as_pandas_datetime=True)
    if mapping is not None:
        df = apply_mapping(df, mapping, table)
    return df, arrow


Source = pd.DataFrame | str | os.PathLike[str]


def load_study(
    spells: Source,
    meetings: Source | None = None,
    interventions: Source | None = None,
    programme: Source | None = None,
    monitoring: Source | None = None,
    *,
    mapping: RegisterMapping | None = None,
    invalid: Invalid = "error",
    jobcentres: Sequence[str] | None = None,
    audience: Audience = "python",
) -> StudyData:
    """Read every table (:func:`read_table`) and validate the study.

    Parameters
    ----------
    spells, meetings, interventions, programme, monitoring
        DataFrames or file paths; only ``spells`` is required.
    mapping
        Register mapping applied to every table.
    invalid, jobcentres, audience
        Passed to :func:`sofeval.data.validation.validate_study`.

    Returns
    -------
    StudyData
        Validated tables and the drop audit.
    """
    sources = dict(  # spells last, as ever (which missing file is reported first)
        meetings=meetings,
        interventions=interventions,
        programme=programme,
        monitoring=monitoring,
        spells=spells,
    )
    given: dict[str, pd.DataFrame | None] = {}
    arrow: dict[tuple[str, str], Any] = {}
    for name, source in sources.items():
        if source is None:
            given[name] = None
            continue
        given[name], text = _read(source, name, mapping)
        arrow |= {(name, col): values for col, values in text.items()}
    return validate_tables(
        given,
        arrow=arrow,  # the CSV reader's text: ids not converted back to Arrow for hashing
        invalid=invalid,
        jobcentres=jobcentres,
        audience=audience,
        copy=False,  # the tables were just read: nobody else holds them
    )


def _for_csv(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Deterministic CSV frame: fixed column order, sorted rows, ISO dates as text."""
    order = _SPELL_ORDER if table == "spells" else REQUIRED_COLUMNS[table]
    first = [c for c in order if c in df.columns]
    cols = first + sorted(c for c in df.columns if c not in first)
    keys = [c for c in SORT_KEYS[table] if c in df.columns]
    rest = [c for c in cols if c not in keys]
    try:
        out = df[cols].sort_values(keys + rest, kind="mergesort", na_position="last")
    except TypeError:  # mixed types in a covariate: sort on the keys only
        out = df[cols].sort_values(keys, kind="mergesort", na_position="last")
    out = out.reset_index(drop=True)
    for col in cols:
        if pd.api.types.is_datetime64_any_dtype(out[col].dtype):
            days = out[col].to_numpy("datetime64[ns]").astype("datetime64[D]")
            text = np.datetime_as_string(days, unit="D").astype(object)
            text[np.isnat(days)] = ""
            out[col] = text
    return out


def write_study(study: StudyData, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the contract CSVs of a study (``spells.csv``, ``meetings.csv``, ...).

    Files are deterministic: columns in contract order (extra columns sorted by name), rows
    sorted, ISO dates with empty for ``NaT``, no index, Unix line ends, UTF-8. Equal
    studies give byte-identical files. ``monitoring.csv`` is written only when the study has
    a monitoring table; the audit is not written.

    Parameters
    ----------
    study
        Validated study.
    directory
        Output folder (created if needed).

    Returns
    -------
    dict of str to pathlib.Path
        Table name -> file written.
    """
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "spells": study.spells,
        "meetings": study.meetings,
        "interventions": study.interventions,
        "programme": study.programme,
        "monitoring": study.monitoring,
    }
    written: dict[str, Path] = {}
    for table, df in frames.items():
        if df is None:
            continue
        path = out_dir / f"{table}.csv"
        _for_csv(df, table).to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        written[table] = path
    return written


def read_study_dir(directory: str | os.PathLike[str], **kwargs: Any) -> StudyData:
    """Read a folder written by :func:`write_study` (or laid out the same way).

    Parameters
    ----------
    directory
        Folder with ``spells.csv`` and optionally ``meetings.csv``, ``interventions.csv``,
        ``programme.csv`` and ``monitoring.csv``.
    **kwargs
        Passed to :func:`load_study` (``mapping``, ``invalid``, ``jobcentres``, ``audience``).

    Returns
    -------
    StudyData
        The validated study.
    """
    folder = Path(directory)

    def optional(table: str) -> Path | None:
        path = folder / f"{table}.csv"
        return path if path.is_file() else None

    return load_study(
        folder / "spells.csv",
        optional("meetings"),
        optional("interventions"),
        optional("programme"),
        optional("monitoring"),
        **kwargs,
    )
