"""`envlens resolve PATH [--json]`: what a file declares, where, and which environment it maps to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from envlens.envs.inventory import resolution_json
from envlens.resolve import resolve


def register(sub: Any) -> None:
    p = sub.add_parser(
        "resolve", help="show what a notebook or script declares and its environment"
    )
    p.add_argument("path", type=Path)
    p.add_argument(
        "--json", action="store_true", help="print JSON (what the language server returns)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    res = resolve(args.path)
    data: dict[str, Any] = resolution_json(res)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    src = data["source"]
    where = f"{src['label']}" + (f" in {src['path']}" if src["path"] else "")
    print(f"file:            {data['path']}")
    print(f"runtime:         {data['runtime']}")
    print(f"declared by:     {where}")
    print(f"requirements:    {', '.join(data['requirements']) or '(none)'}")
    if data["condaPackages"]:
        print(f"conda packages:  {', '.join(data['condaPackages'])}")
    print(f"requires-python: {data['requiresPython'] or '(any)'}")
    if data["uvSettings"]:
        settings = ", ".join(
            f"{k} = {json.dumps(v)}" for k, v in sorted(data["uvSettings"].items())
        )
        print(f"uv settings:     {settings}")
    for name in data["ignored"]:
        print(f"not honoured:    {name} (no such setting; envlens and uv ignore it)")
    print(f"locked:          {'yes' if data['locked'] else 'no'}")
    print(f"key:             {data['key']}")
    print(f"environment:     {data['envPath']} ({'built' if data['built'] else 'not built'})")
    return 0
