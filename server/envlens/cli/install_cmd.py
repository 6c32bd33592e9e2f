"""`envlens install PATH`: build (or reuse) a file's environment, as a job (`envlens jobs`).

Progress goes to stderr; the last line (stdout) names the environment folder and its package count.
`envlens envs list|remove|prune` live in envs_cmd.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.cli.common import say
from envlens.environment import ensure_environment, last_good_note
from envlens.envs import jobs
from envlens.envs.history import Version
from envlens.envs.inventory import installed
from envlens.envs.store import EnvInfo
from envlens.errors import BadInputError, EnvlensError
from envlens.resolve import Resolution, resolve
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
    if res.runtime == "deno":  # what a Deno notebook needs is Deno: acquired here, on request
        return _install_deno(res.path, settings, args.json)
    info = sync_job(res, settings, f"Sync the environment of {path.name}")
    count = len(installed(info.env_dir))
    if args.json:
        print(json.dumps({**info.to_json(), "packages": count}, indent=2))
        return 0
    state = "already built" if info.reused else f"built in {info.seconds:.1f} s"
    print(f"{info.env_dir}: Python {info.python_version}, {count} packages ({state})")
    return 0


def sync_job(res: Resolution, settings: Settings, title: str) -> EnvInfo:
    """Build (or reuse) the environment as a sync job."""
    with jobs.running("sync", title, res.path) as job:
        return build_in_job(job, res, settings)


def _install_deno(path: Path, settings: Settings, as_json: bool) -> int:
    from envlens.envs.tools import acquire_deno
    from envlens.kernels.deno import deno_config, find_deno

    deno = find_deno() or acquire_deno(settings=settings, progress=_progress)
    config = deno_config(path)
    if as_json:
        print(json.dumps({"deno": str(deno), "config": str(config) if config else None}, indent=2))
        return 0
    print(f"{deno}: Deno for {path.name}" + (f" (config {config})" if config else ""))
    return 0


def build_in_job(job: jobs.Job, res: Resolution, settings: Settings) -> EnvInfo:
    """Build (or reuse) the environment within a job: its progress in the job's log, the version
    it recorded in the job."""

    def progress(line: str) -> None:
        job.append(line)
        _progress(line)

    def on_version(version: Version) -> None:
        job.version = version.n

    job.key = res.key
    try:
        return ensure_environment(res, settings=settings, progress=progress, on_version=on_version)
    except EnvlensError:
        # The declaration stays as the user wrote it; say which version still works.
        note = last_good_note(res)
        if note is not None:
            say(note)
        raise
