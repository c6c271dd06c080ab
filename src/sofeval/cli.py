"""Command line: ``sofeval run``, ``sofeval synth`` and ``sofeval montecarlo``.

Data errors never reach the user as a traceback: every :class:`~sofeval.errors.SofevalError`
(bad input, bad option) is printed as one message and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from sofeval import __version__
from sofeval.config import RunConfig
from sofeval.data import (
    CHUNK_SPELLS,
    is_dataset_location,
    load_study,
    open_study_dataset,
    read_study_dir,
    simulate,
    write_synthetic_dataset,
)
from sofeval.engines import DEFAULT_WORKERS
from sofeval.errors import SofevalError
from sofeval.montecarlo import monte_carlo
from sofeval.pipeline import RunResults, run_analysis, write_outputs
from sofeval.runtime import show_progress

EXIT_DATA_ERROR = 2


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


def _cmd_run(args: argparse.Namespace) -> int:
    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    config = config.updated(
        data_end=args.data_end,
        covariates=tuple(c for c in args.covariates.split(",") if c) if args.covariates else None,
        lang=args.lang,
        bootstrap_draws=args.bootstrap_draws,
        ri_draws=args.ri_draws,
        seed=args.seed,
        threshold=args.threshold,
    )
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
        print(f"sofeval: note: {note}")
    print(f"sofeval: wrote {len(paths)} files to {args.out}: " + ", ".join(sorted(paths)))
    return 0


_TABLES = ("spells", "programme", "meetings", "interventions", "monitoring")


def _datasets_given(args: argparse.Namespace) -> bool:
    """Whether a table is given as a dataset (directory, glob or URL)."""
    return any(is_dataset_location(getattr(args, t)) for t in _TABLES)


def _run_files(args: argparse.Namespace, config: RunConfig) -> RunResults:
    """``sofeval run`` on files read whole (the in-process engine)."""
    if args.spells is None:
        if any(getattr(args, t) for t in ("programme", "meetings", "interventions", "monitoring")):
            raise SofevalError("--programme/--meetings/--interventions/--monitoring need --spells.")
        source = default_data_dir()
        print(f"sofeval: no data given; using the embedded synthetic data in {source}")
        study = read_study_dir(source, invalid=args.invalid)
    else:
        study = load_study(
            args.spells,
            meetings=args.meetings,
            interventions=args.interventions,
            programme=args.programme,
            monitoring=args.monitoring,
            invalid=args.invalid,
        )
    if len(study.audit):
        print(f"sofeval: {len(study.audit)} rows dropped by --invalid drop (see data_audit.csv)")
    print(f"sofeval: {len(study.spells):,} spells validated; estimating ...")
    return run_analysis(study, config, progress=show_progress())


def _run_datasets(args: argparse.Namespace, config: RunConfig) -> RunResults:
    """``sofeval run`` on partitioned datasets or with ``--engine dask``."""
    if args.spells is None:
        if any(getattr(args, t) for t in _TABLES[1:]):
            raise SofevalError("--programme/--meetings/--interventions/--monitoring need --spells.")
        source = default_data_dir()
        print(f"sofeval: no data given; using the embedded synthetic data in {source}")
        found = {t: str(source / f"{t}.csv") for t in _TABLES if (source / f"{t}.csv").is_file()}
    else:
        found = {t: getattr(args, t) for t in _TABLES if getattr(args, t) is not None}
    dataset = open_study_dataset(
        found["spells"], found.get("meetings"), found.get("interventions"),
        found.get("programme"), found.get("monitoring"), invalid=args.invalid,
    )
    if args.engine == "local":
        study = dataset.load()
        print(f"sofeval: {len(study.spells):,} spells validated; estimating ...")
        return run_analysis(study, config, progress=show_progress())
    where = args.scheduler or f"a local cluster of {args.workers or DEFAULT_WORKERS} workers"
    print(f"sofeval: {len(dataset.spells.pieces):,} partitions; estimating on {where} ...")
    res = run_analysis(
        dataset, config, progress=show_progress(), engine="dask", workers=args.workers,
        scheduler=args.scheduler,
    )
    if len(res.audit):
        print(f"sofeval: {len(res.audit)} rows dropped by --invalid drop (see data_audit.csv)")
    audit = res.cells.audit
    n_in = int(audit["value"].to_numpy()[(audit["item"] == "spells_in").to_numpy()][0])
    print(f"sofeval: {n_in:,} spells validated on the cluster")
    return res


def _cmd_synth(args: argparse.Namespace) -> int:
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


def _cmd_montecarlo(args: argparse.Namespace) -> int:
    mc = monte_carlo(
        args.scenario,
        reps=args.reps,
        n_spells=args.n_spells,
        seed=args.seed,
        jobs=args.jobs,
        progress=show_progress(),
        bootstrap_draws=args.bootstrap_draws,
        ri_draws=args.ri_draws,
    )
    paths = mc.write(args.out)
    print(mc.summary())
    if len(mc.failed):
        print(
            f"sofeval: {len(mc.failed)} of {args.reps} replications failed numerically and are "
            "left out of the summary (see mc_failed.csv)"
        )
    print(f"sofeval: wrote {', '.join(sorted(p.name for p in paths))} to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sofeval`` command."""
    p = argparse.ArgumentParser(
        prog="sofeval",
        description=(
            "Register-based evaluation of return-to-work programmes (Sammen om Fastholdelse)."
        ),
    )
    p.add_argument("--version", action="version", version=f"sofeval {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="estimate the default SOF evaluation and write the report")
    for t in ("spells", "programme", "meetings", "interventions", "monitoring"):
        r.add_argument(f"--{t}", default=None, help=f"{t} table (CSV, Parquet, SAS or Stata)")
    r.add_argument("--config", default=None, help="study.toml with design/model/inference")
    r.add_argument("--data-end", default=None, help="study data end, YYYY-MM-DD")
    r.add_argument("--covariates", default=None, help="comma-separated covariates")
    r.add_argument(
        "--invalid",
        choices=("error", "drop"),
        default="error",
        help="refuse bad input (default) or drop bad rows with an audit",
    )
    r.add_argument("--lang", choices=("en", "da"), default=None, help="report language")
    r.add_argument("--bootstrap-draws", type=int, default=None)
    r.add_argument("--ri-draws", type=int, default=None)
    r.add_argument("--seed", type=int, default=None)
    r.add_argument(
        "--threshold",
        type=int,
        default=None,
        help="disclosure control: smallest count shown (default 5)",
    )
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

    s = sub.add_parser("synth", help="write a synthetic register data set with known truth")
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

    v = sub.add_parser("montecarlo", help="Monte Carlo validation over a synthetic scenario")
    v.add_argument("--scenario", default="null")
    v.add_argument("--reps", type=int, default=50)
    v.add_argument("--n-spells", type=int, default=20_000)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    v.add_argument("--bootstrap-draws", type=int, default=199)
    v.add_argument("--ri-draws", type=int, default=199)
    v.add_argument("--out", required=True)
    v.set_defaults(func=_cmd_montecarlo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sofeval`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SofevalError as exc:
        print(f"sofeval: error: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"sofeval: error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except tomllib.TOMLDecodeError as exc:
        print(f"sofeval: error: the config file is not valid TOML: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
