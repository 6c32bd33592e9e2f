"""`envlens add PATH REQ...` and `envlens remove PATH NAME...`: edit the declaration where it lives."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.edit import apply_edit, plan_edit
from envlens.errors import BadInputError
from envlens.requirements import validate_requires_python
from envlens.resolve import resolve


def register(sub: Any) -> None:
    p = sub.add_parser("add", help="add dependencies to a notebook's or script's declaration")
    p.add_argument("path", type=Path)
    p.add_argument("requirements", nargs="*", metavar="REQUIREMENT")
    p.add_argument(
        "--python",
        metavar="VERSION",
        help="set requires-python: 3.12 means '>=3.12' (as `uv init --script --python` writes it); "
        "a specifier such as '>=3.11,<3.13' is written as given",
    )
    p.set_defaults(func=add)
    r = sub.add_parser("remove", help="remove dependencies from the declaration")
    r.add_argument("path", type=Path)
    r.add_argument("names", nargs="+", metavar="NAME")
    r.set_defaults(func=remove)


def add(args: argparse.Namespace) -> int:
    if not args.requirements and args.python is None:
        raise BadInputError(
            "nothing to add",
            path=args.path,
            hint=f"Name packages (`envlens add {args.path.name} numpy`) or a Python "
            f"(`envlens add {args.path.name} --python 3.12`)",
        )
    requires_python = python_specifier(args.python) if args.python is not None else None
    before = trust.trust_state(
        resolve(args.path), with_flags=False
    )  # before the edit: a bad key stops it here
    edit = plan_edit(args.path, add=args.requirements, requires_python=requires_python)
    changed = apply_edit(edit)
    trust.resign_if_trusted(before, args.path)  # envlens's own edit keeps a trusted file trusted
    what = ", ".join(
        [*args.requirements, *([f"requires-python {requires_python}"] if requires_python else [])]
    )
    print(f"{'Added' if changed else 'Already declared'}: {what} ({edit.path})", file=sys.stderr)
    return 0


def python_specifier(value: str) -> str:
    """`--python 3.12` -> '>=3.12'; a specifier stays as written (validated)."""
    v = value.strip()
    if re.fullmatch(r"3(\.\d{1,2}){1,2}", v):
        return f">={v}"
    return validate_requires_python(v)


def remove(args: argparse.Namespace) -> int:
    before = trust.trust_state(resolve(args.path), with_flags=False)
    edit = plan_edit(args.path, remove=args.names)
    changed = apply_edit(edit)
    trust.resign_if_trusted(before, args.path)
    print(
        f"{'Removed' if changed else 'Not declared'}: {', '.join(args.names)} ({edit.path})",
        file=sys.stderr,
    )
    return 0
