"""Tools envlens acquires by itself: Deno, from the `deno` distribution on PyPI (it ships the binary).

`uv pip install --target` (through the tool runner, offline first: uv's cache often has it) puts the
wheel into a temporary folder beside `paths.tools_dir()/deno-<version>`; the binary must answer
`deno --version` before the folder is renamed into place, so a half-downloaded or broken Deno is
never used. A file lock makes concurrent acquisitions (two kernels starting) download once.
Acquiring needs the user's consent, which the callers ask for (the editor's dialog, `envlens install`).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import uuid
from pathlib import Path

from filelock import FileLock

from envlens import paths
from envlens.envs.runner import Progress, run
from envlens.errors import EnvlensError, ToolUnavailableError
from envlens.settings import Settings

DENO_VERSION = "2.9.8"
DENO_DOWNLOAD = "about 40 MB"


def deno_home(version: str = DENO_VERSION) -> Path:
    return paths.tools_dir() / f"deno-{version}"


def acquired_deno(version: str = DENO_VERSION) -> Path | None:
    """The Deno envlens acquired before, when it is complete."""
    home = deno_home(version)
    for sub in ("bin", "Scripts"):
        exe = home / sub / ("deno.exe" if os.name == "nt" else "deno")
        if exe.is_file():
            return exe
    return None


def _noop(_: str) -> None:
    pass


def acquire_deno(
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    version: str = DENO_VERSION,
) -> Path:
    """Deno's binary in envlens's tool folder, downloaded from PyPI if needed (ask first)."""
    from envlens.envs.uv import Uv, cause

    say = progress or _noop
    found = acquired_deno(version)
    if found is not None:
        return found
    root = paths.tools_dir()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".deno-{version}.lock")):
        found = acquired_deno(version)  # acquired by whoever held the lock before us
        if found is not None:
            return found
        try:
            uv = Uv.find(settings, cancel=cancel, progress=say)
        except EnvlensError as exc:
            raise ToolUnavailableError(
                f"Deno cannot be downloaded: {exc.message}", hint=exc.hint
            ) from None
        build = root / f".deno-{version}-{uuid.uuid4().hex[:8]}"
        try:
            say(f"Downloading Deno {version} from PyPI ({DENO_DOWNLOAD})")
            result = uv.call(
                [
                    "pip",
                    "install",
                    "--target",
                    build,
                    "--python",
                    sys.executable,  # only for the platform tags: the wheel is a binary
                    "--no-python-downloads",
                    f"deno=={version}",
                ],
                cwd=root,
                offline_first=True,  # uv's cache often has it
                downloading=f"Deno {version} is not in uv's cache; downloading it",
            )
            if not result.ok:
                raise ToolUnavailableError(
                    f"Deno {version} could not be downloaded from PyPI: "
                    f"{cause(result.stderr) or 'uv failed'}",
                    hint="Check the network (or the index uv uses), or install Deno yourself and "
                    "put `deno` on PATH (or set ENVLENS_DENO to its path)",
                    log=uv.log(),
                )
            say(f"Checking Deno {version}")
            exe = next(
                (
                    p
                    for p in (build / "bin" / "deno", build / "Scripts" / "deno.exe")
                    if p.is_file()
                ),
                None,
            )
            check = run([exe, "--version"], cancel=cancel) if exe is not None else None
            if check is None or not check.ok or not check.stdout.startswith("deno "):
                raise ToolUnavailableError(
                    f"the Deno {version} downloaded from PyPI does not run on this machine",
                    hint="Install Deno yourself and put `deno` on PATH (or set ENVLENS_DENO)",
                    log=check.log() if check is not None else None,
                )
            os.rename(build, deno_home(version))
        finally:
            shutil.rmtree(build, ignore_errors=True)
    found = acquired_deno(version)
    assert found is not None
    say(f"Deno {version} is ready")
    return found
