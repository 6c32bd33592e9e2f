"""`envlens install PATH`: build (or reuse) a file's environment; `envlens envs list|remove`.

Progress goes to stderr; the last line (stdout) names the environment folder and its package count.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.environment import ensure_environment
from envlens.envs.inventory import installed
from envlens.envs.store import list_environments, remove_environment
from envlens.errors import BadInputError
from envlens.resolve import resolve
from envlens.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "install", help="build (or reuse) the environment a notebook or script declares"
    )
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--trust",
        action="store_true",
        help="install even if not approved (batch runs; or ENVLENS_TRUST=1)",
    )
    p.set_defaults(func=run_install)

    envs = sub.add_parser("envs", help="list or remove built environments")
    envs_sub = envs.add_subparsers(dest="envs_command", metavar="ACTION", required=True)
    lst = envs_sub.add_parser("list", help="list built environments")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)
    rm = envs_sub.add_parser("remove", help="remove a built environment by key")
    rm.add_argument("key")
    rm.set_defaults(func=run_remove)


def _progress(line: str) -> None:
    print(f"envlens: {line}", file=sys.stderr, flush=True)


def run_install(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not path.exists():
        raise BadInputError(
            f"{path} does not exist", path=path, hint="Give the path of a notebook or script"
        )
    settings = Settings.from_env()
    res = resolve(path, settings=settings)
    trust.require_trusted(res, override=trust.batch_override(args.trust))  # exit 3 unless approved
    info = ensure_environment(res, settings=settings, progress=_progress)
    count = len(installed(info.env_dir))
    if args.json:
        print(json.dumps({**info.to_json(), "packages": count}, indent=2))
        return 0
    state = "already built" if info.reused else f"built in {info.seconds:.1f} s"
    print(f"{info.env_dir}: Python {info.python_version}, {count} packages ({state})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    records = list_environments()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "key": r.key,
                        "envPath": str(r.env_dir),
                        "pythonVersion": r.python_version,
                        "created": r.created,
                        "backend": r.backend,
                        "requirements": r.spec.get("requirements", []),
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return 0
    if not records:
        print("no environments built yet", file=sys.stderr)
        return 0
    for r in records:
        created = datetime.datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M")
        reqs = ", ".join(r.spec.get("requirements", [])) or "(ipykernel only)"
        print(f"{r.key}  Python {r.python_version:<8} {created}  {reqs}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    if not remove_environment(args.key):
        raise BadInputError(
            f"no environment with key {args.key}",
            hint="`envlens envs list` shows the keys of built environments",
        )
    print(f"removed {args.key}", file=sys.stderr)
    return 0
