"""`envlens envs list|remove|prune`: the built environments, what they cost, who uses them."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from typing import Any

from envlens.cli.common import say
from envlens.errors import BadInputError


def register(sub: Any) -> None:
    envs = sub.add_parser("envs", help="list, remove or prune built environments")
    envs_sub = envs.add_subparsers(dest="envs_command", metavar="ACTION", required=True)
    lst = envs_sub.add_parser(
        "list", help="built environments: size on disk, last use, the files that use them"
    )
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)
    rm = envs_sub.add_parser("remove", help="remove a built environment by key")
    rm.add_argument("key")
    rm.set_defaults(func=run_remove)
    pr = envs_sub.add_parser(
        "prune",
        help="remove environments nobody used for a while (never the one a file uses now, "
        "never one a process runs in)",
    )
    pr.add_argument(
        "--older-than",
        type=float,
        metavar="DAYS",
        help="unused for at least this many days (default: envlens.pruneAfterDays, 30)",
    )
    pr.add_argument("--dry-run", action="store_true", help="show what would go, remove nothing")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=run_prune)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def ago(t: float) -> str:
    days = (time.time() - t) / 86400
    if days < 1 / 24:
        return "just now"
    if days < 1:
        return f"{days * 24:.0f} h ago"
    return f"{days:.0f} days ago"


def run_list(args: argparse.Namespace) -> int:
    from envlens.envs.prune import environments

    items = environments(sizes=True)
    if args.json:
        print(json.dumps([e.to_json() for e in items], indent=2))
        return 0
    if not items:
        print("no environments built yet", file=sys.stderr)
        return 0
    own = sum(e.size.own for e in items if e.size)
    for e in items:
        r = e.record
        created = datetime.datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M")
        reqs = ", ".join(r.spec.get("requirements", [])) or "(ipykernel only)"
        size = f"{mb(e.size.own):>9} own" if e.size else ""
        print(
            f"{r.key}  Python {r.python_version:<8} {size}  built {created}  "
            f"used {ago(e.last_used)}  {reqs}"
        )
        for f in e.files:
            print(f"    used by {f}")
    # The total is the listing's last line (as `ls -l` has it), on stdout with the rest.
    print(
        f"{len(items)} environment{'s' if len(items) != 1 else ''}, {mb(own)} of their own "
        "(the rest is hardlinked from uv's cache)"
    )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from envlens.envs import history, usage
    from envlens.envs.store import remove_environment

    if not remove_environment(args.key):
        raise BadInputError(
            f"no environment with key {args.key}",
            hint="`envlens envs list` shows the keys of built environments",
        )
    usage.forget(args.key)
    history.forget_logs(args.key)
    print(f"removed {args.key}", file=sys.stderr)
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from envlens.envs.prune import prune
    from envlens.settings import Settings

    settings = Settings.from_env()
    days = args.older_than if args.older_than is not None else settings.prune_after_days
    if days < 0:
        raise BadInputError(
            f"--older-than must be 0 or more days, not {days:g}",
            hint="For example --older-than 30",
        )
    result = prune(days, dry_run=args.dry_run, settings=settings)
    if args.json:
        print(json.dumps({**result.to_json(), "dryRun": args.dry_run}, indent=2))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    freed = sum(e.size.own for e in result.remove if e.size)
    for e in result.remove:
        reqs = ", ".join(e.record.spec.get("requirements", [])) or "(ipykernel only)"
        print(f"{verb} {e.key}  last used {ago(e.last_used)}  {reqs}")
    for e, why in result.keep:
        print(f"kept    {e.key}  {why}")
    if result.spares:
        print(f"{verb} {len(result.spares)} prewarmed environment(s) past their age")
    if result.logs:
        print(f"{verb} {len(result.logs)} log(s) of builds that left no environment")
    say(
        f"{verb} {len(result.remove)} environment(s) unused for {days:g} days or more"
        f" ({mb(freed)})" + (" (dry run: nothing removed)" if args.dry_run else "")
    )
    return 0
