"""A data profile of a validated study: what ``sofeval check`` writes beside the audit.

:func:`profile_study` describes a study in small tables, all computed vectorised from the
validated tables:

* ``tables`` -- rows per contract table (and rows dropped by the audit);
* ``summary`` -- spells, persons, jobcentres, ongoing spells, partially sick-listed spells,
  spells with a first follow-up meeting and with a first meeting at the workplace, spells
  with a workplace-oriented measure;
* ``exit_states`` -- spells per exit state, with shares;
* ``dates`` -- per date column the first and last calendar month with at least ``threshold``
  rows, and how many dates are empty (ongoing, for end dates);
* ``jobcentres`` -- per jobcentre its programme window, spells, first meetings and the
  share of them held at the workplace;
* ``jobcentre_years`` -- spells per jobcentre and calendar year of ``absence_start``;
* ``entry_weeks`` -- spells by entry week (the spell week of ``benefit_start``);
* ``first_meeting_locations`` -- spells by the location of their first follow-up meeting.

Disclosure control
------------------
Every count of spells (or meetings) is published only if it rests on at least ``threshold``
persons (default 5); counts of 1 to ``threshold - 1`` persons are suppressed (empty in the
CSV files, ``<5`` on the page) together with the shares that depend on them. Where the
table's total is published elsewhere (the spells of a jobcentre, all spells), a lone
suppressed cell could be recovered by subtraction, so further cells of the same margin are
suppressed, smallest first, until at least two are and they add up to at least
``threshold`` (:func:`suppress_counts`). Counts of 0 are shown. The date ranges use only
months with at least ``threshold`` rows, so no single person's date is shown.

The meeting tables need each spell's first meeting; the rule for it belongs to the analyses
layer (:func:`sofeval.analyses.first_meetings`), so the caller passes that frame in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sofeval.data.contract import (
    DATE_COLUMNS,
    EXIT_STATES,
    MEETING_LOCATIONS,
    StudyData,
    month_index,
    month_label,
    spell_week,
)
from sofeval.errors import OptionError

#: The profile's tables, in the order they are written and shown.
PROFILE_TABLES: tuple[str, ...] = (
    "tables",
    "summary",
    "exit_states",
    "dates",
    "jobcentres",
    "jobcentre_years",
    "entry_weeks",
    "first_meeting_locations",
)

#: Entry weeks after this one are pooled into one row (``14+``).
ENTRY_WEEK_CAP = 13

#: Values of ``partial_sick_listing`` that mean "partially sick-listed".
PARTIAL_TRUE: frozenset[str] = frozenset({"1", "1.0", "true", "yes", "y", "ja", "j"})

#: Template of the HTML page of ``sofeval check`` (inside the package).
CHECK_TEMPLATE = "report/templates/check.html"


# --- disclosure control ---------------------------------------------------------------------


def suppress_counts(
    frame: pd.DataFrame,
    count: str,
    *,
    threshold: int = 5,
    persons: str | None = None,
    shares: Sequence[str] = (),
    by: Sequence[str] | None = None,
    secondary: bool = True,
) -> pd.DataFrame:
    """Suppress counts resting on fewer than ``threshold`` persons, and their shares.

    Parameters
    ----------
    frame
        A small published table (not modified).
    count
        Column of counts to publish.
    threshold
        Smallest number of persons a published count may rest on (counts of 0 are shown).
    persons
        Column with the number of distinct persons behind each count (default: the count
        itself); it is dropped from the result.
    shares
        Columns derived from the count, suppressed with it.
    by
        Columns whose groups form a published margin (default: the whole table). With
        ``secondary``, a group with a suppressed cell gets further cells suppressed, smallest
        first, until at least two are and they add up to at least ``threshold``, so that no
        suppressed count can be recovered from the group's total.
    secondary
        Apply the secondary suppression.

    Returns
    -------
    pandas.DataFrame
        A copy; ``count`` as nullable ``Int64`` with suppressed cells missing.
    """
    if threshold < 1:
        raise OptionError(f"threshold={threshold} must be a positive count (default 5).")
    out = frame.copy()
    n = out[count].to_numpy(dtype=np.int64)
    p = out[persons].to_numpy(dtype=np.int64) if persons else n
    hide = (p >= 1) & (p < threshold)
    if secondary and hide.any():
        groups = (
            out.groupby(list(by), sort=False).ngroup().to_numpy()
            if by
            else np.zeros(len(out), dtype=np.int64)
        )
        for g in np.unique(groups[hide]):  # groups of a small published table, not data rows
            rows = np.flatnonzero(groups == g)
            while True:
                hidden = rows[hide[rows]]
                if len(hidden) >= 2 and n[hidden].sum() >= threshold:
                    break
                free = rows[~hide[rows] & (n[rows] > 0)]
                if len(free) == 0:
                    break
                hide[free[np.argmin(n[free])]] = True  # the first of equal smallest
    out[count] = pd.Series(n, index=out.index).astype("Int64").mask(hide)
    for col in shares:
        out[col] = out[col].astype("float64").mask(hide)
    return out.drop(columns=[persons]) if persons else out


# --- the tables -----------------------------------------------------------------------------


def _share(num: pd.Series | np.ndarray, den: float | np.ndarray) -> np.ndarray:
    num_ = np.asarray(num, dtype=np.float64)
    den_ = np.broadcast_to(np.asarray(den, dtype=np.float64), num_.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den_ > 0, num_ / np.where(den_ > 0, den_, 1.0), np.nan)


def _counts(spells: pd.DataFrame, keys: list[str], name: str = "spells") -> pd.DataFrame:
    """Spells and distinct persons per value of ``keys`` (sorted)."""
    g = spells.groupby(keys, sort=True, observed=True)
    return pd.DataFrame({name: g.size(), "persons": g["person_id"].nunique()}).reset_index()


def _flags(study: StudyData, first: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Per spell: ongoing, partially sick-listed, first meeting (at the workplace), measure."""
    sp = study.spells
    ids = sp["spell_id"]
    flags = {"ongoing": sp["benefit_end"].isna().to_numpy()}
    if "partial_sick_listing" in sp:
        text = sp["partial_sick_listing"].astype(str).str.strip().str.lower()
        flags["partially_sick_listed"] = text.isin(PARTIAL_TRUE).to_numpy()
    if first is not None:
        fm = first.drop_duplicates("spell_id")
        flags["with_first_meeting"] = ids.isin(fm["spell_id"]).to_numpy()
        at_work = fm.loc[fm["location"] == "workplace", "spell_id"]
        flags["first_meeting_at_workplace"] = ids.isin(at_work).to_numpy()
    flags["with_measure"] = ids.isin(study.interventions["spell_id"]).to_numpy()
    return flags


def _summary(study: StudyData, flags: dict[str, np.ndarray], threshold: int) -> pd.DataFrame:
    sp = study.spells
    person = sp["person_id"]
    items = ["spells", "persons"]
    counts = [len(sp), int(person.nunique())]
    persons = counts[:]
    for name, flag in flags.items():
        items.append(name)
        counts.append(int(flag.sum()))
        persons.append(int(person[flag].nunique()))
    base = np.full(len(items), float(len(sp)))
    if "first_meeting_at_workplace" in flags:  # share among spells with a first meeting
        base[items.index("first_meeting_at_workplace")] = flags["with_first_meeting"].sum()
    table = pd.DataFrame({"item": items, "count": counts, "persons": persons})
    table["share"] = _share(table["count"], base)
    table.loc[table["item"] == "persons", "share"] = np.nan
    published = suppress_counts(
        table, "count", threshold=threshold, persons="persons", shares=["share"], secondary=False
    )
    places = pd.DataFrame(
        {
            "item": ["jobcentres", "programme_jobcentres"],
            "count": pd.array([len(study.jobcentres), len(study.programme_jobcentres)], "Int64"),
            "share": np.nan,
        }
    )
    return pd.concat([published, places], ignore_index=True)


def _exit_states(study: StudyData, threshold: int) -> pd.DataFrame:
    sp = study.spells
    c = _counts(sp, ["exit_state"]).set_index("exit_state").reindex(list(EXIT_STATES))
    out = c.fillna(0).astype(np.int64).rename_axis("exit_state").reset_index()
    out["share"] = _share(out["spells"], len(sp))
    return suppress_counts(out, "spells", threshold=threshold, persons="persons", shares=["share"])


def _date_rows(name: str, df: pd.DataFrame, threshold: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for col in DATE_COLUMNS[name]:
        if col not in df:
            continue
        months = month_index(df[col]).to_numpy()
        known = months[months >= 0]
        lo = int(known.min()) if len(known) else 0
        ok = np.flatnonzero(np.bincount(known - lo) >= threshold) if len(known) else known
        missing = int(df[col].isna().sum())
        rows.append(
            {
                "table": name,
                "column": col,
                "first_month": month_label(lo + int(ok[0])) if len(ok) else "",
                "last_month": month_label(lo + int(ok[-1])) if len(ok) else "",
                "missing": missing,
            }
        )
    return rows


def _dates(study: StudyData, threshold: int) -> pd.DataFrame:
    frames = {
        "spells": study.spells,
        "meetings": study.meetings,
        "interventions": study.interventions,
        "programme": study.programme,
    }
    rows = [r for name, df in frames.items() for r in _date_rows(name, df, threshold)]
    out = pd.DataFrame(rows, columns=["table", "column", "first_month", "last_month", "missing"])
    return suppress_counts(out, "missing", threshold=threshold, secondary=False)


def _jobcentres(
    study: StudyData, flags: dict[str, np.ndarray], threshold: int
) -> pd.DataFrame:
    sp = study.spells
    frame = sp[["jobcentre", "person_id"]].copy()
    c = _counts(frame, ["jobcentre"])
    prog = study.programme.drop_duplicates("jobcentre").set_index("jobcentre")
    names = sorted(set(c["jobcentre"]) | set(prog.index.astype(str)))
    out = c.set_index("jobcentre").reindex(names).fillna(0).astype(np.int64)
    out.index.name = "jobcentre"
    day = "%Y-%m-%d"
    out.insert(0, "programme_start", prog["start"].reindex(names).dt.strftime(day).fillna(""))
    out.insert(1, "programme_end", prog["end"].reindex(names).dt.strftime(day).fillna(""))
    out = out.reset_index()
    published = suppress_counts(out, "spells", threshold=threshold, persons="persons")
    if "with_first_meeting" not in flags:
        return published
    frame["first"] = flags["with_first_meeting"]
    frame["work"] = flags["first_meeting_at_workplace"]
    g = frame.groupby("jobcentre", sort=True)
    fm = pd.DataFrame(
        {
            "first_meetings": g["first"].sum(),
            "fm_persons": frame[frame["first"]].groupby("jobcentre")["person_id"].nunique(),
            "workplace": g["work"].sum(),
        }
    ).reindex(names).fillna(0).astype(np.int64)
    published["first_meetings"] = fm["first_meetings"].to_numpy()
    published["fm_persons"] = fm["fm_persons"].to_numpy()
    published["share_workplace"] = _share(fm["workplace"], fm["first_meetings"].to_numpy())
    # a share reveals the workplace count and its complement: both must be 0 or >= threshold
    work, rest = fm["workplace"].to_numpy(), (fm["first_meetings"] - fm["workplace"]).to_numpy()
    small = ((work >= 1) & (work < threshold)) | ((rest >= 1) & (rest < threshold))
    published.loc[small, "share_workplace"] = np.nan
    return suppress_counts(
        published, "first_meetings", threshold=threshold, persons="fm_persons",
        shares=["share_workplace"],
    )  # fmt: skip


def _jobcentre_years(study: StudyData, threshold: int) -> pd.DataFrame:
    sp = study.spells
    frame = pd.DataFrame(
        {
            "jobcentre": sp["jobcentre"],
            "year": sp["absence_start"].dt.year.astype(np.int64),
            "person_id": sp["person_id"],
        }
    )
    out = _counts(frame, ["jobcentre", "year"])
    return suppress_counts(
        out, "spells", threshold=threshold, persons="persons", by=["jobcentre"]
    )


def _entry_weeks(study: StudyData, threshold: int) -> pd.DataFrame:
    sp = study.spells
    week = spell_week(sp["benefit_start"], sp["absence_start"]).to_numpy()
    capped = np.minimum(week, ENTRY_WEEK_CAP + 1)
    frame = pd.DataFrame({"week": capped, "person_id": sp["person_id"].to_numpy()})
    c = _counts(frame, ["week"]).set_index("week").reindex(range(1, ENTRY_WEEK_CAP + 2))
    out = c.fillna(0).astype(np.int64).rename_axis("week").reset_index()
    labels = out["week"].astype(str).to_numpy(dtype=object)
    labels[-1] = f"{ENTRY_WEEK_CAP + 1}+"
    out.insert(0, "entry_week", labels)
    out = out.drop(columns="week")
    out["share"] = _share(out["spells"], len(sp))
    return suppress_counts(out, "spells", threshold=threshold, persons="persons", shares=["share"])


def _locations(study: StudyData, first: pd.DataFrame, threshold: int) -> pd.DataFrame:
    fm = first.drop_duplicates("spell_id")
    person = study.spells.set_index("spell_id")["person_id"]
    frame = pd.DataFrame(
        {"location": fm["location"].to_numpy(), "person_id": person.reindex(fm["spell_id"])}
    )
    c = _counts(frame, ["location"]).set_index("location").reindex(list(MEETING_LOCATIONS))
    out = c.fillna(0).astype(np.int64).rename_axis("location").reset_index()
    out["share"] = _share(out["spells"], len(fm))
    return suppress_counts(out, "spells", threshold=threshold, persons="persons", shares=["share"])


def _rows(study: StudyData, threshold: int) -> pd.DataFrame:
    sizes = {
        "spells": len(study.spells),
        "meetings": len(study.meetings),
        "interventions": len(study.interventions),
        "programme": len(study.programme),
        "monitoring": 0 if study.monitoring is None else len(study.monitoring),
        "audit (rows dropped)": len(study.audit),
    }
    out = pd.DataFrame({"table": list(sizes), "rows": list(sizes.values())})
    # rows of programme windows and jobcentre-months are not counts of persons
    about_persons = ~out["table"].isin(["programme", "monitoring"]).to_numpy()
    small = about_persons & (out["rows"] >= 1).to_numpy() & (out["rows"] < threshold).to_numpy()
    out["rows"] = out["rows"].astype("Int64").mask(small)
    return out


# --- the profile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataProfile:
    """The published tables describing one study (see the module docstring).

    Attributes
    ----------
    tables
        Table name (:data:`PROFILE_TABLES`) -> published table, suppressed cells missing.
    threshold
        The disclosure threshold the tables follow.
    """

    tables: Mapping[str, pd.DataFrame]
    threshold: int

    def write_csv(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write each table as ``profile_<name>.csv`` (deterministic; suppressed cells empty).

        Parameters
        ----------
        out_dir
            Output folder (created if needed).

        Returns
        -------
        dict of str to pathlib.Path
            Table name -> file written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name, frame in self.tables.items():
            paths[name] = out / f"profile_{name}.csv"
            frame.to_csv(paths[name], index=False, float_format="%.4f", lineterminator="\n")
        return paths

    def to_html(
        self,
        audit: pd.DataFrame | None = None,
        notes: Sequence[str] = (),
        *,
        title: str = "sofeval check: data profile",
        source: str = "",
    ) -> str:
        """A small self-contained HTML page: the audit by rule, the notes and every table.

        Parameters
        ----------
        audit
            The drop audit (columns ``table``, ``row_id``, ``rule``, ``detail``); shown as
            counts by table and rule.
        notes
            Caveats to show (for example warnings raised while checking).
        title
            Page title.
        source
            Where the data came from (shown under the title).

        Returns
        -------
        str
            The page.
        """
        marker = f"<{self.threshold}"
        shown = [(name, _cells(frame, marker)) for name, frame in self.tables.items()]
        by_rule: list[list[str]] = []
        if audit is not None and len(audit):
            counts = audit.groupby(["table", "rule"], sort=True).size().reset_index(name="n")
            by_rule = [
                [str(a), str(b), f"{n:,}"]
                for a, b, n in zip(counts["table"], counts["rule"], counts["n"], strict=True)
            ]
        text = resources.files("sofeval").joinpath(CHECK_TEMPLATE).read_text("utf-8")
        import jinja2  # only the check page needs it: not loaded by a run

        env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
        return env.from_string(text).render(
            title=title,
            source=source,
            threshold=self.threshold,
            audit=by_rule,
            n_audit=0 if audit is None else len(audit),
            notes=list(notes),
            tables=shown,
        )


def _cells(frame: pd.DataFrame, marker: str) -> dict[str, object]:
    """Header and formatted rows of a table for the page (suppressed counts as ``marker``)."""
    cols = [str(c) for c in frame.columns]
    rows = []
    for rec in frame.itertuples(index=False):  # a few dozen rows of a published table
        cells = []
        for col, v in zip(cols, rec, strict=True):
            if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                is_share = col.startswith("share")
                cells.append(("", "num") if is_share else (marker, "num"))
            elif isinstance(v, (int, np.integer)):
                cells.append((f"{int(v):,}", "num"))
            elif isinstance(v, (float, np.floating)):
                cells.append((f"{100 * v:.1f} %" if col.startswith("share") else f"{v:g}", "num"))
            else:
                cells.append((str(v), ""))
        rows.append(cells)
    return {"columns": cols, "rows": rows}


def profile_study(
    study: StudyData, *, first_meetings: pd.DataFrame | None = None, threshold: int = 5
) -> DataProfile:
    """Describe a validated study in small published tables (see the module docstring).

    Parameters
    ----------
    study
        Validated study (:func:`sofeval.data.validation.validate_study`).
    first_meetings
        Each spell's first follow-up meeting, with columns ``spell_id`` and ``location``
        (:func:`sofeval.analyses.first_meetings`); without it the meeting tables and items
        are left out.
    threshold
        Disclosure control: smallest number of persons a published count may rest on.

    Returns
    -------
    DataProfile
        The tables, in the order of :data:`PROFILE_TABLES`.
    """
    if threshold < 1:
        raise OptionError(f"threshold={threshold} must be a positive count (default 5).")
    flags = _flags(study, first_meetings)
    tables = {
        "tables": _rows(study, threshold),
        "summary": _summary(study, flags, threshold),
        "exit_states": _exit_states(study, threshold),
        "dates": _dates(study, threshold),
        "jobcentres": _jobcentres(study, flags, threshold),
        "jobcentre_years": _jobcentre_years(study, threshold),
        "entry_weeks": _entry_weeks(study, threshold),
    }
    if first_meetings is not None:
        tables["first_meeting_locations"] = _locations(study, first_meetings, threshold)
    return DataProfile(tables=tables, threshold=threshold)
