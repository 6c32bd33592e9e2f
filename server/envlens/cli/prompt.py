"""Questions the command line asks on a terminal, and what it says instead when it cannot ask."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement

from envlens import trust
from envlens.errors import BadInputError


def can_ask() -> bool:
    return sys.stdin.isatty()


def ask(prompt: str) -> str:
    """One answer, lower-cased; end of input answers "" (the default: no)."""
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


def confirm(prompt: str) -> bool:
    return ask(f"{prompt} [y/N] ") in ("y", "yes")


@dataclass
class Checked:
    """Requirements after the questions: some renamed, some confirmed as written."""

    requirements: list[str]
    confirmed: list[str] = field(default_factory=list)  # names the user said are right
    held_back: list[trust.Flag] = field(default_factory=list)  # added, but not approved along
    cancelled: bool = False


def _renamed(req: str, name: str) -> str:
    try:
        r = Requirement(req)
    except InvalidRequirement:
        return name
    r.name = name
    return str(r)


def check_names(requirements: list[str], path: str, *, yes: bool) -> Checked:
    """Question look-alikes and names not on PyPI before they are added ("did you mean pandas?").

    On a terminal each one is asked about; without one, `--yes` adds them as written (not
    approved: `envlens trust` shows the flag before anything is installed), else nothing changes.
    """
    out = Checked(list(requirements))
    for i, req in enumerate(requirements):
        name = trust.requirement_name(req)
        flag = trust.question(name)
        if flag is None:
            continue
        print(f"envlens: {name}: {flag.detail}", file=sys.stderr)
        target = trust.typo_of(name) if flag.kind == "typo" else None
        if yes:
            out.held_back.append(flag)
            continue
        if not can_ask():
            # The commands to type, quoted for the shell (a path with spaces, a `>=` in a spec).
            instead = (
                f"Run `envlens add {shlex.quote(path)} {shlex.quote(_renamed(req, target))}` "
                f"to add {target} instead, or run"
                if target
                else "Run"
            )
            raise BadInputError(
                f"{name}: {flag.detail}; nothing was changed",
                path=path,
                hint=f"{instead} `envlens add --yes {shlex.quote(path)} {shlex.quote(req)}` to add "
                f"{name} as written (`envlens trust {shlex.quote(path)}` then asks before anything "
                "is installed)",
            )
        if target is not None:
            answer = ask(
                f"Add {target} instead of {name}? [Y = {target} / k = keep {name} / n = cancel] "
            )
            if answer in ("", "y", "yes"):
                out.requirements[i] = _renamed(req, target)
                continue
            if answer not in ("k", "keep"):
                out.cancelled = True
                return out
        elif not confirm(f"Add {name} anyway?"):
            out.cancelled = True
            return out
        out.confirmed.append(name)
    return out
