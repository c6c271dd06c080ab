"""Panel rows: per-spell arrays of the spells used and the integer-coded rows they generate.

:func:`prepare` turns a study into :class:`Prepared` arrays (only what the requested columns
need); :func:`panel_rows` generates the rows of a range of spells as integer codes, with
``np.repeat`` and offsets, and marks intervention weeks with a difference array over row keys;
:func:`decode` turns codes back into panel dtypes. Both :func:`sofeval.panel.build.build_panel`
and the chunked :func:`sofeval.panel.cells.cells_from_spells` use them, so the two cannot drift
apart. No Python loop runs over spells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sofeval.data import COMPETING_STATES, EXIT_STATES, StudyData
from sofeval.errors import ContractError, OptionError
from sofeval.panel.days import NEVER, day_numbers, month_of_days
from sofeval.panel.design import (
    KEY_COLUMNS,
    StudyDesign,
    exposure_mask,
    programme_windows,
    treated,
)
from sofeval.panel.spells import (
    EXCLUSION_REASONS,
    bin_covariates,
    first_meeting_weeks,
    spell_frame,
)

__all__ = [
    "PanelAudit",
    "Prepared",
    "Rows",
    "decode",
    "need_any",
    "panel_rows",
    "prepare",
    "prepare_with_frame",
]

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
    """Per-spell integer arrays of the spells used: the input of :func:`panel_rows`.

    Built by :func:`prepare`; arrays the requested columns do not need stay ``None``.
    """

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
    """Spells in, excluded (by reason), used, person-weeks and exits of a spell frame."""
    used = sf["reason"].isna().to_numpy()
    reason = sf["reason"].to_numpy()
    items: list[tuple[str, int]] = [
        ("spells_in", len(sf)),
        ("spells_excluded", int((~used).sum())),
    ]
    of_reason = pd.Series(reason[~used]).value_counts()
    items += [(f"excluded_{r}", int(of_reason.get(r, 0))) for r in EXCLUSION_REASONS]
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
    every = bool(used.all())  # then no copy of the frames is needed
    u = sf if every else sf.loc[used]
    spell_ids = u["spell_id"].to_numpy()
    jc_all, jc_seen = pd.factorize(sf["jobcentre"])  # one pass over the names
    order = np.argsort(jc_seen.to_numpy(), kind="stable")
    jc_categories = pd.Index(jc_seen.to_numpy()[order])
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    jc = rank[jc_all[used]]
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
        binned = bin_covariates(spells if every else spells.loc[used], list(covariates))
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
    abs_day, _ = day_numbers(u["absence_start"])
    first_meeting = None
    if need & {"met", "met_workplace"}:
        first_meeting = first_meeting_weeks(study.meetings, spell_ids, abs_day)
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


def _intervention_weeks(
    interventions: pd.DataFrame, spell_ids: np.ndarray, abs_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spell position, first and last spell week of each intervention, sorted by position."""
    if len(interventions) == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty
    pos = pd.Index(spell_ids).get_indexer(interventions["spell_id"].astype(str))
    start, s_nat = day_numbers(interventions["start"])
    end, e_nat = day_numbers(interventions["end"])
    keep = (pos >= 0) & ~s_nat
    pos, start, end, e_nat = pos[keep], start[keep], end[keep], e_nat[keep]
    ws = (start - abs_day[pos]) // 7 + 1
    we = np.where(e_nat, NEVER, (end - abs_day[pos]) // 7 + 1)
    order = np.argsort(pos, kind="stable")
    return pos[order].astype(np.int64), ws[order], we[order]


@dataclass(frozen=True)
class Rows:
    """Integer-coded rows of a range of spells (internal).

    ``columns`` holds int arrays (codes for categorical columns); ``event_pos`` the row
    positions of observed exits and ``event_code`` their index in ``COMPETING_STATES``;
    ``repeats`` the rows of each spell (columns constant within a spell may hold one value
    per spell: see :func:`panel_rows`).
    """

    n_rows: int
    columns: dict[str, np.ndarray]
    event_pos: np.ndarray
    event_code: np.ndarray
    repeats: np.ndarray


def panel_rows(
    prep: Prepared, lo: int, hi: int, need: Sequence[str], per_spell: bool = False
) -> Rows:
    """Rows of the used spells ``lo:hi`` with the columns in ``need`` (integer codes).

    With ``per_spell=True`` the columns constant within a spell (``jobcentre``,
    ``link_month``, the ids, the covariates, and ``exposure``/``D`` unless the treatment is
    calendar time) hold one value per spell: ``np.repeat(column, rows.repeats)`` gives the
    column of the rows.
    """
    sl = slice(lo, hi)
    entry, last = prep.entry[sl], prep.last[sl]
    nrow = last - entry + 1

    def spread(values: np.ndarray) -> np.ndarray:
        return values if per_spell else np.repeat(values, nrow)

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
            cols[name] = month_of_days(day0)
        elif name == "spell_id":
            cols[name] = spread(np.arange(lo, hi, dtype=np.int64))
        elif name == "person_id":
            if prep.person is None:
                raise OptionError("person_id was not prepared; include it in `need`.")
            cols[name] = spread(prep.person[0][sl])
        elif name == "jobcentre":
            cols[name] = spread(prep.jc[sl])
        elif name == "phase":
            cols[name] = (week >= design.phase_cut).astype(np.int8)
        elif name == "link_month":
            cols[name] = spread(prep.link_month[sl])
        elif name in ("exposure", "D"):
            if name in cols:
                continue
            if design.treatment == "calendar":
                assert day0 is not None
                expo = exposure_mask(day0, prep.windows)
                win = np.repeat(prep.win_of_jc[prep.jc[sl]], nrow)
                cols["exposure"], cols["D"] = expo, treated(expo, win)
            else:
                cols["exposure"] = spread(prep.exposure[sl])
                cols["D"] = spread(prep.D[sl])
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
            cols[name] = spread(prep.covariates[name][0][sl])
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
        repeats=nrow,
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
        if prep.person is None:
            raise OptionError("person_id was not prepared; include it in `need`.")
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
