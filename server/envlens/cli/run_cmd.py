"""`envlens run PATH [-o OUT.ipynb] [--inplace] [--timeout SECONDS] [-p NAME=VALUE ...]`: execute headless.

Progress goes to stderr; the last line is the summary. A failing cell exits 1 with its number, its
first line and the error, after its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.cli.common import add_locked, add_timeout, add_trust, check_timeout, say


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="execute a notebook or percent script in its own environment and save the outputs",
        description="Build (or reuse) the file's environment, run every code cell in order, stop at "
        "the first error, and write the executed notebook (default: NAME.out.ipynb beside it).",
    )
    p.add_argument("path", type=Path, help="a .ipynb notebook or a .py percent script")
    p.add_argument("-o", "--output", type=Path, help="where to write the executed notebook")
    p.add_argument(
        "--inplace", action="store_true", help="write the outputs into the notebook itself"
    )
    add_timeout(p)
    add_trust(p)
    add_locked(p)
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="set a parameter (papermill style: injected after the cell tagged 'parameters'); "
        "VALUE is a Python literal, else a string; repeat for more",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: jupyter-client and nbformat take ~1 s to import, which no other command needs.
    from envlens.kernels.run import run_file, strip_ansi
    from envlens.params import parse_params

    check_timeout(args.timeout)
    parameters = parse_params(args.param)
    # Nothing is installed or run until approved (exit 3, says how); run_file checks it after the
    # arguments, on the resolution it runs.
    report = run_file(
        args.path,
        args.output,
        inplace=args.inplace,
        timeout=args.timeout,
        progress=say,
        trust_override=trust.batch_override(args.trust),
        locked=args.locked,
        parameters=parameters or None,
    )
    if report.error is not None:
        if report.traceback:
            tb = "\n".join(report.traceback)
            print(tb if sys.stderr.isatty() else strip_ansi(tb), file=sys.stderr)
        print(f"envlens: {report.summary()}", file=sys.stderr)
        raise report.error
    print(f"envlens: {report.summary()}", file=sys.stderr)
    return 0
