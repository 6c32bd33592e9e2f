"""`envlens run PATH [-o OUT.ipynb] [--inplace] [--timeout SECONDS] [-p NAME=VALUE ...]`: execute headless.

Progress goes to stderr; the last line is the summary. A failing cell exits 1 with its number, its
first line and the error, after its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envlens import trust
from envlens.cli.common import add_collect, add_locked, add_timeout, add_trust, check_timeout, say
from envlens.errors import EnvlensError

if TYPE_CHECKING:
    from envlens.kernels.run import RunReport


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
    add_collect(p)
    p.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="write the run's outcome as JSON to FILE (status, seconds, the error's type and "
        "message, the collected values), also when it fails; batch jobs read it",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envlens import outcome

    started = time.time()
    try:
        report = _run(args)
    except EnvlensError as exc:
        if args.record is not None:
            outcome.write(args.record, outcome.of_error(exc), started=started)
        raise
    if args.record is not None:
        outcome.write(args.record, outcome.of_report(report), started=started)
    if report.values or report.missing:
        print(format_values(report.values, report.missing))
    if report.error is not None:
        from envlens.kernels.run import strip_ansi

        if report.traceback:
            tb = "\n".join(report.traceback)
            print(tb if sys.stderr.isatty() else strip_ansi(tb), file=sys.stderr)
        print(f"envlens: {report.summary()}", file=sys.stderr)
        raise report.error
    print(f"envlens: {report.summary()}", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> RunReport:
    # Imported here: jupyter-client and nbformat take ~1 s to import, which no other command needs.
    from envlens.collect import check_names
    from envlens.kernels.run import run_file
    from envlens.params import parse_params

    check_timeout(args.timeout)
    parameters = parse_params(args.param)
    names = check_names(args.collect)
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
        collect=names,
    )
    if os.environ.get("SLURM_JOB_ID") and _in_slurm_cgroup():
        # Slurm's cgroup process tracking ends every process of a task with it: a bytecode compile
        # this run started in the background (it built the environment) would be cut short, and
        # every later task on the node would start its kernel from uncompiled code (about 0.8 s of
        # CPU more each). So such a task waits for it. Without a Slurm cgroup (proctrack/linuxproc,
        # pgid) the compile outlives the task, and waiting would only hold the task's CPUs.
        from envlens.envs.uv_backend import wait_for_bytecode
        from envlens.paths import env_dir

        wait_for_bytecode(env_dir(report.key))
    return report


def _in_slurm_cgroup() -> bool:
    """Is this process in a cgroup of Slurm's (proctrack/cgroup: the task's processes end with it)?"""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            return "slurm" in f.read()
    except OSError:
        return False


def format_values(values: dict[str, Any], missing: list[str]) -> str:
    """`name = <JSON>` lines on stdout: the collected values, for a person and for a pipe."""
    lines = [f"{name} = {json.dumps(value, ensure_ascii=False)}" for name, value in values.items()]
    lines += [f"{name} = (not assigned by the run)" for name in missing]
    return "\n".join(lines)
