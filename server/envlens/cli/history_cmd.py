"""`envlens history PATH [--json] [--log N]`, `envlens revert PATH N` and `envlens jobs [PATH]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from envlens.cli.common import add_trust, say
from envlens.errors import BadInputError


def register(sub: Any) -> None:
    h = sub.add_parser(
        "history", help="the versions of a file's environment: builds, failures, reverts"
    )
    h.add_argument("path", type=Path)
    h.add_argument("--json", action="store_true", help="print the versions as JSON")
    h.add_argument("--log", type=int, metavar="N", help="print version N's full build log")
    h.set_defaults(func=run_history)

    r = sub.add_parser(
        "revert",
        help="write version N's declaration (and lock) back into the file and use its environment",
    )
    r.add_argument("path", type=Path)
    r.add_argument("version", type=int, metavar="N")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    add_trust(r)
    r.set_defaults(func=run_revert)

    j = sub.add_parser("jobs", help="environment operations (add, remove, sync, import, revert)")
    j.add_argument("path", type=Path, nargs="?", help="only this file's jobs")
    j.add_argument("--json", action="store_true", help="print the jobs as JSON")
    j.add_argument("--log", metavar="ID", help="print one job's log")
    j.add_argument("-n", type=int, default=20, metavar="COUNT", help="how many (default 20)")
    j.set_defaults(func=run_jobs)


def _exists(path: Path) -> Path:
    if not path.exists():
        raise BadInputError(
            f"{path} does not exist", path=path, hint="Give the path of a notebook or script"
        )
    return path.absolute()


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 100 else f"{s / 60:.1f} min"


def version_line(v: Any, in_use: int | None) -> str:
    from envlens.envs.history import describe_time

    mark = "*" if v.n == in_use else " "
    if v.status == "ready":
        if v.action == "revert":
            what = f"reverted to {v.reverted_from}" + (
                ", nothing built" if v.duration < 1 or not v.log else ""
            )
        elif v.action == "pool":
            what = "from the pool, nothing built"
        elif v.action == "reuse":
            what = "already built"
        else:
            what = f"built in {_seconds(v.duration)}"
    else:
        what = f"after {_seconds(v.duration)}"
        if v.attempts > 1:
            what += f" ({v.attempts} attempts)"
    python = f"  Python {v.python_version}" if v.python_version else ""
    return (
        f"{mark}{v.n:>3}  {describe_time(v.time)}  {v.status:<9}  {what:<28}  env {v.key}{python}"
    )


def run_history(args: argparse.Namespace) -> int:
    from envlens.envs import history

    path = _exists(args.path)
    h = history.load(path)
    if args.log is not None:
        v = h.get(args.log)
        if v is None:
            last = h.latest.n if h.latest else 0
            raise BadInputError(
                f"there is no version {args.log}"
                + (f" (versions 1 to {last})" if last else " (no history yet)"),
                path=path,
                hint=f"`envlens history {args.path}` lists the versions",
            )
        text = history.read_log(v)
        if text is None:
            raise BadInputError(
                f"the log of version {v.n} is gone: it was removed with its environment "
                f"({v.key}) by `envlens envs prune`",
                path=path,
                hint="Logs live as long as their environments",
            )
        sys.stdout.write(text)
        return 0
    in_use = h.in_use.n if h.in_use else None
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "inUse": in_use,
                    "versions": [
                        {**v.to_json(), "changes": history.changes(h, v).to_json()}
                        for v in h.versions
                    ],
                },
                indent=2,
            )
        )
        return 0
    if not h.versions:
        say(f"{args.path}: no versions yet (they are recorded when its environment is built)")
        return 0
    n = len(h.versions)
    print(f"{args.path}: {n} version{'s' if n != 1 else ''}, newest last (* in use)")
    for v in h.versions:
        print(version_line(v, in_use))
        c = history.changes(h, v)
        if v.n == h.versions[0].n:
            count = f"; {len(v.packages)} packages" if v.packages else ""
            print(f"       declared: {', '.join(v.requirements) or '(nothing)'}{count}")
        elif not c.empty:
            print(f"       {c.summary()}")
        if v.status != "ready" and v.error:
            print(f"       {v.error}")
            print(f"       log: envlens history {args.path} --log {v.n}")
    if h.latest is not None and h.latest.status != "ready":
        where = f"version {in_use}" if in_use else "no version (none built yet)"
        print(f"The newest version did not build: the file's kernel stays on {where}.")
    return 0


def run_revert(args: argparse.Namespace) -> int:
    from envlens import trust
    from envlens.envs import jobs
    from envlens.revert import revert
    from envlens.settings import Settings

    path = _exists(args.path)
    with jobs.running("revert", f"Revert {path.name} to version {args.version}", path) as job:

        def progress(line: str) -> None:
            job.append(line)
            say(line)

        result = revert(
            path,
            args.version,
            settings=Settings.from_env(),
            progress=progress,
            override_trust=trust.batch_override(args.trust),
        )
        job.key = result.info.key
        job.version = result.recorded.n if result.recorded else None
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    if result.recorded is None:
        say(f"{args.path} already has version {args.version}'s declaration and environment")
        return 0
    built = (
        f"built in {result.info.seconds:.1f} s"
        if result.built
        else "its environment was still in the cache: nothing built"
    )
    say(
        f"Reverted {args.path} to version {args.version} (now version {result.recorded.n}); {built}"
    )
    print(result.info.env_dir)
    return 0


def run_jobs(args: argparse.Namespace) -> int:
    from envlens.envs import jobs

    if args.log is not None:
        job = jobs.get(args.log)
        if job is None:
            raise BadInputError(
                f"there is no job {args.log!r}", hint="`envlens jobs` lists the jobs and their ids"
            )
        sys.stdout.write(job.read_log())
        return 0
    path = _exists(args.path) if args.path is not None else None
    listed = jobs.list_jobs(path, limit=max(args.n, 1))
    if args.json:
        print(json.dumps([j.to_json() for j in listed], indent=2))
        return 0
    if not listed:
        say("no jobs yet")
        return 0
    from envlens.envs.history import describe_time

    for j in listed:
        took = f" ({_seconds(j.ended - j.started)})" if j.ended and j.started else ""
        version = f"  version {j.version}" if j.version else ""
        print(f"{j.id}  {describe_time(j.created)}  {j.status:<9}  {j.title}{took}{version}")
        if j.error and j.status != "succeeded":
            print(f"    {j.error}")
    return 0
