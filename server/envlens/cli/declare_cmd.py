"""`envlens declare PATH [--yes]`: declare what a file imports and move its `!pip install` lines.

Shows the change first; asks on a terminal; without one it applies only with --yes. A trusted file
stays trusted (envlens's own edit), except for names that look like typos or are not on PyPI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from envlens.cli.prompt import can_ask, confirm


def register(sub: Any) -> None:
    p = sub.add_parser(
        "declare",
        help="declare a file's imports and move its !pip install lines into the declaration",
        description="Add the distribution of every third-party import that is not declared, and "
        "move every `!pip install` / `%%pip install` / `!uv pip install` line into the declaration "
        "(the line leaves the code; a cell left empty goes). Shows the change, then asks.",
    )
    p.add_argument("path", type=Path, help="a .ipynb notebook or a .py script")
    p.add_argument("-y", "--yes", action="store_true", help="apply without asking")
    p.add_argument("--json", action="store_true", help="print the planned change as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envlens import trust
    from envlens.declare import plan_declare
    from envlens.edit import apply_edit
    from envlens.resolve import resolve

    plan = plan_declare(args.path)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print("\n".join(plan.lines()))
    if not plan.changes_anything:
        print(f"envlens: nothing to declare in {args.path}.", file=sys.stderr)
        return 0
    if not args.yes:
        if not can_ask():
            print(
                f"envlens: nothing written: standard input is not a terminal, so envlens cannot "
                f"ask. Run `envlens declare {args.path} --yes` to apply the change shown above.",
                file=sys.stderr,
            )
            return 1
        if not confirm(f"Apply to {plan.path.name}?"):
            print("envlens: nothing written.", file=sys.stderr)
            return 1
    before = trust.trust_state(resolve(args.path))
    for edit in plan.edits:
        apply_edit(edit)
    kept = trust.resign_if_trusted(before, args.path)
    print(
        f"envlens: updated {', '.join(str(e.path) for e in plan.edits if e.changed)}",
        file=sys.stderr,
    )
    if before.trusted and not kept:
        names = ", ".join(f.package for f in plan.questioned)
        print(
            f"envlens: not approved: {names} needs a look first; `envlens trust {args.path}` "
            "shows it before anything is installed.",
            file=sys.stderr,
        )
    return 0
