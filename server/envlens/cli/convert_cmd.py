"""`envlens convert PATH --to py|ipynb [-o OUT] [--force]`: notebook <-> percent script, keeping the
declaration and the lock."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    c = sub.add_parser(
        "convert",
        help="convert a notebook to a percent script or back "
        "(the declaration and the lock come along)",
    )
    c.add_argument("path", type=Path)
    c.add_argument("--to", choices=("py", "ipynb"), required=True)
    c.add_argument("-o", "--output", type=Path, metavar="OUT")
    c.add_argument("--force", action="store_true", help="overwrite an existing output")
    c.set_defaults(func=convert_cmd)


def convert_cmd(args: argparse.Namespace) -> int:
    from envlens.convert import convert

    result = convert(args.path, args.to, output=args.output, force=args.force)
    print(f"Wrote {result.output}", file=sys.stderr)
    if result.lock_path is not None:
        print(f"Wrote {result.lock_path}", file=sys.stderr)
    elif result.lock_text is not None:
        print(f'The lock is in {result.output.name} (metadata["uv.lock"])', file=sys.stderr)
    for warning in result.warnings:
        print(f"envlens: warning: {warning}", file=sys.stderr)
    if result.dropped_outputs:
        print(
            f"{result.dropped_outputs} cell outputs were not carried over (scripts have none)",
            file=sys.stderr,
        )
    return 0
