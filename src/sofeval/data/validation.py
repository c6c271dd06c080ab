"""Validation of the data contract (DESIGN.md §2): dtype coercion and the rule engine.

:func:`validate_study` checks required columns and a non-empty ``spells`` table (always
errors), coerces dtypes (ids and labels to strings, dates to ``datetime64[ns]``, ``exit_state``
and ``location`` lower-cased, ``benefit_start`` defaulting to ``absence_start``, monitoring
counts to ``int64``), then runs the rules of :data:`sofeval.data.rules.RULES` in order; each
rule is one small vectorised function returning a mask of offending rows and a per-row
detail. A row flagged by one rule is not examined by later rules of its table (one message
per bad row).

``invalid="error"`` collects every broken rule into one :class:`~sofeval.errors.ContractError`;
``invalid="drop"`` drops offending rows (and meetings/interventions of dropped spells, rule
``parent_spell_dropped``) and records each in :attr:`StudyData.audit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data.contract import (
    AUDIT_COLUMNS,
    DATE_COLUMNS,
    REQUIRED_COLUMNS,
    TABLES,
    StudyData,
    empty_table,
)
from sofeval.data.rules import COUNT_COLUMNS, RULES, Rule, RuleContext, Tables
from sofeval.errors import ContractError, check_option
from sofeval.runtime import IdCache

Invalid = Literal["error", "drop"]
INVALID_OPTIONS: tuple[str, ...] = ("error", "drop")

#: Whom messages address: Python callers or command-line users.
Audience = Literal["python", "cli"]
AUDIENCES: tuple[str, ...] = ("python", "cli")

#: How many offending ids a message shows at most.
MAX_IDS_SHOWN = 10

#: String (id or label) columns per table.
# fmt: off
STRING_COLUMNS: dict[str, tuple[str, ...]] = {
    "spells": ("spell_id", "person_id", "jobcentre", "exit_state"),
    "meetings": ("spell_id", "location"), "interventions": ("spell_id", "type"),
    "programme": ("jobcentre",), "monitoring": ("jobcentre",),
}

#: String columns compared case-insensitively (lower-cased on coercion).
LOWER_COLUMNS: dict[str, tuple[str, ...]] = {"spells": ("exit_state",), "meetings": ("location",)}

# fmt: on

_MISSING_COLUMNS_RULE = "missing_columns"
_EMPTY_RULE = "empty_table"


# --- coercion ------------------------------------------------------------------------------


def as_string(values: pd.Series, lower: bool = False) -> pd.Series:
    """Convert ids or labels to stripped strings; missing and empty values become ``None``.

    Integer-valued floats (how SAS, Stata and pandas store integer ids with gaps) lose their
    decimal part: ``12.0`` becomes ``"12"``. With ``lower=True`` the text is lower-cased.

    Parameters
    ----------
    values
        Any series.
    lower
        Lower-case the text.

    Returns
    -------
    pandas.Series
        ``object`` series of ``str`` or ``None``, same index.
    """
    return _as_string(values, lower)[0]


def _as_string(
    values: pd.Series, lower: bool = False, arrow: pa.Array | None = None
) -> tuple[pd.Series, pa.Array]:
    """:func:`as_string`, also returning the clean text as an Arrow array (for hashing).

    ``arrow``: the same text as an Arrow string array, if the reader has it (saves
    converting the objects back).
    """
    s = values
    if arrow is not None and s.dtype == object and len(arrow) == len(s):
        text = arrow
    else:
        if pd.api.types.is_float_dtype(s.dtype):
            arr = s.to_numpy(dtype="float64", na_value=np.nan)
            fin = arr[np.isfinite(arr)]
            if np.all(fin == np.floor(fin)) and np.all(np.abs(fin) < 2**62):
                s = s.astype("Int64")
        text = _to_arrow(s)
    clean = pc.utf8_trim_whitespace(text)
    clean = pc.utf8_lower(clean) if lower else clean
    if s.dtype == object and text.null_count == 0 and pc.all(pc.equal(clean, text)).as_py():
        if not pc.any(pc.equal(text, "")).as_py():
            return s.copy(), text  # already clean strings: copy the object pointers only
    clean = pc.if_else(pc.equal(clean, ""), pa.scalar(None, pa.string()), clean)
    out = pd.Series(clean.to_pandas(), index=values.index, dtype=object, name=values.name)
    return out, clean


def _to_arrow(s: pd.Series) -> pa.Array:
    """Any series as an Arrow string array (missing values null)."""
    try:
        return pa.array(s, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        missing = s.isna().to_numpy()
        return pa.array(s.astype(str).to_numpy(dtype=object), type=pa.string(), mask=missing)


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse dates to ``datetime64[ns]`` (midnight), flagging values that do not parse.

    Parameters
    ----------
    values
        ``datetime64`` values, ISO-8601 strings, ``datetime.date`` objects or a mix;
        missing and empty strings mean "no date".

    Returns
    -------
    parsed : pandas.Series
        ``datetime64[ns]``; ``NaT`` for missing or unparseable values.
    unparseable : pandas.Series
        ``True`` where a non-empty value did not parse as a date.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        s = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        try:
            ns = s if s.dtype == "datetime64[ns]" else s.astype("datetime64[ns]")
            return ns.dt.normalize(), pd.Series(False, index=s.index)
        except (OverflowError, pd.errors.OutOfBoundsDatetime):  # e.g. 9999-12-31 in [us]
            values = s.astype(object)
    text = as_string(values)
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    parsed = parsed.astype("datetime64[ns]").dt.normalize()
    return parsed, text.notna() & parsed.isna()


#: Arrow text of string columns as read, by (table, column): see :func:`validate_tables`.
ArrowText = Mapping[tuple[str, str], pa.Array]


def _coerce(
    name: str, df: pd.DataFrame, ctx: RuleContext, copy: bool = True, arrow: ArrowText | None = None
) -> pd.DataFrame:
    """Copy ``df`` with contract dtypes; remember raw values and parse failures in ``ctx``.

    ``copy=False`` shares the columns that need no coercion with ``df`` (for frames
    nobody else holds); ``arrow`` holds the text of string columns as the reader had it.
    """
    out = df.copy(deep=copy)
    out.index = pd.RangeIndex(len(out))
    arrow = arrow or {}
    for col in STRING_COLUMNS[name]:
        if col in out:
            lower = col in LOWER_COLUMNS.get(name, ())
            out[col], text = _as_string(out[col], lower, arrow.get((name, col)))
            ctx.text_missing[name, col] = text.is_null().to_numpy(zero_copy_only=False)
            if col == "spell_id":
                ctx.ids[name] = text
            elif col == "person_id":
                ctx.persons = text
    bad = {}
    raw = {}
    for col in DATE_COLUMNS[name]:
        if col in out:
            parsed, unparseable = parse_dates(out[col])
            if unparseable.any():
                raw[col] = out[col]
            bad[col] = unparseable
            out[col] = parsed
    ctx.unparseable[name] = pd.DataFrame(bad, index=out.index)
    ctx.raw[name] = pd.DataFrame(raw, index=out.index)
    if name == "spells":
        if "benefit_start" not in out:
            pos = list(out.columns).index("absence_start") + 1
            out.insert(pos, "benefit_start", out["absence_start"])
        else:
            fill = out["benefit_start"].isna() & ~ctx.unparseable[name]["benefit_start"]
            out.loc[fill, "benefit_start"] = out.loc[fill, "absence_start"]
    if name == "monitoring":
        text = out["month"]
        if pd.api.types.is_datetime64_any_dtype(text.dtype):
            out["month"] = text.dt.strftime("%Y-%m")
        else:
            out["month"] = as_string(text)
        bad_count = {}
        for col in COUNT_COLUMNS:
            num = pd.to_numeric(out[col], errors="coerce").astype("float64")
            bad_count[col] = num.isna() | (num != np.floor(num))
            if bad_count[col].any():
                ctx.raw[name][col] = out[col]
            out[col] = num
        ctx.bad_count = pd.DataFrame(bad_count, index=out.index)
    return out


# --- messages and audit --------------------------------------------------------------------

#: How a message tells its reader to drop bad rows and to map register names, per audience:
#: Python callers read ``invalid="drop"``, command-line users ``--invalid drop``.
HINTS: dict[str, dict[str, str]] = {
    "python": {
        "invalid_drop": 'invalid="drop"',
        "drop": 'pass invalid="drop" to drop them with an audit (StudyData.audit)',
        "mapping": "a RegisterMapping of sofeval.data.io",
    },
    "cli": {
        "invalid_drop": "--invalid drop",
        "drop": "pass --invalid drop to drop them with an audit (data_audit.csv)",
        "mapping": "--mapping FILE.toml, laid out as sofeval's kmd_mapping.toml",
    },
}


def _row_ids(name: str, df: pd.DataFrame) -> tuple[str, pd.Series]:
    """Label of the id column and the row ids used in messages and the audit."""
    row_no = "row " + pd.Series(df.index, index=df.index).astype(str)
    if name == "monitoring":
        ids = df["jobcentre"].astype(str) + " " + df["month"].astype(str)
        ids = ids.where(df["jobcentre"].notna(), row_no)
        return "jobcentre month", ids
    col = "jobcentre" if name == "programme" else "spell_id"
    return col, df[col].astype(object).where(df[col].notna(), row_no).astype(str)


def _listed(items: Sequence[str], limit: int = MAX_IDS_SHOWN) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def format_violation(
    table: str, rule: str, label: str, ids: np.ndarray, details: np.ndarray, how: str
) -> str:
    """Message for one broken rule: what broke, how to fix it, and the offending values.

    The first line names the table, the rule and the number of rows and says how to fix
    them; each further line quotes one offending value (the rule's detail) with the ids of
    its rows and their count, for up to :data:`MAX_IDS_SHOWN` distinct details (ids shown
    likewise up to :data:`MAX_IDS_SHOWN` per line).

    Parameters
    ----------
    table, rule
        Contract table and rule name.
    label
        Name of the row id (``spell_id``, ``jobcentre``, ``jobcentre month``).
    ids, details
        Row id and detail of every offending row, in row order.
    how
        The requirement and the fix, ending in a full stop.

    Returns
    -------
    str
        The message (several lines).
    """
    n_rows = len(ids)
    plural = "row" if n_rows == 1 else "rows"
    lines = [f"{table}: rule '{rule}' broken by {n_rows} {plural}. {how}"]
    codes, uniques = pd.factorize(details)
    counts = np.bincount(codes, minlength=len(uniques))
    for g in range(min(len(uniques), MAX_IDS_SHOWN)):  # message lines, not data rows
        of = pd.unique(ids[codes == g]).tolist()
        rows = f" ({counts[g]} rows)" if counts[g] > 1 else ""
        lines.append(f"  {label} {_listed(of)}: {uniques[g]}{rows}")
    if len(uniques) > MAX_IDS_SHOWN:
        hidden = int(counts[MAX_IDS_SHOWN:].sum())
        lines.append(f"  ... ({len(uniques) - MAX_IDS_SHOWN} more, {hidden} rows)")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Violation:
    table: str
    rule: str
    ids: tuple[str, ...]
    message: str
    audit: pd.DataFrame


def _violation(
    rule: Rule, df: pd.DataFrame, mask: pd.Series, detail: pd.Series | str, audience: str
) -> _Violation:
    label, ids = _row_ids(rule.table, df.loc[mask])
    distinct = tuple(pd.unique(ids.to_numpy()).tolist())
    if isinstance(detail, str):
        detail = pd.Series(detail, index=ids.index, dtype=object)
    detail_s = detail.reindex(ids.index).astype(str)
    hints = HINTS[audience]
    fix = rule.fix.format(**hints)
    how = rule.requirement + "." if rule.drop_only else f"{rule.requirement}; {fix}, or "
    how += "" if rule.drop_only else hints["drop"] + "."
    rows, details = ids.to_numpy(dtype=object), detail_s.to_numpy(dtype=object)
    msg = format_violation(rule.table, rule.name, label, rows, details, how)
    audit = pd.DataFrame(
        {"table": rule.table, "row_id": rows, "rule": rule.name, "detail": details}
    )
    return _Violation(rule.table, rule.name, distinct, msg, audit)


# --- entry point ---------------------------------------------------------------------------


def _check_inputs(given: dict[str, pd.DataFrame | None], audience: str) -> None:
    """Every table a DataFrame with its required columns, and at least one spell."""
    for name, df in given.items():
        if df is not None and not isinstance(df, pd.DataFrame):
            msg = f"{name}: expected a DataFrame, got {type(df).__name__}; use sofeval.data.io."
            raise ContractError(msg, table=name, rule="not_a_dataframe")
    problems = []
    first: tuple[str, tuple[str, ...]] | None = None
    for name, df in given.items():
        if df is None:
            continue
        missing = tuple(c for c in REQUIRED_COLUMNS[name] if c not in df.columns)
        if missing:
            first = first or (name, missing)
            problems.append(
                f"{name}: rule '{_MISSING_COLUMNS_RULE}': required column(s) "
                f"{', '.join(missing)} not found (columns present: "
                f"{', '.join(map(str, df.columns[:20]))}). Rename the columns, or map your names "
                f"to the contract with {HINTS[audience]['mapping']}."
            )
    if first is not None:
        raise ContractError(
            "\n".join(problems), table=first[0], rule=_MISSING_COLUMNS_RULE, rows=first[1]
        )
    spells = given["spells"]
    if spells is None or len(spells) == 0:
        raise ContractError(
            f"spells: rule '{_EMPTY_RULE}' broken: the spells table has no rows. "
            "Provide at least one spell.",
            table="spells",
            rule=_EMPTY_RULE,
        )


def _run_rules(
    tables: Tables, given: dict[str, pd.DataFrame | None], ctx: RuleContext, audience: str
) -> list[_Violation]:
    """Run :data:`RULES` in order, removing flagged rows from ``tables`` as they go."""
    violations: list[_Violation] = []
    for rule in RULES:
        if (rule.drop_only and not ctx.drop) or given[rule.table] is None:
            continue
        df = tables[rule.table]
        if df.empty:
            continue
        mask, detail = rule.check(tables, ctx)
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            continue
        violations.append(_violation(rule, df, mask, detail, audience))
        # Flagged rows are excluded from later rules in both modes (one message per bad row).
        tables[rule.table] = df.loc[~mask]
    return violations


def _raise_all(violations: list[_Violation]) -> None:
    head = violations[0]
    if len(violations) == 1:
        message = head.message
    else:
        message = f"Input data break {len(violations)} contract rules:\n" + "\n".join(
            "- " + v.message for v in violations
        )
    raise ContractError(message, table=head.table, rule=head.rule, rows=head.ids)


def validate_study(
    spells: pd.DataFrame,
    meetings: pd.DataFrame | None = None,
    interventions: pd.DataFrame | None = None,
    programme: pd.DataFrame | None = None,
    monitoring: pd.DataFrame | None = None,
    *,
    invalid: Invalid = "error",
    jobcentres: Sequence[str] | None = None,
    audience: Audience = "python",
    copy: bool = True,
) -> StudyData:
    """Coerce the contract tables to their dtypes and check every contract rule.

    Parameters
    ----------
    spells, meetings, interventions, programme, monitoring
        Contract tables (DESIGN.md §2). Only ``spells`` is required; the inputs are never
        modified.
    invalid
        ``"error"`` (default): raise one :class:`~sofeval.errors.ContractError` listing every
        broken rule. ``"drop"``: drop offending rows (and meetings/interventions of dropped
        spells) and record each in :attr:`StudyData.audit`.
    jobcentres
        Known jobcentre names; when given, ``jobcentre`` values of ``spells``, ``programme``
        and ``monitoring`` outside it break rule ``unknown_jobcentre``.
    audience
        Whom the messages address: ``"python"`` (default; ``invalid="drop"``) or ``"cli"``
        (the command line; ``--invalid drop``). See :data:`HINTS`.
    copy
        ``True`` (default): the validated tables share no memory with the inputs.
        ``False``: columns that need no coercion are shared with the inputs (faster, for
        tables nobody else holds, as :func:`sofeval.data.io.load_study` reads them).

    Returns
    -------
    StudyData
        Validated tables with a fresh ``RangeIndex`` and the drop audit.

    Raises
    ------
    ContractError
        For missing required columns or an empty ``spells`` table (always), and in
        ``"error"`` mode for any broken rule. ``table``, ``rule`` and ``rows`` describe the
        first broken rule; the message lists all of them, each with its offending values.
    OptionError
        If ``invalid`` or ``audience`` is not one of its options.

    Notes
    -----
    Duplicate spell ids cannot be resolved safely, so in ``"drop"`` mode every row of a
    duplicated spell id is dropped. Rules are listed in :data:`sofeval.data.rules.RULES`.
    """
    given = dict(zip(TABLES, (spells, meetings, interventions, programme, monitoring), strict=True))
    return validate_tables(
        given, invalid=invalid, jobcentres=jobcentres, audience=audience, copy=copy
    )


def validate_tables(
    given: Mapping[str, pd.DataFrame | None],
    *,
    arrow: ArrowText | None = None,
    invalid: Invalid = "error",
    jobcentres: Sequence[str] | None = None,
    audience: Audience = "python",
    copy: bool = True,
) -> StudyData:
    """:func:`validate_study` of tables by name, reusing the Arrow text a reader has.

    Parameters
    ----------
    given
        Contract tables by name (``spells`` required; a missing name or ``None``: not given).
    arrow
        Text of string columns by ``(table, column)`` as Arrow string arrays, equal to the
        column values (``None`` where missing), as :func:`sofeval.data.io.load_study` has
        them from the CSV reader: the ids are then not converted back to Arrow for hashing.
        Columns not listed (or not of ``object`` dtype) are converted as usual.
    invalid, jobcentres, audience, copy
        As :func:`validate_study`.

    Returns
    -------
    StudyData
        As :func:`validate_study`.

    Raises
    ------
    ContractError, OptionError
        As :func:`validate_study`.
    """
    given = {name: given.get(name) for name in TABLES}
    check_option("invalid", invalid, INVALID_OPTIONS)
    check_option("audience", audience, AUDIENCES)
    _check_inputs(given, audience)
    ctx = RuleContext(
        jobcentres=None if jobcentres is None else frozenset(map(str, jobcentres)),
        drop=invalid == "drop",
    )
    tables: Tables = {}
    for name, df in given.items():
        df = df if df is not None else empty_table(name)
        tables[name] = _coerce(name, df, ctx, copy, arrow)
    violations = _run_rules(tables, given, ctx, audience)
    if violations and not ctx.drop:
        _raise_all(violations)
    audit = (
        pd.concat([v.audit for v in violations], ignore_index=True)
        if violations
        else pd.DataFrame(columns=list(AUDIT_COLUMNS), dtype=object)
    )
    if tables["spells"].empty:
        n_spells = len(given["spells"] if given["spells"] is not None else ())
        counts = audit.loc[audit["table"] == "spells", "rule"].value_counts().to_dict()
        raise ContractError(
            f"spells: rule '{_EMPTY_RULE}' broken: all {n_spells} spells were dropped "
            f"(by rule: {counts}). Fix the data; {HINTS[audience]['invalid_drop']} cannot "
            "help here.",
            table="spells",
            rule=_EMPTY_RULE,
        )
    out = {  # _coerce gave every table a fresh RangeIndex; re-number only after drops
        name: df if df.index.equals(pd.RangeIndex(len(df))) else df.reset_index(drop=True)
        for name, df in tables.items()
    }
    for col in COUNT_COLUMNS:
        out["monitoring"][col] = out["monitoring"][col].astype("int64")
    mon = out.pop("monitoring")
    given_mon = given["monitoring"] is not None
    study = StudyData(**out, monitoring=mon if given_mon else None, audit=audit)
    if {"spells", "meetings", "interventions"} <= set(ctx.ids):
        # the rules hashed the spell ids already: keep where each row's spell is
        meetings, interventions = (
            ctx.spell_positions(name, tables[name].index, tables["spells"])
            for name in ("meetings", "interventions")
        )
        _SPELL_ROWS.get(study, lambda: (meetings, interventions))
    return study


#: Spell rows of the meetings and interventions of each study made by :func:`validate_tables`.
_SPELL_ROWS: IdCache[StudyData, tuple[np.ndarray, np.ndarray]] = IdCache()


def validated_spell_rows(study: StudyData) -> tuple[np.ndarray, np.ndarray] | None:
    """Where validation found the spell of each meeting and intervention of ``study``.

    The join rules hash the spell ids of the three tables once; their positions are kept
    for the analyses that join the tables again (:func:`sofeval.analyses.table_spells`).

    Parameters
    ----------
    study
        Validated study tables.

    Returns
    -------
    tuple of numpy.ndarray or None
        ``int64`` row positions in ``study.spells`` (``-1``: no such spell), one per row of
        ``study.meetings`` and of ``study.interventions``; ``None`` when ``study`` was not
        made by :func:`validate_tables` (for example changed by ``dataclasses.replace``).
    """
    return _SPELL_ROWS.peek(study)
