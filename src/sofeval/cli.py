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
from sofeval.data import load_study, read_study_dir, simulate
from sofeval.errors import SofevalError
from sofeval.montecarlo import monte_carlo
from sofeval.pipeline import run_analysis, write_outputs
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
    res = run_analysis(study, config, progress=show_progress())
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


def _cmd_synth(args: argparse.Namespace) -> int:
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
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser("synth", help="write a synthetic register data set with known truth")
    s.add_argument("--scenario", default="report")
    s.add_argument("--n-spells", type=int, default=30_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
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
