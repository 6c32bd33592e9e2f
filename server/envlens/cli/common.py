"""Options and output shared by the commands that run notebooks (run, matrix, slurm, install)."""

from __future__ import annotations

import argparse
import sys

from envlens.errors import BadInputError


def say(message: str) -> None:
    """Progress for a person: stderr (stdout stays clean for --json and pipes)."""
    print(f"envlens: {message}", file=sys.stderr, flush=True)


def add_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="interrupt a cell that runs longer than this (default: no limit)",
    )


def add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust",
        action="store_true",
        help="run even if the file's dependencies are not approved (batch runs; or ENVLENS_TRUST=1)",
    )


def add_locked(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--locked",
        action="store_true",
        help="refuse to run unless the file has a lock that matches its declaration; build from it",
    )


def add_collect(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--collect",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="after the run, read these variables' values (give them after the file)",
    )


def check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout <= 0:
        raise BadInputError(
            f"--timeout must be a positive number of seconds, not {timeout:g}",
            hint="Pass for example --timeout 600, or leave it out for no limit",
        )
