"""`envlens trust PATH [--yes]`: show what a file would install, with flags, and approve it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.envs.conda_rattler import DEFAULT_CHANNELS
from envlens.errors import UntrustedError
from envlens.resolve import resolve


def register(sub: Any) -> None:
    p = sub.add_parser(
        "trust",
        help="review and approve what a notebook or script would install",
        description="Show the packages a file declares, flag look-alike and new names, and approve "
        "them (a notebook is signed; a script is recorded on this machine). Asks on a terminal.",
    )
    p.add_argument("path", type=Path)
    p.add_argument("-y", "--yes", action="store_true", help="approve without asking")
    p.add_argument(
        "--check",
        action="store_true",
        help="only report: exit 0 when trusted, 3 when not; approve nothing",
    )
    p.set_defaults(func=run)


def describe(
    path: Path, state: trust.TrustState, where: str, channels: tuple[str, ...] = ()
) -> str:
    """The list `envlens trust` shows: each package, with its flags beside it ("!" for a warning),
    and the conda channels they come from (approval covers them too)."""
    lines = [str(path), f"  declared by: {where}", f"  state:       {state.reason}"]
    if channels:
        lines.append(f"  channels:    {', '.join(channels)}")
    if state.packages:
        lines.append("  would install:")
    for pkg in state.packages:
        flags = [f for f in state.flags if f.package == trust.requirement_name(pkg)]
        mark = "!" if any(f.kind != "new" for f in flags) else " "
        notes = "; ".join(f.detail for f in flags)
        lines.append(f"   {mark} {pkg}" + (f"    ({notes})" if notes else ""))
    shown = {trust.requirement_name(pkg) for pkg in state.packages}
    # Sources of packages the declaration does not name itself (a dependency's dependency).
    lines.extend(
        f"   ! {f.package} {f.detail}"
        for f in state.flags
        if f.package != "*" and f.package not in shown and f.kind == "source"
    )
    lines.extend(f"   ! {f.detail}" for f in state.flags if f.package == "*")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    res = resolve(args.path)
    state = trust.trust_state(res)
    d = res.declaration
    where = d.label + (f" in {d.path}" if d.path else "")
    channels = res.spec.channels or (DEFAULT_CHANNELS if res.spec.backend == "conda" else ())
    print(describe(res.path, state, where, channels), file=sys.stderr)
    if state.trusted:
        return 0
    if args.check:
        return UntrustedError.exit_code
    if not args.yes:
        if not sys.stdin.isatty():
            raise UntrustedError(
                "not approved: standard input is not a terminal, so envlens cannot ask",
                path=res.path,
                hint=f"Run `envlens trust {res.path} --yes` to approve after reviewing the list above",
            )
        try:
            answer = input(f"Approve installing these packages for {res.path.name}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Not approved; nothing was changed.", file=sys.stderr)
            return UntrustedError.exit_code
    new_state = trust.approve(res)
    how = "signed the notebook" if new_state.status == "signed" else "recorded on this machine"
    print(f"Approved ({how}).", file=sys.stderr)
    return 0
