"""Weekly hazard panel: study design, per-spell quantities and the person-week panel.

The rules are those of DESIGN.md §3; the column layout is fixed in CONTRIBUTING.md
("Internal representations"). Everything is vectorised: rows are generated with
``np.repeat`` and offsets, intervals (interventions) are marked with a difference array
over integer row keys, and no Python loop runs over spells (loops run over programme
windows, at most 15, and over exit states).

The heavy lifting is shared with :mod:`sofeval.panel.cells` through :func:`prepare` (per-spell
arrays for the spells used) and :func:`panel_rows` (integer-coded rows of a range of
spells), so that the chunked cell builder and :func:`build_panel` cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data import (
    COMPETING_STATES,
    EXIT_STATES,
    WEEK8_OFFSET,
    StudyData,
    month_index,
    month_label,
)
from sofeval.errors import ContractError, OptionError, check_option

__all__ = [
    "AGE_LABELS",
    "EXCLUSION_REASONS",
    "KEY_COLUMNS",
    "Panel",
    "PanelAudit",
    "StudyDesign",
    "bin_covariates",
    "build_panel",
    "event_columns",
    "month_index",
    "month_label",
    "programme_windows",
    "spell_frame",
    "week_block",
]

Entry = Literal["benefit_start", "absence_start"]
Treatment = Literal["week8", "spell_start", "calendar"]
CohortOn = Literal["absence_start", "week8"]

#: Why a spell is left out of the panel (first matching reason wins, in this order).
EXCLUSION_REASONS: tuple[str, ...] = (
    "outside_cohort",
    "entry_after_data_end",
    "entry_after_max_weeks",
    "no_weeks_at_risk",
)

#: Panel columns that can serve as cell keys (covariates come on top).
KEY_COLUMNS: tuple[str, ...] = (
    "spell_id",
    "person_id",
    "jobcentre",
    "week",
    "month",
    "D",
    "phase",
    "link_month",
    "exposure",
    "met",
    "met_workplace",
    "in_measure",
)

#: Labels of the age bins of :func:`bin_covariates` (left-closed: 30 is in "30-39";
#: ages below 16 fall into the first bin).
AGE_LABELS: tuple[str, ...] = ("16-29", "30-39", "40-49", "50-59", "60+")
_AGE_EDGES = (-np.inf, 30.0, 40.0, 50.0, 60.0, np.inf)
#: A numeric covariate with more distinct values than this is binned into quintiles.
MAX_DISTINCT_NUMERIC = 10
#: ``exposure`` is an ``int16`` bitmask: at most 15 distinct programme windows.
MAX_WINDOWS = 15
_NEVER = np.int64(2**40)  # a week/day number later than any real one

_INT_DTYPES: dict[str, str] = {
    "week": "int16",
    "month": "int32",
    "D": "int8",
    "link_month": "int32",
    "exposure": "int16",
    "met": "int8",
    "met_workplace": "int8",
    "in_measure": "int8",
}


def event_columns(event_state: str = "employment") -> tuple[str, ...]:
    """Names of the event columns: ``event`` plus ``event_<s>`` for every other exit.

    Parameters
    ----------
    event_state
        The exit state counted in ``event`` (``employment`` by default).

    Returns
    -------
    tuple of str
        ``("event", "event_<s>", ...)`` in :data:`~sofeval.data.contract.COMPETING_STATES` order.
    """
    return ("event",) + tuple(f"event_{s}" for s in COMPETING_STATES if s != event_state)


def _event_column_of_state(event_state: str) -> dict[int, str]:
    """Map the index of a competing state to its event column name."""
    return {
        i: ("event" if s == event_state else f"event_{s}") for i, s in enumerate(COMPETING_STATES)
    }


# --- date helpers ----------------------------------------------------------------------


def _days(values: pd.Series | pd.Index | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 as ``int64`` and a mask of missing dates."""
    arr = np.asarray(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]"))
    nat = np.isnat(arr)
    days = arr.astype("datetime64[D]").astype(np.int64)
    days[nat] = 0
    return days, nat


def _day(ts: pd.Timestamp) -> int:
    return int(np.datetime64(pd.Timestamp(ts).normalize(), "D").astype(np.int64))


def _month_of_days(days: np.ndarray) -> np.ndarray:
    """Integer month (``12*year + month - 1``) of day numbers (via a per-day lookup table)."""
    if days.size == 0:
        return np.zeros(0, dtype=np.int32)
    lo, hi = int(days.min()), int(days.max())
    span = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")
    table = (span.astype("datetime64[M]").astype(np.int64) + 1970 * 12).astype(np.int32)
    return table[days - lo]


# --- design ----------------------------------------------------------------------------


def programme_windows(programme: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Distinct programme windows, numbered, and the window of each programme jobcentre.

    Parameters
    ----------
    programme
        Contract ``programme`` table (``jobcentre``, ``start``, ``end``; an empty ``end``
        means open-ended).

    Returns
    -------
    windows : pandas.DataFrame
        Columns ``k`` (0..K-1), ``start``, ``end``, ``jobcentres`` (tuple), sorted by
        (start, end).
    window_of : dict
        Jobcentre -> window index ``k``.

    Raises
    ------
    ContractError
        If a jobcentre has more than one distinct window, or there are more than
        :data:`MAX_WINDOWS` distinct windows (the ``int16`` exposure bitmask).
    """
    prog = programme.loc[:, ["jobcentre", "start", "end"]].copy()
    prog["jobcentre"] = prog["jobcentre"].astype(str)
    prog["start"] = pd.to_datetime(prog["start"])
    prog["end"] = pd.to_datetime(prog["end"])
    prog = prog.drop_duplicates()
    dup = prog["jobcentre"][prog["jobcentre"].duplicated()].unique()
    if len(dup):
        raise ContractError(
            f"programme: {len(dup)} jobcentre(s) have more than one window "
            f"({', '.join(map(str, dup[:10]))}); give each jobcentre one start and end.",
            table="programme",
            rule="multiple_windows",
            rows=tuple(map(str, dup[:10])),
        )
    win = prog[["start", "end"]].drop_duplicates().sort_values(["start", "end"])
    win = win.reset_index(drop=True)
    if len(win) > MAX_WINDOWS:
        raise ContractError(
            f"programme: {len(win)} distinct windows, at most {MAX_WINDOWS} are supported "
            "by the int16 exposure bitmask; merge windows that differ by days.",
            table="programme",
            rule="too_many_windows",
        )
    k_of = pd.MultiIndex.from_frame(win).get_indexer(
        pd.MultiIndex.from_frame(prog[["start", "end"]])
    )
    jcs = prog["jobcentre"].to_numpy()
    win.insert(0, "k", np.arange(len(win), dtype=np.int64))
    win["jobcentres"] = [tuple(sorted(jcs[k_of == k])) for k in range(len(win))]
    window_of = {str(j): int(k) for j, k in zip(jcs, k_of, strict=True)}
    return win, window_of


@dataclass(frozen=True)
class StudyDesign:
    """Settings of the weekly hazard panel (defaults: DESIGN.md §3).

    Parameters
    ----------
    data_end
        Last day of observation; ``None`` uses :meth:`StudyData.data_end`. Ongoing spells
        and spells ending after it are censored in the week of ``data_end``.
    max_weeks
        Follow-up cap: spells still on benefit after this week are censored there.
    entry
        ``benefit_start`` (delayed entry at the week of the first benefit day) or
        ``absence_start`` (at risk from week 1).
    treatment
        Reference date of programme exposure: ``week8`` (absence start + 49 days),
        ``spell_start`` (absence start), or ``calendar`` (first day of each row's week,
        so ``exposure`` and ``D`` vary by row).
    phase_cut
        First week of the ``late`` phase (``early`` = week < phase_cut).
    cohort_start, cohort_end
        Keep spells whose ``cohort_on`` date lies in ``[cohort_start, cohort_end]``
        (either bound may be ``None``).
    cohort_on
        ``absence_start`` or ``week8`` (the week-8 date).
    event_state
        Exit state counted in ``event``; the other competing states get ``event_<s>``.
    """

    data_end: pd.Timestamp | None = None
    max_weeks: int = 52
    entry: Entry = "benefit_start"
    treatment: Treatment = "week8"
    phase_cut: int = 8
    cohort_start: pd.Timestamp | None = None
    cohort_end: pd.Timestamp | None = None
    cohort_on: CohortOn = "absence_start"
    event_state: str = "employment"

    def __post_init__(self) -> None:
        check_option("entry", self.entry, ("benefit_start", "absence_start"))
        check_option("treatment", self.treatment, ("week8", "spell_start", "calendar"))
        check_option("cohort_on", self.cohort_on, ("absence_start", "week8"))
        check_option("event_state", self.event_state, COMPETING_STATES)
        for name in ("max_weeks", "phase_cut"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise OptionError(f"{name}={value!r} must be a positive integer.")
        if self.max_weeks > 32000:
            raise OptionError(f"max_weeks={self.max_weeks} must fit int16 (at most 32000).")
        for name in ("data_end", "cohort_start", "cohort_end"):
            value = getattr(self, name)
            if value is not None:
                ts = pd.Timestamp(value)
                if pd.isna(ts):
                    raise OptionError(f"{name}={value!r} is not a date; give a date or None.")
                object.__setattr__(self, name, ts)
        if (
            self.cohort_start is not None
            and self.cohort_end is not None
            and self.cohort_start > self.cohort_end
        ):
            raise OptionError(
                f"cohort_start={self.cohort_start.date()} is after "
                f"cohort_end={self.cohort_end.date()}; swap them."
            )

    def resolve_data_end(self, study: StudyData) -> pd.Timestamp:
        """The data end used for ``study``: :attr:`data_end` or ``study.data_end()``."""
        return self.data_end if self.data_end is not None else study.data_end()

    def windows(self, study: StudyData) -> tuple[pd.DataFrame, dict[str, int]]:
        """Distinct programme windows of ``study`` (``k = 0..K-1``) and jobcentre -> ``k``.

        See :func:`programme_windows`.
        """
        return programme_windows(study.programme)


# --- per-spell quantities --------------------------------------------------------------


def _exposure_mask(ref_days: np.ndarray, windows: pd.DataFrame) -> np.ndarray:
    """``int16`` bitmask: bit k set when the reference day lies in window k (inclusive)."""
    out = np.zeros(len(ref_days), dtype=np.int16)
    start, s_nat = _days(windows["start"])
    end, e_nat = _days(windows["end"])
    for k in range(len(windows)):
        lo = np.iinfo(np.int64).min if s_nat[k] else start[k]
        hi = np.iinfo(np.int64).max if e_nat[k] else end[k]
        inside = (ref_days >= lo) & (ref_days <= hi)
        out |= inside.astype(np.int16) << np.int16(k)
    return out


def spell_frame(
    spells: pd.DataFrame,
    programme: pd.DataFrame,
    design: StudyDesign,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """Per-spell panel quantities (one row per spell, in the order of ``spells``).

    Parameters
    ----------
    spells, programme
        Contract tables (validated).
    design
        Panel settings.
    data_end
        Last day of observation.

    Returns
    -------
    pandas.DataFrame
        ``spell_id``, ``person_id``, ``jobcentre``, ``absence_start``, ``entry_week`` (e),
        ``last_week`` (min(T, max_weeks)), ``event_state`` (the exit state if the exit is
        observed by ``data_end`` within ``max_weeks``, else ``censored``), ``w8_date``,
        ``link_month`` (month of the week-8 date), ``exposure`` (bitmask of the
        treatment reference date; for ``treatment="calendar"`` the week-8 date, the panel
        recomputes it per row), ``D`` and ``reason`` (``None`` for spells used, else one
        of :data:`EXCLUSION_REASONS`).

    Raises
    ------
    ContractError
        If an ``exit_state`` is not one of the contract's exit states.
    """
    abs_d, _ = _days(spells["absence_start"])
    if "benefit_start" in spells.columns:
        bs_d, bs_nat = _days(spells["benefit_start"])
        bs_d = np.where(bs_nat, abs_d, bs_d)
    else:
        bs_d = abs_d
    be_d, be_nat = _days(spells["benefit_end"])
    end_day = _day(data_end)

    state = pd.Index(EXIT_STATES).get_indexer(pd.Index(spells["exit_state"].astype(str)))
    bad = state < 0
    if bad.any():
        ids = spells["spell_id"].astype(str).to_numpy()[bad]
        raise ContractError(
            f"spells: {bad.sum()} row(s) have an unknown exit_state (spell ids: "
            f"{', '.join(ids[:10])}); use one of {', '.join(EXIT_STATES)}.",
            table="spells",
            rule="unknown_exit_state",
            rows=tuple(ids[:10]),
        )

    if design.entry == "absence_start":
        entry = np.ones(len(spells), dtype=np.int64)
    else:
        entry = np.maximum((bs_d - abs_d) // 7 + 1, 1)
    closed = ~be_nat & (be_d <= end_day)
    stop = np.where(closed, be_d, end_day)
    t_last = (stop - abs_d) // 7 + 1
    last = np.minimum(t_last, design.max_weeks)
    censored = EXIT_STATES.index("censored")
    observed = closed & (t_last <= design.max_weeks) & (state != censored)
    event_state = np.where(observed, state, censored)

    w8 = abs_d + WEEK8_OFFSET.days
    windows, window_of = programme_windows(programme)
    ref = abs_d if design.treatment == "spell_start" else w8
    exposure = _exposure_mask(ref, windows)
    jobcentre = spells["jobcentre"].astype(str)
    win = jobcentre.map(window_of).fillna(-1).to_numpy(dtype=np.int64)
    d = np.where(win >= 0, (exposure.astype(np.int64) >> np.maximum(win, 0)) & 1, 0)

    reason = np.full(len(spells), None, dtype=object)
    reason[last < entry] = "no_weeks_at_risk"
    reason[entry > design.max_weeks] = "entry_after_max_weeks"
    reason[bs_d > end_day] = "entry_after_data_end"
    if design.cohort_start is not None or design.cohort_end is not None:
        cdate = abs_d if design.cohort_on == "absence_start" else w8
        out = np.zeros(len(spells), dtype=bool)
        if design.cohort_start is not None:
            out |= cdate < _day(design.cohort_start)
        if design.cohort_end is not None:
            out |= cdate > _day(design.cohort_end)
        reason[out] = "outside_cohort"

    return pd.DataFrame(
        {
            "spell_id": spells["spell_id"].astype(str).to_numpy(),
            "person_id": spells["person_id"].astype(str).to_numpy(),
            "jobcentre": jobcentre.to_numpy(),
            "absence_start": abs_d.astype("datetime64[D]").astype("datetime64[ns]"),
            "entry_week": entry.astype(np.int64),
            "last_week": last.astype(np.int64),
            "event_state": pd.Categorical.from_codes(event_state, categories=pd.Index(EXIT_STATES)),
            "w8_date": w8.astype("datetime64[D]").astype("datetime64[ns]"),
            "link_month": _month_of_days(w8),
            "exposure": exposure,
            "D": d.astype(np.int8),
            "reason": reason,
        },
        index=spells.index,
    )


# --- covariates and week blocks --------------------------------------------------------


def bin_covariates(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Turn covariates into categoricals by documented rules.

    Rules, per column:

    * ``age`` (numeric): ``"16-29"`` (< 30, including any age below 16), ``"30-39"``,
      ``"40-49"``, ``"50-59"``, ``"60+"``; bins are left-closed.
    * any other numeric (non-boolean) column with more than
      :data:`MAX_DISTINCT_NUMERIC` distinct values: quintile bins (``pandas.qcut`` with
      5 quantiles over the rows given, tied edges merged), labelled by their interval
      ``"(lo, hi]"``.
    * other numeric and boolean columns: one category per value.
    * strings and categoricals: kept as categories (strings sorted).

    Missing values stay missing.

    Parameters
    ----------
    frame
        One row per spell.
    columns
        Covariate names.

    Returns
    -------
    pandas.DataFrame
        The given columns as ``category`` dtype, same index as ``frame``.

    Raises
    ------
    ContractError
        If a column is missing.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(
            f"spells: covariate column(s) {', '.join(missing)} not found; "
            f"available: {', '.join(map(str, frame.columns))}.",
            table="spells",
            rule="missing_covariate",
        )
    out: dict[str, pd.Series] = {}
    for c in columns:
        s = frame[c]
        is_num = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s
        elif is_num and c == "age":
            out[c] = pd.cut(s, bins=list(_AGE_EDGES), right=False, labels=list(AGE_LABELS))
        elif is_num and s.nunique() > MAX_DISTINCT_NUMERIC:
            q = pd.qcut(s, 5, duplicates="drop")
            out[c] = q.cat.rename_categories([str(iv) for iv in q.cat.categories])
        else:
            out[c] = s.astype("category")
    return pd.DataFrame(out, index=frame.index)


def week_block(week: np.ndarray) -> np.ndarray:
    """Baseline-hazard block label of each spell week (DESIGN.md §4).

    Weeks 1–26 have their own label (``"01"`` … ``"26"``), then 4-week blocks
    ``"27-30"``, ``"31-34"``, …, ``"47-50"`` and ``"51-52"``; weeks after 52 (when
    ``max_weeks > 52``) continue in 4-week blocks from 53. Labels sort in week order.

    Parameters
    ----------
    week
        Spell weeks (integers ≥ 1).

    Returns
    -------
    numpy.ndarray
        Object array of labels, same shape as ``week``.

    Raises
    ------
    OptionError
        If a week is below 1.
    """
    w = np.asarray(week, dtype=np.int64)
    if w.size and w.min() < 1:
        raise OptionError("week_block: weeks start at 1; got a week below 1.")
    top = int(w.max()) if w.size else 1
    labels = np.empty(top + 1, dtype=object)
    for t in range(1, top + 1):  # loop over weeks, not spells
        if t <= 26:
            labels[t] = f"{t:02d}"
        elif t <= 50:
            a = 27 + 4 * ((t - 27) // 4)
            labels[t] = f"{a}-{a + 3}"
        elif t <= 52:
            labels[t] = "51-52"
        else:
            a = 53 + 4 * ((t - 53) // 4)
            labels[t] = f"{a}-{a + 3}"
    return labels[w]


# --- shared row machinery (used by build_panel and cells.cells_from_spells) --------------


@dataclass(frozen=True)
class PanelAudit:
    """What went into a panel.

    Attributes
    ----------
    summary
        Tidy ``item``/``value`` table: ``spells_in``, ``spells_excluded``,
        ``excluded_<reason>``, ``spells_used``, ``person_weeks``, ``exits_<state>`` for
        each competing state (exits observed within ``max_weeks``) and ``censored``.
    excluded
        ``spell_id``, ``reason`` of every spell left out.
    """

    summary: pd.DataFrame
    excluded: pd.DataFrame

    def value(self, item: str) -> int:
        """Value of one summary item."""
        return int(self.summary.loc[self.summary["item"] == item, "value"].iloc[0])


@dataclass(frozen=True)
class Prepared:
    """Per-spell integer arrays of the spells used (internal to panel and cells)."""

    design: StudyDesign
    data_end: pd.Timestamp
    windows: pd.DataFrame
    audit: PanelAudit
    spell_ids: np.ndarray
    abs_day: np.ndarray
    entry: np.ndarray
    last: np.ndarray
    state: np.ndarray  # index in COMPETING_STATES, -1 = censored
    jc: np.ndarray
    jc_categories: pd.Index
    win_of_jc: np.ndarray  # per jobcentre code, -1 = no programme
    exposure: np.ndarray
    D: np.ndarray
    link_month: np.ndarray
    person: tuple[np.ndarray, pd.Index] | None = None
    covariates: dict[str, tuple[np.ndarray, pd.Index]] = field(default_factory=dict)
    first_meeting: tuple[np.ndarray, np.ndarray] | None = None  # (week, at workplace)
    interventions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # pos, ws, we

    @property
    def n(self) -> int:
        """Number of spells used."""
        return len(self.entry)


def _audit(sf: pd.DataFrame) -> PanelAudit:
    used = sf["reason"].isna().to_numpy()
    reason = sf["reason"].to_numpy()
    items: list[tuple[str, int]] = [
        ("spells_in", len(sf)),
        ("spells_excluded", int((~used).sum())),
    ]
    items += [(f"excluded_{r}", int((reason == r).sum())) for r in EXCLUSION_REASONS]
    rows = (sf["last_week"] - sf["entry_week"] + 1).to_numpy()[used]
    items += [("spells_used", int(used.sum())), ("person_weeks", int(rows.sum()))]
    counts = sf["event_state"][used].value_counts()
    items += [(f"exits_{s}", int(counts.get(s, 0))) for s in COMPETING_STATES]
    items += [("censored", int(counts.get("censored", 0)))]
    summary = pd.DataFrame(items, columns=["item", "value"]).astype({"value": "int64"})
    excluded = sf.loc[~used, ["spell_id", "reason"]].reset_index(drop=True)
    return PanelAudit(summary=summary, excluded=excluded)


def prepare(
    study: StudyData,
    design: StudyDesign,
    covariates: Sequence[str] = (),
    need: frozenset[str] | set[str] = frozenset(KEY_COLUMNS),
) -> Prepared:
    """Per-spell arrays of the spells used; only what the columns in ``need`` require."""
    return prepare_with_frame(study, design, covariates, need)[0]


def prepare_with_frame(
    study: StudyData,
    design: StudyDesign,
    covariates: Sequence[str] = (),
    need: frozenset[str] | set[str] = frozenset(KEY_COLUMNS),
) -> tuple[Prepared, pd.DataFrame]:
    """:func:`prepare`, also returning the :func:`spell_frame` rows of the spells used."""
    data_end = design.resolve_data_end(study)
    spells = study.spells
    sf = spell_frame(spells, study.programme, design, data_end)
    audit = _audit(sf)
    used = sf["reason"].isna().to_numpy()
    u = sf.loc[used]
    spell_ids = u["spell_id"].to_numpy()
    jc_categories = pd.Index(sorted(sf["jobcentre"].unique()))
    jc = jc_categories.get_indexer(u["jobcentre"]).astype(np.int32)
    windows, window_of = programme_windows(study.programme)
    win_of_jc = np.array([window_of.get(j, -1) for j in jc_categories], dtype=np.int64)
    to_competing = pd.Index(COMPETING_STATES).get_indexer(pd.Index(EXIT_STATES))
    state_idx = to_competing[u["event_state"].cat.codes.to_numpy()]

    person = None
    if "person_id" in need:
        codes, cats = pd.factorize(u["person_id"], sort=True)
        person = (codes.astype(np.int64), pd.Index(cats))
    covs: dict[str, tuple[np.ndarray, pd.Index]] = {}
    if covariates:
        binned = bin_covariates(spells.loc[used], list(covariates))
        for c in covariates:
            cat = binned[c].cat
            covs[c] = (cat.codes.to_numpy().astype(np.int64), pd.Index(cat.categories))

    # spell ids must be unique where they identify rows (meetings, interventions, spell_id
    # cells); validate_study guarantees it, this guards tables that bypassed it
    by_id = need & {"met", "met_workplace", "in_measure", "spell_id"}
    if by_id and pc.count_distinct(pa.array(spell_ids, pa.string())).as_py() != len(spell_ids):
        raise ContractError(
            "spells: spell_id is not unique; validate the study first.",
            table="spells",
            rule="duplicate_spell_id",
        )
    abs_day, _ = _days(u["absence_start"])
    first_meeting = None
    if need & {"met", "met_workplace"}:
        first_meeting = _first_meetings(study.meetings, spell_ids, abs_day)
    interventions = None
    if "in_measure" in need:
        interventions = _intervention_weeks(study.interventions, spell_ids, abs_day)
    prep = Prepared(
        design=design,
        data_end=data_end,
        windows=windows,
        audit=audit,
        spell_ids=spell_ids,
        abs_day=abs_day,
        entry=u["entry_week"].to_numpy(np.int64),
        last=u["last_week"].to_numpy(np.int64),
        state=state_idx.astype(np.int64),
        jc=jc,
        jc_categories=jc_categories,
        win_of_jc=win_of_jc,
        exposure=u["exposure"].to_numpy(np.int16),
        D=u["D"].to_numpy(np.int8),
        link_month=u["link_month"].to_numpy(np.int32),
        person=person,
        covariates=covs,
        first_meeting=first_meeting,
        interventions=interventions,
    )
    return prep, u


def _first_meetings(
    meetings: pd.DataFrame, spell_ids: np.ndarray, abs_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Week of each spell's first meeting (``_NEVER`` if none) and whether at the workplace.

    The first meeting is the earliest; on a tie of dates a workplace meeting wins.
    """
    week = np.full(len(spell_ids), _NEVER, dtype=np.int64)
    work = np.zeros(len(spell_ids), dtype=bool)
    if len(meetings) == 0:
        return week, work
    pos = pd.Index(spell_ids).get_indexer(meetings["spell_id"].astype(str))
    day, nat = _days(meetings["date"])
    keep = (pos >= 0) & ~nat
    pos, day = pos[keep], day[keep]
    at_work = (meetings["location"].astype(str).to_numpy() == "workplace")[keep]
    order = np.lexsort((~at_work, day, pos))
    pos, day, at_work = pos[order], day[order], at_work[order]
    first = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]]) if len(pos) else np.array([], int)
    p = pos[first]
    week[p] = (day[first] - abs_day[p]) // 7 + 1
    work[p] = at_work[first]
    return week, work


def _intervention_weeks(
    interventions: pd.DataFrame, spell_ids: np.ndarray, abs_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spell position, first and last spell week of each intervention, sorted by position."""
    if len(interventions) == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty
    pos = pd.Index(spell_ids).get_indexer(interventions["spell_id"].astype(str))
    start, s_nat = _days(interventions["start"])
    end, e_nat = _days(interventions["end"])
    keep = (pos >= 0) & ~s_nat
    pos, start, end, e_nat = pos[keep], start[keep], end[keep], e_nat[keep]
    ws = (start - abs_day[pos]) // 7 + 1
    we = np.where(e_nat, _NEVER, (end - abs_day[pos]) // 7 + 1)
    order = np.argsort(pos, kind="stable")
    return pos[order].astype(np.int64), ws[order], we[order]


@dataclass(frozen=True)
class Rows:
    """Integer-coded rows of a range of spells (internal).

    ``columns`` holds int arrays (codes for categorical columns); ``event_pos`` the row
    positions of observed exits and ``event_code`` their index in ``COMPETING_STATES``.
    """

    n_rows: int
    columns: dict[str, np.ndarray]
    event_pos: np.ndarray
    event_code: np.ndarray


def panel_rows(prep: Prepared, lo: int, hi: int, need: Sequence[str]) -> Rows:
    """Rows of the used spells ``lo:hi`` with the columns in ``need`` (integer codes)."""
    sl = slice(lo, hi)
    entry, last = prep.entry[sl], prep.last[sl]
    nrow = last - entry + 1
    starts = np.zeros(len(nrow) + 1, dtype=np.int64)
    np.cumsum(nrow, out=starts[1:])
    n_rows = int(starts[-1])
    week = np.arange(n_rows, dtype=np.int64) - np.repeat(starts[:-1] - entry, nrow)
    design = prep.design
    cols: dict[str, np.ndarray] = {}
    day0: np.ndarray | None = None
    if "month" in need or (design.treatment == "calendar" and need_any(need, ("D", "exposure"))):
        day0 = np.repeat(prep.abs_day[sl], nrow) + 7 * (week - 1)
    for name in need:
        if name == "week":
            cols[name] = week.astype(np.int16)
        elif name == "month":
            assert day0 is not None
            cols[name] = _month_of_days(day0)
        elif name == "spell_id":
            cols[name] = np.repeat(np.arange(lo, hi, dtype=np.int64), nrow)
        elif name == "person_id":
            if prep.person is None:
                raise OptionError("person_id was not prepared; include it in `need`.")
            cols[name] = np.repeat(prep.person[0][sl], nrow)
        elif name == "jobcentre":
            cols[name] = np.repeat(prep.jc[sl], nrow)
        elif name == "phase":
            cols[name] = (week >= design.phase_cut).astype(np.int8)
        elif name == "link_month":
            cols[name] = np.repeat(prep.link_month[sl], nrow)
        elif name in ("exposure", "D"):
            if name in cols:
                continue
            if design.treatment == "calendar":
                assert day0 is not None
                expo = _exposure_mask(day0, prep.windows)
                win = np.repeat(prep.win_of_jc[prep.jc[sl]], nrow)
                d = np.where(win >= 0, (expo.astype(np.int64) >> np.maximum(win, 0)) & 1, 0)
                cols["exposure"], cols["D"] = expo, d.astype(np.int8)
            else:
                cols["exposure"] = np.repeat(prep.exposure[sl], nrow)
                cols["D"] = np.repeat(prep.D[sl], nrow)
        elif name in ("met", "met_workplace"):
            if prep.first_meeting is None:
                raise OptionError(f"{name} was not prepared; include it in `need`.")
            met = week >= np.repeat(prep.first_meeting[0][sl], nrow)
            cols["met"] = met.astype(np.int8)
            if "met_workplace" in need:
                cols["met_workplace"] = (met & np.repeat(prep.first_meeting[1][sl], nrow)).astype(
                    np.int8
                )
        elif name == "in_measure":
            cols[name] = _in_measure(prep, lo, hi, entry, last, starts, n_rows)
        elif name in prep.covariates:
            cols[name] = np.repeat(prep.covariates[name][0][sl], nrow)
        else:
            raise OptionError(
                f"unknown panel column {name!r}; choose from {', '.join(KEY_COLUMNS)} "
                "or a covariate of spells."
            )
    cols = {k: v for k, v in cols.items() if k in need}
    has_event = prep.state[sl] >= 0
    return Rows(
        n_rows=n_rows,
        columns=cols,
        event_pos=(starts[1:] - 1)[has_event],
        event_code=prep.state[sl][has_event],
    )


def need_any(need: Sequence[str], names: Sequence[str]) -> bool:
    """Whether any of ``names`` is in ``need``."""
    return any(n in need for n in names)


def _in_measure(
    prep: Prepared,
    lo: int,
    hi: int,
    entry: np.ndarray,
    last: np.ndarray,
    starts: np.ndarray,
    n_rows: int,
) -> np.ndarray:
    """1 on rows whose week overlaps an intervention (difference array over row keys)."""
    if prep.interventions is None:
        raise OptionError("in_measure was not prepared; include it in `need`.")
    pos, ws, we = prep.interventions
    a, b = np.searchsorted(pos, [lo, hi], side="left")
    p = pos[a:b] - lo
    e, t = entry[p], last[p]
    first = np.maximum(ws[a:b], e)
    stop = np.minimum(we[a:b], t) + 1  # exclusive
    ok = first < stop
    base = starts[p] - e
    diff = np.bincount(base[ok] + first[ok], minlength=n_rows + 1)[: n_rows + 1]
    diff = diff - np.bincount(base[ok] + stop[ok], minlength=n_rows + 1)[: n_rows + 1]
    return (np.cumsum(diff[:n_rows]) > 0).astype(np.int8)


def decode(prep: Prepared, name: str, codes: np.ndarray) -> pd.Series:
    """Turn integer codes of column ``name`` into a Series of the panel's dtype."""
    cats: pd.Index | None = None
    if name == "spell_id":
        cats = pd.Index(prep.spell_ids)
    elif name == "person_id":
        assert prep.person is not None
        cats = prep.person[1]
    elif name == "jobcentre":
        cats = prep.jc_categories
    elif name == "phase":
        cats = pd.Index(["early", "late"])
    elif name in prep.covariates:
        cats = prep.covariates[name][1]
    if cats is not None:
        return pd.Series(pd.Categorical.from_codes(codes, categories=cats))
    return pd.Series(codes.astype(_INT_DTYPES[name]), copy=False)


# --- the panel -------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """Person-week hazard panel (columns: CONTRIBUTING.md, "Panel").

    Attributes
    ----------
    data
        One row per spell-week at risk.
    audit
        Spells in, used, excluded (with reasons), person-weeks, exits.
    design
        The settings that built it.
    windows
        The distinct programme windows (bit ``k`` of ``exposure``).
    data_end
        Data end used.
    """

    data: pd.DataFrame
    audit: PanelAudit
    design: StudyDesign
    windows: pd.DataFrame
    data_end: pd.Timestamp


def check_covariates(covariates: Sequence[str] | None, design: StudyDesign) -> list[str]:
    """Covariate names, checked not to clash with panel columns."""
    covs = list(covariates or [])
    clash = [c for c in covs if c in KEY_COLUMNS or c in event_columns(design.event_state)]
    if clash:
        raise OptionError(f"covariate(s) {', '.join(clash)} clash with panel column names.")
    return covs


def build_panel(
    study: StudyData,
    design: StudyDesign | None = None,
    covariates: Sequence[str] | None = None,
) -> Panel:
    """Build the person-week panel of ``study`` (DESIGN.md §3).

    Parameters
    ----------
    study
        Validated study tables.
    design
        Panel settings (default :class:`StudyDesign()`).
    covariates
        Columns of ``spells`` to carry, binned by :func:`bin_covariates`.

    Returns
    -------
    Panel
        ``data`` with columns ``spell_id, person_id, jobcentre, week, month, event,
        event_<state>…, D, phase, link_month, exposure, met, met_workplace, in_measure``
        and the covariates; plus the audit.

    Notes
    -----
    For register-scale data use :func:`sofeval.panel.cells.cells_from_spells`, which never
    materialises this panel.
    """
    design = design or StudyDesign()
    covs = check_covariates(covariates, design)
    prep = prepare(study, design, covs, frozenset(KEY_COLUMNS))
    rows = panel_rows(prep, 0, prep.n, [*KEY_COLUMNS, *covs])
    data: dict[str, object] = {}
    ev_cols = event_columns(design.event_state)
    ev_of_state = _event_column_of_state(design.event_state)
    events = {c: np.zeros(rows.n_rows, dtype=np.int8) for c in ev_cols}
    for code, col in ev_of_state.items():
        events[col][rows.event_pos[rows.event_code == code]] = 1
    for name in ("spell_id", "person_id", "jobcentre", "week", "month"):
        data[name] = decode(prep, name, rows.columns[name])
    data.update(events)
    for name in ("D", "phase", "link_month", "exposure", "met", "met_workplace", "in_measure"):
        data[name] = decode(prep, name, rows.columns[name])
    for name in covs:
        data[name] = decode(prep, name, rows.columns[name])
    frame = pd.DataFrame(data)
    return Panel(
        data=frame, audit=prep.audit, design=design, windows=prep.windows, data_end=prep.data_end
    )
