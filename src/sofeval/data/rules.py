"""The rules of the data contract (DESIGN.md §2), each a small vectorised check.

A rule is a :class:`Rule`: a table, a name, a check ``check(tables, ctx) -> (mask, detail)``
returning a boolean mask of the offending rows of that table and a per-row detail, the
requirement it states and how to fix a breach. :data:`RULES` lists them in the order
:func:`sofeval.data.validation.validate_study` runs them; :class:`RuleContext` holds what the
rules of one run share (raw values, parse failures, spell ids encoded once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data.contract import EXIT_STATES, MEETING_LOCATIONS, TABLES

#: Regular expression a monitoring ``month`` must match.
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

#: Count columns of ``monitoring``.
COUNT_COLUMNS: tuple[str, ...] = ("first_meetings", "workplace_meetings")


# fmt: off
#: Columns that must not be missing (dates among them must also parse).
NOT_MISSING: dict[str, tuple[str, ...]] = {
    "spells": ("spell_id", "person_id", "jobcentre", "absence_start"),
    "meetings": ("spell_id", "date"), "interventions": ("spell_id", "start"),
    "programme": ("jobcentre", "start", "end"), "monitoring": ("jobcentre",),
}
# fmt: on


#: Contract tables by name.
Tables = dict[str, pd.DataFrame]

#: What a rule check returns: the mask of offending rows and their detail (per row or one text).
Flags = tuple[pd.Series, "pd.Series | str"]


@dataclass
class RuleContext:
    """State shared by the rules of one validation run (filled by the coercion)."""

    jobcentres: frozenset[str] | None
    raw: dict[str, pd.DataFrame] = field(default_factory=dict)
    unparseable: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Per monitoring row and count column: missing or not a whole number.
    bad_count: pd.DataFrame | None = None
    drop: bool = False
    #: Clean ``spell_id`` text of each table's rows as coerced (before any rule drops rows).
    ids: dict[str, pa.Array] = field(default_factory=dict)
    _codes: dict[str, np.ndarray] | None = None
    _n_codes: int = 0
    _in_spells: np.ndarray | None = None
    #: Clean ``person_id`` text of the spells as coerced.
    persons: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))
    #: Per table and text column: missing (or empty) before any rule dropped rows.
    text_missing: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def missing(self, name: str, col: str, df: pd.DataFrame) -> np.ndarray:
        """Whether column ``col`` of the rows ``df`` (of table ``name``) is missing.

        Text columns use the mask recorded on coercion (no pass over their objects).
        """
        known = self.text_missing.get((name, col))
        if known is None:
            return df[col].isna().to_numpy()
        return known[df.index.to_numpy()]

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


#: A rule check: ``check(tables, ctx) -> (mask, detail)``.
Check = Callable[[Tables, RuleContext], Flags]


@dataclass(frozen=True)
class Rule:
    """One contract rule: ``check(tables, ctx) -> (mask, detail)`` over rows of ``table``.

    ``requirement`` and ``fix`` make the message; ``drop_only`` rules (bookkeeping such as
    ``parent_spell_dropped``) run only with ``invalid="drop"``.
    """

    table: str
    name: str
    check: Check
    requirement: str
    fix: str
    drop_only: bool = False


# --- details: the offending values, quoted --------------------------------------------------


def quoted(values: pd.Series) -> pd.Series:
    """Each value as it appears in a message: ``'text'`` quoted, ``empty`` when missing.

    Parameters
    ----------
    values
        Any series.

    Returns
    -------
    pandas.Series
        ``object`` series of message text, same index.
    """
    text = values.astype(object).map(lambda v: repr(str(v)))  # flagged rows only: small
    return text.where(values.notna(), "empty").astype(object)


def day(values: pd.Series, missing: str = "empty") -> pd.Series:
    """Dates as ``YYYY-MM-DD`` text for messages; ``missing`` for ``NaT``.

    Parameters
    ----------
    values
        ``datetime64`` series.
    missing
        Text of a missing date (``"ongoing"`` for an end date).

    Returns
    -------
    pandas.Series
        ``object`` series, same index.
    """
    text = values.dt.strftime("%Y-%m-%d").astype(object)
    return text.where(values.notna(), missing)


def _number(values: pd.Series) -> pd.Series:
    """Counts as text (``12``, ``2.5``) for messages."""
    return values.map(lambda v: f"{v:g}").astype(object)  # flagged rows only: small


def _joined(parts: Sequence[tuple[np.ndarray, pd.Series]], index: pd.Index) -> pd.Series:
    """Join the texts ``text`` of each part where its mask holds, with ``"; "``."""
    out = pd.Series("", index=index, dtype=object)
    for mask, text in parts:
        piece = text.reindex(index).astype(object)
        sep = pd.Series(np.where(out.to_numpy() == "", "", "; "), index=index, dtype=object)
        out = out + (sep + piece).where(mask, "")
    return out


def _none(index: pd.Index) -> Flags:
    return pd.Series(False, index=index), ""


# --- the checks -----------------------------------------------------------------------------


def _unparseable(name: str) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        df = tables[name]
        bad = ctx.unparseable[name].reindex(df.index, fill_value=False)
        if not bad.to_numpy().any():
            return _none(df.index)
        mask = bad.any(axis=1)
        sub = bad.loc[mask]
        parts = [
            (sub[col].to_numpy(), col + " " + quoted(ctx.raw[name][col].reindex(sub.index)))
            for col in sub.columns[sub.any().to_numpy()]
        ]
        return mask, _joined(parts, sub.index) + " is not a date (YYYY-MM-DD)"

    return check


def _missing(name: str) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        df = tables[name]
        bad = ctx.unparseable[name].reindex(df.index, fill_value=False)
        cols = [c for c in NOT_MISSING[name] if c in df]
        isna = pd.DataFrame({c: ctx.missing(name, c, df) for c in cols}, index=df.index)
        for col in bad.columns.intersection(isna.columns):
            isna[col] &= ~bad[col]
        mask = isna.any(axis=1)
        sub = isna.loc[mask]
        detail = pd.Series("missing", index=sub.index, dtype=object)
        for col in sub.columns:
            detail += pd.Series(np.where(sub[col], " " + col, ""), index=sub.index, dtype=object)
        return mask, detail

    return check


def _date_order(name: str, pairs: Sequence[tuple[str, str]]) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        df = tables[name]
        bads = [(late, early, (df[late] < df[early]).to_numpy()) for late, early in pairs]
        flagged = np.logical_or.reduce([b for *_, b in bads])
        sub = df.loc[flagged]
        parts = [
            (b[flagged], late + " " + day(sub[late]) + " < " + early + " " + day(sub[early]))
            for late, early, b in bads
        ]
        return pd.Series(flagged, index=df.index), _joined(parts, sub.index)

    return check


def _folded(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``group * span + values - low``: ordered by group, then value (``group >= 0``).

    Day numbers span less than 2**18 days (the ``datetime64[ns]`` range), so the result fits
    ``int64`` for any number of groups below 2**44. Where ``group`` ascends, the running
    maximum of the result minus ``group * span`` is the running maximum of ``values`` within
    each group.
    """
    low = int(values.min(initial=0))
    span = int(values.max(initial=0)) - low + 1
    return group * span + (values - low)


def _check_overlap(tables: Tables, ctx: RuleContext) -> Flags:
    """Flag every spell in a group of a person's mutually overlapping spells.

    Spells of a person are sorted by ``absence_start``; a new non-overlapping block starts when
    a spell starts after the latest end seen so far (ongoing spells are open-ended). Every spell
    in a block of two or more overlaps at least one other spell; the detail names the person
    and one such spell: the earlier spell of the block reaching furthest, or for the first
    spell of a block the next one.
    """
    df = tables["spells"]
    n = len(df)
    person = df["person_id"]  # never missing here: rule missing_value ran before
    enc = pc.dictionary_encode(ctx.persons).indices.fill_null(-1)
    codes = np.asarray(enc.to_numpy(zero_copy_only=False), np.int64)[df.index.to_numpy()]
    # day numbers (coerced dates are midnights): small enough to fold with the person codes
    start = df["absence_start"].to_numpy("datetime64[D]").astype(np.int64)
    end = df["benefit_end"].to_numpy("datetime64[D]").astype(np.int64)
    end[df["benefit_end"].isna().to_numpy()] = max(start.max(), end.max()) + 1  # open-ended
    c0 = codes - codes.min()
    order = np.argsort(_folded(c0, start), kind="stable")  # by person, then start
    c, st, en = codes[order], start[order], end[order]
    running = _folded(c0[order], en)
    running = np.maximum.accumulate(running) - (running - en)  # the maximum per person
    prev = np.empty_like(running)
    prev[1:] = running[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    new_block = first | (st > prev)
    block = np.cumsum(new_block)
    in_group = np.bincount(block)[block] > 1
    pos = np.arange(n)
    reach = np.maximum.accumulate(np.where(en == running, pos, -1))  # spell reaching furthest
    partner = np.empty(n, dtype=np.int64)
    partner[1:] = reach[:-1]
    partner[new_block] = np.minimum(pos[new_block] + 1, n - 1)
    rows, other = order[in_group], order[partner[in_group]]
    flagged = np.zeros(n, dtype=bool)
    flagged[rows] = True

    def at(values: pd.Series, where: np.ndarray) -> pd.Series:  # the flagged rows only
        return pd.Series(values.iloc[where].to_numpy(), index=df.index[rows])

    def span(where: np.ndarray) -> pd.Series:
        first, last = at(df["absence_start"], where), at(df["benefit_end"], where)
        return day(first) + " to " + day(last, "ongoing")

    detail = (
        "person_id " + quoted(at(person, rows)) + ": " + span(rows)
        + " overlaps spell_id " + quoted(at(df["spell_id"], other)) + " (" + span(other) + ")"
    )  # fmt: skip
    return pd.Series(flagged, index=df.index, dtype=bool), detail


def _value_check(
    name: str, col: str, allowed: Callable[[RuleContext], Sequence[str] | frozenset[str] | None]
) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        values = tables[name][col]
        ok = allowed(ctx)
        if ok is None:
            return _none(values.index)
        mask = ~values.isin(ok)
        return mask, col + " " + quoted(values.loc[mask])

    return check


def _check_ongoing(tables: Tables, ctx: RuleContext) -> Flags:
    df = tables["spells"]
    mask = df["benefit_end"].isna() & (df["exit_state"] != "censored")
    state = quoted(df.loc[mask, "exit_state"])
    return mask, "no benefit_end (ongoing) but exit_state " + state


def _parent_dropped(name: str) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        index = tables[name].index
        kept = ctx.spell_positions(name, index, tables["spells"]) >= 0
        mask = ctx.in_original_spells(name, index) & ~kept
        return pd.Series(mask, index=index), "its spell was dropped"

    return check


def _unknown_spell(name: str) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        df = tables[name]
        mask = pd.Series(~ctx.in_original_spells(name, df.index), index=df.index)
        return mask, "spell_id " + quoted(df.loc[mask, "spell_id"]) + " is not in spells"

    return check


def _outside_spell(name: str, col: str) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        df = tables[name]
        spells = tables["spells"]  # duplicated ids were removed by an earlier rule
        pos_np = ctx.spell_positions(name, df.index, spells)
        known = pos_np >= 0
        if len(spells) == 0:
            return _none(df.index)
        pos_np[~known] = 0
        date = df[col].to_numpy("datetime64[ns]")
        first = spells["absence_start"].to_numpy("datetime64[ns]")[pos_np]
        last = spells["benefit_end"].to_numpy("datetime64[ns]")[pos_np]
        before = known & (date < first)
        after = known & (date > last)
        flagged = before | after
        index = df.index[flagged]
        bound = pd.Series(np.where(before, first, last)[flagged], index=index)
        which = np.where(before[flagged], " before absence_start ", " after benefit_end ")
        detail = col + " " + day(df.loc[flagged, col]) + which + day(bound)
        return pd.Series(flagged, index=df.index), detail

    return check


_check_exit_state = _value_check("spells", "exit_state", lambda ctx: EXIT_STATES)
_check_location = _value_check("meetings", "location", lambda ctx: MEETING_LOCATIONS)


def _jc(name: str) -> Check:
    return _value_check(name, "jobcentre", lambda ctx: ctx.jobcentres)


def _check_month(tables: Tables, ctx: RuleContext) -> Flags:
    month = tables["monitoring"]["month"]
    mask = ~(month.astype(str).str.fullmatch(MONTH_PATTERN) & month.notna())
    return mask, "month " + quoted(month.loc[mask]) + " is not YYYY-MM"


def _check_bad_count(tables: Tables, ctx: RuleContext) -> Flags:
    df = tables["monitoring"]
    if ctx.bad_count is None:
        return _none(df.index)
    bad = ctx.bad_count.reindex(df.index, fill_value=False)
    mask = bad.any(axis=1)
    sub = bad.loc[mask]
    parts = [
        (sub[col].to_numpy(), col + " " + quoted(ctx.raw["monitoring"][col].reindex(sub.index)))
        for col in COUNT_COLUMNS
        if sub[col].any()
    ]
    return mask, _joined(parts, sub.index) + " is not a whole number"


def _check_negative(tables: Tables, ctx: RuleContext) -> Flags:
    df = tables["monitoring"]
    neg = df[list(COUNT_COLUMNS)] < 0
    mask = neg.any(axis=1)
    sub = df.loc[mask]
    parts = [(neg.loc[mask, c].to_numpy(), c + " " + _number(sub[c])) for c in COUNT_COLUMNS]
    return mask, _joined(parts, sub.index)


def _check_workplace(tables: Tables, ctx: RuleContext) -> Flags:
    df = tables["monitoring"]
    mask = df["workplace_meetings"] > df["first_meetings"]
    sub = df.loc[mask]
    share = (sub["workplace_meetings"] / sub["first_meetings"]).map(lambda v: f"{v:.2f}")
    return mask, (
        "workplace_meetings " + _number(sub["workplace_meetings"]) + " > first_meetings "
        + _number(sub["first_meetings"]) + " (share " + share.astype(object) + ")"
    )  # fmt: skip


def _occurrences(counts: np.ndarray) -> pd.Series:
    return "occurs " + pd.Series(counts, dtype=np.int64).astype(str).astype(object) + " times"


def _check_duplicate_spell(tables: Tables, ctx: RuleContext) -> Flags:
    index = tables["spells"].index
    codes = ctx.codes("spells", index)
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=ctx.n_codes())
    per_row = counts[np.where(present, codes, 0)]
    mask = present & (per_row > 1)
    detail = _occurrences(per_row[mask])
    detail.index = index[mask]
    return pd.Series(mask, index=index), "spell_id " + detail


def _duplicates(name: str, keys: list[str], what: str) -> Check:
    def check(tables: Tables, ctx: RuleContext) -> Flags:
        df = tables[name]
        size = df.groupby(keys, dropna=False, sort=False)[keys[0]].transform("size")
        mask = size > 1
        detail = _occurrences(size[mask].to_numpy())
        detail.index = df.index[mask.to_numpy()]
        return mask, what + " " + detail

    return check


# fmt: off
_FIX_DATES = "correct the dates"
_FIX_JC = "correct the names or extend the jobcentre list"
_ORDER = "An end date may not precede its start date"
_IN_LIST = "Each jobcentre must be one of the jobcentres given"
_SPELL_ORDER = [("benefit_start", "absence_start"), ("benefit_end", "absence_start"),
                ("benefit_end", "benefit_start")]


def _child_rules(t: str, col: str) -> tuple[Rule, ...]:
    return (
        Rule(t, "parent_spell_dropped", _parent_dropped(t),
             "Rows of a dropped spell are dropped with it", "fix the spell", drop_only=True),
        Rule(t, "unknown_spell", _unknown_spell(t), "Each spell_id must refer to a row of "
             "spells", "add the spells or remove the rows"),
        Rule(t, "outside_spell", _outside_spell(t, col), f"The {col} must lie between the "
             "spell's absence_start and benefit_end", "correct the dates or the spell_id"),
    )


#: The rules, in the order they run. ``{mapping}`` in a fix names the register mapping in
#: the caller's terms (Python or command line).
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
         "recode the exit states (or map the register codes with {mapping})"),
    Rule("spells", "ongoing_not_censored", _check_ongoing, "A spell without benefit_end is "
         "ongoing at the data end, so its exit_state must be 'censored'",
         "fill in the benefit_end of the exit or set exit_state to censored"),
    Rule("spells", "unknown_jobcentre", _jc("spells"), _IN_LIST, _FIX_JC),
    *_child_rules("meetings", "date"),
    Rule("meetings", "unknown_location", _check_location,
         f"location must be one of {', '.join(MEETING_LOCATIONS)}",
         "recode the locations (or map the register codes with {mapping})"),
    *_child_rules("interventions", "start"),
    Rule("interventions", "end_before_start", _date_order("interventions", [("end", "start")]),
         _ORDER, _FIX_DATES),
    Rule("programme", "end_before_start", _date_order("programme", [("end", "start")]),
         _ORDER, _FIX_DATES),
    Rule("programme", "duplicate_jobcentre", _duplicates("programme", ["jobcentre"],
         "jobcentre"), "Each programme jobcentre has one participation window",
         "keep one window each"),
    Rule("programme", "unknown_jobcentre", _jc("programme"), _IN_LIST, _FIX_JC),
    Rule("monitoring", "bad_month", _check_month, "month must be YYYY-MM", "reformat the months"),
    Rule("monitoring", "bad_count", _check_bad_count, "Counts must be whole numbers",
         "fill in the counts"),
    Rule("monitoring", "negative_count", _check_negative, "Counts may not be negative",
         "correct the counts"),
    Rule("monitoring", "workplace_exceeds_first", _check_workplace, "workplace_meetings may "
         "not exceed first_meetings (shares lie in [0, 1])", "correct the counts"),
    Rule("monitoring", "duplicate_jobcentre_month", _duplicates("monitoring", ["jobcentre",
         "month"], "jobcentre-month"), "Each jobcentre-month must occur once",
         "aggregate or remove the duplicates"),
    Rule("monitoring", "unknown_jobcentre", _jc("monitoring"), _IN_LIST, _FIX_JC),
)
# fmt: on
