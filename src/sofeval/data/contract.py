"""The data contract (DESIGN.md §2): table names, columns, dtypes and categories.

This module holds the *stable public names* of the contract and the validated
container :class:`StudyData`. Validation itself lives in :mod:`sofeval.data.validation`;
readers for files and register extracts live in :mod:`sofeval.data.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

#: Exit states of a sickness-benefit spell. ``employment`` is the event of interest;
#: the others are competing risks; ``censored`` means still on benefit (or lost) at the end.
EXIT_STATES: tuple[str, ...] = (
    "employment",
    "unemployment",
    "job_clarification",
    "flexjob",
    "disability_pension",
    "education",
    "other",
    "censored",
)

#: Exit states that end a spell by a transition (every state but ``censored``).
COMPETING_STATES: tuple[str, ...] = tuple(s for s in EXIT_STATES if s != "censored")

#: Locations of a follow-up meeting.
MEETING_LOCATIONS: tuple[str, ...] = ("workplace", "jobcentre", "phone", "digital", "other")

#: The 19 jobcentres of Sammen om Fastholdelse (Tårnby and Dragør share one jobcentre).
SOF_JOBCENTRES: tuple[str, ...] = (
    "Billund",
    "Hedensted",
    "Allerød",
    "Faaborg-Midtfyn",
    "Herning",
    "Ballerup",
    "Fredericia",
    "Lemvig",
    "Faxe",
    "Kolding",
    "Odder",
    "Gentofte",
    "Vejen",
    "Rebild",
    "Lejre",
    "Vejle",
    "Viborg",
    "Ringsted",
    "Stevns",
    "Tårnby/Dragør",
)

#: Programme period of SOF.
SOF_START = pd.Timestamp("2017-10-01")
SOF_END = pd.Timestamp("2018-12-31")

#: Required and optional columns per table. Dates are ``datetime64[ns]``; ids are strings.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "spells": ("spell_id", "person_id", "jobcentre", "absence_start", "benefit_end", "exit_state"),
    "meetings": ("spell_id", "date", "location"),
    "interventions": ("spell_id", "start", "end", "type"),
    "programme": ("jobcentre", "start", "end"),
    "monitoring": ("jobcentre", "month", "first_meetings", "workplace_meetings"),
}

#: Date columns per table.
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "spells": ("absence_start", "benefit_start", "benefit_end"),
    "meetings": ("date",),
    "interventions": ("start", "end"),
    "programme": ("start", "end"),
    "monitoring": (),
}

#: Known optional covariates of ``spells`` (any further column is kept as a covariate).
SPELL_COVARIATES: tuple[str, ...] = (
    "sex",
    "age",
    "diagnosis_group",
    "visitation_category",
    "sector",
    "partial_sick_listing",
)

#: Row identifier used in errors and audits, per table.
ROW_ID: dict[str, str] = {
    "spells": "spell_id",
    "meetings": "spell_id",
    "interventions": "spell_id",
    "programme": "jobcentre",
    "monitoring": "jobcentre",
}

TABLES: tuple[str, ...] = ("spells", "meetings", "interventions", "programme", "monitoring")


def empty_table(name: str) -> pd.DataFrame:
    """Return an empty table with the contract's required columns and dtypes.

    Parameters
    ----------
    name
        Contract table name.

    Returns
    -------
    pandas.DataFrame
        Zero rows, the required columns, dates as ``datetime64[ns]``.
    """
    cols = REQUIRED_COLUMNS[name]
    data: dict[str, pd.Series] = {}
    for c in cols:
        if c in DATE_COLUMNS[name]:
            data[c] = pd.Series([], dtype="datetime64[ns]")
        elif c in ("first_meetings", "workplace_meetings"):
            data[c] = pd.Series([], dtype="int64")
        else:
            data[c] = pd.Series([], dtype="object")
    return pd.DataFrame(data)


AUDIT_COLUMNS: tuple[str, ...] = ("table", "row_id", "rule", "detail")


@dataclass(frozen=True)
class StudyData:
    """Validated contract tables of one study.

    Attributes
    ----------
    spells
        One row per spell; ``benefit_start`` filled (default ``absence_start``);
        ``benefit_end`` is ``NaT`` for ongoing spells; ``exit_state`` a string in
        :data:`EXIT_STATES`; ``spell_id``, ``person_id``, ``jobcentre`` strings.
    meetings, interventions, programme
        Contract tables (possibly empty, never ``None``).
    monitoring
        Optional jobcentre-month counts overriding what is derived from ``meetings``.
    audit
        Rows dropped in lenient mode, with columns :data:`AUDIT_COLUMNS`
        (empty when nothing was dropped).
    """

    spells: pd.DataFrame
    meetings: pd.DataFrame = field(default_factory=lambda: empty_table("meetings"))
    interventions: pd.DataFrame = field(default_factory=lambda: empty_table("interventions"))
    programme: pd.DataFrame = field(default_factory=lambda: empty_table("programme"))
    monitoring: pd.DataFrame | None = None
    audit: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {c: pd.Series([], dtype="object") for c in AUDIT_COLUMNS}
        )
    )

    @property
    def programme_jobcentres(self) -> tuple[str, ...]:
        """Jobcentres with a programme window, sorted."""
        return tuple(sorted(self.programme["jobcentre"].astype(str).unique()))

    @property
    def jobcentres(self) -> tuple[str, ...]:
        """All jobcentres appearing in ``spells``, sorted."""
        return tuple(sorted(self.spells["jobcentre"].astype(str).unique()))

    def data_end(self) -> pd.Timestamp:
        """Latest date observed in the spells (used as the default study data end)."""
        cols = [c for c in ("absence_start", "benefit_start", "benefit_end") if c in self.spells]
        return pd.Timestamp(self.spells[cols].max().max())


# --- shared date helpers (spell weeks and integer months) -------------------------------


def month_index(dates: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Integer month ``12*year + month - 1`` of each date (``-1`` for missing dates).

    Parameters
    ----------
    dates
        Dates (``datetime64``).

    Returns
    -------
    pandas.Series
        ``int32`` month indices aligned with ``dates``.
    """
    s = pd.Series(dates)
    dt = s.dt
    out = (dt.year * 12 + dt.month - 1).fillna(-1)
    return out.astype("int32")


def month_label(months: pd.Series | int) -> pd.Series | str:
    """Format integer months (see :func:`month_index`) as ``YYYY-MM`` strings."""
    if isinstance(months, (int,)):
        return f"{months // 12:04d}-{months % 12 + 1:02d}"
    m = pd.Series(months).astype("int64")
    return (m // 12).astype(str).str.zfill(4) + "-" + (m % 12 + 1).astype(str).str.zfill(2)


def parse_month(labels: pd.Series) -> pd.Series:
    """Parse ``YYYY-MM`` strings into integer months (see :func:`month_index`)."""
    dt = pd.to_datetime(pd.Series(labels).astype(str) + "-01", format="%Y-%m-%d", errors="coerce")
    return month_index(dt)


def spell_week(dates: pd.Series, absence_start: pd.Series) -> pd.Series:
    """Spell week ``floor((d - absence_start) / 7 days) + 1`` (DESIGN.md §3).

    Missing dates give ``-1``.
    """
    days = (pd.Series(dates) - pd.Series(absence_start)).dt.days
    return (days // 7 + 1).fillna(-1).astype("int32")


#: The week-8 date of a spell is ``absence_start + WEEK8_OFFSET``.
WEEK8_OFFSET = pd.Timedelta(days=49)
