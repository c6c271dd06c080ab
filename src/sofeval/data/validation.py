"""Validation of the data contract (DESIGN.md §2): dtype coercion and every rule, vectorised.

:func:`validate_study` checks required columns and a non-empty ``spells`` table (always
errors), coerces dtypes (ids and labels to strings, dates to ``datetime64[ns]``, ``exit_state``
and ``location`` lower-cased, ``benefit_start`` defaulting to ``absence_start``, monitoring
counts to ``int64``), then runs the rules of :data:`RULES` in order; each rule is one small
vectorised function returning a mask of offending rows and a per-row detail. A row flagged by
one rule is not examined by later rules of its table (one message per bad row).

``invalid="error"`` collects every broken rule into one :class:`~sofeval.errors.ContractError`;
``invalid="drop"`` drops offending rows (and meetings/interventions of dropped spells, rule
``parent_spell_dropped``) and records each in :attr:`StudyData.audit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data.contract import (
    AUDIT_COLUMNS,
    DATE_COLUMNS,
    EXIT_STATES,
    MEETING_LOCATIONS,
    REQUIRED_COLUMNS,
    TABLES,
    StudyData,
    empty_table,
)
from sofeval.errors import ContractError, check_option

Invalid = Literal["error", "drop"]
INVALID_OPTIONS: tuple[str, ...] = ("error", "drop")

#: How many offending ids a message shows at most.
MAX_IDS_SHOWN = 10

#: Regular expression a monitoring ``month`` must match.
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

#: Count columns of ``monitoring``.
COUNT_COLUMNS: tuple[str, ...] = ("first_meetings", "workplace_meetings")

#: String (id or label) columns per table.
# fmt: off
STRING_COLUMNS: dict[str, tuple[str, ...]] = {
    "spells": ("spell_id", "person_id", "jobcentre", "exit_state"),
    "meetings": ("spell_id", "location"), "interventions": ("spell_id", "type"),
    "programme": ("jobcentre",), "monitoring": ("jobcentre",),
}

#: String columns compared case-insensitively (lower-cased on coercion).
LOWER_COLUMNS: dict[str, tuple[str, ...]] = {"spells": ("exit_state",), "meetings": ("location",)}

#: Columns that must not be missing (dates among them must also parse).
NOT_MISSING: dict[str, tuple[str, ...]] = {
    "spells": ("spell_id", "person_id", "jobcentre", "absence_start"),
    "meetings": ("spell_id", "date"), "interventions": ("spell_id", "start"),
    "programme": ("jobcentre", "start", "end"), "monitoring": ("jobcentre",),
}
# fmt: on

_MISSING_COLUMNS_RULE = "missing_columns"
_EMPTY_RULE = "empty_table"

Flags = tuple[pd.Series, "pd.Series | str"]
_Check = Callable[[dict[str, pd.DataFrame], "_Context"], Flags]


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


def _as_string(values: pd.Series, lower: bool = False) -> tuple[pd.Series, pa.Array]:
    """:func:`as_string`, also returning the clean text as an Arrow array (for hashing)."""
    s = values
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        fin = arr[np.isfinite(arr)]
        if np.all(fin == np.floor(fin)) and np.all(np.abs(fin) < 2**62):
            s = s.astype("Int64")
    try:
        text = pa.array(s, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        missing = s.isna().to_numpy()
        text = pa.array(s.astype(str).to_numpy(dtype=object), type=pa.string(), mask=missing)
    clean = pc.utf8_trim_whitespace(text)
    clean = pc.utf8_lower(clean) if lower else clean
    if s.dtype == object and text.null_count == 0 and pc.all(pc.equal(clean, text)).as_py():
        if not pc.any(pc.equal(text, "")).as_py():
            return s.copy(), text  # already clean strings: copy the object pointers only
    clean = pc.if_else(pc.equal(clean, ""), pa.scalar(None, pa.string()), clean)
    out = pd.Series(clean.to_pandas(), index=values.index, dtype=object, name=values.name)
    return out, clean


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


@dataclass
class _Context:
    """State shared by the rules of one validation run."""

    jobcentres: frozenset[str] | None
    raw: dict[str, pd.DataFrame] = field(default_factory=dict)
    unparseable: dict[str, pd.DataFrame] = field(default_factory=dict)
    bad_count: pd.Series | None = None
    drop: bool = False
    #: Clean ``spell_id`` text of each table's rows as coerced (before any rule drops rows).
    ids: dict[str, pa.Array] = field(default_factory=dict)
    _codes: dict[str, np.ndarray] | None = None
    _n_codes: int = 0
    _in_spells: np.ndarray | None = None
    #: Clean ``person_id`` text of the spells as coerced.
    persons: pa.Array | None = None

    def _encoded(self) -> dict[str, np.ndarray]:
        """Spell ids of every table as codes of one Arrow dictionary (computed once)."""
        if self._codes is None:
            names = [t for t in ("spells", "meetings", "interventions") if t in self.ids]
            enc = pc.dictionary_encode(pa.chunked_array([self.ids[t] for t in names], pa.string()))
            codes = np.concatenate(
                [
                    np.asarray(c.indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
                    for c in enc.chunks
                ]
                or [np.zeros(0, np.int64)]
            )
            bounds = np.cumsum([0] + [len(self.ids[t]) for t in names])
            self._codes = {
                t: codes[a:b] for t, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)
            }
            self._n_codes = 1 + int(codes.max(initial=-1))
        return self._codes

    def codes(self, name: str, index: pd.Index) -> np.ndarray:
        """``spell_id`` of the rows ``index`` of table ``name`` as integer codes, -1 if missing.

        One Arrow dictionary encoding covers the spell ids of ``spells``, ``meetings`` and
        ``interventions``, so equal ids have equal codes across the tables and the ids are
        hashed once for every rule that compares them.
        """
        return self._encoded()[name][index.to_numpy()]

    def n_codes(self) -> int:
        """One more than the largest code."""
        self._encoded()
        return self._n_codes

    def spell_positions(self, name: str, index: pd.Index, spells: pd.DataFrame) -> np.ndarray:
        """Row position in the current ``spells`` of each row ``index`` of ``name``; -1: none."""
        where = np.full(self.n_codes() + 1, -1, dtype=np.int64)  # last slot: missing ids
        where[self.codes("spells", spells.index)] = np.arange(len(spells))
        where[-1] = -1
        return where[self.codes(name, index)]

    def in_original_spells(self, name: str, index: pd.Index) -> np.ndarray:
        """Whether the ``spell_id`` of each row ``index`` of ``name`` is in the input spells."""
        if self._in_spells is None:  # per code; the input spells do not change
            known = np.zeros(self.n_codes() + 1, dtype=bool)  # last slot: missing ids
            known[self._encoded()["spells"]] = True
            known[-1] = False
            self._in_spells = known
        return self._in_spells[self.codes(name, index)]


def _coerce(name: str, df: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    """Copy ``df`` with contract dtypes; remember raw values and parse failures in ``ctx``."""
    out = df.copy()
    out.index = pd.RangeIndex(len(out))
    for col in STRING_COLUMNS[name]:
        if col in out:
            out[col], text = _as_string(out[col], lower=col in LOWER_COLUMNS.get(name, ()))
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
        bad_count = pd.Series(False, index=out.index)
        for col in COUNT_COLUMNS:
            num = pd.to_numeric(out[col], errors="coerce").astype("float64")
            bad_count |= num.isna() | (num != np.floor(num))
            out[col] = num
        ctx.bad_count = bad_count
    return out


# --- rules ---------------------------------------------------------------------------------

Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Rule:
    """One contract rule: ``check(tables, ctx) -> (mask, detail)`` over rows of ``table``.

    ``requirement`` and ``fix`` make the message; ``drop_only`` rules (bookkeeping such as
    ``parent_spell_dropped``) run only with ``invalid="drop"``.
    """

    table: str
    name: str
    check: _Check
    requirement: str
    fix: str
    drop_only: bool = False


def _quoted(values: pd.Series) -> pd.Series:
    return values.astype(str).map(repr)


def _unparseable(name: str) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        df = tables[name]
        bad = ctx.unparseable[name].reindex(df.index, fill_value=False)
        if not bad.to_numpy().any():
            return pd.Series(False, index=df.index), ""
        mask = bad.any(axis=1)
        sub = bad.loc[mask]
        detail = pd.Series("", index=sub.index, dtype=object)
        for col in sub.columns[sub.any().to_numpy()]:
            raw = ctx.raw[name][col].reindex(sub.index)
            detail += (col + "=" + _quoted(raw) + " ").where(sub[col], "")
        return mask, "not an ISO date: " + detail.str.strip()

    return check


def _missing(name: str) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        df = tables[name]
        bad = ctx.unparseable[name].reindex(df.index, fill_value=False)
        isna = df[[c for c in NOT_MISSING[name] if c in df]].isna()
        for col in bad.columns.intersection(isna.columns):
            isna[col] &= ~bad[col]
        mask = isna.any(axis=1)
        sub = isna.loc[mask]
        detail = pd.Series("missing", index=sub.index, dtype=object)
        for col in sub.columns:
            detail += pd.Series(np.where(sub[col], " " + col, ""), index=sub.index, dtype=object)
        return mask, detail

    return check


def _date_order(name: str, pairs: Sequence[tuple[str, str]]) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        df = tables[name]
        bads = [(f"{late} < {early}", (df[late] < df[early]).to_numpy()) for late, early in pairs]
        mask = pd.Series(np.logical_or.reduce([b for _, b in bads]), index=df.index)
        detail = pd.Series("", index=df.index[mask.to_numpy(dtype=bool)]).astype(object)
        for text, bad in bads:
            detail += np.where(bad[mask.to_numpy()], text + "; ", "")
        return mask, detail.str.rstrip("; ")

    return check


def _check_overlap(tables: Tables, ctx: _Context) -> Flags:
    """Flag every spell in a group of a person's mutually overlapping spells.

    Spells of a person are sorted by ``absence_start``; a new non-overlapping block starts when
    a spell starts after the latest end seen so far (ongoing spells are open-ended). Every spell
    in a block of two or more overlaps at least one other spell.
    """
    df = tables["spells"]
    n = len(df)
    assert ctx.persons is not None  # set by _coerce
    enc = pc.dictionary_encode(ctx.persons).indices.fill_null(-1)
    codes = np.asarray(enc.to_numpy(zero_copy_only=False), np.int64)[df.index.to_numpy()]
    start = df["absence_start"].to_numpy("datetime64[ns]").view("i8")
    end = df["benefit_end"].to_numpy("datetime64[ns]").view("i8").copy()
    end[df["benefit_end"].isna().to_numpy()] = np.iinfo(np.int64).max
    order = np.lexsort((start, codes))
    c, st, en = codes[order], start[order], end[order]
    running = pd.Series(en).groupby(c).cummax().to_numpy()
    prev = np.empty_like(running)
    prev[1:] = running[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    block = np.cumsum(first | (st > prev))
    flagged = np.zeros(n, dtype=bool)
    flagged[order] = np.bincount(block)[block] > 1
    person = df["person_id"].to_numpy()[flagged].astype(str)
    mask = pd.Series(flagged, index=df.index, dtype=bool)
    return mask, "overlaps another spell of person_id " + pd.Series(person, index=df.index[flagged])


def _value_check(
    name: str, col: str, allowed: Callable[[_Context], Sequence[str] | frozenset[str] | None]
) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        values = tables[name][col]
        ok = allowed(ctx)
        if ok is None:
            return pd.Series(False, index=values.index), ""
        mask = ~values.isin(ok)
        return mask, col + " " + _quoted(values.loc[mask])

    return check


def _parent_dropped(name: str) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        index = tables[name].index
        kept = ctx.spell_positions(name, index, tables["spells"]) >= 0
        mask = ctx.in_original_spells(name, index) & ~kept
        return pd.Series(mask, index=index), "its spell was dropped"

    return check


def _unknown_spell(name: str) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        index = tables[name].index
        known = ctx.in_original_spells(name, index)
        return pd.Series(~known, index=index), "spell_id not in spells"

    return check


def _outside_spell(name: str, col: str) -> _Check:
    def check(tables: Tables, ctx: _Context) -> Flags:
        df = tables[name]
        spells = tables["spells"]  # duplicated ids were removed by an earlier rule
        pos_np = ctx.spell_positions(name, df.index, spells)
        known = pos_np >= 0
        if len(spells) == 0:
            return pd.Series(False, index=df.index), ""
        pos_np[~known] = 0
        date = df[col].to_numpy("datetime64[ns]")
        first = spells["absence_start"].to_numpy("datetime64[ns]")[pos_np]
        last = spells["benefit_end"].to_numpy("datetime64[ns]")[pos_np]
        before = known & (date < first)
        after = known & (date > last)
        mask = pd.Series(before | after, index=df.index)
        detail = np.where(before[mask], f"{col} before absence_start", f"{col} after benefit_end")
        return mask, pd.Series(detail, index=df.index[mask.to_numpy()], dtype=object)

    return check


_check_exit_state = _value_check("spells", "exit_state", lambda ctx: EXIT_STATES)
_check_location = _value_check("meetings", "location", lambda ctx: MEETING_LOCATIONS)


def _jc(name: str) -> _Check:
    return _value_check(name, "jobcentre", lambda ctx: ctx.jobcentres)


def _check_month(tables: Tables, ctx: _Context) -> Flags:
    month = tables["monitoring"]["month"]
    mask = ~(month.astype(str).str.fullmatch(MONTH_PATTERN) & month.notna())
    return mask, "month " + _quoted(month.loc[mask]) + " is not YYYY-MM"


def _check_bad_count(tables: Tables, ctx: _Context) -> Flags:
    df = tables["monitoring"]
    bad = ctx.bad_count if ctx.bad_count is not None else pd.Series(False, index=df.index)
    return bad.reindex(df.index, fill_value=False), "count missing or not a whole number"


# fmt: off
_FIX_DATES = "correct the dates"
_FIX_JC = "correct the names or extend the jobcentre list"
_ORDER = "An end date may not precede its start date"
_IN_LIST = "Each jobcentre must be one of the jobcentres given"
_SPELL_ORDER = [("benefit_start", "absence_start"), ("benefit_end", "absence_start"),
                ("benefit_end", "benefit_start")]


def _simple(name: str, fn: Callable[[pd.DataFrame], pd.Series], detail: str) -> _Check:
    return lambda tables, ctx: (fn(tables[name]), detail)


def _check_duplicate_spell(tables: Tables, ctx: _Context) -> Flags:
    index = tables["spells"].index
    codes = ctx.codes("spells", index)
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=ctx.n_codes())
    mask = present & (counts[np.where(present, codes, 0)] > 1)
    return pd.Series(mask, index=index), "spell_id occurs more than once"


_check_programme_duplicate = _simple(
    "programme", lambda d: d["jobcentre"].duplicated(keep=False), "more than one window")
_check_negative = _simple(
    "monitoring", lambda d: (d[list(COUNT_COLUMNS)] < 0).any(axis=1), "negative count")
_check_workplace = _simple("monitoring", lambda d: d["workplace_meetings"]
                           > d["first_meetings"], "workplace_meetings > first_meetings")
_check_monitoring_duplicate = _simple(
    "monitoring", lambda d: d.duplicated(["jobcentre", "month"], keep=False),
    "jobcentre-month occurs more than once")


def _child_rules(t: str, col: str) -> tuple[Rule, ...]:
    return (
        Rule(t, "parent_spell_dropped", _parent_dropped(t),
             "Rows of a dropped spell are dropped with it", "fix the spell", drop_only=True),
        Rule(t, "unknown_spell", _unknown_spell(t), "Each spell_id must refer to a row of "
             "spells", "add the spells or remove the rows"),
        Rule(t, "outside_spell", _outside_spell(t, col), f"The {col} must lie between the "
             "spell's absence_start and benefit_end", "correct the dates or the spell_id"),
    )


#: The rules, in the order they run.
RULES: tuple[Rule, ...] = (
    # first: a row dropped for another reason must not hide that its id is ambiguous
    Rule("spells", "duplicate_spell_id", _check_duplicate_spell,
         "Each spell_id must be unique", "remove or renumber the duplicates"),
    *(Rule(t, "unparseable_date", _unparseable(t), "Dates must be ISO dates (YYYY-MM-DD)",
           "correct the dates (empty means ongoing)") for t in TABLES),
    *(Rule(t, "missing_value", _missing(t), f"Columns {', '.join(NOT_MISSING[t])} must not "
           "be empty", "fill in the values or remove the rows") for t in TABLES),
    Rule("spells", "end_before_start", _date_order("spells", _SPELL_ORDER),
         "absence_start <= benefit_start <= benefit_end must hold", _FIX_DATES),
    Rule("spells", "overlapping_spells", _check_overlap, "Spells of one person may not "
         "overlap (an ongoing spell is open-ended)", "merge or correct the overlapping spells"),
    Rule("spells", "unknown_exit_state", _check_exit_state,
         f"exit_state must be one of {', '.join(EXIT_STATES)}",
         "recode the exit states (register codes: see sofeval.data.io.RegisterMapping)"),
    Rule("spells", "unknown_jobcentre", _jc("spells"), _IN_LIST, _FIX_JC),
    *_child_rules("meetings", "date"),
    Rule("meetings", "unknown_location", _check_location,
         f"location must be one of {', '.join(MEETING_LOCATIONS)}", "recode the locations"),
    *_child_rules("interventions", "start"),
    Rule("interventions", "end_before_start", _date_order("interventions", [("end", "start")]),
         _ORDER, _FIX_DATES),
    Rule("programme", "end_before_start", _date_order("programme", [("end", "start")]),
         _ORDER, _FIX_DATES),
    Rule("programme", "duplicate_jobcentre", _check_programme_duplicate,
         "Each programme jobcentre has one participation window", "keep one window each"),
    Rule("programme", "unknown_jobcentre", _jc("programme"), _IN_LIST, _FIX_JC),
    Rule("monitoring", "bad_month", _check_month, "month must be YYYY-MM", "reformat the months"),
    Rule("monitoring", "bad_count", _check_bad_count, "Counts must be whole numbers",
         "fill in the counts"),
    Rule("monitoring", "negative_count", _check_negative, "Counts may not be negative",
         "correct the counts"),
    Rule("monitoring", "workplace_exceeds_first", _check_workplace, "workplace_meetings may "
         "not exceed first_meetings (shares lie in [0, 1])", "correct the counts"),
    Rule("monitoring", "duplicate_jobcentre_month", _check_monitoring_duplicate,
         "Each jobcentre-month must occur once", "aggregate or remove the duplicates"),
    Rule("monitoring", "unknown_jobcentre", _jc("monitoring"), _IN_LIST, _FIX_JC),
)
# fmt: on


# --- messages and audit --------------------------------------------------------------------


def _row_ids(name: str, df: pd.DataFrame) -> tuple[str, pd.Series]:
    """Label of the id column and the row ids used in messages and the audit."""
    row_no = "row " + pd.Series(df.index, index=df.index).astype(str)
    if name == "monitoring":
        ids = df["jobcentre"].astype(str) + " " + df["month"].astype(str)
        ids = ids.where(df["jobcentre"].notna(), row_no)
        return "jobcentre month", ids
    col = "jobcentre" if name == "programme" else "spell_id"
    return col, df[col].astype(object).where(df[col].notna(), row_no).astype(str)


def _format(table: str, rule: str, label: str, ids: Sequence[str], n_rows: int, how: str) -> str:
    """Message for one broken rule: table, rule, count, up to ten ids, how to fix."""
    shown = ", ".join(str(i) for i in ids[:MAX_IDS_SHOWN])
    if len(ids) > MAX_IDS_SHOWN:
        shown += f", ... ({len(ids) - MAX_IDS_SHOWN} more)"
    plural = "row" if n_rows == 1 else "rows"
    return f"{table}: rule '{rule}' broken by {n_rows} {plural} ({label}: {shown}). {how}"


@dataclass(frozen=True)
class _Violation:
    table: str
    rule: str
    ids: tuple[str, ...]
    message: str
    audit: pd.DataFrame


def _violation(
    rule: Rule, df: pd.DataFrame, mask: pd.Series, detail: pd.Series | str
) -> _Violation:
    label, ids = _row_ids(rule.table, df.loc[mask])
    distinct = tuple(pd.unique(ids.to_numpy()).tolist())
    if isinstance(detail, str):
        detail = pd.Series(detail, index=ids.index, dtype=object)
    detail_s = detail.reindex(ids.index).astype(str)
    how = f'{rule.requirement}; {rule.fix}, or pass invalid="drop" to drop them with an audit.'
    how = rule.requirement + "." if rule.drop_only else how
    msg = _format(rule.table, rule.name, label, distinct, int(mask.sum()), how)
    rows, details = ids.to_numpy(dtype=object), detail_s.to_numpy(dtype=object)
    audit = pd.DataFrame(
        {"table": rule.table, "row_id": rows, "rule": rule.name, "detail": details}
    )
    return _Violation(rule.table, rule.name, distinct, msg, audit)


# --- entry point ---------------------------------------------------------------------------


def _check_columns(tables: dict[str, pd.DataFrame | None]) -> None:
    problems = []
    first: tuple[str, tuple[str, ...]] | None = None
    for name, df in tables.items():
        if df is None:
            continue
        missing = tuple(c for c in REQUIRED_COLUMNS[name] if c not in df.columns)
        if missing:
            first = first or (name, missing)
            problems.append(
                f"{name}: rule '{_MISSING_COLUMNS_RULE}': required column(s) "
                f"{', '.join(missing)} not found (columns present: "
                f"{', '.join(map(str, df.columns[:20]))}). Rename the columns or pass a "
                "RegisterMapping (sofeval.data.io) that maps your names to the contract."
            )
    if first is not None:
        raise ContractError(
            "\n".join(problems), table=first[0], rule=_MISSING_COLUMNS_RULE, rows=first[1]
        )


def validate_study(
    spells: pd.DataFrame,
    meetings: pd.DataFrame | None = None,
    interventions: pd.DataFrame | None = None,
    programme: pd.DataFrame | None = None,
    monitoring: pd.DataFrame | None = None,
    *,
    invalid: Invalid = "error",
    jobcentres: Sequence[str] | None = None,
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

    Returns
    -------
    StudyData
        Validated tables with a fresh ``RangeIndex`` and the drop audit.

    Raises
    ------
    ContractError
        For missing required columns or an empty ``spells`` table (always), and in
        ``"error"`` mode for any broken rule. ``table``, ``rule`` and ``rows`` describe the
        first broken rule; the message lists all of them.
    OptionError
        If ``invalid`` is not ``"error"`` or ``"drop"``.

    Notes
    -----
    Duplicate spell ids cannot be resolved safely, so in ``"drop"`` mode every row of a
    duplicated spell id is dropped. Rules are listed in :data:`RULES`.
    """
    check_option("invalid", invalid, INVALID_OPTIONS)
    given = dict(zip(TABLES, (spells, meetings, interventions, programme, monitoring), strict=True))
    for name, df in given.items():
        if df is not None and not isinstance(df, pd.DataFrame):
            msg = f"{name}: expected a DataFrame, got {type(df).__name__}; use sofeval.data.io."
            raise ContractError(msg, table=name, rule="not_a_dataframe")
    _check_columns(given)
    if len(spells) == 0:
        raise ContractError(
            f"spells: rule '{_EMPTY_RULE}' broken: the spells table has no rows. "
            "Provide at least one spell.",
            table="spells",
            rule=_EMPTY_RULE,
        )
    ctx = _Context(
        jobcentres=None if jobcentres is None else frozenset(map(str, jobcentres)),
        drop=invalid == "drop",
    )
    tables: Tables = {}
    for name, df in given.items():
        tables[name] = _coerce(name, df if df is not None else empty_table(name), ctx)

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
        violations.append(_violation(rule, df, mask, detail))
        # Flagged rows are excluded from later rules in both modes (one message per bad row).
        tables[rule.table] = df.loc[~mask]

    if violations and not ctx.drop:
        head = violations[0]
        if len(violations) == 1:
            message = head.message
        else:
            message = f"Input data break {len(violations)} contract rules:\n" + "\n".join(
                "- " + v.message for v in violations
            )
        raise ContractError(message, table=head.table, rule=head.rule, rows=head.ids)

    audit = (
        pd.concat([v.audit for v in violations], ignore_index=True)
        if violations
        else pd.DataFrame(columns=list(AUDIT_COLUMNS), dtype=object)
    )
    if tables["spells"].empty:
        counts = audit.loc[audit["table"] == "spells", "rule"].value_counts().to_dict()
        raise ContractError(
            f"spells: rule '{_EMPTY_RULE}' broken: all {len(spells)} spells were dropped "
            f'(by rule: {counts}). Fix the data; invalid="drop" cannot help here.',
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
    return StudyData(**out, monitoring=mon if monitoring is not None else None, audit=audit)
