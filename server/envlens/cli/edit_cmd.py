"""`envlens add PATH REQ...` and `envlens remove PATH NAME...`: edit the declaration where it lives."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.cli.prompt import check_names
from envlens.edit import apply_edit, plan_edit
from envlens.resolve import resolve


def register(sub: Any) -> None:
    p = sub.add_parser("add", help="add dependencies to a notebook's or script's declaration")
    p.add_argument("path", type=Path)
    p.add_argument("requirements", nargs="+", metavar="REQUIREMENT")
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="add look-alike or unknown names as written without asking (they stay unapproved)",
    )
    p.set_defaults(func=add)
    r = sub.add_parser("remove", help="remove dependencies from the declaration")
    r.add_argument("path", type=Path)
    r.add_argument("names", nargs="+", metavar="NAME")
    r.set_defaults(func=remove)


def add(args: argparse.Namespace) -> int:
    before = trust.trust_state(resolve(args.path))  # before the edit: a bad key stops it here
    plan_edit(args.path, add=args.requirements)  # bad requirements fail here, before any question
    checked = check_names(list(args.requirements), str(args.path), yes=args.yes)
    if checked.cancelled:
        print("Nothing was changed.", file=sys.stderr)
        return 1
    edit = plan_edit(args.path, add=checked.requirements)
    changed = apply_edit(edit)
    # envlens's own edit keeps a trusted file trusted, except for a questioned name.
    kept = trust.resign_if_trusted(before, args.path, confirmed=checked.confirmed)
    print(
        f"{'Added' if changed else 'Already declared'}: {', '.join(checked.requirements)} "
        f"({edit.path})",
        file=sys.stderr,
    )
    if before.trusted and not kept:
        names = ", ".join(f.package for f in checked.held_back) or "the new names"
        print(
            f"Not approved: {names} needs a look first; `envlens trust {args.path}` shows it "
            "before anything is installed.",
            file=sys.stderr,
        )
    return 0


def remove(args: argparse.Namespace) -> int:
    before = trust.trust_state(resolve(args.path))
    edit = plan_edit(args.path, remove=args.names)
    changed = apply_edit(edit)
    trust.resign_if_trusted(before, args.path)
    print(
        f"{'Removed' if changed else 'Not declared'}: {', '.join(args.names)} ({edit.path})",
        file=sys.stderr,
    )
    return 0
