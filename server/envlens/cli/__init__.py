"""`envlens ...`: the command line. Each command lives in its own module with `register(subparsers)`.

Expected failures (EnvlensError) become one line on stderr and an exit code (2 bad input, 1 failure,
3 untrusted), and so does any operating-system error (exit 1); a reader that closes the pipe
(`| head`) ends the command quietly. Only a bug prints a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from envlens import __version__
from envlens.cli import (
    convert_cmd,
    declare_cmd,
    edit_cmd,
    envs_cmd,
    export_cmd,
    history_cmd,
    install_cmd,
    lock_cmd,
    matrix_cmd,
    resolve_cmd,
    run_cmd,
    serve_cmd,
    slurm_cmd,
    trust_cmd,
)
from envlens.errors import EnvlensError
from envlens.fileio import os_error

# One module per command family, in the order `envlens --help` lists them; each defines
# register(subparsers) and sets `func` on its parser.
COMMANDS = (
    resolve_cmd,
    edit_cmd,
    declare_cmd,
    install_cmd,
    envs_cmd,
    history_cmd,
    run_cmd,
    serve_cmd,
    trust_cmd,
    lock_cmd,
    export_cmd,
    convert_cmd,
    matrix_cmd,
    slurm_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envlens",
        description="Give every notebook and percent script its own reproducible environment.",
    )
    parser.add_argument("--version", action="version", version=f"envlens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def _stdout_gone() -> int:
    """The reader of our output left (`envlens envs list | head -3`): stop quietly, as `ls` does."""
    # Point stdout at /dev/null so the interpreter's final flush does not fail a second time.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


def _error_line(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr may be a closed pipe too
        print(f"envlens: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="envlens: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at exit
        return int(result or 0)
    except EnvlensError as exc:
        _error_line(exc.one_line())
        if args.verbose and exc.log:
            print(exc.log, file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return _stdout_gone()
    except OSError as exc:
        # The one place an operating-system error (permissions, disk full, ...) becomes a line.
        _error_line(os_error(exc).one_line())
        return 1
    except KeyboardInterrupt:
        print("envlens: interrupted", file=sys.stderr)
        return 130
