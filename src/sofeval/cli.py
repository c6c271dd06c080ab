"""Command line: ``sofeval run``, ``check``, ``synth`` and ``montecarlo``.

* ``sofeval check`` validates an extract and writes ``data_audit.csv`` and a data profile
  (CSV files and ``check.html``): the first command to run on a new extract.
* ``sofeval run`` estimates the default SOF evaluation and writes the report.
* ``sofeval synth`` writes a synthetic data set with known truth.
* ``sofeval montecarlo`` runs a Monte Carlo over a synthetic scenario, or with ``--config
  study.toml --check`` the study's own configuration against the tolerances of its
  ``[check]`` table (a CI gate; see :mod:`sofeval.montecarlo`).

Data errors never reach the user as a traceback: every :class:`~sofeval.errors.SofevalError`
(bad input, bad option) is printed as one message and the command exits with status
:data:`EXIT_DATA_ERROR`; messages speak command line (``--invalid drop``). Library warnings
are shown as one-line ``sofeval: note: ...`` messages on standard error, one per distinct
message, and written to ``warnings.csv`` in the output folder of ``run`` and ``check``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sofeval import __version__
from sofeval.errors import ContractError, SofevalError
from sofeval.runtime import freeze_loaded, keep_freed_memory, show_progress

if TYPE_CHECKING:
    import pandas as pd

    from sofeval.config import RunConfig
    from sofeval.data import RegisterMapping, StudyData
    from sofeval.pipeline import RunResults

# pandas, the data layer, the analyses and the pipeline are imported inside the commands
# that use them, so ``sofeval --help`` answers at once.

#: Exit status for bad input or bad options (the message says what and where).
EXIT_DATA_ERROR = 2

#: Exit status of ``sofeval montecarlo --check`` when a tolerance is not met.
EXIT_CHECK_FAILED = 1

#: Replications and spells per replication of ``sofeval montecarlo`` (without ``--check``,
#: whose defaults are the ``[check]`` table's).
MC_REPS = 50
MC_N_SPELLS = 20_000

#: Columns of ``warnings.csv``.
WARNING_COLUMNS: tuple[str, ...] = ("category", "message")

#: Warning categories left to Python's defaults (meant for developers, not for users).
_DEVELOPER_WARNINGS: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    ImportWarning,
    ResourceWarning,
)

TABLE_OPTIONS: tuple[str, ...] = ("spells", "programme", "meetings", "interventions", "monitoring")


# --- notes: library warnings for a command-line user ----------------------------------------


@dataclass
class Notes:
    """Warnings caught while a command runs, and notes it adds; each distinct one once."""

    caught: list[warnings.WarningMessage] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)

    def add(self, message: str, category: str = "note") -> None:
        """Record a note of the command itself (for example a model that was skipped)."""
        self.added.append((category, message))

    def frame(self) -> pd.DataFrame:
        """Distinct ``(category, message)`` pairs in the order they first occurred."""
        import pandas as pd

        pairs = [(w.category.__name__, _one_line(str(w.message))) for w in self.caught]
        pairs += [(c, _one_line(m)) for c, m in self.added]
        return pd.DataFrame(list(dict.fromkeys(pairs)), columns=list(WARNING_COLUMNS))

    def write(self, out_dir: str | Path) -> Path:
        """Write ``warnings.csv`` (header only when there were none)."""
        path = Path(out_dir) / "warnings.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(path, index=False, lineterminator="\n")
        return path

    def show(self) -> None:
        """Print each distinct note as one ``sofeval: note: ...`` line on standard error."""
        for message in dict.fromkeys(self.frame()["message"]):
            print(f"sofeval: note: {message}", file=sys.stderr)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- data arguments --------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The embedded synthetic data set (``data/synthetic/`` of the source tree)."""
    candidates = [
        Path.cwd() / "data" / "synthetic",
        Path(__file__).resolve().parents[2] / "data" / "synthetic",
    ]
    for c in candidates:
        if (c / "spells.csv").is_file():
            return c
    raise SofevalError(
        "no data given and the embedded synthetic data (data/synthetic/spells.csv) was not "
        "found; pass --spells and --programme, or run from the sofeval source tree."
    )


def _add_data_args(p: argparse.ArgumentParser) -> None:
    for t in TABLE_OPTIONS:
        p.add_argument(f"--{t}", default=None, help=f"{t} table (CSV, Parquet, SAS or Stata)")
    p.add_argument(
        "--mapping",
        default=None,
        help="register mapping: a TOML file laid out as sofeval's kmd_mapping.toml, or 'kmd'",
    )
    p.add_argument(
        "--invalid",
        choices=("error", "drop"),
        default="error",
        help="refuse bad input (default) or drop bad rows with an audit (data_audit.csv)",
    )


def _mapping(arg: str | None) -> RegisterMapping | None:
    from sofeval.data import RegisterMapping

    if arg is None:
        return None
    return RegisterMapping.kmd() if arg == "kmd" else RegisterMapping.from_toml(arg)


def _load(args: argparse.Namespace, invalid: str | None = None) -> tuple[StudyData, str]:
    """Read and validate the study the data arguments name; also say where it came from."""
    from sofeval.data import load_study, read_study_dir

    how = invalid or args.invalid
    mapping = _mapping(args.mapping)
    if args.spells is None:
        if any(getattr(args, t) for t in TABLE_OPTIONS):
            raise SofevalError("--programme/--meetings/--interventions/--monitoring need --spells.")
        source = default_data_dir()
        if invalid is None:
            print(f"sofeval: no data given; using the embedded synthetic data in {source}")
        study = read_study_dir(source, invalid=how, mapping=mapping, audience="cli")
        return study, f"embedded synthetic data ({source})"
    study = load_study(
        args.spells,
        meetings=args.meetings,
        interventions=args.interventions,
        programme=args.programme,
        monitoring=args.monitoring,
        mapping=mapping,
        invalid=how,  # type: ignore[arg-type]
        audience="cli",
    )
    return study, str(args.spells)


def _write_audit(audit: pd.DataFrame, out_dir: str | Path) -> Path:
    """``data_audit.csv``: every dropped row (table, row_id, rule, detail)."""
    from sofeval.data import AUDIT_COLUMNS

    path = Path(out_dir) / "data_audit.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = audit.reindex(columns=list(AUDIT_COLUMNS)).astype(str)
    rows.to_csv(path, index=False, lineterminator="\n")
    return path


# --- commands --------------------------------------------------------------------------------


def _subgroups_arg(text: str | None) -> tuple[str, ...] | None:
    """``--subgroups a,b`` as a tuple; ``none`` is the empty tuple, absent is ``None``."""
    if text is not None and text.strip().lower() == "none":
        return ()
    return _list_arg(text)


def _list_arg(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated option as a tuple (absent is ``None``)."""
    if text is None:
        return None
    return tuple(v.strip() for v in text.split(",") if v.strip())


def run_config(args: argparse.Namespace) -> RunConfig:
    """The settings of ``sofeval run``: its ``--config`` file, overridden by the options.

    Parameters
    ----------
    args
        Parsed arguments of ``sofeval run`` (:func:`build_parser`).

    Returns
    -------
    RunConfig

    Raises
    ------
    OptionError
        For a bad value (the message lists the valid ones).
    """
    from sofeval.config import RunConfig

    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    return config.updated(
        data_end=args.data_end,
        covariates=tuple(c for c in args.covariates.split(",") if c) if args.covariates else None,
        lang=args.lang,
        bootstrap_draws=args.bootstrap_draws,
        ri_draws=args.ri_draws,
        seed=args.seed,
        threshold=args.threshold,
        horizon=args.horizon,
        benefit_per_week=args.benefit_per_week,
        subgroups=_subgroups_arg(args.subgroups),
        skip=_list_arg(args.skip),
    )


def _cmd_run(args: argparse.Namespace, notes: Notes) -> int:
    from sofeval.pipeline import write_outputs

    config = run_config(args)
    if args.engine == "dask" or _datasets_given(args):
        res = _run_datasets(args, config)
    else:
        res = _run_files(args, config)
    paths = write_outputs(res, args.out)
    print(res.effects.summary())
    if res.cox is not None:
        print("continuous-time cross-check (Cox, lifelines):")
        cols = ["estimand", "coef", "se", "hazard_ratio", "p_value"]
        print(res.cox[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for note in res.notes:
        notes.add(note)
    paths["warnings"] = notes.write(args.out)
    print(f"sofeval: wrote {len(paths)} files to {args.out}: " + ", ".join(sorted(paths)))
    return 0


def _cmd_check(args: argparse.Namespace, notes: Notes) -> int:
    from sofeval.analyses import first_meetings
    from sofeval.data import profile_study

    out = Path(args.out)
    try:
        study, source = _load(args)
    except ContractError as exc:
        if args.invalid == "drop":
            raise
        try:  # list every offending row for the analyst, as --invalid drop would
            dropped, _ = _load(args, invalid="drop")
        except SofevalError:
            raise exc from None
        _write_audit(dropped.audit, out)
        notes.write(out)
        raise ContractError(
            f"{exc}\nEvery offending row is listed in {out / 'data_audit.csv'}.",
            table=exc.table,
            rule=exc.rule,
            rows=exc.rows,
        ) from None
    profile = profile_study(study, first_meetings=first_meetings(study), threshold=args.threshold)
    paths = {"data_audit": _write_audit(study.audit, out)}
    paths |= {f"profile_{k}": v for k, v in profile.write_csv(out).items()}
    page = out / "check.html"
    paths["check.html"] = page
    paths["warnings"] = notes.write(out)  # before the page, so the page shows the same notes
    html = profile.to_html(study.audit, list(notes.frame()["message"]), source=source)
    page.write_text(html, encoding="utf-8", newline="\n")
    summary = profile.tables["summary"].set_index("item")["count"]
    print(
        f"sofeval: {summary['spells']:,} spells of {summary['jobcentres']} jobcentres pass "
        f"every contract rule; {len(study.audit)} rows dropped"
        + (" (see data_audit.csv)" if len(study.audit) else "")
    )
    print(f"sofeval: wrote {len(paths)} files to {out}: " + ", ".join(sorted(paths)))
    return 0


def _datasets_given(args: argparse.Namespace) -> bool:
    """Whether a table is given as a dataset (directory, glob or URL)."""
    from sofeval.data import is_dataset_location

    return any(is_dataset_location(getattr(args, t)) for t in TABLE_OPTIONS)


def _run_files(args: argparse.Namespace, config: RunConfig) -> RunResults:
    """``sofeval run`` on files read whole (the in-process engine)."""
    from sofeval.pipeline import run_analysis

    study, _source = _load(args)
    freeze_loaded()
    if len(study.audit):
        print(f"sofeval: {len(study.audit)} rows dropped by --invalid drop (see data_audit.csv)")
    print(f"sofeval: {len(study.spells):,} spells validated; estimating ...")
    return run_analysis(study, config, progress=show_progress(), figures=True)


def _run_datasets(args: argparse.Namespace, config: RunConfig) -> RunResults:
    """``sofeval run`` on partitioned datasets or with ``--engine dask``."""
    from sofeval.data import open_study_dataset
    from sofeval.engines import DEFAULT_WORKERS
    from sofeval.pipeline import run_analysis

    if args.spells is None:
        if any(getattr(args, t) for t in TABLE_OPTIONS[1:]):
            raise SofevalError("--programme/--meetings/--interventions/--monitoring need --spells.")
        source = default_data_dir()
        print(f"sofeval: no data given; using the embedded synthetic data in {source}")
        found = {
            t: str(source / f"{t}.csv") for t in TABLE_OPTIONS if (source / f"{t}.csv").is_file()
        }
    else:
        found = {t: getattr(args, t) for t in TABLE_OPTIONS if getattr(args, t) is not None}
    dataset = open_study_dataset(
        found["spells"], found.get("meetings"), found.get("interventions"),
        found.get("programme"), found.get("monitoring"), invalid=args.invalid, audience="cli",
    )
    if args.engine == "local":
        study = dataset.load()
        freeze_loaded()
        print(f"sofeval: {len(study.spells):,} spells validated; estimating ...")
        return run_analysis(study, config, progress=show_progress(), figures=True)
    where = args.scheduler or f"a local cluster of {args.workers or DEFAULT_WORKERS} workers"
    print(f"sofeval: {len(dataset.spells.pieces):,} partitions; estimating on {where} ...")
    res = run_analysis(
        dataset, config, progress=show_progress(), engine="dask", workers=args.workers,
        scheduler=args.scheduler, figures=True,
    )
    if len(res.audit):
        print(f"sofeval: {len(res.audit)} rows dropped by --invalid drop (see data_audit.csv)")
    audit = res.cells.audit
    n_in = int(audit["value"].to_numpy()[(audit["item"] == "spells_in").to_numpy()][0])
    print(f"sofeval: {n_in:,} spells validated on the cluster")
    return res


def _cmd_synth(args: argparse.Namespace, notes: Notes) -> int:
    from sofeval.data import simulate, write_synthetic_dataset

    if args.format == "parquet":
        ds = write_synthetic_dataset(
            args.out, args.scenario, args.n_spells, args.seed, chunk_size=args.chunk_size,
            partition_by=(args.partition_by,) if args.partition_by else (),
            progress=show_progress(),
        )
        print(
            f"sofeval: wrote the {args.scenario!r} scenario ({ds.n_spells:,} spells in "
            f"{ds.n_chunks} chunks, seed {args.seed}) as Parquet datasets to {args.out}"
        )
        return 0
    if args.partition_by:
        raise SofevalError("--partition-by needs --format parquet.")
    data = simulate(
        args.scenario, n_spells=args.n_spells, seed=args.seed, progress=show_progress()
    )
    data.write_csv(args.out)
    print(
        f"sofeval: wrote the {args.scenario!r} scenario ({args.n_spells:,} spells, "
        f"seed {args.seed}) to {args.out}"
    )
    return 0


def _cmd_montecarlo(args: argparse.Namespace, notes: Notes) -> int:
    from sofeval.config import RunConfig
    from sofeval.montecarlo import check_failures, check_study, monte_carlo

    if args.check:
        if args.config is None:
            raise SofevalError("--check needs --config study.toml (its [check] table).")
        gate = check_study(
            RunConfig.from_toml(args.config),
            reps=args.reps,
            n_spells=args.n_spells,
            seed=args.seed,
            jobs=args.jobs,
            progress=show_progress(),
        )
        if args.out:
            gate.write(args.out)
        print(gate.summary())
        failed = check_failures(gate.table)
        if len(failed):
            print(f"sofeval: the check failed: {len(failed)} of {len(gate.table)} criteria "
                  "outside their tolerances (see the table above)", file=sys.stderr)
            return EXIT_CHECK_FAILED
        print(f"sofeval: the check passed: all {len(gate.table)} criteria within tolerance")
        return 0
    if args.out is None:
        raise SofevalError("sofeval montecarlo needs --out DIR (or --config FILE --check).")
    config = RunConfig.from_toml(args.config) if args.config else None
    reps = args.reps or MC_REPS
    mc = monte_carlo(
        args.scenario,
        reps=reps,
        n_spells=args.n_spells or MC_N_SPELLS,
        seed=args.seed or 0,
        jobs=args.jobs,
        progress=show_progress(),
        bootstrap_draws=args.bootstrap_draws,
        ri_draws=args.ri_draws,
        config=config,
    )
    paths = mc.write(args.out)
    print(mc.summary())
    if len(mc.failed):
        print(
            f"sofeval: {len(mc.failed)} of {reps} replications failed numerically and are "
            "left out of the summary (see mc_failed.csv)"
        )
    print(f"sofeval: wrote {', '.join(sorted(p.name for p in paths))} to {args.out}")
    return 0


# --- the parser ------------------------------------------------------------------------------


def _threshold_arg(p: argparse.ArgumentParser, default: int | None) -> None:
    p.add_argument(
        "--threshold",
        type=int,
        default=default,
        help="disclosure control: smallest number of persons a published count rests on "
        "(default 5)",
    )


#: The commands and their one-line help.
COMMANDS: dict[str, str] = {
    "check": "validate an extract; write the audit and a data profile",
    "run": "estimate the default SOF evaluation and write the report",
    "synth": "write a synthetic register data set with known truth",
    "montecarlo": "Monte Carlo over a synthetic scenario; with --config --check, a CI gate",
}


def _top_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``sofeval`` parser with its commands, before their options are added."""
    p = argparse.ArgumentParser(
        prog="sofeval",
        description=(
            "Register-based evaluation of return-to-work programmes (Sammen om Fastholdelse)."
        ),
    )
    p.add_argument("--version", action="version", version=f"sofeval {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    return p, {name: sub.add_parser(name, help=text) for name, text in COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sofeval`` command."""
    from sofeval.analyses import BENEFIT_PER_WEEK
    from sofeval.config import OPTIONAL_ANALYSES
    from sofeval.data import CHUNK_SPELLS, SPELL_COVARIATES
    from sofeval.engines import DEFAULT_WORKERS

    p, commands = _top_parser()
    c = commands["check"]
    _add_data_args(c)
    _threshold_arg(c, 5)
    c.add_argument("--out", required=True, help="output folder")
    c.set_defaults(func=_cmd_check)

    r = commands["run"]
    _add_data_args(r)
    r.add_argument("--config", default=None, help="study.toml with design/model/inference")
    r.add_argument("--data-end", default=None, help="study data end, YYYY-MM-DD")
    r.add_argument("--covariates", default=None, help="comma-separated covariates")
    r.add_argument("--lang", choices=("en", "da"), default=None, help="report language")
    r.add_argument("--bootstrap-draws", type=int, default=None)
    r.add_argument("--ri-draws", type=int, default=None)
    r.add_argument("--seed", type=int, default=None)
    r.add_argument(
        "--horizon",
        type=int,
        default=None,
        help="weeks on benefit are counted up to this spell week (default 52, or the "
        "design's max_weeks when shorter)",
    )
    r.add_argument(
        "--benefit-per-week",
        type=float,
        default=None,
        help="kroner per week on sickness benefit, for the kroner saved (default "
        f"{BENEFIT_PER_WEEK:g}: the maximum weekly benefit of 2018)",
    )
    r.add_argument(
        "--subgroups",
        default=None,
        help="comma-separated spell covariates for the subgroup effects (of "
        f"{', '.join(SPELL_COVARIATES)}; default: those in the data; 'none' for none)",
    )
    r.add_argument(
        "--skip",
        default=None,
        help="comma-separated analyses to leave out (of "
        f"{', '.join(OPTIONAL_ANALYSES)}; default: none)",
    )
    _threshold_arg(r, None)
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="compute the cells in this process (default) or on a dask cluster "
        "(tables may then be partitioned datasets: directories, globs or URLs)",
    )
    where = r.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, help="dask scheduler address (tcp://...)")
    where.add_argument(
        "--workers", type=int, default=None,
        help=f"processes of a local dask cluster (default {DEFAULT_WORKERS})",
    )
    r.set_defaults(func=_cmd_run)

    s = commands["synth"]
    s.add_argument("--scenario", default="report")
    s.add_argument("--n-spells", type=int, default=30_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument(
        "--format", choices=("csv", "parquet"), default="csv",
        help="CSV files (default) or Parquet datasets written chunk by chunk",
    )
    s.add_argument(
        "--partition-by", choices=("jobcentre",), default=None,
        help="hive-partition the Parquet datasets by the spell's jobcentre",
    )
    s.add_argument("--chunk-size", type=int, default=CHUNK_SPELLS, help="spells per chunk")
    s.set_defaults(func=_cmd_synth)

    v = commands["montecarlo"]
    v.add_argument("--scenario", default="null")
    v.add_argument("--config", default=None, help="study.toml: its model, design, inference")
    v.add_argument(
        "--check",
        action="store_true",
        help="run the study's configuration on the null and homogeneous scenarios and exit "
        "non-zero if bias, coverage or size break the tolerances of its [check] table",
    )
    v.add_argument("--reps", type=int, default=None, help=f"replications (default {MC_REPS})")
    v.add_argument("--n-spells", type=int, default=None, help="spells per replication")
    v.add_argument("--seed", type=int, default=None)
    v.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    v.add_argument("--bootstrap-draws", type=int, default=199)
    v.add_argument("--ri-draws", type=int, default=199)
    v.add_argument("--out", default=None, help="output folder")
    v.set_defaults(func=_cmd_montecarlo)
    return p


def _run_command(args: argparse.Namespace, notes: Notes) -> int:
    try:
        return int(args.func(args, notes))
    except SofevalError as exc:
        message = str(exc)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        message = f"cannot read {exc.filename}: {exc.strerror}"
    except tomllib.TOMLDecodeError as exc:
        message = f"the config file is not valid TOML: {exc}"
    notes.show()
    print(f"sofeval: error: {message}", file=sys.stderr)
    return EXIT_DATA_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sofeval`` command; returns the exit status."""
    keep_freed_memory()  # before numpy is imported (docs/performance.md)
    words = list(sys.argv[1:] if argv is None else argv)
    # without a command (--help, --version, a usage error) the commands' options, whose
    # defaults come from the analyses, are not needed: answer without importing them
    parser = build_parser() if any(w in COMMANDS for w in words) else _top_parser()[0]
    args = parser.parse_args(words)
    notes = Notes()
    with warnings.catch_warnings(record=True) as caught:
        # every warning is recorded once per distinct message, none printed with its source
        # line; the categories meant for developers keep Python's defaults
        warnings.simplefilter("always")
        for category in _DEVELOPER_WARNINGS:
            warnings.filterwarnings("ignore", category=category)
        notes.caught = caught
        status = _run_command(args, notes)
        if status == 0:
            notes.show()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
