"""`envlens add PATH REQ...` and `envlens remove PATH NAME...`: edit the declaration where it lives
(with `--sync`, then build its environment), as a job (`envlens jobs`)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.cli.common import add_trust
from envlens.cli.prompt import check_names
from envlens.edit import apply_edit, plan_edit
from envlens.envs import jobs
from envlens.errors import BadInputError
from envlens.requirements import validate_requires_python
from envlens.resolve import resolve
from envlens.settings import Settings


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
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="add look-alike or unknown names as written without asking (they stay unapproved)",
    )
    add_sync(p)
    p.set_defaults(func=add)
    r = sub.add_parser("remove", help="remove dependencies from the declaration")
    r.add_argument("path", type=Path)
    r.add_argument("names", nargs="+", metavar="NAME")
    add_sync(r)
    r.set_defaults(func=remove)


def add_sync(p: Any) -> None:
    p.add_argument(
        "--sync",
        action="store_true",
        help="then build (or reuse) the environment of the new declaration: a new version in "
        "`envlens history`",
    )
    add_trust(p)


def sync_after_edit(args: argparse.Namespace, job: jobs.Job) -> None:
    """`--sync`: build the edited declaration's environment within the same job. On failure the
    edit stays (it is the user's declaration now) and the message says how to go back."""
    from envlens.cli.install_cmd import build_in_job

    settings = Settings.from_env()
    res = resolve(args.path, settings=settings)
    trust.require_trusted(res, override=trust.batch_override(args.trust))
    build_in_job(job, res, settings)


def add(args: argparse.Namespace) -> int:
    if not args.requirements and args.python is None:
        raise BadInputError(
            "nothing to add",
            path=args.path,
            hint=f"Name packages (`envlens add {args.path.name} numpy`) or a Python "
            f"(`envlens add {args.path.name} --python 3.12`)",
        )
    requires_python = python_specifier(args.python) if args.python is not None else None
    # Before the edit: a bad key stops it here.
    before = trust.trust_state(resolve(args.path), with_flags=False)
    plan_edit(args.path, add=args.requirements)  # bad requirements fail here, before any question
    checked = check_names(list(args.requirements), str(args.path), yes=args.yes)
    if checked.cancelled:
        print("Nothing was changed.", file=sys.stderr)
        return 1
    edit = plan_edit(args.path, add=checked.requirements, requires_python=requires_python)
    what = ", ".join(
        [
            *checked.requirements,
            *([f"requires-python {requires_python}"] if requires_python else []),
        ]
    )
    with jobs.running("add", f"Add {what} to {args.path.name}", args.path) as job:
        changed = apply_edit(edit)
        # envlens's own edit keeps a trusted file trusted, except for a questioned name.
        kept = trust.resign_if_trusted(before, args.path, confirmed=checked.confirmed)
        line = f"{'Added' if changed else 'Already declared'}: {what} ({edit.path})"
        job.append(line)
        print(line, file=sys.stderr)
        if before.trusted and not kept:
            names = ", ".join(f.package for f in checked.held_back) or "the new names"
            print(
                f"Not approved: {names} needs a look first; `envlens trust {args.path}` shows it "
                "before anything is installed.",
                file=sys.stderr,
            )
        if args.sync:
            sync_after_edit(args, job)
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
    names = ", ".join(args.names)
    with jobs.running("remove", f"Remove {names} from {args.path.name}", args.path) as job:
        changed = apply_edit(edit)
        trust.resign_if_trusted(before, args.path)
        line = f"{'Removed' if changed else 'Not declared'}: {names} ({edit.path})"
        job.append(line)
        print(line, file=sys.stderr)
        if args.sync:
            sync_after_edit(args, job)
    return 0
