"""`envlens lock PATH [--upgrade] [--exclude-newer DATE]` and `envlens check PATH [--platform ...]
[--python ...]`: Lock Versions and the portability check."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from envlens.cli.common import add_trust
from envlens.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lock",
        help="pin the declared dependencies and write the lock (<file>.py.lock / notebook metadata)",
    )
    p.add_argument("path", type=Path)
    p.add_argument(
        "--upgrade",
        action="store_true",
        help="re-resolve to the newest versions the declaration allows",
    )
    p.add_argument(
        "--exclude-newer",
        metavar="DATE",
        help="only versions published before DATE (e.g. 2025-06-01); kept in the file",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_trust(p)
    p.set_defaults(func=lock)

    c = sub.add_parser(
        "check", help="check that the declaration (or its lock) installs on other platforms"
    )
    c.add_argument("path", type=Path)
    c.add_argument(
        "--platform",
        action="append",
        metavar="NAME",
        help="a target platform (repeatable; default: linux-x86_64, linux-aarch64, "
        "macos-arm64, windows-x86_64)",
    )
    c.add_argument(
        "--python",
        action="append",
        metavar="X.Y",
        help="a Python version (repeatable; default: the one this file uses here)",
    )
    c.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    add_trust(c)
    c.set_defaults(func=check)


def lock(args: argparse.Namespace) -> int:
    from envlens import trust
    from envlens.locking.versions import lock_file
    from envlens.resolve import resolve

    res = resolve(args.path)
    # Resolving can run a package's build backend (an sdist's metadata): approval first.
    trust.require_trusted(res, override=trust.batch_override(args.trust))
    trust_before = trust.trust_state(res, with_flags=False)
    result = lock_file(
        args.path,
        upgrade=args.upgrade,
        exclude_newer=args.exclude_newer,
        settings=Settings.from_env(),
        progress=lambda m: print(f"envlens: {m}", file=sys.stderr, flush=True),
    )
    trust.resign_if_trusted(
        trust_before, args.path
    )  # envlens's own lock keeps a trusted file trusted
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    for old, new in result.pins.items():
        print(f"  pinned {old} -> {new}", file=sys.stderr)
    for name, (before, after) in result.changes.items():
        print(f"  {name}: {before or '(new)'} -> {after or '(removed)'}", file=sys.stderr)
    key = "conda.lock" if res.spec.backend == "conda" else "uv.lock"
    where = (
        result.lock_path if result.path.suffix != ".ipynb" else f'{result.path} (metadata["{key}"])'
    )
    if result.requires_python is not None:
        declared, locked = result.requires_python
        print(
            f"  requires-python {declared or '(none)'} -> {locked}: the pinned versions do not "
            f"support older Pythons, so the lock is for Python {locked} (written into the "
            "declaration; uv suggested it)",
            file=sys.stderr,
        )
    verb = "Locked" if result.lock_changed else "Lock unchanged"
    print(
        f"{verb}: {len(result.versions)} packages in {where} ({result.seconds:.1f} s)",
        file=sys.stderr,
    )
    return 0


def check(args: argparse.Namespace) -> int:
    from envlens import trust
    from envlens.portability import check as run_check
    from envlens.portability import parse_platforms
    from envlens.resolve import resolve

    settings = Settings.from_env()
    platforms = parse_platforms(args.platform)  # bad names fail before any work
    res = resolve(args.path, settings=settings)
    trust.require_trusted(res, override=trust.batch_override(args.trust))
    verdicts = run_check(res, platforms, args.python, settings=settings)
    if args.json:
        print(json.dumps([v.to_json() for v in verdicts], indent=2))
    else:
        for note in verdicts[0].notes if verdicts else ():
            print(f"note: {note}", file=sys.stderr)
        for v in verdicts:
            print("\n".join(v.lines()))
    return 0 if all(v.ok for v in verdicts) else 1
