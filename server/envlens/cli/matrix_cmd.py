"""`envlens matrix PATH --grid NAME=V1,V2 ... [--params-file F] [-p NAME=VALUE] [-j N] [--out-dir D]
[--collect NAME ...]`.

Runs the file once per combination of parameters, in one environment built once. Prints a table
(index, params, status, seconds, each `--collect NAME`'s value, output) and writes it as
`<out-dir>/<stem>/summary.json` and `summary.csv`; exits 1 naming the runs that failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from envlens.cli.common import (
    add_collect,
    add_locked,
    add_timeout,
    add_trust,
    check_timeout,
    say,
)
from envlens.errors import BadInputError


def add_parameter_arguments(p: Any) -> None:
    """The options `envlens matrix` and `envlens slurm` share."""
    p.add_argument("path", type=Path, help="a .ipynb notebook or a .py percent script")
    p.add_argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2,...",
        help="one parameter's values (Python literals, else strings); several --grid multiply",
    )
    p.add_argument(
        "--params-file",
        type=Path,
        metavar="FILE",
        help="a JSON or YAML list of objects, one run each (multiplies with --grid)",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a value every run gets",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=Path("envlens-runs"),
        help="outputs go to OUT_DIR/<file stem>/ (default: ./envlens-runs)",
    )
    add_collect(p)
    add_timeout(p)
    add_trust(p)


def combinations(args: argparse.Namespace) -> list[dict[str, object]]:
    from envlens.matrix import expand, parse_grid, read_params_file
    from envlens.params import as_arguments, parse_params

    check_timeout(args.timeout)
    fixed = parse_params(args.param)
    axes = parse_grid(args.grid)
    rows = read_params_file(args.params_file) if args.params_file else None
    combos = expand(axes, rows, fixed)
    for combo in combos:
        as_arguments(combo)  # every value must read back the same (papermill literals)
    return combos


def register(sub: Any) -> None:
    p = sub.add_parser(
        "matrix",
        help="run a notebook or percent script once per combination of parameters",
        description="Expand --grid / --params-file into combinations, build the file's "
        "environment once, run each combination (papermill-style parameters), and print a summary.",
    )
    add_parameter_arguments(p)
    p.add_argument(
        "-j", "--jobs", type=int, default=1, help="runs at the same time (processes; default 1)"
    )
    add_locked(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envlens import trust
    from envlens.collect import check_names
    from envlens.matrix import print_report, require_all_ok, run_matrix

    if args.jobs < 1:
        raise BadInputError(f"-j must be at least 1, not {args.jobs}", hint="Pass for example -j 2")
    combos = combinations(args)
    collect = check_names(args.collect)

    results, summary, _key = run_matrix(
        args.path,
        combos,
        args.out_dir,
        jobs=args.jobs,
        timeout=args.timeout,
        trust_override=trust.batch_override(args.trust),
        locked=args.locked,
        collect=collect,
        progress=say,
    )
    print_report(results, summary, collect)
    require_all_ok(results, summary)
    return 0
